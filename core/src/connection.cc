#include "herald/internal/connection.hpp"

#include <random>
#include <stdexcept>

#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"

namespace herald::internal {
namespace {

// >0 while this thread runs listeners (of any connection). Such a thread never
// waits for room in an inbox: whatever it would wait for may be waiting for it.
thread_local int t_dispatch_depth = 0;
// Set once this thread has polled a queued connection (see wait_policy()).
thread_local bool t_polls_queued = false;

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// 20 characters of base64url, like Socket.IO ids: a per-process random part
// mixed with a counter, so ids never repeat within a process and are unlikely
// to repeat across processes.
std::string make_socket_id() {
  static const std::uint64_t seed = [] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  std::uint8_t bytes[15];
  std::uint64_t a = mix(seed ^ n);
  std::uint64_t b = mix(seed + 0x632be59bd9b4e019ull) ^ n;
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(a >> (8 * i));
  for (int i = 0; i < 7; ++i) bytes[8 + i] = static_cast<std::uint8_t>(b >> (8 * i));
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string id;
  id.reserve(20);
  for (int i = 0; i < 15; i += 3) {
    std::uint32_t v =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int k = 3; k >= 0; --k) id.push_back(kAlphabet[(v >> (6 * k)) & 63]);
  }
  return id;
}

void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) {
  counter.fetch_add(n, std::memory_order_relaxed);
}

}  // namespace

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
  if (t_dispatch_depth > 0 || t_on_transport_thread) {
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
  return options_.dispatch != Dispatch::queued || options_.overflow != Overflow::block ||
         inbox_.depth() < options_.inbox_capacity;
}

std::vector<TransportEvents::ChannelToRestore> Connection::channels_to_restore() {
  std::lock_guard lock(mu_);
  std::vector<ChannelToRestore> out;
  // On the first connection these are joins made while connecting: always
  // applied. On a reconnect, auto_join_channels decides.
  if (!options_.auto_join_channels && ever_connected_) {
    joined_.clear();
    return out;
  }
  for (const auto& [channel, echo] : joined_) out.push_back({channel, echo});
  return out;
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
      if (buffered_.empty() || state() == State::closed) {
        flushing_ = false;
        State expected = State::connecting;
        if (!state_.compare_exchange_strong(expected, State::connected)) {
          expected = State::disconnected;
          state_.compare_exchange_strong(expected, State::connected);
        }
        return;
      }
      next = std::move(buffered_.front());
      buffered_.pop_front();
      buffered_count_.store(buffered_.size(), std::memory_order_relaxed);
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

void Connection::transport_error(const absl::Status& status) { report_error(status); }

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
    bump(dropped_closed_, buffered_.size());
    buffered_.clear();
    buffered_count_.store(0, std::memory_order_relaxed);
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
  if (kind == EnvelopeKind::message) status = validate_name("channel", channel);
  if (status.ok()) status = validate_name("event", event);
  if (status.ok()) status = usable(kind == EnvelopeKind::message ? "send" : "broadcast");
  if (status.ok()) {
    const std::size_t size = body.bytes().size();
    const std::size_t limit = transport_->max_message_bytes();
    if (size > limit) {
      status = absl::ResourceExhaustedError(
          internal::cat("herald: message body for event \"", event, "\" is ", size,
                        " bytes; the limit is ", limit, " (HubOptions::max_message_bytes)"));
    }
  }
  if (!status.ok()) return rejected(status);

  EnvelopePtr envelope = Envelope::make(kind, channel, event, socket_id_, std::move(body),
                                        echo.value_or(options_.echo_messages));
  for (int attempt = 0;; ++attempt) {
    if (state() == State::connected && attempt < 3) {
      absl::Status sent = transport_->publish(envelope);
      // kUnavailable: the transport lost its connection a moment before
      // telling us; the message is buffered like any sent while disconnected.
      if (!absl::IsUnavailable(sent)) {
        if (sent.ok()) bump(sent_);
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
    if (!options_.buffer_messages) {
      bump(dropped_unavailable_);
      return absl::UnavailableError(internal::cat("herald: not connected; message for event \"",
                                                  event,
                                                  "\" dropped (Options::buffer_messages is off)"));
    }
    if (buffered_.size() >= options_.max_buffered_messages) {
      bump(dropped_buffer_full_);
      return absl::ResourceExhaustedError(internal::cat(
          "herald: not connected and ", buffered_.size(),
          " messages are already buffered (Options::max_buffered_messages); message for event \"",
          event, "\" dropped"));
    }
    buffered_.push_back(std::move(envelope));
    buffered_count_.store(buffered_.size(), std::memory_order_relaxed);
    bump(sent_);
    return absl::OkStatus();
  }
}

// ---------------------------------------------------------------- receiving

bool Connection::try_become_dispatcher() noexcept {
  std::thread::id expected{};
  return dispatcher_.compare_exchange_strong(expected, std::this_thread::get_id(),
                                             std::memory_order_seq_cst);
}

Inbox::Wait Connection::wait_policy() const noexcept {
  const auto self = std::this_thread::get_id();
  if (t_dispatch_depth > 0 || t_on_transport_thread ||
      poller_.load(std::memory_order_relaxed) == self ||
      dispatcher_.load(std::memory_order_relaxed) == self) {
    return Inbox::Wait::never;
  }
  // A thread that polls some queued connection may be what another inbox's
  // consumer waits for: it waits a little, then overfills, never forever.
  return t_polls_queued ? Inbox::Wait::bounded : Inbox::Wait::unbounded;
}

void Connection::deliver(const EnvelopePtr& envelope) {
  if (state() == State::closed) {
    bump(dropped_closed_);
    return;
  }
  const bool immediate = options_.dispatch == Dispatch::immediate;
  if (immediate && inbox_.empty() && try_become_dispatcher()) {
    dispatch_one(*envelope);
    drain_and_release();
    return;
  }
  switch (inbox_.push(envelope, wait_policy())) {
    case Inbox::Admitted::queued:
      break;
    case Inbox::Admitted::overfilled:
      bump(inbox_overfilled_);
      break;
    case Inbox::Admitted::dropped_newest:
    case Inbox::Admitted::dropped_oldest:
      bump(dropped_inbox_full_);
      break;
    case Inbox::Admitted::closed:
      bump(dropped_closed_);
      return;
  }
  if (immediate && try_become_dispatcher()) drain_and_release();
}

void Connection::dispatch_one(const Envelope& envelope) {
  if (state_.load(std::memory_order_seq_cst) == State::closed) {
    bump(dropped_closed_);
    return;
  }
  ++t_dispatch_depth;
  ListenerRegistry::DispatchCounts counts = registry_.dispatch(
      envelope.payload(), HashedName{envelope.event(), envelope.event_hash()}, error_sink_);
  --t_dispatch_depth;
  // Only the dispatcher writes these: no read-modify-write needed.
  delivered_.store(delivered_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  listener_calls_.store(listener_calls_.load(std::memory_order_relaxed) + counts.calls,
                        std::memory_order_relaxed);
  if (counts.errors > 0) bump(listener_errors_, counts.errors);
}

std::size_t Connection::run_batch() {
  if (inbox_.empty()) return 0;  // the common case: no lock taken
  std::size_t n = inbox_.take_all(batch_);
  if (n >= options_.inbox_capacity && transport_) transport_->resume_input();
  for (const EnvelopePtr& envelope : batch_) dispatch_one(*envelope);
  batch_.clear();
  return n;
}

void Connection::drain_and_release() {
  for (;;) {
    while (run_batch() > 0) {
    }
    dispatcher_.store(std::thread::id{}, std::memory_order_seq_cst);
    // Something queued by a thread that found us dispatching? Take it back.
    if (inbox_.empty() || !try_become_dispatcher()) return;
  }
}

std::size_t Connection::poll() {
  // A listener may destroy this connection's Realtime: stay alive until done.
  std::shared_ptr<Connection> keep = shared_from_this();
  poller_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  t_polls_queued = t_polls_queued || options_.dispatch == Dispatch::queued;
  if (!try_become_dispatcher()) return 0;
  std::size_t n = run_batch();
  dispatcher_.store(std::thread::id{}, std::memory_order_seq_cst);
  if (options_.dispatch == Dispatch::immediate && !inbox_.empty() && try_become_dispatcher()) {
    drain_and_release();
  }
  return n;
}

std::size_t Connection::poll_for(std::chrono::milliseconds max_wait) {
  std::shared_ptr<Connection> keep = shared_from_this();
  poller_.store(std::this_thread::get_id(), std::memory_order_relaxed);
  t_polls_queued = t_polls_queued || options_.dispatch == Dispatch::queued;
  if (inbox_.empty()) inbox_.wait_until_ready(std::chrono::steady_clock::now() + max_wait);
  return poll();
}

// ---------------------------------------------------------------- channels, presence

// Membership changes (the joined_ set and the transport's join / leave) are
// applied by one thread at a time, in order, so that the set and the far side
// never disagree. A thread that cannot take that role without risking a wait
// on itself — a listener, or a nested call — records the change as pending;
// whoever holds the role applies it before letting go (or, while
// disconnected, transport_connected() does).
bool Connection::own_membership(bool block) {
  const auto self = std::this_thread::get_id();
  if (membership_owner_.load(std::memory_order_acquire) == self) return false;  // nested
  if (block) {
    membership_mu_.lock();
  } else if (!membership_mu_.try_lock()) {
    return false;
  }
  membership_owner_.store(self, std::memory_order_release);
  return true;
}

void Connection::release_membership() {
  for (;;) {
    if (state() == State::connected) {
      for (;;) {
        MembershipOp op;
        {
          std::lock_guard lock(mu_);
          if (pending_ops_.empty()) break;
          op = std::move(pending_ops_.front());
          pending_ops_.pop_front();
        }
        absl::Status status = op.join ? transport_->join(op.channel, op.echo)
                                      : transport_->leave(op.channel, op.echo);
        if (!status.ok()) report_error(status);
      }
    }
    membership_owner_.store(std::thread::id{}, std::memory_order_release);
    membership_mu_.unlock();
    bool more;
    {
      std::lock_guard lock(mu_);
      more = !pending_ops_.empty();
    }
    if (!more || state() != State::connected || !own_membership(/*block=*/false)) return;
  }
}

absl::Status Connection::join(std::string_view channel, std::optional<bool> echo) {
  if (absl::Status s = validate_name("channel", channel); !s.ok()) return rejected(s);
  if (absl::Status s = usable("join"); !s.ok()) return rejected(s);
  const bool e = echo.value_or(options_.echo_messages);
  const bool in_listener = t_dispatch_depth > 0 || t_on_transport_thread;
  // From a listener, never wait: "OK, in order", applied by whoever can.
  if (!own_membership(/*block=*/!in_listener)) {
    std::lock_guard lock(mu_);
    joined_.insert_or_assign(std::string(channel), e);
    pending_ops_.push_back({std::string(channel), true, e});
    return absl::OkStatus();
  }
  {
    std::lock_guard lock(mu_);
    joined_.insert_or_assign(std::string(channel), e);
  }
  absl::Status status;
  if (state() != State::connected && in_listener) {
    std::lock_guard lock(mu_);
    pending_ops_.push_back({std::string(channel), true, e});  // applied once connected
  } else {
    // Waits (up to Options::timeout) for the connection; the channel stays
    // recorded and is joined on connect even if this times out.
    status = await_connected("join");
    if (status.ok()) status = transport_->join(channel, e);
  }
  release_membership();
  return status;
}

absl::Status Connection::leave(std::string_view channel, std::optional<bool> echo) {
  if (absl::Status s = validate_name("channel", channel); !s.ok()) return rejected(s);
  if (absl::Status s = usable("leave"); !s.ok()) return rejected(s);
  const bool e = echo.value_or(options_.echo_messages);
  const bool owner = own_membership(/*block=*/t_dispatch_depth == 0 && !t_on_transport_thread);
  bool apply_now = false;
  {
    std::lock_guard lock(mu_);
    auto it = joined_.find(channel);
    if (it != joined_.end()) {
      joined_.erase(it);
      // Not connected (or not ours to apply now): the far side may still hold
      // the membership (a broker keeps a reconnecting client's channels), so
      // the leave is applied once connected.
      apply_now = owner && state() == State::connected;
      if (!apply_now) pending_ops_.push_back({std::string(channel), false, e});
    }
  }
  absl::Status status;
  if (apply_now) status = transport_->leave(channel, e);
  if (owner) release_membership();
  return status;
}

std::vector<std::string> Connection::channels() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [channel, echo] : joined_) out.push_back(channel);
  return out;
}

Message Connection::profile() const {
  std::lock_guard lock(mu_);
  return profile_;
}

absl::Status Connection::update_profile(Message data, std::optional<bool> echo) {
  if (absl::Status s = usable("update_profile"); !s.ok()) return rejected(s);
  const std::size_t size = data.bytes().size();
  const std::size_t limit = transport_->max_message_bytes();
  if (size > limit) {
    return rejected(absl::ResourceExhaustedError(
        internal::cat("herald: profile is ", size, " bytes; the limit is ", limit,
                      " (HubOptions::max_message_bytes, the same as for a message body)")));
  }
  {
    std::lock_guard lock(mu_);
    profile_ = std::move(data);
  }
  if (state() != State::connected) return absl::OkStatus();  // sent with the next join
  return transport_->update_profile(profile(), echo.value_or(options_.echo_messages));
}

absl::StatusOr<std::vector<Member>> Connection::get_members(std::string_view channel) {
  if (absl::Status s = validate_name("channel", channel); !s.ok()) return rejected(s);
  if (absl::Status s = usable("get_members"); !s.ok()) return rejected(s);
  if (absl::Status s = await_connected("get_members"); !s.ok()) return s;
  return transport_->get_members(channel);
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
  s.dropped_closed = get(dropped_closed_);
  s.inbox_overfilled = get(inbox_overfilled_);
  s.sender_waits = inbox_.sender_waits();
  s.inbox_depth = inbox_.depth();
  s.inbox_high_water = inbox_.high_water();
  s.buffered = buffered_count_.load(std::memory_order_relaxed);
  if (transport_) transport_->add_stats(s);
  return s;
}

}  // namespace herald::internal
