// herald/internal/receiver.hpp — what a Router delivers to, and what a
// Transport reports to.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "herald/internal/envelope.hpp"
#include "herald/internal/thread_role.hpp"  // t_on_transport_thread, set by transports

namespace herald::internal {

// Something attached to a Hub that envelopes are routed to: a local
// connection (mem://) or, later, a remote session of a network gateway.
class Receiver {
 public:
  virtual ~Receiver() = default;
  // Socket id; stable for the receiver's lifetime.
  virtual std::string_view id() const noexcept = 0;
  // Called on the routing thread. Must not block for long; may run listeners
  // (immediate dispatch) or enqueue.
  virtual void deliver(const EnvelopePtr& envelope) = 0;
  // Presence profile (nil until update_profile).
  virtual Message profile() const = 0;
  // The session it attached with ended (HubOptions::session_check_interval):
  // the Hub has detached it already. Called once, on the Hub's session-watch
  // thread; must not block for long.
  virtual void session_ended(const absl::Status& why) { (void)why; }
};

// The connection-side events a Transport reports.
class TransportEvents : public Receiver {
 public:
  // False while a queued inbox with Overflow::block is full: a transport then
  // leaves further input where it is (bounded by its own high-water marks)
  // instead of blocking its thread.
  virtual bool ready_for_more() const noexcept = 0;
  // The channels to join while (re)connecting, each with the echo its join
  // asked for: the joined ones with auto_join_channels, else none (and they
  // are forgotten).
  struct ChannelToRestore {
    std::string channel;
    bool echo = false;
  };
  virtual std::vector<ChannelToRestore> channels_to_restore() = 0;
  virtual void transport_connected() = 0;
  virtual void transport_disconnected(std::string_view reason) = 0;
  // The far side refused this connection (e.g. session rejected): no retry.
  virtual void transport_refused(const absl::Status& status) = 0;
  virtual void transport_error(const absl::Status& status) = 0;
  virtual void transport_reconnect_attempt(int attempt) = 0;
};

}  // namespace herald::internal
