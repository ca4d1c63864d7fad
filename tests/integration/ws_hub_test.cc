// The herald hub's WebSocket gateway (docs/PROTOCOL.md, "ws://") against raw
// WebSocket clients that speak the documented frames byte for byte (Beast +
// msgpack-c here, no herald client code): the connection life cycle, every
// row of the error table, slow consumers, sessions, id takeover, keep-alive,
// limits, a graceful stop of the `herald hub` process and its command line.
//
// Each test starts its own Hub and gateway on a free loopback port. Waits
// are bounded and generous (sanitizer builds on shared machines); nothing
// sleeps to decide an outcome.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <msgpack.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "herald/herald.hpp"
#include "herald/session_token.hpp"
#include "herald/websocket/gateway.hpp"
#include "process.hpp"
#include "test_support.hpp"
#include "ws_raw_client.hpp"

namespace herald::ws_test {
namespace {

// ================================================================== tests

TEST(WsHub, RawClientsAndMemConnectionsMeetOnTheSameHub) {
  const std::string name = unique_name("ws-basics");
  auto hub = Hub::create(name, {});
  ASSERT_TRUE(hub.ok());
  auto gateway = start_gateway(*hub, {.idle_timeout = 20s});
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->url(), "ws://127.0.0.1:" + std::to_string(gateway->port()));
  const int port = gateway->port();

  Realtime local("mem://" + name);
  herald::testing::Collector seen;
  local.on_any(seen.listener());
  ASSERT_TRUE(local.join("lobby", false).ok());

  // hello → welcome [16, 1, id, max_message_bytes, ping_interval_ms]
  RawClient raw(port);
  ASSERT_TRUE(raw.connected()) << raw.handshake_error();
  EXPECT_EQ(raw.http_status(), 101u);
  raw.send(hello_frame("raw-1", std::nullopt,
                       packed(std::map<std::string, std::string>{{"role", "raw"}})));
  std::optional<Frame> welcome = raw.next();
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->text(), "[16,1,\"raw-1\",1048576,10000]");

  // Presence: the local member sees the join with the hello's profile.
  raw.send(frame(kJoin, 1, "lobby", false));
  EXPECT_TRUE(is_reply(raw.next(), 1, 0));
  ASSERT_TRUE(seen.wait_for_event("channel:join"));
  {
    const auto join = seen.all().back();
    EXPECT_EQ(join.channel, std::optional<std::string>("lobby"));
    EXPECT_EQ(join.message.to_json(), R"({"id":"raw-1","data":{"role":"raw"}})");
  }

  // A join followed by a send in the same WebSocket message: applied in order.
  raw.send_together({frame(kJoin, 2, "news", true),
                     frame(kSend, "news", "headline", true,
                           RawValue{packed(std::map<std::string, int>{{"n", 1}})})});
  std::optional<Frame> join_news = raw.next();
  ASSERT_TRUE(join_news);
  // The join's own channel:join (echo on) comes before the reply.
  EXPECT_EQ(join_news->text(),
            R"([19,2,"news","channel:join","raw-1",{"id":"raw-1","data":{"role":"raw"}}])");
  EXPECT_TRUE(is_reply(raw.next(), 2, 0));
  std::optional<Frame> headline = raw.next();
  ASSERT_TRUE(headline);
  EXPECT_EQ(headline->text(), R"([19,0,"news","headline","raw-1",{"n":1}])");

  // ws → mem, with a body that is a map, a string and binary bytes.
  const std::string body =
      packed(std::make_tuple(std::map<std::string, std::string>{{"text", "h\xc3\xa9llo"}},
                             std::vector<char>{'\0', '\xff'}));
  raw.send(frame(kSend, "lobby", "chat", false, RawValue{body}));
  ASSERT_TRUE(seen.wait_for_event("chat"));
  {
    const auto chat = seen.all().back();
    EXPECT_EQ(chat.sender, "raw-1");
    EXPECT_EQ(chat.channel, std::optional<std::string>("lobby"));
    EXPECT_EQ(std::string(reinterpret_cast<const char*>(chat.message.bytes().data()),
                          chat.message.bytes().size()),
              body)
        << "the hub forwards the body's bytes unchanged";
  }

  // mem → ws: send and broadcast (channel nil exactly for a broadcast).
  ASSERT_TRUE(local.send("lobby", "reply", std::string("hi raw")).ok());
  ASSERT_TRUE(local.broadcast("alert", 42).ok());
  std::optional<Frame> reply = raw.next();
  ASSERT_TRUE(reply);
  EXPECT_EQ(reply->text(), R"([19,0,"lobby","reply",")" + local.get_socket_id() + R"(","hi raw"])");
  std::optional<Frame> alert = raw.next();
  ASSERT_TRUE(alert);
  EXPECT_EQ(alert->text(), R"([19,1,null,"alert",")" + local.get_socket_id() + R"(",42])");

  // members: [17, req, 0, "", [[id, profile], ...]] both ways.
  std::optional<Frame> members = raw.members(3, "lobby");
  EXPECT_EQ(member_ids(members, 3), (std::set<std::string>{"raw-1", local.get_socket_id()}))
      << text_of(members);
  auto local_view = local.get_members("lobby");
  ASSERT_TRUE(local_view.ok());
  ASSERT_EQ(local_view->size(), 2u);

  // profile: [6, req, echo, profile] → reply; channel:update to the channels.
  raw.send(frame(kProfile, 4, false,
                 RawValue{packed(std::map<std::string, std::string>{{"role", "updated"}})}));
  EXPECT_TRUE(is_reply(raw.next(), 4, 0));
  ASSERT_TRUE(seen.wait_for_event("channel:update"));
  EXPECT_EQ(seen.all().back().message.to_json(), R"({"id":"raw-1","data":{"role":"updated"}})");

  // leave → channel:leave for the others; a second leave is a no-op reply 0.
  raw.send_together({frame(kLeave, 5, "lobby", false), frame(kLeave, 6, "lobby", false)});
  EXPECT_TRUE(is_reply(raw.next(), 5, 0));
  EXPECT_TRUE(is_reply(raw.next(), 6, 0));
  ASSERT_TRUE(seen.wait_for_event("channel:leave"));
  ASSERT_TRUE(local.send("lobby", "after-leave", 1).ok());
  ASSERT_TRUE(local.broadcast("marker", 2).ok());
  std::optional<Frame> marker = raw.next();
  EXPECT_TRUE(marker && marker->is_message("marker")) << text_of(marker);

  // A client-initiated close ends the connection and its membership.
  raw.close();
  EXPECT_TRUE(raw.wait_closed());
  EXPECT_EQ(raw.close_code(), 1000);
  EXPECT_TRUE(eventually([&] { return gateway->stats().connections == 0; }));
  EXPECT_TRUE(eventually([&] { return (*hub)->members("news").empty(); }));
  EXPECT_FALSE(raw.garbled());

  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.accepted, 1u);
  EXPECT_EQ(stats.frame_errors, 0u);
  EXPECT_EQ(stats.closed_protocol, 0u);
  EXPECT_EQ(stats.messages_routed, 2u);
  EXPECT_GE(stats.frames_out, stats.writes);
}

TEST(WsHub, MalformedInputGetsItsDocumentedAnswerAndCostsOthersNothing) {
  constexpr std::size_t kMaxBody = 1024;
  auto hub = make_hub("ws-malformed", {.max_message_bytes = kMaxBody});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  Witness witness(port);
  ASSERT_TRUE(witness.ok());

  // ---- Fatal: each closes its own connection with the documented code.
  struct Fatal {
    std::string what;
    std::vector<std::string> messages;  // binary WebSocket messages sent after hello
    int code;
    std::string reason;  // the close reason starts with this
    bool say_hello = true;
    bool text = false;
  };
  const std::string join_frame = frame(kJoin, 1, "room", true);
  std::string deep;  // a body nested so deep that its frame is not read (see 256 + 1 below)
  for (int i = 0; i < 600; ++i) deep += '\x91';
  deep += '\xc0';
  const std::vector<Fatal> fatal = {
      {"a text message", {"[2, 1, \"room\", true]"}, 1003, "binary frames only", true, true},
      {"not msgpack", {"\xc1"}, 1007, "malformed msgpack at byte 0"},
      {"a truncated value",
       {join_frame.substr(0, join_frame.size() - 1)},
       1007,
       "malformed msgpack at byte "},
      {"a truncated value after a good one",
       {frame(kMembers, 7, "room") + join_frame.substr(0, 3)},
       1007,
       "malformed msgpack at byte "},
      {"a body nested 600 deep",
       {frame(kSend, "room", "e", true, RawValue{deep})},
       1007,
       "malformed msgpack"},
      {"a frame before hello", {join_frame}, 1008, "", false},
      {"a non-frame before hello", {packed(42)}, 1008, "", false},
      {"a second hello", {hello_frame("second")}, 1008, ""},
      {"a WebSocket message over max_message_bytes + 64 KiB",
       {frame(kSend, "room", "e", true, RawValue{packed(std::vector<char>(kMaxBody + 65 * 1024))})},
       1009,
       ""},
  };
  int n = 0;
  for (const Fatal& c : fatal) {
    SCOPED_TRACE(c.what);
    const std::string id = "fatal-" + std::to_string(n++);
    std::unique_ptr<RawClient> client;
    if (c.say_hello) {
      client = hello(port, id);
    } else {
      client = std::make_unique<RawClient>(port);
      if (!client->connected()) client.reset();
    }
    ASSERT_NE(client, nullptr);
    for (const std::string& m : c.messages) {
      if (c.text) {
        client->send_text(m);
      } else {
        client->send(m);
      }
    }
    ASSERT_TRUE(client->wait_closed()) << "still open";
    EXPECT_EQ(client->close_code(), c.code) << client->close_reason() << client->read_error();
    EXPECT_EQ(client->close_reason().rfind(c.reason, 0), 0u) << client->close_reason();
    if (c.what == "a truncated value after a good one") {
      // N counts from the start of the WebSocket message: past the good frame.
      const std::size_t at = std::stoul(client->close_reason().substr(c.reason.size()));
      EXPECT_GE(at, frame(kMembers, 7, "room").size()) << client->close_reason();
    }
    // Nothing but what the frames before the bad one asked for.
    for (const Frame& f : client->drain()) {
      EXPECT_TRUE(c.what == "a truncated value after a good one" && member_ids(f, 7)) << f.text();
    }
  }

  // hello with an unsupported version: error 3, then close 1002.
  {
    RawClient client(port);
    ASSERT_TRUE(client.connected());
    client.send(frame(kHello, 2, "v2", resume_of("v2"), Nil(), Nil()));
    EXPECT_TRUE(is_error(client.next(), 3, "version"));
    ASSERT_TRUE(client.wait_closed());
    EXPECT_EQ(client.close_code(), 1002) << client.close_reason();
  }
  const std::uint64_t kClosedProtocol = fatal.size() + 1;

  // ---- Not fatal: answered with an error / reply; the connection stays and
  // the next request is answered. Each case may send several frames in one
  // WebSocket message; `answers` are checked in order.
  auto client = hello(port, "survivor");
  ASSERT_NE(client, nullptr);
  const std::string long_name(300, 'c');
  const std::string big_body = packed(std::vector<char>(kMaxBody));  // a bin just over the limit
  ASSERT_GT(big_body.size(), kMaxBody);
  const std::string ok_body = packed(std::vector<char>(kMaxBody - 3));
  ASSERT_EQ(ok_body.size(), kMaxBody);
  using Check = std::function<::testing::AssertionResult(const std::optional<Frame>&)>;
  auto error = [](std::uint64_t code, std::string mentions = "") -> Check {
    return [=](const std::optional<Frame>& f) { return is_error(f, code, mentions); };
  };
  auto reply = [](std::uint64_t req, std::uint64_t code, std::string mentions = "") -> Check {
    return [=](const std::optional<Frame>& f) { return is_reply(f, req, code, mentions); };
  };
  struct Survivable {
    std::string what;
    std::string message;
    std::vector<Check> answers;
  };
  const std::vector<Survivable> survivable = {
      {"a uint, not an array", packed(42), {error(3)}},
      {"a map", packed(std::map<std::string, int>{{"op", 2}}), {error(3)}},
      {"an empty array", frame(), {error(3)}},
      {"an array starting with a str", frame("join", 1, "room", true), {error(3)}},
      {"an array starting with a negative int", frame(-2, 1, "room", true), {error(3)}},
      {"unknown op 99", frame(99, 1), {error(3, "unknown op 99")}},
      {"unknown op 258 (2 + 256)", frame(258, 1, "room", true), {error(3, "unknown op 258")}},
      {"a hub-to-client op", frame(kWelcome, 1, "x", 1, 1), {error(3)}},
      {"join: channel is an int", frame(kJoin, 10, 42, true), {reply(10, 3, "channel")}},
      {"join: echo is a str", frame(kJoin, 11, "room", "yes"), {reply(11, 3, "echo")}},
      {"join: a field missing", frame(kJoin, 12, "room"), {reply(12, 3)}},
      {"join: a trailing field", frame(kJoin, 13, "room", true, 1), {reply(13, 3)}},
      {"join: req is not a uint", frame(kJoin, "r", "room", true), {error(3)}},
      {"join: a 300-byte channel", frame(kJoin, 14, long_name, true), {reply(14, 3, "channel")}},
      {"join: an empty channel", frame(kJoin, 15, "", true), {reply(15, 3, "channel")}},
      {"join: a channel of invalid UTF-8",
       frame(kJoin, 16, "bad\xff\xfe", true),
       {reply(16, 3, "channel")}},
      {"join: an overlong UTF-8 channel", frame(kJoin, 17, "\xc0\xaf", true), {reply(17, 3)}},
      {"leave: channel is nil", frame(kLeave, 18, Nil(), false), {reply(18, 3, "channel")}},
      {"members: channel too long", frame(kMembers, 19, long_name), {reply(19, 3, "channel")}},
      {"profile: echo missing", frame(kProfile, 20, Nil()), {reply(20, 3)}},
      {"send: a 300-byte event", frame(kSend, "room", long_name, true, 1), {error(3, "event")}},
      {"send: channel is a bin",
       frame(kSend, std::vector<char>{'r'}, "e", true, 1),
       {error(3, "channel")}},
      {"send: echo is an int", frame(kSend, "room", "e", 1, 1), {error(3, "echo")}},
      {"send: no body", frame(kSend, "room", "e", true), {error(3)}},
      {"broadcast: event of invalid UTF-8",
       frame(kBroadcast, "\xed\xa0\x80", true, 1),
       {error(3, "event")}},
      {"send: a body over the limit",
       frame(kSend, Witness::kChannel, "big", true, RawValue{big_body}),
       {error(8)}},
      {"broadcast: a body over the limit",
       frame(kBroadcast, "big", true, RawValue{big_body}),
       {error(8)}},
      {"profile: over the limit", frame(kProfile, 21, true, RawValue{big_body}), {reply(21, 8)}},
      {"three bad frames in one message",
       frame(99) + frame(kJoin, 22, 1, true) + frame(kSend, "room", "", true, 1),
       {error(3, "unknown op 99"), reply(22, 3), error(3)}},
  };
  std::uint64_t frame_errors = 0;
  std::uint64_t req = 1000;
  for (const Survivable& c : survivable) {
    SCOPED_TRACE(c.what);
    client->send(c.message);
    for (const Check& check : c.answers) {
      EXPECT_TRUE(check(client->next()));
      ++frame_errors;
    }
    // Still open: the next request is answered.
    ++req;
    std::optional<Frame> members = client->members(req, Witness::kChannel);
    EXPECT_EQ(member_ids(members, req), (std::set<std::string>{"witness-watcher"}))
        << text_of(members);
    ASSERT_FALSE(client->closed()) << client->close_code() << " " << client->close_reason();
  }
  // A body exactly at the limit is fine.
  client->send_together({frame(kJoin, 1, "limit", false),
                         frame(kSend, "limit", "at-limit", true, RawValue{ok_body})});
  EXPECT_TRUE(is_reply(client->next(), 1, 0));
  std::optional<Frame> at_limit = client->next();
  ASSERT_TRUE(at_limit);
  EXPECT_TRUE(at_limit->is_message("at-limit")) << at_limit->text();
  EXPECT_FALSE(client->garbled());

  EXPECT_TRUE(witness.finish());
  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.closed_protocol, kClosedProtocol);
  EXPECT_EQ(stats.frame_errors, frame_errors);
  EXPECT_EQ(stats.closed_idle, 0u);
  EXPECT_EQ(stats.closed_unauthenticated, 0u);
  EXPECT_EQ(stats.closed_slow_consumer, 0u);
  EXPECT_TRUE(eventually([&] { return gateway->stats().connections == 3; }))
      << gateway->stats().connections;  // the witness's two and the survivor
}

TEST(WsHub, WithoutHelloWithinTheHandshakeTimeoutTheConnectionIsClosed) {
  auto hub = make_hub("ws-timeout");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.handshake_timeout = 500ms});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  // A TCP connection that never sends its HTTP request is dropped.
  auto mute = std::async(std::launch::async, [port] { return http_exchange(port, ""); });
  // A WebSocket that never says hello: close 1008.
  RawClient silent(port);
  ASSERT_TRUE(silent.connected());
  // One that says hello at once is not affected.
  auto prompt = hello(port, "prompt");
  ASSERT_NE(prompt, nullptr);
  ASSERT_TRUE(silent.wait_closed());
  EXPECT_EQ(silent.close_code(), 1008);
  EXPECT_NE(silent.close_reason().find("hello"), std::string::npos) << silent.close_reason();
  EXPECT_TRUE(silent.drain().empty());
  std::optional<std::string> nothing = mute.get();
  ASSERT_TRUE(nothing.has_value()) << "not dropped";
  EXPECT_EQ(*nothing, "");

  EXPECT_TRUE(member_ids(prompt->members(1, "any"), 1));
  EXPECT_FALSE(prompt->closed());
  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.closed_idle, 2u);
  EXPECT_EQ(stats.connections, 1u);
}

TEST(WsHub, OnlyTheWebSocketOnSlashIsServed) {
  auto hub = make_hub("ws-http");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  RawClient other_path(port, at_path("/socket.io/?EIO=4"));
  EXPECT_FALSE(other_path.connected());
  EXPECT_EQ(other_path.http_status(), 404u);

  std::optional<std::string> plain =
      http_exchange(port, "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_TRUE(plain.has_value());
  EXPECT_EQ(plain->rfind("HTTP/1.1 404", 0), 0u) << *plain;

  // A query string does not change the path.
  RawClient with_query(port, at_path("/?v=1"));
  EXPECT_TRUE(with_query.connected()) << with_query.handshake_error();
  EXPECT_EQ(gateway->stats().refused, 2u);
}

TEST(WsHub, ConnectionsOverTheLimitGetHttp503) {
  auto hub = make_hub("ws-limit");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.max_connections = 2});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  auto a = hello(port, "a");
  auto b = hello(port, "b");
  ASSERT_TRUE(a && b);
  RawClient c(port);
  EXPECT_FALSE(c.connected());
  EXPECT_EQ(c.http_status(), 503u);
  EXPECT_EQ(gateway->stats().refused, 1u);
  // Room again once one leaves.
  a->close();
  ASSERT_TRUE(a->wait_closed());
  EXPECT_TRUE(eventually([&] {
    RawClient d(port);
    return d.connected();
  }));
}

TEST(WsHub, ASlowConsumerIsClosedWhileEveryoneElseGetsEverythingInOrder) {
  constexpr int kSubscribers = 20;
  constexpr std::size_t kBodyBytes = 4096;
  constexpr std::uint64_t kWindow = 32;          // messages per publisher WebSocket message
  constexpr std::uint64_t kMaxMessages = 20000;  // the stuck one must be cut off well before
  constexpr std::size_t kQueueBytes = 256 * 1024;
  auto hub = make_hub("ws-slow");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.threads = 2, .max_write_queue_bytes = kQueueBytes});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  struct Subscriber {
    std::atomic<std::uint64_t> received{0};
    std::atomic<bool> out_of_order{false};
    std::unique_ptr<RawClient> client;  // last: destroyed before what its handler uses
  };
  std::vector<std::unique_ptr<Subscriber>> subscribers;
  for (int i = 0; i < kSubscribers; ++i) {
    auto s = std::make_unique<Subscriber>();
    RawClient::Config config;
    config.on_frame = [s = s.get()](const Frame& f) {
      if (!f.is_message("data")) return false;
      const msgpack::object& body = f.at(5);
      if (body.type != msgpack::type::ARRAY || body.via.array.size != 2 ||
          uint_of(body.via.array.ptr[0]) != s->received.load() ||
          body.via.array.ptr[1].type != msgpack::type::BIN ||
          body.via.array.ptr[1].via.bin.size != kBodyBytes) {
        s->out_of_order = true;
      }
      s->received.fetch_add(1);
      return true;
    };
    s->client = hello_and_join(port, "sub-" + std::to_string(i), "feed", std::move(config));
    ASSERT_NE(s->client, nullptr);
    subscribers.push_back(std::move(s));
  }
  // The stuck one: joins, then reads nothing, with a small receive buffer.
  RawClientConfig stuck_config;
  stuck_config.receive_buffer = 4096;
  stuck_config.read = false;
  RawClient stuck(port, stuck_config);
  ASSERT_TRUE(stuck.connected());
  stuck.send_together({hello_frame("stuck"), frame(kJoin, 1, "feed", true)});
  ASSERT_TRUE(eventually([&] { return hub->members("feed").size() == kSubscribers + 1; }));
  auto publisher = hello(port, "publisher");
  ASSERT_NE(publisher, nullptr);

  // Publish in windows, each once every well-behaved subscriber has the last
  // (they never fall behind by more than a window: the bound is only passed
  // by the one that stopped reading), until the stuck one is cut off and ten
  // windows more.
  const std::vector<char> blob(kBodyBytes, 'x');
  std::uint64_t sent = 0;
  std::uint64_t after_cut = 0;
  while (after_cut < 10 && sent < kMaxMessages) {
    std::string message;
    for (std::uint64_t i = 0; i < kWindow; ++i) {
      message += frame(kSend, "feed", "data", false, std::make_tuple(sent + i, blob));
    }
    publisher->send(std::move(message));
    sent += kWindow;
    ASSERT_TRUE(eventually([&] {
      for (const auto& s : subscribers) {
        if (s->received.load() < sent) return false;
      }
      return true;
    })) << "a well-behaved subscriber fell behind at "
        << sent;
    if (gateway->stats().closed_slow_consumer > 0) ++after_cut;
  }
  ASSERT_LT(sent, kMaxMessages) << "the stuck subscriber was never cut off";

  for (const auto& s : subscribers) {
    EXPECT_EQ(s->received.load(), sent);
    EXPECT_FALSE(s->out_of_order.load());
    EXPECT_FALSE(s->client->closed());
  }
  WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.closed_slow_consumer, 1u);
  EXPECT_GT(stats.dropped_slow_consumer, 0u);
  EXPECT_EQ(stats.connections, static_cast<std::size_t>(kSubscribers + 1));
  EXPECT_EQ(hub->members("feed").size(), static_cast<std::size_t>(kSubscribers));
  // Memory stays bounded: no connection ever had more waiting than its bound.
  // (a few small control frames may wait alongside the data)
  EXPECT_LE(stats.write_queue_high_water, kQueueBytes / kBodyBytes + 4);
  EXPECT_LE(stats.write_queue_high_water, WsGatewayOptions{}.max_write_queue_frames);

  // When the stuck one reads at last: a prefix of the stream, in order, then the end.
  stuck.start_reading();
  ASSERT_TRUE(stuck.wait_closed(30s));
  std::uint64_t prefix = 0;
  for (const Frame& f : stuck.drain()) {
    if (!f.is_message("data")) continue;
    EXPECT_EQ(uint_of(f.at(5).via.array.size == 2 ? f.at(5).via.array.ptr[0] : f.at(0)), prefix);
    ++prefix;
  }
  EXPECT_LT(prefix, sent);
  if (stuck.close_code() != -1) {
    EXPECT_EQ(stuck.close_code(), kCloseSlowConsumer) << stuck.close_reason();
    EXPECT_EQ(stuck.close_reason().rfind("slow consumer", 0), 0u) << stuck.close_reason();
  }
}

TEST(WsHub, SessionsAreCheckedAtHelloAndBeforeEveryOperation) {
  const std::string secret = "correct horse battery staple";
  auto hub = make_hub("ws-sessions",
                      {.enforce_session = true, .verify_session = session_verifier(secret)});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  auto luke = std::make_unique<RawClient>(port);
  ASSERT_TRUE(luke->connected());
  luke->send_together({hello_frame("luke", make_session_token(secret, "luke", 1h)),
                       frame(kJoin, 1, "rebels", true)});
  ASSERT_TRUE(luke->next_op(kWelcome));
  ASSERT_TRUE(is_reply(luke->next_op(kReply), 1, 0));

  // No token, a malformed one, a foreign one, an expired one: error 16 and
  // close 4001; the frames sent right behind the hello are never applied.
  const std::vector<std::optional<std::string>> bad_tokens = {
      std::nullopt, "not-a-jwt", make_session_token("another secret", "vader", 1h),
      make_session_token(secret, "vader", -10s)};
  int i = 0;
  for (const auto& token : bad_tokens) {
    SCOPED_TRACE(token.value_or("<nil>"));
    RawClient vader(port);
    ASSERT_TRUE(vader.connected());
    const std::string id = "vader-" + std::to_string(i++);
    vader.send_together({hello_frame(id, token), frame(kJoin, 1, "rebels", true),
                         frame(kSend, "rebels", "intruder", true, 1),
                         frame(kBroadcast, "intruder", true, 2)});
    EXPECT_TRUE(is_error(vader.next(), 16));
    ASSERT_TRUE(vader.wait_closed());
    EXPECT_EQ(vader.close_code(), kCloseUnauthenticated) << vader.close_reason();
    EXPECT_TRUE(vader.drain().empty());
    // Meanwhile luke broadcasts: the refused connection gets none of it.
    luke->send(frame(kBroadcast, "patrol", false, 0));
  }
  // Everything luke receives is his own traffic, never an intruder's.
  luke->send(frame(kSend, "rebels", "marker", true, 3));
  std::optional<Frame> f;
  while ((f = luke->next()) && !f->is_message("marker")) {
    EXPECT_FALSE(f->is_message("intruder")) << f->text();
  }
  ASSERT_TRUE(f) << "luke never got his marker";

  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.closed_unauthenticated, bad_tokens.size());
  EXPECT_EQ(stats.messages_routed, bad_tokens.size() + 1);  // luke's patrols and marker only
  EXPECT_TRUE(eventually([&] { return gateway->stats().connections == 1; }));
}

TEST(WsHub, ATokenThatExpiresLaterIsRefusedAtTheNextOperation) {
  // Accepted at hello; once it has expired, the next operation is answered
  // with error 16 (not a reply), then close 4001.
  const std::string secret = "s3cret";
  auto hub =
      make_hub("ws-expiry", {.enforce_session = true, .verify_session = session_verifier(secret)});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  // exp is in whole seconds: a 2 s token is valid for at least 1 s.
  auto han = hello(gateway->port(), "han", {}, make_session_token(secret, "han", 2s));
  ASSERT_NE(han, nullptr);
  han->send(frame(kJoin, 1, "falcon", true));
  std::optional<Frame> first = han->next_op(kReply);
  ASSERT_TRUE(is_reply(first, 1, 0)) << "refused before it expired";
  std::optional<Frame> answer;
  std::uint64_t req = 1;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  do {
    std::this_thread::sleep_for(50ms);  // polling until the token has expired
    han->send(frame(kJoin, ++req, "falcon", false));
    answer = han->next();
    while (answer && answer->op() == kMessage) answer = han->next();
  } while (is_reply(answer, req, 0) && std::chrono::steady_clock::now() < deadline);
  EXPECT_TRUE(is_error(answer, 16));
  ASSERT_TRUE(han->wait_closed());
  EXPECT_EQ(han->close_code(), kCloseUnauthenticated);
  EXPECT_TRUE(eventually([&] { return hub->members("falcon").empty(); }));
}

TEST(WsHub, ACppClientWithABadTokenIsRefused) {
  const std::string secret = "correct horse battery staple";
  auto hub = make_hub("ws-cpp-session",
                      {.enforce_session = true, .verify_session = session_verifier(secret)});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);

  Options good;
  good.session = make_session_token(secret, "luke", 1h);
  Realtime luke(gateway->url(), good);
  ASSERT_TRUE(eventually([&] { return luke.is_connected(); }));
  ASSERT_TRUE(luke.join("rebels").ok());

  for (const std::string& token :
       {std::string("not-a-jwt"), make_session_token("wrong", "vader", 1h), std::string()}) {
    SCOPED_TRACE(token);
    Options bad;
    bad.session = token;
    bad.reconnection_delay = 100ms;
    Realtime vader(gateway->url(), bad);
    std::atomic<bool> refused{false};
    vader.on_error([&](const absl::Status& s) {
      if (s.code() == absl::StatusCode::kUnauthenticated) refused = true;
    });
    ASSERT_TRUE(eventually([&] { return refused.load(); }));
    EXPECT_FALSE(vader.is_connected());
    EXPECT_EQ(vader.send("rebels", "hello", 1).code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(vader.join("rebels").code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_GE(gateway->stats().closed_unauthenticated, 3u);
  auto members = luke.get_members("rebels");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 1u);
}

TEST(WsHub, ASecondHelloWithTheSameIdNeedsTheSameResumeSecret) {
  auto hub = make_hub("ws-takeover");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  auto watcher = hello_and_join(port, "watcher", "room");
  auto first = hello_and_join(port, "twin", "room");
  ASSERT_TRUE(watcher && first);

  // A different resume: error 6, close 4009; the first is untouched.
  RawClient impostor(port);
  ASSERT_TRUE(impostor.connected());
  impostor.send(frame(kHello, 1, "twin", std::string("another-resume-secret"), Nil(), Nil()));
  EXPECT_TRUE(is_error(impostor.next(), 6));
  ASSERT_TRUE(impostor.wait_closed());
  EXPECT_EQ(impostor.close_code(), kCloseIdInUse) << impostor.close_reason();
  std::optional<Frame> members = first->members(2, "room");
  EXPECT_EQ(member_ids(members, 2), (std::set<std::string>{"watcher", "twin"})) << text_of(members);
  EXPECT_FALSE(first->closed());

  // The same resume: the old connection is closed with 4004, the new one
  // takes its place — in its channels, without joining them again.
  auto second = hello(port, "twin");
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->wait_closed());
  EXPECT_EQ(first->close_code(), kCloseReplaced) << first->close_reason();
  EXPECT_NE(first->close_reason().find("replaced"), std::string::npos);
  watcher->send(frame(kSend, "room", "for-twin", false, 7));
  std::optional<Frame> got = second->next_op(kMessage);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->text(), R"([19,0,"room","for-twin","watcher",7])");
  members = second->members(3, "room");
  EXPECT_EQ(member_ids(members, 3), (std::set<std::string>{"watcher", "twin"})) << text_of(members);
  // Nobody heard twin leave or join again: one member all along.
  std::vector<std::string> presence;
  for (const Frame& f : watcher->drain()) {
    if (f.op() == kMessage && f.u(1) != 0) presence.push_back(f.s(3) + " " + f.s(4));
  }
  EXPECT_EQ(presence, (std::vector<std::string>{"channel:join twin"}));
  // Joining again is idempotent (a reconnecting client rejoins its channels).
  second->send(frame(kJoin, 4, "room", false));
  EXPECT_TRUE(is_reply(second->next_op(kReply), 4, 0));
  EXPECT_EQ(gateway->stats().connections, 2u);
}

TEST(WsHub, SilentConnectionsArePingedAndTheDeadOnesDropped) {
  auto hub = make_hub("ws-idle");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.idle_timeout = 800ms});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  // A live client answers pings (its WebSocket library does, while reading).
  RawClient live(port);
  ASSERT_TRUE(live.connected());
  live.send(hello_frame("live"));
  std::optional<Frame> welcome = live.next();
  ASSERT_TRUE(welcome);
  EXPECT_EQ(welcome->text(), R"([16,1,"live",1048576,400])");
  // A dead one says hello after the live one and then never reads: no pongs.
  RawClientConfig not_reading;
  not_reading.read = false;
  RawClient dead(port, not_reading);
  ASSERT_TRUE(dead.connected());
  dead.send(hello_frame("dead"));
  ASSERT_TRUE(eventually([&] { return gateway->stats().connections == 2; }));

  ASSERT_TRUE(eventually([&] { return gateway->stats().closed_idle >= 1; }));
  // The live one has been silent (but for pongs) at least as long, and is still there.
  EXPECT_TRUE(member_ids(live.members(1, "x"), 1));
  EXPECT_FALSE(live.closed());
  EXPECT_EQ(gateway->stats().closed_idle, 1u);
  EXPECT_EQ(gateway->stats().connections, 1u);
  dead.start_reading();
  EXPECT_TRUE(dead.wait_closed());
}

// ------------------------------------------------------------------ review fixes

TEST(WsHub, AMemSenderOnTheHubWaitsForAFullWsClientAndLosesNothing) {
  // A program's own mem:// connection sends a burst bigger than the write
  // queue's bound (16 MiB) to a ws:// client that drains slowly: it waits for
  // room on its own thread, as at a full mem:// inbox; nobody is cut.
  constexpr int kMessages = 20'000;
  const std::string body(1024, 'x');
  auto hub = make_hub("ws-mem-sender");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  Options queued;
  queued.dispatch = Dispatch::queued;
  queued.inbox_capacity = 256;
  Realtime consumer(gateway->url(), queued);
  ASSERT_TRUE(eventually([&] { return consumer.is_connected(); }));
  std::size_t received = 0;
  consumer.on("n", [&](const Payload&) { ++received; });
  ASSERT_TRUE(consumer.join("room").ok());
  Stats sent;
  std::thread sender([&] {
    Realtime local("mem://" + std::string(hub->name()));
    for (int i = 0; i < kMessages; ++i) ASSERT_TRUE(local.send("room", "n", body).ok());
    sent = local.stats();
  });
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (received < static_cast<std::size_t>(kMessages) &&
         std::chrono::steady_clock::now() < deadline) {
    consumer.poll_for(10ms);
    std::this_thread::sleep_for(20ms);  // far slower than the sender
  }
  sender.join();
  EXPECT_EQ(received, static_cast<std::size_t>(kMessages));
  EXPECT_GT(sent.sends_held, 0u);
  EXPECT_EQ(gateway->stats().closed_slow_consumer, 0u);
  EXPECT_EQ(consumer.stats().lost_in_transit, 0u);
}

TEST(WsHub, AFullQueuedMemInboxOnTheHubNeverStallsTheGateway) {
  // A program's own queued mem:// connection with a tiny inbox that is never
  // polled: the gateway thread delivering to it must not wait for room (it
  // would wait forever, and every client with it). Its inbox is overfilled
  // past its bound instead, and counted.
  constexpr int kMessages = 20;
  constexpr std::size_t kCapacity = 4;
  auto hub = make_hub("ws-full-inbox");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);  // one I/O thread: a stall would stop everything
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  Options queued;
  queued.dispatch = Dispatch::queued;
  queued.inbox_capacity = kCapacity;
  Realtime local("mem://" + std::string(hub->name()), queued);
  herald::testing::Collector seen;
  local.on_any(seen.listener());
  ASSERT_TRUE(local.join("room", false).ok());

  auto other = hello_and_join(port, "other-reader", "other");
  auto sender = hello(port, "room-sender");
  ASSERT_TRUE(other && sender);
  // Not a member of "room": nothing but these 20 reach the inbox.
  std::vector<std::string> burst;
  for (int i = 0; i < kMessages; ++i) burst.push_back(frame(kSend, "room", "r", false, i));
  sender->send_together(burst);
  // After the burst, on the same connection (frames apply in order).
  sender->send(frame(kSend, "other", "after-room", false, 1));
  std::optional<Frame> got = other->next_op(kMessage);
  EXPECT_TRUE(got && got->is_message("after-room")) << text_of(got);
  // A later connection is served too.
  auto late = hello_and_join(port, "late", "other");
  EXPECT_NE(late, nullptr);
  other->send(frame(kSend, "other", "still-here", false, 2));
  if (late != nullptr) {
    got = late->next_op(kMessage);
    EXPECT_TRUE(got && got->is_message("still-here")) << text_of(got);
  }
  EXPECT_EQ(gateway->stats().messages_routed, static_cast<std::uint64_t>(kMessages + 2));

  // Nothing was dispatched yet; polling now gets all 20, in order.
  EXPECT_EQ(seen.size(), 0u);
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (seen.size() < static_cast<std::size_t>(kMessages) &&
         std::chrono::steady_clock::now() < deadline) {
    local.poll_for(100ms);
  }
  const std::vector<herald::testing::Received> all = seen.all();
  ASSERT_EQ(all.size(), static_cast<std::size_t>(kMessages));
  for (int i = 0; i < kMessages; ++i) {
    EXPECT_EQ(all[i].event, "r");
    EXPECT_EQ(all[i].sender, "room-sender");
    EXPECT_EQ(all[i].message.to_json(), std::to_string(i));
  }
  const Stats stats = local.stats();
  EXPECT_EQ(stats.inbox_overfilled, static_cast<std::uint64_t>(kMessages - kCapacity));
  EXPECT_EQ(stats.inbox_high_water, static_cast<std::size_t>(kMessages));
  EXPECT_EQ(stats.dropped_inbox_full, 0u);
}

TEST(WsHub, AGracefulStopWritesEverythingQueuedBeforeTheCloseFrame) {
  // ~20 MB queued for a client that only starts reading well after stop():
  // with stop_grace = 10 s all of it goes out, then close 1001 — not cut off
  // after a second without a close frame.
  constexpr std::uint64_t kMessages = 320;
  constexpr std::size_t kBodyBytes = 64 * 1024;
  constexpr std::uint64_t kPerWsMessage = 8;  // 512 KiB per client WebSocket message
  auto hub = make_hub("ws-drain");
  ASSERT_NE(hub, nullptr);
  auto gateway =
      start_gateway(hub, {.max_write_queue_bytes = std::size_t{256} << 20, .stop_grace = 10s});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  std::atomic<std::uint64_t> received{0};
  std::atomic<bool> out_of_order{false};
  RawClientConfig config;
  config.read = false;
  config.receive_buffer = 4096;
  config.on_frame = [&](const Frame& f) {
    if (!f.is_message("d")) return false;
    const msgpack::object& body = f.at(5);
    if (body.type != msgpack::type::ARRAY || body.via.array.size != 2 ||
        uint_of(body.via.array.ptr[0]) != received.load() ||
        body.via.array.ptr[1].type != msgpack::type::BIN ||
        body.via.array.ptr[1].via.bin.size != kBodyBytes) {
      out_of_order = true;
    }
    received.fetch_add(1);
    return true;
  };
  RawClient reader(port, config);
  ASSERT_TRUE(reader.connected());
  reader.send_together({hello_frame("reader"), frame(kJoin, 1, "feed", false)});
  ASSERT_TRUE(eventually([&] { return hub->members("feed").size() == 1; }));
  auto sender = hello(port, "sender");
  ASSERT_NE(sender, nullptr);

  const std::vector<char> blob(kBodyBytes, 'x');
  for (std::uint64_t i = 0; i < kMessages; i += kPerWsMessage) {
    std::string message;
    for (std::uint64_t j = i; j < i + kPerWsMessage; ++j) {
      message += frame(kSend, "feed", "d", false, std::make_tuple(j, blob));
    }
    sender->send(std::move(message));
  }
  // Its reply means every message of the burst was routed (and queued for the reader).
  ASSERT_TRUE(member_ids(sender->members(2, "feed"), 2));
  ASSERT_EQ(gateway->stats().messages_routed, kMessages);
  // Most of it waits in the gateway (the rest in socket buffers).
  EXPECT_GT(gateway->stats().write_queue_high_water, kMessages / 2);

  auto stopped = std::async(std::launch::async, [&] { gateway->stop(); });
  // The stop has begun once a new WebSocket is turned away (503 or refused).
  ASSERT_TRUE(eventually([&] {
    RawClient probe(port);
    return !probe.connected();
  }));
  // Well past the second the old gateway gave a peer before dropping it:
  // pacing the reader, not deciding the outcome.
  std::this_thread::sleep_for(1500ms);
  reader.start_reading();
  ASSERT_TRUE(reader.wait_closed(kWait));
  EXPECT_EQ(reader.close_code(), 1001) << reader.read_error();
  EXPECT_EQ(reader.close_reason(), "hub stopping");
  EXPECT_EQ(received.load(), kMessages) << "messages routed before stop() were lost";
  EXPECT_FALSE(out_of_order.load());
  EXPECT_FALSE(reader.garbled());
  ASSERT_TRUE(sender->wait_closed());
  EXPECT_EQ(sender->close_code(), 1001);
  ASSERT_EQ(stopped.wait_for(kWait), std::future_status::ready) << "stop() did not return";
  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.dropped_closing, 0u);
  EXPECT_EQ(stats.closed_slow_consumer, 0u);
  EXPECT_EQ(stats.connections, 0u);
}

TEST(WsHub, AMembersReplyOverTheMessageLimitIsRefusedAndTheConnectionStays) {
  // The limit of a members reply is the WebSocket message limit:
  // max_message_bytes + 64 KiB (docs/PROTOCOL.md, "Keep-alive, timeouts, limits").
  constexpr std::size_t kMaxBody = 4096;
  constexpr std::size_t kLimit = kMaxBody + 64 * 1024;
  constexpr std::size_t kProfileBytes = 4000;  // each profile within the body limit
  auto hub = make_hub("ws-members-limit", {.max_message_bytes = kMaxBody});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  auto client = hello(gateway->port(), "asker");
  ASSERT_NE(client, nullptr);

  std::vector<std::unique_ptr<Realtime>> members;
  std::set<std::string> ids;
  std::size_t profiles = 0;  // the profiles' bytes so far
  auto add_member = [&] {
    auto m = std::make_unique<Realtime>("mem://" + std::string(hub->name()));
    ASSERT_TRUE(m->update_profile(std::string(kProfileBytes, 'p')).ok());
    ASSERT_TRUE(m->join("room").ok());
    ids.insert(m->get_socket_id());
    profiles += kProfileBytes;
    members.push_back(std::move(m));
  };
  // Three members with their profiles fit: the whole list comes back.
  for (int i = 0; i < 3; ++i) add_member();
  std::optional<Frame> reply = client->members(1, "room");
  EXPECT_EQ(member_ids(reply, 1), ids) << text_of(reply).substr(0, 200);
  // Past the limit: reply 8, not a reply too big for the client to read.
  while (profiles <= kLimit) add_member();
  reply = client->members(2, "room");
  EXPECT_TRUE(is_reply(reply, 2, 8, "over the message limit")) << text_of(reply).substr(0, 200);
  // The connection stays: the next request is answered.
  client->send(frame(kJoin, 3, "elsewhere", false));
  EXPECT_TRUE(is_reply(client->next_op(kReply), 3, 0));
  reply = client->members(4, "elsewhere");
  EXPECT_EQ(member_ids(reply, 4), (std::set<std::string>{"asker"})) << text_of(reply);
  EXPECT_FALSE(client->closed()) << client->close_code() << " " << client->close_reason();
  EXPECT_FALSE(client->garbled());
  EXPECT_EQ(gateway->stats().frame_errors, 1u);
  EXPECT_EQ(gateway->stats().closed_protocol, 0u);
}

TEST(WsHub, AConnectionMayBeInAtMost65536Channels) {
  constexpr std::uint64_t kMaxChannels = 65'536;
  constexpr std::uint64_t kJoins = kMaxChannels + 1;
  constexpr std::uint64_t kPerWsMessage = 4096;
  auto hub = make_hub("ws-channel-limit");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);

  // The replies to the joins (req 1..kJoins) are tallied on the client's
  // thread, not queued. codes[req - 1] is written before `replies` counts it.
  std::vector<std::uint64_t> codes(kJoins, ~std::uint64_t{0});
  std::atomic<std::uint64_t> replies{0};
  RawClientConfig config;
  config.on_frame = [&](const Frame& f) {
    if (f.op() != kReply || f.u(1) == 0 || f.u(1) > kJoins) return false;
    codes[f.u(1) - 1] = f.u(2);
    replies.fetch_add(1, std::memory_order_release);
    return true;
  };
  auto client = hello(gateway->port(), "collector", std::move(config));
  ASSERT_NE(client, nullptr);
  auto channel = [](std::uint64_t i) { return "c" + std::to_string(i); };
  for (std::uint64_t i = 0; i < kJoins; i += kPerWsMessage) {
    std::string message;
    for (std::uint64_t j = i; j < std::min(kJoins, i + kPerWsMessage); ++j) {
      message += frame(kJoin, j + 1, channel(j), false);
    }
    client->send(std::move(message));
  }
  const auto deadline = std::chrono::steady_clock::now() + 3 * kWait;
  while (replies.load(std::memory_order_acquire) < kJoins &&
         std::chrono::steady_clock::now() < deadline && !client->closed()) {
    std::this_thread::sleep_for(5ms);  // polling for the replies
  }
  ASSERT_EQ(replies.load(std::memory_order_acquire), kJoins);
  std::uint64_t ok = 0;
  for (std::uint64_t i = 0; i < kMaxChannels; ++i) ok += codes[i] == 0 ? 1 : 0;
  EXPECT_EQ(ok, kMaxChannels);
  EXPECT_EQ(codes[kMaxChannels], 8u) << "join number " << kJoins;
  EXPECT_EQ(hub->members(channel(kMaxChannels)).size(), 0u);
  EXPECT_EQ(hub->channels().size(), kMaxChannels);

  // At the limit: joining a channel it is already in is fine (a no-op)...
  client->send(frame(kJoin, kJoins + 1, channel(0), false));
  EXPECT_TRUE(is_reply(client->next_op(kReply), kJoins + 1, 0));
  // ...a new one is refused, with a reason...
  client->send(frame(kJoin, kJoins + 2, channel(kMaxChannels), false));
  EXPECT_TRUE(is_reply(client->next_op(kReply), kJoins + 2, 8, "channels"));
  // ...and after a leave there is room for one more.
  client->send_together({frame(kLeave, kJoins + 3, channel(1), false),
                         frame(kJoin, kJoins + 4, channel(kMaxChannels), false)});
  EXPECT_TRUE(is_reply(client->next_op(kReply), kJoins + 3, 0));
  EXPECT_TRUE(is_reply(client->next_op(kReply), kJoins + 4, 0));
  EXPECT_EQ(hub->members(channel(kMaxChannels)).size(), 1u);
  EXPECT_EQ(hub->members(channel(1)).size(), 0u);
  EXPECT_FALSE(client->closed());
  EXPECT_EQ(gateway->stats().frame_errors, 2u);
  client.reset();
  EXPECT_TRUE(eventually([&] { return hub->channels().empty(); }));
}

TEST(WsHub, StopFromAListenerOnTheGatewaysOwnThreadReturnsAndStops) {
  // A mem:// listener with immediate dispatch runs on the gateway's I/O thread
  // (the one routing the ws client's send): stop() there cannot wait for that
  // thread. It returns at once and the gateway stops anyway.
  auto hub = make_hub("ws-stop-inside");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.stop_grace = 3s});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  std::atomic<bool> returned{false}, threw{false}, on_test_thread{false};
  std::atomic<std::int64_t> took_ms{-1};
  const std::thread::id test_thread = std::this_thread::get_id();
  Realtime local("mem://" + std::string(hub->name()));
  local.on("stop-now", [&](const Payload&) {
    on_test_thread = std::this_thread::get_id() == test_thread;
    const auto start = std::chrono::steady_clock::now();
    try {
      gateway->stop();
    } catch (...) {
      threw = true;
    }
    took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now() - start)
                  .count();
    returned = true;
  });
  ASSERT_TRUE(local.join("control", false).ok());

  auto watcher = hello_and_join(port, "watcher", "news");
  auto controller = hello(port, "controller");
  ASSERT_TRUE(watcher && controller);
  controller->send(frame(kSend, "control", "stop-now", false, 1));
  ASSERT_TRUE(eventually([&] { return returned.load(); })) << "stop() never returned";
  EXPECT_FALSE(threw.load());
  EXPECT_FALSE(on_test_thread.load());
  EXPECT_LT(took_ms.load(), 1000) << "stop() on an I/O thread waited for that thread";

  for (RawClient* c : {watcher.get(), controller.get()}) {
    ASSERT_TRUE(c->wait_closed());
    EXPECT_EQ(c->close_code(), 1001) << c->read_error();
    EXPECT_EQ(c->close_reason(), "hub stopping");
  }
  EXPECT_TRUE(eventually([&] {
    RawClient probe(port);
    return !probe.connected();
  }));
  EXPECT_TRUE(eventually([&] { return hub->members("control").size() == 1; }));
  EXPECT_TRUE(hub->members("news").empty());
  // Stopping again, from here, waits for the first stop and is a no-op.
  gateway->stop();
  EXPECT_EQ(gateway->stats().connections, 0u);
}

TEST(WsHub, ARefusedHelloGetsAnErrorFrameBeforeItsClose) {
  constexpr std::size_t kMaxBody = 1024;
  auto hub = make_hub("ws-refused-hello", {.max_message_bytes = kMaxBody});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  auto bystander = hello_and_join(port, "bystander", "room");
  ASSERT_NE(bystander, nullptr);

  struct Case {
    std::string what;
    std::string hello;
    std::uint64_t error;
    std::string mentions;
    int close;
  };
  const std::string big_profile = packed(std::vector<char>(kMaxBody + 1));
  const std::vector<Case> cases = {
      // The version is checked first: a later version may have other fields.
      {"version 0", frame(kHello, 0, "v0", resume_of("v0"), Nil(), Nil()), 3, "version 0", 1002},
      {"version 2 with three fields", frame(kHello, 2, "x"), 3, "version 2", 1002},
      {"version 2 alone", frame(kHello, 2), 3, "version 2", 1002},
      {"version 2 with seven fields", frame(kHello, 2, "v2", resume_of("v2"), Nil(), Nil(), 1), 3,
       "version 2", 1002},
      {"version 2 with six fields", frame(kHello, 2, "v2", resume_of("v2"), Nil(), Nil()), 3,
       "version 2", 1002},
      {"a bad id", frame(kHello, 1, "bad id!", resume_of("x"), Nil(), Nil()), 3, "id", 1008},
      {"an empty id", frame(kHello, 1, "", resume_of("x"), Nil(), Nil()), 3, "id", 1008},
      {"a 65-byte id", frame(kHello, 1, std::string(65, 'i'), resume_of("x"), Nil(), Nil()), 3,
       "id", 1008},
      {"a short resume", frame(kHello, 1, "short", std::string(15, 'r'), Nil(), Nil()), 3, "resume",
       1008},
      {"a profile over the limit",
       frame(kHello, 1, "big", resume_of("big"), Nil(), RawValue{big_profile}), 8, "profile", 1008},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    RawClient client(port);
    ASSERT_TRUE(client.connected());
    client.send(c.hello);
    EXPECT_TRUE(is_error(client.next(), c.error, c.mentions));
    ASSERT_TRUE(client.wait_closed());
    EXPECT_EQ(client.close_code(), c.close) << client.close_reason();
    EXPECT_TRUE(client.drain().empty());
  }
  EXPECT_EQ(gateway->stats().closed_protocol, cases.size());
  EXPECT_EQ(gateway->stats().accepted, cases.size() + 1);
  EXPECT_EQ(gateway->stats().connections, 1u);
  EXPECT_EQ(hub->members("room").size(), 1u);
  EXPECT_TRUE(member_ids(bystander->members(2, "room"), 2));
}

// ------------------------------------------------------------------ the herald hub process

struct HubProcess {
  std::unique_ptr<Process> process;
  int port = 0;
};

HubProcess hub_process(std::vector<std::string> extra = {}) {
  std::vector<std::string> argv{HERALD_CLI, "hub", "--ws", "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  HubProcess hub{std::make_unique<Process>(argv)};
  const std::optional<std::string> url = hub.process->expect("listening ws://127.0.0.1:");
  EXPECT_TRUE(url.has_value()) << "herald hub did not start";
  if (url) hub.port = std::stoi(*url);
  return hub;
}

// Runs `herald ARGS... 2>&1`: exit status and everything it printed.
std::pair<std::optional<int>, std::string> run_cli(const std::vector<std::string>& args) {
  std::vector<std::string> argv{"/bin/sh", "-c", "exec \"$0\" \"$@\" 2>&1", HERALD_CLI};
  argv.insert(argv.end(), args.begin(), args.end());
  Process p(argv);
  std::string text;
  while (auto line = p.read_line(10s)) text += *line + "\n";
  return {p.wait(10s), text};
}

class WsHubProcess : public ::testing::TestWithParam<int> {};

TEST_P(WsHubProcess, AStopSignalClosesEveryClientWith1001AfterWhatWasQueued) {
  constexpr std::uint64_t kBurst = 1000;
  HubProcess hub = hub_process();
  ASSERT_GT(hub.port, 0);
  auto reader = hello_and_join(hub.port, "reader", "news");
  auto sender = hello(hub.port, "sender");
  RawClient pending(hub.port);  // a WebSocket that has not said hello yet
  ASSERT_TRUE(reader && sender && pending.connected());

  // A burst, then a members request in the same WebSocket message: its reply
  // means every message of the burst was routed (frames apply in order).
  std::vector<std::string> burst;
  for (std::uint64_t i = 0; i < kBurst; ++i) burst.push_back(frame(kSend, "news", "n", false, i));
  burst.push_back(frame(kMembers, 1, "news"));
  sender->send_together(burst);
  ASSERT_TRUE(member_ids(sender->next(), 1));

  hub.process->signal(GetParam());
  for (RawClient* c : {reader.get(), sender.get(), &pending}) {
    ASSERT_TRUE(c->wait_closed());
    EXPECT_EQ(c->close_code(), 1001);
    EXPECT_EQ(c->close_reason(), "hub stopping");
  }
  std::uint64_t n = 0;
  for (const Frame& f : reader->drain()) {
    if (!f.is_message("n")) continue;
    EXPECT_EQ(f.u(5), n) << f.text();
    ++n;
  }
  EXPECT_EQ(n, kBurst) << "messages routed before the stop were lost";
  EXPECT_EQ(hub.process->wait(10s), std::optional<int>(0));
}

INSTANTIATE_TEST_SUITE_P(Signals, WsHubProcess, ::testing::Values(SIGTERM, SIGINT),
                         [](const ::testing::TestParamInfo<int>& info) {
                           return std::string(info.param == SIGTERM ? "Sigterm" : "Sigint");
                         });

TEST(WsHubCli, HelpAndBadArguments) {
  auto [status, text] = run_cli({"hub", "--help"});
  EXPECT_EQ(status, std::optional<int>(0));
  for (const char* flag :
       {"--ws", "--session-secret", "--max-message-bytes", "--idle-timeout-ms",
        "--max-write-queue-bytes", "--max-write-queue-frames", "--max-connections", "--threads",
        "--max-channels-per-connection", "--handshake-timeout-ms", "--stall-timeout-ms",
        "--max-total-membership-bytes", "--max-total-profile-bytes", "--max-total-queued-bytes"}) {
    EXPECT_NE(text.find(flag), std::string::npos) << flag << " is not in:\n" << text;
  }
  std::tie(status, text) = run_cli({"--help"});
  EXPECT_EQ(status, std::optional<int>(0));
  EXPECT_NE(text.find("hub"), std::string::npos) << text;

  for (const std::string bad : {"nope", "127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x", ":7070"}) {
    std::tie(status, text) = run_cli({"hub", "--ws", bad});
    EXPECT_EQ(status, std::optional<int>(2)) << bad;
    EXPECT_NE(text.find("--ws"), std::string::npos) << bad << ": " << text;
  }
  std::tie(status, text) = run_cli({"hub"});
  EXPECT_EQ(status, std::optional<int>(2));
  EXPECT_NE(text.find("--ws"), std::string::npos) << text;
  for (const char* flag : {"--max-message-bytes", "--stall-timeout-ms", "--max-total-queued-bytes",
                           "--max-channels-per-connection"}) {
    std::tie(status, text) = run_cli({"hub", "--ws", "127.0.0.1:0", flag, "lots"});
    EXPECT_EQ(status, std::optional<int>(2)) << flag << ": " << text;
    std::tie(status, text) = run_cli({"hub", "--ws", "127.0.0.1:0", flag, "0"});
    EXPECT_EQ(status, std::optional<int>(2)) << flag << ": " << text;
  }
  std::tie(status, text) =
      run_cli({"hub", "--ws", "127.0.0.1:0", "--session-secret", "/nonexistent/secret"});
  EXPECT_EQ(status, std::optional<int>(2)) << text;
  EXPECT_NE(text.find("/nonexistent/secret"), std::string::npos) << text;
}

TEST(WsHubCli, APortInUseIsReported) {
  auto hub = make_hub("ws-port-in-use");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  auto [status, text] = run_cli({"hub", "--ws", "127.0.0.1:" + std::to_string(gateway->port())});
  EXPECT_EQ(status, std::optional<int>(1)) << text;
  EXPECT_NE(text.find(std::to_string(gateway->port())), std::string::npos) << text;
}

TEST(WsHubCli, SessionSecretFileIsEnforced) {
  const std::string path = ::testing::TempDir() + "herald-ws-secret-" + std::to_string(::getpid()) +
                           "-" + unique_name("s");
  std::ofstream(path) << "file secret\n";
  HubProcess hub = hub_process({"--session-secret", path});
  ASSERT_GT(hub.port, 0);
  RawClient anonymous(hub.port);
  ASSERT_TRUE(anonymous.connected());
  anonymous.send(hello_frame("anonymous"));
  EXPECT_TRUE(is_error(anonymous.next(), 16));
  ASSERT_TRUE(anonymous.wait_closed());
  EXPECT_EQ(anonymous.close_code(), kCloseUnauthenticated);
  // The secret without its trailing newline, as `herald token` reads it.
  auto member = hello(hub.port, "member", {}, make_session_token("file secret", "member", 1h));
  ASSERT_NE(member, nullptr);
  hub.process->signal(SIGTERM);
  EXPECT_EQ(hub.process->wait(10s), std::optional<int>(0));
  std::remove(path.c_str());
}

// The budget flags reach the hub: a hub-wide membership budget of three
// channels' worth, and two channels per connection.
TEST(WsHubCli, BudgetFlagsReachTheHub) {
  HubProcess hub =
      hub_process({"--max-total-membership-bytes", "800", "--max-channels-per-connection", "2"});
  ASSERT_GT(hub.port, 0);
  auto a = hello(hub.port, "a");
  auto b = hello(hub.port, "b");
  ASSERT_TRUE(a && b);
  auto join = [](RawClient& c, std::uint64_t req, std::string_view channel) {
    c.send(frame(kJoin, req, channel, false));
    return c.next_op(kReply);
  };
  // Each membership costs its name + 256 bytes: three fit in 800.
  EXPECT_TRUE(is_reply(join(*a, 1, "r1"), 1, 0));
  EXPECT_TRUE(is_reply(join(*a, 2, "r2"), 2, 0));
  EXPECT_TRUE(is_reply(join(*a, 3, "r3"), 3, 8, "at most 2 channels"));
  EXPECT_TRUE(is_reply(join(*b, 1, "r1"), 1, 0));
  EXPECT_TRUE(is_reply(join(*b, 2, "r2"), 2, 8, "max_total_membership_bytes"));
  hub.process->signal(SIGTERM);
  EXPECT_EQ(hub.process->wait(10s), std::optional<int>(0));
}

TEST(WsHubCli, PubAndSubSpeakJsonOverWs) {
  HubProcess hub = hub_process();
  ASSERT_GT(hub.port, 0);
  const std::string url = "ws://127.0.0.1:" + std::to_string(hub.port);
  Process sub({HERALD_CLI, "sub", url, "technology-chat", "--all", "--count", "2"});
  auto watcher = hello(hub.port, "watcher");
  ASSERT_NE(watcher, nullptr);
  std::uint64_t req = 0;
  ASSERT_TRUE(eventually([&] {  // presence tells when the subscriber is in
    ++req;
    auto ids = member_ids(watcher->members(req, "technology-chat"), req);
    return ids && ids->size() == 1;
  }));
  Process pub({HERALD_CLI, "pub", url, "technology-chat", "chat-message",
               R"({"from":"Luke Skywalker","n":[1,2.5,true,null]})"});
  EXPECT_EQ(pub.wait(), std::optional<int>(0));
  Process broadcast({HERALD_CLI, "pub", url, "-", "warning-message", R"("I am your father")",
                     "--broadcast", "--no-echo"});
  EXPECT_EQ(broadcast.wait(), std::optional<int>(0));
  auto first = sub.read_line();
  auto second = sub.read_line();
  ASSERT_TRUE(first && second);
  auto a = nlohmann::json::parse(*first);
  auto b = nlohmann::json::parse(*second);
  EXPECT_EQ(a["channel"], "technology-chat");
  EXPECT_EQ(a["event"], "chat-message");
  EXPECT_EQ(a["message"],
            nlohmann::json::parse(R"({"from":"Luke Skywalker","n":[1,2.5,true,null]})"));
  EXPECT_EQ(a["sender"].get<std::string>().size(), 20u);
  EXPECT_TRUE(b["channel"].is_null());
  EXPECT_EQ(b["event"], "warning-message");
  EXPECT_EQ(b["message"], "I am your father");
  EXPECT_EQ(sub.wait(), std::optional<int>(0));
  // The raw watcher, not a member of the channel, got the broadcast only.
  std::optional<Frame> seen = watcher->next_op(kMessage);
  while (seen && seen->u(1) >= 2) seen = watcher->next_op(kMessage);  // presence
  ASSERT_TRUE(seen);
  EXPECT_EQ(seen->text(), R"([19,1,null,"warning-message",")" + b["sender"].get<std::string>() +
                              R"(","I am your father"])");
}

}  // namespace
}  // namespace herald::ws_test
