// herald/internal/offline_buffer.hpp — OfflineBuffer: what a connection sends
// while it is not connected, kept in order until it is.
//
// The buffering policy in one place: with Options::buffer_messages off nothing
// is kept (kUnavailable); otherwise up to Options::max_buffered_messages
// envelopes wait, and past that bound a send fails with kResourceExhausted.
// The connection counts each refusal by its code (Stats::dropped_unavailable,
// Stats::dropped_buffer_full) and flushes the buffer, oldest first, once the
// transport reports it is connected again.
//
// Thread-safety: none of its own — the connection uses it under its lock —
// except size_now(), a gauge readable from any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <deque>
#include <string_view>

#include "absl/status/status.h"
#include "herald/internal/envelope.hpp"

namespace herald::internal {

class OfflineBuffer {
 public:
  OfflineBuffer(bool enabled, std::size_t capacity) : enabled_(enabled), capacity_(capacity) {}

  // Keeps `envelope` (OK), or says why not: kUnavailable when buffering is
  // off, kResourceExhausted when the buffer is at its bound. `event` names the
  // message in the error.
  absl::Status push(EnvelopePtr envelope, std::string_view event);
  // The oldest envelope, removed; null when empty.
  EnvelopePtr pop();
  // Drops everything; returns how many envelopes that was.
  std::size_t clear();

  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }
  std::size_t size_now() const noexcept { return size_now_.load(std::memory_order_relaxed); }

 private:
  void publish_size() noexcept { size_now_.store(items_.size(), std::memory_order_relaxed); }

  const bool enabled_;
  const std::size_t capacity_;
  std::deque<EnvelopePtr> items_;
  std::atomic<std::size_t> size_now_{0};
};

}  // namespace herald::internal
