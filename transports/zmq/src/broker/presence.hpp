// PresencePublisher: the broker's own publisher of channel:join / leave /
// update, a PUB on the proxy's XSUB like any client's (control thread only).
#pragma once

#include <cstddef>
#include <string_view>
#include <zmq.hpp>

#include "herald/internal/envelope.hpp"
#include "sessions.hpp"

namespace herald::zmq_broker {

// The size of a presence event's body, {"id": socket_id, "data": profile}.
std::size_t presence_body_size(std::string_view socket_id, std::size_t profile_bytes);

class PresencePublisher {
 public:
  explicit PresencePublisher(zmq::socket_t pub) : pub_(std::move(pub)) {}
  // `kind` is join, leave or update; unsequenced (seq 0).
  void publish(internal::EnvelopeKind kind, std::string_view channel, const Session& session,
               bool echo);

 private:
  zmq::socket_t pub_;
};

}  // namespace herald::zmq_broker
