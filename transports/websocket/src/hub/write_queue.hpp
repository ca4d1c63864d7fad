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
// Thread-safety: every call may be made from any thread (one mutex), except
// take_message(), which only the writer calls. No Asio in here.
#pragma once

#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

#include "herald/internal/envelope.hpp"

namespace herald::ws_hub {

// One frame waiting to be written.
struct Outgoing {
  internal::EnvelopePtr envelope;  // a message frame, or
  std::string bytes;               // an encoded control frame
  std::size_t size = 0;            // what it counts against the write queue's bound
};

class WriteQueue {
 public:
  struct Limits {
    std::size_t max_frames = 0;
    std::size_t max_bytes = 0;
  };
  explicit WriteQueue(Limits limits) : limits_(limits) {}

  struct Pushed {
    bool start_writer = false;  // the caller starts the writer (it owns the write)
    std::size_t cut = 0;        // > 0: over the bound; frames dropped (the new one included)
    std::size_t depth = 0;      // frames waiting after the push (for a high-water gauge)
  };
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
  const Limits limits_;
  mutable std::mutex mu_;
  std::vector<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool write_ready_ = false;     // hello done: writes may start
  bool dead_ = false;            // closing: nothing more is queued
  std::vector<Outgoing> batch_;  // the writer's
};

}  // namespace herald::ws_hub
