// ws_raw_client.hpp — for the hub's tests: a raw WebSocket client (Beast +
// msgpack-c, no herald client code) that speaks the documented frames of
// docs/PROTOCOL.md byte for byte, the frames' encodings and readable
// decodings, a gateway on a free loopback port, a plain HTTP exchange, and a
// Witness (a sender and a watcher that check bystanders lose nothing).
#pragma once

#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <msgpack.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "herald/herald.hpp"
#include "herald/session_token.hpp"
#include "herald/websocket/gateway.hpp"
#include "process.hpp"
#include "test_support.hpp"

namespace herald::ws_test {

// A msgpack value written in place, as is (a body or a deliberately broken field).
struct RawValue {
  std::string bytes;
};

}  // namespace herald::ws_test

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {
  template <>
  struct pack<herald::ws_test::RawValue> {
    template <typename Stream>
    packer<Stream>& operator()(packer<Stream>& o, const herald::ws_test::RawValue& v) const {
      // pack_str_body appends the bytes verbatim.
      o.pack_str_body(v.bytes.data(), static_cast<std::uint32_t>(v.bytes.size()));
      return o;
    }
  };
  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS)
}  // namespace msgpack

namespace herald::ws_test {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using herald::testing::eventually;
using herald::testing::Process;
using herald::testing::unique_name;
using Nil = msgpack::type::nil_t;

constexpr auto kWait = 10s;  // any single expected event

// Op codes and close codes of docs/PROTOCOL.md.
constexpr std::uint64_t kHello = 1, kJoin = 2, kLeave = 3, kSend = 4, kBroadcast = 5, kProfile = 6,
                        kMembers = 7;
constexpr std::uint64_t kWelcome = 16, kReply = 17, kError = 18, kMessage = 19;
constexpr int kCloseUnauthenticated = 4001;
constexpr int kCloseSlowConsumer = 4002;
constexpr int kCloseReplaced = 4004;
constexpr int kCloseIdInUse = 4009;

// ------------------------------------------------------------------ frames

// One frame: its fields packed as a msgpack array.
template <class... T>
std::string frame(const T&... fields) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, std::make_tuple(fields...));
  return std::string(buffer.data(), buffer.size());
}

template <class T>
std::string packed(const T& value) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  return std::string(buffer.data(), buffer.size());
}

inline std::string resume_of(std::string_view id) {
  return "resume-" + std::string(id) + "-0123456789";
}

inline std::string hello_frame(std::string_view id,
                               const std::optional<std::string>& token = std::nullopt,
                               const std::string& profile = "\xc0") {
  if (token) return frame(kHello, 1, id, resume_of(id), *token, RawValue{profile});
  return frame(kHello, 1, id, resume_of(id), Nil(), RawValue{profile});
}

// A received frame, with readable accessors. Field access never throws: a
// missing field reads as nil, a field of another type as a marker value.
class Frame {
 public:
  explicit Frame(msgpack::object_handle handle) : handle_(std::move(handle)) {}

  const msgpack::object& object() const { return handle_.get(); }
  std::size_t size() const {
    return object().type == msgpack::type::ARRAY ? object().via.array.size : 0;
  }
  const msgpack::object& at(std::size_t i) const {
    static const msgpack::object nil;
    return i < size() ? object().via.array.ptr[i] : nil;
  }
  std::uint64_t op() const { return u(0); }
  std::uint64_t u(std::size_t i) const {
    const msgpack::object& o = at(i);
    return o.type == msgpack::type::POSITIVE_INTEGER ? o.via.u64 : ~std::uint64_t{0};
  }
  std::string s(std::size_t i) const {
    const msgpack::object& o = at(i);
    return o.type == msgpack::type::STR ? std::string(o.via.str.ptr, o.via.str.size)
                                        : std::string("<not a str>");
  }
  bool is_nil(std::size_t i) const { return at(i).type == msgpack::type::NIL; }
  // msgpack-c's compact rendering: [17,1,0,""]
  std::string text() const {
    std::ostringstream out;
    out << object();
    return out.str();
  }
  // For message frames [19, kind, channel|nil, event, sender, body].
  bool is_message(std::string_view event) const {
    return op() == kMessage && size() == 6 && s(3) == event;
  }

 private:
  msgpack::object_handle handle_;
};

inline std::string text_of(const std::optional<Frame>& f) { return f ? f->text() : "<nothing>"; }

// [18, code, error] whose error mentions `mentions`.
inline ::testing::AssertionResult is_error(const std::optional<Frame>& f, std::uint64_t code,
                                           std::string_view mentions = "") {
  if (!f) return ::testing::AssertionFailure() << "no frame arrived";
  if (f->op() != kError || f->size() != 3 || f->u(1) != code ||
      f->s(2).find(mentions) == std::string::npos || f->s(2).empty()) {
    return ::testing::AssertionFailure()
           << f->text() << " is not [18," << code << ",\"..." << mentions << "...\"]";
  }
  return ::testing::AssertionSuccess() << f->text();
}

// [17, req, code, error] (code != 0: error mentions `mentions`; code 0: error "").
inline ::testing::AssertionResult is_reply(const std::optional<Frame>& f, std::uint64_t req,
                                           std::uint64_t code, std::string_view mentions = "") {
  if (!f) return ::testing::AssertionFailure() << "no frame arrived";
  const bool error_ok =
      code == 0 ? f->s(3).empty() : !f->s(3).empty() && f->s(3).find(mentions) != std::string::npos;
  if (f->op() != kReply || f->size() != 4 || f->u(1) != req || f->u(2) != code || !error_ok) {
    return ::testing::AssertionFailure()
           << f->text() << " is not [17," << req << "," << code << ",\"..." << mentions << "...\"]";
  }
  return ::testing::AssertionSuccess() << f->text();
}

// The member ids of a members reply [17, req, 0, "", [[id, profile], ...]], sorted.
inline std::optional<std::set<std::string>> member_ids(const Frame& f, std::uint64_t req) {
  if (f.op() != kReply || f.size() != 5 || f.u(1) != req || f.u(2) != 0) return std::nullopt;
  const msgpack::object& list = f.at(4);
  if (list.type != msgpack::type::ARRAY) return std::nullopt;
  std::set<std::string> ids;
  for (std::uint32_t i = 0; i < list.via.array.size; ++i) {
    const msgpack::object& m = list.via.array.ptr[i];
    if (m.type != msgpack::type::ARRAY || m.via.array.size != 2 ||
        m.via.array.ptr[0].type != msgpack::type::STR) {
      return std::nullopt;
    }
    ids.emplace(m.via.array.ptr[0].via.str.ptr, m.via.array.ptr[0].via.str.size);
  }
  return ids;
}
inline std::optional<std::set<std::string>> member_ids(const std::optional<Frame>& f,
                                                       std::uint64_t req) {
  if (!f) return std::nullopt;
  return member_ids(*f, req);
}

// A uint field, or ~0 when it is not one.
inline std::uint64_t uint_of(const msgpack::object& o) {
  return o.type == msgpack::type::POSITIVE_INTEGER ? o.via.u64 : ~std::uint64_t{0};
}

// ------------------------------------------------------------------ a raw client

// A WebSocket client with its own I/O thread: it reads continuously (so it
// answers pings and sees the close frame as soon as it comes), splits every
// message into its msgpack values and queues them as frames.
struct RawClientConfig {
  std::string target = "/";
  int receive_buffer = 0;  // SO_RCVBUF before connecting; 0 = the system's
  bool read = true;        // false: read nothing until start_reading()
  // Runs on the client's thread for every frame; true = handled (not queued).
  std::function<bool(const Frame&)> on_frame;
};

class RawClient {
 public:
  using Config = RawClientConfig;

  explicit RawClient(int port, Config config = {})
      : config_(std::move(config)), work_(net::make_work_guard(ioc_)), ws_(net::make_strand(ioc_)) {
    thread_ = std::thread([this] { ioc_.run(); });
    auto done = std::make_shared<std::promise<void>>();
    std::future<void> connected = done->get_future();
    net::post(ws_.get_executor(), [this, done, port] {
      auto& socket = beast::get_lowest_layer(ws_).socket();
      beast::error_code ec;
      socket.open(tcp::v4(), ec);
      if (!ec && config_.receive_buffer > 0) {
        socket.set_option(net::socket_base::receive_buffer_size(config_.receive_buffer), ec);
      }
      if (ec) return finish_handshake(ec, *done);
      const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"),
                                   static_cast<unsigned short>(port));
      beast::get_lowest_layer(ws_).async_connect(endpoint, [this, done](beast::error_code ec) {
        if (ec) return finish_handshake(ec, *done);
        ws_.async_handshake(response_, "127.0.0.1", config_.target,
                            [this, done](beast::error_code ec) { finish_handshake(ec, *done); });
      });
    });
    if (connected.wait_for(kWait) != std::future_status::ready) {
      std::lock_guard lock(mu_);
      handshake_error_ = beast::error::timeout;
    }
  }

  ~RawClient() {
    ioc_.stop();
    thread_.join();
  }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const {
    std::lock_guard lock(mu_);
    return handshaken_ && !handshake_error_;
  }
  std::string handshake_error() const {
    std::lock_guard lock(mu_);
    return handshake_error_.message();
  }
  // The HTTP status of the handshake's answer (101 when it worked).
  unsigned http_status() const {
    std::lock_guard lock(mu_);
    return response_.result_int();
  }

  // One binary WebSocket message (may hold several frames).
  void send(std::string bytes) { write(std::move(bytes), false); }
  void send_text(std::string text) { write(std::move(text), true); }
  // Several frames coalesced into one WebSocket message.
  void send_together(const std::vector<std::string>& frames) {
    std::string all;
    for (const auto& f : frames) all += f;
    send(std::move(all));
  }
  // Starts a close handshake (1000).
  void close() {
    net::post(ws_.get_executor(), [this] {
      ws_.async_close(websocket::close_code::normal, [this](beast::error_code) { ended({}); });
    });
  }

  void start_reading() {
    net::post(ws_.get_executor(), [this] {
      if (!reading_) read_loop();
    });
  }

  // The next queued frame; nullopt when none comes within `timeout` or the
  // connection closed and nothing is left.
  std::optional<Frame> next(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return std::nullopt;
    Frame f = std::move(queue_.front());
    queue_.pop_front();
    return f;
  }
  // The next frame with this op, skipping (and discarding) others, e.g. presence events.
  std::optional<Frame> next_op(std::uint64_t op, std::chrono::milliseconds timeout = kWait) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      std::optional<Frame> f = next(left);
      if (!f || f->op() == op) return f;
    }
  }
  // Sends a members request and returns its reply (frames before it are discarded).
  std::optional<Frame> members(std::uint64_t req, std::string_view channel) {
    send(frame(kMembers, req, channel));
    for (;;) {
      std::optional<Frame> f = next_op(kReply);
      if (!f || f->u(1) == req) return f;
    }
  }

  // True once the connection is over (close frame, EOF or reset) within `timeout`.
  bool wait_closed(std::chrono::milliseconds timeout = kWait) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return closed_; });
  }
  bool closed() const {
    std::lock_guard lock(mu_);
    return closed_;
  }
  // The close frame's code, or -1 when the connection ended without one.
  int close_code() const {
    std::lock_guard lock(mu_);
    return close_code_;
  }
  std::string close_reason() const {
    std::lock_guard lock(mu_);
    return close_reason_;
  }
  std::string read_error() const {
    std::lock_guard lock(mu_);
    return read_error_.message();
  }
  // Everything queued and not taken yet.
  std::vector<Frame> drain() {
    std::lock_guard lock(mu_);
    std::vector<Frame> out(std::make_move_iterator(queue_.begin()),
                           std::make_move_iterator(queue_.end()));
    queue_.clear();
    return out;
  }
  std::size_t messages_read() const { return messages_read_.load(); }
  // Bytes that were not well-formed msgpack (the hub must never send them).
  bool garbled() const { return garbled_.load(); }

 private:
  void finish_handshake(beast::error_code ec, std::promise<void>& done) {
    {
      std::lock_guard lock(mu_);
      handshake_error_ = ec;
      handshaken_ = !ec;
    }
    if (!ec) {
      ws_.binary(true);
      ws_.read_message_max(64u << 20);
      if (config_.read) read_loop();
    }
    done.set_value();
  }

  void write(std::string bytes, bool text) {
    net::post(ws_.get_executor(), [this, bytes = std::move(bytes), text]() mutable {
      writes_.push_back({std::move(bytes), text});
      if (writes_.size() == 1) write_next();
    });
  }
  void write_next() {
    ws_.text(writes_.front().second);
    ws_.async_write(net::buffer(writes_.front().first), [this](beast::error_code ec, std::size_t) {
      if (ec) {
        writes_.clear();
        return;
      }
      writes_.pop_front();
      if (!writes_.empty()) write_next();
    });
  }

  // Strand: the connection is over; the peer's close frame, if one came, says why.
  void ended(beast::error_code ec) {
    std::lock_guard lock(mu_);
    if (closed_) return;
    closed_ = true;
    read_error_ = ec;
    if (ws_.reason().code != websocket::close_code::none) {
      close_code_ = static_cast<int>(ws_.reason().code);
      close_reason_ = std::string(ws_.reason().reason.c_str());
    }
    cv_.notify_all();
  }

  void read_loop() {
    reading_ = true;
    ws_.async_read(buffer_, [this](beast::error_code ec, std::size_t) {
      if (ec) return ended(ec);
      messages_read_.fetch_add(1);
      if (!ws_.got_binary()) garbled_ = true;
      const auto data = buffer_.cdata();
      msgpack::unpacker unpacker;
      unpacker.reserve_buffer(data.size());
      std::memcpy(unpacker.buffer(), data.data(), data.size());
      unpacker.buffer_consumed(data.size());
      buffer_.consume(buffer_.size());
      msgpack::object_handle handle;
      try {
        while (unpacker.next(handle)) {
          Frame f(std::move(handle));
          if (config_.on_frame && config_.on_frame(f)) continue;
          std::lock_guard lock(mu_);
          queue_.push_back(std::move(f));
          cv_.notify_all();
        }
      } catch (const std::exception&) {
        garbled_ = true;
      }
      if (unpacker.nonparsed_size() > 0) garbled_ = true;  // a truncated value
      read_loop();
    });
  }

  Config config_;
  net::io_context ioc_;
  net::executor_work_guard<net::io_context::executor_type> work_;
  websocket::stream<beast::tcp_stream> ws_;
  std::thread thread_;
  // Strand only.
  beast::flat_buffer buffer_;
  std::deque<std::pair<std::string, bool>> writes_;
  bool reading_ = false;
  std::atomic<std::size_t> messages_read_{0};
  std::atomic<bool> garbled_{false};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  websocket::response_type response_;
  bool handshaken_ = false;
  beast::error_code handshake_error_;
  std::deque<Frame> queue_;
  bool closed_ = false;
  int close_code_ = -1;
  std::string close_reason_;
  beast::error_code read_error_;
};

inline RawClientConfig at_path(std::string target) {
  RawClientConfig config;
  config.target = std::move(target);
  return config;
}

// Connects, says hello and checks the welcome; nullptr (and a failure) otherwise.
inline std::unique_ptr<RawClient> hello(int port, std::string_view id,
                                        RawClient::Config config = {},
                                        const std::optional<std::string>& token = std::nullopt,
                                        const std::string& profile = "\xc0") {
  auto client = std::make_unique<RawClient>(port, std::move(config));
  if (!client->connected()) {
    ADD_FAILURE() << "WebSocket handshake failed: " << client->handshake_error();
    return nullptr;
  }
  client->send(hello_frame(id, token, profile));
  std::optional<Frame> welcome = client->next();
  if (!welcome || welcome->op() != kWelcome || welcome->size() != 5 || welcome->u(1) != 1 ||
      welcome->s(2) != id) {
    ADD_FAILURE() << "expected [16,1,\"" << id << "\",...], got " << text_of(welcome) << " (close "
                  << client->close_code() << " " << client->close_reason() << ")";
    return nullptr;
  }
  return client;
}

// hello, then join `channel` and wait for the reply.
inline std::unique_ptr<RawClient> hello_and_join(int port, std::string_view id,
                                                 std::string_view channel,
                                                 RawClient::Config config = {}) {
  auto client = hello(port, id, std::move(config));
  if (client == nullptr) return nullptr;
  client->send(frame(kJoin, 1, channel, true));
  std::optional<Frame> reply = client->next_op(kReply);
  if (!is_reply(reply, 1, 0)) {
    ADD_FAILURE() << "join " << channel << ": " << text_of(reply);
    return nullptr;
  }
  return client;
}

inline std::unique_ptr<WsGateway> start_gateway(std::shared_ptr<Hub> hub,
                                                WsGatewayOptions options = {}) {
  options.host = "127.0.0.1";
  options.port = 0;
  auto gateway = WsGateway::start(std::move(hub), options);
  EXPECT_TRUE(gateway.ok()) << gateway.status();
  return gateway.ok() ? *std::move(gateway) : nullptr;
}

inline std::shared_ptr<Hub> make_hub(std::string_view prefix, HubOptions options = {}) {
  auto hub = Hub::create(unique_name(std::string(prefix)), std::move(options));
  EXPECT_TRUE(hub.ok()) << hub.status();
  return hub.ok() ? *hub : nullptr;
}

// A plain HTTP exchange: writes `request`, returns everything read until the
// hub closes the connection (nullopt if it does not within `timeout`).
inline std::optional<std::string> http_exchange(int port, const std::string& request,
                                                std::chrono::milliseconds timeout = kWait) {
  net::io_context ioc;
  tcp::socket socket(ioc);
  beast::error_code ec;
  socket.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) return std::nullopt;
  if (!request.empty()) net::write(socket, net::buffer(request), ec);
  std::string response;
  std::array<char, 4096> chunk;
  bool ended = false;
  std::function<void()> read_more = [&] {
    socket.async_read_some(net::buffer(chunk), [&](beast::error_code e, std::size_t n) {
      response.append(chunk.data(), n);
      if (e) {
        ended = true;
        return;
      }
      read_more();
    });
  };
  read_more();
  ioc.run_for(timeout);
  if (!ended) return std::nullopt;
  return response;
}

// ------------------------------------------------------------------ a witness

// A sender publishing numbered messages to a channel, one every millisecond,
// while a watcher that joined it checks each arrives, once, in order: trouble
// on other connections must cost them nothing.
class Witness {
 public:
  static constexpr std::string_view kChannel = "witness";

  explicit Witness(int port) {
    RawClient::Config config;
    config.on_frame = [this](const Frame& f) {
      if (!f.is_message("tick")) return false;
      const std::uint64_t n = f.u(5);
      if (f.u(1) != 0 || f.s(2) != kChannel || f.s(4) != "witness-sender" ||
          n != received_.load()) {
        std::lock_guard lock(mu_);
        if (problem_.empty())
          problem_ =
              "unexpected " + f.text() + " after " + std::to_string(received_.load()) + " ticks";
      }
      received_.fetch_add(1);
      return true;
    };
    watcher_ = hello_and_join(port, "witness-watcher", kChannel, std::move(config));
    sender_ = hello(port, "witness-sender");
    if (watcher_ == nullptr || sender_ == nullptr) return;
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        sender_->send(frame(kSend, kChannel, "tick", false, sent_.load()));
        sent_.fetch_add(1);
        std::this_thread::sleep_for(1ms);  // pacing, not waiting for an outcome
      }
    });
  }
  ~Witness() {
    stop();
    watcher_.reset();  // before what its frame handler uses
  }

  bool ok() const { return watcher_ != nullptr && sender_ != nullptr; }

  // Stops the sender; true once the watcher got every tick, in order, and
  // the sender was never refused anything.
  ::testing::AssertionResult finish() {
    stop();
    if (!ok()) return ::testing::AssertionFailure() << "the witness did not start";
    const std::uint64_t sent = sent_.load();
    if (!eventually([&] { return received_.load() >= sent; }) || received_.load() != sent) {
      return ::testing::AssertionFailure()
             << "the watcher got " << received_.load() << " of " << sent << " ticks";
    }
    {
      std::lock_guard lock(mu_);
      if (!problem_.empty()) return ::testing::AssertionFailure() << problem_;
    }
    // Nothing was refused: the sender's first frame since its welcome is the reply to this.
    sender_->send(frame(kMembers, 1, kChannel));
    std::optional<Frame> reply = sender_->next();
    if (!member_ids(reply, 1)) {
      return ::testing::AssertionFailure() << "sender: " << text_of(reply);
    }
    if (!watcher_->drain().empty() || watcher_->closed() || sender_->closed()) {
      return ::testing::AssertionFailure() << "the witnesses saw something else";
    }
    return ::testing::AssertionSuccess() << sent << " ticks";
  }

 private:
  void stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }

  std::unique_ptr<RawClient> watcher_, sender_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<std::uint64_t> sent_{0}, received_{0};
  std::mutex mu_;
  std::string problem_;
};

}  // namespace herald::ws_test
