// WsSession: the TLS handshake (wss://) and the HTTP upgrade — each within
// the handshake timeout (a peer that never completes the TLS handshake, or
// speaks plain HTTP to a TLS port, is dropped and counted); the request is read; a wrong path
// (404), a plain HTTP request (426), a stopping or full hub (503) get an HTTP answer and the
// connection ends; otherwise the WebSocket handshake, and the hello must follow within the same
// timeout.
#include <boost/asio/dispatch.hpp>

#include "herald/internal/text.hpp"
#include "hub/upgrade_checks.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

using internal::cat;

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
  if (std::optional<UpgradeRefusal> refusal = judge_upgrade(req)) {
    return refuse_upgrade(refusal->status, refusal->body);
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
  const auto early = buffer_.cdata();
  HandshakeReplay replay =
      handshake_replay(req, std::string_view(static_cast<const char*>(early.data()), early.size()));
  if (replay.refusal) return refuse_upgrade(replay.refusal->status, replay.refusal->body);
  buffer_.consume(buffer_.size());
  handshake_replay_ = std::move(replay.bytes);
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
