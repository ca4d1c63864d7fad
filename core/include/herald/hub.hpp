// herald/hub.hpp — Hub: the router that connections attach to.
//
// Every `mem://NAME` connection attaches to the Hub named NAME (`mem://` is the
// process default hub, named ""). A Hub routes with the core's Router: channel
// members for `send`, every connection for `broadcast`, the echo rule applied.
// Network gateways (WebSocket, ZeroMQ bridge) attach their remote sessions to
// a Hub the same way; each is documented with its transport.
//
// Lifetime: named hubs live until the process ends (a hub created with session
// enforcement must never silently turn into an open one).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/payload.hpp"

namespace herald {

namespace internal {
class Receiver;
class Router;
class EnvelopePtr;
}  // namespace internal

struct HubOptions {
  bool enforce_session = false;
  // Required if enforce_session: true accepts the token.
  std::function<bool(std::string_view token)> verify_session = nullptr;
  std::size_t max_message_bytes = 1 << 20;
};

struct Member {
  std::string id;  // socket id
  Message data;    // profile (nil until update_profile)
};

class Hub {
 public:
  // The hub behind "mem://NAME", created with these options if it does not
  // exist yet; kAlreadyExists if it exists with other options (two verifiers
  // are the same only when both are empty or the same plain function).
  // kInvalidArgument for enforce_session without verify_session, or a name
  // that cannot be part of a URL.
  static absl::StatusOr<std::shared_ptr<Hub>> create(std::string_view name,
                                                     HubOptions options = {});
  // Get, or create with default options.
  static std::shared_ptr<Hub> named(std::string_view name);

  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  std::string_view name() const noexcept { return name_; }
  const HubOptions& options() const noexcept { return options_; }
  std::size_t connection_count() const;
  std::vector<std::string> channels() const;  // channels with at least one member, sorted

  // ---- For transports and gateways (not needed by applications) ----
  // Admits a receiver after the session check (kUnauthenticated when the hub
  // enforces sessions and `session` does not verify).
  absl::Status attach(std::shared_ptr<internal::Receiver> receiver, std::string_view session);
  // Removes it everywhere and tells the channels' other members (channel:leave).
  void detach(const internal::Receiver& receiver);
  // Presence events (channel:join / channel:leave) go to the other members,
  // and to `receiver` itself when `echo`.
  absl::Status join(const internal::Receiver& receiver, std::string_view channel, bool echo);
  absl::Status leave(const internal::Receiver& receiver, std::string_view channel, bool echo);
  // Sends channel:update to every channel `receiver` is in.
  void update_profile(const internal::Receiver& receiver, bool echo);
  std::vector<Member> members(std::string_view channel) const;
  void route(const internal::EnvelopePtr& envelope);

 private:
  struct Passkey {};

 public:
  Hub(Passkey, std::string name, HubOptions options);

 private:
  void send_presence(const internal::Receiver& receiver, std::string_view channel,
                     std::string_view event, bool echo);
  std::string name_;
  HubOptions options_;
  std::unique_ptr<internal::Router> router_;
};

}  // namespace herald
