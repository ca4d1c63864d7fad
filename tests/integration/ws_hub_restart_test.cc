// The herald hub as a process, killed (SIGKILL: no close frames, nothing
// flushed) and restarted on the same port: ws:// clients notice, buffer,
// reconnect, rejoin their channels and deliver what they buffered, in order.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "process.hpp"
#include "test_support.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using herald::testing::Process;
using testing::eventually;

// `herald hub --ws 127.0.0.1:PORT`; the URL it printed ("" if it did not start).
std::pair<std::unique_ptr<Process>, std::string> hub_process(int port) {
  auto p = std::make_unique<Process>(
      std::vector<std::string>{HERALD_CLI, "hub", "--ws", "127.0.0.1:" + std::to_string(port)});
  auto rest = p->expect("listening ws://");
  return {std::move(p), rest ? "ws://" + *rest : std::string()};
}

// What one connection received, with connection events.
struct Watch {
  std::mutex mu;
  std::vector<int> got;
  std::atomic<int> connects{0}, disconnects{0}, attempts{0};

  void attach(Realtime& rt) {
    rt.on("n", [this](const Payload& p) {
      std::lock_guard lock(mu);
      got.push_back(p.message().as<int>());
    });
    rt.on_connect([this] { connects.fetch_add(1); });
    rt.on_disconnect([this](std::string_view) { disconnects.fetch_add(1); });
    rt.on_reconnect_attempt([this](int) { attempts.fetch_add(1); });
  }
  std::size_t size() {
    std::lock_guard lock(mu);
    return got.size();
  }
  std::vector<int> all() {
    std::lock_guard lock(mu);
    return got;
  }
};

TEST(WsHubRestart, KilledAndRestartedClientsRejoinAndDeliverWhatTheyBufferedInOrder) {
  auto [hub, url] = hub_process(0);
  ASSERT_FALSE(url.empty()) << "herald hub did not start";
  const int port = std::stoi(url.substr(url.rfind(':') + 1));

  // The receiver retries quickly, the sender slowly: the receiver is back in
  // its channel before the sender's buffer goes out (the hub keeps nothing
  // for a connection that is not there).
  Options fast, slow;
  fast.reconnection_delay = 20ms;
  slow.reconnection_delay = 3000ms;  // the receiver retries every 20-640 ms
  Realtime receiver(url, fast), sender(url, slow);
  Watch r, s;
  r.attach(receiver);
  s.attach(sender);
  ASSERT_TRUE(eventually([&] { return receiver.is_connected() && sender.is_connected(); }));
  ASSERT_TRUE(receiver.join("stream").ok());
  ASSERT_TRUE(sender.join("stream", /*echo=*/true).ok());

  int next = 0;
  auto send = [&](int n) {
    for (int i = 0; i < n; ++i) ASSERT_TRUE(sender.send("stream", "n", next++).ok());
  };
  send(100);
  ASSERT_TRUE(eventually([&] { return r.size() == 100 && s.size() == 100; }));

  hub->signal(SIGKILL);
  ASSERT_TRUE(hub->wait().has_value());
  ASSERT_TRUE(eventually([&] { return r.disconnects.load() == 1 && s.disconnects.load() == 1; }));
  EXPECT_FALSE(sender.is_connected());
  send(200);  // buffered (bounded, in order) while the hub is away
  EXPECT_EQ(sender.stats().buffered, 200u);

  auto [restarted, url2] = hub_process(port);
  ASSERT_EQ(url2, url) << "the hub could not take its port back";
  ASSERT_TRUE(eventually([&] { return r.connects.load() == 2; }));
  ASSERT_EQ(s.connects.load(), 1) << "the sender came back before the receiver";
  ASSERT_TRUE(eventually([&] { return s.connects.load() == 2; }));
  EXPECT_GE(s.attempts.load(), 1);
  EXPECT_EQ(receiver.channels(), std::vector<std::string>{"stream"});
  send(100);
  ASSERT_TRUE(eventually([&] { return s.size() == 400 && r.size() == 400; }))
      << "receiver got " << r.size() << ", sender's echo " << s.size();

  // The sender's own channel was rejoined before its buffer went out: its
  // echo has everything, exactly once, in the order it was sent.
  std::vector<int> expected(400);
  for (int i = 0; i < 400; ++i) expected[i] = i;
  EXPECT_EQ(s.all(), expected);
  EXPECT_EQ(r.all(), expected);
  EXPECT_EQ(sender.stats().buffered, 0u);
  EXPECT_EQ(sender.stats().dropped_buffer_full, 0u);
}

}  // namespace
}  // namespace herald
