// ws_stream.hpp — WsStream: one WebSocket, over plain TCP (ws://) or over TLS
// (wss://), with the operations the hub's sessions and the client's links use.
//
// Why a variant and not a template: the session's and the client's logic is
// written once, in several .cc files, against this one type; the stream kind
// is chosen at run time (the gateway's options, the URL's scheme). Each call
// dispatches on the alternative held; the handlers are the callers' own.
//
// next_layer() is the TCP stream at the bottom, TLS or not: what
// beast::get_lowest_layer(stream) reaches, for timeouts and for closing the
// socket. byte_stream(f) calls f with what the WebSocket runs over (the TCP
// stream, or the TLS stream): the hub reads the HTTP upgrade through it.
//
// Internal to transports/websocket/src: includes Beast, Asio and OpenSSL.
#pragma once

#include <boost/beast/core.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <utility>
#include <variant>

namespace herald::ws_stream {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace ssl = boost::asio::ssl;

class WsStream {
 public:
  using Plain = websocket::stream<beast::tcp_stream>;
  using Tls = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  // Over TLS when `tls` is given (it must outlive the stream), else plain.
  // `arg` is what a beast::tcp_stream is made from: an accepted socket or an
  // executor / io_context.
  template <class Arg>
  WsStream(Arg&& arg, ssl::context* tls)
      : v_([&]() -> std::variant<Plain, Tls> {
          if (tls != nullptr)
            return std::variant<Plain, Tls>(std::in_place_type<Tls>, std::forward<Arg>(arg), *tls);
          return std::variant<Plain, Tls>(std::in_place_type<Plain>, std::forward<Arg>(arg));
        }()) {}

  bool tls() const noexcept { return std::holds_alternative<Tls>(v_); }
  // The TLS stream (only when tls()).
  beast::ssl_stream<beast::tcp_stream>& tls_layer() { return std::get<Tls>(v_).next_layer(); }

  beast::tcp_stream& next_layer() noexcept {
    return std::visit([](auto& ws) -> beast::tcp_stream& { return beast::get_lowest_layer(ws); },
                      v_);
  }
  auto get_executor() { return next_layer().get_executor(); }

  template <class F>
  decltype(auto) byte_stream(F&& f) {
    return std::visit([&](auto& ws) -> decltype(auto) { return f(ws.next_layer()); }, v_);
  }

  // ---- settings
  template <class Option>
  void set_option(Option option) {
    std::visit([&](auto& ws) { ws.set_option(std::move(option)); }, v_);
  }
  void binary(bool on) {
    std::visit([&](auto& ws) { ws.binary(on); }, v_);
  }
  void auto_fragment(bool on) {
    std::visit([&](auto& ws) { ws.auto_fragment(on); }, v_);
  }
  void write_buffer_bytes(std::size_t n) {
    std::visit([&](auto& ws) { ws.write_buffer_bytes(n); }, v_);
  }
  void read_message_max(std::size_t n) {
    std::visit([&](auto& ws) { ws.read_message_max(n); }, v_);
  }
  bool is_message_done() const {
    return std::visit([](const auto& ws) { return ws.is_message_done(); }, v_);
  }
  bool got_binary() const {
    return std::visit([](const auto& ws) { return ws.got_binary(); }, v_);
  }
  const websocket::close_reason& reason() const {
    return std::visit([](const auto& ws) -> const websocket::close_reason& { return ws.reason(); },
                      v_);
  }

  // ---- asynchronous operations (the handler is moved into the one taken)
  template <class Request, class Handler>
  void async_accept(const Request& req, Handler&& h) {
    std::visit([&](auto& ws) { ws.async_accept(req, std::forward<Handler>(h)); }, v_);
  }
  template <class Response, class Handler>
  void async_handshake(Response& res, beast::string_view host, beast::string_view target,
                       Handler&& h) {
    std::visit([&](auto& ws) { ws.async_handshake(res, host, target, std::forward<Handler>(h)); },
               v_);
  }
  template <class Buffer, class Handler>
  void async_read(Buffer& buffer, Handler&& h) {
    std::visit([&](auto& ws) { ws.async_read(buffer, std::forward<Handler>(h)); }, v_);
  }
  template <class Buffer, class Handler>
  void async_read_some(Buffer& buffer, std::size_t limit, Handler&& h) {
    std::visit([&](auto& ws) { ws.async_read_some(buffer, limit, std::forward<Handler>(h)); }, v_);
  }
  template <class Buffers, class Handler>
  void async_write(const Buffers& buffers, Handler&& h) {
    std::visit([&](auto& ws) { ws.async_write(buffers, std::forward<Handler>(h)); }, v_);
  }
  template <class Handler>
  void async_close(const websocket::close_reason& why, Handler&& h) {
    std::visit([&](auto& ws) { ws.async_close(why, std::forward<Handler>(h)); }, v_);
  }

 private:
  std::variant<Plain, Tls> v_;
};

}  // namespace herald::ws_stream
