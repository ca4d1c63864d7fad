// The zmq:// control codec, decoding what a peer sent: bounded, and
// refusing anything but exactly the documented arrays (docs/PROTOCOL.md,
// "Control messages").
#include <algorithm>

#include "control.hpp"
#include "control_tables.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"
#include "herald/message.hpp"
#include "herald/network/msgpack_io.hpp"

namespace herald::zmq_wire {

using control_tables::kCounters;
using control_tables::kMaxCode;
using internal::cat;
using network::MsgpackIn;

namespace {

absl::Status bad(std::string_view what) { return absl::InvalidArgumentError(std::string(what)); }

// The req after the name, if there is a readable one (an error can name it).
void read_req(MsgpackIn& in, std::uint32_t n, Control& c) {
  if (n >= 2 && in.uint(c.req)) c.has_req = true;
}

absl::Status end(const MsgpackIn& in, std::string_view what) {
  if (!in.at_end()) return bad(cat(what, ": trailing bytes after the message"));
  return absl::OkStatus();
}

// The optional status code of an error / refused: absent means `fallback`
// (brokers before codes), a code outside 1-16 is kUnknown.
absl::Status read_status(MsgpackIn& in, std::uint32_t n, std::uint32_t n_with_code,
                         std::string_view message, absl::StatusCode fallback, std::string_view what,
                         absl::Status& out) {
  std::uint64_t code = static_cast<std::uint64_t>(fallback);
  if (n == n_with_code && !in.uint(code)) return bad(cat(what, ": code must be a uint"));
  if (code == 0) return bad(cat(what, ": code 0 is not an error"));
  if (code > kMaxCode) {
    out = absl::UnknownError(cat("code ", code, ": ", message));
  } else {
    out = absl::Status(static_cast<absl::StatusCode>(code), std::string(message));
  }
  return absl::OkStatus();
}

absl::Status parse_hello(MsgpackIn& in, std::uint32_t n, Control& c) {
  // The version first: a later version may change the rest.
  if (n < 2 || !in.uint(c.version)) return bad("hello: version must be a uint");
  c.has_version = true;
  if (c.version != kVersion) {
    return bad(cat("protocol version ", c.version, " is not supported (", kVersion, " is)"));
  }
  std::uint32_t count = 0;
  if (n != 5 && n != 6) {
    return bad("hello is [\"hello\", 2, socket_id, resume_secret, [channel, ...](, token)]");
  }
  if (!in.str(c.socket_id)) return bad("hello: socket_id must be a str");
  if (!in.str(c.resume)) return bad("hello: resume_secret must be a str");
  if (!in.array_header(count)) return bad("hello: the channels must be an array");
  for (std::uint32_t i = 0; i < count; ++i) {
    std::string_view channel;
    if (!in.str(channel)) return bad("hello: each channel must be a str");
    c.channels.push_back(channel);
  }
  if (n == 6 && !in.str(c.token)) return bad("hello: token must be a str");
  return end(in, "hello");
}

// join / leave: [name, req, channel, echo(, profile)].
absl::Status parse_membership(MsgpackIn& in, std::uint32_t n, Control& c) {
  const bool join = c.command == Command::join;
  const std::string_view what = join ? "join" : "leave";
  const std::string shape = join ? "join is [\"join\", req, channel, echo, profile]"
                                 : "leave is [\"leave\", req, channel, echo]";
  read_req(in, n, c);
  // (A join without its profile keeps the one the broker has.)
  if (!c.has_req || (n != 4 && !(join && n == 5))) return bad(shape);
  if (!in.str(c.channel)) return bad(cat(what, ": channel must be a str"));
  if (!in.boolean(c.echo)) return bad(cat(what, ": echo must be a bool"));
  if (n == 5 && !in.value(c.profile)) return bad("join: profile must be one msgpack value");
  if (absl::Status s = internal::validate_name("channel", c.channel); !s.ok()) return s;
  return end(in, what);
}

bool is_array(std::string_view bytes) {
  if (bytes.empty()) return false;
  const auto b = static_cast<std::uint8_t>(bytes[0]);
  return (b & 0xf0) == 0x90 || b == 0xdc || b == 0xdd;
}

// A map of counters (str → uint; a fixmap, or a map16 past 15); counters
// this side does not know (from a newer broker) are skipped.
absl::Status parse_stats_map(std::string_view map, BrokerCounts& counts) {
  const auto b = map.empty() ? 0 : static_cast<std::uint8_t>(map[0]);
  int n = 0;
  std::size_t header = 1;
  if ((b & 0xf0) == 0x80) {
    n = b & 0x0f;
  } else if (b == 0xde && map.size() >= 3) {
    n = (static_cast<std::uint8_t>(map[1]) << 8) | static_cast<std::uint8_t>(map[2]);
    header = 3;
  } else {
    return bad("stats: expected a map of counters");
  }
  MsgpackIn in(map.substr(header));
  for (int i = 0; i < n; ++i) {
    std::string_view key;
    std::uint64_t value = 0;
    if (!in.str(key) || !in.uint(value)) return bad("stats: each counter is a str and a uint");
    for (const auto& [name, field] : kCounters) {
      if (name == key) counts.*field = value;
    }
  }
  return absl::OkStatus();
}

// The array header and the command's name, which must be one of `accepted`.
absl::Status parse_name(MsgpackIn& in, std::uint32_t& n, std::span<const Command> accepted,
                        Control& c) {
  c = Control{};
  std::string_view name;
  if (!in.array_header(n) || n == 0 || !in.str(name)) {
    return bad("expected an array starting with a command name");
  }
  for (Command command : accepted) {
    if (name_of(command) == name) {
      c.command = command;
      c.has_command = true;
      return absl::OkStatus();
    }
  }
  read_req(in, n, c);  // so that the error answers the request's own req
  return bad(cat("unknown command ", internal::printable_quote(name, 64)));
}

// A message that is its name alone.
absl::Status parse_signal(MsgpackIn& in, std::uint32_t n, const Control& c) {
  const std::string_view what = name_of(c.command);
  if (n != 1) return bad(cat(what, " is [\"", what, "\"]"));
  return end(in, what);
}

}  // namespace

absl::Status parse_request(std::string_view payload, Control& c) {
  static constexpr Command kAccepted[] = {Command::hello,   Command::join,    Command::leave,
                                          Command::profile, Command::members, Command::stats,
                                          Command::ping,    Command::bye,     Command::stalled};
  MsgpackIn in(payload);
  std::uint32_t n = 0;
  if (absl::Status s = parse_name(in, n, kAccepted, c); !s.ok()) return s;
  switch (c.command) {
    case Command::hello:
      return parse_hello(in, n, c);
    case Command::join:
    case Command::leave:
      return parse_membership(in, n, c);
    case Command::profile:
      read_req(in, n, c);
      if (n != 4 || !c.has_req) return bad("profile is [\"profile\", req, profile, echo]");
      if (!in.value(c.profile)) return bad("profile: profile must be one msgpack value");
      if (!in.boolean(c.echo)) return bad("profile: echo must be a bool");
      return end(in, "profile");
    case Command::members:
      read_req(in, n, c);
      if (n != 3 || !c.has_req) return bad("members is [\"members\", req, channel]");
      if (!in.str(c.channel)) return bad("members: channel must be a str");
      if (absl::Status s = internal::validate_name("channel", c.channel); !s.ok()) return s;
      return end(in, "members");
    case Command::stats:
      read_req(in, n, c);
      if (n != 2 || !c.has_req) return bad("stats is [\"stats\", req]");
      return end(in, "stats");
    default:
      return parse_signal(in, n, c);
  }
}

absl::Status parse_reply(std::string_view payload, Control& c) {
  static constexpr Command kAccepted[] = {Command::welcome, Command::refused,        Command::ok,
                                          Command::error,   Command::members,        Command::stats,
                                          Command::pong,    Command::unknown_session};
  MsgpackIn in(payload);
  std::uint32_t n = 0;
  if (absl::Status s = parse_name(in, n, kAccepted, c); !s.ok()) return s;
  switch (c.command) {
    case Command::welcome: {
      Welcome& w = c.welcome;
      if ((n != 6 && n != 7) || !in.uint(c.version) || !in.uint(w.max_message_bytes) ||
          !in.uint(w.publish_port) || !in.uint(w.subscribe_port) ||
          !in.uint(w.session_timeout_ms) || (n == 7 && !in.uint(w.stall_timeout_ms))) {
        return bad(
            "welcome is [\"welcome\", 2, max_message_bytes, P+1, P+2, session_timeout_ms, "
            "stall_timeout_ms] (uints; the last one optional)");
      }
      c.has_version = true;
      return end(in, "welcome");
    }
    case Command::refused: {
      std::string_view why;
      if ((n != 2 && n != 3) || !in.str(why)) {
        return bad("refused is [\"refused\", reason, code]");
      }
      if (absl::Status s =
              read_status(in, n, 3, why, absl::StatusCode::kUnauthenticated, "refused", c.status);
          !s.ok()) {
        return s;
      }
      return end(in, "refused");
    }
    case Command::error: {
      std::string_view why;
      read_req(in, n, c);
      if ((n != 3 && n != 4) || !c.has_req || !in.str(why)) {
        return bad("error is [\"error\", req, message, code]");
      }
      if (absl::Status s =
              read_status(in, n, 4, why, absl::StatusCode::kInvalidArgument, "error", c.status);
          !s.ok()) {
        return s;
      }
      return end(in, "error");
    }
    case Command::ok:
    case Command::unknown_session: {
      const std::string_view what = name_of(c.command);
      if (n != 2 || !in.uint(c.req)) return bad(cat(what, " is [\"", what, "\", req]"));
      c.has_req = true;
      return end(in, what);
    }
    case Command::members:
      read_req(in, n, c);
      if (n != 3 || !c.has_req || !is_array(in.rest()) || !in.value(c.members)) {
        return bad("members is [\"members\", req, [[socket_id, profile], ...]]");
      }
      return end(in, "members");
    case Command::stats: {
      std::string_view map;
      read_req(in, n, c);
      if (n != 3 || !c.has_req || !in.value(map)) {
        return bad("stats is [\"stats\", req, {counter: n, ...}]");
      }
      if (absl::Status s = parse_stats_map(map, c.counts); !s.ok()) return s;
      return end(in, "stats");
    }
    default:
      return parse_signal(in, n, c);
  }
}

absl::StatusOr<std::vector<Member>> decode_members(std::string_view members) {
  MsgpackIn in(members);
  std::uint32_t n = 0;
  if (!in.array_header(n)) return bad("members: expected an array");
  std::vector<Member> out;
  out.reserve(std::min<std::uint32_t>(n, 4096));
  for (std::uint32_t i = 0; i < n; ++i) {
    std::uint32_t two = 0;
    std::string_view id, data;
    if (!in.array_header(two) || two != 2 || !in.str(id) || !in.value(data)) {
      return bad("members: each member must be [socket_id, profile]");
    }
    out.push_back(
        {std::string(id), internal::copy_checked_msgpack(std::span<const std::byte>(
                              reinterpret_cast<const std::byte*>(data.data()), data.size()))});
  }
  if (!in.at_end()) return bad("members: trailing bytes after the array");
  return out;
}

}  // namespace herald::zmq_wire
