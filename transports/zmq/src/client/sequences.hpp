// Sequence numbers on the zmq:// data path (docs/PROTOCOL.md, "zmq://"):
// every sender numbers its messages per topic from 1, and every receiver
// counts the gaps per sender and topic, so that losses (at a high-water mark,
// during an outage) are never silent. Both tables are bounded: past
// kMaxTrackedSenders entries they start over, which a receiver takes as a
// restart (a lower number), never as a loss.
#pragma once

#include <cstdint>
#include <string_view>

#include "herald/internal/names.hpp"

namespace herald::zmq_transport {

inline constexpr std::size_t kMaxTrackedSenders = 65'536;

// The sender's side: the next number on a topic. Not thread-safe.
class OutgoingSequences {
 public:
  std::uint64_t next(std::string_view topic);
  // The number next() gave last on `topic` was not used: it is given again.
  void take_back(std::string_view topic);

 private:
  internal::NameMap<std::uint64_t> last_;
};

// The receiver's side. Not thread-safe.
class IncomingSequences {
 public:
  // `seq` arrived from `sender` on `topic`: how many were lost before it.
  std::uint64_t track(std::string_view sender, std::string_view topic, std::uint64_t seq);
  // Sequences on `topic` start over (it was left: when joined again, what
  // was sent meanwhile is not lost to us).
  void forget_topic(std::string_view topic);
  void clear() { last_.clear(); }

 private:
  internal::NameMap<std::uint64_t> last_;  // sender + kTopicEnd + topic -> last seq
};

}  // namespace herald::zmq_transport
