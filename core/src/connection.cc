// Connection: state, the transport's events, open / close, sending, handlers
// and stats. The dispatcher role and poll() are in connection_dispatch.cc,
// membership and its ordering in connection_membership.cc, the buffering
// policy while disconnected in offline_buffer.cc.
#include "herald/internal/connection.hpp"

#include <stdexcept>

#include "herald/internal/msgpack_walk.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/socket_id.hpp"
#include "herald/internal/text.hpp"
#include "herald/internal/thread_role.hpp"

namespace herald::internal {
std::shared_ptr<Connection> Connection::create(std::string_view url_text, Options options) {
  absl::StatusOr<Url> url = parse_url(url_text);
  if (!url.ok()) throw std::invalid_argument(std::string(url.status().message()));
  auto connection = std::make_shared<Connection>(make_socket_id(), std::move(options));
  // The constructing thread counts as the owner until someone polls, so a
  // queued connection sending to itself before its first poll() never waits
  // on its own inbox.
  connection->poller_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  absl::StatusOr<std::unique_ptr<Transport>> transport =
      make_transport(*url, connection->options_, connection);
  if (!transport.ok()) throw std::invalid_argument(std::string(transport.status().message()));
  connection->transport_ = *std::move(transport);
  connection->transport_->open();
  return connection;
}

Connection::Connection(std::string socket_id, Options options)
    : socket_id_(std::move(socket_id)),
      options_(std::move(options)),
      inbox_(options_.inbox_capacity, options_.overflow),
      offline_(options_.buffer_messages, options_.max_buffered_messages),
      error_sink_([this](const absl::Status& status) { report_error(status); }) {}

Connection::~Connection() = default;

// ---------------------------------------------------------------- state

absl::Status Connection::usable(std::string_view operation) const {
  switch (state()) {
    case State::closed:
      return absl::FailedPreconditionError(
          internal::cat("herald: ", operation, " on a closed connection (call open() first)"));
    case State::refused: {
      // The refusal's own code: kUnauthenticated for a session, kAlreadyExists
      // for an id in use, ...
      std::lock_guard lock(mu_);
      const absl::StatusCode code =
          refusal_.ok() ? absl::StatusCode::kUnauthenticated : refusal_.code();
      return absl::Status(code,
                          internal::cat("herald: ", operation, " refused: ", refusal_.message()));
    }
    default:
      return absl::OkStatus();
  }
}

absl::Status Connection::await_connected(std::string_view operation) {
  if (state() == State::connected) return absl::OkStatus();
  if (!may_wait()) {
    // A listener may be running on the transport's own thread: waiting here
    // could wait for ourselves.
    return absl::UnavailableError(
        internal::cat("herald: ", operation, " from a listener while not connected"));
  }
  std::unique_lock lock(mu_);
  bool settled = state_cv_.wait_for(lock, options_.timeout, [&] {
    State s = state();
    return s == State::connected || s == State::closed || s == State::refused;
  });
  lock.unlock();
  if (!settled) {
    return absl::DeadlineExceededError(internal::cat(
        "herald: ", operation, ": not connected within ", options_.timeout.count(), " ms"));
  }
  return usable(operation);
}

bool Connection::ready_for_more() const noexcept {
  if (options_.dispatch != Dispatch::queued || options_.overflow != Overflow::block ||
      inbox_.depth() < options_.inbox_capacity) {
    return true;
  }
  // The transport stops reading now; the next batch taken resumes it.
  input_paused_.store(true, std::memory_order_seq_cst);
  return false;
}

void Connection::transport_connected() {
  {
    std::lock_guard lock(mu_);
    if (state() == State::closed) return;
    flushing_ = true;
    ever_connected_ = true;
  }
  flush_buffered();
  // Joins and leaves recorded while connecting (e.g. from listeners of the
  // rejoin's presence events) go out now; if someone holds the membership
  // role, it applies them as it lets go.
  if (own_membership(/*block=*/false)) release_membership();
  std::function<void()> handler;
  {
    std::lock_guard lock(mu_);
    handler = on_connect_;
  }
  state_cv_.notify_all();
  if (handler && state() == State::connected) handler();
}

void Connection::flush_buffered() {
  for (;;) {
    EnvelopePtr next;
    {
      std::lock_guard lock(mu_);
      if (offline_.empty() || state() == State::closed) {
        flushing_ = false;
        State expected = State::connecting;
        if (!state_.compare_exchange_strong(expected, State::connected)) {
          expected = State::disconnected;
          state_.compare_exchange_strong(expected, State::connected);
        }
        return;
      }
      next = offline_.pop();
    }
    absl::Status status = transport_->publish(next);
    if (!status.ok()) report_error(status);
  }
}

void Connection::transport_disconnected(std::string_view reason) {
  State expected = State::connected;
  if (!state_.compare_exchange_strong(expected, State::disconnected)) return;
  std::function<void(std::string_view)> handler;
  {
    std::lock_guard lock(mu_);
    handler = on_disconnect_;
  }
  if (handler) handler(reason);
}

void Connection::transport_refused(const absl::Status& status) {
  {
    std::lock_guard lock(mu_);
    if (state() == State::closed) return;
    refusal_ = status;
    state_.store(State::refused, std::memory_order_seq_cst);
  }
  state_cv_.notify_all();
  report_error(status, /*remember=*/true);
}

void Connection::session_ended(const absl::Status& why) {
  // As a network transport reports a refusal of a connection that was up.
  transport_disconnected(std::string(why.message()));
  transport_refused(why);
}

void Connection::transport_error(const absl::Status& status) { report_error(status); }

// On the sender's thread (it may wait): detach, then tell. The connection
// stays usable: its sends are buffered as while disconnected, and it is
// attached again (its channels restored) when it next drains its inbox.
void Connection::cut_stalled() {
  if (cutting_.exchange(true)) return;
  const absl::Status why = absl::ResourceExhaustedError(internal::cat(
      "herald: slow consumer: this connection's inbox was full (", options_.inbox_capacity,
      " messages) and it dispatched nothing for the hub's stall_timeout while a sender waited; "
      "cut, and attached again when it drains"));
  bump(cut_slow_consumer_);
  transport_->cut(why);
  transport_disconnected(std::string(why.message()));
  report_error(why);
  cut_.store(true, std::memory_order_seq_cst);
}

// After a drain, on a thread that may wait.
void Connection::reattach_if_cut() {
  if (!cut_.load(std::memory_order_seq_cst) || !may_wait()) return;
  if (!cut_.exchange(false)) return;
  if (state() == State::disconnected) transport_->open();
  cutting_.store(false, std::memory_order_seq_cst);
}

void Connection::transport_reconnect_attempt(int attempt) {
  std::function<void(int)> handler;
  {
    std::lock_guard lock(mu_);
    handler = on_reconnect_attempt_;
  }
  if (handler) handler(attempt);
}

void Connection::report_error(const absl::Status& status, bool remember) {
  std::function<void(const absl::Status&)> handler;
  {
    std::lock_guard lock(mu_);
    handler = on_error_;
    if (!handler && remember) unheard_error_ = status;
  }
  if (!handler) return;
  try {
    handler(status);
  } catch (...) {
    // An error handler that throws has nowhere to report to; the connection
    // carries on.
  }
}

absl::Status Connection::open() {
  State s = state();
  if (s != State::closed && s != State::refused) return absl::OkStatus();
  inbox_.reopen();
  state_.store(State::connecting, std::memory_order_seq_cst);
  transport_->open();
  if (state() == State::refused) return usable("open");
  return absl::OkStatus();
}

void Connection::close() {
  State previous = state_.exchange(State::closed, std::memory_order_seq_cst);
  if (previous == State::closed) return;
  // The inbox first: it wakes any producer (a transport's thread included)
  // waiting for room, so that closing the transport never waits on it.
  bump(dropped_closed_, inbox_.close());
  if (transport_) transport_->close();
  {
    std::lock_guard lock(mu_);
    bump(dropped_closed_, offline_.clear());
    flushing_ = false;
  }
  state_cv_.notify_all();
  if (previous == State::connected) {
    std::function<void(std::string_view)> handler;
    {
      std::lock_guard lock(mu_);
      handler = on_disconnect_;
    }
    if (handler) handler("io client disconnect");
  }
}

void Connection::shutdown() {
  {
    // The Realtime is going away: its handlers (and what they capture) may be
    // gone already, so none of them is called from here on.
    std::lock_guard lock(mu_);
    on_connect_ = nullptr;
    on_disconnect_ = nullptr;
    on_error_ = nullptr;
    on_reconnect_attempt_ = nullptr;
  }
  close();
  const auto self = std::this_thread::get_id();
  std::thread::id current;
  while ((current = dispatcher_.load(std::memory_order_seq_cst)) != std::thread::id{}) {
    if (current == self) {
      // Destroyed from its own listener: the dispatch under way finishes, but
      // none of this connection's listeners runs any more.
      registry_.remove_all_events();
      registry_.remove_all_any();
      return;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  registry_.clear();
}

// ---------------------------------------------------------------- sending

absl::Status Connection::publish(EnvelopeKind kind, std::string_view channel,
                                 std::string_view event, Message body, std::optional<bool> echo) {
  absl::Status status;
  std::size_t channel_hash = 0;
  std::size_t event_hash = 0;
  if (kind == EnvelopeKind::message) status = check_sent_channel(channel, channel_hash);
  if (status.ok()) status = check_sent_event(event, event_hash);
  const State now = state();
  if (status.ok() && (now == State::closed || now == State::refused)) {
    status = usable(kind == EnvelopeKind::message ? std::string_view("send")
                                                  : std::string_view("broadcast"));
  }
  if (status.ok()) {
    const std::size_t size = body.bytes().size();
    const std::size_t limit = transport_->max_message_bytes();
    if (size > limit) {
      status = absl::ResourceExhaustedError(
          internal::cat("herald: message body for event \"", event, "\" is ", size,
                        " bytes; the limit is ", limit, " (HubOptions::max_message_bytes)"));
    }
  }
  if (status.ok()) status = check_nesting(body.bytes(), "message body");
  if (!status.ok()) return rejected(status);

  EnvelopePtr envelope = Envelope::make(
      kind, kind == EnvelopeKind::message ? channel : std::string_view(), channel_hash, event,
      event_hash, socket_id_, std::move(body), echo.value_or(options_.echo_messages));
  for (int attempt = 0;; ++attempt) {
    if (state() == State::connected && attempt < 3) {
      SendWait wait;
      wait.timeout = options_.timeout;
      // On its way out (a network transport held back by the far side): a
      // thread that must not wait does not; one that polls a queued
      // connection (maybe the very one that is full) waits a little.
      if (!may_wait()) {
        wait.limit = SendWait::Limit::never;
      } else if (t_polls_queued) {
        wait.limit = SendWait::Limit::bounded;
      }
      absl::Status sent;
      {
        SendWaitScope scope(wait);
        sent = transport_->publish(envelope);
      }
      if (wait.waits > 0) {
        bump(sends_held_);
        bump(send_held_ns_, wait.waited_ns);
      }
      if (sent.ok()) {
        bump(sent_);
        if (!wait.timed_out) return sent;
        bump(send_timeouts_);
        return absl::DeadlineExceededError(internal::cat(
            "herald: ", kind == EnvelopeKind::message ? "send" : "broadcast", " of \"", event,
            "\": a receiver with Overflow::block had no room for ", options_.timeout.count(),
            " ms (Options::timeout); it did not get this message, the others did"));
      }
      // kUnavailable: the transport lost its connection a moment before
      // telling us; the message is buffered like any sent while disconnected.
      // (The codes are compared inline: absl::IsUnavailable is a call.)
      if (sent.code() != absl::StatusCode::kUnavailable) {
        if (sent.code() == absl::StatusCode::kDeadlineExceeded) bump(send_timeouts_);
        return sent;
      }
    }
    std::unique_lock lock(mu_);
    const State s = state();
    if (s == State::closed || s == State::refused) {
      lock.unlock();
      return rejected(usable("send"));
    }
    if (s == State::connected && !flushing_ && attempt < 2) continue;  // reconnected meanwhile
    absl::Status kept = offline_.push(std::move(envelope), event);
    if (!kept.ok()) {
      bump(absl::IsUnavailable(kept) ? dropped_unavailable_ : dropped_buffer_full_);
      return kept;
    }
    bump(sent_);
    return absl::OkStatus();
  }
}

// ---------------------------------------------------------------- handlers, stats

void Connection::on_connect(std::function<void()> handler) {
  {
    std::lock_guard lock(mu_);
    on_connect_ = handler;
  }
  if (handler && state() == State::connected) handler();
}

void Connection::on_disconnect(std::function<void(std::string_view)> handler) {
  std::lock_guard lock(mu_);
  on_disconnect_ = std::move(handler);
}

void Connection::on_error(std::function<void(const absl::Status&)> handler) {
  std::optional<absl::Status> unheard;
  {
    std::lock_guard lock(mu_);
    on_error_ = handler;
    if (handler) unheard.swap(unheard_error_);
  }
  if (unheard) report_error(*unheard);
}

void Connection::on_reconnect_attempt(std::function<void(int)> handler) {
  std::lock_guard lock(mu_);
  on_reconnect_attempt_ = std::move(handler);
}

Stats Connection::stats() const {
  auto get = [](const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); };
  Stats s;
  s.sent = get(sent_);
  s.delivered = get(delivered_);
  s.listener_calls = get(listener_calls_);
  s.listener_errors = get(listener_errors_);
  s.rejected = get(rejected_);
  s.dropped_unavailable = get(dropped_unavailable_);
  s.dropped_buffer_full = get(dropped_buffer_full_);
  s.dropped_inbox_full = get(dropped_inbox_full_);
  s.dropped_closed = get(dropped_closed_) + inbox_.dropped_while_closed();
  s.inbox_overfilled = get(inbox_overfilled_);
  s.sends_held = get(sends_held_);
  s.send_held_ns = get(send_held_ns_);
  s.send_timeouts = get(send_timeouts_);
  s.cut_slow_consumer = get(cut_slow_consumer_);
  s.sender_waits = inbox_.sender_waits();
  s.inbox_depth = inbox_.depth();
  s.inbox_high_water = inbox_.high_water();
  s.buffered = offline_.size_now();
  if (transport_) transport_->add_stats(s);
  return s;
}

}  // namespace herald::internal
