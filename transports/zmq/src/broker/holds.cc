#include "holds.hpp"

#include <algorithm>

#include "wire/data.hpp"

namespace herald::zmq_broker {

namespace {

// What one waiting message costs beyond its bytes (libzmq's msg_t and the
// deque's slot), for max_held_bytes.
constexpr std::size_t kOverhead = 96;

std::size_t cost(const zmq::message_t& m) { return m.size() + kOverhead; }

// Sends to the receivers with room; the full ones do not get it.
void send_lossily(zmq::socket_t& xpub, zmq::message_t& m) {
  xpub.set(zmq::sockopt::xpub_nodrop, 0);
  (void)xpub.send(m, zmq::send_flags::dontwait);
  xpub.set(zmq::sockopt::xpub_nodrop, 1);
}

}  // namespace

bool Holds::route(zmq::socket_t& xpub, std::string_view topic, zmq::message_t& message,
                  Clock::time_point now) {
  if (!queues_.empty()) {
    if (auto it = queues_.find(topic); it != queues_.end()) {
      keep(it->second, message);
      return false;
    }
  }
  if (xpub.send(message, zmq::send_flags::dontwait)) {
    if (!lossy_.empty()) {
      if (auto it = lossy_.find(topic); it != lossy_.end()) lossy_.erase(it);
    }
    return true;
  }
  if (!lossy_.empty() && lossy_.find(topic) != lossy_.end()) {
    // Stalled before: the receivers with room get it, the full one does not.
    send_lossily(xpub, message);
    counters_.dropped_stalled.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  Queue& q = queues_[std::string(topic)];
  q.progress = now;
  keep(q, message);
  return false;
}

void Holds::keep(Queue& q, zmq::message_t& message) {
  const std::size_t c = cost(message);
  q.bytes += c;
  bytes_ += c;
  q.messages.push_back(std::move(message));
  if (!q.announced && held(q)) {
    q.announced = true;
    held_changed_ = true;
  }
  counters_.messages_waited.fetch_add(1, std::memory_order_relaxed);
  publish_bytes();
}

std::size_t Holds::retry(zmq::socket_t& xpub, Clock::time_point now) {
  std::size_t sent = 0;
  for (auto it = queues_.begin(); it != queues_.end();) {
    Queue& q = it->second;
    bool progressed = false;
    while (!q.messages.empty()) {
      const std::size_t c = cost(q.messages.front());
      if (!xpub.send(q.messages.front(), zmq::send_flags::dontwait)) break;
      q.messages.pop_front();
      q.bytes -= c;
      bytes_ -= c;
      ++sent;
      progressed = true;
    }
    if (progressed) {
      q.progress = now;
      if (!lossy_.empty()) {
        if (auto l = lossy_.find(it->first); l != lossy_.end()) lossy_.erase(l);
      }
    }
    if (!q.messages.empty() && now - q.progress >= limits_.stall_timeout) {
      // A receiver of this topic took nothing for the stall timeout: what
      // waits goes to those with room, and so does what follows, until the
      // topic has room again.
      lossy_.insert(it->first);
      send_lossy(xpub, q);
    }
    if (q.messages.empty()) {
      if (q.announced) held_changed_ = true;
      it = queues_.erase(it);
    } else {
      ++it;
    }
  }
  publish_bytes();
  return sent;
}

void Holds::send_lossy(zmq::socket_t& xpub, Queue& q) {
  for (zmq::message_t& m : q.messages) send_lossily(xpub, m);
  counters_.dropped_stalled.fetch_add(q.messages.size(), std::memory_order_relaxed);
  bytes_ -= q.bytes;
  q.bytes = 0;
  q.messages.clear();
}

void Holds::announce(zmq::socket_t& notices, Clock::time_point now) {
  const bool repeat_due = !announced_.empty() &&
                          now - last_notice_ >= std::chrono::milliseconds(zmq_wire::kHoldRepeatMs);
  if (!held_changed_ && !repeat_due) return;
  if (held_changed_) {
    held_changed_ = false;
    std::vector<std::string> held;
    for (const auto& [topic, q] : queues_) {
      if (q.announced) held.push_back(topic);
    }
    std::sort(held.begin(), held.end());
    for (const std::string& t : held) {
      if (!std::binary_search(announced_.begin(), announced_.end(), t)) {
        counters_.holds.fetch_add(1, std::memory_order_relaxed);
      }
    }
    announced_ = std::move(held);
  }
  const std::vector<std::string_view> topics(announced_.begin(), announced_.end());
  const std::string notice = zmq_wire::encode_hold_notice(topics);
  (void)notices.send(zmq::buffer(notice), zmq::send_flags::dontwait);
  last_notice_ = now;
}

void Holds::publish_bytes() { counters_.held_bytes.store(bytes_, std::memory_order_relaxed); }

}  // namespace herald::zmq_broker
