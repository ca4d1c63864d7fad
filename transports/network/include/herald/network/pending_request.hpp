// herald/network/pending_request.hpp — PendingRequest: a request an API
// thread hands to a network transport's I/O thread, and waits for.
//
//   auto request = std::make_shared<PendingRequest>();
//   (queue it; the I/O thread answers with request->finish(status[, members]))
//   if (!request->wait(timeout)) { /* no answer in time */ }
//   absl::Status status = request->take(&members);
//
// The first finish() counts; later ones (e.g. a reply after the connection
// was lost and the request failed) are ignored. Shared by zmq:// and ws://.
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "herald/hub.hpp"
#include "herald/internal/text.hpp"

namespace herald::network {

class PendingRequest {
 public:
  void finish(absl::Status status, std::vector<Member> members = {}) {
    {
      std::lock_guard lock(mu_);
      if (done_) return;
      done_ = true;
      status_ = std::move(status);
      members_ = std::move(members);
    }
    cv_.notify_all();
  }

  // True once finished; false if `timeout` passed first.
  bool wait(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return done_; });
  }

  // After wait() returned true: the answer (members moved out, if wanted).
  absl::Status take(std::vector<Member>* members_out = nullptr) {
    std::lock_guard lock(mu_);
    if (members_out != nullptr) *members_out = std::move(members_);
    return status_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  absl::Status status_;
  std::vector<Member> members_;
};

// The two ends of every request an API thread makes of a network client.
// On the I/O thread itself a request never waits (it goes out in order with
// everything else), so it gets no PendingRequest; elsewhere it gets one and
// waits for the far side's answer.
inline std::shared_ptr<PendingRequest> pending_for(bool on_io_thread) {
  return on_io_thread ? nullptr : std::make_shared<PendingRequest>();
}

// OK at once for a request without a PendingRequest; else the answer, or
// kDeadlineExceeded naming `far_side` ("herald zmq: the broker at URL") when
// none came within `timeout`.
inline absl::Status await_answer(const std::shared_ptr<PendingRequest>& pending,
                                 std::chrono::milliseconds timeout, std::string_view far_side,
                                 std::vector<Member>* members_out) {
  if (!pending) return absl::OkStatus();
  if (!pending->wait(timeout)) {
    return absl::DeadlineExceededError(
        internal::cat(far_side, " did not answer within ", timeout.count(), " ms"));
  }
  return pending->take(members_out);
}

}  // namespace herald::network
