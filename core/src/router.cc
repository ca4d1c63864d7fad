#include "herald/internal/router.hpp"

#include <algorithm>

namespace herald::internal {
namespace {

std::atomic<std::uint64_t> g_next_router_id{1};

struct RouteCacheEntry {
  std::uint64_t router_id = 0;
  std::uint64_t version = 0;
  std::size_t hash = 0;
  bool broadcast = false;
  std::string channel;
  Router::Snapshot snapshot;
};

constexpr std::size_t kRouteCacheSlots = 16;  // direct-mapped by channel hash
thread_local RouteCacheEntry t_route_cache[kRouteCacheSlots];
// Nonzero while this thread delivers from a cached snapshot: a nested route
// (a listener sending) must not replace the entry being iterated.
thread_local int t_route_depth = 0;

}  // namespace

Router::Router() : router_id_(g_next_router_id.fetch_add(1)) {}
Router::~Router() = default;

bool Router::attach(std::shared_ptr<Receiver> receiver) {
  std::lock_guard lock(mu_);
  if (!ids_.insert(std::string(receiver->id())).second) return false;
  const Receiver* key = receiver.get();
  attached_.try_emplace(key, Attached{std::move(receiver), {}});
  rebuild_all_locked();
  changed_locked();
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
  changed_locked();
  std::sort(left.begin(), left.end());
  return left;
}

bool Router::replace(const Receiver& old, std::shared_ptr<Receiver> replacement) {
  std::shared_ptr<Receiver> keep_alive;  // released after the lock
  std::lock_guard lock(mu_);
  auto it = attached_.find(&old);
  if (it == attached_.end() || replacement->id() != old.id()) return false;
  for (const std::string& channel : it->second.channels) {
    auto ch = channels_.find(channel);
    if (ch == channels_.end()) continue;
    auto next = std::make_shared<Members>(*ch->second);
    for (Entry& e : *next) {
      if (e.receiver.get() == &old) e = Entry{replacement, replacement->id()};
    }
    ch->second = std::move(next);
  }
  Attached taken{replacement, std::move(it->second.channels)};
  keep_alive = std::move(it->second.receiver);
  attached_.erase(it);
  attached_.try_emplace(replacement.get(), std::move(taken));
  rebuild_all_locked();
  changed_locked();
  return true;
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
  changed_locked();
  return true;
}

Router::Snapshot Router::leave(const Receiver& receiver, std::string_view channel) {
  std::lock_guard lock(mu_);
  auto it = attached_.find(&receiver);
  if (it == attached_.end()) return nullptr;
  auto member = it->second.channels.find(channel);
  if (member == it->second.channels.end()) return nullptr;
  it->second.channels.erase(member);
  Snapshot before;
  auto ch = channels_.find(channel);
  if (ch != channels_.end()) {
    before = ch->second;
    ch->second = without(ch->second, &receiver);
    if (ch->second->empty()) channels_.erase(ch);
  }
  changed_locked();
  return before;
}

void Router::deliver_all(const Members& members, const EnvelopePtr& envelope) {
  for (const Entry& e : members) {
    if (envelope->reaches(e.id)) e.receiver->deliver(envelope);
  }
}

Router::Snapshot Router::locked_route(const EnvelopePtr& envelope) const {
  std::lock_guard lock(mu_);
  if (envelope->is_broadcast()) return all_;
  auto it = channels_.find(HashedName{envelope->channel_or_empty(), envelope->channel_hash()});
  if (it == channels_.end()) return nullptr;
  return it->second;
}

const Router::Members* Router::cached_route(const EnvelopePtr& envelope) const {
  const bool broadcast = envelope->is_broadcast();
  const std::size_t hash = broadcast ? 0 : envelope->channel_hash();
  RouteCacheEntry& entry = t_route_cache[hash % kRouteCacheSlots];
  const std::uint64_t version = version_.load(std::memory_order_acquire);
  if (entry.router_id == router_id_ && entry.version == version && entry.hash == hash &&
      entry.broadcast == broadcast &&
      (broadcast || same_name(entry.channel, envelope->channel_or_empty()))) {
    return entry.snapshot.get();
  }
  Snapshot snapshot = locked_route(envelope);
  entry.router_id = router_id_;
  // The version read before the lookup: a change in between only makes the
  // next route look again.
  entry.version = version;
  entry.hash = hash;
  entry.broadcast = broadcast;
  entry.channel.assign(broadcast ? std::string_view() : envelope->channel_or_empty());
  entry.snapshot = std::move(snapshot);
  return entry.snapshot.get();
}

void Router::route(const EnvelopePtr& envelope) const {
  if (t_route_depth > 0) {
    Snapshot snapshot = locked_route(envelope);
    if (snapshot) deliver_all(*snapshot, envelope);
    return;
  }
  const Members* members = cached_route(envelope);
  if (members == nullptr) return;
  struct Depth {
    Depth() { ++t_route_depth; }
    ~Depth() { --t_route_depth; }
  } depth;
  deliver_all(*members, envelope);
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
