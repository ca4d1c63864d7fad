// Connection, receiving: the dispatcher role (at most one thread runs this
// connection's listeners at a time; see connection.hpp), the inbox, and
// poll() / poll_for() for Dispatch::queued.
#include "herald/internal/connection.hpp"
#include "herald/internal/thread_role.hpp"

namespace herald::internal {

bool Connection::try_become_dispatcher() noexcept {
  std::thread::id expected{};
  return dispatcher_.compare_exchange_strong(expected, std::this_thread::get_id(),
                                             std::memory_order_seq_cst);
}

Inbox::Wait Connection::wait_policy() const noexcept {
  const auto self = std::this_thread::get_id();
  if (!may_wait() || poller_.load(std::memory_order_relaxed) == self ||
      dispatcher_.load(std::memory_order_relaxed) == self) {
    return Inbox::Wait::never;
  }
  // A thread that polls some queued connection may be what another inbox's
  // consumer waits for: it waits a little, then overfills, never forever.
  return t_polls_queued ? Inbox::Wait::bounded : Inbox::Wait::unbounded;
}

void Connection::deliver(const EnvelopePtr& envelope) {
  if (state() == State::closed) {
    bump(dropped_closed_);
    return;
  }
  const bool immediate = options_.dispatch == Dispatch::immediate;
  if (immediate && inbox_.empty() && try_become_dispatcher()) {
    dispatch_one(*envelope);
    drain_and_release();
    return;
  }
  switch (inbox_.push(envelope, wait_policy(), &delivered_)) {
    case Inbox::Admitted::queued:
      break;
    case Inbox::Admitted::overfilled:
      bump(inbox_overfilled_);
      break;
    case Inbox::Admitted::dropped_newest:
    case Inbox::Admitted::dropped_oldest:
      bump(dropped_inbox_full_);
      break;
    case Inbox::Admitted::closed:
      bump(dropped_closed_);
      return;
    case Inbox::Admitted::timed_out:  // the sender is told (kDeadlineExceeded)
      bump(dropped_inbox_full_);
      return;
    case Inbox::Admitted::stalled:
      bump(dropped_inbox_full_);
      cut_stalled();
      return;
  }
  if (immediate && try_become_dispatcher()) drain_and_release();
}

void Connection::dispatch_one(const Envelope& envelope) {
  if (state_.load(std::memory_order_seq_cst) == State::closed) {
    bump(dropped_closed_);
    return;
  }
  ListenerRegistry::DispatchCounts counts;
  {
    DispatchScope scope;
    counts = registry_.dispatch(envelope.payload(),
                                HashedName{envelope.event(), envelope.event_hash()}, error_sink_);
  }
  // Only the dispatcher writes these: no read-modify-write needed.
  delivered_.store(delivered_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  listener_calls_.store(listener_calls_.load(std::memory_order_relaxed) + counts.calls,
                        std::memory_order_relaxed);
  if (counts.errors > 0) bump(listener_errors_, counts.errors);
}

std::size_t Connection::run_batch() {
  std::size_t n = inbox_.empty() ? 0 : inbox_.take_all(batch_);  // empty: no lock taken
  // A transport that stopped reading at a full inbox reads again once there
  // is room. (Told by a flag, not by the size of the batch: producers do not
  // wait for a batch being taken, so the batch that made room may be smaller
  // than the inbox's capacity.)
  if (input_paused_.load(std::memory_order_seq_cst) && inbox_.depth() < options_.inbox_capacity &&
      input_paused_.exchange(false, std::memory_order_seq_cst) && transport_) {
    transport_->resume_input();
  }
  if (n == 0) return 0;
  for (const EnvelopePtr& envelope : batch_) dispatch_one(*envelope);
  batch_.clear();
  return n;
}

void Connection::drain_and_release() {
  for (;;) {
    while (run_batch() > 0) {
    }
    dispatcher_.store(std::thread::id{}, std::memory_order_seq_cst);
    // Something queued by a thread that found us dispatching? Take it back.
    if (inbox_.empty() || !try_become_dispatcher()) break;
  }
  reattach_if_cut();
}

std::size_t Connection::poll() {
  // A listener may destroy this connection's Realtime: stay alive until done.
  std::shared_ptr<Connection> keep = shared_from_this();
  poller_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  t_polls_queued = t_polls_queued || options_.dispatch == Dispatch::queued;
  if (!try_become_dispatcher()) return 0;
  std::size_t n = run_batch();
  dispatcher_.store(std::thread::id{}, std::memory_order_seq_cst);
  if (options_.dispatch == Dispatch::immediate && !inbox_.empty() && try_become_dispatcher()) {
    drain_and_release();
  }
  reattach_if_cut();
  return n;
}

std::size_t Connection::poll_for(std::chrono::milliseconds max_wait) {
  std::shared_ptr<Connection> keep = shared_from_this();
  poller_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  t_polls_queued = t_polls_queued || options_.dispatch == Dispatch::queued;
  if (inbox_.empty()) inbox_.wait_until_ready(std::chrono::steady_clock::now() + max_wait);
  return poll();
}

}  // namespace herald::internal
