// The zmq:// control codec, encoding (docs/PROTOCOL.md, "Control messages").
#include "control.hpp"
#include "control_tables.hpp"
#include "herald/network/msgpack_io.hpp"

namespace herald::zmq_wire {

using control_tables::kCounters;
using control_tables::kNames;
using network::MsgpackOut;

namespace {

// One message: the array header, the command's name, then what `fill` writes.
template <class Fill>
std::string encoded(Command command, std::uint32_t fields, Fill&& fill) {
  std::string out;
  MsgpackOut o(out);
  o.array(fields);
  o.str(name_of(command));
  fill(o);
  return out;
}

std::string just_req(Command command, std::uint64_t req) {
  return encoded(command, 2, [&](MsgpackOut& o) { o.uint(req); });
}

void value_or_nil(MsgpackOut& o, std::string_view value) {
  if (value.empty()) return o.nil();
  o.raw(value);
}

void status(MsgpackOut& o, const absl::Status& s) {
  o.str(std::string_view(s.message().data(), s.message().size()));
  o.uint(static_cast<std::uint64_t>(s.code()));
}

}  // namespace

std::string_view name_of(Command command) {
  for (const auto& [c, name] : kNames) {
    if (c == command) return name;
  }
  return "?";
}

std::string encode_hello(std::string_view socket_id, std::string_view resume_secret,
                         std::span<const std::string_view> channels, std::string_view token) {
  return encoded(Command::hello, token.empty() ? 5 : 6, [&](MsgpackOut& o) {
    o.uint(kVersion);
    o.str(socket_id);
    o.str(resume_secret);
    o.array(static_cast<std::uint32_t>(channels.size()));
    for (std::string_view channel : channels) o.str(channel);
    if (!token.empty()) o.str(token);
  });
}

std::string encode_join(std::uint64_t req, std::string_view channel, bool echo,
                        std::string_view profile) {
  return encoded(Command::join, 5, [&](MsgpackOut& o) {
    o.uint(req);
    o.str(channel);
    o.boolean(echo);
    value_or_nil(o, profile);
  });
}

std::string encode_leave(std::uint64_t req, std::string_view channel, bool echo) {
  return encoded(Command::leave, 4, [&](MsgpackOut& o) {
    o.uint(req);
    o.str(channel);
    o.boolean(echo);
  });
}

std::string encode_profile(std::uint64_t req, std::string_view profile, bool echo) {
  return encoded(Command::profile, 4, [&](MsgpackOut& o) {
    o.uint(req);
    value_or_nil(o, profile);
    o.boolean(echo);
  });
}

std::string encode_members_request(std::uint64_t req, std::string_view channel) {
  return encoded(Command::members, 3, [&](MsgpackOut& o) {
    o.uint(req);
    o.str(channel);
  });
}

std::string encode_stats_request(std::uint64_t req) { return just_req(Command::stats, req); }

std::string encode_signal(Command command) {
  return encoded(command, 1, [](MsgpackOut&) {});
}

std::string encode_welcome(const Welcome& w) {
  return encoded(Command::welcome, 7, [&](MsgpackOut& o) {
    o.uint(kVersion);
    o.uint(w.max_message_bytes);
    o.uint(w.publish_port);
    o.uint(w.subscribe_port);
    o.uint(w.session_timeout_ms);
    o.uint(w.stall_timeout_ms);
  });
}

std::string encode_refused(const absl::Status& why) {
  return encoded(Command::refused, 3, [&](MsgpackOut& o) { status(o, why); });
}

std::string encode_ok(std::uint64_t req) { return just_req(Command::ok, req); }

std::string encode_error(std::uint64_t req, const absl::Status& why) {
  return encoded(Command::error, 4, [&](MsgpackOut& o) {
    o.uint(req);
    status(o, why);
  });
}

std::string encode_unknown_session(std::uint64_t req) {
  return just_req(Command::unknown_session, req);
}

std::string encode_members_reply(std::uint64_t req, std::span<const MemberEntry> members) {
  return encoded(Command::members, 3, [&](MsgpackOut& o) {
    o.uint(req);
    o.array(static_cast<std::uint32_t>(members.size()));
    for (const MemberEntry& m : members) {
      o.array(2);
      o.str(m.id);
      value_or_nil(o, m.profile);
    }
  });
}

std::string encode_stats_reply(std::uint64_t req, const BrokerCounts& counts) {
  return encoded(Command::stats, 3, [&](MsgpackOut& o) {
    o.uint(req);
    static_assert(kCounters.size() > 15 && kCounters.size() <= 0xffff);
    o.byte(0xde);  // map16
    o.byte(0);
    o.byte(static_cast<std::uint8_t>(kCounters.size()));
    for (const auto& [name, field] : kCounters) {
      o.str(name);
      o.uint(counts.*field);
    }
  });
}

}  // namespace herald::zmq_wire
