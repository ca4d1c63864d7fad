// herald/internal/transport.hpp — the seam between a connection and the place
// where routing happens.
//
// A Transport is chosen once, from the URL, when a Realtime is constructed.
// The connection (core) calls it; it reports back through TransportEvents.
// Implementations live under transports/; core never names one.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/internal/envelope.hpp"
#include "herald/internal/receiver.hpp"
#include "herald/options.hpp"

namespace herald {
struct Member;
}

namespace herald::internal {

struct Url {
  std::string text;    // as given
  std::string scheme;  // "mem", "zmq", "ws", ...
  std::string host;    // mem: the hub name ("" = the default hub)
  int port = -1;       // -1 when absent
  std::string path;    // "" when absent; from the first '/' or '?' after the authority
};

// Parses "scheme://rest". kInvalidArgument names the URL and what is wrong.
absl::StatusOr<Url> parse_url(std::string_view text);

class Transport {
 public:
  virtual ~Transport() = default;
  // Starts connecting and reports the outcome through TransportEvents
  // (mem:// before returning; network transports later, from their thread).
  // Before reporting transport_connected() a transport restores the channels
  // TransportEvents::channels_to_restore() names, so that a connection never
  // looks connected while its channels are still being rejoined.
  virtual void open() = 0;
  // Disconnects; no reconnect until open(). Must be idempotent.
  virtual void close() = 0;
  // Return once the far side applied the change.
  virtual absl::Status join(std::string_view channel, bool echo) = 0;
  virtual absl::Status leave(std::string_view channel, bool echo) = 0;
  virtual absl::Status publish(const EnvelopePtr& envelope) = 0;
  // Largest body the far side accepts.
  virtual std::size_t max_message_bytes() const = 0;
  // Presence.
  virtual absl::Status update_profile(const Message& profile, bool echo) = 0;
  virtual absl::StatusOr<std::vector<Member>> get_members(std::string_view channel) = 0;
  // The connection's full inbox has just been drained: input held back
  // because of it (TransportEvents::ready_for_more) may flow again.
  virtual void resume_input() {}
  // The connection stalled as a receiver: a sender on a thread routing
  // through this transport (mem://) waited on its full inbox for the hub's
  // stall_timeout and it dispatched nothing. Detach it from the far side as a
  // slow consumer (open() attaches it again).
  virtual void cut(const absl::Status& why) { (void)why; }
  // Adds the transport's own counters (e.g. malformed input, losses seen).
  virtual void add_stats(Stats& stats) const { (void)stats; }
};

// Defined outside core (transports/transport_factory.cc): picks the transport
// for `url.scheme`. kInvalidArgument for a scheme no transport handles.
absl::StatusOr<std::unique_ptr<Transport>> make_transport(const Url& url, const Options& options,
                                                          std::weak_ptr<TransportEvents> events);

}  // namespace herald::internal
