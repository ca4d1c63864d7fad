#include "client/sequences.hpp"

#include <cstring>
#include <string>

#include "wire/data.hpp"

namespace herald::zmq_transport {

std::uint64_t OutgoingSequences::next(std::string_view topic) {
  auto seq = last_.find(topic);
  if (seq == last_.end()) {
    if (last_.size() >= kMaxTrackedSenders) last_.clear();
    seq = last_.emplace(std::string(topic), 0).first;
  }
  return ++seq->second;
}

void OutgoingSequences::take_back(std::string_view topic) {
  if (auto seq = last_.find(topic); seq != last_.end() && seq->second > 0) --seq->second;
}

std::uint64_t IncomingSequences::track(std::string_view sender, std::string_view topic,
                                       std::uint64_t seq) {
  char key_buffer[internal::kMaxNameBytes + 1 + zmq_wire::kMaxTopicBytes];
  std::memcpy(key_buffer, sender.data(), sender.size());
  key_buffer[sender.size()] = zmq_wire::kTopicEnd;
  std::memcpy(key_buffer + sender.size() + 1, topic.data(), topic.size());
  const std::string_view key(key_buffer, sender.size() + 1 + topic.size());
  auto it = last_.find(key);
  if (it == last_.end()) {
    if (last_.size() >= kMaxTrackedSenders) last_.clear();
    last_.emplace(std::string(key), seq);
    return 0;
  }
  // ZeroMQ keeps a sender's order, so a lower number is a restart (the
  // sender's numbering started over), never a late arrival.
  const std::uint64_t lost = seq > it->second + 1 ? seq - it->second - 1 : 0;
  it->second = seq;
  return lost;
}

void IncomingSequences::forget_topic(std::string_view topic) {
  for (auto it = last_.begin(); it != last_.end();) {
    const std::string& key = it->first;
    if (key.size() > topic.size() &&
        key.compare(key.size() - topic.size(), topic.size(), topic) == 0) {
      last_.erase(it++);
    } else {
      ++it;
    }
  }
}

}  // namespace herald::zmq_transport
