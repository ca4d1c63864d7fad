#include "wire.hpp"

#include <msgpack.hpp>

#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"

namespace herald::zmq_wire {

using internal::cat;
using internal::EnvelopeKind;

std::string channel_topic(std::string_view channel) {
  std::string t;
  t.reserve(channel.size() + 2);
  t.push_back('c');
  t.append(channel);
  t.push_back(kTopicEnd);
  return t;
}

std::string probe_topic(std::string_view socket_id, std::uint64_t n) {
  return cat("p", socket_id, ":", n, kTopicEnd);
}

namespace {

struct StringWriter {
  std::string* out;
  void write(const char* data, std::size_t n) { out->append(data, n); }
};

}  // namespace

std::string encode_header(const internal::Envelope& e, std::uint64_t seq) {
  std::string out;
  out.reserve(32 + e.event().size() + e.channel_or_empty().size() + e.sender().size());
  StringWriter w{&out};
  msgpack::packer<StringWriter> pk(w);
  pk.pack_array(7);
  pk.pack_uint8(kVersion);
  pk.pack_uint8(static_cast<std::uint8_t>(e.kind()));
  if (e.is_broadcast()) {
    pk.pack_nil();
  } else {
    pk.pack(e.channel_or_empty());
  }
  pk.pack(e.event());
  pk.pack(e.sender());
  if (e.echo()) {
    pk.pack_true();
  } else {
    pk.pack_false();
  }
  pk.pack_uint64(seq);
  return out;
}

std::string encode_probe_header(std::string_view sender) {
  std::string out;
  StringWriter w{&out};
  msgpack::packer<StringWriter> pk(w);
  pk.pack_array(7);
  pk.pack_uint8(kVersion);
  pk.pack_uint8(kProbeKind);
  pk.pack_nil();
  pk.pack(std::string_view("probe"));
  pk.pack(sender);
  pk.pack_false();
  pk.pack_uint64(0);
  return out;
}

namespace {
bool reference(msgpack::type::object_type, std::size_t, void*) { return true; }

absl::Status bad(std::string_view why) {
  return absl::InvalidArgumentError(cat("herald zmq: malformed message: ", why));
}
}  // namespace

absl::StatusOr<Decoded> decode(std::string_view topic, std::string_view header,
                               std::string_view body, std::size_t max_body_bytes) {
  msgpack::object_handle handle;
  try {
    std::size_t offset = 0;
    handle = msgpack::unpack(header.data(), header.size(), offset, reference);
    if (offset != header.size()) return bad("trailing bytes after the header");
  } catch (const std::exception& e) {
    return bad(cat("header is not msgpack (", e.what(), ")"));
  }
  const msgpack::object& h = handle.get();
  if (h.type != msgpack::type::ARRAY || h.via.array.size != 7) {
    return bad("header must be an array of 7");
  }
  const msgpack::object* f = h.via.array.ptr;
  if (f[0].type != msgpack::type::POSITIVE_INTEGER || f[0].via.u64 != kVersion) {
    return bad("unsupported header version (expected 1)");
  }
  if (f[1].type != msgpack::type::POSITIVE_INTEGER || f[1].via.u64 > kProbeKind) {
    return bad("kind must be 0..5");
  }
  const auto kind_number = static_cast<std::uint8_t>(f[1].via.u64);
  auto text = [](const msgpack::object& o) { return std::string_view(o.via.str.ptr, o.via.str.size); };
  if (f[3].type != msgpack::type::STR || f[4].type != msgpack::type::STR ||
      f[5].type != msgpack::type::BOOLEAN || f[6].type != msgpack::type::POSITIVE_INTEGER) {
    return bad("header fields have the wrong types (event: str, sender: str, echo: bool, seq: uint)");
  }
  Decoded out;
  out.seq = f[6].via.u64;
  if (kind_number == kProbeKind) {
    if (topic.size() < 3 || topic.front() != 'p' || topic.back() != kTopicEnd ||
        f[2].type != msgpack::type::NIL) {
      return bad("a probe travels on a probe topic with a nil channel");
    }
    out.probe = true;
    return out;
  }
  const auto kind = static_cast<EnvelopeKind>(kind_number);
  const std::string_view event = text(f[3]);
  const std::string_view sender = text(f[4]);
  if (absl::Status s = internal::validate_name("event", event); !s.ok()) return s;
  if (sender.empty() || sender.size() > internal::kMaxNameBytes) return bad("sender id must be 1-255 bytes");
  std::string_view channel;
  if (kind == EnvelopeKind::broadcast) {
    if (f[2].type != msgpack::type::NIL) return bad("a broadcast has a nil channel");
    if (topic != kBroadcastTopic) return bad("a broadcast must travel on the broadcast topic");
  } else {
    if (f[2].type != msgpack::type::STR) return bad("channel must be a str");
    channel = text(f[2]);
    if (absl::Status s = internal::validate_name("channel", channel); !s.ok()) return s;
    if (topic.size() != channel.size() + 2 || topic.front() != 'c' || topic.back() != kTopicEnd ||
        topic.substr(1, channel.size()) != channel) {
      return bad("the topic frame does not match the header's channel");
    }
  }
  if (body.size() > max_body_bytes) {
    return absl::ResourceExhaustedError(cat("herald zmq: body of ", body.size(),
                                            " bytes exceeds the limit of ", max_body_bytes));
  }
  absl::StatusOr<Message> message = Message::from_msgpack(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(body.data()), body.size()));
  if (!message.ok()) return message.status();
  out.envelope = internal::Envelope::make(kind, channel, event, sender, *std::move(message),
                                          f[5].via.boolean);
  return out;
}

}  // namespace herald::zmq_wire
