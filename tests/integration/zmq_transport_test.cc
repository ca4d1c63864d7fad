// zmq:// against real brokers (what ws:// does the same way is in
// network_client_test.cc): separate processes, a broker killed and
// restarted, garbage from raw ZeroMQ peers, sessions, the join/send race,
// and the herald command line.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "../../transports/zmq/src/wire/control.hpp"
#include "herald/herald.hpp"
#include "herald/session_token.hpp"
#include "herald/zmq/broker.hpp"
#include "outage_stream.hpp"
#include "process.hpp"
#include "test_support.hpp"
#include "zmq_raw_peers.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::eventually;
using testing::Process;

// Starts `herald broker` as a process and returns it with its URL.
std::pair<std::unique_ptr<Process>, std::string> broker_process(const std::string& endpoint) {
  auto p =
      std::make_unique<Process>(std::vector<std::string>{HERALD_CLI, "broker", "--zmq", endpoint});
  auto url = p->expect("listening ");
  EXPECT_TRUE(url.has_value()) << "broker did not start on " << endpoint;
  return {std::move(p), url.value_or("")};
}

int port_of(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

std::string temp_file(const std::string& content) {
  std::string path = ::testing::TempDir() + "herald-secret-" + std::to_string(::getpid()) + "-" +
                     testing::unique_name("s");
  std::ofstream(path) << content << "\n";
  return path;
}

// ---------------------------------------------------------------- processes

TEST(ZmqTransport, BrokerPublisherAndSubscriberAsSeparateProcesses) {
  auto [broker, url] = broker_process("tcp://127.0.0.1:0");
  ASSERT_FALSE(url.empty());
  Process sub({HERALD_TEST_PEER, "sub", url, "orders", "2000"});
  ASSERT_TRUE(sub.expect("ready ").has_value());
  Process pub({HERALD_TEST_PEER, "pub", url, "orders", "2000"});
  EXPECT_EQ(pub.wait(), 0);
  EXPECT_EQ(sub.wait(), 0);
}

// ---------------------------------------------------------------- slow joiner

TEST(ZmqTransport, AMessageSentRightAfterJoinReturnsIsNeverMissed) {
  auto broker = start_broker();
  auto sender = connect(broker->url());
  for (int i = 0; i < 150; ++i) {
    const std::string channel = "race-" + std::to_string(i);
    auto receiver = connect(broker->url());
    Collector c;
    receiver->on("first", c.listener());
    ASSERT_TRUE(receiver->join(channel).ok());
    ASSERT_TRUE(sender->send(channel, "first", i).ok());
    ASSERT_TRUE(c.wait_for(1)) << "join/send race lost the message in round " << i;
    EXPECT_EQ(c.all()[0].message.as<int>(), i);
  }
}

// ---------------------------------------------------------------- outages

TEST(ZmqTransport, BrokerKilledAndRestartedMidStream) {
  auto [broker, url] = broker_process("tcp://127.0.0.1:0");
  ASSERT_FALSE(url.empty());
  const int port = port_of(url);
  Options options;
  options.reconnection_delay = 100ms;
  testing::OutageStream s;
  s.pace = 200us;
  auto receiver = connect(url, options);
  auto sender = connect(url, options);
  ASSERT_NO_FATAL_FAILURE(s.watch(*receiver, *sender));

  s.send_some(300);
  broker->signal(SIGKILL);
  ASSERT_TRUE(broker->wait().has_value());
  s.send_some(200);  // some go out before the sender notices, the rest are buffered
  ASSERT_TRUE(
      eventually([&] { return s.disconnects_s.load() == 1 && s.disconnects_r.load() == 1; }));
  EXPECT_FALSE(sender->is_connected());
  s.send_some(200);  // certainly buffered
  EXPECT_GT(sender->stats().buffered, 0u);

  auto [restarted, url2] = broker_process("tcp://127.0.0.1:" + std::to_string(port));
  ASSERT_EQ(url2, url);
  ASSERT_TRUE(eventually([&] { return s.connects_r.load() == 2 && s.connects_s.load() == 2; }));
  EXPECT_GE(s.attempts.load(), 1);
  const int first_after = s.next;
  s.send_some(300);
  const int total = s.next;
  ASSERT_TRUE(s.both_have_the_last());

  std::lock_guard lock(s.mu);
  const std::vector<int>& got_r = s.got_r;
  const std::vector<int>& got_s = s.got_s;
  // In order, without duplicates, everywhere.
  for (std::size_t i = 1; i < got_r.size(); ++i) ASSERT_LT(got_r[i - 1], got_r[i]);
  for (std::size_t i = 1; i < got_s.size(); ++i) ASSERT_LT(got_s[i - 1], got_s[i]);
  // Nothing sent after the reconnect is lost.
  int after = 0;
  for (int v : got_r) after += v >= first_after;
  EXPECT_EQ(after, total - first_after);
  // What the receiver missed during the outage is counted, never silent.
  EXPECT_EQ(got_r.size() + receiver->stats().lost_in_transit, static_cast<std::size_t>(total));
  // The sender's own subscription is restored before its buffer goes out, so
  // it sees every buffered message, in order.
  EXPECT_EQ(sender->stats().buffered, 0u);
  const auto first_buffered_seen = std::find(got_s.begin(), got_s.end(), first_after - 200);
  EXPECT_NE(first_buffered_seen, got_s.end());
  EXPECT_EQ(got_s.end() - first_buffered_seen, total - (first_after - 200));
}

TEST(ZmqTransport, AClientTheBrokerExpiredComesBackWithItsChannels) {
  auto broker = start_broker(
      {.endpoint = "tcp://127.0.0.1:0", .session_timeout = std::chrono::milliseconds(400)});
  auto rx = connect(broker->url());
  auto tx = connect(broker->url());
  Collector c;
  rx->on("n", c.listener());
  std::atomic<bool> blocked_once{false};
  rx->on("stall", [&](const Payload&) {
    // A listener on the I/O thread that takes longer than the broker waits:
    // no pings go out, and the broker forgets this client.
    std::this_thread::sleep_for(1200ms);
    blocked_once = true;
  });
  ASSERT_TRUE(rx->join("room", false).ok());
  ASSERT_TRUE(tx->send("room", "stall", 0).ok());
  ASSERT_TRUE(eventually([&] { return blocked_once.load(); }));
  // It notices, reconnects and rejoins; messages reach it again.
  ASSERT_TRUE(eventually([&] {
    if (!rx->is_connected()) return false;
    (void)tx->send("room", "n", 1);
    return c.size() > 0;
  }));
  EXPECT_GE(broker->stats().sessions_expired, 1u);
}

TEST(ZmqTransport, AnotherPeerCannotTakeOverASocketId) {
  auto broker = start_broker();
  auto victim = connect(broker->url());
  Collector c;
  victim->on("n", c.listener());
  ASSERT_TRUE(victim->join("room", false).ok());
  zmq::context_t ctx;
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect("tcp://127.0.0.1:" + std::to_string(broker->port()));
  msgpack::sbuffer hello;
  msgpack::packer<msgpack::sbuffer> pk(hello);
  pk.pack_array(5);
  pk.pack(std::string_view("hello"));
  pk.pack(2);  // protocol version
  pk.pack(victim->get_socket_id());
  pk.pack(std::string_view("guessed-resume-secret"));
  pk.pack_array(0);
  dealer.send(zmq::buffer(hello.data(), hello.size()));
  zmq::message_t reply;
  zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
  ASSERT_GT(zmq::poll(&item, 1, 5000ms), 0);
  ASSERT_TRUE(dealer.recv(reply));
  EXPECT_NE(reply.to_string().find("refused"), std::string::npos);
  EXPECT_NE(reply.to_string().find("in use"), std::string::npos);
  zmq_wire::Control refused;
  ASSERT_TRUE(zmq_wire::parse_reply(reply.to_string_view(), refused).ok());
  EXPECT_EQ(refused.status.code(), absl::StatusCode::kAlreadyExists);  // as on ws://
  auto tx = connect(broker->url());
  ASSERT_TRUE(tx->send("room", "n", 1).ok());
  ASSERT_TRUE(c.wait_for(1));  // the victim's membership is intact
}

TEST(ZmqTransport, AHelloWhoseWelcomeWasLostCanBeRepeated) {
  auto broker = start_broker();
  zmq::context_t ctx;
  auto hello = [&](const std::string& secret) {
    zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect("tcp://127.0.0.1:" + std::to_string(broker->port()));
    msgpack::sbuffer b;
    msgpack::packer<msgpack::sbuffer> pk(b);
    pk.pack_array(5);
    pk.pack(std::string_view("hello"));
    pk.pack(2);  // protocol version
    pk.pack(std::string_view("client-with-a-lost-welcome"));
    pk.pack(secret);
    pk.pack_array(0);
    dealer.send(zmq::buffer(b.data(), b.size()));
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    zmq::message_t reply;
    if (zmq::poll(&item, 1, 5000ms) <= 0 || !dealer.recv(reply)) return std::string("no reply");
    return reply.to_string();
  };
  // The first welcome is "lost" (its socket goes away unread): the same
  // client, saying hello again with its secret, is welcome; anyone else is not.
  EXPECT_NE(hello("0123456789abcdef-secret").find("welcome"), std::string::npos);
  EXPECT_NE(hello("0123456789abcdef-secret").find("welcome"), std::string::npos);
  EXPECT_NE(hello("someone-else-entirely").find("in use"), std::string::npos);
}

TEST(ZmqTransport, DropsAtTheHighWaterMarkAreCountedNeverSilent) {
  // A broker with a tiny per-subscriber queue, flooded, and a receiver that
  // chose to drop rather than hold its senders (Overflow::drop_newest: it
  // subscribes at the lossy port): the broker drops, and the receiver counts
  // every drop. Checked inside the listener of a message after the flood,
  // where the count is exact: every earlier message was either delivered or
  // counted lost. (A receiver that blocks loses nothing: FlowControl.)
  auto broker = start_broker({.endpoint = "tcp://127.0.0.1:0", .high_water_mark = 10});
  Options dropping;
  dropping.overflow = Overflow::drop_newest;
  auto rx = connect(broker->url(), dropping);
  auto tx = connect(broker->url());
  constexpr int kCount = 20'000;
  std::uint64_t received = 0;  // on rx's I/O thread only
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> seen_received{0}, seen_lost{0}, seen_value{0};
  rx->on("n", [&](const Payload& p) {
    const int value = p.message().as<int>();
    ++received;
    if (value >= kCount && !done) {
      seen_lost = rx->stats().lost_in_transit;
      seen_received = received;
      seen_value = static_cast<std::uint64_t>(value);
      done = true;
    }
  });
  ASSERT_TRUE(rx->join("flood", false).ok());
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(tx->send("flood", "n", i).ok());
  // Markers after the flood until one arrives (a marker may be dropped too).
  const auto deadline = std::chrono::steady_clock::now() + 120s;
  for (int next = kCount; !done && std::chrono::steady_clock::now() < deadline; ++next) {
    ASSERT_TRUE(tx->send("flood", "n", next).ok());
    std::this_thread::sleep_for(20ms);
  }
  ASSERT_TRUE(done.load());
  EXPECT_GT(seen_lost.load(), 0u);
  EXPECT_EQ(seen_received.load() + seen_lost.load(), seen_value.load() + 1);
}

// ---------------------------------------------------------------- bad input

TEST(ZmqTransport, GarbageFromARawPeerIsDroppedAndCountedWhileOthersKeepReceiving) {
  auto broker = start_broker({.endpoint = "tcp://127.0.0.1:0", .max_message_bytes = 4096});
  auto receiver = connect(broker->url());
  auto sender = connect(broker->url());
  std::atomic<int> next{0};
  std::atomic<bool> disorder{false};
  receiver->on("n", [&](const Payload& p) {
    int n = p.message().as<int>();
    if (n != next.load()) disorder = true;
    next = n + 1;
  });
  Collector raw_seen;
  receiver->on("raw", raw_seen.listener());
  ASSERT_TRUE(receiver->join("room").ok());

  zmq::context_t ctx;
  RawPublisher raw(ctx, broker->port());
  ASSERT_TRUE(raw.through());
  const std::string topic = "croom\xff";
  const std::string good_body = "\xa2ok";
  std::atomic<bool> stop{false};
  std::thread legit([&] {
    for (int i = 0; i < 2000 && !stop; ++i) {
      ASSERT_TRUE(sender->send("room", "n", i).ok());
      if (i % 100 == 0) std::this_thread::sleep_for(1ms);
    }
  });
  const std::string raw_header = header("room", "raw");
  // Dropped by the broker: not one frame, or no topic.
  const std::vector<std::vector<std::string>> not_one_message = {
      {topic, raw_header + good_body},             // two frames (protocol version 1)
      {topic, raw_header + good_body, good_body},  // three frames
      {std::string(300, 'c') + raw_header},        // no 0xFF: no topic
  };
  // Forwarded (one frame, a topic) and dropped by the receiver.
  const std::vector<std::string> garbage = {
      topic,                                           // no header
      topic + "\xc1\xc1" + good_body,                  // header not msgpack
      topic + "\x93\x02\x00\xa4room" + good_body,      // header too short
      topic + header("room", "") + good_body,          // empty event
      topic + header("other", "raw") + good_body,      // topic disagrees
      topic + raw_header,                              // no body
      topic + raw_header + "\xc1",                     // body not msgpack
      topic + raw_header + "\x92\x01",                 // body truncated
      topic + raw_header + good_body + good_body,      // two bodies
      topic + raw_header + std::string(5000, '\xc0'),  // body over the limit
      topic +
          std::string("\x97\x02\x05\xc0\xa5probe\xa3raw\xc2\x00\xc0", 17),  // probe off its topic
  };
  for (int round = 0; round < 5; ++round) {
    for (const auto& frames : not_one_message) raw.send(frames);
    for (const auto& message : garbage) raw.send({message});
  }
  raw.send({topic + raw_header + good_body});  // a valid one from the same peer
  ASSERT_TRUE(raw_seen.wait_for(1));
  EXPECT_EQ(raw_seen.all()[0].message.as<std::string>(), "ok");
  // A frame over the broker's limit gets the raw peer disconnected; nobody else.
  raw.send({topic + raw_header + std::string(200'000, 'x')});
  legit.join();
  ASSERT_TRUE(eventually([&] { return next.load() == 2000; }));
  EXPECT_FALSE(disorder.load());
  EXPECT_EQ(receiver->stats().dropped_malformed, 5u * garbage.size());
  EXPECT_EQ(broker->stats().malformed_dropped, 5u * not_one_message.size());
  EXPECT_EQ(receiver->stats().lost_in_transit, 0u);
  EXPECT_EQ(raw_seen.size(), 1u);

  // Garbage on the control socket is counted; the broker keeps serving.
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect("tcp://127.0.0.1:" + std::to_string(broker->port()));
  dealer.send(zmq::buffer(std::string("\xc1garbage")));
  dealer.send(zmq::buffer(std::string("\x91\xa4nope")));  // ["nope"]
  ASSERT_TRUE(eventually([&] { return broker->stats().control_malformed >= 2; }));
  auto late = connect(broker->url());
  ASSERT_TRUE(late->join("room").ok());
  // (eventually: on a starved sanitizer run a client can miss its pings, be
  // expired and come back.)
  EXPECT_TRUE(eventually([&] { return broker->stats().sessions == 3u; }))
      << broker->stats().sessions << " sessions";
}

// ---------------------------------------------------------------- sessions

TEST(ZmqTransport, SessionEnforcementRefusesPeersWithoutAValidToken) {
  const std::string secret = "correct horse battery staple";
  auto broker = start_broker({.endpoint = "tcp://127.0.0.1:0", .session_secret = secret});
  Options good;
  good.session = make_session_token(secret, "luke", std::chrono::hours(1));
  auto luke = connect(broker->url(), good);
  auto leia = connect(broker->url(), good);
  Collector c;
  leia->on_any(c.listener());
  ASSERT_TRUE(leia->join("rebels", false).ok());
  ASSERT_TRUE(luke->send("rebels", "hello", 1).ok());
  ASSERT_TRUE(c.wait_for(1));

  for (std::string token :
       {std::string("not-a-jwt"), make_session_token("wrong", "vader", 1h),
        make_session_token(secret, "expired", std::chrono::seconds(-10)), std::string()}) {
    Options bad;
    bad.session = token;
    Realtime vader(broker->url(), bad);
    std::atomic<bool> refused{false};
    absl::Status error;
    std::mutex mu;
    vader.on_error([&](const absl::Status& s) {
      std::lock_guard lock(mu);
      error = s;
      refused = s.code() == absl::StatusCode::kUnauthenticated;
    });
    ASSERT_TRUE(eventually([&] { return refused.load(); })) << "token: " << token;
    EXPECT_FALSE(vader.is_connected());
    EXPECT_EQ(vader.send("rebels", "hello", 2).code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(vader.join("rebels").code(), absl::StatusCode::kUnauthenticated);
    // Trying again is refused again, the same way.
    refused = false;
    ASSERT_TRUE(vader.open().ok());
    ASSERT_TRUE(eventually([&] { return refused.load(); })) << "token: " << token;
    EXPECT_EQ(vader.join("rebels").code(), absl::StatusCode::kUnauthenticated);
  }

  // A raw ZeroMQ socket without a token delivers nothing and receives nothing.
  zmq::context_t ctx;
  RawPublisher raw(ctx, broker->port());
  EXPECT_FALSE(raw.through(300ms));
  raw.send({"crebels\xff" + header("rebels", "intruder") +
            "\xa4"
            "evil"});
  ASSERT_TRUE(luke->send("rebels", "marker", 3).ok());
  ASSERT_TRUE(c.wait_for_event("marker"));
  EXPECT_EQ(c.count("intruder"), 0u);
  EXPECT_GT(broker->stats().auth_failures, 0u);
  // With a valid token, the same raw socket gets through.
  RawPublisher trusted(ctx, broker->port(), make_session_token(secret, "raw", 1h));
  EXPECT_TRUE(trusted.through());
}

// ---------------------------------------------------------------- command line

TEST(HeraldCli, HelpNamesEveryCommandAndFlag) {
  Process help({HERALD_CLI, "--help"});
  std::string text;
  while (auto line = help.read_line(5s)) text += *line + "\n";
  EXPECT_EQ(help.wait(), 0);
  EXPECT_NE(text.find("broker"), std::string::npos);
  EXPECT_NE(text.find("token"), std::string::npos);
  EXPECT_NE(text.find("keygen"), std::string::npos);

  Process broker_help({HERALD_CLI, "broker", "--help"});
  text.clear();
  while (auto line = broker_help.read_line(5s)) text += *line + "\n";
  EXPECT_EQ(broker_help.wait(), 0);
  for (const char* flag :
       {"--zmq", "--session-secret", "--max-message-bytes", "--session-timeout-ms",
        "--high-water-mark", "--subscriber-high-water-mark", "--max-sessions", "--max-channels",
        "--max-memberships", "--max-profile-bytes", "--curve-secret"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag;
  }
  Process bad({HERALD_CLI, "broker", "--bogus"});
  EXPECT_EQ(bad.wait(), 2);
  Process unknown({HERALD_CLI, "fly"});
  EXPECT_EQ(unknown.wait(), 2);
}

TEST(HeraldCli, PubAndSubSpeakJsonOverAnyUrl) {
  auto [broker, url] = broker_process("tcp://127.0.0.1:0");
  ASSERT_FALSE(url.empty());
  Process sub({HERALD_CLI, "sub", url, "technology-chat", "--all", "--count", "2"});
  auto watcher = connect(url);
  ASSERT_TRUE(eventually([&] {  // presence tells when the subscriber is in
    auto members = watcher->get_members("technology-chat");
    return members.ok() && members->size() == 1;
  }));
  Process pub({HERALD_CLI, "pub", url, "technology-chat", "chat-message",
               R"({"from":"Luke Skywalker","n":[1,2.5,true,null]})"});
  EXPECT_EQ(pub.wait(), 0);
  Process broadcast({HERALD_CLI, "pub", url, "-", "warning-message", R"("I am your father")",
                     "--broadcast", "--no-echo"});
  EXPECT_EQ(broadcast.wait(), 0);
  auto first = sub.read_line();
  auto second = sub.read_line();
  ASSERT_TRUE(first && second);
  auto a = nlohmann::json::parse(*first);
  auto b = nlohmann::json::parse(*second);
  EXPECT_EQ(a["channel"], "technology-chat");
  EXPECT_EQ(a["event"], "chat-message");
  EXPECT_EQ(a["message"]["from"], "Luke Skywalker");
  EXPECT_EQ(a["message"]["n"], nlohmann::json::parse("[1,2.5,true,null]"));
  EXPECT_TRUE(b["channel"].is_null());
  EXPECT_EQ(b["message"], "I am your father");
  EXPECT_EQ(a["sender"].get<std::string>().size(), 20u);
  EXPECT_EQ(sub.wait(), 0);

  Process bad_json({HERALD_CLI, "pub", url, "room", "e", "{nope"});
  EXPECT_EQ(bad_json.wait(), 2);
  Process bad_url({HERALD_CLI, "sub", "nope://x", "room"});
  EXPECT_EQ(bad_url.wait(), 2);
}

TEST(HeraldCli, TokenMintsAJwtTheBrokerAccepts) {
  const std::string path = temp_file("s3cret");
  Process token({HERALD_CLI, "token", "--secret", path, "--sub", "luke", "--ttl", "1h"});
  auto line = token.read_line(10s);
  ASSERT_TRUE(line.has_value());
  EXPECT_EQ(token.wait(), 0);
  auto subject = verify_session_token("s3cret", *line);
  ASSERT_TRUE(subject.ok()) << subject.status();
  EXPECT_EQ(*subject, "luke");

  auto [broker, url] = [&] {
    auto p = std::make_unique<Process>(std::vector<std::string>{
        HERALD_CLI, "broker", "--zmq", "tcp://127.0.0.1:0", "--session-secret", path});
    auto u = p->expect("listening ");
    return std::make_pair(std::move(p), u.value_or(""));
  }();
  ASSERT_FALSE(url.empty());
  Options options;
  options.session = *line;
  auto rt = connect(url, options);
  EXPECT_TRUE(rt->join("x").ok());
}

}  // namespace
}  // namespace herald
