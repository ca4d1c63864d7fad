// Fuzzes ws_wire::parse_frame on every value FrameSplitter yields — what the
// hub does with each WebSocket message. Every view of a parsed frame lies in
// its value; an accepted frame, encoded again by the ws_wire encoder of its op,
// parses to the same fields, and that encoding is a fixed point (encoding the
// re-parsed frame gives the same bytes).
#include "fuzz_check.hpp"
#include "herald/internal/envelope.hpp"
#include "websocket/src/wire.hpp"

namespace {

using herald::fuzz::inside;
using namespace herald::ws_wire;

// The frame encoded again with the encoder of its op; empty for the ops
// whose encoding cannot carry every accepted value (reply and error: the code
// travels as an absl::StatusCode).
std::string encode(const Frame& f) {
  std::string out;
  switch (f.op) {
    case Op::hello:
      append_hello(out, f.id, f.resume, f.token, f.window, message_of(f.body));
      break;
    case Op::join:
    case Op::leave:
      append_request(out, f.op, f.req, f.channel, f.echo);
      break;
    case Op::send:
    case Op::broadcast: {
      const auto kind = f.op == Op::send ? herald::internal::EnvelopeKind::message
                                         : herald::internal::EnvelopeKind::broadcast;
      append_publish(out, *herald::internal::Envelope::make(kind, f.channel, f.event, "sender",
                                                            message_of(f.body), f.echo));
      break;
    }
    case Op::profile:
      append_profile(out, f.req, f.echo, message_of(f.body));
      break;
    case Op::members:
      append_members_request(out, f.req, f.channel);
      break;
    case Op::welcome:
      if (f.version == kVersion) append_welcome(out, f.id, f.max_message_bytes, f.ping_interval_ms);
      break;
    case Op::message:
      append_message(out, *envelope_of(f));
      break;
    case Op::flow:
      append_flow(out, f.held);
      break;
    case Op::credit:
      append_credit(out, f.taken);
      break;
    case Op::reply:
    case Op::error:
      break;
  }
  return out;
}

bool same_fields(const Frame& a, const Frame& b) {
  return a.op == b.op && a.req == b.req && a.version == b.version && a.id == b.id &&
         a.resume == b.resume && a.token == b.token && a.channel == b.channel &&
         a.has_channel == b.has_channel && a.event == b.event && a.sender == b.sender &&
         a.echo == b.echo && a.kind == b.kind && a.body == b.body && a.code == b.code &&
         a.error == b.error && a.members == b.members && a.window == b.window && a.held == b.held &&
         a.taken == b.taken && a.max_message_bytes == b.max_message_bytes &&
         a.ping_interval_ms == b.ping_interval_ms;
}

void check_frame(std::string_view value) {
  Frame f;
  absl::Status s = parse_frame(value, f);
  if (!s.ok()) {
    FUZZ_CHECK(s.code() == absl::StatusCode::kInvalidArgument);
    return;
  }
  for (std::string_view part :
       {f.id, f.resume, f.token, f.channel, f.event, f.sender, f.body, f.error, f.members}) {
    FUZZ_CHECK(inside(part, value));
  }
  if (f.op == Op::reply && !f.members.empty()) (void)decode_members(f.members);
  const std::string again = encode(f);
  if (again.empty()) return;
  Frame g;
  FUZZ_CHECK(parse_frame(again, g).ok());
  // A frame sent as nil-bodied travels with an explicit nil: the body differs
  // only when the original was the one-byte nil, which it then is.
  FUZZ_CHECK(same_fields(f, g));
  FUZZ_CHECK(encode(g) == again);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FrameSplitter splitter(herald::fuzz::text_of(data, size));
  while (!splitter.done()) {
    absl::StatusOr<std::string_view> value = splitter.next();
    if (!value.ok()) break;
    check_frame(*value);
  }
  return 0;
}
