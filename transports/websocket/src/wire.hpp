// The native WebSocket protocol of the herald hub (docs/PROTOCOL.md, "ws://"):
// frame encoding and decoding, shared by the hub gateway and the ws://
// client. No Beast or Asio here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/hub.hpp"
#include "herald/internal/envelope.hpp"

namespace herald::ws_wire {

inline constexpr std::uint64_t kVersion = 1;

enum class Op : std::uint8_t {
  hello = 1,
  join = 2,
  leave = 3,
  send = 4,
  broadcast = 5,
  profile = 6,
  members = 7,
  credit = 8,  // client -> hub: [8, messages taken so far] (back-pressure, docs/PROTOCOL.md)
  welcome = 16,
  reply = 17,
  error = 18,
  message = 19,
  flow = 20,  // hub -> client: [20, held] (back-pressure, docs/PROTOCOL.md)
};

// Close codes beyond RFC 6455's (1001 going away, 1002 protocol error, 1003
// unsupported data, 1007 invalid payload, 1008 policy, 1009 too big).
inline constexpr std::uint16_t kCloseUnauthenticated = 4001;
inline constexpr std::uint16_t kCloseSlowConsumer = 4002;
inline constexpr std::uint16_t kCloseReplaced = 4004;
inline constexpr std::uint16_t kCloseIdInUse = 4009;

// Credit flow (docs/PROTOCOL.md): the window a client with Overflow::block
// announces in its hello, and how many messages it takes between credits.
inline constexpr std::uint64_t kCreditWindow = 1024;
inline constexpr std::uint64_t kCreditEvery = kCreditWindow / 4;
// The largest window a hub accepts (a larger one is taken as this).
inline constexpr std::uint64_t kMaxCreditWindow = 1u << 20;

// Socket ids on the wire: 1-64 bytes of [A-Za-z0-9_-]. Resume secrets: 16-64 bytes.
inline constexpr std::size_t kMaxIdBytes = 64;
inline constexpr std::size_t kMinResumeBytes = 16;
inline constexpr std::size_t kMaxResumeBytes = 64;
// Room for a frame's names and fields on top of the body limit.
inline constexpr std::size_t kFrameOverhead = 64 * 1024;
// How deep a frame may nest. Bodies sit one to three levels down (a profile
// in a members reply [17, req, 0, "", [[id, profile]]] is three), and a body
// deeper than limits::kMaxNestingDepth is answered with an error, the
// connection kept — so frames are read well past that; only input nested
// deeper than this is not read at all (close 1007: the walk is recursive).
inline constexpr int kMaxFrameNesting = 2 * limits::kMaxNestingDepth;

bool valid_socket_id(std::string_view id);

// ---- Encoding: each appends one frame to `out` (a WebSocket message may hold several).
// `window` > 0: this client takes part in credit flow (Overflow::block): the
// hub sends it at most `window` messages it has not acknowledged with a
// credit frame. 0: it drops when full — nobody is ever held back for it.
// kNoWindow: the field is left out (a client that says nothing of it: the
// hub holds its senders back by its write queue alone).
inline constexpr std::uint64_t kNoWindow = ~std::uint64_t{0};
void append_hello(std::string& out, std::string_view id, std::string_view resume,
                  std::string_view token, std::uint64_t window, const Message& profile);
void append_credit(std::string& out, std::uint64_t taken);
void append_request(std::string& out, Op op, std::uint64_t req, std::string_view channel,
                    bool echo);  // join / leave
// send (channel) or broadcast, from an envelope built by the sender.
void append_publish(std::string& out, const internal::Envelope& envelope);
void append_profile(std::string& out, std::uint64_t req, bool echo, const Message& profile);
void append_members_request(std::string& out, std::uint64_t req, std::string_view channel);
// Whether a frame encoded by the client's append_* above is a send or a
// broadcast: each is a fixarray, then its op as a positive fixint — the op is
// the second byte.
bool is_publish_frame(std::string_view frame);

void append_welcome(std::string& out, std::string_view id, std::uint64_t max_message_bytes,
                    std::uint64_t ping_interval_ms);
void append_reply(std::string& out, std::uint64_t req, const absl::Status& status);
void append_members_reply(std::string& out, std::uint64_t req, const std::vector<Member>& members);
void append_error(std::string& out, const absl::Status& status);
// The message frame without its body: the body's bytes follow it verbatim.
void append_message_head(std::string& out, const internal::Envelope& envelope);
void append_message(std::string& out, const internal::Envelope& envelope);
// held: a receiver of this client's messages is full — hold sends until
// [20, false]. Advisory: the hub also stops reading the client meanwhile.
void append_flow(std::string& out, bool held);

// ---- Decoding.
// One frame's fields (views into the WebSocket message). Which are set depends on `op`.
struct Frame {
  Op op{};
  std::uint64_t req = 0;
  bool has_req = false;  // req was readable (a reply can name it)
  std::uint64_t version = 0;
  bool has_version = false;            // hello: the version field was readable
  std::string_view id, resume, token;  // hello (token empty when nil), welcome (id)
  std::string_view channel;            // join, leave, send, members; message (empty = nil)
  bool has_channel = false;
  std::string_view event, sender;  // send, broadcast, message
  bool echo = false;
  std::uint64_t kind = 0;    // message
  std::string_view body;     // send, broadcast, message; profile for hello / profile
  std::uint64_t code = 0;    // reply, error
  std::string_view error;    // reply, error
  std::string_view members;  // reply to members: the raw array, see decode_members
  std::uint64_t max_message_bytes = 0, ping_interval_ms = 0;  // welcome
  bool held = false;                                          // flow
  std::uint64_t window = kNoWindow;                           // hello (kNoWindow when absent)
  std::uint64_t taken = 0;                                    // credit
};

// Splits a WebSocket message into its msgpack values.
class FrameSplitter {
 public:
  explicit FrameSplitter(std::string_view message) : rest_(message), size_(message.size()) {}
  bool done() const { return rest_.empty(); }
  // The next value; kInvalidArgument naming the byte offset when the message
  // does not continue with one well-formed msgpack value (fatal: close 1007).
  absl::StatusOr<std::string_view> next();
  // The deepest nesting level of the value next() returned last.
  int deepest() const { return deepest_; }

 private:
  std::string_view rest_;
  std::size_t size_;
  int deepest_ = 0;
};

// Parses one well-formed value (from FrameSplitter: not walked again) as a frame. kInvalidArgument
// naming the field that is wrong (the connection stays: answer with an error / reply). Names are
// validated (1-255 bytes of UTF-8); body sizes are not.
absl::Status parse_frame(std::string_view value, Frame& out);

// The members of a reply to `members`.
absl::StatusOr<std::vector<Member>> decode_members(std::string_view members);

// A body / profile field of a parsed frame as a Message (already checked: copied, not walked).
Message message_of(std::string_view value);

// An envelope from a parsed message frame (hub → client).
internal::EnvelopePtr envelope_of(const Frame& frame);

}  // namespace herald::ws_wire
