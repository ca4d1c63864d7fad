// WsSession: reading — each WebSocket message is split into frames, and each
// frame of a client that said hello becomes a Hub operation (join, leave,
// send, broadcast, profile, members). A frame that cannot be taken is
// refused with a reply (it has a req) or an error, and the connection kept;
// input that cannot be framed at all closes it.
#include <vector>

#include "herald/internal/hub_access.hpp"
#include "herald/internal/text.hpp"
#include "herald/limits.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

using internal::cat;

void WsSession::read() {
  ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
    self->on_read(ec);
  });
}

void WsSession::on_read(beast::error_code ec) {
  if (ec) {
    if (ec == websocket::error::message_too_big) {
      counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
    } else if (ec == beast::error::timeout) {
      counters().closed_idle.fetch_add(1, std::memory_order_relaxed);
    }
    return end_connection();
  }
  if (phase_ == Phase::closing) {  // closing: what still arrives is not acted on
    buffer_.consume(buffer_.size());
    return read();
  }
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
    handle_frame(*value);
  }
  buffer_.consume(buffer_.size());
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

void WsSession::handle_frame(std::string_view value) {
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
  if (!parsed.ok()) return refuse_frame(f, parsed);
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
        joined_.insert(std::string(f.channel));
      } else if (f.op == ws_wire::Op::leave) {
        joined_.erase(f.channel);
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
      if (!body_fits(f, "body")) return;
      const auto kind = f.op == ws_wire::Op::send ? internal::EnvelopeKind::message
                                                  : internal::EnvelopeKind::broadcast;
      internal::HubAccess::route(
          hub, internal::Envelope::make(kind, f.channel, f.event, id_, ws_wire::message_of(f.body),
                                        f.echo));
      counters().messages_routed.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    case ws_wire::Op::profile: {
      if (!body_fits(f, "profile")) return;
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
    return refuse_frame(
        f, absl::ResourceExhaustedError(cat("the members of \"", f.channel, "\" (", members.size(),
                                            ") with their profiles take about ", size,
                                            " bytes, over the message limit of ", limit)));
  }
  std::string out;
  ws_wire::append_members_reply(out, f.req, members);
  send_control(std::move(out));
}

bool WsSession::body_fits(const ws_wire::Frame& f, std::string_view what) {
  const std::size_t limit = shared().hub->options().max_message_bytes;
  if (f.body.size() <= limit) return true;
  refuse_frame(f, absl::ResourceExhaustedError(
                      cat(what, " of ", f.body.size(), " bytes exceeds the limit of ", limit)));
  return false;
}

}  // namespace herald::ws_hub
