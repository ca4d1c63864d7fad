// herald/options.hpp — per-connection Options and the Stats a connection reports.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "herald/limits.hpp"

namespace herald {

// Where listeners run.
//  immediate: on the delivering thread (for mem://, the sender's thread,
//             before send() returns — unless this connection is already
//             dispatching on another thread, see docs/dispatch.md).
//  queued:    the envelope waits in this connection's bounded inbox until the
//             owning thread calls poll() / poll_for().
enum class Dispatch { immediate, queued };

// What happens when a connection's inbox is full.
//  block:       the sender waits for room (loses nothing). A thread that is
//               itself running listeners, or that polls this inbox, never
//               waits: its message is admitted past the bound and counted as
//               `inbox_overfilled`, so no cycle of connections can deadlock.
//  drop_oldest: the oldest waiting message is dropped (counted).
//  drop_newest: the arriving message is dropped (counted).
enum class Overflow { block, drop_oldest, drop_newest };

struct Options {
  bool echo_messages = true;       // messages from this connection come back to it
  bool auto_join_channels = true;  // rejoin joined channels after a reconnect / open()
  bool buffer_messages = true;     // while disconnected: buffer (bounded) instead of drop
  std::size_t max_buffered_messages = limits::kDefaultMaxBufferedMessages;
  std::string session = {};  // session token; empty = no session
  Dispatch dispatch = Dispatch::immediate;
  std::size_t inbox_capacity = limits::kDefaultInboxCapacity;  // messages waiting for dispatch
  Overflow overflow = Overflow::block;
  std::chrono::milliseconds reconnection_delay{1000};
  std::chrono::milliseconds timeout{20000};  // connect / request timeout
  // wss://: the PEM file of the CA certificates the hub's certificate must
  // chain to; empty = the system's trust store. The certificate must also
  // name the URL's host. One that does not verify is a refusal (like a bad
  // token): never connected, on_error says why with kUnauthenticated, no retry.
  std::string tls_ca_file = {};
};

// Counters of one connection. Each is a snapshot; they only grow, except the
// gauges (inbox_depth, buffered).
struct Stats {
  std::uint64_t sent = 0;             // send/broadcast calls accepted (handed on or buffered)
  std::uint64_t delivered = 0;        // envelopes dispatched to this connection's listeners
  std::uint64_t listener_calls = 0;   // listener invocations (any-listeners included)
  std::uint64_t listener_errors = 0;  // listeners that threw (reported via on_error)
  std::uint64_t rejected = 0;         // calls refused: bad name, too large, unauthenticated, closed

  // Dropped, by reason.
  std::uint64_t dropped_unavailable = 0;  // sent while disconnected with buffer_messages=false,
                                          // or accepted but unsent when the far side refused us
  std::uint64_t dropped_buffer_full = 0;  // sent while disconnected, buffer at its bound
  std::uint64_t dropped_inbox_full = 0;   // arriving here, inbox full (drop_oldest/drop_newest)
  std::uint64_t dropped_closed = 0;       // arriving here after close()
  std::uint64_t dropped_malformed = 0;    // arriving here malformed from the network (dropped)
  std::uint64_t lost_in_transit = 0;      // gaps in a sender's sequence (network drops, outages)

  std::uint64_t inbox_overfilled = 0;  // admitted past inbox_capacity to avoid a deadlock
  std::uint64_t sender_waits = 0;      // times a sender waited for room in this inbox

  // Back-pressure from receivers with Overflow::block (docs/flow-control.md).
  // As a sender: send/broadcast calls that waited for room (a full receiver's
  // inbox, or the transport's own bound on the way to it), the time they
  // waited, and those that gave up after `timeout` (kDeadlineExceeded).
  std::uint64_t sends_held = 0;
  std::uint64_t send_held_ns = 0;
  std::uint64_t send_timeouts = 0;
  // As a receiver: times this connection drained nothing for the stall
  // timeout while a sender waited on it, and was cut as a slow consumer.
  std::uint64_t cut_slow_consumer = 0;

  std::size_t inbox_depth = 0;       // messages waiting in the inbox now
  std::size_t inbox_high_water = 0;  // deepest the inbox has been
  std::size_t buffered = 0;          // messages buffered while disconnected, now
};

}  // namespace herald
