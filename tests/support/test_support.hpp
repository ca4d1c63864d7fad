// Shared helpers for herald's tests: a thread-safe record of what listeners
// received, and waiting with a deadline (delivery is synchronous over mem://
// but not over network transports, so tests wait rather than assume).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"

namespace herald::testing {

inline constexpr std::chrono::seconds kPatience{10};

struct Received {
  std::optional<std::string> channel;
  std::string event;
  std::string sender;
  Message message;
  std::thread::id thread;
};

// Collects payloads; safe to share between threads. Its listeners keep the
// record alive, so a delivery that arrives after the Collector is gone (a
// presence event still on its way when a test ends) is harmless.
class Collector {
 public:
  Listener listener() {
    return [state = state_](const Payload& p) { state->add(p); };
  }
  void add(const Payload& p) { state_->add(p); }
  // True once at least `n` payloads arrived (waits up to kPatience).
  bool wait_for(std::size_t n) {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, kPatience, [&] { return state_->received.size() >= n; });
  }
  // True once a payload with this event arrived.
  bool wait_for_event(const std::string& event) {
    std::unique_lock lock(state_->mu);
    return state_->cv.wait_for(lock, kPatience, [&] {
      for (const auto& r : state_->received) {
        if (r.event == event) return true;
      }
      return false;
    });
  }
  std::vector<Received> all() const {
    std::lock_guard lock(state_->mu);
    return state_->received;
  }
  std::size_t size() const {
    std::lock_guard lock(state_->mu);
    return state_->received.size();
  }
  std::vector<std::string> events() const {
    std::lock_guard lock(state_->mu);
    std::vector<std::string> out;
    for (const auto& r : state_->received) out.push_back(r.event);
    return out;
  }
  std::size_t count(const std::string& event) const {
    std::lock_guard lock(state_->mu);
    std::size_t n = 0;
    for (const auto& r : state_->received) n += r.event == event;
    return n;
  }

 private:
  struct State {
    void add(const Payload& p) {
      {
        std::lock_guard lock(mu);
        received.push_back(
            {p.channel() ? std::optional<std::string>(std::string(*p.channel())) : std::nullopt,
             std::string(p.event()), std::string(p.sender()), p.message(),
             std::this_thread::get_id()});
      }
      cv.notify_all();
    }
    std::mutex mu;
    std::condition_variable cv;
    std::vector<Received> received;
  };
  std::shared_ptr<State> state_ = std::make_shared<State>();
};

// Polls `condition` until true or kPatience passes.
inline bool eventually(const std::function<bool()>& condition) {
  auto deadline = std::chrono::steady_clock::now() + kPatience;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return condition();
}

// A hub name no other test uses.
inline std::string unique_name(const std::string& prefix) {
  static std::atomic<int> counter{0};
  return prefix + "-" + std::to_string(counter.fetch_add(1));
}

}  // namespace herald::testing
