// herald/zmq/broker.hpp — ZmqBroker: where zmq:// connections meet.
//
// Data path: libzmq's own XSUB/XPUB proxy (zmq_proxy_steerable) — herald adds
// no hop of its own to a message. Beside it, a control socket (ROUTER) for
// what pub/sub cannot do: the hello handshake, presence (join / leave /
// profile / members), liveness, and stats. Ports, from the endpoint's port P:
//
//   P     control   ROUTER  (clients: DEALER)
//   P+1   publish   XSUB    (clients: PUB)
//   P+2   subscribe XPUB    (clients: SUB)
//
// Port 0 picks a free P such that P+1 and P+2 are free too; port() tells it.
// With a session secret, all three sockets authenticate peers with ZeroMQ's
// own ZAP (PLAIN mechanism, the password being an HS256 JWT — see
// session_token.hpp), so a raw ZeroMQ socket without a valid token can
// neither deliver nor receive. Wire formats: docs/PROTOCOL.md.
//
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "herald/limits.hpp"

namespace herald {

namespace zmq_broker {
class BrokerService;  // transports/zmq/src/broker/
}  // namespace zmq_broker

struct ZmqBrokerOptions {
  // tcp://HOST:PORT of the control socket (loopback by default).
  std::string endpoint = "tcp://127.0.0.1:0";
  // Non-empty: clients must present an HS256 JWT signed with it.
  std::string session_secret = {};
  std::size_t max_message_bytes =
      limits::kDefaultMaxMessageBytes;  // larger frames drop the sender (ZMQ_MAXMSGSIZE)
  // A client silent for this long (no ping) is gone: it leaves its channels.
  std::chrono::milliseconds session_timeout{5000};
  // Channels one client may be a member of at a time; a join past it is
  // refused with kResourceExhausted.
  std::size_t max_channels_per_connection = limits::kMaxChannelsPerConnection;
  int high_water_mark = 100'000;  // per peer, each direction; drops are seen by receivers as gaps
};

struct ZmqBrokerStats {
  std::size_t sessions = 0;       // clients that said hello and are alive
  std::size_t channels = 0;       // channels with at least one member
  std::uint64_t messages_in = 0;  // data frames received from publishers (proxy)
  std::uint64_t bytes_in = 0;
  std::uint64_t messages_out = 0;  // data frames sent to subscribers (proxy)
  std::uint64_t bytes_out = 0;
  std::uint64_t control_requests = 0;   // control messages handled
  std::uint64_t control_malformed = 0;  // control messages dropped as malformed
  std::uint64_t auth_failures = 0;      // peers refused by ZAP
  std::uint64_t sessions_expired = 0;   // clients that went silent
};

class ZmqBroker {
 public:
  explicit ZmqBroker(ZmqBrokerOptions options = {});
  ~ZmqBroker();  // stop()
  ZmqBroker(const ZmqBroker&) = delete;
  ZmqBroker& operator=(const ZmqBroker&) = delete;

  // Binds and starts serving. kInvalidArgument for a bad endpoint,
  // kUnavailable when the ports cannot be bound, kFailedPrecondition if
  // already started.
  [[nodiscard]] absl::Status start();
  void stop();  // idempotent

  int port() const;         // the control port P (after start)
  std::string url() const;  // "zmq://HOST:P"
  ZmqBrokerStats stats() const;

 private:
  std::unique_ptr<zmq_broker::BrokerService> service_;
};

}  // namespace herald
