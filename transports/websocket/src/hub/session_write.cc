// WsSession: the write path — deliveries and control frames go through the
// WriteQueue (its bound cuts a slow consumer, with 4002), one write in
// flight on the strand — and the ways a connection closes.
#include <algorithm>

#include "herald/internal/hub_access.hpp"
#include "herald/internal/text.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

using internal::cat;

namespace {

// What one coalesced message holds at most (a client must accept more).
constexpr std::size_t kMaxCoalescedBytes = 1u << 20;

// Close reasons are at most 123 bytes (RFC 6455 5.5).
std::string close_reason_text(std::string_view text) {
  if (text.size() <= 123) return std::string(text);
  std::size_t n = 123;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) --n;  // whole UTF-8
  return std::string(text.substr(0, n));
}

}  // namespace

Message WsSession::profile() const {
  std::lock_guard lock(profile_mu_);
  return profile_;
}

void WsSession::deliver(const internal::EnvelopePtr& envelope) {
  // Routed by a thread that may wait (a mem:// sender on this hub): it
  // waits here for room, as it would at a full mem:// inbox.
  if (t_full_receivers == nullptr && internal::t_send_wait != nullptr && internal::may_wait()) {
    wait_for_room();
  }
  const internal::Envelope& e = *envelope;
  const WriteQueue::Pushed pushed =
      enqueue(Outgoing{envelope, {}}, e.body().bytes().size() + e.channel_or_empty().size() +
                                          e.event().size() + e.sender().size() + 16);
  routed_.fetch_add(1, std::memory_order_relaxed);
  // Full: the session routing this (if it is one of ours) is held back.
  if (t_full_receivers != nullptr && pushed.cut == 0 && full_after(pushed)) {
    t_full_receivers->push_back(shared_from_this());
  }
}

void WsSession::stop_from_gateway() {
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    self->close_with(websocket::close_code::going_away, "hub stopping");
  });
}

// ------------------------------------------------------------ writing

// Any thread. `force`: past the slow-consumer bound too (a last word before closing).
WriteQueue::Pushed WsSession::enqueue(Outgoing out, std::size_t bytes, bool force) {
  const WriteQueue::Pushed pushed = queue_.push(std::move(out), bytes, force);
  if (pushed.cut > 0) {
    counters().closed_slow_consumer.fetch_add(1, std::memory_order_relaxed);
    counters().dropped_slow_consumer.fetch_add(pushed.cut, std::memory_order_relaxed);
    if (pushed.over_budget) counters().closed_queue_budget.fetch_add(1, std::memory_order_relaxed);
    const WsGatewayOptions& o = shared().options;
    std::string why =
        pushed.over_budget
            ? cat("slow consumer: the hub's write queues hold over ", o.max_total_queued_bytes,
                  " bytes together (max_total_queued_bytes) and this one more than its share")
            : cat("slow consumer: more than ", o.max_write_queue_frames, " frames or ",
                  o.max_write_queue_bytes, " bytes waiting");
    // Detached on its own strand: never re-entrantly on the delivering
    // thread (a stall of many members would recurse through Hub::detach).
    net::post(ws_.get_executor(), [self = shared_from_this(), why = std::move(why)] {
      self->close_with(ws_wire::kCloseSlowConsumer, why);
    });
    return pushed;
  }
  if (pushed.depth > 0) {
    GatewayCounters::bump_max(counters().write_queue_high_water, pushed.depth);
  }
  if (pushed.start_writer) start_write_later();
  return pushed;
}

void WsSession::send_control(std::string bytes, bool force) {
  const std::size_t n = bytes.size();
  enqueue(Outgoing{{}, std::move(bytes)}, n, force);
}

// Strand: after hello, writing may begin.
void WsSession::start_write_if_idle() {
  if (queue_.open()) write_next();
}

// On one of this gateway's I/O threads: after what is ready has run;
// anywhere else: now (posted to the strand).
void WsSession::start_write_later() { shared_->write_after_ready(shared_from_this()); }

void WsSession::start_write_now() {
  net::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
}

// Strand: one write in flight; everything waiting goes out as one message.
void WsSession::write_next() {
  // A coalesced message stays within what a client must accept (the body
  // limit plus room for names, see docs/PROTOCOL.md), and within 1 MiB.
  const std::size_t limit = std::min(
      kMaxCoalescedBytes, shared().hub->options().max_message_bytes + ws_wire::kFrameOverhead);
  const std::size_t frames = queue_.take_message(out_, limit);
  if (frames == 0) {
    if (close_pending_) send_close();
    return;
  }
  counters().frames_out.fetch_add(frames, std::memory_order_relaxed);
  counters().writes.fetch_add(1, std::memory_order_relaxed);
  ws_.async_write(net::buffer(out_),
                  [self = shared_from_this()](beast::error_code ec, std::size_t) {
                    if (ec) return self->queue_.write_failed();
                    self->writes_done_.fetch_add(1, std::memory_order_relaxed);
                    self->release_held();
                    // More frames arrived meanwhile: after the ready input too.
                    if (self->queue_.has_more() && !self->close_pending_)
                      return self->start_write_later();
                    self->write_next();
                  });
}

// ------------------------------------------------------------ closing

// Strand. Detaches (nothing more is routed here), lets what is already
// queued (an error saying why, messages routed here before) go out — for at
// most `stop_grace` — then sends the close frame; a peer that does not
// complete the close handshake within a second has its TCP connection
// dropped. A slow consumer's queue is already gone: it gets one second.
void WsSession::close_with(std::uint16_t code, std::string_view why) {
  if (phase_ == Phase::closing) return;
  if (phase_ == Phase::http) return end_connection();
  phase_ = Phase::closing;
  hello_timer_.cancel();
  detach();
  arm_hard_close(code == ws_wire::kCloseSlowConsumer ? close_patience_
                                                     : shared().options.stop_grace);
  close_reason_ =
      websocket::close_reason(static_cast<websocket::close_code>(code), close_reason_text(why));
  close_pending_ = true;
  // Held as a publisher: what waited is not acted on, and reading goes on
  // (for the close handshake).
  deferred_.clear();
  deferred_bytes_ = 0;
  held_by_ = 0;
  if (read_paused_) {
    read_paused_ = false;
    read();
  }
  if (queue_.close()) write_next();  // sends what is left, then the close frame
}

void WsSession::send_close() {
  close_pending_ = false;
  arm_hard_close(close_patience_);
  ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {});
}

void WsSession::arm_hard_close(std::chrono::milliseconds after) {
  hard_close_timer_.expires_after(after);
  hard_close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec) return;
    beast::error_code ignored;
    beast::get_lowest_layer(self->ws_).socket().close(ignored);
  });
}

void WsSession::abandon() {
  if (const std::size_t dropped = queue_.discard(); dropped > 0) {
    counters().dropped_closing.fetch_add(dropped, std::memory_order_relaxed);
  }
  detach();
  beast::error_code ignored;
  hello_timer_.cancel();
  hard_close_timer_.cancel();
  stall_timer_.cancel();
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

// Strand, once the connection is over: what it held of the hub-wide budget.
void WsSession::release_budget() {
  std::size_t memberships = 0;
  for (const std::string& channel : joined_) memberships += membership_cost(channel.size());
  counters().membership_bytes.fetch_sub(memberships, std::memory_order_relaxed);
  counters().profile_bytes.fetch_sub(profile_bytes_, std::memory_order_relaxed);
  profile_bytes_ = 0;
  joined_ = {};
}

void WsSession::detach() {
  if (attached_.exchange(false)) {
    internal::HubAccess::detach(*shared().hub, *this);
    counters().connections.fetch_sub(1, std::memory_order_relaxed);
  }
  release_held();  // the publishers it held go on
}

// Strand: the connection is over (read failed or closed). What was still
// queued is dropped and counted.
void WsSession::end_connection() {
  phase_ = Phase::closing;
  if (const std::size_t dropped = queue_.discard(); dropped > 0) {
    counters().dropped_closing.fetch_add(dropped, std::memory_order_relaxed);
  }
  detach();
  hello_timer_.cancel();
  hard_close_timer_.cancel();
  stall_timer_.cancel();
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().close(ignored);
  // The session object may live on a while (a route snapshot): keep nothing big.
  buffer_ = beast::flat_buffer();
  std::string().swap(out_);
  queue_.release_scratch();
  release_budget();
  shared().forget(this, id_);
}

}  // namespace herald::ws_hub
