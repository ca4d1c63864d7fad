// The ZeroMQ data path on the wire (docs/PROTOCOL.md, "zmq://"): topic
// frames and the envelope header. The control messages are in control.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "herald/internal/envelope.hpp"

namespace herald::zmq_wire {

inline constexpr std::uint8_t kVersion = 1;
// Terminates a channel in a topic frame. 0xFF never occurs in UTF-8, so the
// subscription "c" + "chat" + 0xFF never matches the topic of "chatroom".
inline constexpr char kTopicEnd = '\xff';
inline constexpr std::string_view kBroadcastTopic = "b\xff";
// Envelope kind used only on probe topics (subscription handshakes).
inline constexpr std::uint8_t kProbeKind = 5;

// Port layout: the URL's port P is the broker's control (ROUTER) socket;
// publishers connect to P+1 (XSUB), subscribers to P+2 (XPUB).
inline constexpr int kPublishPortOffset = 1;
inline constexpr int kSubscribePortOffset = 2;

// Largest topic (channel of 255 bytes) and header (three names of 255 bytes).
inline constexpr std::size_t kMaxTopicBytes = 2 + 255;
inline constexpr std::size_t kMaxHeaderBytes = 1024;

std::string channel_topic(std::string_view channel);
// Writes the topic of `envelope` into `out` (kMaxTopicBytes); returns its size.
std::size_t write_topic(char* out, const internal::Envelope& envelope);
std::string probe_topic(std::string_view socket_id, std::uint64_t n);

// The header, msgpack [1, kind, channel|nil, event, sender, echo, seq],
// written into `out` (kMaxHeaderBytes); returns its size. The second frame of
// a data message is the header immediately followed by the body.
std::size_t write_header(char* out, const internal::Envelope& envelope, std::uint64_t seq);
std::size_t write_probe_header(char* out, std::string_view sender);
std::string encode_header(const internal::Envelope& envelope, std::uint64_t seq);

struct Decoded {
  internal::EnvelopePtr envelope;
  std::uint64_t seq = 0;
  bool probe = false;
};

// Validates everything a peer sent (header fields, names, body limit, topic
// agreeing with the header); kInvalidArgument saying what was wrong.
absl::StatusOr<Decoded> decode(std::string_view topic, std::string_view message,
                               std::size_t max_body_bytes);

}  // namespace herald::zmq_wire
