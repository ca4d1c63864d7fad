// herald/internal/router.hpp — channel → members; who receives an envelope.
//
// The Router keeps, per channel, an immutable snapshot of its members
// (copy-on-write on join/leave) and one of every attached receiver (for
// broadcast). route() takes the snapshot under a short lock and delivers
// outside it, so a receiver's listeners may join, leave or send from inside a
// delivery. The echo rule is Envelope::reaches.
//
// Complexity: route O(receivers); join/leave O(members of that channel);
// detach O(channels of that receiver + attached receivers).
//
// Route cache: each sending thread keeps the last few snapshots it routed to,
// tagged with the router's membership version; while nobody joins or leaves,
// route() takes no lock. A cached snapshot keeps its receivers' memory alive
// (never their delivery: a detached receiver is never routed to again) until
// the thread routes there again or exits.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "herald/internal/envelope.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/receiver.hpp"

namespace herald::internal {

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  struct Entry {
    std::shared_ptr<Receiver> receiver;
    std::string_view id;  // receiver->id(), kept alive by `receiver`
  };
  using Members = std::vector<Entry>;
  using Snapshot = std::shared_ptr<const Members>;

  // False when a receiver with the same id is already attached.
  bool attach(std::shared_ptr<Receiver> receiver);
  // Removes it from every channel; returns the channels it was in.
  std::vector<std::string> detach(const Receiver& receiver);
  // `replacement` (the same socket id) takes `old`'s place in every channel
  // it is in, at once: nobody sees it leave or join. False when `old` is not
  // attached.
  bool replace(const Receiver& old, std::shared_ptr<Receiver> replacement);
  // True when it was not a member before (join is idempotent).
  bool join(const Receiver& receiver, std::string_view channel);
  // The members just before it left (it included), or null when it was not
  // a member.
  Snapshot leave(const Receiver& receiver, std::string_view channel);

  // Delivers to the members of the envelope's channel, or to every attached
  // receiver for a broadcast, applying the echo rule.
  void route(const EnvelopePtr& envelope) const;
  // Delivers to the members of `channel`, applying the echo rule (presence
  // events: the channel is given, not read from the envelope).
  void route_to_channel(const EnvelopePtr& envelope, std::string_view channel) const;

  Snapshot members(std::string_view channel) const;
  // The channels `receiver` is in, sorted.
  std::vector<std::string> channels_of(const Receiver& receiver) const;
  std::size_t connection_count() const;
  std::vector<std::string> channels() const;  // sorted

 private:
  struct Attached {
    std::shared_ptr<Receiver> receiver;
    NameSet channels;
  };
  static void deliver_all(const Members& members, const EnvelopePtr& envelope);
  static Snapshot without(const Snapshot& members, const Receiver* receiver);
  void rebuild_all_locked();
  void changed_locked() { version_.fetch_add(1, std::memory_order_release); }
  // The snapshot an envelope goes to, from this thread's route cache when the
  // membership has not changed since it was cached (no lock, no atomic
  // read-modify-write), else from the maps under the lock.
  const Members* cached_route(const EnvelopePtr& envelope) const;
  Snapshot locked_route(const EnvelopePtr& envelope) const;

  const std::uint64_t router_id_;
  std::atomic<std::uint64_t> version_{1};
  mutable std::mutex mu_;
  absl::flat_hash_map<const Receiver*, Attached> attached_;
  NameSet ids_;
  NameMap<Snapshot> channels_;
  Snapshot all_ = std::make_shared<const Members>();
};

}  // namespace herald::internal
