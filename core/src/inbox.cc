#include "herald/internal/inbox.hpp"

#include <algorithm>
#include <thread>

#include "herald/internal/thread_role.hpp"

namespace herald::internal {

namespace {
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Waiting for another thread to finish a step it has begun (a few
// instructions, unless it was preempted): spin a little, then yield.
class Backoff {
 public:
  void pause() noexcept {
    if (++step_ < 64) {
      cpu_relax();
    } else {
      std::this_thread::yield();
    }
  }

 private:
  unsigned step_ = 0;
};
}  // namespace

Inbox::Inbox(std::size_t capacity, Overflow overflow)
    : capacity_(std::max<std::size_t>(capacity, 1)), overflow_(overflow) {
  Block* first = new Block;
  tail_block_.store(first, std::memory_order_relaxed);
  head_block_ = first;
}

Inbox::~Inbox() {
  {
    std::lock_guard lock(consumer_mu_);
    dequeue_locked(nullptr, static_cast<std::size_t>(-1));
  }
  delete head_block_;
}

void Inbox::enqueue(const Envelope* envelope) {
  Block* next_block = nullptr;
  Backoff backoff;
  for (;;) {
    std::size_t tail = tail_index_.load(std::memory_order_acquire);
    Block* block = tail_block_.load(std::memory_order_acquire);
    const std::size_t offset = tail % kLap;
    if (offset == kBlockSlots) {  // another producer is linking the next block
      backoff.pause();
      continue;
    }
    // Claiming a block's last slot means linking the next block: have it
    // ready before the claim, so that others wait as briefly as possible.
    if (offset + 1 == kBlockSlots && next_block == nullptr) next_block = new Block;
    // Only a successful claim touches `block`: if the tail moved since it
    // was read, the claim fails and `block` (maybe freed) is read again.
    if (tail_index_.compare_exchange_weak(tail, tail + 1, std::memory_order_seq_cst,
                                          std::memory_order_relaxed)) {
      if (offset + 1 == kBlockSlots) {
        tail_block_.store(next_block, std::memory_order_release);
        tail_index_.fetch_add(1, std::memory_order_release);  // past the lap's marker
        block->next.store(next_block, std::memory_order_release);
        next_block = nullptr;
      }
      block->slots[offset].store(envelope, std::memory_order_release);
      break;
    }
  }
  delete next_block;  // made for a claim another producer won
}

std::size_t Inbox::dequeue_locked(std::vector<EnvelopePtr>* out, std::size_t max) {
  std::size_t head = head_index_.load(std::memory_order_relaxed);
  const std::size_t tail = tail_index_.load(std::memory_order_acquire);
  std::size_t n = 0;
  while (head < tail && n < max) {
    const std::size_t offset = head % kLap;
    if (offset == kBlockSlots) {
      // Every slot of this block was read, so no producer touches it again;
      // the one that claimed its last slot links the next.
      Backoff backoff;
      Block* next;
      while ((next = head_block_->next.load(std::memory_order_acquire)) == nullptr) {
        backoff.pause();
      }
      delete head_block_;
      head_block_ = next;
      ++head;
      continue;
    }
    std::atomic<const Envelope*>& slot = head_block_->slots[offset];
    const Envelope* envelope;
    Backoff backoff;
    // Claimed: its producer writes it next.
    while ((envelope = slot.load(std::memory_order_acquire)) == nullptr) backoff.pause();
    slot.store(nullptr, std::memory_order_relaxed);
    EnvelopePtr owned(envelope);  // adopts the reference the producer gave up
    if (out != nullptr) out->push_back(std::move(owned));
    ++head;
    ++n;
  }
  head_index_.store(head, std::memory_order_seq_cst);
  return n;
}

void Inbox::wake_producers() {
  if (producers_waiting_.load(std::memory_order_seq_cst) == 0) return;
  { std::lock_guard lock(mu_); }
  producer_cv_.notify_all();
}

void Inbox::wake_consumer() {
  if (consumers_waiting_.load(std::memory_order_seq_cst) == 0) return;
  if (consumer_woken_.exchange(true, std::memory_order_acq_rel)) return;
  { std::lock_guard lock(mu_); }
  consumer_cv_.notify_all();
}

// Under mu_ (released while waiting): kBoundedWait at most, then over the
// bound. Returns queued (room came), overfilled (it did not) or closed.
Inbox::Admitted Inbox::wait_bounded(std::unique_lock<std::mutex>& lock) {
  const bool room =
      producer_cv_.wait_for(lock, kBoundedWait, [&] { return closed_.load() || has_room(); });
  if (closed_.load()) return Admitted::closed;
  return room ? Admitted::queued : Admitted::overfilled;
}

// Under mu_ (released while waiting): until there is room, the sender's
// deadline passes (timed_out), or the consumer makes no progress for the
// sender's stall_timeout (stalled).
Inbox::Admitted Inbox::wait_for_room(std::unique_lock<std::mutex>& lock,
                                     const std::atomic<std::uint64_t>* progress) {
  using Clock = std::chrono::steady_clock;
  SendWait* const send = t_send_wait;
  auto room = [&] { return closed_.load() || has_room(); };
  const Clock::time_point started = Clock::now();
  const Clock::time_point deadline = send ? send->deadline_at(started) : Clock::time_point::max();
  const auto stall = send ? send->stall_timeout : std::chrono::milliseconds{0};
  std::uint64_t seen = progress ? progress->load(std::memory_order_relaxed) : 0;
  Clock::time_point moved = started;  // when the consumer last made progress
  std::uint64_t drains = drains_.load(std::memory_order_relaxed);
  Admitted outcome = Admitted::queued;
  while (!room()) {
    const Clock::time_point now = Clock::now();
    const std::uint64_t drains_now = drains_.load(std::memory_order_relaxed);
    if (drains != drains_now || (progress && progress->load(std::memory_order_relaxed) != seen)) {
      drains = drains_now;
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
  if (closed_.load()) return Admitted::closed;
  return outcome;
}

Inbox::Admitted Inbox::push(const EnvelopePtr& envelope, Wait wait,
                            const std::atomic<std::uint64_t>* progress) {
  if (closed_.load(std::memory_order_seq_cst)) return Admitted::closed;
  Admitted result = Admitted::queued;
  if (!has_room()) {
    switch (overflow_) {
      case Overflow::drop_newest:
        return Admitted::dropped_newest;
      case Overflow::drop_oldest: {
        std::lock_guard lock(consumer_mu_);
        // The consumer may have made room meanwhile.
        if (!has_room() && dequeue_locked(nullptr, 1) == 1) result = Admitted::dropped_oldest;
        break;
      }
      case Overflow::block: {
        if (wait == Wait::never) {
          result = Admitted::overfilled;
          break;
        }
        sender_waits_.fetch_add(1, std::memory_order_relaxed);
        std::unique_lock lock(mu_);
        producers_waiting_.fetch_add(1, std::memory_order_seq_cst);
        result = wait == Wait::bounded ? wait_bounded(lock) : wait_for_room(lock, progress);
        producers_waiting_.fetch_sub(1, std::memory_order_seq_cst);
        // Room was seen: admitted, even if another producer took that room
        // first (the bound is passed by at most one per racing producer).
        if (result != Admitted::queued && result != Admitted::overfilled) return result;
        break;
      }
    }
  }
  EnvelopePtr copy = envelope;
  enqueue(copy.release());
  const std::size_t depth = depth_now();
  if (depth > high_water_.load(std::memory_order_relaxed)) {
    high_water_.store(depth, std::memory_order_relaxed);
  }
  wake_consumer();
  return result;
}

std::size_t Inbox::take_all(std::vector<EnvelopePtr>& out) {
  std::size_t n;
  {
    std::lock_guard lock(consumer_mu_);
    if (closed_.load(std::memory_order_seq_cst)) {
      // Queued by a producer that raced with close(): dropped, and counted.
      dropped_while_closed_.fetch_add(dequeue_locked(nullptr, static_cast<std::size_t>(-1)),
                                      std::memory_order_relaxed);
      return 0;
    }
    n = dequeue_locked(&out, static_cast<std::size_t>(-1));
    if (n == 0) return 0;
    drains_.store(drains_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  wake_producers();
  return n;
}

bool Inbox::wait_until_ready(std::chrono::steady_clock::time_point deadline) {
  // Spin for a moment before sleeping: a sleep and the wake-up that ends it
  // cost tens of microseconds on these machines, more than the gap between
  // the bursts of a busy producer.
  const auto spin_until = std::min(deadline, std::chrono::steady_clock::now() + kSpinBeforeSleep);
  for (unsigned i = 1;; ++i) {
    if (!empty()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() >= spin_until) break;
  }
  std::unique_lock lock(mu_);
  consumer_woken_.store(false, std::memory_order_seq_cst);
  consumers_waiting_.fetch_add(1, std::memory_order_seq_cst);
  consumer_cv_.wait_until(lock, deadline, [&] { return !empty() || closed_.load(); });
  consumers_waiting_.fetch_sub(1, std::memory_order_seq_cst);
  return !empty();
}

std::size_t Inbox::close() {
  std::size_t count;
  {
    std::lock_guard lock(consumer_mu_);
    closed_.store(true, std::memory_order_seq_cst);
    count = dequeue_locked(nullptr, static_cast<std::size_t>(-1));
  }
  { std::lock_guard lock(mu_); }
  producer_cv_.notify_all();
  consumer_cv_.notify_all();
  return count;
}

void Inbox::reopen() {
  std::lock_guard lock(consumer_mu_);
  dropped_while_closed_.fetch_add(dequeue_locked(nullptr, static_cast<std::size_t>(-1)),
                                  std::memory_order_relaxed);
  closed_.store(false, std::memory_order_seq_cst);
}

}  // namespace herald::internal
