// counters.hpp — GatewayCounters: what WsGateway::stats() reports, counted by
// the gateway's threads and the routing threads that deliver to its
// connections (relaxed atomics: each is a count on its own), and the gauges
// of the hub-wide budget (WsGatewayOptions::max_total_*), reserved before use.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace herald::ws_hub {

// What one channel membership costs the hub besides its name's bytes (the
// connection's set, the Router's set and member snapshot): what it counts
// against WsGatewayOptions::max_total_membership_bytes.
inline constexpr std::size_t kMembershipOverheadBytes = 256;
inline std::size_t membership_cost(std::size_t name_bytes) {
  return name_bytes + kMembershipOverheadBytes;
}

struct GatewayCounters {
  std::atomic<std::uint64_t> accepted{0}, refused{0}, frames_in{0}, messages_routed{0},
      frames_out{0}, writes{0}, frame_errors{0}, closed_protocol{0}, closed_unauthenticated{0},
      closed_slow_consumer{0}, dropped_slow_consumer{0}, dropped_closing{0}, closed_idle{0},
      tls_handshakes_failed{0}, refused_budget{0}, closed_queue_budget{0},
      refused_reserved_events{0}, publishers_held{0}, held_ns{0}, closed_stalled{0};
  std::atomic<std::size_t> connections{0}, write_queue_high_water{0};
  // The hub-wide budget's gauges.
  std::atomic<std::size_t> membership_bytes{0}, profile_bytes{0};

  // Adds `n` to `gauge` unless that takes it past `limit`.
  static bool reserve(std::atomic<std::size_t>& gauge, std::size_t n, std::size_t limit) {
    std::size_t seen = gauge.load(std::memory_order_relaxed);
    do {
      if (n > limit || seen > limit - n) return false;
    } while (!gauge.compare_exchange_weak(seen, seen + n, std::memory_order_relaxed));
    return true;
  }

  // Raises a gauge to `value` if it is below.
  static void bump_max(std::atomic<std::size_t>& gauge, std::size_t value) {
    std::size_t seen = gauge.load(std::memory_order_relaxed);
    while (value > seen && !gauge.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
  }
};

}  // namespace herald::ws_hub
