// herald/internal/inbox.hpp — a connection's bounded queue of envelopes
// waiting to be dispatched.
//
// Many producers, one consumer at a time. The consumer takes everything that
// is ready in one swap (batching: one lock per batch, not per message) and
// producers signal the consumer only when it is actually waiting.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <vector>

#include "herald/internal/envelope.hpp"
#include "herald/options.hpp"

namespace herald::internal {

class Inbox {
 public:
  Inbox(std::size_t capacity, Overflow overflow);

  // timed_out: not queued — the sender's deadline (SendWait) passed while
  // the inbox stayed full. stalled: not queued — the consumer made no
  // progress for the sender's stall_timeout while it waited.
  enum class Admitted {
    queued,
    overfilled,
    dropped_newest,
    dropped_oldest,
    closed,
    timed_out,
    stalled
  };
  // How long a producer may wait for room under Overflow::block. bounded:
  // kBoundedWait, then the envelope is admitted over the bound
  // (Admitted::overfilled). unbounded: until the deadline of the thread's
  // SendWait (t_send_wait; none: for ever), or a stall.
  enum class Wait { never, bounded, unbounded };
  static constexpr std::chrono::milliseconds kBoundedWait{50};
  // How often a waiting producer looks at `progress` (the consumer's count
  // of dispatched envelopes: a slow listener is progress, not a stall).
  static constexpr std::chrono::milliseconds kProgressCheck{50};
  Admitted push(const EnvelopePtr& envelope, Wait wait,
                const std::atomic<std::uint64_t>* progress = nullptr);

  // Moves every waiting envelope into `out` (which must be empty) and
  // returns how many.
  std::size_t take_all(std::vector<EnvelopePtr>& out);

  // Waits until something is waiting or `deadline` passes (spinning up to
  // kSpinBeforeSleep first).
  static constexpr std::chrono::microseconds kSpinBeforeSleep{50};
  bool wait_until_ready(std::chrono::steady_clock::time_point deadline);

  bool empty() const noexcept { return depth_.load(std::memory_order_seq_cst) == 0; }
  std::size_t depth() const noexcept { return depth_.load(std::memory_order_relaxed); }
  std::size_t high_water() const noexcept { return high_water_.load(std::memory_order_relaxed); }
  std::uint64_t sender_waits() const noexcept {
    return sender_waits_.load(std::memory_order_relaxed);
  }

  // Wakes and refuses every waiting and later producer; drops what waits and
  // returns how many that was.
  std::size_t close();
  void reopen();

 private:
  std::size_t size_locked() const noexcept { return items_.size() - head_; }
  void publish_depth_locked() noexcept;
  Admitted wait_bounded(std::unique_lock<std::mutex>& lock);
  Admitted wait_for_room(std::unique_lock<std::mutex>& lock,
                         const std::atomic<std::uint64_t>* progress);

  const std::size_t capacity_;
  const Overflow overflow_;
  mutable std::mutex mu_;
  std::condition_variable consumer_cv_;
  std::condition_variable producer_cv_;
  std::vector<EnvelopePtr> items_;
  std::size_t head_ = 0;  // items_[0, head_) were dropped (drop_oldest)
  std::size_t consumers_waiting_ = 0;
  std::size_t producers_waiting_ = 0;
  std::uint64_t drains_ = 0;  // take_all() calls that took something (progress)
  bool closed_ = false;
  std::atomic<std::size_t> depth_{0};
  std::atomic<std::size_t> high_water_{0};
  std::atomic<std::uint64_t> sender_waits_{0};
};

}  // namespace herald::internal
