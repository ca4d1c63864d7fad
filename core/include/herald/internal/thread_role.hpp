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

// Marks this thread as running listeners for the lifetime of the object.
class DispatchScope {
 public:
  DispatchScope() noexcept { ++t_dispatch_depth; }
  ~DispatchScope() { --t_dispatch_depth; }
  DispatchScope(const DispatchScope&) = delete;
  DispatchScope& operator=(const DispatchScope&) = delete;
};

}  // namespace herald::internal
