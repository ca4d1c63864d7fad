// Fuzzes the zmq:// control codec on both sides: parse_request (what the
// broker's control thread does with every message from a DEALER) and
// parse_reply (what a client does with the broker's answers). Every view lies
// in the input; an accepted message, encoded again by the encoder of its
// command, parses to the same fields, and that encoding is a fixed point.
#include <vector>

#include "fuzz_check.hpp"
#include "zmq/src/wire/control.hpp"

namespace {

using herald::fuzz::inside;
using namespace herald::zmq_wire;

// A profile that was absent travels as nil.
std::string_view profile_of(const Control& c) { return c.profile.empty() ? "\xc0" : c.profile; }

std::string encode_request(const Control& c) {
  switch (c.command) {
    case Command::hello:
      return encode_hello(c.socket_id, c.resume, c.channels);
    case Command::join:
      return encode_join(c.req, c.channel, c.echo, c.profile);
    case Command::leave:
      return encode_leave(c.req, c.channel, c.echo);
    case Command::profile:
      return encode_profile(c.req, c.profile, c.echo);
    case Command::members:
      return encode_members_request(c.req, c.channel);
    case Command::stats:
      return encode_stats_request(c.req);
    default:
      return encode_signal(c.command);
  }
}

// Empty when the members of a reply do not decode (the client refuses them then).
std::string encode_reply(const Control& c) {
  switch (c.command) {
    case Command::welcome:
      return c.version == kVersion ? encode_welcome(c.welcome) : std::string();
    case Command::refused:
      return encode_refused(c.status);
    case Command::ok:
      return encode_ok(c.req);
    case Command::error:
      return encode_error(c.req, c.status);
    case Command::unknown_session:
      return encode_unknown_session(c.req);
    case Command::members: {
      absl::StatusOr<std::vector<herald::Member>> members = decode_members(c.members);
      if (!members.ok()) return std::string();
      std::vector<std::string> profiles;
      std::vector<MemberEntry> entries;
      for (const herald::Member& m : *members) {
        const auto bytes = m.data.bytes();
        profiles.emplace_back(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      }
      for (std::size_t i = 0; i < members->size(); ++i) {
        entries.push_back({(*members)[i].id, profiles[i]});
      }
      return encode_members_reply(c.req, entries);
    }
    case Command::stats:
      return encode_stats_reply(c.req, c.counts);
    default:
      return encode_signal(c.command);
  }
}

bool same(const Control& a, const Control& b) {
  return a.command == b.command && a.req == b.req && a.version == b.version &&
         a.socket_id == b.socket_id && a.resume == b.resume && a.channels == b.channels &&
         a.channel == b.channel && a.echo == b.echo && profile_of(a) == profile_of(b) &&
         a.welcome.max_message_bytes == b.welcome.max_message_bytes &&
         a.welcome.publish_port == b.welcome.publish_port &&
         a.welcome.subscribe_port == b.welcome.subscribe_port &&
         a.welcome.session_timeout_ms == b.welcome.session_timeout_ms && a.status == b.status &&
         a.counts.sessions == b.counts.sessions && a.counts.channels == b.counts.channels &&
         a.counts.messages_in == b.counts.messages_in &&
         a.counts.messages_out == b.counts.messages_out;
}

template <class Parse, class Encode>
void check(std::string_view payload, Parse parse, Encode encode) {
  Control c;
  absl::Status s = parse(payload, c);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  FUZZ_CHECK(c.has_command);
  for (std::string_view part : {c.socket_id, c.resume, c.channel, c.profile, c.members}) {
    FUZZ_CHECK(inside(part, payload));
  }
  for (std::string_view channel : c.channels) FUZZ_CHECK(inside(channel, payload));
  const std::string again = encode(c);
  if (again.empty()) return;
  Control d;
  FUZZ_CHECK(parse(again, d).ok());
  FUZZ_CHECK(same(c, d));  // (a members reply: its members by the fixed point below)
  FUZZ_CHECK(encode(d) == again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view payload = herald::fuzz::text_of(data, size);
  check(payload, parse_request, encode_request);
  check(payload, parse_reply, encode_reply);
  return 0;
}
