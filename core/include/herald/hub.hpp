// herald/hub.hpp — Hub: the router that connections attach to.
//
// Every `mem://NAME` connection attaches to the Hub named NAME (`mem://` is the
// process default hub, named ""). A Hub routes with the core's Router: channel
// members for `send`, every connection for `broadcast`, the echo rule applied.
// Network gateways (the WebSocket hub, WsGateway) attach their remote sessions
// to a Hub the same way, through an internal interface applications never
// need (herald/internal/hub_access.hpp).
//
// Lifetime: named hubs live until the process ends (a hub created with session
// enforcement must never silently turn into an open one).
// Thread-safety: every method may be called from any thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/limits.hpp"
#include "herald/payload.hpp"

namespace herald {

namespace internal {
class HubAccess;
class Router;
class SessionWatch;
}  // namespace internal

struct HubOptions {
  bool enforce_session = false;
  // Required if enforce_session: true accepts the token.
  std::function<bool(std::string_view token)> verify_session = nullptr;
  std::size_t max_message_bytes = limits::kDefaultMaxMessageBytes;
  // With enforce_session, every attached connection's token is verified
  // again this often (on a thread of the Hub's own, one per enforcing Hub):
  // a connection whose token no longer verifies — expired, or refused by the
  // verifier now — is detached (its channels hear channel:leave) and told:
  // a mem:// connection reports on_disconnect, then on_error
  // kUnauthenticated, and its later operations fail with that code; a ws://
  // client gets error 16 and close 4001. So a connection that only listens
  // stops receiving within this interval of its session's end. At least 1 ms.
  std::chrono::milliseconds session_check_interval{1000};
  // Back-pressure (Overflow::block): a receiver whose inbox stays full and
  // that dispatches nothing for this long while a sender waits on it is cut
  // as a slow consumer — on_disconnect, then on_error kResourceExhausted;
  // its waiting senders go on, and it is attached again (its channels
  // restored) when it next drains. Zero: never cut (senders wait up to their
  // Options::timeout).
  std::chrono::milliseconds stall_timeout{10000};
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
  [[nodiscard]] static absl::StatusOr<std::shared_ptr<Hub>> create(std::string_view name,
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
  // The members of `channel` now, with their profiles (empty if none).
  std::vector<Member> members(std::string_view channel) const;

 private:
  // Transports and gateways attach their connections through
  // internal::HubAccess (herald/internal/hub_access.hpp); applications never do.
  friend class internal::HubAccess;
  Hub(std::string name, HubOptions options);

  std::string name_;
  HubOptions options_;
  std::unique_ptr<internal::Router> router_;
  std::unique_ptr<internal::SessionWatch> session_watch_;  // with enforce_session only
};

}  // namespace herald
