// herald/network/io_thread.hpp — IoThread: the lifecycle of a network
// transport's one I/O thread, for Transport::open() / close() called from any
// thread — the I/O thread itself included (a listener or handler running on
// it).
//
// The transport supplies the thread's work (`body`) and a way to make a body
// that waits (in poll(), io_context::run(), ...) look at its flags soon
// (`wake`); IoThread decides when a thread starts, when it is joined, and
// when it is left to finish on its own:
//
//   start(owner)  open(). From a thread other than the I/O thread: if no
//                 thread runs, starts one (first joining one that is ending,
//                 after stop() or after end_from_io_thread()); a running one
//                 is left as it is. Returns without waiting for the body to
//                 connect. From the I/O thread: never waits; clears the stop
//                 and asks for a restart (take_restart() becomes true) — the
//                 body starts over (new sockets, a new session) once the
//                 listener that called it has returned. `owner` is what the
//                 body needs alive: the thread holds it while it runs, so a
//                 thread may outlive its transport (see stop()).
//   stop(detach)  close(). Asks the body to end (stop_requested() becomes
//                 true, a pending restart is dropped), then calls `wake`.
//                 From another thread: returns once the thread has ended (it
//                 is joined here), so the body's flush on close has happened
//                 — and if an open() came while it waited (see below), once
//                 it has started a new thread for it. From the I/O thread:
//                 never waits (it cannot join itself); the thread ends once
//                 the listener has returned. With `detach` (the transport is
//                 being destroyed from its own thread) the thread is
//                 detached and finishes on its own, kept alive by `owner` —
//                 unless another thread is joining it right now, which then
//                 does.
//
// Joined or detached: a thread that ends (stop(), or by itself after a
// listener's close() or end_from_io_thread()) is joined by the next start()
// or stop() on another thread, or detached by stop(/*detach=*/true) on the
// I/O thread. The owner calls stop(/*detach=*/true) before it goes away (a
// std::thread neither joined nor detached would end the program).
//
// When calls race, the one that came last wins, and none waits forever:
//  - Threads other than the I/O thread start and join it one at a time
//    (lifecycle_mu_); the I/O thread only sets flags, so the two never wait
//    for each other.
//  - A close() on another thread undoes an open() that came before it, and a
//    listener's open() that comes while that close() waits to join is done
//    after the join (by the closer).
//  - An open() on another thread while a close() waits to join defers to it
//    the same way: it is done by the closer after the join, and returns at
//    once. An open() already joining an ending thread when a close() comes
//    does not start a new one (the close() came last: it would join that
//    new thread forever).
//
// The body: runs once per thread, on it. It keeps going while keep_running()
// (no stop, or a restart asked for after one); take_restart() tells it that
// a listener's open() asked it to start over. Two shapes:
//
//   while (io.keep_running()) {            do {
//     if (io.take_restart()) reconnect();    session();  // until stopped
//     wait_and_handle_one_round();         } while (io.take_restart() &&
//   }                                                   !io.stop_requested());
//   flush_and_close();
//
// A body that must end by itself (the far side refused the session: no
// retry) calls end_from_io_thread(); a later open() starts a new thread.
//
// `wake` is called from stop() on the calling thread (the I/O thread
// included), after stop_requested() became true, and must not wait for the
// I/O thread. `body` and `wake` may capture the transport's object raw: the
// IoThread is a member of it, and `owner` keeps it alive.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

namespace herald::network {

class IoThread {
 public:
  IoThread(std::function<void()> body, std::function<void()> wake)
      : body_(std::move(body)), wake_(std::move(wake)) {}
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  void start(std::shared_ptr<void> owner) {
    {
      std::lock_guard flags(flags_mu_);
      owner_ = owner;
      if (stoppers_ > 0) {
        // A close() on another thread waits to join the thread: it came
        // first, so it restarts the thread after (unless another close()
        // comes meanwhile).
        reopen_after_stop_ = true;
        return;
      }
      if (on_io_thread()) {
        stop_ = false;
        restart_ = true;
        return;
      }
    }
    std::lock_guard lock(lifecycle_mu_);
    start_locked(std::move(owner));
  }

  void stop(bool detach_if_self) {
    const bool self = on_io_thread();
    {
      std::lock_guard flags(flags_mu_);
      stop_ = true;
      reopen_after_stop_ = false;  // an open() before this close() is undone
      if (self) {
        restart_ = false;
      } else {
        ++stoppers_;
      }
    }
    wake_();
    if (self) {
      if (detach_if_self && lifecycle_mu_.try_lock()) {
        if (thread_.joinable()) thread_.detach();
        lifecycle_mu_.unlock();
      }
      return;
    }
    std::lock_guard lock(lifecycle_mu_);
    if (thread_.joinable()) thread_.join();
    std::shared_ptr<void> reopen;
    {
      std::lock_guard flags(flags_mu_);
      if (--stoppers_ == 0 && std::exchange(reopen_after_stop_, false)) reopen = owner_.lock();
    }
    if (reopen) start_locked(std::move(reopen));
  }

  // True on the I/O thread, while its body runs.
  bool on_io_thread() const { return io_thread_id_.load() == std::this_thread::get_id(); }

  // For the body (and whoever waits on its behalf): close() was called, or
  // end_from_io_thread().
  bool stop_requested() const { return stop_.load(); }
  // For the body: keep going — not stopped, or restarted by a listener's
  // open() after a stop.
  bool keep_running() const { return !stop_.load() || restart_.load(); }
  // For the body: whether a listener's open() asked it to start over (once).
  bool take_restart() { return restart_.exchange(false); }

  // For the body, on the I/O thread: it ends by itself (no retry after a
  // refusal); a later open() starts the thread again. Unlike stop(), a
  // listener's open() that came before it still restarts the body.
  void end_from_io_thread() {
    std::lock_guard flags(flags_mu_);
    stop_ = true;
  }

 private:
  // Under lifecycle_mu_, on a thread other than the I/O thread.
  void start_locked(std::shared_ptr<void> owner) {
    const bool joined = thread_.joinable();
    if (joined) {
      {
        std::lock_guard flags(flags_mu_);
        if (!stop_.load()) return;  // running
        ++stoppers_;                // (a listener's open() meanwhile is ours to do)
      }
      thread_.join();  // ended (by itself) or ending
    }
    {
      std::lock_guard flags(flags_mu_);
      if (joined) --stoppers_;
      // A close() on another thread came meanwhile and waits to join: it wins
      // (and redoes a listener's open() that came after it).
      if (stoppers_ > 0) return;
      reopen_after_stop_ = false;
      stop_ = false;
      restart_ = false;
    }
    thread_ = std::thread([this, owner = std::move(owner)] {
      io_thread_id_.store(std::this_thread::get_id());
      body_();
      io_thread_id_.store(std::thread::id{});
    });
  }

  const std::function<void()> body_;
  const std::function<void()> wake_;

  std::mutex lifecycle_mu_;  // starts and joins, by threads other than the I/O thread
  std::thread thread_;       // under lifecycle_mu_
  std::mutex flags_mu_;      // stop_ / restart_ changes, and what follows
  int stoppers_ = 0;         // threads about to join the I/O thread
  bool reopen_after_stop_ = false;
  std::weak_ptr<void> owner_;  // for a reopen done by stop()
  std::atomic<std::thread::id> io_thread_id_{};
  std::atomic<bool> stop_{false};
  std::atomic<bool> restart_{false};
};

}  // namespace herald::network
