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

  // Connects to 127.0.0.1:`port` and does the WebSocket handshake (at most kWait).
  explicit RawClient(int port, Config config = {});
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const;
  std::string handshake_error() const;
  // The HTTP status of the handshake's answer (101 when it worked).
  unsigned http_status() const;

  // One binary WebSocket message (may hold several frames).
  void send(std::string bytes);
  void send_text(std::string text);
  // Several frames coalesced into one WebSocket message.
  void send_together(const std::vector<std::string>& frames) {
    std::string all;
    for (const auto& f : frames) all += f;
    send(std::move(all));
  }
  // Starts a close handshake (1000).
  void close();
  void start_reading();

  // The next queued frame; nullopt when none comes within `timeout` or the
  // connection closed and nothing is left.
  std::optional<Frame> next(std::chrono::milliseconds timeout = kWait);
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
  bool wait_closed(std::chrono::milliseconds timeout = kWait);
  bool closed() const;
  // The close frame's code, or -1 when the connection ended without one.
  int close_code() const;
  std::string close_reason() const;
  std::string read_error() const;
  // Everything queued and not taken yet.
  std::vector<Frame> drain();
  std::size_t messages_read() const;
  // Bytes that were not well-formed msgpack (the hub must never send them).
  bool garbled() const;

 private:
  // Beast and Asio live in ws_raw_client.cc, compiled once for every test file.
  struct Impl;
  std::unique_ptr<Impl> impl_;
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

// A plain TCP exchange: writes `request`, then reads until `done(what was
// read)` or the far side closes the connection; nullopt if neither happens
// within `timeout`.
std::optional<std::string> tcp_exchange(int port, const std::string& request,
                                        const std::function<bool(const std::string&)>& done,
                                        std::chrono::milliseconds timeout = kWait);

// A plain HTTP exchange: writes `request`, returns everything read until the
// hub closes the connection (nullopt if it does not within `timeout`).
inline std::optional<std::string> http_exchange(int port, const std::string& request,
                                                std::chrono::milliseconds timeout = kWait) {
  return tcp_exchange(port, request, nullptr, timeout);
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
