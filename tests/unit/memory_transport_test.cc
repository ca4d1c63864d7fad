// Rules specific to mem:// and the in-process Hub: where listeners run,
// queued dispatch and its inbox bound, the hub directory, limits, sessions.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "herald/session_token.hpp"
#include "test_support.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::unique_name;

std::string fresh_url() { return "mem://" + unique_name("mem"); }

// ---------------------------------------------------------------- where listeners run

TEST(MemoryTransport, ImmediateDispatchRunsOnSenderThreadBeforeSendReturns) {
  std::string url = fresh_url();
  Realtime rx(url);
  Realtime tx(url);
  std::thread::id ran_on;
  bool ran = false;
  rx.on("e", [&](const Payload&) {
    ran_on = std::this_thread::get_id();
    ran = true;
  });
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  std::thread sender([&] {
    ASSERT_TRUE(tx.send("room", "e", 1).ok());
    EXPECT_TRUE(ran);  // already ran, before send returned
    EXPECT_EQ(ran_on, std::this_thread::get_id());
  });
  sender.join();
}

TEST(MemoryTransport, FanOutSharesOneEncodedBuffer) {
  std::string url = fresh_url();
  Realtime tx(url);
  std::vector<std::unique_ptr<Realtime>> receivers;
  std::vector<Message> copies(16);
  for (int i = 0; i < 16; ++i) {
    receivers.push_back(std::make_unique<Realtime>(url));
    receivers.back()->on("e", [&copies, i](const Payload& p) { copies[i] = p.message(); });
    ASSERT_TRUE(receivers.back()->join("room").ok());
  }
  ASSERT_TRUE(tx.send("room", "e", std::string(4096, 'q')).ok());
  for (int i = 1; i < 16; ++i) {
    EXPECT_TRUE(copies[i].shares_bytes_with(copies[0])) << "receiver " << i;
  }
  EXPECT_EQ(copies[0].as<std::string>(), std::string(4096, 'q'));
}

TEST(MemoryTransport, QueuedDispatchRunsOnlyInPollOnTheOwnerThread) {
  std::string url = fresh_url();
  Options queued;
  queued.dispatch = Dispatch::queued;
  Realtime rx(url, queued);
  Realtime tx(url);
  Collector c;
  rx.on("e", c.listener());
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  std::thread producer([&] {
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(tx.send("room", "e", i).ok());
  });
  producer.join();
  EXPECT_EQ(c.size(), 0u);  // nothing runs until poll
  EXPECT_EQ(rx.stats().inbox_depth, 10u);
  EXPECT_EQ(rx.poll(), 10u);
  ASSERT_EQ(c.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(c.all()[i].message.as<int>(), i);
    EXPECT_EQ(c.all()[i].thread, std::this_thread::get_id());
  }
  EXPECT_EQ(rx.poll(), 0u);
  EXPECT_EQ(rx.stats().inbox_depth, 0u);
}

TEST(MemoryTransport, PollForWaitsForWork) {
  std::string url = fresh_url();
  Options queued;
  queued.dispatch = Dispatch::queued;
  Realtime rx(url, queued);
  Realtime tx(url);
  Collector c;
  rx.on("e", c.listener());
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  EXPECT_EQ(rx.poll_for(1ms), 0u);  // nothing there: returns after the wait
  std::thread producer([&] {
    std::this_thread::sleep_for(20ms);
    ASSERT_TRUE(tx.send("room", "e", 1).ok());
  });
  EXPECT_EQ(rx.poll_for(10s), 1u);
  producer.join();
  EXPECT_EQ(c.size(), 1u);
}

// ---------------------------------------------------------------- overflow

TEST(MemoryTransport, OverflowDropNewestKeepsTheFirstAndCounts) {
  std::string url = fresh_url();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 4;
  o.overflow = Overflow::drop_newest;
  Realtime rx(url, o);
  Realtime tx(url);
  Collector c;
  rx.on("e", c.listener());
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(tx.send("room", "e", i).ok());
  EXPECT_EQ(rx.poll(), 4u);
  std::vector<int> got;
  for (const auto& r : c.all()) got.push_back(r.message.as<int>());
  EXPECT_EQ(got, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(rx.stats().dropped_inbox_full, 6u);
  EXPECT_EQ(rx.stats().inbox_high_water, 4u);
}

TEST(MemoryTransport, OverflowDropOldestKeepsTheLatestAndCounts) {
  std::string url = fresh_url();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 4;
  o.overflow = Overflow::drop_oldest;
  Realtime rx(url, o);
  Realtime tx(url);
  Collector c;
  rx.on("e", c.listener());
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(tx.send("room", "e", i).ok());
  EXPECT_EQ(rx.poll(), 4u);
  std::vector<int> got;
  for (const auto& r : c.all()) got.push_back(r.message.as<int>());
  EXPECT_EQ(got, (std::vector<int>{6, 7, 8, 9}));
  EXPECT_EQ(rx.stats().dropped_inbox_full, 6u);
}

TEST(MemoryTransport, OverflowBlockLosesNothing) {
  std::string url = fresh_url();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 8;
  Realtime rx(url, o);
  Realtime tx(url);
  std::vector<int> got;
  rx.on("e", [&](const Payload& p) { got.push_back(p.message().as<int>()); });
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  constexpr int kCount = 20'000;
  std::thread producer([&] {
    for (int i = 0; i < kCount; ++i) ASSERT_TRUE(tx.send("room", "e", i).ok());
  });
  while (got.size() < kCount) rx.poll_for(100ms);
  producer.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(got[i], i);
  Stats s = rx.stats();
  EXPECT_EQ(s.dropped_inbox_full, 0u);
  EXPECT_EQ(s.inbox_overfilled, 0u);
  EXPECT_LE(s.inbox_high_water, 8u);
}

TEST(MemoryTransport, OverflowBlockNeverMakesTheOwnerThreadWaitOnItsOwnInbox) {
  std::string url = fresh_url();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 2;
  Realtime rt(url, o);
  Collector c;
  rt.on("e", c.listener());
  ASSERT_TRUE(rt.join("room", /*echo=*/false).ok());
  rt.poll();  // this thread is the owner (poller) from now on
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(rt.send("room", "e", i).ok());  // echo to itself
  EXPECT_EQ(rt.stats().inbox_overfilled, 8u);
  EXPECT_EQ(rt.poll(), 10u);
  EXPECT_EQ(c.size(), 10u);
}

TEST(MemoryTransport, OverflowBlockListenersForwardingInACycleDoNotDeadlock) {
  // Two queued connections with tiny inboxes, each one's listener sending to
  // the other, polled on two threads: a thread running listeners never waits.
  std::string url = fresh_url();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 1;
  Realtime a(url, o);
  Realtime b(url, o);
  Realtime starter(url);
  std::atomic<int> hops{0};
  constexpr int kHops = 2000;
  auto forward = [&](Realtime& self, const char* to) {
    return [&self, to, &hops](const Payload& p) {
      int n = p.message().as<int>();
      hops.fetch_add(1);
      if (n < kHops) {
        for (int k = 0; k < 3; ++k) ASSERT_TRUE(self.send(to, "hop", n + 1).ok());
      }
    };
  };
  a.on("hop", forward(a, "to-b"));
  b.on("hop", forward(b, "to-a"));
  ASSERT_TRUE(a.join("to-a").ok());
  ASSERT_TRUE(b.join("to-b").ok());
  std::atomic<bool> stop{false};
  std::thread ta([&] {
    while (!stop) a.poll_for(1ms);
  });
  std::thread tb([&] {
    while (!stop) b.poll_for(1ms);
  });
  ASSERT_TRUE(starter.send("to-a", "hop", kHops - 6).ok());
  // Levels kHops-6 .. kHops: 3^0 + ... + 3^6 messages, none lost.
  EXPECT_TRUE(testing::eventually([&] { return hops.load() == 1093; }));
  stop = true;
  ta.join();
  tb.join();
  EXPECT_GT(a.stats().inbox_overfilled + b.stats().inbox_overfilled, 0u);
}

// ---------------------------------------------------------------- hubs

TEST(MemoryTransport, DefaultHubIsSharedAndNamedHubsAreIsolated) {
  Realtime a("mem://");
  Realtime b("mem://");
  std::string other = fresh_url();
  Realtime c(other);
  Collector ca, cb, cc;
  a.on("hello", ca.listener());
  b.on("hello", cb.listener());
  c.on("hello", cc.listener());
  c.on("marker", cc.listener());
  ASSERT_TRUE(a.broadcast("hello", 1).ok());
  ASSERT_TRUE(c.broadcast("marker", 1).ok());
  EXPECT_EQ(ca.size(), 1u);
  EXPECT_EQ(cb.size(), 1u);
  EXPECT_EQ(cc.events(), std::vector<std::string>{"marker"});
}

TEST(MemoryTransport, HubReportsConnectionsAndChannels) {
  std::string name = unique_name("count");
  std::shared_ptr<Hub> hub = Hub::named(name);
  EXPECT_EQ(hub->connection_count(), 0u);
  {
    Realtime a("mem://" + name);
    Realtime b("mem://" + name);
    ASSERT_TRUE(a.join("x").ok());
    ASSERT_TRUE(b.join("y").ok());
    EXPECT_EQ(hub->connection_count(), 2u);
    EXPECT_EQ(hub->channels(), (std::vector<std::string>{"x", "y"}));
    ASSERT_TRUE(b.leave("y").ok());
    EXPECT_EQ(hub->channels(), std::vector<std::string>{"x"});
  }
  EXPECT_EQ(hub->connection_count(), 0u);
  EXPECT_TRUE(hub->channels().empty());
}

bool accept_jedi(std::string_view token) { return token == "jedi-token"; }
bool accept_nobody(std::string_view) { return false; }

TEST(MemoryTransport, HubCreateChecksOptions) {
  std::string name = unique_name("create");
  auto first = Hub::create(name, HubOptions{.max_message_bytes = 100});
  ASSERT_TRUE(first.ok());
  auto same = Hub::create(name, HubOptions{.max_message_bytes = 100});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(first->get(), same->get());
  auto different = Hub::create(name, HubOptions{.max_message_bytes = 200});
  EXPECT_EQ(different.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(Hub::named(name).get(), first->get());

  auto no_verifier = Hub::create(unique_name("bad"), HubOptions{.enforce_session = true});
  EXPECT_EQ(no_verifier.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Hub::create("a/b").status().code(), absl::StatusCode::kInvalidArgument);

  std::string secure = unique_name("secure");
  HubOptions with_fn{.enforce_session = true, .verify_session = accept_jedi};
  ASSERT_TRUE(Hub::create(secure, with_fn).ok());
  EXPECT_TRUE(Hub::create(secure, with_fn).ok());  // same plain function
  HubOptions other_fn{.enforce_session = true, .verify_session = accept_nobody};
  EXPECT_EQ(Hub::create(secure, other_fn).status().code(), absl::StatusCode::kAlreadyExists);
}

TEST(MemoryTransport, BodyOverTheHubLimitIsResourceExhausted) {
  std::string name = unique_name("small");
  ASSERT_TRUE(Hub::create(name, HubOptions{.max_message_bytes = 64}).ok());
  Realtime rt("mem://" + name);
  Collector c;
  rt.on("e", c.listener());
  absl::Status too_big = rt.broadcast("e", std::string(100, 'x'));
  EXPECT_EQ(too_big.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(too_big.message()).find("the limit is 64"), std::string::npos)
      << too_big.message();
  // 62 characters encode as str8: 2 header bytes + 62 = exactly 64.
  EXPECT_TRUE(rt.broadcast("e", std::string(62, 'x')).ok());
  EXPECT_EQ(c.size(), 1u);
  EXPECT_EQ(rt.stats().rejected, 1u);
}

TEST(MemoryTransport, DefaultLimitIsOneMebibyte) {
  Realtime rt(fresh_url());
  EXPECT_TRUE(rt.broadcast("e", Bytes((1 << 20) - 5)).ok());  // bin32 header: 5 bytes
  EXPECT_EQ(rt.broadcast("e", Bytes(1 << 20)).code(), absl::StatusCode::kResourceExhausted);
}

// ---------------------------------------------------------------- sessions

TEST(MemoryTransport, SessionEnforcementRefusesBadTokens) {
  std::string name = unique_name("session");
  ASSERT_TRUE(
      Hub::create(name, HubOptions{.enforce_session = true, .verify_session = accept_jedi}).ok());
  std::string url = "mem://" + name;

  Options good;
  good.session = "jedi-token";
  Realtime jedi(url, good);
  Collector c;
  jedi.on("e", c.listener());
  ASSERT_TRUE(jedi.is_connected());
  ASSERT_TRUE(jedi.join("temple").ok());

  for (std::string token : {"sith-token", ""}) {
    Options bad;
    bad.session = token;
    Realtime sith(url, bad);
    EXPECT_FALSE(sith.is_connected());
    std::vector<absl::Status> errors;
    sith.on_error(
        [&](const absl::Status& s) { errors.push_back(s); });  // registered late: replayed
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(sith.send("temple", "e", 1).code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(sith.broadcast("e", 1).code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(sith.join("temple").code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(sith.leave("temple").code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(sith.update_profile(1).code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(sith.get_members("temple").status().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(sith.open().code(), absl::StatusCode::kUnauthenticated);
    EXPECT_FALSE(sith.is_connected());
  }
  EXPECT_EQ(c.size(), 0u);  // nothing from the refused connections got through
  EXPECT_EQ(Hub::named(name)->connection_count(), 1u);
  ASSERT_TRUE(jedi.broadcast("e", 1).ok());
  EXPECT_EQ(c.size(), 1u);
}

TEST(MemoryTransport, AListenerWhoseTokenExpiresIsCutAndTold) {
  // It only listens: the Hub's re-check (session_check_interval, 1 s) ends it.
  const std::string secret = "s3cret";
  std::string name = unique_name("expiring");
  ASSERT_TRUE(Hub::create(name, HubOptions{.enforce_session = true,
                                           .verify_session = session_verifier(secret)})
                  .ok());
  const std::string url = "mem://" + name;
  Options brief;
  brief.session = make_session_token(secret, "brief", std::chrono::seconds(2));
  Realtime listener(url, brief);
  std::mutex mu;
  std::vector<absl::Status> errors;
  std::vector<std::string> disconnects;
  listener.on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  });
  listener.on_disconnect([&](std::string_view why) {
    std::lock_guard lock(mu);
    disconnects.emplace_back(why);
  });
  Collector c;
  listener.on("tick", c.listener());
  ASSERT_TRUE(listener.join("room").ok());
  Options lasting;
  lasting.session = make_session_token(secret, "lasting", std::chrono::seconds(600));
  Realtime sender(url, lasting);
  ASSERT_TRUE(sender.send("room", "tick", 0).ok());
  ASSERT_TRUE(c.wait_for(1));
  ASSERT_TRUE(testing::eventually([&] {
    std::lock_guard lock(mu);
    return !errors.empty();
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(errors[0].code(), absl::StatusCode::kUnauthenticated) << errors[0];
    ASSERT_EQ(disconnects.size(), 1u);
  }
  EXPECT_TRUE(Hub::named(name)->members("room").empty());
  ASSERT_TRUE(sender.send("room", "tick", 1).ok());
  EXPECT_EQ(c.size(), 1u);  // mem:// delivers before send returns: nothing came
  EXPECT_EQ(listener.send("room", "tick", 2).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_FALSE(listener.is_connected());
}

// ---------------------------------------------------------------- lifetime and stats

TEST(MemoryTransport, DestructorWaitsForAListenerRunningOnAnotherThread) {
  std::string url = fresh_url();
  auto rx = std::make_unique<Realtime>(url);
  Realtime tx(url);
  std::atomic<bool> started{false};
  std::atomic<bool> finished{false};
  rx->on("slow", [&](const Payload&) {
    started = true;
    std::this_thread::sleep_for(50ms);
    finished = true;
  });
  ASSERT_TRUE(rx->join("room").ok());
  std::thread sender([&] { ASSERT_TRUE(tx.send("room", "slow", 1).ok()); });
  while (!started) std::this_thread::yield();
  rx.reset();
  EXPECT_TRUE(finished.load());
  sender.join();
}

TEST(MemoryTransport, StatsCountWhatHappened) {
  std::string url = fresh_url();
  Realtime rx(url);
  Realtime tx(url);
  rx.on_any([](const Payload&) {});
  rx.on("e", [](const Payload&) {});
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(tx.send("room", "e", i).ok());
  ASSERT_TRUE(tx.send("empty-room", "e", 0).ok());
  Stats r = rx.stats();
  Stats t = tx.stats();
  EXPECT_EQ(t.sent, 6u);
  EXPECT_EQ(r.delivered, 5u);
  EXPECT_EQ(r.listener_calls, 10u);
  EXPECT_EQ(r.dropped_closed, 0u);
}

TEST(MemoryTransport, CloseDropsWhatWaitsInTheInboxAndCountsIt) {
  std::string url = fresh_url();
  Options queued;
  queued.dispatch = Dispatch::queued;
  Realtime rx(url, queued);
  Realtime tx(url);
  rx.on("e", [](const Payload&) {});
  ASSERT_TRUE(rx.join("room", /*echo=*/false).ok());
  for (int i = 0; i < 7; ++i) ASSERT_TRUE(tx.send("room", "e", i).ok());
  EXPECT_EQ(rx.stats().inbox_depth, 7u);
  rx.close();
  Stats s = rx.stats();
  EXPECT_EQ(s.dropped_closed, 7u);
  EXPECT_EQ(s.inbox_depth, 0u);
  EXPECT_EQ(s.delivered, 0u);
  EXPECT_EQ(rx.poll(), 0u);
}

// ---------------------------------------------------------------- regressions

TEST(MemoryTransport, QueuedRealtimeDestroyedInItsOwnListenerStopsCleanly) {
  std::string url = fresh_url();
  Options queued;
  queued.dispatch = Dispatch::queued;
  auto rx = std::make_unique<Realtime>(url, queued);
  Realtime tx(url);
  int after = 0;
  rx->on("bye", [&](const Payload&) { rx.reset(); });
  rx->on("bye", [&](const Payload&) { ++after; });  // must not run: its Realtime is gone
  ASSERT_TRUE(rx->join("room", /*echo=*/false).ok());
  ASSERT_TRUE(tx.send("room", "bye", 1).ok());
  ASSERT_TRUE(tx.send("room", "bye", 2).ok());
  Realtime* raw = rx.get();
  EXPECT_EQ(raw->poll(), 2u);  // the batch was taken; the second runs no listener
  EXPECT_EQ(rx, nullptr);
  EXPECT_EQ(after, 0);
}

TEST(MemoryTransport, QueuedConnectionSendingToItselfBeforeItsFirstPollDoesNotWait) {
  std::string url = fresh_url();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 2;
  Realtime rt(url, o);  // constructed on this thread: this thread owns it
  ASSERT_TRUE(rt.join("room", /*echo=*/false).ok());
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(rt.send("room", "e", i).ok());
  EXPECT_EQ(rt.stats().inbox_overfilled, 1u);
  EXPECT_EQ(rt.poll(), 3u);
}

TEST(MemoryTransport, TwoPollersSendingToEachOtherOutsideListenersDoNotDeadlock) {
  std::string url = fresh_url();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 2;
  constexpr int kCount = 200;
  std::atomic<int> got_a{0}, got_b{0};
  auto worker = [&](const char* mine, const char* theirs, std::atomic<int>& got) {
    Realtime self(url, o);
    self.on("e", [&](const Payload&) { got.fetch_add(1); });
    ASSERT_TRUE(self.join(mine, /*echo=*/false).ok());
    self.poll();
    std::this_thread::sleep_for(20ms);  // let both join before sending
    for (int i = 0; i < kCount; ++i) ASSERT_TRUE(self.send(theirs, "e", i).ok());
    while (got.load() < kCount) self.poll_for(5ms);
  };
  std::thread a([&] { worker("a", "b", got_a); });
  std::thread b([&] { worker("b", "a", got_b); });
  a.join();
  b.join();
  EXPECT_EQ(got_a.load(), kCount);
  EXPECT_EQ(got_b.load(), kCount);
}

TEST(MemoryTransport, JoinAndLeaveFromListenersDuringReopenTakeEffect) {
  std::string url = fresh_url();
  Realtime rt(url);
  Realtime tx(url);
  std::atomic<bool> reopening{false};
  rt.on_join([&](const Payload& p) {
    if (reopening && p.sender() == rt.get_socket_id() && p.channel() == "a") {
      ASSERT_TRUE(rt.join("b").ok());
      ASSERT_TRUE(rt.leave("a").ok());
    }
  });
  Collector c;
  rt.on("e", c.listener());
  ASSERT_TRUE(rt.join("a").ok());
  rt.close();
  reopening = true;
  ASSERT_TRUE(rt.open().ok());
  EXPECT_EQ(rt.channels(), std::vector<std::string>{"b"});
  EXPECT_EQ(Hub::named(url.substr(6))->channels(), std::vector<std::string>{"b"});
  ASSERT_TRUE(tx.send("a", "e", 1).ok());
  ASSERT_TRUE(tx.send("b", "e", 2).ok());
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c.all()[0].message.as<int>(), 2);
}

}  // namespace
}  // namespace herald
