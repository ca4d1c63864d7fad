// herald/zmq/broker.hpp — ZmqBroker: where zmq:// connections meet.
//
// Data path: the broker's own XSUB → XPUB loop, which forwards each message
// as libzmq received it after a look at its header (presence envelopes and
// "channel:" events come only from the broker). Beside it, a control socket (ROUTER) for
// what pub/sub cannot do: the hello handshake, presence (join / leave /
// profile / members), liveness, and stats. Ports, from the endpoint's port P:
//
//   P     control   ROUTER  (clients: DEALER)
//   P+1   publish   XSUB    (clients: PUB)
//   P+2   subscribe XPUB    (clients: SUB; Overflow::block receivers)
//   P+3   lossy     XPUB    (clients: SUB; drop_* receivers, and hold notices)
//
// Port 0 picks a free P such that P+1 to P+3 are free too; port() tells it.
//
// Flow control: a message for a receiver whose queue is full waits at the
// broker, in its channel's order, and the channel's senders are told to wait
// (docs/PROTOCOL.md, "zmq://", "Flow control"; docs/flow-control.md).
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
#include "absl/status/statusor.h"
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

  // The broker-wide budget: past each, the request that would grow it is
  // refused with kResourceExhausted naming the limit, and counted
  // (ZmqBrokerStats::refused_*). A hello past max_sessions is refused.
  std::size_t max_sessions = 100'000;
  std::size_t max_channels = 100'000;         // distinct channels with a member
  std::size_t max_memberships = 1'000'000;    // (session, channel) pairs, all sessions
  std::size_t max_profile_bytes = 256 << 20;  // profiles held, all sessions

  // Messages queued for one subscriber (the XPUB's send high-water mark;
  // for receivers with Overflow::block at most 1024, past which their
  // channels wait at the broker). libzmq bounds that queue in messages, not
  // bytes: its worst case is subscriber_high_water_mark × (max_message_bytes
  // + 64 KiB) per subscriber that reads nothing (10,000 × 4 KiB messages ≈
  // 40 MB; of 1 MiB bodies, ≈ 10 GiB). Past it, messages to a dropping
  // subscriber are dropped and its client counts the gap
  // (Stats::lost_in_transit).
  int subscriber_high_water_mark = 10'000;

  // A receiver that takes nothing for this long while messages for it wait
  // is stalled: a herald client cuts itself as a slow consumer (and reconnects
  // when its inbox has room), and its channels' messages go to the others
  // without waiting for it from then on (ZmqBrokerStats::dropped_stalled).
  std::chrono::milliseconds stall_timeout{10'000};
  // What may wait at the broker for full receivers, all channels together;
  // past it the broker stops reading publishers until some drained.
  std::size_t max_held_bytes = 64 << 20;

  // Non-empty: the broker's CURVE secret key (40 characters of Z85, as
  // `herald keygen` writes). All three sockets are then CURVE servers:
  // traffic is encrypted, and clients must know the broker's public key
  // (zmq://HOST:PORT?curve=PUBLIC_KEY).
  std::string curve_secret_key = {};
};

struct ZmqBrokerStats {
  std::size_t sessions = 0;       // clients that said hello and are alive
  std::size_t channels = 0;       // channels with at least one member
  std::uint64_t messages_in = 0;  // data messages received from publishers
  std::uint64_t bytes_in = 0;
  std::uint64_t messages_out = 0;  // data messages sent to subscribers
  std::uint64_t bytes_out = 0;
  std::uint64_t control_requests = 0;   // control messages handled
  std::uint64_t control_malformed = 0;  // control messages dropped as malformed
  std::uint64_t auth_failures = 0;      // peers refused by ZAP
  std::uint64_t sessions_expired = 0;   // clients that went silent
  std::size_t memberships = 0;          // (session, channel) pairs
  std::size_t profile_bytes = 0;        // profiles held
  // Refused by the broker-wide budget (ZmqBrokerOptions::max_*), and profiles
  // refused as too large for one message.
  std::uint64_t refused_sessions = 0;
  std::uint64_t refused_channels = 0;
  std::uint64_t refused_memberships = 0;
  std::uint64_t refused_profiles = 0;
  // Data messages from publishers dropped by the broker: presence envelopes
  // (only the broker publishes those) and reserved "channel:" events.
  std::uint64_t forged_dropped = 0;
  // Data messages from publishers dropped as malformed: more than one frame,
  // or no topic (a 0xFF within the first 279 bytes).
  std::uint64_t malformed_dropped = 0;
  // Flow control: messages that waited at the broker for a full receiver;
  // channels held (their senders told to wait), each time one was; the bytes
  // waiting now; messages sent on past a stalled receiver (it missed them);
  // clients that cut themselves as stalled.
  std::uint64_t messages_waited = 0;
  std::uint64_t holds = 0;
  std::size_t held_bytes = 0;
  std::uint64_t dropped_stalled = 0;
  std::uint64_t closed_stalled = 0;
};

// A CURVE keypair, each key 40 characters of Z85: the broker keeps the
// secret one (ZmqBrokerOptions::curve_secret_key, `herald broker
// --curve-secret FILE`), clients are given the public one (?curve=).
struct CurveKeypair {
  std::string public_key;
  std::string secret_key;
};
// kFailedPrecondition when this libzmq has no CURVE.
[[nodiscard]] absl::StatusOr<CurveKeypair> make_curve_keypair();
// The public key of a secret key; kInvalidArgument if it is not 40 characters of Z85.
[[nodiscard]] absl::StatusOr<std::string> curve_public_key(const std::string& secret_key);

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
  std::string url() const;  // "zmq://HOST:P", with CURVE "zmq://HOST:P?curve=PUBLIC_KEY"
  ZmqBrokerStats stats() const;

 private:
  std::unique_ptr<zmq_broker::BrokerService> service_;
};

}  // namespace herald
