// outgoing_buffer.hpp — OutgoingBuffer: the frames a ws:// client has encoded
// and not yet written, with the bound that makes senders wait.
//
// Senders on any thread append encoded frames (the `pending` part); the I/O
// thread takes everything that waits as one WebSocket message. What does not
// fit in one message (more than the hub takes at once) moves to the backlog,
// which the I/O thread writes piece by piece, in whole frames, while senders
// go on filling `pending`. Order is kept: the backlog is always older than
// `pending`.
//
// The bound (kMaxPendingBytes by default): a sender that finds `pending` full
// waits for the writer (wait_for_room) — except on the I/O thread, which
// never waits (it appends past the bound; the caller decides who may wait).
//
// Thread-safety: a monitor without its own mutex. The buffer is part of its
// owner's shared state: every call marked "(locked)" is made under the
// owner's mutex, and wait_for_room() releases that mutex while it waits. The
// backlog is the I/O thread's alone (calls marked "(I/O thread)"), and calls
// marked "(both)" need the mutex and the I/O thread. No Asio in here.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace herald::ws_transport {

// Sends waiting to be written, at most; past it a sender (not the I/O thread)
// waits for the writer.
inline constexpr std::size_t kMaxPendingBytes = 8u << 20;
// A buffer grown past this by a burst is given back once written.
inline constexpr std::size_t kKeepCapacity = 1u << 20;

// Empties a buffer that was written; one grown past kKeepCapacity is given
// back, a smaller one keeps its capacity for the next message.
void give_back(std::string& written);

class OutgoingBuffer {
 public:
  // Whether a frame (one encoded frame's bytes) is kept across a loss and
  // counted as a send: see keep_only() and count().
  using FramePredicate = bool (*)(std::string_view frame);

  explicit OutgoingBuffer(std::size_t max_pending_bytes = kMaxPendingBytes)
      : max_pending_bytes_(max_pending_bytes) {}
  OutgoingBuffer(const OutgoingBuffer&) = delete;
  OutgoingBuffer& operator=(const OutgoingBuffer&) = delete;

  // (locked) Whether a sender that may wait has to: `pending` is at its bound.
  bool full() const { return pending_.size() >= max_pending_bytes_; }
  bool pending_empty() const { return pending_.empty(); }

  // (locked) Appends one frame: `encode(std::string&)` appends its bytes.
  template <class Encode>
  void append(Encode&& encode) {
    encode(pending_);
    ends_.push_back(pending_.size());
  }

  // (locked) Waits, releasing `lock`, until there is room or `give_up()` is
  // true (checked under the lock whenever the waiters are released).
  template <class GiveUp>
  void wait_for_room(std::unique_lock<std::mutex>& lock, GiveUp give_up) {
    ++waiters_;
    room_.wait(lock, [&] { return give_up() || !full(); });
    --waiters_;
  }
  // (locked) Waits, releasing `lock`, until `ready()` (checked under the
  // lock whenever the waiters are released) or `deadline`; false on the
  // deadline.
  template <class Ready>
  bool wait_until(std::unique_lock<std::mutex>& lock,
                  std::chrono::steady_clock::time_point deadline, Ready ready) {
    ++waiters_;
    const bool got = room_.wait_until(lock, deadline, ready);
    --waiters_;
    return got;
  }
  // (any thread, lock not needed) Wakes every waiting sender: to look at
  // room, or at whatever makes it give up.
  void release_waiters() { room_.notify_all(); }

  // (both) Moves what waits into `out` (empty, or a buffer kept from the
  // last write) when it fits in one message of `message_limit` bytes, else
  // into the backlog. True when senders wait for the room this made: call
  // release_waiters() after unlocking.
  bool take_pending(std::string& out, std::size_t message_limit);

  // (I/O thread) The backlog: frames taken that need more than one message.
  bool backlog_empty() const { return backlog_.empty(); }
  // Moves the next piece of the backlog into `out`: as many whole frames as
  // fit in `message_limit` bytes — at least one (a frame over the limit goes
  // alone, and the hub refuses it).
  void take_from_backlog(std::string& out, std::size_t message_limit);

  // (both) The frames not yet written (the backlog's rest, then pending)
  // for which `keep` holds.
  std::uint64_t count(FramePredicate keep) const;
  // (both) Drops every frame not yet written for which `keep` does not hold;
  // the others stay in order and go out first once written again.
  void keep_only(FramePredicate keep);
  // (both) Drops everything not yet written.
  void clear();

  // Bytes held by the buffers (capacity), for tests of give-back.
  std::size_t retained_bytes() const { return pending_.capacity() + backlog_.capacity(); }

 private:
  void clear_backlog();

  const std::size_t max_pending_bytes_;
  std::condition_variable room_;
  int waiters_ = 0;                // senders waiting for room in pending_
  std::string pending_;            // encoded frames waiting to be written
  std::vector<std::size_t> ends_;  // where each of them ends
  // Sends taken from pending_ that need more than one message: written from
  // here, one piece at a time (backlog_next_: the first frame not written).
  std::string backlog_;
  std::vector<std::size_t> backlog_ends_;
  std::size_t backlog_offset_ = 0;
  std::size_t backlog_next_ = 0;
};

}  // namespace herald::ws_transport
