// WsSession: the TLS handshake (wss://) and the HTTP upgrade — each within
// the handshake timeout (a peer that never completes the TLS handshake, or
// speaks plain HTTP to a TLS port, is dropped and counted); the request is read; a wrong path
// (404), a plain HTTP request (426), a stopping or full hub (503) get an HTTP answer and the
// connection ends; otherwise the WebSocket handshake, and the hello must follow within the same
// timeout.
#include <boost/asio/dispatch.hpp>

#include "herald/internal/text.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

using internal::cat;

namespace {

// RFC 6455 4.2.1: the key is the base64 of 16 bytes — 22 characters and "==".
bool is_sixteen_byte_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    const bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!base64) return false;
  }
  return true;
}

// Beast reads the handshake from at most this many bytes when it is given
// bytes already read (its read buffer's size).
constexpr std::size_t kMaxHandshakeReplay = 1536;

}  // namespace

WsSession::WsSession(tcp::socket&& socket, std::shared_ptr<WsGateway::Shared> shared)
    : shared_(std::move(shared)),
      ws_(std::move(socket), shared_->tls.get()),
      hello_timer_(ws_.get_executor()),
      hard_close_timer_(ws_.get_executor()),
      queue_(WriteQueue::Limits{.max_frames = shared_->options.max_write_queue_frames,
                                .max_bytes = shared_->options.max_write_queue_bytes,
                                .budget = &shared_->queue_budget}),
      stall_timer_(ws_.get_executor()) {}

void WsSession::start() {
  net::dispatch(ws_.get_executor(), [self = shared_from_this()] {
    if (self->ws_.tls()) return self->tls_handshake();
    self->read_request();
  });
}

void WsSession::tls_handshake() {
  beast::get_lowest_layer(ws_).expires_after(shared().options.handshake_timeout);
  ws_.tls_layer().async_handshake(
      ssl::stream_base::server,
      [self = shared_from_this()](beast::error_code ec) { self->on_tls_handshake(ec); });
}

void WsSession::on_tls_handshake(beast::error_code ec) {
  if (ec) {
    counters().refused.fetch_add(1, std::memory_order_relaxed);
    counters().tls_handshakes_failed.fetch_add(1, std::memory_order_relaxed);
    if (ec == beast::error::timeout) counters().closed_idle.fetch_add(1);
    return end_connection();
  }
  read_request();
}

void WsSession::read_request() {
  parser_.emplace();
  parser_->header_limit(8 * 1024);
  parser_->body_limit(0);
  beast::get_lowest_layer(ws_).expires_after(shared().options.handshake_timeout);
  ws_.byte_stream([&](auto& bytes) {
    http::async_read(
        bytes, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
  });
}

void WsSession::on_request(beast::error_code ec) {
  if (ec) {
    counters().refused.fetch_add(1, std::memory_order_relaxed);
    if (ec == beast::error::timeout) counters().closed_idle.fetch_add(1);
    return end_connection();
  }
  const auto& req = parser_->get();
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/") return refuse_upgrade(http::status::not_found, "herald hub: no such path\n");
  if (!websocket::is_upgrade(req)) {
    return refuse_upgrade(http::status::upgrade_required,
                          "herald hub: WebSocket only (native protocol on path /)\n");
  }
  const auto key = req[http::field::sec_websocket_key];
  if (!is_sixteen_byte_key(std::string_view(key.data(), key.size()))) {
    return refuse_upgrade(http::status::bad_request,
                          "herald hub: Sec-WebSocket-Key must be the base64 of 16 bytes "
                          "(RFC 6455 4.2.1)\n");
  }
  if (shared().stopping.load()) {
    return refuse_upgrade(http::status::service_unavailable, "herald hub: stopping\n");
  }
  {
    std::lock_guard lock(shared().mu);
    if (shared().sessions.size() > shared().options.max_connections) {
      return refuse_upgrade(http::status::service_unavailable,
                            "herald hub: too many connections\n");
    }
  }
  beast::get_lowest_layer(ws_).expires_never();
  websocket::stream_base::timeout timeout{};
  timeout.handshake_timeout = shared().options.handshake_timeout;
  timeout.idle_timeout = shared().options.idle_timeout;
  timeout.keep_alive_pings = true;
  ws_.set_option(timeout);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(http::field::server, "herald-hub"); }));
  ws_.read_message_max(0);  // read() bounds each message itself (see frames.cc)
  ws_.binary(true);
  ws_.auto_fragment(false);
  auto upgraded = [self = shared_from_this()](beast::error_code ec) { self->on_upgraded(ec); };
  if (buffer_.size() == 0) return ws_.async_accept(req, std::move(upgraded));
  // The client wrote frames (its hello) right behind its request: they are
  // in buffer_, read past the header. Beast takes bytes already read only
  // with the request itself in front, so it gets the request again (what it
  // checks of it) and then those frames, which its WebSocket reads begin with.
  const auto version = req[http::field::sec_websocket_version];
  std::string replay = cat("GET / HTTP/1.1\r\nHost: herald\r\nUpgrade: websocket\r\n",
                           "Connection: Upgrade\r\nSec-WebSocket-Key: ", key,
                           "\r\nSec-WebSocket-Version: ", version.substr(0, 16), "\r\n\r\n");
  const auto early = buffer_.cdata();
  if (replay.size() + early.size() > kMaxHandshakeReplay) {
    return refuse_upgrade(http::status::bad_request,
                          cat("herald hub: more than ", kMaxHandshakeReplay - replay.size(),
                              " bytes sent behind the upgrade request, before its answer\n"));
  }
  replay.append(static_cast<const char*>(early.data()), early.size());
  buffer_.consume(buffer_.size());
  handshake_replay_ = std::move(replay);
  ws_.async_accept(net::buffer(handshake_replay_), std::move(upgraded));
}

void WsSession::refuse_upgrade(http::status status, std::string_view body) {
  counters().refused.fetch_add(1, std::memory_order_relaxed);
  auto res = std::make_shared<http::response<http::string_body>>(status, 11);
  res->set(http::field::server, "herald-hub");
  res->set(http::field::content_type, "text/plain");
  res->keep_alive(false);
  res->body() = std::string(body);
  res->prepare_payload();
  ws_.byte_stream([&](auto& bytes) {
    http::async_write(
        bytes, *res, [self = shared_from_this(), res](beast::error_code, std::size_t) {
          beast::error_code ignored;
          beast::get_lowest_layer(self->ws_).socket().shutdown(tcp::socket::shutdown_send, ignored);
          self->end_connection();
        });
  });
}

void WsSession::on_upgraded(beast::error_code ec) {
  if (ec) {
    counters().refused.fetch_add(1, std::memory_order_relaxed);
    return end_connection();
  }
  counters().accepted.fetch_add(1, std::memory_order_relaxed);
  parser_.reset();
  std::string().swap(handshake_replay_);
  phase_ = Phase::hello;
  hello_timer_.expires_after(shared().options.handshake_timeout);
  hello_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->phase_ != Phase::hello) return;
    self->counters().closed_idle.fetch_add(1, std::memory_order_relaxed);
    self->close_with(
        websocket::close_code::policy_error,
        cat("no hello within ", self->shared().options.handshake_timeout.count(), " ms"));
  });
  read();
}

}  // namespace herald::ws_hub
