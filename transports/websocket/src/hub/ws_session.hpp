// ws_session.hpp — WsSession: one client connection of a WsGateway, attached
// to the Hub as a Receiver once it said hello.
//
// Its phases: http (on wss://, the TLS handshake first; then the upgrade
// request is read) → hello (the WebSocket is
// open; the first frame must be a hello) → ready (attached: frames become
// Hub operations, deliveries are written) → closing. Each connection has a
// strand: everything but the Receiver calls and enqueue() runs on it.
//
// Its member functions live by responsibility:
//   upgrade.cc        the TLS handshake (wss://), the HTTP upgrade and its
//                     refusals (404, 426, 503, handshake timeout), up to the
//                     hello timer;
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
#include <condition_variable>
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
#include "ws_stream.hpp"

namespace herald::ws_hub {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;

// A peer that does not take our close frame within this has its TCP
// connection dropped (and a slow consumer gets this long to take its close).
inline constexpr std::chrono::milliseconds kHardCloseAfter{1000};

class WsSession;
// Set by a session while it routes a send / broadcast: the receivers that
// were full when it delivered to them (flow.cc).
inline thread_local std::vector<std::shared_ptr<WsSession>>* t_full_receivers = nullptr;

class WsSession final : public internal::Receiver, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, std::shared_ptr<WsGateway::Shared> shared);

  // ---- Receiver (any thread)
  std::string_view id() const noexcept override { return id_; }
  Message profile() const override;
  void deliver(const internal::EnvelopePtr& envelope) override;
  // The Hub's session watch found the token no longer valid: error 16, close 4001.
  void session_ended(const absl::Status& why) override;

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
  void tls_handshake();
  void on_tls_handshake(beast::error_code ec);
  void read_request();
  void on_request(beast::error_code ec);
  void refuse_upgrade(http::status status, std::string_view body);
  void on_upgraded(beast::error_code ec);

  // hello.cc
  void hello(const ws_wire::Frame& f);
  void refuse_hello(const absl::Status& why, std::uint16_t code);
  bool session_valid();
  void reject_session(std::string_view why);
  void take_place_of(const WsSession& old, const Message& hello_profile);
  // The hub-wide budget (WsGatewayOptions::max_total_*), strand only.
  bool reserve_profile(std::size_t bytes);
  absl::Status profile_budget_error() const;
  void release_budget();

  // frames.cc
  void read();
  void on_read(beast::error_code ec);
  std::size_t message_limit() const;  // one WebSocket message, at most
  void handle_frame(std::string_view value, int depth);
  void refuse_frame(const ws_wire::Frame& frame, const absl::Status& status);
  bool body_fits(const ws_wire::Frame& f, std::string_view what, int depth);
  void answer_members(const ws_wire::Frame& f);

  // flow.cc — back-pressure. As a receiver (any thread unless marked):
  bool full_after(const WriteQueue::Pushed& pushed) const;
  bool full(std::size_t frames, std::size_t bytes) const;
  bool drained() const;  // below the release marks
  bool hold(const std::shared_ptr<WsSession>& publisher);
  // A sender on its own thread (a mem:// connection on this hub) waits for
  // room, up to its deadline or this receiver's stall (then cuts it).
  void wait_for_room();
  void release_held();
  void credit(std::uint64_t taken);  // strand
  void watch_stall();                // strand
  // As a publisher (strand):
  void held_back(const std::vector<std::shared_ptr<WsSession>>& full);
  void released();
  bool defer(std::string_view value, int depth);  // true: deferred (held)
  bool reading_held();
  bool gone_while_held();
  void run_deferred();

  // session_write.cc
  WriteQueue::Pushed enqueue(Outgoing out, std::size_t bytes, bool force = false);
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
  ws_stream::WsStream ws_;  // over TLS when the gateway has a certificate
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  std::string handshake_replay_;  // the upgrade + early frames, for Beast (upgrade.cc)
  net::steady_timer hello_timer_;
  net::steady_timer hard_close_timer_;
  Phase phase_ = Phase::http;  // strand only
  std::string id_;             // set once, before attach; read by routing threads after
  std::string resume_;
  std::string token_;
  std::atomic<bool> attached_{false};
  websocket::close_reason close_reason_;
  bool close_pending_ = false;     // strand: send the close frame once the queue is written
  internal::NameSet joined_;       // channels joined (strand), for the per-connection limit
  std::size_t profile_bytes_ = 0;  // what profile_ counts against the hub-wide budget (strand)
  std::string out_;                // the message being written (strand)
  WriteQueue queue_;

  // Back-pressure (flow.cc). As a receiver: the window its hello announced
  // (0: no credit flow), messages routed to it and what it said it took.
  std::uint64_t window_ = ws_wire::kNoWindow;  // set once, at hello (wire.hpp)
  std::atomic<std::uint64_t> routed_{0};
  std::atomic<std::uint64_t> taken_{0};
  std::atomic<std::size_t> holding_count_{0};
  mutable std::mutex flow_mu_;
  std::vector<std::weak_ptr<WsSession>> holding_;  // flow_mu_: publishers it holds back
  bool stall_watched_ = false;                     // flow_mu_
  net::steady_timer stall_timer_;
  std::atomic<std::uint64_t> writes_done_{0};  // written by the strand
  std::condition_variable flow_cv_;            // flow_mu_: a local sender waits for room
  std::uint64_t progress_seen_ = 0;
  std::chrono::steady_clock::time_point progress_at_{};
  // As a publisher (strand): receivers holding it, since when, and the
  // frames read meanwhile (all but credits wait, in order).
  int held_by_ = 0;
  std::chrono::steady_clock::time_point held_since_{};
  std::vector<std::pair<std::string, int>> deferred_;
  std::size_t deferred_bytes_ = 0;
  bool read_paused_ = false;  // deferred_ at its bound: not reading until released
  bool peer_gone_ = false;    // the client closed while held: end once deferred_ ran
  // How long a peer gets to take our close frame: a stalled receiver (cut
  // for the stall) reads it only when its program drains again.
  std::chrono::milliseconds close_patience_ = kHardCloseAfter;  // strand
  void cut_for_stall(std::string_view why);                     // strand

  mutable std::mutex profile_mu_;
  Message profile_;
};

inline std::string_view text_of(const absl::Status& s) {
  return {s.message().data(), s.message().size()};
}

}  // namespace herald::ws_hub
