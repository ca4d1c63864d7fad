// herald/internal/hub_access.hpp — the transport half of a Hub.
//
// What a transport or gateway does with a Hub that an application never does:
// attach a connection (after the session check), apply its joins and leaves
// with their presence events, and route its envelopes. Kept out of the public
// Hub (hub.hpp) as EnTT keeps `sink` apart from `sigh`: each side sees only
// what it uses. Every function may be called from any thread.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
  // `replacement` (the same socket id: the client reconnecting before its old
  // connection was noticed dead) takes `old`'s place after the same session
  // check: it is in old's channels, and nobody hears a leave or a join. When
  // `old` is no longer attached, it is attached as by attach().
  [[nodiscard]] static absl::Status replace(Hub& hub, const Receiver& old,
                                            std::shared_ptr<Receiver> replacement,
                                            std::string_view session);
  // The channels `receiver` is in, sorted.
  static std::vector<std::string> channels_of(Hub& hub, const Receiver& receiver);
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
  static absl::Status check_session(const Hub& hub, std::string_view session);
  static void send_presence(Hub& hub, const Receiver& receiver, std::string_view channel,
                            std::string_view event, bool echo);
};

}  // namespace herald::internal
