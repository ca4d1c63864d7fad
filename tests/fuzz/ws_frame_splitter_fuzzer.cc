// Fuzzes ws_wire::FrameSplitter, the first decoder a WebSocket message from a
// peer meets: the values it yields tile the message from its start, each is
// exactly one well-formed msgpack value (Message::from_msgpack agrees), and
// an error is reported at an offset inside the message.
#include "fuzz_check.hpp"
#include "herald/message.hpp"
#include "websocket/src/wire.hpp"

using herald::fuzz::bytes_of;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message = herald::fuzz::text_of(data, size);
  herald::ws_wire::FrameSplitter splitter(message);
  std::size_t offset = 0;
  while (!splitter.done()) {
    absl::StatusOr<std::string_view> value = splitter.next();
    if (!value.ok()) {
      FUZZ_CHECK(value.status().code() == absl::StatusCode::kInvalidArgument);
      FUZZ_CHECK(value.status().message().find("at byte ") != std::string_view::npos);
      break;
    }
    FUZZ_CHECK(!value->empty());  // progress: the loop ends
    FUZZ_CHECK(value->data() == message.data() + offset);
    offset += value->size();
    FUZZ_CHECK(offset <= message.size());
    absl::StatusOr<herald::Message> m = herald::Message::from_msgpack(bytes_of(*value));
    FUZZ_CHECK(m.ok());
    FUZZ_CHECK(m->bytes().size() == value->size());
  }
  if (splitter.done()) FUZZ_CHECK(offset == message.size());
  return 0;
}
