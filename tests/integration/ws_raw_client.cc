// ws_raw_client.cc — the Beast side of the hub tests' raw WebSocket client
// and of their plain TCP exchanges (ws_raw_client.hpp), compiled once.
#include "ws_raw_client.hpp"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace herald::ws_test {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct RawClient::Impl {
  using Config = RawClientConfig;

  Impl(int port, Config config)
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

  ~Impl() {
    ioc_.stop();
    thread_.join();
  }

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

RawClient::RawClient(int port, Config config)
    : impl_(std::make_unique<Impl>(port, std::move(config))) {}
RawClient::~RawClient() = default;
bool RawClient::connected() const { return impl_->connected(); }
std::string RawClient::handshake_error() const { return impl_->handshake_error(); }
unsigned RawClient::http_status() const { return impl_->http_status(); }
void RawClient::send(std::string bytes) { impl_->send(std::move(bytes)); }
void RawClient::send_text(std::string text) { impl_->send_text(std::move(text)); }
void RawClient::close() { impl_->close(); }
void RawClient::start_reading() { impl_->start_reading(); }
std::optional<Frame> RawClient::next(std::chrono::milliseconds timeout) {
  return impl_->next(timeout);
}
bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
  return impl_->wait_closed(timeout);
}
bool RawClient::closed() const { return impl_->closed(); }
int RawClient::close_code() const { return impl_->close_code(); }
std::string RawClient::close_reason() const { return impl_->close_reason(); }
std::string RawClient::read_error() const { return impl_->read_error(); }
std::vector<Frame> RawClient::drain() { return impl_->drain(); }
std::size_t RawClient::messages_read() const { return impl_->messages_read(); }
bool RawClient::garbled() const { return impl_->garbled(); }

std::optional<std::string> tcp_exchange(int port, const std::string& request,
                                        const std::function<bool(const std::string&)>& done,
                                        std::chrono::milliseconds timeout) {
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
      if (e || (done && done(response))) {
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

}  // namespace herald::ws_test
