// The broker's answer to each control command (docs/PROTOCOL.md, "zmq://",
// "Control messages"). Refusals carry the status code the ws:// hub gives
// the same refusal.
#include <atomic>
#include <set>
#include <vector>

#include "control_server.hpp"
#include "herald/internal/text.hpp"
#include "herald/limits.hpp"
#include "herald/session_token.hpp"

namespace herald::zmq_broker {

using internal::cat;
using internal::EnvelopeKind;
using zmq_wire::Control;

namespace {
constexpr std::size_t kMinResumeBytes = 16;
// Room for the reply's names and fields on top of the body limit.
constexpr std::size_t kReplyOverhead = 64 * 1024;
}  // namespace

bool ControlServer::admit_curve_key(const Control& hello, std::string_view user_id) {
  if (!curve_sessions()) return true;
  absl::StatusOr<std::string> subject = verify_session_token(options_.session_secret, hello.token);
  if (hello.token.empty() || !subject.ok() || user_id.size() != 40) {
    counters_.auth_failures.fetch_add(1);
    reply(zmq_wire::encode_refused(absl::UnauthenticatedError(
        hello.token.empty()
            ? std::string("herald broker: a session token is required")
            : cat("herald broker: ", subject.ok() ? "no CURVE key" : subject.status().message()))));
    return false;
  }
  return true;
}

void ControlServer::on_hello(const Control& c, std::string_view user_id) {
  const std::string socket_id(c.socket_id);
  if (socket_id.empty() || socket_id.size() > internal::kMaxNameBytes ||
      c.resume.size() < kMinResumeBytes) {
    return reply_malformed(0, "hello: socket_id must be 1-255 bytes, resume_secret at least 16");
  }
  if (!admit_curve_key(c, user_id)) return;
  // A connection that already said hello as someone else leaves first.
  if (Session* mine = sessions_.find(peer_); mine != nullptr && mine->socket_id != socket_id) {
    remove_session(peer_);
  }
  Session fresh;
  fresh.socket_id = socket_id;
  if (const std::string* known = sessions_.routing_id_of(socket_id)) {
    const std::string old_peer = *known;
    const Session* old = sessions_.find(old_peer);
    // The same client again, reconnected with a new identity — if it can
    // prove it: socket ids are visible to everyone, resume secrets are not.
    if (old != nullptr && old->routing_id != peer_ && c.resume != old->resume_token) {
      return reply(zmq_wire::encode_refused(absl::AlreadyExistsError(
          cat("herald broker: socket id ", internal::printable_quote(socket_id, 64),
              " is in use by another connection"))));
    }
    if (old != nullptr) {
      std::optional<Session> taken = sessions_.take(old_peer);
      forget(*taken);
      leave_channels_not_kept(*taken, c, fresh);
    }
  }
  if (sessions_.size() >= options_.max_sessions) {
    counters_.refused_sessions.fetch_add(1);
    return reply(zmq_wire::encode_refused(
        absl::ResourceExhaustedError(cat("herald broker: ", options_.max_sessions,
                                         " sessions already (ZmqBrokerOptions::max_sessions)"))));
  }
  if (curve_sessions()) {
    fresh.curve_key = std::string(user_id);
    curve_keys_.add(fresh.curve_key);
  }
  fresh.resume_token = std::string(c.resume);
  fresh.routing_id = peer_;
  fresh.last_seen = std::chrono::steady_clock::now();
  sessions_.add(std::move(fresh));
  refresh_counts();
  reply(zmq_wire::encode_welcome(
      {.max_message_bytes = options_.max_message_bytes,
       .publish_port = static_cast<std::uint64_t>(port_ + zmq_wire::kPublishPortOffset),
       .subscribe_port = static_cast<std::uint64_t>(port_ + zmq_wire::kSubscribePortOffset),
       .session_timeout_ms = static_cast<std::uint64_t>(options_.session_timeout.count()),
       .stall_timeout_ms = static_cast<std::uint64_t>(options_.stall_timeout.count())}));
}

// The same client again: it keeps the channels it still wants (and its
// profile), so rejoining them is idempotent for the others; it leaves the rest.
void ControlServer::leave_channels_not_kept(const Session& old, const Control& hello,
                                            Session& fresh) {
  const std::set<std::string_view> keep(hello.channels.begin(), hello.channels.end());
  for (const std::string& channel : old.channels) {
    if (keep.count(channel)) {
      fresh.channels.insert(channel);
      continue;
    }
    sessions_.drop_member(channel, old.socket_id);
    presence_.publish(EnvelopeKind::leave, channel, old, false);
  }
  fresh.profile = old.profile;
  fresh.profile_set = old.profile_set;
}

void ControlServer::refuse(std::uint64_t req, std::atomic<std::uint64_t>& counter,
                           std::string message) {
  counter.fetch_add(1);
  reply(zmq_wire::encode_error(req, absl::ResourceExhaustedError(std::move(message))));
}

// A profile travels inside presence events ({"id", "data"}), which must fit
// the message limit receivers hold them to; and all profiles together must
// fit the broker's budget.
bool ControlServer::admit_profile(std::uint64_t req, const Session& session,
                                  std::string_view profile) {
  const std::size_t body = presence_body_size(session.socket_id, profile.size());
  if (body > options_.max_message_bytes) {
    refuse(req, counters_.refused_profiles,
           cat("herald broker: profile of ", profile.size(), " bytes exceeds the limit of ",
               options_.max_message_bytes - (body - profile.size()),
               " (max_message_bytes less its presence event's ", body - profile.size(), " bytes)"));
    return false;
  }
  const std::size_t held = sessions_.profile_bytes() - session.profile.size();
  if (held + profile.size() > options_.max_profile_bytes) {
    refuse(req, counters_.refused_profiles,
           cat("herald broker: profiles would take ", held + profile.size(),
               " bytes, over the broker's budget of ", options_.max_profile_bytes,
               " (ZmqBrokerOptions::max_profile_bytes)"));
    return false;
  }
  return true;
}

bool ControlServer::admit_join(const Session& session, const Control& c) {
  if (session.channels.count(std::string(c.channel))) return true;  // idempotent
  if (session.channels.size() >= options_.max_channels_per_connection) {
    refuse(c.req, counters_.refused_memberships,
           cat("herald broker: a connection may join at most ",
               options_.max_channels_per_connection, " channels"));
    return false;
  }
  if (sessions_.members(c.channel) == nullptr &&
      sessions_.channel_count() >= options_.max_channels) {
    refuse(c.req, counters_.refused_channels,
           cat("herald broker: ", options_.max_channels,
               " channels already (ZmqBrokerOptions::max_channels)"));
    return false;
  }
  if (sessions_.membership_count() >= options_.max_memberships) {
    refuse(c.req, counters_.refused_memberships,
           cat("herald broker: ", options_.max_memberships,
               " channel memberships already (ZmqBrokerOptions::max_memberships)"));
    return false;
  }
  return true;
}

void ControlServer::on_join(Session& session, const Control& c) {
  if (!admit_join(session, c)) return;
  // The session's profile changes only by a profile request (which tells the
  // channels: channel:update), as on ws://. A join's profile is taken only
  // while the session has none: a client restoring itself on a fresh session.
  const bool take_profile = !session.profile_set && !c.profile.empty();
  if (take_profile && !admit_profile(c.req, session, c.profile)) return;
  if (take_profile) sessions_.set_profile(session, c.profile);
  if (sessions_.join(session, c.channel)) {
    presence_.publish(EnvelopeKind::join, c.channel, session, c.echo);
  }
  refresh_counts();
  reply(zmq_wire::encode_ok(c.req));
}

void ControlServer::on_leave(Session& session, const Control& c) {
  if (sessions_.leave(session, c.channel)) {
    refresh_counts();
    // The leaver hears its own leave from its client (echo), not from here:
    // it may have unsubscribed by the time this arrives.
    presence_.publish(EnvelopeKind::leave, c.channel, session, false);
  }
  reply(zmq_wire::encode_ok(c.req));
}

void ControlServer::on_profile(Session& session, const Control& c) {
  if (!admit_profile(c.req, session, c.profile)) return;
  sessions_.set_profile(session, c.profile);
  refresh_counts();
  for (const std::string& channel : session.channels) {
    presence_.publish(EnvelopeKind::update, channel, session, c.echo);
  }
  reply(zmq_wire::encode_ok(c.req));
}

void ControlServer::on_members(const Control& c) {
  std::vector<zmq_wire::MemberEntry> entries;
  std::size_t size = 16;
  if (const std::set<std::string>* ids = sessions_.members(c.channel)) {
    entries.reserve(ids->size());
    for (const std::string& id : *ids) {
      const Session* s = sessions_.find_by_socket_id(id);
      entries.push_back({id, s == nullptr ? std::string_view() : std::string_view(s->profile)});
      size += id.size() + entries.back().profile.size() + 8;
    }
  }
  const std::size_t limit = options_.max_message_bytes + kReplyOverhead;
  if (size > limit) {
    return reply(zmq_wire::encode_error(
        c.req, absl::ResourceExhaustedError(
                   cat("herald broker: the members of ", internal::printable_quote(c.channel, 64),
                       " (", entries.size(), ") with their profiles take about ", size,
                       " bytes, over the message limit of ", limit))));
  }
  reply(zmq_wire::encode_members_reply(c.req, entries));
}

void ControlServer::on_stats(const Control& c) {
  const BrokerCounters& k = counters_;
  reply(zmq_wire::encode_stats_reply(c.req, {.sessions = sessions_.size(),
                                             .channels = sessions_.channel_count(),
                                             .messages_in = k.messages_in.load(),
                                             .messages_out = k.messages_out.load(),
                                             .memberships = sessions_.membership_count(),
                                             .profile_bytes = sessions_.profile_bytes(),
                                             .refused_sessions = k.refused_sessions.load(),
                                             .refused_channels = k.refused_channels.load(),
                                             .refused_memberships = k.refused_memberships.load(),
                                             .refused_profiles = k.refused_profiles.load(),
                                             .forged_dropped = k.forged_dropped.load(),
                                             .malformed_dropped = k.malformed_dropped.load(),
                                             .messages_waited = k.messages_waited.load(),
                                             .holds = k.holds.load(),
                                             .dropped_stalled = k.dropped_stalled.load(),
                                             .closed_stalled = k.closed_stalled.load()}));
}

void ControlServer::on_ping() { reply(zmq_wire::encode_signal(zmq_wire::Command::pong)); }

void ControlServer::on_bye() { remove_session(peer_); }

// A client that took nothing for the stall timeout cut itself.
void ControlServer::on_stalled() {
  counters_.closed_stalled.fetch_add(1, std::memory_order_relaxed);
  remove_session(peer_);
}

}  // namespace herald::zmq_broker
