// write_queue.hpp — WriteQueue: what waits to be written to one hub client,
// bounded, and coalesced into one WebSocket message per write.
//
// Routing threads (the Hub delivering to the connection) and the connection's
// strand push frames; the strand writes. One write is in flight at a time
// (the caller that is told to start the writer owns it until take_message()
// finds nothing). Everything waiting goes out as one message, within a size
// a client must accept; the rest stays, in order, for the next write.
//
// The bound: past `max_frames` frames or `max_bytes` bytes waiting, the
// connection is a slow consumer — its queue is dropped (counted) and nothing
// more is taken, so that nobody else waits for it. A `force`d push (a last
// word before closing: an error saying why) passes the bound.
//
// The hub-wide budget (QueueBudget, shared by every connection's queue): a
// push that would take all the queues together past it cuts this queue if
// it holds more than its fair share (the budget over the open queues) — the
// biggest consumers go first, and one within its share is never cut for
// another's backlog. So the queues together never hold much more than the
// budget (each within its share, plus one frame).
//
// Thread-safety: every call may be made from any thread (one mutex), except
// take_message(), which only the writer calls. No Asio in here.
#pragma once

#include <atomic>
#include <cstddef>
#include <limits>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "herald/internal/envelope.hpp"

namespace herald::ws_hub {

// One frame waiting to be written.
struct Outgoing {
  internal::EnvelopePtr envelope;  // a message frame, or
  std::string bytes;               // an encoded control frame
  std::size_t size = 0;            // what it counts against the write queue's bound
};

// What all the write queues of a gateway hold together (bytes as counted
// against each queue's bound), and how many are open.
struct QueueBudget {
  std::size_t max_bytes = std::numeric_limits<std::size_t>::max();
  std::atomic<std::size_t> bytes{0};
  std::atomic<std::size_t> open_queues{0};
};

class WriteQueue {
 public:
  struct Limits {
    std::size_t max_frames = 0;
    std::size_t max_bytes = 0;
    QueueBudget* budget = nullptr;  // the hub-wide one; outlives the queue
  };
  explicit WriteQueue(Limits limits) : limits_(limits) {}
  ~WriteQueue();
  WriteQueue(const WriteQueue&) = delete;
  WriteQueue& operator=(const WriteQueue&) = delete;

  struct Pushed {
    bool start_writer = false;  // the caller starts the writer (it owns the write)
    std::size_t cut = 0;        // > 0: over the bound; frames dropped (the new one included)
    bool over_budget = false;   // the cut was for the hub-wide budget (else this queue's bound)
    std::size_t depth = 0;      // frames waiting after the push (for a high-water gauge)
    std::size_t bytes = 0;      // bytes waiting after the push
  };
  // Frames and bytes waiting now.
  std::pair<std::size_t, std::size_t> load() const;
  // Queues `out`, counting `bytes` against the bound. Nothing happens once
  // closed (after a cut, close() or discard()).
  Pushed push(Outgoing out, std::size_t bytes, bool force = false);
  // Queues `out` outside the bound, before writing may begin (the welcome,
  // ahead of anything routed to the connection once attached).
  void push_uncounted(Outgoing out);
  // Drops what waits, uncounted (a hello that was refused).
  void clear();

  // Writing may begin (hello done). True: the caller starts the writer.
  bool open();
  // Closing: nothing more is taken, what waits still goes out, and writing
  // may begin. True: the writer was idle, the caller starts it.
  bool close();
  // The connection is over: nothing more is taken, what waits is dropped.
  // Returns the messages among them (control frames are not counted).
  std::size_t discard();
  // The write in flight failed: no writer, nothing more taken.
  void write_failed();
  // Whether frames wait (came in while a write was in flight).
  bool has_more() const;

  // The writer: encodes what waits into `out` (cleared first) as one
  // message of at most `message_limit` bytes — at least one frame; the rest
  // goes back to the front of the queue. Returns the frames taken; 0: none
  // waited, and the writer is idle again.
  std::size_t take_message(std::string& out, std::size_t message_limit);
  // The writer, once the connection is over: gives back the memory it kept
  // for the next message.
  void release_scratch() { std::vector<Outgoing>().swap(batch_); }

 private:
  // Under mu_: queued_bytes_ becomes `bytes`, the budget following.
  void set_queued_locked(std::size_t bytes);
  // Under mu_: nothing more is queued (the queue leaves the open ones).
  void kill_locked();
  bool over_budget_locked(std::size_t bytes) const;

  const Limits limits_;
  mutable std::mutex mu_;
  std::vector<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  bool counted_open_ = false;  // in the budget's open_queues
  bool writing_ = false;
  bool write_ready_ = false;     // hello done: writes may start
  bool dead_ = false;            // closing: nothing more is queued
  std::vector<Outgoing> batch_;  // the writer's
};

}  // namespace herald::ws_hub
