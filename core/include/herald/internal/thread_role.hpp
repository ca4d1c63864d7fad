// herald/internal/thread_role.hpp — what the current thread is doing, and the
// one rule that follows from it.
//
// The rule: a thread that is running listeners, or that is a network
// transport's own I/O thread, never waits for anything — not for room in an
// inbox, not for a connection, not for a reply, not for the membership role —
// because whatever it would wait for may be waiting for it. Such a thread
// records what it wants done (a join, a leave, an envelope past the inbox's
// bound) and whoever can apply it does, in order.
//
// The flags below are the only inputs to that rule; every wait in the core
// asks may_wait() (or, for inboxes, Connection::wait_policy(), which adds the
// per-connection roles: the poller and the dispatcher of that connection).
#pragma once

#include <chrono>
#include <cstdint>

namespace herald::internal {

// >0 while this thread runs listeners (of any connection); nested dispatches
// count up.
inline thread_local int t_dispatch_depth = 0;

// True on a network transport's own I/O thread (the transport sets it once,
// when the thread starts).
inline thread_local bool t_on_transport_thread = false;

// True once this thread has polled a Dispatch::queued connection: it may be
// the consumer some other inbox's producer waits for, so its own waits for
// room are bounded (Inbox::Wait::bounded), never forever.
inline thread_local bool t_polls_queued = false;

// The rule above.
inline bool may_wait() noexcept { return t_dispatch_depth == 0 && !t_on_transport_thread; }

// Back-pressure (Overflow::block): what one send / broadcast on this thread
// may wait for room at its receivers, and what its waits came to. Set by
// Connection::publish for the length of the call (SendWaitScope); a transport
// that routes on the sender's thread (mem://) adds its hub's stall_timeout.
struct SendWait {
  // Whether the sending thread may wait at all on its way out, by the rule
  // above and its own connection's roles (Connection::wait_policy): never,
  // a little (then it goes past the bound), or up to the deadline.
  enum class Limit { never, bounded, unbounded };
  Limit limit = Limit::unbounded;
  // Options::timeout: past it the send gives up on a full receiver (that
  // receiver misses the message, counted there) and returns
  // kDeadlineExceeded. The deadline is set by the first wait (deadline_at),
  // so a send that never waits never reads the clock.
  std::chrono::milliseconds timeout = std::chrono::milliseconds::max();
  std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max();
  bool deadline_set = false;
  std::chrono::steady_clock::time_point deadline_at(std::chrono::steady_clock::time_point now) {
    if (!deadline_set) {
      deadline_set = true;
      if (timeout != std::chrono::milliseconds::max()) deadline = now + timeout;
    }
    return deadline;
  }
  // A receiver that drains nothing for this long while the send waits on it
  // is cut as a slow consumer (HubOptions::stall_timeout); zero: never.
  std::chrono::milliseconds stall_timeout{0};
  bool timed_out = false;       // some receiver stayed full past the deadline
  std::uint64_t waits = 0;      // receivers this send waited for
  std::uint64_t waited_ns = 0;  // time it spent waiting
};
inline thread_local SendWait* t_send_wait = nullptr;
// What a SendWait::Limit::bounded sender waits at most on its way out.
inline constexpr std::chrono::milliseconds kBoundedSendWait{50};

class SendWaitScope {
 public:
  explicit SendWaitScope(SendWait& wait) noexcept : previous_(t_send_wait) { t_send_wait = &wait; }
  ~SendWaitScope() { t_send_wait = previous_; }
  SendWaitScope(const SendWaitScope&) = delete;
  SendWaitScope& operator=(const SendWaitScope&) = delete;

 private:
  SendWait* previous_;
};

// Marks this thread as running listeners for the lifetime of the object.
class DispatchScope {
 public:
  DispatchScope() noexcept { ++t_dispatch_depth; }
  ~DispatchScope() { --t_dispatch_depth; }
  DispatchScope(const DispatchScope&) = delete;
  DispatchScope& operator=(const DispatchScope&) = delete;
};

}  // namespace herald::internal
