// Many threads at once: exact counts, per-sender order, listener calls that
// never overlap, and listeners changing while another thread dispatches.
// Meant to run under the tsan and asan presets as well.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "test_support.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::unique_name;

struct Tick {
  int producer = 0;
  int seq = 0;
  MSGPACK_DEFINE(producer, seq)
};

// Checks per-producer order and that calls never overlap.
class OrderChecker {
 public:
  explicit OrderChecker(int producers) : next_(producers, 0) {}
  void on(const Payload& p) {
    if (in_flight_.fetch_add(1) != 0) overlapped_ = true;
    Tick t = p.message().as<Tick>();
    if (t.seq != next_[t.producer]) out_of_order_ = true;
    next_[t.producer] = t.seq + 1;
    received_.fetch_add(1, std::memory_order_release);
    in_flight_.fetch_sub(1);
  }
  std::size_t received() const { return received_.load(std::memory_order_acquire); }
  bool overlapped() const { return overlapped_; }
  bool out_of_order() const { return out_of_order_; }

 private:
  std::vector<int> next_;  // touched only inside (non-overlapping) listener calls
  std::atomic<int> in_flight_{0};
  std::atomic<bool> overlapped_{false};
  std::atomic<bool> out_of_order_{false};
  std::atomic<std::size_t> received_{0};
};

void produce(Realtime& rt, int producer, int count, const std::string& channel) {
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(rt.send(channel, "tick", Tick{producer, i}).ok());
  }
}

TEST(Concurrency, ProducersToQueuedConsumersExactCountsAndOrder) {
  const std::string url = "mem://" + unique_name("conc-queued");
  constexpr int kProducers = 4;
  constexpr int kConsumers = 2;
  constexpr int kEach = 5000;
  Options queued;
  queued.dispatch = Dispatch::queued;
  queued.inbox_capacity = 256;  // small: producers must wait for room
  std::vector<std::unique_ptr<Realtime>> consumers;
  std::vector<std::unique_ptr<OrderChecker>> checkers;
  std::atomic<std::uint64_t> presence{0};  // channel:join events the consumers saw
  for (int c = 0; c < kConsumers; ++c) {
    consumers.push_back(std::make_unique<Realtime>(url, queued));
    checkers.push_back(std::make_unique<OrderChecker>(kProducers));
    consumers[c]->on("tick", [chk = checkers[c].get()](const Payload& p) { chk->on(p); });
    consumers[c]->on_join([&presence](const Payload&) { presence.fetch_add(1); });
    ASSERT_TRUE(consumers[c]->join("work", /*echo=*/false).ok());
  }
  std::vector<std::thread> threads;
  for (int c = 0; c < kConsumers; ++c) {
    threads.emplace_back([&, c] {
      while (checkers[c]->received() < std::size_t{kProducers * kEach}) {
        consumers[c]->poll_for(50ms);
      }
    });
  }
  std::vector<std::unique_ptr<Realtime>> producers;
  for (int p = 0; p < kProducers; ++p) producers.push_back(std::make_unique<Realtime>(url));
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { produce(*producers[p], p, kEach, "work"); });
  }
  for (auto& t : threads) t.join();
  std::uint64_t delivered = 0;
  for (int c = 0; c < kConsumers; ++c) {
    EXPECT_EQ(checkers[c]->received(), std::size_t{kProducers * kEach});
    EXPECT_FALSE(checkers[c]->out_of_order());
    EXPECT_FALSE(checkers[c]->overlapped());
    Stats s = consumers[c]->stats();
    delivered += s.delivered;
    EXPECT_EQ(s.dropped_inbox_full + s.inbox_overfilled, 0u);
  }
  // The first consumer heard the second one join (its own joins were not echoed).
  EXPECT_EQ(presence.load(), std::uint64_t{kConsumers - 1});
  EXPECT_EQ(delivered, std::uint64_t{kConsumers * kProducers * kEach} + presence.load());
}

TEST(Concurrency, ProducersToOneImmediateReceiverNeverOverlap) {
  const std::string url = "mem://" + unique_name("conc-immediate");
  constexpr int kProducers = 4;
  constexpr int kEach = 5000;
  Realtime rx(url);
  OrderChecker checker(kProducers);
  rx.on("tick", [&](const Payload& p) { checker.on(p); });
  ASSERT_TRUE(rx.join("work").ok());
  std::vector<std::unique_ptr<Realtime>> producers;
  for (int p = 0; p < kProducers; ++p) producers.push_back(std::make_unique<Realtime>(url));
  std::vector<std::thread> threads;
  for (int p = 0; p < kProducers; ++p) {
    threads.emplace_back([&, p] { produce(*producers[p], p, kEach, "work"); });
  }
  for (auto& t : threads) t.join();
  // Every send has returned; whatever another thread was still dispatching
  // finishes before that thread lets go of the receiver.
  ASSERT_TRUE(
      testing::eventually([&] { return checker.received() == std::size_t{kProducers * kEach}; }));
  EXPECT_FALSE(checker.out_of_order());
  EXPECT_FALSE(checker.overlapped());
}

TEST(Concurrency, OnAndOffWhileAnotherThreadDispatches) {
  const std::string url = "mem://" + unique_name("conc-onoff");
  Realtime rx(url);
  Realtime tx(url);
  std::atomic<int> stable{0};
  std::atomic<int> churned{0};
  rx.on("e", [&](const Payload&) { stable.fetch_add(1); });
  ASSERT_TRUE(rx.join("room").ok());
  constexpr int kCount = 20000;
  std::atomic<bool> done{false};
  std::thread churn([&] {
    while (!done) {
      ListenerId a = rx.on("e", [&](const Payload&) { churned.fetch_add(1); });
      ListenerId b = rx.on_any([&](const Payload&) { churned.fetch_add(1); });
      ListenerId c = rx.once("e", [&](const Payload&) { churned.fetch_add(1); });
      (void)rx.get_listeners();
      rx.off("e", a);
      rx.off_any(b);
      rx.off("e", c);
    }
  });
  std::thread sender([&] {
    for (int i = 0; i < kCount; ++i) ASSERT_TRUE(tx.send("room", "e", i).ok());
    done = true;
  });
  sender.join();
  churn.join();
  EXPECT_EQ(stable.load(), kCount);
  EXPECT_EQ(rx.get_listeners("e").size(), 1u);
  EXPECT_TRUE(rx.get_listeners().size() == 1u);
}

TEST(Concurrency, JoinLeaveAndConnectionsComingAndGoingWhileSending) {
  const std::string url = "mem://" + unique_name("conc-churn");
  Realtime tx(url);
  Realtime steady(url);
  std::atomic<int> steady_count{0};
  steady.on("e", [&](const Payload&) { steady_count.fetch_add(1); });
  ASSERT_TRUE(steady.join("room").ok());
  std::atomic<bool> done{false};
  std::thread churn([&] {
    while (!done) {
      Realtime temp(url);
      temp.on("e", [](const Payload&) {});
      ASSERT_TRUE(temp.join("room").ok());
      ASSERT_TRUE(temp.leave("room").ok());
      ASSERT_TRUE(temp.join("room").ok());
    }  // destroyed while the sender is routing to it
  });
  constexpr int kCount = 20000;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(tx.send("room", "e", i).ok());
    if (i % 7 == 0) {
      ASSERT_TRUE(tx.broadcast("e", i).ok());
    }
  }
  done = true;
  churn.join();
  EXPECT_EQ(steady_count.load(), kCount + (kCount + 6) / 7);
}

TEST(Concurrency, JoinAndLeaveRacingOnTwoThreadsLeaveOneTruth) {
  const std::string name = unique_name("conc-join-leave");
  const std::string url = "mem://" + name;
  Realtime tx(url);
  for (int round = 0; round < 300; ++round) {
    Realtime rt(url);
    std::atomic<int> got{0};
    rt.on("e", [&](const Payload&) { got.fetch_add(1); });
    std::thread joiner([&] {
      for (int i = 0; i < 20; ++i) ASSERT_TRUE(rt.join("x").ok());
    });
    std::thread leaver([&] {
      for (int i = 0; i < 20; ++i) ASSERT_TRUE(rt.leave("x").ok());
    });
    joiner.join();
    leaver.join();
    // Whatever the interleaving, what the connection says is what the hub does.
    const bool member = rt.channels() == std::vector<std::string>{"x"};
    ASSERT_TRUE(tx.send("x", "e", round).ok());
    ASSERT_EQ(got.load(), member ? 1 : 0) << "round " << round;
    ASSERT_TRUE(rt.leave("x").ok());
    ASSERT_TRUE(Hub::named(name)->channels().empty()) << "round " << round;
  }
}

}  // namespace
}  // namespace herald
