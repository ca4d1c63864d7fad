#include "herald/hub.hpp"

#include "absl/container/flat_hash_map.h"
#include "herald/internal/envelope.hpp"
#include "herald/internal/hub_access.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/receiver.hpp"
#include "herald/internal/router.hpp"
#include "herald/internal/session_watch.hpp"
#include "herald/internal/text.hpp"

namespace herald {
namespace {

struct HubDirectory {
  std::mutex mu;
  internal::NameMap<std::shared_ptr<Hub>> hubs;
};

// Never destroyed: connections in static storage may outlive main().
HubDirectory& directory() {
  static HubDirectory* d = new HubDirectory;
  return *d;
}

using VerifyFn = bool (*)(std::string_view);

bool same_verifier(const std::function<bool(std::string_view)>& a,
                   const std::function<bool(std::string_view)>& b) {
  if (!a && !b) return true;
  if (!a || !b) return false;
  const VerifyFn* fa = a.target<VerifyFn>();
  const VerifyFn* fb = b.target<VerifyFn>();
  return fa != nullptr && fb != nullptr && *fa == *fb;
}

bool same_options(const HubOptions& a, const HubOptions& b) {
  return a.enforce_session == b.enforce_session && a.max_message_bytes == b.max_message_bytes &&
         a.session_check_interval == b.session_check_interval &&
         a.stall_timeout == b.stall_timeout && same_verifier(a.verify_session, b.verify_session);
}

}  // namespace

Hub::Hub(std::string name, HubOptions options)
    : name_(std::move(name)),
      options_(std::move(options)),
      router_(std::make_unique<internal::Router>()) {
  if (!options_.enforce_session) return;
  session_watch_ = std::make_unique<internal::SessionWatch>(
      options_.verify_session, options_.session_check_interval,
      [this](const std::shared_ptr<internal::Receiver>& receiver) {
        internal::HubAccess::detach(*this, *receiver);
        receiver->session_ended(absl::UnauthenticatedError(internal::cat(
            "herald: hub \"", name_, "\": the session token is no longer valid (expired or ",
            "refused by the verifier now)")));
      });
}

Hub::~Hub() = default;

absl::StatusOr<std::shared_ptr<Hub>> Hub::create(std::string_view name, HubOptions options) {
  if (name.find('/') != std::string_view::npos) {
    return absl::InvalidArgumentError(internal::cat(
        "herald: hub name \"", name, "\" cannot contain '/' (it is used in mem://NAME)"));
  }
  if (options.enforce_session && !options.verify_session) {
    return absl::InvalidArgumentError(internal::cat(
        "herald: hub \"", name, "\": enforce_session is set but verify_session is empty"));
  }
  if (options.session_check_interval < std::chrono::milliseconds(1)) {
    return absl::InvalidArgumentError(
        internal::cat("herald: hub \"", name, "\": session_check_interval must be at least 1 ms"));
  }
  if (options.stall_timeout < std::chrono::milliseconds(0)) {
    return absl::InvalidArgumentError(
        internal::cat("herald: hub \"", name, "\": stall_timeout cannot be negative (0: never)"));
  }
  if (options.max_message_bytes == 0) {
    return absl::InvalidArgumentError(
        internal::cat("herald: hub \"", name, "\": max_message_bytes must be at least 1"));
  }
  HubDirectory& d = directory();
  std::lock_guard lock(d.mu);
  auto it = d.hubs.find(name);
  if (it != d.hubs.end()) {
    if (same_options(it->second->options(), options)) return it->second;
    return absl::AlreadyExistsError(
        internal::cat("herald: hub \"", name, "\" already exists with other options"));
  }
  auto hub = std::shared_ptr<Hub>(new Hub(std::string(name), std::move(options)));
  d.hubs.emplace(std::string(name), hub);
  return hub;
}

std::shared_ptr<Hub> Hub::named(std::string_view name) {
  HubDirectory& d = directory();
  std::lock_guard lock(d.mu);
  auto it = d.hubs.find(name);
  if (it != d.hubs.end()) return it->second;
  auto hub = std::shared_ptr<Hub>(new Hub(std::string(name), HubOptions{}));
  d.hubs.emplace(std::string(name), hub);
  return hub;
}

std::size_t Hub::connection_count() const { return router_->connection_count(); }

std::vector<std::string> Hub::channels() const { return router_->channels(); }

std::vector<Member> Hub::members(std::string_view channel) const {
  std::vector<Member> out;
  internal::Router::Snapshot snapshot = router_->members(channel);
  if (!snapshot) return out;
  out.reserve(snapshot->size());
  for (const auto& entry : *snapshot)
    out.push_back({std::string(entry.id), entry.receiver->profile()});
  return out;
}

}  // namespace herald

namespace herald::internal {

absl::Status HubAccess::check_session(const Hub& hub, std::string_view session) {
  if (hub.options_.enforce_session) {
    if (session.empty()) {
      return absl::UnauthenticatedError(
          cat("herald: hub \"", hub.name_, "\" requires a session token and none was given"));
    }
    if (!hub.options_.verify_session(session)) {
      return absl::UnauthenticatedError(
          cat("herald: hub \"", hub.name_, "\" rejected the session token"));
    }
  }
  return absl::OkStatus();
}

absl::Status HubAccess::attach(Hub& hub, std::shared_ptr<Receiver> receiver,
                               std::string_view session) {
  if (absl::Status s = check_session(hub, session); !s.ok()) return s;
  if (!hub.router_->attach(receiver)) {
    return absl::AlreadyExistsError(
        cat("herald: hub \"", hub.name_, "\": a connection with this socket id is attached"));
  }
  if (hub.session_watch_) hub.session_watch_->watch(receiver, std::string(session));
  return absl::OkStatus();
}

absl::Status HubAccess::replace(Hub& hub, const Receiver& old,
                                std::shared_ptr<Receiver> replacement, std::string_view session) {
  if (absl::Status s = check_session(hub, session); !s.ok()) return s;
  if (!hub.router_->replace(old, replacement)) return attach(hub, std::move(replacement), session);
  if (hub.session_watch_) {
    hub.session_watch_->forget(old);
    hub.session_watch_->watch(replacement, std::string(session));
  }
  return absl::OkStatus();
}

std::vector<std::string> HubAccess::channels_of(Hub& hub, const Receiver& receiver) {
  return hub.router_->channels_of(receiver);
}

void HubAccess::detach(Hub& hub, const Receiver& receiver) {
  if (hub.session_watch_) hub.session_watch_->forget(receiver);
  std::vector<std::string> left = hub.router_->detach(receiver);
  if (left.empty()) return;
  Message body = presence_body(receiver.id(), receiver.profile());
  for (const std::string& channel : left) {
    auto envelope =
        Envelope::make(EnvelopeKind::leave, channel, "channel:leave", receiver.id(), body, false);
    hub.router_->route_to_channel(envelope, channel);
  }
}

void HubAccess::send_presence(Hub& hub, const Receiver& receiver, std::string_view channel,
                              std::string_view event, bool echo) {
  EnvelopeKind kind = event == "channel:join"    ? EnvelopeKind::join
                      : event == "channel:leave" ? EnvelopeKind::leave
                                                 : EnvelopeKind::update;
  auto envelope = Envelope::make(kind, channel, event, receiver.id(),
                                 presence_body(receiver.id(), receiver.profile()), echo);
  hub.router_->route_to_channel(envelope, channel);
}

absl::Status HubAccess::join(Hub& hub, const Receiver& receiver, std::string_view channel,
                             bool echo) {
  if (hub.router_->join(receiver, channel))
    send_presence(hub, receiver, channel, "channel:join", echo);
  return absl::OkStatus();
}

absl::Status HubAccess::leave(Hub& hub, const Receiver& receiver, std::string_view channel,
                              bool echo) {
  // The members before it left, so that the leaver itself hears it when echo is on.
  Router::Snapshot before = hub.router_->leave(receiver, channel);
  if (!before) return absl::OkStatus();
  auto envelope = Envelope::make(EnvelopeKind::leave, channel, "channel:leave", receiver.id(),
                                 presence_body(receiver.id(), receiver.profile()), echo);
  for (const auto& entry : *before) {
    if (envelope->reaches(entry.id)) entry.receiver->deliver(envelope);
  }
  return absl::OkStatus();
}

void HubAccess::update_profile(Hub& hub, const Receiver& receiver, bool echo) {
  for (const std::string& channel : hub.router_->channels_of(receiver)) {
    send_presence(hub, receiver, channel, "channel:update", echo);
  }
}

void HubAccess::route(Hub& hub, const EnvelopePtr& envelope) { hub.router_->route(envelope); }

}  // namespace herald::internal
