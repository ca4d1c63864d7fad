// Connection, membership: joined channels, join / leave and their ordering,
// the channels restored on (re)connect, and presence (profile, members).
#include "herald/internal/connection.hpp"
#include "herald/internal/msgpack_walk.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"
#include "herald/internal/thread_role.hpp"

namespace herald::internal {

std::vector<TransportEvents::ChannelToRestore> Connection::channels_to_restore() {
  std::lock_guard lock(mu_);
  std::vector<ChannelToRestore> out;
  // On the first connection these are joins made while connecting: always
  // applied. On a reconnect, auto_join_channels decides.
  if (!options_.auto_join_channels && ever_connected_) {
    joined_.clear();
    return out;
  }
  for (const auto& [channel, echo] : joined_) out.push_back({channel, echo});
  return out;
}

// Membership changes (the joined_ set and the transport's join / leave) are
// applied by one thread at a time, in order, so that the set and the far side
// never disagree. A thread that cannot take that role without risking a wait
// on itself — a listener, or a nested call — records the change as pending;
// whoever holds the role applies it before letting go (or, while
// disconnected, transport_connected() does).
bool Connection::own_membership(bool block) {
  const auto self = std::this_thread::get_id();
  if (membership_owner_.load(std::memory_order_acquire) == self) return false;  // nested
  if (block) {
    membership_mu_.lock();
  } else if (!membership_mu_.try_lock()) {
    return false;
  }
  membership_owner_.store(self, std::memory_order_release);
  return true;
}

void Connection::release_membership() {
  for (;;) {
    if (state() == State::connected) {
      for (;;) {
        MembershipOp op;
        {
          std::lock_guard lock(mu_);
          if (pending_ops_.empty()) break;
          op = std::move(pending_ops_.front());
          pending_ops_.pop_front();
        }
        absl::Status status = op.join ? transport_->join(op.channel, op.echo)
                                      : transport_->leave(op.channel, op.echo);
        if (!status.ok()) report_error(status);
      }
    }
    membership_owner_.store(std::thread::id{}, std::memory_order_release);
    membership_mu_.unlock();
    bool more;
    {
      std::lock_guard lock(mu_);
      more = !pending_ops_.empty();
    }
    if (!more || state() != State::connected || !own_membership(/*block=*/false)) return;
  }
}

absl::Status Connection::join(std::string_view channel, std::optional<bool> echo) {
  if (absl::Status s = validate_name("channel", channel); !s.ok()) return rejected(s);
  if (absl::Status s = usable("join"); !s.ok()) return rejected(s);
  const bool e = echo.value_or(options_.echo_messages);
  const bool in_listener = !may_wait();
  // From a listener, never wait: "OK, in order", applied by whoever can.
  if (!own_membership(/*block=*/!in_listener)) {
    std::lock_guard lock(mu_);
    joined_.insert_or_assign(std::string(channel), e);
    pending_ops_.push_back({std::string(channel), true, e});
    return absl::OkStatus();
  }
  {
    std::lock_guard lock(mu_);
    joined_.insert_or_assign(std::string(channel), e);
  }
  absl::Status status;
  if (state() != State::connected && in_listener) {
    std::lock_guard lock(mu_);
    pending_ops_.push_back({std::string(channel), true, e});  // applied once connected
  } else {
    // Waits (up to Options::timeout) for the connection; the channel stays
    // recorded and is joined on connect even if this times out.
    status = await_connected("join");
    if (status.ok()) status = transport_->join(channel, e);
  }
  release_membership();
  return status;
}

absl::Status Connection::leave(std::string_view channel, std::optional<bool> echo) {
  if (absl::Status s = validate_name("channel", channel); !s.ok()) return rejected(s);
  if (absl::Status s = usable("leave"); !s.ok()) return rejected(s);
  const bool e = echo.value_or(options_.echo_messages);
  const bool owner = own_membership(/*block=*/may_wait());
  bool apply_now = false;
  {
    std::lock_guard lock(mu_);
    auto it = joined_.find(channel);
    if (it != joined_.end()) {
      joined_.erase(it);
      // Not connected (or not ours to apply now): the far side may still hold
      // the membership (a broker keeps a reconnecting client's channels), so
      // the leave is applied once connected.
      apply_now = owner && state() == State::connected;
      if (!apply_now) pending_ops_.push_back({std::string(channel), false, e});
    }
  }
  absl::Status status;
  if (apply_now) status = transport_->leave(channel, e);
  if (owner) release_membership();
  return status;
}

std::vector<std::string> Connection::channels() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [channel, echo] : joined_) out.push_back(channel);
  return out;
}

Message Connection::profile() const {
  std::lock_guard lock(mu_);
  return profile_;
}

absl::Status Connection::update_profile(Message data, std::optional<bool> echo) {
  if (absl::Status s = usable("update_profile"); !s.ok()) return rejected(s);
  const std::size_t size = data.bytes().size();
  const std::size_t limit = transport_->max_message_bytes();
  if (size > limit) {
    return rejected(absl::ResourceExhaustedError(
        internal::cat("herald: profile is ", size, " bytes; the limit is ", limit,
                      " (HubOptions::max_message_bytes, the same as for a message body)")));
  }
  if (absl::Status s = check_nesting(data.bytes(), "profile"); !s.ok()) return rejected(s);
  {
    std::lock_guard lock(mu_);
    profile_ = std::move(data);
  }
  if (state() != State::connected) return absl::OkStatus();  // sent with the next join
  return transport_->update_profile(profile(), echo.value_or(options_.echo_messages));
}

absl::StatusOr<std::vector<Member>> Connection::get_members(std::string_view channel) {
  if (absl::Status s = validate_name("channel", channel); !s.ok()) return rejected(s);
  if (absl::Status s = usable("get_members"); !s.ok()) return rejected(s);
  if (absl::Status s = await_connected("get_members"); !s.ok()) return s;
  return transport_->get_members(channel);
}

}  // namespace herald::internal
