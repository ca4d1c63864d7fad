// ZmqClient's part in flow control (docs/PROTOCOL.md, "zmq://", "Flow
// control"): the broker's hold notices (read on their own SUB, so that a
// full inbox never hides them), the waits they make this client's senders
// do, the wait for a broker that reads nothing, and the cut of a receiver
// that took nothing for the broker's stall timeout.
#include <algorithm>
#include <new>
#include <thread>

#include "client/zmq_client.hpp"
#include "herald/internal/text.hpp"

namespace herald::zmq_transport {

using internal::cat;

namespace {

// How a sender looks again while its PUB is full: every 100 µs the first
// 100 times (its I/O thread empties it quickly while the broker reads), then
// every millisecond.
void pause(int attempt) {
  std::this_thread::sleep_for(attempt < 100 ? std::chrono::microseconds(100)
                                            : std::chrono::microseconds(1000));
}

// A counted message's buffer: this header, then the frame.
struct CountedHeader {
  std::shared_ptr<SendWindow> window;
  std::size_t size;
};

// libzmq is done with a counted message (its I/O thread wrote it).
void release_counted(void* data, void* hint) {
  (void)data;
  auto* header = static_cast<CountedHeader*>(hint);
  SendWindow& w = *header->window;
  const std::size_t before = w.bytes.fetch_sub(header->size, std::memory_order_acq_rel);
  if (w.waiters.load(std::memory_order_acquire) > 0 && before - header->size <= kSendWindowBytes) {
    std::lock_guard lock(w.mu);
    w.cv.notify_all();
  }
  header->~CountedHeader();
  ::operator delete(hint);
}

// What a thread that may not wait (a listener, the I/O thread: a flush of
// what was buffered during an outage) gives a full PUB before it sends
// lossily. Its I/O thread empties the PUB in microseconds while the broker
// reads; the limit is for a broker that reads nothing (its budget spent,
// maybe by this very connection's own full inbox).
constexpr auto kMayNotWaitLimit = 1000ms;

using Clock = std::chrono::steady_clock;

// How long a sender may wait: its deadline, or kBoundedSendWait on a thread
// that polls (internal::SendWait).
struct WaitLimit {
  Clock::time_point start = Clock::now();
  Clock::time_point deadline;
  bool bounded;

  explicit WaitLimit(internal::SendWait* send)
      : deadline(send ? send->deadline_at(start) : Clock::time_point::max()),
        bounded(send && send->limit == internal::SendWait::Limit::bounded) {
    if (bounded) deadline = std::min(deadline, start + internal::kBoundedSendWait);
  }
  std::chrono::milliseconds waited() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  }
  // Counts the wait in the sender's stats (only one of at least `counted`).
  void count(internal::SendWait* send, Clock::duration counted = {}) const {
    const auto waited = Clock::now() - start;
    if (!send || waited < counted) return;
    ++send->waits;
    send->waited_ns += static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(waited).count());
  }
};

absl::Status broker_reads_nothing(std::chrono::milliseconds waited) {
  return absl::DeadlineExceededError(
      cat("herald zmq: the broker read nothing from this connection for ", waited.count(),
          " ms (what waits there for full receivers reached its max_held_bytes; "
          "Options::timeout); not sent"));
}

}  // namespace

zmq::message_t ZmqClient::counted_message(std::size_t size) {
  void* buffer = ::operator new(sizeof(CountedHeader) + size);
  auto* header = new (buffer) CountedHeader{window_, size};
  window_->bytes.fetch_add(size, std::memory_order_acq_rel);
  return zmq::message_t(static_cast<char*>(buffer) + sizeof(CountedHeader), size, release_counted,
                        header);
}

// Waits until the PUB's I/O thread wrote enough of what this connection
// handed it (kSendWindowBytes) — its pace, or the broker's, held by TCP.
absl::Status ZmqClient::wait_for_window(internal::SendWait* send) {
  SendWindow& w = *window_;
  const WaitLimit limit(send);
  std::unique_lock lock(w.mu);
  w.waiters.fetch_add(1, std::memory_order_acq_rel);
  auto room = [&] { return w.bytes.load(std::memory_order_acquire) <= kSendWindowBytes; };
  // (Looked at again every 10 ms: a release may slip between the check and the wait.)
  while (!room() && !io_thread_.stop_requested() && Clock::now() < limit.deadline) {
    w.cv.wait_until(lock, std::min(limit.deadline, Clock::now() + 10ms));
  }
  w.waiters.fetch_sub(1, std::memory_order_acq_rel);
  // Its I/O thread's pace is not a hold; that long is the broker reading nothing.
  limit.count(send, internal::kBoundedSendWait);
  if (room() || limit.bounded || io_thread_.stop_requested()) return absl::OkStatus();
  return broker_reads_nothing(limit.waited());
}

void ZmqClient::read_notices() {
  zmq::message_t m;
  for (int i = 0; i < 64 && notices_ && notices_->recv(m, zmq::recv_flags::dontwait); ++i) {
    if (m.more()) {
      while (m.more() && notices_->recv(m, zmq::recv_flags::none)) {
      }
      malformed_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    absl::StatusOr<std::vector<std::string>> topics =
        zmq_wire::decode_hold_notice(m.to_string_view());
    if (!topics.ok()) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    set_holds(*std::move(topics));
  }
}

void ZmqClient::set_holds(std::vector<std::string> topics) {
  std::sort(topics.begin(), topics.end());
  {
    std::lock_guard lock(hold_mu_);
    held_ = std::move(topics);
    hold_expires_ = Clock::now() + std::chrono::milliseconds(zmq_wire::kHoldLeaseMs);
    any_held_.store(!held_.empty(), std::memory_order_release);
  }
  hold_cv_.notify_all();
}

void ZmqClient::clear_holds() { set_holds({}); }

absl::Status ZmqClient::wait_while_held(std::string_view topic, internal::SendWait* send) {
  std::unique_lock lock(hold_mu_);
  auto held = [&] {
    return Clock::now() < hold_expires_ && std::binary_search(held_.begin(), held_.end(), topic);
  };
  if (!held()) return absl::OkStatus();
  const WaitLimit limit(send);
  bool still = true;
  while ((still = held()) && !io_thread_.stop_requested() && Clock::now() < limit.deadline) {
    hold_cv_.wait_until(lock, std::min(limit.deadline, hold_expires_));
  }
  limit.count(send);
  if (!still || limit.bounded || io_thread_.stop_requested()) return absl::OkStatus();
  return absl::DeadlineExceededError(
      cat("herald zmq: the broker held this channel's sends back for ", limit.waited().count(),
          " ms (a receiver with Overflow::block is full; Options::timeout); not sent"));
}

// Under pub_mu_. The PUB refuses (ZMQ_XPUB_NODROP) past kSendWindow
// messages its I/O thread has not written yet: a burst, or a broker that
// reads nothing from us (what waits there for full receivers reached
// ZmqBrokerOptions::max_held_bytes). A sender that may wait looks again until
// its deadline; one that may not looks again for at most kMayNotWaitLimit,
// then sends lossily (the message is dropped, and its receivers count the gap).
absl::Status ZmqClient::send_data(zmq::message_t& message, std::string_view topic,
                                  internal::SendWait* send, bool may_wait) {
  if (pub_->send(message, zmq::send_flags::dontwait)) return absl::OkStatus();
  if (!may_wait) {
    // libzmq's I/O thread empties the PUB without us: a bounded wait is safe.
    // (Closing or not: this message is already the connection's to send.)
    if (!send_before(message, Clock::now() + kMayNotWaitLimit, false)) send_lossily(message);
    return absl::OkStatus();
  }
  const WaitLimit limit(send);
  const bool sent = send_before(message, limit.deadline, true);
  // A wait for the PUB's own window is its I/O thread's pace, not a hold;
  // one that long is the broker reading nothing from us.
  limit.count(send, internal::kBoundedSendWait);
  if (sent) return absl::OkStatus();
  if (limit.bounded) {
    send_lossily(message);
    return absl::OkStatus();
  }
  outgoing_seqs_.take_back(topic);
  return broker_reads_nothing(limit.waited());
}

// Under pub_mu_: looks again, pausing in between, until the PUB takes the
// message or `deadline` passes (or, if `until_closing`, the connection closes).
bool ZmqClient::send_before(zmq::message_t& message, Clock::time_point deadline,
                            bool until_closing) {
  for (int attempt = 0; Clock::now() < deadline && !(until_closing && io_thread_.stop_requested());
       ++attempt) {
    pause(attempt);
    if (pub_->send(message, zmq::send_flags::dontwait)) return true;
  }
  return false;
}

// Under pub_mu_: past the PUB's window the message is dropped (the receivers
// count the gap in its sequence).
void ZmqClient::send_lossily(zmq::message_t& message) {
  pub_->set(zmq::sockopt::xpub_nodrop, 0);
  (void)pub_->send(message, zmq::send_flags::dontwait);
  pub_->set(zmq::sockopt::xpub_nodrop, 1);
}

// The inbox full, nothing taken for the broker's stall timeout, and data
// waiting for us: we hold the broker's channels back.
bool ZmqClient::stalled(Clock::time_point now) const {
  if (stall_timeout_.count() == 0 || paused_since_ == Clock::time_point{} || !sub_) return false;
  if (now - paused_since_ < stall_timeout_) return false;
  return (sub_->get(zmq::sockopt::events) & ZMQ_POLLIN) != 0;
}

// Cut ourselves as the hub cuts a slow consumer: the broker is told (it
// counts it and drops the session: our channels' members see us leave), the
// connection is lost, and we come back once the inbox has room.
void ZmqClient::cut_stalled() {
  cut_slow_consumer_.fetch_add(1, std::memory_order_relaxed);
  const auto ms = stall_timeout_.count();
  if (dealer_) {
    dealer_->set(zmq::sockopt::linger, 200);  // the word gets out before the socket closes
    send_control(zmq_wire::encode_signal(zmq_wire::Command::stalled));
  }
  cut_for_stall_ = true;
  lose(cat("slow consumer: the inbox took nothing for ", ms,
           " ms while the broker had messages for it (ZmqBrokerOptions::stall_timeout)"));
}

}  // namespace herald::zmq_transport
