// WsSession: reading — each WebSocket message is split into frames, and each
// frame of a client that said hello becomes a Hub operation (join, leave,
// send, broadcast, profile, members). A frame that cannot be taken is
// refused with a reply (it has a req) or an error, and the connection kept;
// input that cannot be framed at all closes it.
#include <vector>

#include "herald/internal/hub_access.hpp"
#include "herald/internal/msgpack_walk.hpp"
#include "herald/internal/text.hpp"
#include "herald/limits.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

using internal::cat;

// A message is read piece by piece, never more than one byte past the
// limit: a message over it is answered with close 1009 by close_with(),
// whose close handshake reads (and drops) the rest of it. (Beast's own
// read_message_max answers 1009 too, but then drops the TCP connection
// with the rest unread, so the peer usually never sees the close frame.)
void WsSession::read() {
  const std::size_t limit = message_limit();
  const std::size_t room = buffer_.size() < limit ? limit - buffer_.size() : 0;
  ws_.async_read_some(
      buffer_, room + 1,
      [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_read(ec); });
}

std::size_t WsSession::message_limit() const {
  return shared_->hub->options().max_message_bytes + ws_wire::kFrameOverhead;
}

void WsSession::on_read(beast::error_code ec) {
  if (ec) {
    if (ec == beast::error::timeout) counters().closed_idle.fetch_add(1, std::memory_order_relaxed);
    if (gone_while_held()) return;  // its waiting frames still go on (flow.cc)
    return end_connection();
  }
  if (phase_ == Phase::closing) {  // closing: what still arrives is not acted on
    buffer_.consume(buffer_.size());
    return read();
  }
  if (buffer_.size() > message_limit()) {
    counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
    buffer_.consume(buffer_.size());
    close_with(websocket::close_code::too_big,
               cat("message over the limit of ", message_limit(), " bytes"));
    return read();
  }
  if (!ws_.is_message_done()) return read();
  if (!ws_.got_binary()) {
    counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
    buffer_.consume(buffer_.size());
    close_with(websocket::close_code::unknown_data,
               "binary frames only (msgpack, see docs/PROTOCOL.md)");
    return read();
  }
  const auto data = buffer_.cdata();
  const std::string_view message(static_cast<const char*>(data.data()), data.size());
  ws_wire::FrameSplitter frames(message);
  while (!frames.done() && phase_ != Phase::closing) {
    absl::StatusOr<std::string_view> value = frames.next();
    if (!value.ok()) {
      counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
      close_with(websocket::close_code::bad_payload, text_of(value.status()));
      break;
    }
    counters().frames_in.fetch_add(1, std::memory_order_relaxed);
    if (defer(*value, frames.deepest())) continue;  // held: it waits (flow.cc)
    handle_frame(*value, frames.deepest());
  }
  buffer_.consume(buffer_.size());
  if (reading_held()) return;  // read again once released
  read();
}

void WsSession::refuse_frame(const ws_wire::Frame& frame, const absl::Status& status) {
  counters().frame_errors.fetch_add(1, std::memory_order_relaxed);
  std::string out;
  if (frame.has_req) {
    ws_wire::append_reply(out, frame.req, status);
  } else {
    ws_wire::append_error(out, status);
  }
  send_control(std::move(out));
}

// `depth`: how deep the frame nests; only a frame deeper than a body may be
// can hold a body that is too deep.
void WsSession::handle_frame(std::string_view value, int depth) {
  ws_wire::Frame f;
  absl::Status parsed = ws_wire::parse_frame(value, f);
  if (phase_ == Phase::hello) {
    if (!parsed.ok() && f.op == ws_wire::Op::hello && f.has_version &&
        f.version != ws_wire::kVersion) {
      return refuse_hello(parsed, websocket::close_code::protocol_error);
    }
    if (!parsed.ok() || f.op != ws_wire::Op::hello) {
      counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
      return close_with(websocket::close_code::policy_error,
                        parsed.ok() ? "the first frame must be hello" : text_of(parsed));
    }
    return hello(f);
  }
  if (!session_valid()) return;
  if (!parsed.ok()) {
    if ((f.op == ws_wire::Op::send || f.op == ws_wire::Op::broadcast) &&
        f.event.starts_with(internal::kReservedEventPrefix)) {
      counters().refused_reserved_events.fetch_add(1, std::memory_order_relaxed);
    }
    return refuse_frame(f, parsed);
  }
  Hub& hub = *shared().hub;
  switch (f.op) {
    case ws_wire::Op::hello:
      counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
      return close_with(websocket::close_code::policy_error, "a second hello");
    case ws_wire::Op::join:
    case ws_wire::Op::leave: {
      if (f.op == ws_wire::Op::join && !joined_.contains(f.channel)) {
        const std::size_t limit = shared().options.max_channels_per_connection;
        if (joined_.size() >= limit) {
          return refuse_frame(f, absl::ResourceExhaustedError(
                                     cat("a connection may be in at most ", limit, " channels")));
        }
        const std::size_t budget = shared().options.max_total_membership_bytes;
        const std::size_t cost = membership_cost(f.channel.size());
        if (!GatewayCounters::reserve(counters().membership_bytes, cost, budget)) {
          counters().refused_budget.fetch_add(1, std::memory_order_relaxed);
          return refuse_frame(
              f, absl::ResourceExhaustedError(
                     cat("the hub's channel memberships are at their budget of ", budget,
                         " bytes (max_total_membership_bytes; each costs its name's bytes + ",
                         kMembershipOverheadBytes, ")")));
        }
        joined_.insert(std::string(f.channel));
      } else if (f.op == ws_wire::Op::leave && joined_.erase(f.channel) > 0) {
        counters().membership_bytes.fetch_sub(membership_cost(f.channel.size()),
                                              std::memory_order_relaxed);
      }
      absl::Status s = f.op == ws_wire::Op::join
                           ? internal::HubAccess::join(hub, *this, f.channel, f.echo)
                           : internal::HubAccess::leave(hub, *this, f.channel, f.echo);
      std::string out;
      ws_wire::append_reply(out, f.req, s);
      return send_control(std::move(out));
    }
    case ws_wire::Op::send:
    case ws_wire::Op::broadcast: {
      if (!body_fits(f, "body", depth)) return;
      const auto kind = f.op == ws_wire::Op::send ? internal::EnvelopeKind::message
                                                  : internal::EnvelopeKind::broadcast;
      std::vector<std::shared_ptr<WsSession>> full;
      t_full_receivers = &full;
      internal::HubAccess::route(
          hub, internal::Envelope::make(kind, f.channel, f.event, id_, ws_wire::message_of(f.body),
                                        f.echo));
      t_full_receivers = nullptr;
      counters().messages_routed.fetch_add(1, std::memory_order_relaxed);
      if (!full.empty()) held_back(full);
      return;
    }
    case ws_wire::Op::credit:
      return credit(f.taken);
    case ws_wire::Op::profile: {
      if (!body_fits(f, "profile", depth)) return;
      if (!reserve_profile(f.body.size())) {
        return refuse_frame(f, profile_budget_error());
      }
      {
        std::lock_guard lock(profile_mu_);
        profile_ = ws_wire::message_of(f.body);
      }
      internal::HubAccess::update_profile(hub, *this, f.echo);
      std::string out;
      ws_wire::append_reply(out, f.req, absl::OkStatus());
      return send_control(std::move(out));
    }
    case ws_wire::Op::members:
      return answer_members(f);
    default:
      return refuse_frame(f, absl::InvalidArgumentError(cat("op ", static_cast<int>(f.op),
                                                            " is not accepted from a client")));
  }
}

// The members of a channel with their profiles, in one reply — refused when
// they would not fit in one message a client must accept.
void WsSession::answer_members(const ws_wire::Frame& f) {
  std::vector<Member> members = shared().hub->members(f.channel);
  const std::size_t limit = shared().hub->options().max_message_bytes + ws_wire::kFrameOverhead;
  std::size_t size = 16;
  for (const Member& m : members) size += m.id.size() + m.data.bytes().size() + 8;
  if (size > limit) {
    return refuse_frame(f, absl::ResourceExhaustedError(
                               cat("the members of ", internal::printable_quote(f.channel), " (",
                                   members.size(), ") with their profiles take about ", size,
                                   " bytes, over the message limit of ", limit)));
  }
  std::string out;
  ws_wire::append_members_reply(out, f.req, members);
  send_control(std::move(out));
}

bool WsSession::body_fits(const ws_wire::Frame& f, std::string_view what, int depth) {
  const std::size_t limit = shared().hub->options().max_message_bytes;
  if (f.body.size() > limit) {
    refuse_frame(f, absl::ResourceExhaustedError(
                        cat(what, " of ", f.body.size(), " bytes exceeds the limit of ", limit)));
    return false;
  }
  if (depth <= limits::kMaxNestingDepth) return true;
  absl::Status nesting = internal::check_nesting(
      std::span(reinterpret_cast<const std::byte*>(f.body.data()), f.body.size()), what);
  if (nesting.ok()) return true;
  refuse_frame(f, nesting);
  return false;
}

}  // namespace herald::ws_hub
