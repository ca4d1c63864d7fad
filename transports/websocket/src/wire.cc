#include "wire.hpp"

#include "herald/internal/msgpack_walk.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"
#include "herald/network/msgpack_io.hpp"

namespace herald::ws_wire {

using internal::cat;
using network::MsgpackIn;
using network::MsgpackOut;

namespace {

void body(MsgpackOut& o, const Message& m) {
  if (m.bytes().empty()) return o.nil();
  o.raw(m.bytes());
}

// An error's message as a str a strict msgpack decoder accepts: messages
// quote what a peer sent (printable_quote keeps them UTF-8); anything that
// still is not valid UTF-8 is escaped whole rather than sent as is.
void error_text(MsgpackOut& o, const absl::Status& status) {
  const std::string_view text(status.message().data(), status.message().size());
  if (internal::is_valid_utf8(text)) return o.str(text);
  const std::string quoted = internal::printable_quote(text, text.size());
  o.str(std::string_view(quoted).substr(1, quoted.size() - 2));
}

}  // namespace

bool valid_socket_id(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '_';
    if (!ok) return false;
  }
  return true;
}

void append_hello(std::string& out, std::string_view id, std::string_view resume,
                  std::string_view token, std::uint64_t window, const Message& profile) {
  MsgpackOut o(out);
  o.array(window != kNoWindow ? 7 : 6);
  o.uint(static_cast<std::uint8_t>(Op::hello));
  o.uint(kVersion);
  o.str(id);
  o.str(resume);
  if (token.empty()) {
    o.nil();
  } else {
    o.str(token);
  }
  if (window != kNoWindow) o.uint(window);
  body(o, profile);
}

void append_credit(std::string& out, std::uint64_t taken) {
  MsgpackOut o(out);
  o.array(2);
  o.uint(static_cast<std::uint8_t>(Op::credit));
  o.uint(taken);
}

void append_request(std::string& out, Op op, std::uint64_t req, std::string_view channel,
                    bool echo) {
  MsgpackOut o(out);
  o.array(4);
  o.uint(static_cast<std::uint8_t>(op));
  o.uint(req);
  o.str(channel);
  o.boolean(echo);
}

void append_publish(std::string& out, const internal::Envelope& e) {
  MsgpackOut o(out);
  if (e.is_broadcast()) {
    o.array(4);
    o.uint(static_cast<std::uint8_t>(Op::broadcast));
  } else {
    o.array(5);
    o.uint(static_cast<std::uint8_t>(Op::send));
    o.str(e.channel_or_empty());
  }
  o.str(e.event());
  o.boolean(e.echo());
  body(o, e.body());
}

void append_profile(std::string& out, std::uint64_t req, bool echo, const Message& profile) {
  MsgpackOut o(out);
  o.array(4);
  o.uint(static_cast<std::uint8_t>(Op::profile));
  o.uint(req);
  o.boolean(echo);
  body(o, profile);
}

void append_members_request(std::string& out, std::uint64_t req, std::string_view channel) {
  MsgpackOut o(out);
  o.array(3);
  o.uint(static_cast<std::uint8_t>(Op::members));
  o.uint(req);
  o.str(channel);
}

bool is_publish_frame(std::string_view frame) {
  const auto op = static_cast<Op>(frame[1]);
  return op == Op::send || op == Op::broadcast;
}

void append_welcome(std::string& out, std::string_view id, std::uint64_t max_message_bytes,
                    std::uint64_t ping_interval_ms) {
  MsgpackOut o(out);
  o.array(5);
  o.uint(static_cast<std::uint8_t>(Op::welcome));
  o.uint(kVersion);
  o.str(id);
  o.uint(max_message_bytes);
  o.uint(ping_interval_ms);
}

void append_reply(std::string& out, std::uint64_t req, const absl::Status& status) {
  MsgpackOut o(out);
  o.array(4);
  o.uint(static_cast<std::uint8_t>(Op::reply));
  o.uint(req);
  o.uint(static_cast<std::uint64_t>(status.code()));
  error_text(o, status);
}

void append_members_reply(std::string& out, std::uint64_t req, const std::vector<Member>& members) {
  MsgpackOut o(out);
  o.array(5);
  o.uint(static_cast<std::uint8_t>(Op::reply));
  o.uint(req);
  o.uint(0);
  o.str("");
  o.array(static_cast<std::uint32_t>(members.size()));
  for (const Member& m : members) {
    o.array(2);
    o.str(m.id);
    body(o, m.data);
  }
}

void append_flow(std::string& out, bool held) {
  MsgpackOut o(out);
  o.array(2);
  o.uint(static_cast<std::uint8_t>(Op::flow));
  o.boolean(held);
}

void append_error(std::string& out, const absl::Status& status) {
  MsgpackOut o(out);
  o.array(3);
  o.uint(static_cast<std::uint8_t>(Op::error));
  o.uint(static_cast<std::uint64_t>(status.code()));
  error_text(o, status);
}

void append_message_head(std::string& out, const internal::Envelope& e) {
  MsgpackOut o(out);
  o.array(6);
  o.uint(static_cast<std::uint8_t>(Op::message));
  o.uint(static_cast<std::uint8_t>(e.kind()));
  if (e.is_broadcast()) {
    o.nil();
  } else {
    o.str(e.channel_or_empty());
  }
  o.str(e.event());
  o.str(e.sender());
}

void append_message(std::string& out, const internal::Envelope& e) {
  append_message_head(out, e);
  MsgpackOut o(out);
  body(o, e.body());
}

absl::StatusOr<std::string_view> FrameSplitter::next() {
  internal::MsgpackWalkResult r = internal::walk_msgpack(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(rest_.data()), rest_.size()),
      kMaxFrameNesting);
  deepest_ = r.deepest;
  if (!r.error.empty()) {
    return absl::InvalidArgumentError(
        cat("malformed msgpack at byte ", size_ - rest_.size() + r.offset, ": ", r.error));
  }
  std::string_view value = rest_.substr(0, r.offset);
  rest_.remove_prefix(r.offset);
  return value;
}

namespace {

absl::Status bad(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

absl::Status name(std::string_view what, std::string_view n) {
  return internal::validate_name(what, n);
}

absl::Status end(const MsgpackIn& in, std::string_view op) {
  if (!in.at_end()) return bad(cat(op, ": too many fields"));
  return absl::OkStatus();
}

}  // namespace

absl::Status parse_frame(std::string_view value, Frame& f) {
  MsgpackIn in(value);
  std::uint32_t n = 0;
  std::uint64_t op = 0;
  if (!in.array_header(n) || n == 0 || !in.uint(op)) {
    return bad("a frame must be an array starting with a uint op");
  }
  if (op > 0xff) return bad(cat("unknown op ", op));
  f = Frame{};
  f.op = static_cast<Op>(op);
  switch (f.op) {
    case Op::hello: {
      // The version first: a later version may change the rest.
      if (n < 2 || !in.uint(f.version)) return bad("hello: version must be a uint");
      f.has_version = true;
      if (f.version != kVersion) {
        return bad(cat("unsupported protocol version ", f.version, "; this hub speaks ", kVersion));
      }
      if (n != 6 && n != 7) {
        return bad("hello: expected [1, version, id, resume, token|nil, (window,) profile]");
      }
      if (!in.str(f.id)) return bad("hello: id must be a str");
      if (!in.str(f.resume)) return bad("hello: resume must be a str");
      if (!in.nil() && !in.str(f.token)) return bad("hello: token must be a str or nil");
      if (n == 7 && (!in.uint(f.window) || f.window == kNoWindow)) {
        return bad("hello: window must be a uint below 2^64 - 1");
      }
      if (!in.last(f.body)) return bad("hello: profile is missing");
      return end(in, "hello");
    }
    case Op::join:
    case Op::leave: {
      const char* what = f.op == Op::join ? "join" : "leave";
      if (n >= 2 && in.uint(f.req)) f.has_req = true;
      if (n != 4 || !f.has_req) return bad(cat(what, ": expected [op, req, channel, echo]"));
      if (!in.str(f.channel)) return bad(cat(what, ": channel must be a str"));
      if (!in.boolean(f.echo)) return bad(cat(what, ": echo must be a bool"));
      f.has_channel = true;
      if (absl::Status s = name("channel", f.channel); !s.ok()) return s;
      return end(in, what);
    }
    case Op::send: {
      if (n != 5) return bad("send: expected [4, channel, event, echo, body]");
      if (!in.str(f.channel)) return bad("send: channel must be a str");
      if (!in.str(f.event)) return bad("send: event must be a str");
      if (!in.boolean(f.echo)) return bad("send: echo must be a bool");
      if (!in.last(f.body)) return bad("send: body is missing");
      f.has_channel = true;
      if (absl::Status s = name("channel", f.channel); !s.ok()) return s;
      if (absl::Status s = internal::validate_sent_event(f.event); !s.ok()) return s;
      return end(in, "send");
    }
    case Op::broadcast: {
      if (n != 4) return bad("broadcast: expected [5, event, echo, body]");
      if (!in.str(f.event)) return bad("broadcast: event must be a str");
      if (!in.boolean(f.echo)) return bad("broadcast: echo must be a bool");
      if (!in.last(f.body)) return bad("broadcast: body is missing");
      if (absl::Status s = internal::validate_sent_event(f.event); !s.ok()) return s;
      return end(in, "broadcast");
    }
    case Op::profile: {
      if (n >= 2 && in.uint(f.req)) f.has_req = true;
      if (n != 4 || !f.has_req) return bad("profile: expected [6, req, echo, profile]");
      if (!in.boolean(f.echo)) return bad("profile: echo must be a bool");
      if (!in.last(f.body)) return bad("profile: profile is missing");
      return end(in, "profile");
    }
    case Op::credit: {
      if (n != 2 || !in.uint(f.taken)) return bad("credit: expected [8, taken]");
      return end(in, "credit");
    }
    case Op::members: {
      if (n >= 2 && in.uint(f.req)) f.has_req = true;
      if (n != 3 || !f.has_req) return bad("members: expected [7, req, channel]");
      if (!in.str(f.channel)) return bad("members: channel must be a str");
      f.has_channel = true;
      if (absl::Status s = name("channel", f.channel); !s.ok()) return s;
      return end(in, "members");
    }
    case Op::welcome: {
      if (n != 5 || !in.uint(f.version) || !in.str(f.id) || !in.uint(f.max_message_bytes) ||
          !in.uint(f.ping_interval_ms)) {
        return bad("welcome: expected [16, version, id, max_message_bytes, ping_interval_ms]");
      }
      return end(in, "welcome");
    }
    case Op::reply: {
      if ((n != 4 && n != 5) || !in.uint(f.req) || !in.uint(f.code) || !in.str(f.error)) {
        return bad("reply: expected [17, req, code, error] or [17, req, 0, \"\", members]");
      }
      f.has_req = true;
      if (n == 5 && !in.last(f.members)) return bad("reply: members is missing");
      return end(in, "reply");
    }
    case Op::error: {
      if (n != 3 || !in.uint(f.code) || !in.str(f.error)) {
        return bad("error: expected [18, code, error]");
      }
      return end(in, "error");
    }
    case Op::flow: {
      if (n != 2 || !in.boolean(f.held)) return bad("flow: expected [20, held]");
      return end(in, "flow");
    }
    case Op::message: {
      if (n != 6 || !in.uint(f.kind) || f.kind > 4) {
        return bad("message: expected [19, kind 0-4, channel|nil, event, sender, body]");
      }
      if (in.nil()) {
        f.has_channel = false;
      } else if (in.str(f.channel)) {
        f.has_channel = true;
      } else {
        return bad("message: channel must be a str or nil");
      }
      if (!in.str(f.event) || !in.str(f.sender) || !in.last(f.body)) {
        return bad("message: event and sender must be str, then the body");
      }
      if ((f.kind == 1) == f.has_channel) return bad("message: channel is nil exactly for kind 1");
      if (f.has_channel) {
        if (absl::Status s = name("channel", f.channel); !s.ok()) return s;
      }
      if (absl::Status s = name("event", f.event); !s.ok()) return s;
      if (f.sender.empty() || f.sender.size() > internal::kMaxNameBytes) {
        return bad("message: sender must be 1-255 bytes");
      }
      return end(in, "message");
    }
  }
  return bad(cat("unknown op ", op));
}

absl::StatusOr<std::vector<Member>> decode_members(std::string_view members) {
  MsgpackIn in(members);
  std::uint32_t n = 0;
  if (!in.array_header(n)) return bad("members: expected an array");
  std::vector<Member> out;
  out.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t two = 0;
    std::string_view id, data;
    if (!in.array_header(two) || two != 2 || !in.str(id) || !in.value(data)) {
      return bad("members: each member must be [id, profile]");
    }
    out.push_back({std::string(id), message_of(data)});
  }
  return out;
}

Message message_of(std::string_view value) {
  return internal::copy_checked_msgpack(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(value.data()), value.size()));
}

internal::EnvelopePtr envelope_of(const Frame& f) {
  return internal::Envelope::make(static_cast<internal::EnvelopeKind>(f.kind), f.channel, f.event,
                                  f.sender, message_of(f.body), true);
}

}  // namespace herald::ws_wire
