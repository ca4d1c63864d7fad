// Fuzzes zmq_wire::decode, what a zmq:// subscriber does with every data
// message: the input is one frame, topic + header + body. An accepted
// message's topic is the one its envelope is published on, and the message,
// written again by encode_message, decodes to the same envelope and sequence
// number (and writing that gives the same bytes). The same frame is also
// read as a hold notice (what every client reads on the lossy port): an
// accepted one lists valid topics, and its topics written again read the same.
#include "fuzz_check.hpp"
#include "zmq/src/wire/data.hpp"

namespace {

using namespace herald::zmq_wire;
constexpr std::size_t kMaxBody = 1 << 16;

bool same(const herald::internal::Envelope& a, const herald::internal::Envelope& b) {
  return a.kind() == b.kind() && a.channel() == b.channel() && a.event() == b.event() &&
         a.sender() == b.sender() && a.echo() == b.echo() && a.body() == b.body();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view frame = herald::fuzz::text_of(data, size);
  absl::StatusOr<std::vector<std::string>> held = decode_hold_notice(frame);
  if (held.ok()) {
    std::vector<std::string_view> views;
    for (const std::string& t : *held) {
      FUZZ_CHECK(t.size() >= 2 && t.back() == kTopicEnd && t.find(kTopicEnd) == t.size() - 1);
      views.push_back(t);
    }
    absl::StatusOr<std::vector<std::string>> again = decode_hold_notice(encode_hold_notice(views));
    FUZZ_CHECK(again.ok() && *again == *held);
  } else {
    FUZZ_CHECK(held.status().code() == absl::StatusCode::kInvalidArgument);
  }
  absl::StatusOr<Decoded> decoded = decode(frame, kMaxBody);
  if (!decoded.ok()) {
    FUZZ_CHECK(decoded.status().code() == absl::StatusCode::kInvalidArgument ||
               decoded.status().code() == absl::StatusCode::kResourceExhausted);
    return 0;
  }
  FUZZ_CHECK(frame.starts_with(decoded->topic) && decoded->topic.ends_with(kTopicEnd));
  FUZZ_CHECK(decoded->topic.find(kTopicEnd) == decoded->topic.size() - 1);
  if (decoded->probe) {
    FUZZ_CHECK(!decoded->envelope);
    return 0;
  }
  const herald::internal::Envelope& envelope = *decoded->envelope;
  FUZZ_CHECK(envelope.body().bytes().size() <= kMaxBody);
  char topic_again[kMaxTopicBytes];
  FUZZ_CHECK(std::string_view(topic_again, write_topic(topic_again, envelope)) == decoded->topic);

  const std::string again = encode_message(envelope, decoded->seq);
  FUZZ_CHECK(again.size() <= kMaxTopicBytes + kMaxHeaderBytes + envelope.body().bytes().size());
  absl::StatusOr<Decoded> redecoded = decode(again, kMaxBody);
  FUZZ_CHECK(redecoded.ok());
  FUZZ_CHECK(!redecoded->probe && redecoded->seq == decoded->seq);
  FUZZ_CHECK(redecoded->topic == decoded->topic);
  FUZZ_CHECK(same(*redecoded->envelope, envelope));
  FUZZ_CHECK(encode_message(*redecoded->envelope, redecoded->seq) == again);
  return 0;
}
