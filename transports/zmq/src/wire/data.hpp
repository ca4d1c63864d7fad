// The ZeroMQ data path on the wire (docs/PROTOCOL.md, "zmq://"): a data
// message is one frame, the topic followed by the envelope header and the
// body. The control messages are in control.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "herald/internal/envelope.hpp"

namespace herald::zmq_wire {

// Protocol version 2: data messages are one frame (version 1 sent the topic
// as a frame of its own; libzmq can abort on a multipart message whose
// socket closes while it is half written to a slow peer).
inline constexpr std::uint8_t kVersion = 2;
// Terminates a topic. 0xFF never occurs in UTF-8, so the
// subscription "c" + "chat" + 0xFF never matches the topic of "chatroom".
inline constexpr char kTopicEnd = '\xff';
inline constexpr std::string_view kBroadcastTopic = "b\xff";
// Envelope kind used only on probe topics (subscription handshakes).
inline constexpr std::uint8_t kProbeKind = 5;

// Port layout: the URL's port P is the broker's control (ROUTER) socket;
// publishers connect to P+1 (XSUB), subscribers to P+2 (XPUB).
inline constexpr int kPublishPortOffset = 1;
inline constexpr int kSubscribePortOffset = 2;
// P+3 (XPUB, lossy): receivers with Overflow::drop_newest / drop_oldest, and
// every client's hold notices (docs/PROTOCOL.md, "zmq://", "Flow control").
inline constexpr int kLossyPortOffset = 3;

// Hold notices: the broker's list of the topics it holds (a receiver of
// theirs is full), on this topic of the lossy port. Publishers may not use it.
inline constexpr std::string_view kHoldTopic = "h\xff";
// A notice holds its topics for this long; the broker repeats it sooner.
inline constexpr int kHoldLeaseMs = 500;
inline constexpr int kHoldRepeatMs = 100;
// At most this many topics in one notice (the rest are held all the same:
// a sender to them waits at the broker's XSUB once its budget is spent).
inline constexpr std::size_t kMaxHeldTopicsPerNotice = 4096;

// Largest topic of a message (channel of 255 bytes) and header (three names
// of 255 bytes).
inline constexpr std::size_t kMaxTopicBytes = 2 + 255;
// Largest probe topic: 'p' + socket id of 255 + ':' + 20 digits + 0xFF.
inline constexpr std::size_t kMaxProbeTopicBytes = 1 + 255 + 1 + 20 + 1;
inline constexpr std::size_t kMaxHeaderBytes = 1024;
// The longest subscription message a SUB sends (0x01 + the longest topic, a
// probe topic), with room.
inline constexpr std::size_t kMaxSubscriptionBytes = 512;

std::string channel_topic(std::string_view channel);
// Writes the topic of `envelope` into `out` (kMaxTopicBytes); returns its size.
std::size_t write_topic(char* out, const internal::Envelope& envelope);
std::string probe_topic(std::string_view socket_id, std::uint64_t n);

// The header, msgpack [2, kind, channel|nil, event, sender, echo, seq],
// written into `out` (kMaxHeaderBytes); returns its size. A data message is
// the topic, the header and the body, back to back in one frame.
std::size_t write_header(char* out, const internal::Envelope& envelope, std::uint64_t seq);
std::size_t write_probe_header(char* out, std::string_view sender);
std::string encode_header(const internal::Envelope& envelope, std::uint64_t seq);

// The data message of `envelope`: its topic, header and body in one frame.
std::string encode_message(const internal::Envelope& envelope, std::uint64_t seq);

// The topic at the front of a data message (up to and including the first
// 0xFF, which no channel name or socket id holds), and what follows it.
struct Split {
  std::string_view topic;
  std::string_view rest;  // header + body
};
absl::StatusOr<Split> split_topic(std::string_view frame);

struct Decoded {
  internal::EnvelopePtr envelope;
  std::uint64_t seq = 0;
  bool probe = false;
  std::string_view topic;  // within the frame decoded
};

// Validates everything a peer sent (topic, header fields, names, body limit,
// topic agreeing with the header); kInvalidArgument saying what was wrong.
absl::StatusOr<Decoded> decode(std::string_view frame, std::size_t max_body_bytes);

// A hold notice: kHoldTopic, then msgpack [topic (bin), ...].
std::string encode_hold_notice(const std::vector<std::string_view>& topics);
// The topics of a hold notice; kInvalidArgument saying what was wrong.
absl::StatusOr<std::vector<std::string>> decode_hold_notice(std::string_view frame);

}  // namespace herald::zmq_wire
