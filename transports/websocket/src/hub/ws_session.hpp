// ws_session.hpp — WsSession: one client connection of a WsGateway, attached
// to the Hub as a Receiver once it said hello.
//
// Its phases: http (the upgrade request is read) → hello (the WebSocket is
// open; the first frame must be a hello) → ready (attached: frames become
// Hub operations, deliveries are written) → closing. Each connection has a
// strand: everything but the Receiver calls and enqueue() runs on it.
//
// Its member functions live by responsibility:
//   upgrade.cc        the HTTP upgrade and its refusals (404, 426, 503,
//                     handshake timeout), up to the hello timer;
//   hello.cc          hello, resume and replacement (the socket-id takeover
//                     rules), and the session checks;
//   frames.cc         reading: frames → Hub operations (join, leave, send,
//                     broadcast, profile, members) and their refusals;
//   session_write.cc  the write path over the WriteQueue (write_queue.hpp:
//                     the bound and the coalescing), and closing.
//
// Internal to transports/websocket/src/hub: includes Beast and Asio.
#pragma once

#include <atomic>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "herald/internal/names.hpp"
#include "herald/internal/receiver.hpp"
#include "shared.hpp"
#include "wire.hpp"
#include "write_queue.hpp"

namespace herald::ws_hub {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// A peer that does not take our close frame within this has its TCP
// connection dropped (and a slow consumer gets this long to take its close).
inline constexpr std::chrono::milliseconds kHardCloseAfter{1000};

class WsSession final : public internal::Receiver, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, std::shared_ptr<WsGateway::Shared> shared);

  // ---- Receiver (any thread)
  std::string_view id() const noexcept override { return id_; }
  Message profile() const override;
  void deliver(const internal::EnvelopePtr& envelope) override;

  // ---- Gateway (any thread)
  void start();              // reads the upgrade request (upgrade.cc)
  void stop_from_gateway();  // closes with 1001 "hub stopping"
  void start_write_now();    // posts the next write to the strand
  // After WsGateway::stop() gave up waiting (its threads are stopped).
  void abandon();

  // ---- Another session taking over this one's socket id (hello.cc)
  bool resume_matches(std::string_view resume) const;
  void replaced();

 private:
  enum class Phase { http, hello, ready, closing };

  WsGateway::Shared& shared() { return *shared_; }
  GatewayCounters& counters() { return shared_->counters; }

  // upgrade.cc
  void read_request();
  void on_request(beast::error_code ec);
  void refuse_upgrade(http::status status, std::string_view body);
  void on_upgraded(beast::error_code ec);

  // hello.cc
  void hello(const ws_wire::Frame& f);
  void refuse_hello(const absl::Status& why, std::uint16_t code);
  bool session_valid();
  void reject_session(std::string_view why);

  // frames.cc
  void read();
  void on_read(beast::error_code ec);
  void handle_frame(std::string_view value);
  void refuse_frame(const ws_wire::Frame& frame, const absl::Status& status);
  bool body_fits(const ws_wire::Frame& f, std::string_view what);
  void answer_members(const ws_wire::Frame& f);

  // session_write.cc
  void enqueue(Outgoing out, std::size_t bytes, bool force = false);
  void send_control(std::string bytes, bool force = false);
  void start_write_if_idle();
  void start_write_later();
  void write_next();
  void close_with(std::uint16_t code, std::string_view why);
  void send_close();
  void arm_hard_close(std::chrono::milliseconds after);
  void detach();
  void end_connection();

  // shared_ first: destroyed last. A session can outlive the WsGateway (a
  // Router route-cache snapshot may hold the last reference); its stream and
  // timers must go while the Shared's io_context is still alive.
  std::shared_ptr<WsGateway::Shared> shared_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  net::steady_timer hello_timer_;
  net::steady_timer hard_close_timer_;
  Phase phase_ = Phase::http;  // strand only
  std::string id_;             // set once, before attach; read by routing threads after
  std::string resume_;
  std::string token_;
  std::atomic<bool> attached_{false};
  websocket::close_reason close_reason_;
  bool close_pending_ = false;  // strand: send the close frame once the queue is written
  internal::NameSet joined_;    // channels joined (strand), for the per-connection limit
  std::string out_;             // the message being written (strand)
  WriteQueue queue_;

  mutable std::mutex profile_mu_;
  Message profile_;
};

inline std::string_view text_of(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

}  // namespace herald::ws_hub
