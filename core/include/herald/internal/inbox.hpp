// herald/internal/inbox.hpp — a connection's bounded queue of envelopes
// waiting to be dispatched.
//
// Many producers, one consumer at a time. Producers take no lock: a push
// claims a slot with one compare-and-swap on the tail index and writes it
// (a list of blocks of kBlockSlots slots; the producer that claims a block's
// last slot links the next block). The consumer takes everything that is
// ready in one pass, under a lock of its own that producers touch only to
// drop the oldest envelope of a full drop_oldest inbox. The depth is the
// difference of the two indexes, so counting costs producers nothing.
//
// The bound is checked before the claim, so producers racing for the last
// room may pass it by one each.
//
// Locks and sleeps happen only at the edges: a consumer that finds the inbox
// empty spins for kSpinBeforeSleep, then sleeps, and the first producer
// after it wakes it (once); a producer that finds a block inbox full waits
// on a condition variable that the consumer signals only when someone
// waits.
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
  ~Inbox();
  Inbox(const Inbox&) = delete;
  Inbox& operator=(const Inbox&) = delete;

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
  // returns how many. Nothing while closed.
  std::size_t take_all(std::vector<EnvelopePtr>& out);

  // Waits until something is waiting or `deadline` passes (spinning up to
  // kSpinBeforeSleep first).
  static constexpr std::chrono::microseconds kSpinBeforeSleep{50};
  bool wait_until_ready(std::chrono::steady_clock::time_point deadline);

  bool empty() const noexcept { return depth_now() == 0; }
  std::size_t depth() const noexcept { return depth_now(); }
  std::size_t high_water() const noexcept { return high_water_.load(std::memory_order_relaxed); }
  std::uint64_t sender_waits() const noexcept {
    return sender_waits_.load(std::memory_order_relaxed);
  }

  // Wakes and refuses every waiting and later producer; drops what waits and
  // returns how many that was.
  std::size_t close();
  void reopen();
  // Envelopes a producer queued while close() ran (it had found the inbox
  // open): dropped by the next take_all() or by reopen(), and counted here.
  std::uint64_t dropped_while_closed() const noexcept {
    return dropped_while_closed_.load(std::memory_order_relaxed);
  }

  // Slots per block (the 32nd index of each lap marks the move to the next).
  static constexpr std::size_t kLap = 32;
  static constexpr std::size_t kBlockSlots = kLap - 1;

 private:
  struct Block {
    std::atomic<const Envelope*> slots[kBlockSlots] = {};  // non-null: written
    std::atomic<Block*> next{nullptr};
  };
  // Usable slots before `index`.
  static std::size_t usable(std::size_t index) noexcept { return index - index / kLap; }
  std::size_t depth_now() const noexcept {
    // The head first: it never passes the tail, so the difference never wraps.
    const std::size_t head = head_index_.load(std::memory_order_seq_cst);
    return usable(tail_index_.load(std::memory_order_seq_cst)) - usable(head);
  }
  void enqueue(const Envelope* envelope);
  // Under consumer_mu_: moves up to `max` envelopes from the head to `out`
  // (or drops them when `out` is null); returns how many.
  std::size_t dequeue_locked(std::vector<EnvelopePtr>* out, std::size_t max);
  void wake_producers();
  void wake_consumer();
  Admitted wait_bounded(std::unique_lock<std::mutex>& lock);
  Admitted wait_for_room(std::unique_lock<std::mutex>& lock,
                         const std::atomic<std::uint64_t>* progress);
  bool has_room() const noexcept { return depth_now() < capacity_; }

  const std::size_t capacity_;
  const Overflow overflow_;

  // Producers' side.
  std::atomic<std::size_t> tail_index_{0};
  std::atomic<Block*> tail_block_;
  // The consumer's side: head_block_ under consumer_mu_; head_index_ is
  // written under it and read by producers (the depth).
  std::mutex consumer_mu_;
  Block* head_block_;
  std::atomic<std::size_t> head_index_{0};

  std::atomic<bool> closed_{false};
  // Waits: mu_ guards the condition variables' sleeps.
  mutable std::mutex mu_;
  std::condition_variable consumer_cv_;
  std::condition_variable producer_cv_;
  std::atomic<std::size_t> consumers_waiting_{0};
  std::atomic<bool> consumer_woken_{false};  // a producer already woke the sleeping consumer
  std::atomic<std::size_t> producers_waiting_{0};
  std::atomic<std::uint64_t> drains_{0};  // take_all() calls that took something (progress)
  std::atomic<std::size_t> high_water_{0};
  std::atomic<std::uint64_t> sender_waits_{0};
  std::atomic<std::uint64_t> dropped_while_closed_{0};
};

}  // namespace herald::internal
