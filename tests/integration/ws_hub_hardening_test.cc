// What a hostile or careless peer can do to the hub (issue 9), against raw
// WebSocket clients: an expired session that only listens, error frames that
// quote hostile names, forged presence events, bodies at the nesting limit, a
// message over the size limit, a replacement by id + resume.
//
// Each test starts its own Hub and gateway on a free loopback port; waits are
// bounded, nothing sleeps to decide an outcome.
#include <gtest/gtest.h>

#include "herald/internal/names.hpp"
#include "process.hpp"
#include "ws_raw_client.hpp"

namespace herald::ws_test {
namespace {

// `depth` arrays nested in one another around a nil: nesting level `depth`.
RawValue nested(int depth) { return RawValue{std::string(depth, '\x91') + '\xc0'}; }

TEST(WsHubHardening, AListenerWhoseSessionEndsIsCutWithin4001) {
  // It never sends anything after joining: only the hub's re-check
  // (HubOptions::session_check_interval, 1 s) can find its token expired.
  const std::string secret = "s3cret";
  auto hub = make_hub("ws-listener-expiry",
                      {.enforce_session = true, .verify_session = session_verifier(secret)});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  // exp is in whole seconds: a 2 s token is valid for at least 1 s.
  auto listener = hello(port, "listener", {}, make_session_token(secret, "listener", 2s));
  ASSERT_NE(listener, nullptr);
  listener->send(frame(kJoin, 1, "room", false));
  ASSERT_TRUE(is_reply(listener->next_op(kReply), 1, 0));
  auto sender = hello(port, "sender", {}, make_session_token(secret, "sender", 600s));
  ASSERT_NE(sender, nullptr);

  std::atomic<bool> stop{false};
  std::thread ticks([&] {
    for (int n = 0; !stop.load(); ++n) {
      sender->send(frame(kSend, "room", "tick", false, n));
      std::this_thread::sleep_for(20ms);  // pacing, not waiting for an outcome
    }
  });
  bool received = false, told = false;
  const auto deadline = std::chrono::steady_clock::now() + kWait;
  while (!told && std::chrono::steady_clock::now() < deadline) {
    std::optional<Frame> f = listener->next(1s);
    if (!f) continue;
    if (f->is_message("tick")) received = true;
    if (f->op() == kError) {
      EXPECT_TRUE(is_error(f, 16, "no longer valid"));
      told = true;
    }
  }
  EXPECT_TRUE(received) << "ticks reached it while its session was valid";
  ASSERT_TRUE(told) << "the listener was never told its session ended";
  ASSERT_TRUE(listener->wait_closed());
  EXPECT_EQ(listener->close_code(), kCloseUnauthenticated) << listener->close_reason();
  EXPECT_TRUE(hub->members("room").empty());
  stop = true;
  ticks.join();
  EXPECT_EQ(gateway->stats().closed_unauthenticated, 1u);
  EXPECT_FALSE(sender->closed());
}

TEST(WsHubHardening, ErrorsQuotingHostileNamesAreValidUtf8AndLoseNoCoalescedFrame) {
  auto hub = make_hub("ws-utf8");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  auto client = hello(gateway->port(), "hostile");
  ASSERT_NE(client, nullptr);
  // Invalid UTF-8, quoted at most 64 bytes: "é" (2 bytes) straddles the cut.
  const std::string invalid = "\xff" + std::string(62, 'a') + "\xc3\xa9" + "z";
  // Too long, quoted at most 32 bytes: again "é" straddles the cut.
  const std::string too_long = std::string(31, 'b') + "\xc3\xa9" + std::string(300, 'c');
  client->send_together({frame(kJoin, 1, invalid, false), frame(kJoin, 2, too_long, false),
                         frame(kSend, invalid, "e", false, 1), frame(kJoin, 3, "fine", false)});
  std::vector<std::optional<Frame>> answers;
  for (int i = 0; i < 4; ++i) {
    answers.push_back(client->next());
    ASSERT_TRUE(answers.back()) << "answer " << i << " is missing";
  }
  EXPECT_TRUE(is_reply(answers[0], 1, 3, "not valid UTF-8"));
  EXPECT_TRUE(is_reply(answers[1], 2, 3, "the limit is 255"));
  EXPECT_TRUE(is_error(answers[2], 3, "not valid UTF-8"));
  EXPECT_TRUE(is_reply(answers[3], 3, 0));
  for (const std::optional<Frame>& f : answers) {
    const std::string error = f->op() == kReply ? f->s(3) : f->s(2);
    // A strict decoder (Python's msgpack) refuses a str that is not UTF-8,
    // and with it the whole WebSocket message these frames came in.
    EXPECT_TRUE(internal::is_valid_utf8(error)) << f->text();
    EXPECT_EQ(error.find("\xc3\""), std::string::npos) << "a character cut in half: " << f->text();
  }
  EXPECT_NE(answers[0]->s(3).find("\\xff"), std::string::npos) << answers[0]->text();
  EXPECT_FALSE(client->garbled());
}

TEST(WsHubHardening, AStrictDecoderReadsTheErrorsThatQuoteHostileNames) {
  // Python's msgpack (raw=False, as in PROTOCOL.md's example) refuses a str
  // that is not UTF-8, and with it every frame of the WebSocket message.
  auto hub = make_hub("ws-strict");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const char* script = R"(
import asyncio, msgpack, sys, websockets
async def main(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/") as ws:
        await ws.send(msgpack.packb([1, 1, "py-strict", "0123456789abcdef", None, None]))
        await ws.recv()
        bad = b"\xff" + b"a" * 62 + "\u00e9".encode() + b"z"
        await ws.send(msgpack.packb([2, 1, bad, False]) + msgpack.packb([2, 2, "fine", False]))
        frames = []
        while len(frames) < 2:
            unpacker = msgpack.Unpacker(raw=False)
            unpacker.feed(await ws.recv())
            frames.extend(unpacker)
        print("frames", [f[:3] for f in frames], flush=True)
asyncio.run(main(int(sys.argv[1])))
)";
  testing::Process python({"/usr/bin/python3", "-c", script, std::to_string(gateway->port())});
  std::optional<std::string> line = python.expect("frames");
  ASSERT_TRUE(line) << "the Python peer did not decode the answers";
  EXPECT_EQ(*line, " [[17, 1, 3], [17, 2, 0]]");  // what follows "frames"
}

TEST(WsHubHardening, PresenceEventsCannotBeForged) {
  auto hub = make_hub("ws-forge");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  auto victim = hello_and_join(port, "victim", "room");
  auto member = hello_and_join(port, "member", "room");
  auto forger = hello_and_join(port, "forger", "room");
  ASSERT_TRUE(victim && member && forger);
  const std::map<std::string, std::string> fake{{"id", "victim"}};
  forger->send_together({frame(kSend, "room", "channel:leave", false, fake),
                         frame(kBroadcast, "channel:join", false, fake),
                         frame(kSend, "room", "channel:", false, fake)});
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(is_error(forger->next_op(kError), 3, "reserved"));
  }
  forger->send(frame(kSend, "room", "marker", false, 1));
  std::optional<Frame> f;
  while ((f = member->next()) && !f->is_message("marker")) {
    // The hub's own presence events are kinds 2-4; a forged one would be 0 or 1.
    EXPECT_FALSE(f->op() == kMessage && f->u(1) <= 1) << "a forged event arrived: " << f->text();
  }
  ASSERT_TRUE(f) << "the marker never came";
  EXPECT_FALSE(forger->closed());
  EXPECT_EQ(gateway->stats().refused_reserved_events, 3u);
  EXPECT_EQ(hub->members("room").size(), 3u);
}

TEST(WsHubHardening, ABodyAtTheNestingLimitIsRoutedAndADeeperOneGetsAnError) {
  // limits::kMaxNestingDepth, the same on every transport: the hub reads a
  // body as deep as from_msgpack takes, and refuses a deeper one without
  // closing the connection.
  auto hub = make_hub("ws-nesting");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  auto rx = hello_and_join(port, "rx", "room");
  auto sender = hello(port, "deep-sender");
  ASSERT_TRUE(rx && sender);
  sender->send(frame(kSend, "room", "deep", false, nested(limits::kMaxNestingDepth)));
  std::optional<Frame> got = rx->next_op(kMessage);
  ASSERT_TRUE(got && got->is_message("deep")) << text_of(got);
  EXPECT_EQ(sender->closed(), false);

  sender->send(frame(kSend, "room", "deeper", false, nested(limits::kMaxNestingDepth + 1)));
  EXPECT_TRUE(is_error(sender->next_op(kError), 3, "nesting deeper than 256"));
  sender->send(frame(kProfile, 1, false, nested(limits::kMaxNestingDepth + 1)));
  EXPECT_TRUE(is_reply(sender->next_op(kReply), 1, 3, "nesting deeper than 256"));
  sender->send(frame(kSend, "room", "after", false, 1));
  got = rx->next_op(kMessage);
  ASSERT_TRUE(got && got->is_message("after")) << text_of(got);
  EXPECT_FALSE(sender->closed());
  EXPECT_EQ(gateway->stats().closed_protocol, 0u);
}

TEST(WsHubHardening, AMessageOverTheLimitIsAnsweredWithClose1009) {
  // The hub keeps reading (and dropping) the rest of it, so the close frame
  // reaches the peer instead of a reset connection (1006).
  auto hub = make_hub("ws-too-big", {.max_message_bytes = 1024});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  auto witness = std::make_unique<Witness>(gateway->port());
  ASSERT_TRUE(witness->ok());
  auto big = hello(gateway->port(), "big");
  ASSERT_NE(big, nullptr);
  big->send(frame(kSend, "room", "huge", false, std::string(4u << 20, 'x')));
  ASSERT_TRUE(big->wait_closed());
  EXPECT_EQ(big->close_code(), 1009) << big->read_error() << " " << big->close_reason();
  EXPECT_NE(big->close_reason().find("over the limit"), std::string::npos);
  EXPECT_EQ(gateway->stats().closed_protocol, 1u);
  EXPECT_TRUE(witness->finish());
}

TEST(WsHubHardening, AReplacementInheritsTheChannelsAndTheProfile) {
  // As a zmq:// takeover keeps its session: the same id stays a member, and
  // nobody hears it leave or join.
  auto hub = make_hub("ws-replace");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  auto watcher = hello_and_join(port, "watcher", "room");
  ASSERT_NE(watcher, nullptr);
  const std::string profile = packed(std::map<std::string, std::string>{{"name", "Ada"}});
  auto first = hello(port, "ada", {}, std::nullopt, profile);
  ASSERT_NE(first, nullptr);
  first->send_together({frame(kJoin, 1, "room", false), frame(kJoin, 2, "lab", false)});
  ASSERT_TRUE(is_reply(first->next_op(kReply), 1, 0));
  ASSERT_TRUE(is_reply(first->next_op(kReply), 2, 0));

  auto second = hello(port, "ada");  // same resume, profile nil
  ASSERT_NE(second, nullptr);
  ASSERT_TRUE(first->wait_closed());
  EXPECT_EQ(first->close_code(), kCloseReplaced);
  watcher->send(frame(kSend, "room", "to-ada", false, 1));
  std::optional<Frame> got = second->next_op(kMessage);
  ASSERT_TRUE(got && got->is_message("to-ada")) << text_of(got);
  EXPECT_EQ(hub->channels(), (std::vector<std::string>{"lab", "room"}));
  const std::vector<Member> members = hub->members("lab");
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].id, "ada");
  EXPECT_EQ((members[0].data.as<std::map<std::string, std::string>>().at("name")), "Ada");
  std::vector<std::string> presence;
  for (const Frame& f : watcher->drain()) {
    if (f.op() == kMessage && f.u(1) != 0) presence.push_back(f.s(3) + " " + f.s(4));
  }
  EXPECT_EQ(presence, (std::vector<std::string>{"channel:join ada"}));
  // Leaving works as for any member (the channel limit counts them as its own).
  second->send(frame(kLeave, 3, "lab", false));
  EXPECT_TRUE(is_reply(second->next_op(kReply), 3, 0));
  EXPECT_EQ(hub->channels(), (std::vector<std::string>{"room"}));
  EXPECT_EQ(gateway->stats().connections, 2u);
}

// Credit flow cannot be gamed: a client that announces a window, reads
// nothing and claims to have taken more than was ever routed to it is held
// to what was routed, holds its senders back for the stall timeout at most,
// and is cut; a receiver beside it gets every message.
TEST(WsHubHardening, AClientThatLiesWithCreditsIsCutAfterTheStallAndNobodyLosesAnything) {
  constexpr std::uint64_t kMessages = 20'000;  // 20 MB: more than the sockets hold
  auto hub = make_hub("ws-credit-liar", {.stall_timeout = 500ms});
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();

  std::atomic<std::uint64_t> witnessed{0};
  RawClient::Config witness_config;
  witness_config.on_frame = [&](const Frame& f) {
    if (!f.is_message("n")) return false;
    witnessed.fetch_add(1);
    return true;
  };
  auto witness = hello_and_join(port, "witness", "room", std::move(witness_config));
  ASSERT_NE(witness, nullptr);

  RawClientConfig liar_config;
  liar_config.read = false;
  liar_config.receive_buffer = 4096;
  RawClient liar(port, liar_config);
  ASSERT_TRUE(liar.connected());
  // [1, 1, id, resume, nil, window 16, nil]
  liar.send_together({frame(kHello, 1, "liar", resume_of("liar"), Nil(), 16, Nil()),
                      frame(kJoin, 1, "room", true)});
  ASSERT_TRUE(eventually([&] { return hub->members("room").size() == 2; }));
  std::atomic<bool> stop{false};
  std::thread lies([&] {
    // [8, taken]: far more than it got, and more every time (as if it
    // made progress).
    for (std::uint64_t taken = std::uint64_t{1} << 40; !stop.load(); taken += 1000) {
      liar.send(frame(8, taken));
      std::this_thread::sleep_for(10ms);
    }
  });

  auto sender = hello(port, "sender");
  ASSERT_NE(sender, nullptr);
  const std::string body(1024, 'x');
  for (std::uint64_t i = 0; i < kMessages; ++i) {
    sender->send(frame(kSend, "room", "n", false, body));
  }
  EXPECT_TRUE(eventually([&] { return witnessed.load() == kMessages; }))
      << witnessed.load() << " of " << kMessages;
  stop = true;
  lies.join();
  EXPECT_EQ(gateway->stats().closed_stalled, 1u);
  EXPECT_GE(gateway->stats().publishers_held, 1u);
  EXPECT_EQ(hub->members("room").size(), 1u);
  EXPECT_FALSE(sender->closed());
}

}  // namespace
}  // namespace herald::ws_test
