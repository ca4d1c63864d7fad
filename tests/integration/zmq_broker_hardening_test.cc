// What a hostile peer can send a ZmqBroker, from raw ZeroMQ sockets on
// loopback (issue 9): a subscription longer than any topic, a control message
// built to make a decoder allocate, names that are not UTF-8, and data
// messages claiming what only the broker publishes. Each time the broker
// keeps serving everyone else, and its answers stay well-formed.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "process.hpp"
#include "test_support.hpp"
#include "zmq_raw_peers.hpp"

namespace herald {
namespace {

using testing::Collector;
using testing::eventually;
using zmq_wire::Command;
using zmq_wire::Control;

// The test process's resident set (the broker is embedded), in bytes.
std::size_t resident_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoull(line.substr(6)) * 1024;
  }
  return 0;
}

// A client that joins, sends and receives: the broker still serves.
void expect_broker_serves(const ZmqBroker& broker) {
  auto a = connect(broker.url());
  auto b = connect(broker.url());
  Collector seen;
  b->on("after", seen.listener());
  ASSERT_TRUE(b->join("after").ok());
  ASSERT_TRUE(a->send("after", "after", 1).ok());
  EXPECT_TRUE(seen.wait_for(1));
}

// A Python SUB on the subscribe port with one subscription of ~200 KB,
// then `then`: "exit" (the connection drops), "unsubscribe" or "hold". In
// its own process: libzmq's trie recurses on the subscriber's side too.
std::unique_ptr<testing::Process> long_subscriber(int port, const std::string& then) {
  auto p = std::make_unique<testing::Process>(std::vector<std::string>{
      "/usr/bin/python3", "-c",
      "import os, sys, time, zmq\n"
      "sub = zmq.Context().socket(zmq.SUB)\n"
      "sub.connect(f'tcp://127.0.0.1:{sys.argv[1]}')\n"
      "topic = b'c' * 200000\n"
      "sub.setsockopt(zmq.SUBSCRIBE, topic)\n"
      "time.sleep(0.3)\n"
      "print('subscribed', flush=True)\n"
      "if sys.argv[2] == 'unsubscribe': sub.setsockopt(zmq.UNSUBSCRIBE, topic)\n"
      "if sys.argv[2] == 'hold': time.sleep(30)\n"
      "time.sleep(0.2)\n"
      "os._exit(0)\n",
      std::to_string(port + 2), then});
  EXPECT_TRUE(p->expect("subscribed").has_value());
  return p;
}

TEST(ZmqBrokerHardening, ASubscriptionLongerThanAnyTopicDropsTheSubscriberNotTheBroker) {
  auto broker = start_broker();
  // libzmq's subscription trie recursed once per byte when such a
  // subscription was removed (unsubscribed, or its SUB gone): SIGSEGV.
  for (const char* then : {"exit", "unsubscribe"}) {
    auto sub = long_subscriber(broker->port(), then);
    sub->wait(5s);
  }
  std::this_thread::sleep_for(200ms);
  expect_broker_serves(*broker);
  // Stopping the broker while one is (attempted to be) held.
  auto held = long_subscriber(broker->port(), "hold");
  broker->stop();
  held->signal(SIGKILL);
  held->wait(5s);
}

// 1 MiB of array32 headers, each claiming 10 M items.
std::string array_bomb(std::size_t bytes) {
  std::string out;
  while (out.size() + 5 <= bytes) out += std::string("\xdd\x00\x98\x96\x80", 5);
  return out;
}

TEST(ZmqBrokerHardening, AControlMessageBombIsRefusedAtOnceWhileOthersAreServed) {
  auto broker = start_broker();
  zmq::context_t ctx;
  RawControl attacker(ctx, broker->port());
  RawControl bystander(ctx, broker->port());
  ASSERT_TRUE(attacker.hello("attacker-0123456789"));
  ASSERT_TRUE(bystander.request(zmq_wire::encode_signal(Command::ping)).has_value());
  const std::size_t rss_before = resident_bytes();

  const std::string bomb = array_bomb(1 << 20);
  // As the whole message, and as the profile of a join.
  const std::string join_bomb = std::string("\x95\xa4join\x07\xa4room\xc3", 12) + bomb;
  for (const std::string& payload : {bomb, join_bomb}) {
    const auto start = std::chrono::steady_clock::now();
    attacker.send(payload);
    std::optional<std::string> pong = bystander.request(zmq_wire::encode_signal(Command::ping));
    std::optional<std::string> answer = attacker.receive();
    const auto took = std::chrono::steady_clock::now() - start;
    ASSERT_TRUE(pong.has_value());
    ASSERT_TRUE(answer.has_value());
    Control c;
    ASSERT_TRUE(zmq_wire::parse_reply(*answer, c).ok());
    EXPECT_EQ(c.command, Command::error);
    EXPECT_EQ(c.status.code(), absl::StatusCode::kInvalidArgument) << c.status;
    // A generous bound: the refusal costs a walk of the headers, not 10 M items each.
    EXPECT_LT(took, 1s) << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                        << " ms";
  }
  EXPECT_LT(resident_bytes(), rss_before + (64u << 20))
      << "resident set grew from " << rss_before << " to " << resident_bytes();
  expect_broker_serves(*broker);
}

// Every answer the broker gave, decoded by Python's msgpack (strict: a str
// must be valid UTF-8), as a third-party client written from PROTOCOL.md would.
bool python_decodes_strictly(const std::vector<std::string>& answers) {
  std::vector<std::string> argv = {"/usr/bin/python3", "-c",
                                   "import sys, msgpack\n"
                                   "for h in sys.argv[1:]:\n"
                                   "    msgpack.unpackb(bytes.fromhex(h), raw=False)\n"
                                   "print('strict-ok', flush=True)\n"};
  for (const std::string& a : answers) {
    std::string hex;
    char buf[3];
    for (unsigned char c : a) {
      std::snprintf(buf, sizeof buf, "%02x", c);
      hex += buf;
    }
    argv.push_back(hex);
  }
  testing::Process python(argv);
  return python.expect("strict-ok").has_value();
}

TEST(ZmqBrokerHardening, ErrorsQuoteNamesAsValidUtf8AndAnswerTheRequestsReq) {
  auto broker = start_broker();
  zmq::context_t ctx;
  RawControl peer(ctx, broker->port());
  std::string checks;  // 100 three-byte characters: a cut at 32 or 64 bytes falls inside one
  for (int i = 0; i < 100; ++i) checks += "\xe2\x9c\x93";
  const std::string not_utf8 = "\xff\xfe\xc3";
  auto str = [](const std::string& s) {
    std::string out = "\xda";  // str 16
    out.push_back(static_cast<char>(s.size() >> 8));
    out.push_back(static_cast<char>(s.size() & 0xff));
    return out + s;
  };
  std::vector<std::string> answers;
  auto ask = [&](const std::string& payload, std::uint64_t req) {
    std::optional<std::string> answer = peer.request(payload);
    ASSERT_TRUE(answer.has_value());
    Control c;
    ASSERT_TRUE(zmq_wire::parse_reply(*answer, c).ok());
    EXPECT_EQ(c.command, Command::error);
    EXPECT_EQ(c.req, req) << c.status;
    answers.push_back(*answer);
  };
  ask("\x92" + str(not_utf8 + checks) + "\x05", 5);                            // unknown command
  ask("\x94\xa4join\x06" + str(checks) + "\xc3", 6);                           // channel too long
  ask("\x94\xa4join\x07" + str(checks.substr(0, 90) + not_utf8) + "\xc3", 7);  // not UTF-8
  ask("\x93\xa7members\x08" + str(not_utf8), 8);
  // A socket id in use, quoted in the refusal.
  RawControl holder(ctx, broker->port());
  const std::string id = not_utf8 + checks.substr(0, 60);
  ASSERT_TRUE(holder.hello(id, "holder-secret-0123456789"));
  std::optional<std::string> refused =
      peer.request(zmq_wire::encode_hello(id, "another-secret-0123456789", {}));
  ASSERT_TRUE(refused.has_value());
  answers.push_back(*refused);
  EXPECT_TRUE(python_decodes_strictly(answers));
}

TEST(ZmqBrokerHardening, APublisherCannotForgePresenceOrReservedEvents) {
  auto broker = start_broker();
  auto member = connect(broker->url());
  Collector seen;
  member->on_any(seen.listener());
  ASSERT_TRUE(member->join("room", false).ok());
  zmq::context_t ctx;
  RawPublisher raw(ctx, broker->port());
  ASSERT_TRUE(raw.through());
  const std::string topic = "croom\xff";
  const std::string body =
      "\x82\xa2id\xa6victim\xa4"
      "data\xc0";
  raw.send({topic + header("room", "channel:join", 2, "victim") + body});
  raw.send({topic + header("room", "channel:leave", 3, "victim") + body});
  raw.send({topic + header("room", "channel:update", 4, "victim") + body});
  raw.send({topic + header("room", "chat", 3, "victim") + body});           // presence kind
  raw.send({topic + header("room", "channel:leave", 0, "victim") + body});  // reserved event
  raw.send({std::string("b\xff") + header("", "channel:join", 1, "victim") + body});  // broadcast
  raw.send({topic + header("room", "marker") + "\xc0"});
  ASSERT_TRUE(seen.wait_for_event("marker"));
  EXPECT_EQ(seen.events(), std::vector<std::string>{"marker"});
  EXPECT_EQ(broker->stats().forged_dropped, 6u);
  // The broker's own presence still arrives.
  auto other = connect(broker->url());
  ASSERT_TRUE(other->join("room").ok());
  EXPECT_TRUE(seen.wait_for_event("channel:join"));
  // And the stats command shows what was dropped.
  RawControl peer(ctx, broker->port());
  ASSERT_TRUE(peer.hello("stats-reader-0123456"));
  std::optional<std::string> stats = peer.request(zmq_wire::encode_stats_request(3));
  ASSERT_TRUE(stats.has_value());
  Control c;
  ASSERT_TRUE(zmq_wire::parse_reply(*stats, c).ok());
  EXPECT_EQ(c.counts.forged_dropped, 6u);
  EXPECT_EQ(c.counts.malformed_dropped, 0u);
}

}  // namespace
}  // namespace herald
