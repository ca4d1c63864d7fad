// What every network client (zmq://, ws://) does the same way, run over both
// against a real far side — a ZmqBroker or a WsGateway — in this process:
// outages and the offline buffer, joins made while connecting, requests while
// the queued inbox is full, and the life-cycle races of open() / close() from
// listeners on the connection's own I/O thread (IoThread, which both share).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "test_support.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::eventually;
using testing::unique_name;

// A broker or a hub, listening on 127.0.0.1.
class FarSide {
 public:
  virtual ~FarSide() = default;
  virtual std::string url() const = 0;
  virtual int port() const = 0;
};

class Broker final : public FarSide {
 public:
  explicit Broker(int port)
      : broker_(ZmqBrokerOptions{.endpoint = "tcp://127.0.0.1:" + std::to_string(port)}) {
    absl::Status s = broker_.start();
    EXPECT_TRUE(s.ok()) << s;
  }
  std::string url() const override { return broker_.url(); }
  int port() const override { return broker_.port(); }

 private:
  ZmqBroker broker_;
};

class Gateway final : public FarSide {
 public:
  explicit Gateway(int port) {
    auto hub = Hub::create(unique_name("network-client"));
    EXPECT_TRUE(hub.ok()) << hub.status();
    auto gateway = WsGateway::start(*hub, {.host = "127.0.0.1", .port = port});
    EXPECT_TRUE(gateway.ok()) << gateway.status();
    if (gateway.ok()) gateway_ = *std::move(gateway);
  }
  std::string url() const override { return gateway_ ? gateway_->url() : "ws://127.0.0.1:1"; }
  int port() const override { return gateway_ ? gateway_->port() : 0; }

 private:
  std::unique_ptr<WsGateway> gateway_;
};

class NetworkClient : public ::testing::TestWithParam<std::string> {
 protected:
  // A far side of this test's kind; port 0 picks a free one.
  std::unique_ptr<FarSide> start(int port = 0) const {
    if (GetParam() == "zmq") return std::make_unique<Broker>(port);
    return std::make_unique<Gateway>(port);
  }
  std::string url_at(int port) const { return GetParam() + "://127.0.0.1:" + std::to_string(port); }
  static std::unique_ptr<Realtime> connect(const std::string& url, Options options = {}) {
    auto rt = std::make_unique<Realtime>(url, options);
    EXPECT_TRUE(eventually([&] { return rt->is_connected(); })) << url;
    return rt;
  }
};

TEST_P(NetworkClient, WhileTheFarSideIsDownSendsBufferBoundedAndReconnectsBackOff) {
  const int port = start()->port();  // a free port, freed again
  ASSERT_NE(port, 0);
  Options options;
  options.reconnection_delay = 20ms;
  options.timeout = 200ms;
  options.max_buffered_messages = 5;
  Realtime rt(url_at(port), options);
  std::atomic<int> attempts{0};
  std::vector<absl::Status> errors;
  std::mutex mu;
  rt.on_reconnect_attempt([&](int) { attempts.fetch_add(1); });
  rt.on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  });
  ASSERT_TRUE(eventually([&] { return attempts.load() >= 2; }));
  EXPECT_FALSE(rt.is_connected());
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(rt.broadcast("n", i).ok());
  EXPECT_EQ(rt.broadcast("n", 5).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(rt.stats().buffered, 5u);
  EXPECT_EQ(rt.stats().dropped_buffer_full, 1u);
  EXPECT_EQ(rt.join("x").code(), absl::StatusCode::kDeadlineExceeded);

  Options no_buffer = options;
  no_buffer.buffer_messages = false;
  Realtime strict(url_at(port), no_buffer);
  EXPECT_EQ(strict.broadcast("n", 0).code(), absl::StatusCode::kUnavailable);
  EXPECT_EQ(strict.stats().dropped_unavailable, 1u);

  Collector c;
  rt.on("n", c.listener());
  auto far = start(port);
  ASSERT_EQ(far->port(), port);
  ASSERT_TRUE(eventually([&] { return rt.is_connected(); }));
  // Its own broadcasts come back (echo): the buffer went out, in order.
  ASSERT_TRUE(c.wait_for(5));
  for (int i = 0; i < 5; ++i) EXPECT_EQ(c.all()[i].message.as<int>(), i);
  EXPECT_EQ(rt.channels(), std::vector<std::string>{"x"});  // joined on connect
  std::lock_guard lock(mu);
  ASSERT_FALSE(errors.empty());
  EXPECT_EQ(errors[0].code(), absl::StatusCode::kUnavailable);
}

TEST_P(NetworkClient, JoinsMadeWhileConnectingCountEvenWithoutAutoJoin) {
  auto far = start();
  Options o;
  o.auto_join_channels = false;
  Realtime rt(far->url(), o);  // not connected yet: join waits, then applies
  ASSERT_TRUE(rt.join("early").ok());
  EXPECT_EQ(rt.channels(), std::vector<std::string>{"early"});
  auto tx = connect(far->url());
  Collector c;
  rt.on("e", c.listener());
  ASSERT_TRUE(tx->send("early", "e", 1).ok());
  ASSERT_TRUE(c.wait_for(1));
}

TEST_P(NetworkClient, JoinLeaveAndMembersWorkWhileTheQueuedInboxIsFull) {
  auto far = start();
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 8;
  o.timeout = 5s;
  auto rx = connect(far->url(), o);
  auto tx = connect(far->url());
  rx->on("e", [](const Payload&) {});
  ASSERT_TRUE(rx->join("busy", false).ok());
  for (int i = 0; i < 2000; ++i) ASSERT_TRUE(tx->send("busy", "e", i).ok());
  ASSERT_TRUE(eventually([&] { return rx->stats().inbox_depth >= 8; }));
  // Nobody polls: the inbox stays full and input is held back, yet joining,
  // leaving and asking for members still work (their replies get through).
  EXPECT_TRUE(rx->join("another").ok());
  EXPECT_TRUE(rx->leave("another").ok());
  auto members = rx->get_members("busy");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 1u);
}

TEST_P(NetworkClient, CloseOnOneThreadWhileAListenerReopensDoesNotDeadlock) {
  auto far = start();
  for (int round = 0; round < 20; ++round) {
    auto rt = connect(far->url());
    std::atomic<bool> entered{false};
    rt->on("reopen", [&](const Payload&) {
      entered = true;
      (void)rt->open();
    });
    ASSERT_TRUE(rt->broadcast("reopen", round).ok());
    ASSERT_TRUE(eventually([&] { return entered.load(); }));
    rt->close();  // races the listener's open(); either may win, neither waits forever
    (void)rt->open();
    ASSERT_TRUE(eventually([&] { return rt->is_connected(); })) << "round " << round;
  }
}

// close() on one thread while a listener on the connection's I/O thread
// calls open(): either may win, and close() always returns. (The listener's
// open() could land between close() asking the I/O thread to stop and close()
// saying it was about to join it; the open() undid the stop, and close()
// joined a thread that never ended.) That window is a syscall wide, so each
// round puts the open() at another offset after close() begins.
TEST_P(NetworkClient, CloseRacingAListenersOpenAlwaysReturns) {
  using Clock = std::chrono::steady_clock;
  auto far = start();
  for (int round = 0; round < 300; ++round) {
    auto owner = connect(far->url());
    Realtime* rt = owner.get();
    const auto offset = std::chrono::nanoseconds(round * 37 % 64 * 40);  // 0 .. 2.5 us
    std::atomic<bool> entered{false};
    rt->on("reopen", [rt, offset, &entered](const Payload&) {
      entered = true;
      const auto give_up = Clock::now() + 5s;
      while (rt->is_connected() && Clock::now() < give_up) {
      }  // close() has begun
      for (const auto until = Clock::now() + offset; Clock::now() < until;) {
      }
      (void)rt->open();
    });
    ASSERT_TRUE(rt->broadcast("reopen", round).ok());
    ASSERT_TRUE(eventually([&] { return entered.load(); }));
    auto closing = std::async(std::launch::async, [rt] { rt->close(); });
    if (closing.wait_for(5s) == std::future_status::ready) continue;
    ADD_FAILURE() << "close() racing a listener's open() did not return within 5 s (round " << round
                  << ", open " << offset.count() << " ns after close began)";
    // A second close() ends the I/O thread, and with it the first one's wait.
    auto rescue = std::async(std::launch::async, [rt] { rt->close(); });
    if (rescue.wait_for(5s) != std::future_status::ready ||
        closing.wait_for(5s) != std::future_status::ready) {
      // Still stuck: leave them be rather than hang the test binary.
      new auto(std::move(closing));
      new auto(std::move(rescue));
      (void)owner.release();
    }
    return;
  }
}

// open() on one thread while the I/O thread is still ending (after a
// listener's close()), then close() on a third: the open() waits for the
// ending thread, the close() for the open(). The close() came last and wins;
// it used to join the thread that the open() then started, forever.
TEST_P(NetworkClient, CloseAfterAnOpenThatWaitsForTheEndingThreadAlwaysReturns) {
  auto far = start();
  auto owner = connect(far->url());
  Realtime* rt = owner.get();
  std::atomic<bool> closed_in_listener{false}, release{false};
  rt->on("close", [rt, &closed_in_listener, &release](const Payload&) {
    rt->close();  // the I/O thread is now ending, once this listener returns
    closed_in_listener = true;
    for (const auto give_up = std::chrono::steady_clock::now() + 10s;
         !release.load() && std::chrono::steady_clock::now() < give_up;) {
      std::this_thread::sleep_for(1ms);
    }
  });
  ASSERT_TRUE(rt->broadcast("close", 0).ok());
  ASSERT_TRUE(eventually([&] { return closed_in_listener.load(); }));
  auto opening = std::async(std::launch::async, [rt] { (void)rt->open(); });
  std::this_thread::sleep_for(200ms);  // open() now waits for the I/O thread to end
  auto closing = std::async(std::launch::async, [rt] { rt->close(); });
  std::this_thread::sleep_for(200ms);  // close() now waits for open()
  release = true;
  const bool opened = opening.wait_for(5s) == std::future_status::ready;
  const bool closed = closing.wait_for(5s) == std::future_status::ready;
  EXPECT_TRUE(opened) << "open() did not return";
  EXPECT_TRUE(closed) << "close() after open() did not return";
  if (closed) {
    std::this_thread::sleep_for(300ms);
    EXPECT_FALSE(rt->is_connected()) << "the close() came last";
  } else {
    auto rescue = std::async(std::launch::async, [rt] { rt->close(); });
    if (rescue.wait_for(5s) != std::future_status::ready ||
        closing.wait_for(5s) != std::future_status::ready) {
      // Still stuck: leave them be rather than hang the test binary.
      new auto(std::move(opening));
      new auto(std::move(closing));
      new auto(std::move(rescue));
      (void)owner.release();
    }
  }
}

TEST_P(NetworkClient, CloseAndReopenFromTheConnectionsOwnListener) {
  auto far = start();
  auto rt = connect(far->url());
  std::atomic<int> rounds{0};
  rt->on("cycle", [&](const Payload&) {
    rt->close();
    EXPECT_TRUE(rt->open().ok());
    rounds.fetch_add(1);
  });
  Collector c;
  rt->on("after", c.listener());
  ASSERT_TRUE(rt->join("room").ok());
  ASSERT_TRUE(rt->broadcast("cycle", 0).ok());
  ASSERT_TRUE(eventually([&] { return rounds.load() == 1 && rt->is_connected(); }));
  auto tx = connect(far->url());
  ASSERT_TRUE(eventually([&] {
    auto members = tx->get_members("room");
    return members.ok() && members->size() == 1;
  }));  // rejoined after the reopen
  ASSERT_TRUE(tx->send("room", "after", 1).ok());
  ASSERT_TRUE(c.wait_for(1));
}

TEST_P(NetworkClient, DestroyedFromItsOwnListener) {
  auto far = start();
  auto rt = connect(far->url());
  auto watcher = connect(far->url());
  ASSERT_TRUE(rt->join("room").ok());
  std::atomic<bool> gone{false};
  std::atomic<bool> sent{false};
  rt->on("die", [&](const Payload&) {
    // (Its own broadcast may come back before broadcast() returns: wait for
    // that, as a program that owns `rt` elsewhere must.)
    while (!sent.load()) std::this_thread::yield();
    rt.reset();
    gone = true;
  });
  ASSERT_TRUE(rt->broadcast("die", 0).ok());
  sent = true;
  ASSERT_TRUE(eventually([&] { return gone.load(); }));
  // It has left: the far side no longer counts it in its channel.
  ASSERT_TRUE(eventually([&] {
    auto members = watcher->get_members("room");
    return members.ok() && members->empty();
  }));
}

INSTANTIATE_TEST_SUITE_P(Transports, NetworkClient, ::testing::Values("zmq", "ws"),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace herald
