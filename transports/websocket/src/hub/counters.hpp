// counters.hpp — GatewayCounters: what WsGateway::stats() reports, counted by
// the gateway's threads and the routing threads that deliver to its
// connections (relaxed atomics: each is a count on its own).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace herald::ws_hub {

struct GatewayCounters {
  std::atomic<std::uint64_t> accepted{0}, refused{0}, frames_in{0}, messages_routed{0},
      frames_out{0}, writes{0}, frame_errors{0}, closed_protocol{0}, closed_unauthenticated{0},
      closed_slow_consumer{0}, dropped_slow_consumer{0}, dropped_closing{0}, closed_idle{0};
  std::atomic<std::size_t> connections{0}, write_queue_high_water{0};

  // Raises a gauge to `value` if it is below.
  static void bump_max(std::atomic<std::size_t>& gauge, std::size_t value) {
    std::size_t seen = gauge.load(std::memory_order_relaxed);
    while (value > seen && !gauge.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
    }
  }
};

}  // namespace herald::ws_hub
