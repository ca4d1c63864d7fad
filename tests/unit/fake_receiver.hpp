// A Receiver that records what is delivered to it, for the core's unit tests.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "herald/internal/envelope.hpp"
#include "herald/internal/receiver.hpp"

namespace herald::testing {

class FakeReceiver : public internal::Receiver {
 public:
  explicit FakeReceiver(std::string id) : id_(std::move(id)) {}
  std::string_view id() const noexcept override { return id_; }
  void deliver(const internal::EnvelopePtr& envelope) override {
    std::function<void(const internal::EnvelopePtr&)> hook;
    {
      std::lock_guard lock(mu_);
      got_.push_back(envelope);
      hook = on_deliver_;
    }
    if (hook) hook(envelope);
  }
  Message profile() const override {
    std::lock_guard lock(mu_);
    return profile_;
  }

  void set_profile(Message profile) {
    std::lock_guard lock(mu_);
    profile_ = std::move(profile);
  }
  void on_deliver(std::function<void(const internal::EnvelopePtr&)> hook) {
    std::lock_guard lock(mu_);
    on_deliver_ = std::move(hook);
  }
  // "event@channel from sender" for each delivery, in order.
  std::vector<std::string> log() const {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& e : got_) {
      out.push_back(std::string(e->event()) + "@" + std::string(e->channel().value_or("*")) +
                    " from " + std::string(e->sender()));
    }
    return out;
  }
  std::vector<internal::EnvelopePtr> received() const {
    std::lock_guard lock(mu_);
    return got_;
  }
  std::size_t count() const {
    std::lock_guard lock(mu_);
    return got_.size();
  }

 private:
  const std::string id_;
  mutable std::mutex mu_;
  std::vector<internal::EnvelopePtr> got_;
  Message profile_;
  std::function<void(const internal::EnvelopePtr&)> on_deliver_;
};

inline std::shared_ptr<FakeReceiver> fake(std::string id) {
  return std::make_shared<FakeReceiver>(std::move(id));
}

}  // namespace herald::testing
