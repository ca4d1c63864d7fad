// WsSession: back-pressure (docs/PROTOCOL.md, "Flow control").
//
// A receiver that announced a credit window in its hello (herald's client
// with Overflow::block) is full when it has that many messages outstanding
// (routed to it, not yet acknowledged by a credit frame [8, taken]), or when
// its write queue is past a sixteenth of its bound. Other clients are never
// full: nobody is held for them (past their bound they are cut, 4002). A publisher whose send /
// broadcast was delivered to a full receiver is held: it is told [20, true], and the frames it
// sends meanwhile are read but wait, in order (credits excepted: they are applied at once, so two
// clients that hold each other never deadlock on their credits); past a bound of waiting frames (a
// client that ignores [20, true]) it is not read at all — TCP holds it. Once every receiver holding
// it has drained below half its marks it is told [20, false] and its waiting frames run. A receiver
// that holds publishers and takes nothing (no credit, no write completes) for the Hub's
// stall_timeout is cut: close 4002.
#include <algorithm>

#include "herald/internal/text.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

using internal::cat;
using Clock = std::chrono::steady_clock;

namespace {

// What a publisher's frames may wait while it is held, at most, beyond one
// WebSocket message; past it the publisher is not read until released.
constexpr std::size_t kMaxDeferredBytes = 1u << 20;

bool is_credit(std::string_view value) {
  return value.size() >= 2 && static_cast<unsigned char>(value[0]) == 0x92 &&
         static_cast<unsigned char>(value[1]) == static_cast<unsigned char>(ws_wire::Op::credit);
}

}  // namespace

// ------------------------------------------------------------ as a receiver

bool WsSession::full_after(const WriteQueue::Pushed& pushed) const {
  return full(pushed.depth, pushed.bytes);
}

// With `frames` / `bytes` in its write queue.
bool WsSession::full(std::size_t frames, std::size_t bytes) const {
  // It drops when full, or says nothing of flow: nobody waits for it (past
  // its write queue's bound it is cut, as a slow consumer).
  if (window_ == 0 || window_ == ws_wire::kNoWindow) return false;
  const WsGatewayOptions& o = shared_->options;
  if (frames >= o.max_write_queue_frames / 16 || bytes >= o.max_write_queue_bytes / 16) return true;
  const std::uint64_t routed = routed_.load(std::memory_order_relaxed);
  const std::uint64_t taken = taken_.load(std::memory_order_relaxed);
  return routed > taken && routed - taken >= window_;
}

bool WsSession::drained() const {
  const WsGatewayOptions& o = shared_->options;
  const auto [frames, bytes] = queue_.load();
  if (frames > o.max_write_queue_frames / 32 || bytes > o.max_write_queue_bytes / 32) return false;
  if (window_ == 0 || window_ == ws_wire::kNoWindow) return true;
  const std::uint64_t routed = routed_.load(std::memory_order_relaxed);
  const std::uint64_t taken = taken_.load(std::memory_order_seq_cst);
  return routed <= taken || routed - taken <= window_ / 2;
}

// Any thread (the publisher's strand). False: not full any more, or ended.
bool WsSession::hold(const std::shared_ptr<WsSession>& publisher) {
  {
    std::lock_guard lock(flow_mu_);
    if (!attached_.load() || drained()) return false;
    holding_.push_back(publisher);
    holding_count_.store(holding_.size(), std::memory_order_seq_cst);
    if (!stall_watched_) {
      stall_watched_ = true;
      net::post(ws_.get_executor(), [self = shared_from_this()] {
        self->progress_seen_ = self->writes_done_.load() + self->taken_.load();
        self->progress_at_ = Clock::now();
        self->watch_stall();
      });
    }
  }
  // A credit or a write may have drained it meanwhile and, finding nobody
  // held yet, released nobody: look again now that this one is counted (the
  // other side stores its progress, then loads holding_count_; this side
  // stores holding_count_, then loads the progress — one of them sees it).
  if (drained()) release_held();
  return true;
}

// A local sender's thread, before it queues a message: while this receiver
// is full, wait — up to the sender's deadline (then the message is queued
// past the mark; the write queue's own bound still holds), or until the
// receiver took nothing for the Hub's stall_timeout (then it is cut, 4002).
void WsSession::wait_for_room() {
  internal::SendWait& send = *internal::t_send_wait;
  const auto [frames, bytes] = queue_.load();
  if (!attached_.load() || !full(frames, bytes)) return;
  const std::chrono::milliseconds stall = shared_->hub->options().stall_timeout;
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = send.deadline_at(start);
  auto progress = [&] {
    return writes_done_.load(std::memory_order_relaxed) + taken_.load(std::memory_order_relaxed);
  };
  std::uint64_t seen = progress();
  Clock::time_point moved = start;
  bool stalled = false;
  {
    std::unique_lock lock(flow_mu_);
    while (attached_.load() && !drained()) {
      const Clock::time_point now = Clock::now();
      if (progress() != seen) {
        seen = progress();
        moved = now;
      }
      if (now >= deadline) break;  // it goes past the mark (queued)
      if (stall.count() > 0 && now - moved >= stall) {
        stalled = true;
        break;
      }
      flow_cv_.wait_until(lock, std::min(deadline, now + std::chrono::milliseconds(50)));
    }
  }
  ++send.waits;
  send.waited_ns += static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
  if (!stalled) return;
  counters().closed_stalled.fetch_add(1, std::memory_order_relaxed);
  counters().closed_slow_consumer.fetch_add(1, std::memory_order_relaxed);
  if (const std::size_t dropped = queue_.discard(); dropped > 0) {
    counters().dropped_slow_consumer.fetch_add(dropped, std::memory_order_relaxed);
  }
  net::post(ws_.get_executor(), [self = shared_from_this(), stall] {
    self->cut_for_stall(cat("slow consumer: took nothing for ", stall.count(),
                            " ms (the hub's stall_timeout) while a sender waited"));
  });
}

// Strand: close 4002. Its reading waits while its inbox is full, so it reads
// the close frame only when its program drains again: it gets up to the idle
// timeout for that (its queue is gone: it costs a socket meanwhile).
void WsSession::cut_for_stall(std::string_view why) {
  close_patience_ = std::max(kHardCloseAfter, shared().options.idle_timeout);
  close_with(ws_wire::kCloseSlowConsumer, why);
}

// Any thread: lets every publisher it holds go on (it drained, or ended).
void WsSession::release_held() {
  flow_cv_.notify_all();  // a local sender waiting for room looks again
  if (holding_count_.load(std::memory_order_seq_cst) == 0) return;
  std::vector<std::weak_ptr<WsSession>> held;
  {
    std::lock_guard lock(flow_mu_);
    if (attached_.load() && !drained()) return;
    held.swap(holding_);
    holding_count_.store(0, std::memory_order_seq_cst);
  }
  flow_cv_.notify_all();
  for (const auto& weak : held) {
    if (auto p = weak.lock()) net::post(p->ws_.get_executor(), [p] { p->released(); });
  }
}

// Strand: a credit frame — the client took `taken` messages so far.
// Never more than was routed to it: a client that claims more cannot make
// itself look drained (nor, as progress, put off its stall cut).
void WsSession::credit(std::uint64_t taken) {
  taken = std::min(taken, routed_.load(std::memory_order_relaxed));
  if (taken > taken_.load(std::memory_order_relaxed)) {
    taken_.store(taken, std::memory_order_seq_cst);
  }
  release_held();
}

// Strand, while it holds publishers: cut after stall_timeout without progress.
void WsSession::watch_stall() {
  const std::chrono::milliseconds stall = shared().hub->options().stall_timeout;
  {
    std::lock_guard lock(flow_mu_);
    if (holding_.empty() || phase_ == Phase::closing || stall.count() == 0) {
      stall_watched_ = false;
      return;
    }
  }
  const Clock::time_point now = Clock::now();
  const std::uint64_t progress =
      writes_done_.load(std::memory_order_relaxed) + taken_.load(std::memory_order_relaxed);
  if (progress != progress_seen_) {
    progress_seen_ = progress;
    progress_at_ = now;
  } else if (now - progress_at_ >= stall) {
    counters().closed_stalled.fetch_add(1, std::memory_order_relaxed);
    counters().closed_slow_consumer.fetch_add(1, std::memory_order_relaxed);
    if (const std::size_t dropped = queue_.discard(); dropped > 0) {
      counters().dropped_slow_consumer.fetch_add(dropped, std::memory_order_relaxed);
    }
    {
      std::lock_guard lock(flow_mu_);
      stall_watched_ = false;
    }
    return cut_for_stall(cat("slow consumer: took nothing for ", stall.count(),
                             " ms (the hub's stall_timeout) while it held senders back"));
  }
  stall_timer_.expires_after(std::max(std::chrono::milliseconds(5), stall / 8));
  stall_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) {
      std::lock_guard lock(self->flow_mu_);
      self->stall_watched_ = false;
      return;
    }
    self->watch_stall();
  });
}

// ------------------------------------------------------------ as a publisher

// Strand, after routing a send / broadcast that reached full receivers.
void WsSession::held_back(const std::vector<std::shared_ptr<WsSession>>& full) {
  const int before = held_by_;
  for (const auto& r : full) {
    if (r->hold(shared_from_this())) ++held_by_;
  }
  if (before > 0 || held_by_ == 0) return;
  held_since_ = Clock::now();
  counters().publishers_held.fetch_add(1, std::memory_order_relaxed);
  std::string out;
  ws_wire::append_flow(out, true);
  send_control(std::move(out));
}

// Strand: one receiver holding it let go.
void WsSession::released() {
  if (held_by_ == 0) return;
  if (--held_by_ > 0) return;
  counters().held_ns.fetch_add(
      static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - held_since_).count()),
      std::memory_order_relaxed);
  if (phase_ == Phase::closing) return;
  std::string out;
  ws_wire::append_flow(out, false);
  send_control(std::move(out));
  run_deferred();
}

// Strand, for each frame read: while held, it waits (a copy) — credits
// excepted.
bool WsSession::defer(std::string_view value, int depth) {
  if (held_by_ == 0 || is_credit(value)) return false;
  deferred_bytes_ += value.size();
  deferred_.emplace_back(std::string(value), depth);
  return true;
}

// Strand: the read failed (the client closed or went away). True when it is
// held with frames waiting: they are still routed once it is released (or
// its receivers are cut), and the connection ends then.
bool WsSession::gone_while_held() {
  if (held_by_ == 0 || deferred_.empty() || phase_ != Phase::ready) return false;
  peer_gone_ = true;
  return true;
}

// Strand, after a read: whether reading waits for the release (too much
// waits already: the client ignores [20, true]).
bool WsSession::reading_held() {
  if (deferred_bytes_ <= kMaxDeferredBytes) return false;
  read_paused_ = true;
  return true;
}

// Strand: the frames that waited run, in order, until one holds it again.
// (A frame may close the connection, which drops what still waits: each one
// is taken out before it runs.)
void WsSession::run_deferred() {
  std::size_t i = 0;
  while (i < deferred_.size() && held_by_ == 0 && phase_ != Phase::closing) {
    std::pair<std::string, int> next = std::move(deferred_[i++]);
    deferred_bytes_ -= next.first.size();
    handle_frame(next.first, next.second);
  }
  if (phase_ == Phase::closing) {
    deferred_.clear();
    deferred_bytes_ = 0;
  } else {
    deferred_.erase(deferred_.begin(), deferred_.begin() + static_cast<std::ptrdiff_t>(i));
  }
  // The client closed while held: what it sent before still goes on (above);
  // then the connection ends.
  if (peer_gone_ && held_by_ == 0) return end_connection();
  if (read_paused_ && (deferred_bytes_ <= kMaxDeferredBytes || phase_ == Phase::closing)) {
    read_paused_ = false;
    read();
  }
}

}  // namespace herald::ws_hub
