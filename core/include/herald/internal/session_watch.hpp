// herald/internal/session_watch.hpp — SessionWatch: an enforcing Hub's
// re-check of the tokens of the connections attached to it.
//
// A token is checked when its connection attaches; a session may end later
// (the token expires, or the verifier stops accepting it) while the
// connection only listens. The watch re-verifies every attached token each
// HubOptions::session_check_interval on a thread of its own (started with the
// first connection it watches) and hands each connection whose token no
// longer verifies to `expired`, once.
//
// Thread-safety: every method may be called from any thread. `expired` runs
// on the watch's thread, with no lock held.
#pragma once

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "herald/internal/receiver.hpp"

namespace herald::internal {

class SessionWatch {
 public:
  using Verify = std::function<bool(std::string_view token)>;
  using Expired = std::function<void(const std::shared_ptr<Receiver>& receiver)>;

  SessionWatch(Verify verify, std::chrono::milliseconds interval, Expired expired);
  ~SessionWatch();  // stops and joins the thread
  SessionWatch(const SessionWatch&) = delete;
  SessionWatch& operator=(const SessionWatch&) = delete;

  void watch(const std::shared_ptr<Receiver>& receiver, std::string token);
  void forget(const Receiver& receiver);
  std::size_t watched() const;

 private:
  struct Watched {
    std::weak_ptr<Receiver> receiver;
    std::string token;
  };
  void run();
  void check_all();

  const Verify verify_;
  const std::chrono::milliseconds interval_;
  const Expired expired_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;
  absl::flat_hash_map<const Receiver*, Watched> watched_;
  std::thread thread_;  // started by the first watch()
};

}  // namespace herald::internal
