#include "herald/internal/router.hpp"

#include <algorithm>

namespace herald::internal {

bool Router::attach(std::shared_ptr<Receiver> receiver) {
  std::lock_guard lock(mu_);
  if (!ids_.insert(std::string(receiver->id())).second) return false;
  const Receiver* key = receiver.get();
  attached_.try_emplace(key, Attached{std::move(receiver), {}});
  rebuild_all_locked();
  return true;
}

void Router::rebuild_all_locked() {
  auto all = std::make_shared<Members>();
  all->reserve(attached_.size());
  for (const auto& [key, a] : attached_) all->push_back({a.receiver, a.receiver->id()});
  all_ = std::move(all);
}

Router::Snapshot Router::without(const Snapshot& members, const Receiver* receiver) {
  auto next = std::make_shared<Members>();
  next->reserve(members->size());
  for (const Entry& e : *members) {
    if (e.receiver.get() != receiver) next->push_back(e);
  }
  return next;
}

std::vector<std::string> Router::detach(const Receiver& receiver) {
  std::vector<std::string> left;
  std::shared_ptr<Receiver> keep_alive;  // released after the lock
  std::lock_guard lock(mu_);
  auto it = attached_.find(&receiver);
  if (it == attached_.end()) return left;
  for (const std::string& channel : it->second.channels) {
    auto ch = channels_.find(channel);
    if (ch == channels_.end()) continue;
    ch->second = without(ch->second, &receiver);
    if (ch->second->empty()) channels_.erase(ch);
    left.push_back(channel);
  }
  ids_.erase(std::string(receiver.id()));
  keep_alive = std::move(it->second.receiver);
  attached_.erase(it);
  rebuild_all_locked();
  std::sort(left.begin(), left.end());
  return left;
}

bool Router::join(const Receiver& receiver, std::string_view channel) {
  std::lock_guard lock(mu_);
  auto it = attached_.find(&receiver);
  if (it == attached_.end()) return false;
  if (!it->second.channels.insert(std::string(channel)).second) return false;
  auto [ch, inserted] = channels_.try_emplace(std::string(channel));
  auto next = std::make_shared<Members>();
  if (ch->second) {
    next->reserve(ch->second->size() + 1);
    *next = *ch->second;
  }
  next->push_back({it->second.receiver, receiver.id()});
  ch->second = std::move(next);
  return true;
}

bool Router::leave(const Receiver& receiver, std::string_view channel) {
  std::lock_guard lock(mu_);
  auto it = attached_.find(&receiver);
  if (it == attached_.end()) return false;
  auto member = it->second.channels.find(channel);
  if (member == it->second.channels.end()) return false;
  it->second.channels.erase(member);
  auto ch = channels_.find(channel);
  if (ch != channels_.end()) {
    ch->second = without(ch->second, &receiver);
    if (ch->second->empty()) channels_.erase(ch);
  }
  return true;
}

void Router::deliver_all(const Members& members, const EnvelopePtr& envelope) {
  for (const Entry& e : members) {
    if (envelope->reaches(e.id)) e.receiver->deliver(envelope);
  }
}

void Router::route(const EnvelopePtr& envelope) const {
  Snapshot snapshot;
  {
    std::lock_guard lock(mu_);
    if (envelope->is_broadcast()) {
      snapshot = all_;
    } else {
      auto it = channels_.find(HashedName{envelope->channel_or_empty(), envelope->channel_hash()});
      if (it == channels_.end()) return;
      snapshot = it->second;
    }
  }
  deliver_all(*snapshot, envelope);
}

void Router::route_to_channel(const EnvelopePtr& envelope, std::string_view channel) const {
  Snapshot snapshot = members(channel);
  if (snapshot) deliver_all(*snapshot, envelope);
}

Router::Snapshot Router::members(std::string_view channel) const {
  std::lock_guard lock(mu_);
  auto it = channels_.find(channel);
  if (it == channels_.end()) return nullptr;
  return it->second;
}

std::vector<std::string> Router::channels_of(const Receiver& receiver) const {
  std::vector<std::string> out;
  {
    std::lock_guard lock(mu_);
    auto it = attached_.find(&receiver);
    if (it == attached_.end()) return out;
    out.assign(it->second.channels.begin(), it->second.channels.end());
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::size_t Router::connection_count() const {
  std::lock_guard lock(mu_);
  return attached_.size();
}

std::vector<std::string> Router::channels() const {
  std::vector<std::string> out;
  {
    std::lock_guard lock(mu_);
    out.reserve(channels_.size());
    for (const auto& [name, members] : channels_) out.push_back(name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace herald::internal
