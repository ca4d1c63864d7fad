// herald/internal/hub_access.hpp — the transport half of a Hub.
//
// What a transport or gateway does with a Hub that an application never does:
// attach a connection (after the session check), apply its joins and leaves
// with their presence events, and route its envelopes. Kept out of the public
// Hub (hub.hpp) as EnTT keeps `sink` apart from `sigh`: each side sees only
// what it uses. Every function may be called from any thread.
#pragma once

#include <memory>
#include <string_view>

#include "absl/status/status.h"
#include "herald/hub.hpp"
#include "herald/internal/envelope.hpp"
#include "herald/internal/receiver.hpp"

namespace herald::internal {

class HubAccess {
 public:
  // Admits a receiver after the session check (kUnauthenticated when the hub
  // enforces sessions and `session` does not verify; kAlreadyExists when a
  // receiver with the same socket id is attached).
  [[nodiscard]] static absl::Status attach(Hub& hub, std::shared_ptr<Receiver> receiver,
                                           std::string_view session);
  // Removes it everywhere and tells the channels' other members (channel:leave).
  static void detach(Hub& hub, const Receiver& receiver);
  // Presence events (channel:join / channel:leave) go to the other members,
  // and to `receiver` itself when `echo`.
  [[nodiscard]] static absl::Status join(Hub& hub, const Receiver& receiver,
                                         std::string_view channel, bool echo);
  [[nodiscard]] static absl::Status leave(Hub& hub, const Receiver& receiver,
                                          std::string_view channel, bool echo);
  // Sends channel:update to every channel `receiver` is in.
  static void update_profile(Hub& hub, const Receiver& receiver, bool echo);
  static void route(Hub& hub, const EnvelopePtr& envelope);

 private:
  static void send_presence(Hub& hub, const Receiver& receiver, std::string_view channel,
                            std::string_view event, bool echo);
};

}  // namespace herald::internal
