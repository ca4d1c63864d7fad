// The zmq:// control plane on the wire (docs/PROTOCOL.md, "zmq://", "Control
// messages"): every message the client's DEALER and the broker's ROUTER
// exchange, encoded and parsed here and nowhere else. No ZeroMQ here.
//
// A control message is one frame holding one msgpack array whose first
// element is the command's name (a str). Requests carry a request number
// `req` that the reply repeats. Parsing never trusts the peer: values are
// walked with bounds (network::MsgpackIn, internal::walk_msgpack), every
// field's type is checked, trailing bytes are refused, and the error says
// which field was wrong.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "data.hpp"
#include "herald/hub.hpp"

namespace herald::zmq_wire {

enum class Command : std::uint8_t {
  // client → broker
  hello,
  join,
  leave,
  profile,
  members,  // also the broker's reply to it
  stats,    // also the broker's reply to it
  ping,
  bye,
  stalled,  // a bye from a client that cut itself as a slow consumer
  // broker → client
  welcome,
  refused,
  ok,
  error,
  unknown_session,
  pong,
};

// The command's name on the wire ("unknown-session" for unknown_session).
std::string_view name_of(Command command);

// The welcome's fields (after the version).
struct Welcome {
  std::uint64_t max_message_bytes = 0;
  std::uint64_t publish_port = 0;    // P+1
  std::uint64_t subscribe_port = 0;  // P+2
  std::uint64_t session_timeout_ms = 0;
  // The broker's stall timeout (0: not sent, as by a broker before flow control).
  std::uint64_t stall_timeout_ms = 0;
};

// What the stats reply counts (ZmqBrokerStats has the meanings).
struct BrokerCounts {
  std::uint64_t sessions = 0;
  std::uint64_t channels = 0;
  std::uint64_t messages_in = 0;
  std::uint64_t messages_out = 0;
  std::uint64_t memberships = 0;
  std::uint64_t profile_bytes = 0;
  std::uint64_t refused_sessions = 0;
  std::uint64_t refused_channels = 0;
  std::uint64_t refused_memberships = 0;
  std::uint64_t refused_profiles = 0;
  std::uint64_t forged_dropped = 0;
  std::uint64_t malformed_dropped = 0;
  std::uint64_t messages_waited = 0;
  std::uint64_t holds = 0;
  std::uint64_t dropped_stalled = 0;
  std::uint64_t closed_stalled = 0;
};

// One member in a members reply; `profile` is one msgpack value (empty: nil).
struct MemberEntry {
  std::string_view id;
  std::string_view profile;
};

// ---- Encoding, client → broker. A profile is one msgpack value's bytes (empty: nil).
// `token`: the session token, sent (as a sixth field) only to a broker that
// uses CURVE and sessions; empty: none (five fields).
std::string encode_hello(std::string_view socket_id, std::string_view resume_secret,
                         std::span<const std::string_view> channels, std::string_view token = {});
std::string encode_join(std::uint64_t req, std::string_view channel, bool echo,
                        std::string_view profile);
std::string encode_leave(std::uint64_t req, std::string_view channel, bool echo);
std::string encode_profile(std::uint64_t req, std::string_view profile, bool echo);
std::string encode_members_request(std::uint64_t req, std::string_view channel);
std::string encode_stats_request(std::uint64_t req);
// ping, bye (and pong, broker → client): the name alone.
std::string encode_signal(Command command);

// ---- Encoding, broker → client. A status travels as its message and its
// absl::StatusCode (a uint, 1-16), so a refusal has the same code on every
// transport.
std::string encode_welcome(const Welcome& welcome);
std::string encode_refused(const absl::Status& why);
std::string encode_ok(std::uint64_t req);
std::string encode_error(std::uint64_t req, const absl::Status& why);
std::string encode_unknown_session(std::uint64_t req);
std::string encode_members_reply(std::uint64_t req, std::span<const MemberEntry> members);
std::string encode_stats_reply(std::uint64_t req, const BrokerCounts& counts);

// ---- Decoding. One control message's fields (views into the frame); which
// are set depends on `command`.
struct Control {
  Command command{};
  bool has_command = false;  // the name was one this side accepts (even if a field is wrong)
  std::uint64_t req = 0;
  bool has_req = false;  // req was readable (an error reply can name it)
  std::uint64_t version = 0;
  bool has_version = false;                // hello: the version was readable
  std::string_view socket_id, resume;      // hello
  std::vector<std::string_view> channels;  // hello: the channels to keep
  std::string_view token;                  // hello: the session token (CURVE), or empty
  std::string_view channel;                // join, leave, members (request)
  bool echo = false;                       // join, leave, profile
  std::string_view profile;                // join (empty: none sent), profile
  Welcome welcome;                         // welcome
  absl::Status status;                     // error, refused
  std::string_view members;                // members (reply): the raw array, see decode_members
  BrokerCounts counts;                     // stats (reply)
};

// What the broker accepts: hello, join, leave, profile, members, stats, ping,
// bye. kInvalidArgument naming the field that is wrong; a hello whose version
// is not kVersion fails with has_version set (checked before anything else).
// Channel names are validated (1-255 bytes of UTF-8); profile sizes are not.
absl::Status parse_request(std::string_view payload, Control& out);

// What the client accepts: welcome, refused, ok, error, unknown-session,
// members, stats, pong. An error without a code (an older broker) is
// kInvalidArgument, a refusal without one kUnauthenticated.
absl::Status parse_reply(std::string_view payload, Control& out);

// The members of a members reply.
absl::StatusOr<std::vector<Member>> decode_members(std::string_view members);

}  // namespace herald::zmq_wire
