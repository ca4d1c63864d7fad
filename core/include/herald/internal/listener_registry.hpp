// herald/internal/listener_registry.hpp — event name → ordered listeners,
// any-listeners, once.
//
// Nested-listener safety (see docs/dispatch.md):
//  - a listener added during a dispatch is not called for that message;
//  - a listener removed during a dispatch is not called afterwards, including
//    later in the same dispatch;
//  - `once` listeners are removed, then invoked;
//  - no lock is held while a listener runs, so listeners may call anything.
// Adding and removing may happen on any thread. dispatch() must not run
// concurrently with itself (the connection serializes its dispatches).
//
// Data structure: per event, an immutable, shared snapshot of its slots
// (copy-on-write under a mutex when listeners change). The dispatching side
// keeps a cache of snapshots that it revalidates with one atomic load of a
// version number, so a dispatch in steady state takes no lock and makes no
// read-modify-write. Complexity: on/off O(listeners of that event);
// dispatch O(listeners called).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "herald/internal/names.hpp"
#include "herald/payload.hpp"

namespace herald::internal {

class ListenerRegistry {
 public:
  struct DispatchCounts {
    std::size_t calls = 0;
    std::size_t errors = 0;
  };
  using ErrorSink = std::function<void(const absl::Status&)>;

  ListenerId add(std::string_view event, Listener listener, bool once);
  ListenerId add_any(Listener listener);

  void remove(std::string_view event, ListenerId id);
  void remove_event(std::string_view event);
  void remove_all_events();
  void remove_any(ListenerId id);
  void remove_all_any();
  // Drops every listener and the dispatch cache. Only while nothing dispatches.
  void clear();

  std::vector<ListenerId> listeners(std::string_view event) const;
  // Every event listener in registration order, then every any-listener.
  std::vector<ListenerId> all() const;

  // Calls the any-listeners, then the listeners of `event`. A listener that
  // throws is reported to `on_error` and the others still run.
  DispatchCounts dispatch(const Payload& payload, HashedName event, const ErrorSink& on_error);

 private:
  struct Slot {
    Slot(ListenerId i, Listener f, bool o) : id(i), fn(std::move(f)), once(o) {}
    ListenerId id;
    Listener fn;
    bool once;
    std::atomic<bool> active{true};
  };
  using SlotList = std::vector<std::shared_ptr<Slot>>;
  using Snapshot = std::shared_ptr<const SlotList>;

  void call(Slot& slot, const Payload& payload, const ErrorSink& on_error, DispatchCounts& counts);
  void erase_once(const Payload& payload, ListenerId id);
  void changed() { version_.fetch_add(1, std::memory_order_release); }
  const Snapshot& cached_event(HashedName event);

  mutable std::mutex mu_;
  NameMap<Snapshot> events_;
  Snapshot any_;
  std::uint64_t next_id_ = 1;
  std::atomic<std::uint64_t> version_{1};

  // Dispatch side only (serialized by the caller).
  static constexpr std::size_t kMaxCachedEvents = 1024;
  std::uint64_t cached_version_ = 0;
  Snapshot cached_any_;
  struct Cached {
    std::size_t hash = 0;
    Snapshot snapshot;
  };
  NameMap<Cached> cache_;
  // The entry the last dispatch used (nullptr after any insert or clear).
  const std::pair<const std::string, Cached>* last_ = nullptr;
};

}  // namespace herald::internal
