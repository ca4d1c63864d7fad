// The broker's flow control (docs/PROTOCOL.md, "zmq://", "Flow control").
//
// Receivers with Overflow::block subscribe at the XPUB of port P+2, which
// the data loop sends to with ZMQ_XPUB_NODROP: when a receiver's queue is
// full (its high-water mark, kReceiverWindow messages), libzmq refuses the
// message for everyone and the broker keeps it — in a queue of its topic,
// in arrival order, so that a topic never overtakes itself — and retries.
// Other topics go on. A topic whose queue grows past kHoldMessages /
// kHoldBytes is *held*: the broker tells every client on the lossy port
// (hold notices) and their senders to it wait. A topic that makes no
// progress for the stall timeout (a receiver took nothing) goes out lossily
// from then on, until a receiver has room again: a receiver that never reads
// may slow its channels' senders for that long, no longer. Past
// max_held_bytes in all, the loop stops reading publishers (TCP holds them).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>
#include <zmq.hpp>

#include "counters.hpp"

namespace herald::zmq_broker {

// A blocking receiver's queue at the broker, in messages (the XPUB's send
// high-water mark on port P+2; at most ZmqBrokerOptions::subscriber_high_water_mark).
inline constexpr int kReceiverWindow = 1024;
// A topic is held (announced) once this much of it waits at the broker.
inline constexpr std::size_t kHoldMessages = 1024;
inline constexpr std::size_t kHoldBytes = 1 << 20;

struct FlowLimits {
  std::chrono::milliseconds stall_timeout{10'000};
  std::size_t max_held_bytes = 64 << 20;
};

class Holds {
 public:
  using Clock = std::chrono::steady_clock;

  Holds(FlowLimits limits, BrokerCounters& counters) : limits_(limits), counters_(counters) {}

  // Sends `message` (on `topic`, which it begins with) through `xpub`, or
  // keeps it behind what waits on its topic. Returns true when it was sent.
  bool route(zmq::socket_t& xpub, std::string_view topic, zmq::message_t& message,
             Clock::time_point now);
  // Sends what waits, as far as the receivers have room; goes lossy on a
  // topic stalled for the stall timeout. Returns the messages sent.
  std::size_t retry(zmq::socket_t& xpub, Clock::time_point now);
  // Publishes a hold notice on `notices` when the held topics changed, and
  // every kHoldRepeatMs while any is held.
  void announce(zmq::socket_t& notices, Clock::time_point now);

  bool waiting() const { return !queues_.empty(); }
  bool over_budget() const { return bytes_ > limits_.max_held_bytes; }

 private:
  struct Queue {
    std::deque<zmq::message_t> messages;
    std::size_t bytes = 0;
    Clock::time_point progress;  // created, or last sent from
    bool announced = false;      // held: in the notices until it is empty
  };
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  using Queues = std::unordered_map<std::string, Queue, Hash, std::equal_to<>>;

  bool held(const Queue& q) const {
    return q.messages.size() >= kHoldMessages || q.bytes >= kHoldBytes;
  }
  void keep(Queue& q, zmq::message_t& message);
  void send_lossy(zmq::socket_t& xpub, Queue& q);
  void publish_bytes();

  FlowLimits limits_;
  BrokerCounters& counters_;
  Queues queues_;
  std::unordered_set<std::string, Hash, std::equal_to<>> lossy_;  // stalled topics
  std::size_t bytes_ = 0;
  std::vector<std::string> announced_;  // sorted
  bool held_changed_ = false;           // a topic became held or was emptied since announced_

  Clock::time_point last_notice_;
};

}  // namespace herald::zmq_broker
