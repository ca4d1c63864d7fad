// herald/websocket/gateway.hpp — WsGateway: a Hub listening for WebSocket clients.
//
// A WsGateway accepts WebSocket connections (the native protocol of
// docs/PROTOCOL.md, "ws://") and attaches each as a member of a Hub, which
// routes with the core's Router exactly as for mem://. A program's own
// `mem://NAME` connections on the same Hub talk with the remote clients.
//
//   auto hub = herald::Hub::named("");                       // or Hub::create(name, options)
//   auto gateway = herald::WsGateway::start(hub, {.host = "127.0.0.1", .port = 0});
//   if (!gateway.ok()) ...;                                   // e.g. port in use
//   std::cout << (*gateway)->url();                           // ws://127.0.0.1:PORT
//   herald::Realtime remote_client((*gateway)->url());        // anywhere on the network
//
// TLS (wss://): given a certificate, the gateway speaks only TLS on its port
// (TLS 1.2 or later; a plain client fails the TLS handshake, is counted in
// tls_handshakes_failed and dropped). Clients connect to "wss://HOST:PORT"
// and verify the certificate (Options::tls_ca_file, or the system's store):
//
//   herald::WsGateway::start(hub, {.host = "127.0.0.1", .port = 7443,
//                                  .tls_certificate_file = "hub.pem",    // chain, leaf first
//                                  .tls_private_key_file = "hub.key"});  // url(): wss://...
//
// Session enforcement is the Hub's (HubOptions::enforce_session): the token of
// a client's hello is checked by the Hub's verifier, and again before every
// operation of that client.
//
// Threading: the gateway runs its own I/O threads (`threads`); every method
// may be called from any thread. Each connection has a strand, one write in
// flight and a bounded write queue (coalesced into one WebSocket message when
// several frames wait); a connection whose queue passes its bound is closed
// with 4002 "slow consumer" and counted, and nobody else waits for it.
// Lifetime: stop() (or the destructor) sends close 1001 to every client,
// finishes what was being written, and waits at most `stop_grace`.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "herald/hub.hpp"
#include "herald/limits.hpp"

namespace herald {

struct WsGatewayOptions {
  std::string host = "127.0.0.1";  // address to listen on
  int port = 0;                    // 0 picks a free port (see port())
  int threads = 1;                 // I/O threads
  // WebSocket handshake plus the client's hello must complete within this.
  std::chrono::milliseconds handshake_timeout{5000};
  // A connection silent for idle_timeout / 2 gets a ping; silent for
  // idle_timeout (no frame, no pong) it is dropped.
  std::chrono::milliseconds idle_timeout{30000};
  // Per-connection write queue; past either bound → close 4002 (slow consumer).
  std::size_t max_write_queue_bytes = 16u << 20;
  std::size_t max_write_queue_frames = 65'536;
  std::size_t max_connections = 10'000;  // more → HTTP 503
  // Channels one connection may be in at a time; a join past it is refused
  // (error 8, kResourceExhausted) and the connection kept.
  std::size_t max_channels_per_connection = limits::kMaxChannelsPerConnection;
  std::chrono::milliseconds stop_grace{2000};
  // wss://: the PEM certificate chain (leaf first) and its PEM private key
  // (empty: the key is in tls_certificate_file too). Empty certificate: ws://.
  // Read once, by start(): kInvalidArgument names a file that cannot be used.
  // The TLS handshake, like the upgrade, must complete within handshake_timeout.
  std::string tls_certificate_file = {};
  std::string tls_private_key_file = {};

  // The hub-wide budget: what all connections together may hold (each one's
  // limits above, times max_connections, would be far more than a machine
  // has). Each refusal says which budget and is counted (refused_budget).
  // Channel memberships: each costs its channel name's bytes + 256 (what the
  // hub keeps for it); a join past it gets reply 8, the connection kept.
  // This bounds the channels too (each has a member).
  std::size_t max_total_membership_bytes = 256u << 20;
  // Profiles (hello and profile frames): a profile frame past it gets reply
  // 8, a hello error 8 and close 1013 (try again later).
  std::size_t max_total_profile_bytes = 256u << 20;
  // The write queues together: a frame that would take them past it cuts
  // its connection (close 4002, as a slow consumer) if that one's queue
  // holds more than its share (this over the open connections); a connection
  // within its share always gets its frames.
  std::size_t max_total_queued_bytes = 1u << 30;
};

// Counters since start(); gauges are marked.
struct WsGatewayStats {
  std::uint64_t accepted = 0;               // WebSocket handshakes completed
  std::uint64_t refused = 0;                // over max_connections, bad path, failed handshake
  std::uint64_t tls_handshakes_failed = 0;  // wss://: TLS handshakes that failed or timed out
                                            // (also counted in refused)
  std::size_t connections = 0;              // gauge: connections that said hello and are attached
  std::uint64_t frames_in = 0;              // frames read from clients
  std::uint64_t messages_routed = 0;        // send / broadcast frames handed to the Router
  std::uint64_t frames_out = 0;             // frames written to clients
  std::uint64_t writes = 0;        // WebSocket messages written (frames_out / writes = coalescing)
  std::uint64_t frame_errors = 0;  // frames refused with an error / reply, connection kept
  std::uint64_t closed_protocol =
      0;  // closed for malformed input (1002 / 1003 / 1007 / 1008 / 1009)
  std::uint64_t closed_unauthenticated = 0;  // 4001
  std::uint64_t closed_slow_consumer = 0;    // 4002
  // Back-pressure (docs/PROTOCOL.md, "Flow control"): times a publisher was
  // held back because a receiver of its messages was full, the time they
  // were held in all, and receivers cut (4002, also in closed_slow_consumer)
  // for taking nothing for the Hub's stall_timeout while they held senders.
  std::uint64_t publishers_held = 0;
  std::uint64_t held_ns = 0;
  std::uint64_t closed_stalled = 0;
  std::uint64_t dropped_slow_consumer = 0;    // frames discarded with those connections' queues
  std::uint64_t dropped_closing = 0;          // messages still queued when their connection ended
                                              // (peer gone, or not drained within stop_grace)
  std::uint64_t closed_idle = 0;              // timed out (handshake, hello or idle)
  std::size_t write_queue_high_water = 0;     // most frames ever waiting for one connection
  std::uint64_t refused_reserved_events = 0;  // send / broadcast of a "channel:" event (error 3)
  // The hub-wide budget: refusals (joins, profiles, hellos), connections cut
  // for the queue budget (also in closed_slow_consumer), and gauges.
  std::uint64_t refused_budget = 0;
  std::uint64_t closed_queue_budget = 0;
  std::size_t membership_bytes = 0;  // gauge: memberships, as counted against the budget
  std::size_t profile_bytes = 0;     // gauge
  std::size_t queued_bytes = 0;      // gauge: in all write queues
};

class WsGateway {
 public:
  // Binds host:port and starts accepting. kInvalidArgument for a bad host or
  // option, kUnavailable when the address cannot be bound (says why).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<WsGateway>> start(
      std::shared_ptr<Hub> hub, WsGatewayOptions options = {});
  ~WsGateway();
  WsGateway(const WsGateway&) = delete;
  WsGateway& operator=(const WsGateway&) = delete;

  int port() const noexcept;
  std::string url() const;  // "ws://HOST:PORT", or "wss://HOST:PORT" with TLS
  const std::shared_ptr<Hub>& hub() const noexcept;
  WsGatewayStats stats() const;
  // Closes every connection (1001 "hub stopping") and stops; idempotent.
  void stop();

  struct Shared;  // the acceptor, threads, sessions and counters (src/hub/shared.hpp)

 private:
  explicit WsGateway(std::shared_ptr<Shared> shared);
  std::shared_ptr<Shared> shared_;
};

}  // namespace herald
