#include "data.hpp"

#include <algorithm>
#include <cstring>

#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"
#include "herald/network/msgpack_io.hpp"

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

std::size_t write_topic(char* out, const internal::Envelope& e) {
  if (e.is_broadcast()) {
    std::memcpy(out, kBroadcastTopic.data(), kBroadcastTopic.size());
    return kBroadcastTopic.size();
  }
  const std::string_view channel = e.channel_or_empty();
  out[0] = 'c';
  std::memcpy(out + 1, channel.data(), channel.size());
  out[1 + channel.size()] = kTopicEnd;
  return channel.size() + 2;
}

std::string probe_topic(std::string_view socket_id, std::uint64_t n) {
  return cat("p", socket_id, ":", n, kTopicEnd);
}

namespace {

std::size_t write(char* out, std::uint8_t kind, std::string_view channel, bool has_channel,
                  std::string_view event, std::string_view sender, bool echo, std::uint64_t seq) {
  network::FixedSink sink{out};
  network::BasicMsgpackOut o(sink);
  o.byte(0x97);  // fixarray of 7
  o.byte(kVersion);
  o.byte(kind);
  if (has_channel) {
    o.str(channel);
  } else {
    o.byte(0xc0);
  }
  o.str(event);
  o.str(sender);
  o.byte(echo ? 0xc3 : 0xc2);
  o.uint(seq);
  return static_cast<std::size_t>(sink.p - out);
}

}  // namespace

std::size_t write_header(char* out, const internal::Envelope& e, std::uint64_t seq) {
  return write(out, static_cast<std::uint8_t>(e.kind()), e.channel_or_empty(), !e.is_broadcast(),
               e.event(), e.sender(), e.echo(), seq);
}

std::size_t write_probe_header(char* out, std::string_view sender) {
  return write(out, kProbeKind, {}, false, "probe", sender, false, 0);
}

std::string encode_header(const internal::Envelope& e, std::uint64_t seq) {
  char buffer[kMaxHeaderBytes];
  return std::string(buffer, write_header(buffer, e, seq));
}

std::string encode_message(const internal::Envelope& e, std::uint64_t seq) {
  char topic[kMaxTopicBytes];
  std::string message(topic, write_topic(topic, e));
  message += encode_header(e, seq);
  const auto body = e.body().bytes();
  message.append(reinterpret_cast<const char*>(body.data()), body.size());
  return message;
}

namespace {

absl::Status bad(std::string_view why) {
  return absl::InvalidArgumentError(cat("herald zmq: malformed message: ", why));
}

}  // namespace

absl::StatusOr<Split> split_topic(std::string_view frame) {
  const std::size_t end = frame.substr(0, kMaxProbeTopicBytes).find(kTopicEnd);
  if (end == std::string_view::npos) {
    return bad("no topic (a data message starts with a topic ending in 0xFF)");
  }
  return Split{frame.substr(0, end + 1), frame.substr(end + 1)};
}

absl::StatusOr<Decoded> decode(std::string_view frame, std::size_t max_body_bytes) {
  absl::StatusOr<Split> split = split_topic(frame);
  if (!split.ok()) return split.status();
  const std::string_view topic = split->topic;
  const std::string_view message = split->rest;
  network::MsgpackIn in(message);
  std::uint32_t n = 0;
  std::uint64_t version = 0, kind_number = 0, seq = 0;
  std::string_view channel, event, sender;
  bool has_channel = false, echo = false;
  if (!in.array_header(n) || n != 7) return bad("the header must be an array of 7");
  if (!in.uint(version) || version != kVersion)
    return bad("unsupported header version (expected 2)");
  if (!in.uint(kind_number) || kind_number > kProbeKind) return bad("kind must be 0..5");
  if (!in.nil()) {
    if (!in.str(channel)) return bad("channel must be a str or nil");
    has_channel = true;
  }
  if (!in.str(event) || !in.str(sender) || !in.boolean(echo) || !in.uint(seq)) {
    return bad(
        "header fields have the wrong types (event: str, sender: str, echo: bool, seq: uint)");
  }
  const std::string_view body = message.substr(in.consumed());
  Decoded out;
  out.seq = seq;
  out.topic = topic;
  if (kind_number == kProbeKind) {
    if (topic.size() < 3 || topic.front() != 'p' || topic.back() != kTopicEnd || has_channel) {
      return bad("a probe travels on a probe topic with a nil channel");
    }
    out.probe = true;
    return out;
  }
  const auto kind = static_cast<EnvelopeKind>(kind_number);
  if (absl::Status s = internal::validate_name("event", event); !s.ok()) return s;
  if (sender.empty() || sender.size() > internal::kMaxNameBytes)
    return bad("sender id must be 1-255 bytes");
  if (kind == EnvelopeKind::broadcast) {
    if (has_channel) return bad("a broadcast has a nil channel");
    if (topic != kBroadcastTopic) return bad("a broadcast must travel on the broadcast topic");
  } else {
    if (!has_channel) return bad("channel must be a str");
    if (absl::Status s = internal::validate_name("channel", channel); !s.ok()) return s;
    if (topic.size() != channel.size() + 2 || topic.front() != 'c' || topic.back() != kTopicEnd ||
        topic.substr(1, channel.size()) != channel) {
      return bad("the topic does not match the header's channel");
    }
  }
  if (body.size() > max_body_bytes) {
    return absl::ResourceExhaustedError(
        cat("herald zmq: body of ", body.size(), " bytes exceeds the limit of ", max_body_bytes));
  }
  absl::StatusOr<Message> m = Message::from_msgpack(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(body.data()), body.size()));
  if (!m.ok()) return m.status();
  out.envelope = internal::Envelope::make(kind, channel, event, sender, *std::move(m), echo);
  return out;
}

}  // namespace herald::zmq_wire

namespace herald::zmq_wire {

// The topics travel without their closing 0xFF: each is then a UTF-8 str
// ("c" + channel, or "b" for the broadcast).
std::string encode_hold_notice(const std::vector<std::string_view>& topics) {
  std::string out(kHoldTopic);
  network::MsgpackOut o(out);
  const std::size_t n = std::min(topics.size(), kMaxHeldTopicsPerNotice);
  o.array(static_cast<std::uint32_t>(n));
  for (std::size_t i = 0; i < n; ++i) {
    std::string_view t = topics[i];
    if (!t.empty() && t.back() == kTopicEnd) t.remove_suffix(1);
    o.str(t);
  }
  return out;
}

absl::StatusOr<std::vector<std::string>> decode_hold_notice(std::string_view frame) {
  if (!frame.starts_with(kHoldTopic)) return bad("a hold notice travels on the hold topic");
  network::MsgpackIn in(frame.substr(kHoldTopic.size()));
  std::uint32_t n = 0;
  if (!in.array_header(n) || n > kMaxHeldTopicsPerNotice) {
    return bad("a hold notice is an array of at most 4096 topics");
  }
  std::vector<std::string> topics;
  topics.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string_view t;
    if (!in.str(t) || t.empty() || t.size() > kMaxTopicBytes - 1 ||
        t.find(kTopicEnd) != std::string_view::npos || (t.front() != 'c' && t != "b")) {
      return bad("a held topic is a str: \"c\" + channel, or \"b\"");
    }
    std::string topic(t);
    topic.push_back(kTopicEnd);
    topics.push_back(std::move(topic));
  }
  if (!in.at_end()) return bad("trailing bytes after a hold notice");
  return topics;
}

}  // namespace herald::zmq_wire
