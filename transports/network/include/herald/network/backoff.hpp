// herald/network/backoff.hpp — Backoff: when a network transport tries to
// reconnect again.
//
// One policy for every transport: the delay before the next attempt is
// `Options::reconnection_delay` doubled for each attempt already made since
// the last success (at most 2^5 times the base), and never more than
// max(base, 5 s) — so a hub that comes back is found within seconds, and a
// hub that stays away costs one attempt every few seconds.
//
//   Backoff backoff(options.reconnection_delay);
//   on connection lost:  wait backoff.delay(), then
//                        events->transport_reconnect_attempt(backoff.begin_attempt())
//   on connected:        backoff.reset()
//
// Not thread-safe: a transport's I/O thread owns its Backoff.
#pragma once

#include <algorithm>
#include <chrono>

namespace herald::network {

class Backoff {
 public:
  static constexpr int kMaxDoublings = 5;
  static constexpr std::chrono::milliseconds kCap{5000};

  explicit Backoff(std::chrono::milliseconds base) noexcept
      : base_(std::max(base, std::chrono::milliseconds(0))) {}

  // How long to wait before the next attempt.
  std::chrono::milliseconds delay() const noexcept {
    const int shift = std::min(attempts_, kMaxDoublings);
    return std::min(base_ * (1 << shift), std::max(base_, kCap));
  }
  // Counts an attempt that starts now; returns its number (1 for the first
  // attempt after a success), as reported by on_reconnect_attempt.
  int begin_attempt() noexcept { return ++attempts_; }
  // Attempts made since the last success (0: none yet).
  int attempts() const noexcept { return attempts_; }
  // Connected: the next loss starts over from the base delay.
  void reset() noexcept { attempts_ = 0; }

 private:
  std::chrono::milliseconds base_;
  int attempts_ = 0;
};

}  // namespace herald::network
