#include "herald/internal/inbox.hpp"

#include <algorithm>

#include "herald/internal/thread_role.hpp"

namespace herald::internal {

Inbox::Inbox(std::size_t capacity, Overflow overflow)
    : capacity_(std::max<std::size_t>(capacity, 1)), overflow_(overflow) {}

void Inbox::publish_depth_locked() noexcept {
  std::size_t depth = size_locked();
  depth_.store(depth, std::memory_order_seq_cst);
  if (depth > high_water_.load(std::memory_order_relaxed)) {
    high_water_.store(depth, std::memory_order_relaxed);
  }
}

// Under mu_ (released while waiting): kBoundedWait at most, then over the
// bound. Returns queued (room, or admitted over the bound: overfilled_ is
// told apart by the caller) or closed.
Inbox::Admitted Inbox::wait_bounded(std::unique_lock<std::mutex>& lock) {
  producer_cv_.wait_for(lock, kBoundedWait, [&] { return closed_ || size_locked() < capacity_; });
  return closed_ ? Admitted::closed : Admitted::queued;
}

// Under mu_ (released while waiting): until there is room, the sender's
// deadline passes (timed_out), or the consumer makes no progress for the
// sender's stall_timeout (stalled).
Inbox::Admitted Inbox::wait_for_room(std::unique_lock<std::mutex>& lock,
                                     const std::atomic<std::uint64_t>* progress) {
  using Clock = std::chrono::steady_clock;
  SendWait* const send = t_send_wait;
  auto room = [&] { return closed_ || size_locked() < capacity_; };
  const Clock::time_point started = Clock::now();
  const Clock::time_point deadline = send ? send->deadline_at(started) : Clock::time_point::max();
  const auto stall = send ? send->stall_timeout : std::chrono::milliseconds{0};
  std::uint64_t seen = progress ? progress->load(std::memory_order_relaxed) : 0;
  Clock::time_point moved = started;  // when the consumer last made progress
  std::uint64_t drains = drains_;
  Admitted outcome = Admitted::queued;
  while (!room()) {
    const Clock::time_point now = Clock::now();
    if (drains != drains_ || (progress && progress->load(std::memory_order_relaxed) != seen)) {
      drains = drains_;
      if (progress) seen = progress->load(std::memory_order_relaxed);
      moved = now;
    }
    if (now >= deadline) {
      outcome = Admitted::timed_out;
      break;
    }
    if (stall.count() > 0 && now - moved >= stall) {
      outcome = Admitted::stalled;
      break;
    }
    Clock::time_point until = std::min(deadline, now + kProgressCheck);
    producer_cv_.wait_until(lock, until, room);
  }
  if (send) {
    ++send->waits;
    send->waited_ns += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - started).count());
    if (outcome == Admitted::timed_out) send->timed_out = true;
  }
  if (closed_) return Admitted::closed;
  return outcome;
}

Inbox::Admitted Inbox::push(const EnvelopePtr& envelope, Wait wait,
                            const std::atomic<std::uint64_t>* progress) {
  std::unique_lock lock(mu_);
  if (closed_) return Admitted::closed;
  Admitted result = Admitted::queued;
  if (size_locked() >= capacity_) {
    switch (overflow_) {
      case Overflow::drop_newest:
        return Admitted::dropped_newest;
      case Overflow::drop_oldest:
        items_[head_++].reset();
        if (head_ >= capacity_) {  // compact now and then: the vector never grows past 2x
          items_.erase(items_.begin(), items_.begin() + static_cast<std::ptrdiff_t>(head_));
          head_ = 0;
        }
        result = Admitted::dropped_oldest;
        break;
      case Overflow::block: {
        if (wait != Wait::never) {
          sender_waits_.fetch_add(1, std::memory_order_relaxed);
          ++producers_waiting_;
          const Admitted waited =
              wait == Wait::bounded ? wait_bounded(lock) : wait_for_room(lock, progress);
          --producers_waiting_;
          if (waited != Admitted::queued) return waited;
        }
        if (size_locked() >= capacity_) result = Admitted::overfilled;
        break;
      }
    }
  }
  items_.push_back(envelope);
  publish_depth_locked();
  if (consumers_waiting_ > 0) {
    lock.unlock();
    consumer_cv_.notify_all();
  }
  return result;
}

std::size_t Inbox::take_all(std::vector<EnvelopePtr>& out) {
  std::unique_lock lock(mu_);
  std::size_t n = size_locked();
  if (n == 0) return 0;
  if (head_ == 0) {
    out.swap(items_);
  } else {
    out.assign(std::make_move_iterator(items_.begin() + static_cast<std::ptrdiff_t>(head_)),
               std::make_move_iterator(items_.end()));
    items_.clear();
  }
  head_ = 0;
  ++drains_;
  publish_depth_locked();
  bool wake = producers_waiting_ > 0;
  lock.unlock();
  if (wake) producer_cv_.notify_all();
  return n;
}

namespace {
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}
}  // namespace

bool Inbox::wait_until_ready(std::chrono::steady_clock::time_point deadline) {
  // Spin for a moment before sleeping: a sleep and the wake-up that ends it
  // cost tens of microseconds on these machines, more than the gap between
  // the bursts of a busy producer.
  const auto spin_until = std::min(deadline, std::chrono::steady_clock::now() + kSpinBeforeSleep);
  for (unsigned i = 1;; ++i) {
    if (depth_.load(std::memory_order_acquire) > 0) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
  }
  std::unique_lock lock(mu_);
  ++consumers_waiting_;
  consumer_cv_.wait_until(lock, deadline, [&] { return size_locked() > 0 || closed_; });
  --consumers_waiting_;
  return size_locked() > 0;
}

std::size_t Inbox::close() {
  std::vector<EnvelopePtr> dropped;
  std::size_t count;
  {
    std::lock_guard lock(mu_);
    count = size_locked();
    closed_ = true;
    dropped.swap(items_);
    head_ = 0;
    publish_depth_locked();
  }
  producer_cv_.notify_all();
  consumer_cv_.notify_all();
  return count;
}

void Inbox::reopen() {
  std::lock_guard lock(mu_);
  closed_ = false;
}

}  // namespace herald::internal
