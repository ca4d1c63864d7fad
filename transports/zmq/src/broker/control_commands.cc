// The broker's answer to each control command (docs/PROTOCOL.md, "zmq://",
// "Control messages"). Refusals carry the status code the ws:// hub gives
// the same refusal.
#include <set>
#include <vector>

#include "control_server.hpp"
#include "herald/internal/text.hpp"
#include "herald/limits.hpp"

namespace herald::zmq_broker {

using internal::cat;
using internal::EnvelopeKind;
using zmq_wire::Control;

namespace {
constexpr std::size_t kMinResumeBytes = 16;
// Room for the reply's names and fields on top of the body limit.
constexpr std::size_t kReplyOverhead = 64 * 1024;
}  // namespace

void ControlServer::on_hello(const Control& c) {
  const std::string socket_id(c.socket_id);
  if (socket_id.empty() || socket_id.size() > internal::kMaxNameBytes ||
      c.resume.size() < kMinResumeBytes) {
    return reply_malformed(0, "hello: socket_id must be 1-255 bytes, resume_secret at least 16");
  }
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
          cat("herald broker: socket id ", socket_id, " is in use by another connection"))));
    }
    if (old != nullptr) {
      std::optional<Session> taken = sessions_.take(old_peer);
      leave_channels_not_kept(*taken, c, fresh);
    }
  }
  if (sessions_.size() >= SessionTable::kMaxSessions) {
    return reply(zmq_wire::encode_refused(absl::ResourceExhaustedError(
        cat("herald broker: ", SessionTable::kMaxSessions, " sessions already"))));
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
       .session_timeout_ms = static_cast<std::uint64_t>(options_.session_timeout.count())}));
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
}

bool ControlServer::profile_fits(std::uint64_t req, std::string_view profile) {
  if (profile.size() <= options_.max_message_bytes) return true;
  reply(zmq_wire::encode_error(
      req, absl::ResourceExhaustedError(cat("herald broker: profile of ", profile.size(),
                                            " bytes exceeds the limit of ",
                                            options_.max_message_bytes))));
  return false;
}

void ControlServer::on_join(Session& session, const Control& c) {
  if (session.channels.size() >= options_.max_channels_per_connection &&
      !session.channels.count(std::string(c.channel))) {
    return reply(zmq_wire::encode_error(
        c.req,
        absl::ResourceExhaustedError(cat("herald broker: a connection may join at most ",
                                         options_.max_channels_per_connection, " channels"))));
  }
  if (!profile_fits(c.req, c.profile)) return;
  if (!c.profile.empty()) session.profile = std::string(c.profile);
  if (sessions_.join(session, c.channel)) {
    refresh_counts();
    presence_.publish(EnvelopeKind::join, c.channel, session, c.echo);
  }
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
  if (!profile_fits(c.req, c.profile)) return;
  session.profile = std::string(c.profile);
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
        c.req,
        absl::ResourceExhaustedError(cat("herald broker: the members of \"", c.channel, "\" (",
                                         entries.size(), ") with their profiles take about ", size,
                                         " bytes, over the message limit of ", limit))));
  }
  reply(zmq_wire::encode_members_reply(c.req, entries));
}

void ControlServer::on_stats(const Control& c) {
  reply(zmq_wire::encode_stats_reply(c.req, {.sessions = sessions_.size(),
                                             .channels = sessions_.channel_count(),
                                             .messages_in = counters_.messages_in.load(),
                                             .messages_out = counters_.messages_out.load()}));
}

void ControlServer::on_ping() { reply(zmq_wire::encode_signal(zmq_wire::Command::pong)); }

void ControlServer::on_bye() { remove_session(peer_); }

}  // namespace herald::zmq_broker
