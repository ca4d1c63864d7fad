#include "herald/internal/listener_registry.hpp"

#include <algorithm>
#include <exception>
#include <type_traits>

#include "herald/internal/text.hpp"

namespace herald::internal {

ListenerId ListenerRegistry::add(std::string_view event, Listener listener, bool once) {
  std::lock_guard lock(mu_);
  ListenerId id{next_id_++};
  auto slot = std::make_shared<Slot>(id, std::move(listener), once);
  auto [it, inserted] = events_.try_emplace(std::string(event));
  auto next = std::make_shared<SlotList>();
  if (it->second) {
    next->reserve(it->second->size() + 1);
    *next = *it->second;
  }
  next->push_back(std::move(slot));
  it->second = std::move(next);
  changed();
  return id;
}

ListenerId ListenerRegistry::add_any(Listener listener) {
  std::lock_guard lock(mu_);
  ListenerId id{next_id_++};
  auto next = std::make_shared<SlotList>();
  if (any_) *next = *any_;
  next->push_back(std::make_shared<Slot>(id, std::move(listener), false));
  any_ = std::move(next);
  changed();
  return id;
}

namespace {
// A copy of `list` without the slots `drop` selects (each is deactivated), or
// `list` itself when nothing matched.
template <class Snapshot, class Pred>
Snapshot without(const Snapshot& list, Pred drop) {
  if (!list) return list;
  auto next = std::make_shared<std::remove_const_t<typename Snapshot::element_type>>();
  bool any = false;
  for (const auto& slot : *list) {
    if (drop(*slot)) {
      slot->active.store(false, std::memory_order_release);
      any = true;
    } else {
      next->push_back(slot);
    }
  }
  if (!any) return list;
  if (next->empty()) return nullptr;
  return next;
}
}  // namespace

void ListenerRegistry::remove(std::string_view event, ListenerId id) {
  std::lock_guard lock(mu_);
  auto it = events_.find(event);
  if (it == events_.end()) return;
  it->second = without(it->second, [id](const Slot& s) { return s.id == id; });
  if (!it->second) events_.erase(it);
  changed();
}

void ListenerRegistry::remove_event(std::string_view event) {
  std::lock_guard lock(mu_);
  auto it = events_.find(event);
  if (it == events_.end()) return;
  without(it->second, [](const Slot&) { return true; });
  events_.erase(it);
  changed();
}

void ListenerRegistry::remove_all_events() {
  std::lock_guard lock(mu_);
  for (auto& [name, list] : events_) without(list, [](const Slot&) { return true; });
  events_.clear();
  changed();
}

void ListenerRegistry::remove_any(ListenerId id) {
  std::lock_guard lock(mu_);
  any_ = without(any_, [id](const Slot& s) { return s.id == id; });
  changed();
}

void ListenerRegistry::remove_all_any() {
  std::lock_guard lock(mu_);
  any_ = without(any_, [](const Slot&) { return true; });
  changed();
}

void ListenerRegistry::clear() {
  remove_all_events();
  remove_all_any();
  cache_.clear();
  last_ = nullptr;
  cached_any_.reset();
  cached_version_ = 0;
}

std::vector<ListenerId> ListenerRegistry::listeners(std::string_view event) const {
  std::lock_guard lock(mu_);
  std::vector<ListenerId> ids;
  auto it = events_.find(event);
  if (it != events_.end() && it->second) {
    for (const auto& slot : *it->second) ids.push_back(slot->id);
  }
  return ids;
}

std::vector<ListenerId> ListenerRegistry::all() const {
  std::lock_guard lock(mu_);
  std::vector<ListenerId> ids;
  for (const auto& [name, list] : events_) {
    for (const auto& slot : *list) ids.push_back(slot->id);
  }
  // Ids grow with registration, so sorting restores registration order.
  std::sort(ids.begin(), ids.end());
  if (any_) {
    for (const auto& slot : *any_) ids.push_back(slot->id);
  }
  return ids;
}

const ListenerRegistry::Snapshot& ListenerRegistry::cached_event(HashedName event) {
  static const Snapshot kNone;
  if (version_.load(std::memory_order_acquire) == cached_version_) {
    // The event of the dispatch before, most often the same one.
    if (last_ != nullptr && last_->second.hash == event.hash &&
        same_name(last_->first, event.name)) {
      return last_->second.snapshot;
    }
    auto it = cache_.find(event);
    if (it != cache_.end()) {
      last_ = &*it;
      return it->second.snapshot;
    }
  }
  std::lock_guard lock(mu_);
  std::uint64_t now = version_.load(std::memory_order_relaxed);
  last_ = nullptr;  // the insert below may move every entry
  if (now != cached_version_ || cache_.size() >= kMaxCachedEvents) {
    cache_.clear();
    cached_any_ = any_;
    cached_version_ = now;
  }
  auto found = events_.find(event);
  auto [it, inserted] = cache_.try_emplace(std::string(event.name));
  it->second.hash = event.hash;
  it->second.snapshot = found == events_.end() ? kNone : found->second;
  last_ = &*it;
  return it->second.snapshot;
}

void ListenerRegistry::erase_once(const Payload& payload, ListenerId id) {
  std::lock_guard lock(mu_);
  auto it = events_.find(payload.event());
  if (it == events_.end()) return;
  it->second = without(it->second, [id](const Slot& s) { return s.id == id; });
  if (!it->second) events_.erase(it);
  changed();
}

void ListenerRegistry::call(Slot& slot, const Payload& payload, const ErrorSink& on_error,
                            DispatchCounts& counts) {
  if (slot.once) {
    // Claim it (only one delivery may run a once-listener), remove it, then
    // invoke it: inside, get_listeners no longer lists it.
    if (!slot.active.exchange(false, std::memory_order_acq_rel)) return;
    erase_once(payload, slot.id);
  } else if (!slot.active.load(std::memory_order_acquire)) {
    return;
  }
  ++counts.calls;
  try {
    slot.fn(payload);
  } catch (const std::exception& e) {
    ++counts.errors;
    if (on_error) {
      on_error(absl::UnknownError(
          internal::cat("herald: listener for event \"", payload.event(), "\" threw: ", e.what())));
    }
  } catch (...) {
    ++counts.errors;
    if (on_error) {
      on_error(absl::UnknownError(internal::cat("herald: listener for event \"", payload.event(),
                                                "\" threw a non-std::exception")));
    }
  }
}

ListenerRegistry::DispatchCounts ListenerRegistry::dispatch(const Payload& payload,
                                                            HashedName event,
                                                            const ErrorSink& on_error) {
  DispatchCounts counts;
  // References into the cache stay valid for the whole dispatch: only
  // cached_event() changes the cache, and dispatches never nest (a listener
  // that sends to its own connection queues the envelope behind this one).
  const Snapshot& listeners = cached_event(event);
  const Snapshot& any = cached_any_;
  if (any) {
    for (const auto& slot : *any) call(*slot, payload, on_error, counts);
  }
  if (listeners) {
    for (const auto& slot : *listeners) call(*slot, payload, on_error, counts);
  }
  return counts;
}

}  // namespace herald::internal
