#include "herald/internal/session_watch.hpp"

#include <utility>
#include <vector>

#include "herald/internal/thread_role.hpp"

namespace herald::internal {

SessionWatch::SessionWatch(Verify verify, std::chrono::milliseconds interval, Expired expired)
    : verify_(std::move(verify)), interval_(interval), expired_(std::move(expired)) {}

SessionWatch::~SessionWatch() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (!thread_.joinable()) return;
  // The last owner of the Hub may be a receiver released on the watch's own thread.
  if (thread_.get_id() == std::this_thread::get_id()) {
    thread_.detach();
  } else {
    thread_.join();
  }
}

void SessionWatch::watch(const std::shared_ptr<Receiver>& receiver, std::string token) {
  std::lock_guard lock(mu_);
  watched_.insert_or_assign(receiver.get(), Watched{receiver, std::move(token)});
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void SessionWatch::forget(const Receiver& receiver) {
  std::lock_guard lock(mu_);
  watched_.erase(&receiver);
}

std::size_t SessionWatch::watched() const {
  std::lock_guard lock(mu_);
  return watched_.size();
}

void SessionWatch::run() {
  // Telling a connection may deliver channel:leave to a queued mem:// inbox:
  // this thread must never wait for one.
  t_on_transport_thread = true;
  std::unique_lock lock(mu_);
  while (!wake_.wait_for(lock, interval_, [this] { return stopping_; })) {
    lock.unlock();
    check_all();
    lock.lock();
  }
}

void SessionWatch::check_all() {
  std::vector<std::pair<std::shared_ptr<Receiver>, std::string>> all;
  {
    std::lock_guard lock(mu_);
    all.reserve(watched_.size());
    for (const auto& [key, w] : watched_) {
      if (auto receiver = w.receiver.lock()) all.emplace_back(std::move(receiver), w.token);
    }
  }
  for (auto& [receiver, token] : all) {
    if (verify_(token)) continue;
    {
      std::lock_guard lock(mu_);
      auto it = watched_.find(receiver.get());
      // Gone meanwhile, or attached again with another token: not this one's to end.
      if (it == watched_.end() || it->second.token != token) continue;
      watched_.erase(it);
    }
    expired_(receiver);
  }
}

}  // namespace herald::internal
