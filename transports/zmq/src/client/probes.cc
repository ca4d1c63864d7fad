// ZmqClient's probes (docs/PROTOCOL.md, "Probes: no slow-joiner loss"): a
// subscription is trusted once a probe published by this connection, on a
// topic subscribed after it, has come back through the broker.
#include <cstring>

#include "client/zmq_client.hpp"

namespace herald::zmq_transport {

// Welcome received: make sure our PUB is forwarded and our SUB's
// subscriptions (broadcast + restored channels) are in force, then report.
void ZmqClient::begin_probing() {
  phase_ = Phase::probing;
  last_heard_ = Clock::now();
  last_ping_ = last_heard_;
  sub_->set(zmq::sockopt::subscribe, zmq_wire::kBroadcastTopic);
  const std::vector<internal::TransportEvents::ChannelToRestore> channels = restore_;
  for (const auto& restore : channels) subscribe(restore.channel);
  sync(nullptr, [this, channels] {
    for (const auto& restore : channels) {
      send_request(Request::join, restore.channel, restore.echo, nullptr, nullptr);
    }
    phase_ = Phase::ready;
    backoff_.reset();
    if (auto events = events_.lock()) events->transport_connected();
  });
}

// Runs `then` once everything subscribed so far is in force at the broker.
void ZmqClient::sync(std::shared_ptr<PendingRequest> pending, std::function<void()> then) {
  Sync s{zmq_wire::probe_topic(socket_id_, ++probe_counter_), Clock::time_point{}, std::move(then),
         std::move(pending)};
  sub_->set(zmq::sockopt::subscribe, s.topic);
  send_probe(s);
  syncs_.push_back(std::move(s));
}

void ZmqClient::send_probe(Sync& sync) {
  sync.last_sent = Clock::now();
  // (A sender may hold the PUB while the broker reads nothing: the probe
  // goes again at the next kProbeInterval.)
  std::unique_lock lock(pub_mu_, std::try_to_lock);
  if (!lock.owns_lock() || !pub_) return;
  char message[zmq_wire::kMaxProbeTopicBytes + zmq_wire::kMaxHeaderBytes + 1];
  std::memcpy(message, sync.topic.data(), sync.topic.size());
  std::size_t size = sync.topic.size();
  size += zmq_wire::write_probe_header(message + size, socket_id_);
  message[size++] = '\xc0';  // nil body
  pub_->send(zmq::buffer(message, size), zmq::send_flags::dontwait);
}

void ZmqClient::probe_arrived(std::string_view topic) {
  for (auto it = syncs_.begin(); it != syncs_.end(); ++it) {
    if (it->topic == topic) {
      auto then = std::move(it->then);
      sub_->set(zmq::sockopt::unsubscribe, it->topic);
      syncs_.erase(it);
      then();
      return;
    }
  }
}

// Sockets close with ZMQ_LINGER 0 (a dead broker never holds up a close),
// so first make sure what was sent has left: a probe published after it,
// on the same path, coming back (waits at most `limit`). What arrives for
// us meanwhile is not delivered: the connection is closing.
void ZmqClient::flush_outgoing(std::chrono::milliseconds limit) {
  if (!sub_) return;
  const std::string topic = zmq_wire::probe_topic(socket_id_, ++probe_counter_);
  sub_->set(zmq::sockopt::subscribe, topic);
  Sync probe{topic, Clock::time_point{}, nullptr, nullptr};
  const auto deadline = Clock::now() + limit;
  while (Clock::now() < deadline) {
    if (Clock::now() - probe.last_sent >= kProbeInterval) send_probe(probe);
    zmq::pollitem_t item{sub_->handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, kProbeInterval) <= 0) continue;
    while (sub_->recv(frame_, zmq::recv_flags::dontwait)) {
      const bool ours = !frame_.more() && frame_.to_string_view().starts_with(topic);
      while (frame_.more() && sub_->recv(frame_, zmq::recv_flags::none)) {
      }
      if (ours) return;
    }
  }
}

}  // namespace herald::zmq_transport
