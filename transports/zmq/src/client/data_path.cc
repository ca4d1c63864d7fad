// ZmqClient's data path: publish (any sender's thread), receive (the I/O
// thread), the SUB's channel subscriptions, and the input policy — while the
// connection's inbox is full, data waits in ZeroMQ's queue (bounded by the
// high-water mark) rather than here.
#include <cstring>

#include "client/zmq_client.hpp"
#include "herald/internal/text.hpp"

namespace herald::zmq_transport {

using internal::cat;

// Waits while the broker holds the message's topic (a receiver with
// Overflow::block is full) — up to the sender's deadline, a little on a
// thread that polls, not at all on the I/O thread or in a listener
// (internal::SendWait) — then sends (flow.cc: send_data).
absl::Status ZmqClient::publish(const internal::EnvelopePtr& envelope) {
  char head[zmq_wire::kMaxTopicBytes + zmq_wire::kMaxHeaderBytes];
  const std::size_t topic_size = zmq_wire::write_topic(head, *envelope);
  const std::string_view topic(head, topic_size);
  const auto body = envelope->body().bytes();
  // (A listener may destroy the connection meanwhile: this call keeps the
  // client alive until it returns.)
  const std::shared_ptr<ZmqClient> self = shared_from_this();
  internal::SendWait* const send = internal::t_send_wait;
  const bool may_wait =
      !on_io_thread() && (send == nullptr || send->limit != internal::SendWait::Limit::never);
  if (may_wait && any_held_.load(std::memory_order_acquire)) {
    if (absl::Status held = wait_while_held(topic, send); !held.ok()) return held;
  }
  const bool counted = body.size() >= kCountedBytes;
  if (counted && may_wait && window_->bytes.load(std::memory_order_acquire) > kSendWindowBytes) {
    if (absl::Status room = wait_for_window(send); !room.ok()) return room;
  }
  // Senders that may wait go one at a time (a wait for the broker keeps
  // their order); the others never wait for them.
  std::unique_lock order(order_mu_, std::defer_lock);
  if (may_wait) order.lock();
  std::lock_guard lock(pub_mu_);
  if (!pub_) return absl::UnavailableError("herald zmq: not connected to the broker");
  const std::uint64_t seq = outgoing_seqs_.next(topic);
  const std::size_t head_size =
      topic_size + zmq_wire::write_header(head + topic_size, *envelope, seq);
  // One frame: the topic, the header, then the body (one allocation inside
  // libzmq, none at all for the smallest messages).
  zmq::message_t message =
      counted ? counted_message(head_size + body.size()) : zmq::message_t(head_size + body.size());
  std::memcpy(message.data(), head, head_size);
  std::memcpy(static_cast<char*>(message.data()) + head_size, body.data(), body.size());
  try {
    return send_data(message, topic, send, may_wait);
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(cat("herald zmq: send failed: ", e.what()));
  }
}

void ZmqClient::read_data() {
  auto events = events_.lock();  // keeps the connection alive while its listeners run
  // At most kReadSlice at a time (listeners run here with Dispatch::immediate):
  // the control socket's pings and the hold notices are served in between.
  const Clock::time_point until = Clock::now() + kReadSlice;
  for (int i = 0; i < 4096 && sub_; ++i) {
    if ((i & 15) == 15 && Clock::now() > until) return;
    // (Probes travel behind the data: while one is awaited, keep reading;
    // the inbox takes the surplus as overfill rather than stall a join.)
    if (events && syncs_.empty() && !events->ready_for_more()) {
      backpressured_ = true;
      if (paused_since_ == Clock::time_point{}) paused_since_ = Clock::now();
      return;
    }
    paused_since_ = {};
    if (!sub_->recv(frame_, zmq::recv_flags::dontwait)) return;
    // Exactly one frame: topic, header and body. (The parts of a message
    // arrive together, so draining the rest of a multipart one never waits.)
    if (frame_.more()) {
      while (frame_.more() && sub_->recv(frame_, zmq::recv_flags::none)) {
      }
      malformed_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    absl::StatusOr<zmq_wire::Decoded> decoded =
        zmq_wire::decode(frame_.to_string_view(), max_message_bytes_.load());
    if (!decoded.ok()) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    const std::string_view topic = decoded->topic;
    if (decoded->probe) {
      probe_arrived(topic);
      continue;
    }
    const internal::Envelope& e = *decoded->envelope;
    // Sent before our unsubscribe reached the broker: we have left.
    if (!e.is_broadcast() && !subscribed_.contains(e.channel_or_empty())) continue;
    if (decoded->seq != 0) {
      const std::uint64_t lost = incoming_seqs_.track(e.sender(), topic, decoded->seq);
      if (lost > 0) lost_.fetch_add(lost, std::memory_order_relaxed);
    }
    if (!e.reaches(socket_id_)) continue;  // our own, echo off
    if (events && phase_ != Phase::refused) events->deliver(decoded->envelope);
  }
}

void ZmqClient::subscribe(const std::string& channel) {
  if (subscribed_.insert(channel).second) {
    sub_->set(zmq::sockopt::subscribe, zmq_wire::channel_topic(channel));
  }
}

void ZmqClient::unsubscribe(const std::string& channel) {
  if (subscribed_.erase(channel) == 0 || !sub_) return;
  const std::string topic = zmq_wire::channel_topic(channel);
  sub_->set(zmq::sockopt::unsubscribe, topic);
  incoming_seqs_.forget_topic(topic);  // they start over if it is joined again
}

}  // namespace herald::zmq_transport
