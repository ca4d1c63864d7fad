// WsSession: the HTTP upgrade — the request is read within the handshake
// timeout; a wrong path (404), a plain HTTP request (426), a stopping or
// full hub (503) get an HTTP answer and the connection ends; otherwise the
// WebSocket handshake, and the hello must follow within the same timeout.
#include <boost/asio/dispatch.hpp>

#include "herald/internal/text.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

using internal::cat;

WsSession::WsSession(tcp::socket&& socket, std::shared_ptr<WsGateway::Shared> shared)
    : shared_(std::move(shared)),
      ws_(std::move(socket)),
      hello_timer_(ws_.get_executor()),
      hard_close_timer_(ws_.get_executor()),
      queue_(WriteQueue::Limits{.max_frames = shared_->options.max_write_queue_frames,
                                .max_bytes = shared_->options.max_write_queue_bytes}) {}

void WsSession::start() {
  net::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->read_request(); });
}

void WsSession::read_request() {
  parser_.emplace();
  parser_->header_limit(8 * 1024);
  parser_->body_limit(0);
  beast::get_lowest_layer(ws_).expires_after(shared().options.handshake_timeout);
  http::async_read(
      beast::get_lowest_layer(ws_), buffer_, *parser_,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
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
  ws_.read_message_max(shared().hub->options().max_message_bytes + ws_wire::kFrameOverhead);
  ws_.binary(true);
  ws_.auto_fragment(false);
  ws_.async_accept(req,
                   [self = shared_from_this()](beast::error_code ec) { self->on_upgraded(ec); });
}

void WsSession::refuse_upgrade(http::status status, std::string_view body) {
  counters().refused.fetch_add(1, std::memory_order_relaxed);
  auto res = std::make_shared<http::response<http::string_body>>(status, 11);
  res->set(http::field::server, "herald-hub");
  res->set(http::field::content_type, "text/plain");
  res->keep_alive(false);
  res->body() = std::string(body);
  res->prepare_payload();
  http::async_write(beast::get_lowest_layer(ws_), *res,
                    [self = shared_from_this(), res](beast::error_code, std::size_t) {
                      beast::error_code ignored;
                      beast::get_lowest_layer(self->ws_).socket().shutdown(
                          tcp::socket::shutdown_send, ignored);
                      self->end_connection();
                    });
}

void WsSession::on_upgraded(beast::error_code ec) {
  if (ec) {
    counters().refused.fetch_add(1, std::memory_order_relaxed);
    return end_connection();
  }
  counters().accepted.fetch_add(1, std::memory_order_relaxed);
  parser_.reset();
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
