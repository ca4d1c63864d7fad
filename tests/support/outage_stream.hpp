// A sender streaming ints to a receiver on channel "stream" (both members)
// through a server that goes away and comes back: what each side's
// connection events were, and what each saw, for the outage tests of every
// network transport. Declare it before the connections it watches, so that
// it outlives their callbacks.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "test_support.hpp"

namespace herald::testing {

struct OutageStream {
  // Counts `receiver`'s and `sender`'s connection events, records the ints
  // both receive (the sender its own echo) and joins both to "stream".
  void watch(Realtime& receiver_, Realtime& sender_) {
    receiver = &receiver_;
    sender = &sender_;
    receiver->on_connect([this] { connects_r.fetch_add(1); });
    sender->on_connect([this] { connects_s.fetch_add(1); });
    receiver->on_disconnect([this](std::string_view) { disconnects_r.fetch_add(1); });
    sender->on_disconnect([this](std::string_view) { disconnects_s.fetch_add(1); });
    sender->on_reconnect_attempt([this](int) { attempts.fetch_add(1); });
    ASSERT_EQ(connects_r.load(), 1);  // replayed: already connected
    receiver->on("n", [this](const Payload& p) {
      std::lock_guard lock(mu);
      got_r.push_back(p.message().as<int>());
    });
    sender->on("n", [this](const Payload& p) {
      std::lock_guard lock(mu);
      got_s.push_back(p.message().as<int>());
    });
    ASSERT_TRUE(receiver->join("stream").ok());
    ASSERT_TRUE(sender->join("stream").ok());
  }
  // Sends the next `n` ints, `pace` apart.
  void send_some(int n) {
    for (int i = 0; i < n; ++i) {
      ASSERT_TRUE(sender->send("stream", "n", next++).ok());
      std::this_thread::sleep_for(pace);
    }
  }
  // True once both sides saw the last int sent (waits up to kPatience).
  bool both_have_the_last() {
    return eventually([&] {
      std::lock_guard lock(mu);
      return !got_r.empty() && got_r.back() == next - 1 && !got_s.empty() &&
             got_s.back() == next - 1;
    });
  }

  std::chrono::microseconds pace{100};
  Realtime* receiver = nullptr;
  Realtime* sender = nullptr;
  std::atomic<int> connects_r{0}, connects_s{0}, disconnects_r{0}, disconnects_s{0}, attempts{0};
  std::mutex mu;
  std::vector<int> got_r, got_s;  // what the receiver, and the sender's own echo, saw
  int next = 0;
};

}  // namespace herald::testing
