// The broker's counters: written by its threads, read by ZmqBroker::stats()
// from any thread (relaxed atomics: each is a snapshot).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace herald::zmq_broker {

struct BrokerCounters {
  std::atomic<std::size_t> sessions{0};
  std::atomic<std::size_t> channels{0};
  std::atomic<std::uint64_t> messages_in{0}, bytes_in{0}, messages_out{0}, bytes_out{0};
  std::atomic<std::uint64_t> control_requests{0}, control_malformed{0}, auth_failures{0},
      sessions_expired{0};
  std::atomic<std::size_t> memberships{0}, profile_bytes{0};
  std::atomic<std::uint64_t> refused_sessions{0}, refused_channels{0}, refused_memberships{0},
      refused_profiles{0}, forged_dropped{0}, malformed_dropped{0};
  // Flow control (holds.hpp): messages that waited at the broker for a full
  // receiver, topics held (announced to senders), messages sent past a
  // receiver stalled for the stall timeout, clients that cut themselves as
  // stalled, and the bytes waiting now.
  std::atomic<std::uint64_t> messages_waited{0}, holds{0}, dropped_stalled{0}, closed_stalled{0};
  std::atomic<std::size_t> held_bytes{0};
};

}  // namespace herald::zmq_broker
