// zmq_transport.hpp — the zmq:// transport (internal: reached through transport_factory.cc).
//
// `zmq://HOST:PORT` talks to a ZmqBroker (broker.hpp): a DEALER to its
// control port P, a PUB to P+1 and a SUB to P+2, owned by one I/O thread per
// connection (ZmqClient, zmq_client.hpp, behind network::make_client_transport).
// Sends go straight out of the calling thread's `send` (the PUB is shared
// under a mutex; the body frame is the Message's own bytes, not a copy).
// Listeners with Dispatch::immediate run on the I/O thread.
//
// Guarantees, and how:
//  - No slow-joiner loss: join() returns once a probe published by this
//    connection, on a topic subscribed right after the channel's, has come
//    back through the broker — so the channel's subscription is in force at
//    the broker, and the broker's publishers forward everything.
//  - Reconnection: when the broker goes away, on_disconnect fires, sends
//    buffer (bounded) or fail with kUnavailable, attempts follow
//    reconnection_delay with exponential backoff (on_reconnect_attempt), and
//    on reconnect the channels are rejoined before on_connect and the buffer
//    goes out in order.
//  - Losses are never silent: every envelope carries a per-sender, per-topic
//    sequence number; gaps are counted in Stats::lost_in_transit.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "herald/internal/transport.hpp"

namespace herald::zmq_transport {

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events);

}  // namespace herald::zmq_transport
