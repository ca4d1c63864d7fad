// The ws:// codec (docs/PROTOCOL.md, "ws://"), without a hub: every frame a
// client writes parses back to its fields, several frames share one message,
// bodies travel in place, and malformed input is refused with a reason.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "../../transports/websocket/src/wire.hpp"
#include "herald/herald.hpp"
#include "herald/internal/envelope.hpp"

namespace herald::ws_wire {
namespace {

std::string bytes_of(const Message& m) {
  return std::string(reinterpret_cast<const char*>(m.bytes().data()), m.bytes().size());
}

// The message's frames, each parsed.
std::vector<Frame> parse_all(std::string_view message) {
  std::vector<Frame> out;
  FrameSplitter frames(message);
  while (!frames.done()) {
    absl::StatusOr<std::string_view> value = frames.next();
    EXPECT_TRUE(value.ok()) << value.status();
    if (!value.ok()) break;
    Frame f;
    absl::Status parsed = parse_frame(*value, f);
    EXPECT_TRUE(parsed.ok()) << parsed;
    out.push_back(f);
  }
  return out;
}

TEST(WsWire, HelloCarriesIdResumeTokenAndProfile) {
  const Message profile = Message::of(std::map<std::string, std::string>{{"name", "Luke"}});
  std::string out;
  append_hello(out, "abc_DEF-123", "0123456789abcdef0123", "jwt.token.here", kNoWindow, profile);
  auto frames = parse_all(out);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].op, Op::hello);
  EXPECT_EQ(frames[0].version, kVersion);
  EXPECT_EQ(frames[0].id, "abc_DEF-123");
  EXPECT_EQ(frames[0].resume, "0123456789abcdef0123");
  EXPECT_EQ(frames[0].token, "jwt.token.here");
  EXPECT_EQ(frames[0].body, bytes_of(profile));  // in place, not wrapped in bin
}

TEST(WsWire, HelloWithoutTokenOrProfileSendsNil) {
  std::string out;
  append_hello(out, "id", "0123456789abcdef", "", kNoWindow, Message());
  // [1, 1, "id", "0123456789abcdef", nil, nil]
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x96);
  EXPECT_EQ(static_cast<unsigned char>(out[out.size() - 2]), 0xc0);
  EXPECT_EQ(static_cast<unsigned char>(out.back()), 0xc0);
  auto frames = parse_all(out);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].token.empty());
  EXPECT_EQ(frames[0].body, "\xc0");
}

TEST(WsWire, HelloCarriesTheCreditWindowBeforeTheProfile) {
  const Message profile = Message::of(7);
  for (std::uint64_t window : {std::uint64_t{0}, kCreditWindow, std::uint64_t{1} << 40}) {
    std::string out;
    append_hello(out, "id", "0123456789abcdef", "", window, profile);
    EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x97);  // 7 elements
    auto frames = parse_all(out);
    ASSERT_EQ(frames.size(), 1u);
    EXPECT_EQ(frames[0].window, window);
    EXPECT_EQ(frames[0].body, bytes_of(profile));
  }
  // Left out: the hub reads kNoWindow (a client that says nothing of flow).
  std::string out;
  append_hello(out, "id", "0123456789abcdef", "", kNoWindow, profile);
  EXPECT_EQ(parse_all(out)[0].window, kNoWindow);
  // A window that is not a uint, or is the "absent" value, is refused.
  Frame f;
  const std::string bad_window =
      "\x97\x01\x01\xa2id\xb0"
      "0123456789abcdef\xc0\xa1x\xc0";
  EXPECT_EQ(parse_frame(bad_window, f).code(), absl::StatusCode::kInvalidArgument);
  const std::string absent_value =
      "\x97\x01\x01\xa2id\xb0"
      "0123456789abcdef\xc0\xcf\xff\xff\xff\xff\xff\xff\xff\xff\xc0";
  EXPECT_EQ(parse_frame(absent_value, f).code(), absl::StatusCode::kInvalidArgument);
}

TEST(WsWire, CreditAndFlowFramesRoundTrip) {
  std::string out;
  append_credit(out, 256);
  append_flow(out, true);
  append_flow(out, false);
  auto frames = parse_all(out);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_EQ(frames[0].op, Op::credit);
  EXPECT_EQ(frames[0].taken, 256u);
  EXPECT_EQ(frames[1].op, Op::flow);
  EXPECT_TRUE(frames[1].held);
  EXPECT_EQ(frames[2].op, Op::flow);
  EXPECT_FALSE(frames[2].held);
  Frame f;
  EXPECT_FALSE(parse_frame(std::string("\x92\x08\xa1x"), f).ok());     // credit: not a uint
  EXPECT_FALSE(parse_frame(std::string("\x93\x14\xc3\xc3"), f).ok());  // flow: one field too many
}

TEST(WsWire, CoalescedRequestsAndSendsKeepTheirOrder) {
  std::string message;
  append_request(message, Op::join, 1, "room", true);
  auto send = internal::Envelope::make(internal::EnvelopeKind::message, "room", "chat", "me",
                                       Message::of(std::string("hi")), false);
  append_publish(message, *send);
  auto broadcast = internal::Envelope::make(internal::EnvelopeKind::broadcast, "", "alert", "me",
                                            Message::of(42), true);
  append_publish(message, *broadcast);
  append_request(message, Op::leave, 2, "room", false);
  append_profile(message, 3, true, Message::of(7));
  append_members_request(message, 4, "lobby");

  auto frames = parse_all(message);
  ASSERT_EQ(frames.size(), 6u);
  EXPECT_EQ(frames[0].op, Op::join);
  EXPECT_EQ(frames[0].req, 1u);
  EXPECT_EQ(frames[0].channel, "room");
  EXPECT_TRUE(frames[0].echo);

  EXPECT_EQ(frames[1].op, Op::send);
  EXPECT_EQ(frames[1].channel, "room");
  EXPECT_EQ(frames[1].event, "chat");
  EXPECT_FALSE(frames[1].echo);
  EXPECT_EQ(frames[1].body, bytes_of(Message::of(std::string("hi"))));

  EXPECT_EQ(frames[2].op, Op::broadcast);
  EXPECT_FALSE(frames[2].has_channel);
  EXPECT_EQ(frames[2].event, "alert");
  EXPECT_TRUE(frames[2].echo);
  EXPECT_EQ(frames[2].body, bytes_of(Message::of(42)));

  EXPECT_EQ(frames[3].op, Op::leave);
  EXPECT_EQ(frames[3].req, 2u);
  EXPECT_FALSE(frames[3].echo);

  EXPECT_EQ(frames[4].op, Op::profile);
  EXPECT_EQ(frames[4].req, 3u);
  EXPECT_EQ(frames[4].body, bytes_of(Message::of(7)));

  EXPECT_EQ(frames[5].op, Op::members);
  EXPECT_EQ(frames[5].req, 4u);
  EXPECT_EQ(frames[5].channel, "lobby");
}

// The ws:// client relies on this to find a frame's op without parsing it.
TEST(WsWire, ClientFramesStartWithAFixarrayAndTheirOp) {
  auto e = internal::Envelope::make(internal::EnvelopeKind::message, std::string(255, 'c'),
                                    std::string(255, 'e'), "me", Message::of(1), true);
  std::vector<std::pair<Op, std::string>> frames(6);
  append_request(frames[0].second, frames[0].first = Op::join, ~0ull, std::string(255, 'c'), true);
  append_request(frames[1].second, frames[1].first = Op::leave, 1, "x", false);
  append_publish(frames[2].second, *e);
  frames[2].first = Op::send;
  auto b =
      internal::Envelope::make(internal::EnvelopeKind::broadcast, "", "e", "me", Message(), false);
  append_publish(frames[3].second, *b);
  frames[3].first = Op::broadcast;
  append_profile(frames[4].second, ~0ull, true, Message::of(1));
  frames[4].first = Op::profile;
  append_members_request(frames[5].second, ~0ull, "x");
  frames[5].first = Op::members;
  for (const auto& [op, bytes] : frames) {
    ASSERT_GE(bytes.size(), 2u);
    EXPECT_EQ(static_cast<unsigned char>(bytes[0]) & 0xf0, 0x90);
    EXPECT_EQ(static_cast<Op>(bytes[1]), op);
  }
}

TEST(WsWire, MessageFramesBecomeEnvelopes) {
  std::string out;
  auto sent = internal::Envelope::make(internal::EnvelopeKind::message, "room", "chat", "sender-1",
                                       Message::of(std::vector<int>{1, 2, 3}), true);
  append_message(out, *sent);
  auto bcast = internal::Envelope::make(internal::EnvelopeKind::broadcast, "", "alert", "sender-2",
                                        Message(), true);
  append_message(out, *bcast);
  auto frames = parse_all(out);
  ASSERT_EQ(frames.size(), 2u);

  absl::StatusOr<internal::EnvelopePtr> e = envelope_of(frames[0]);
  ASSERT_TRUE(e.ok()) << e.status();
  EXPECT_EQ((*e)->kind(), internal::EnvelopeKind::message);
  EXPECT_EQ((*e)->channel(), "room");
  EXPECT_EQ((*e)->event(), "chat");
  EXPECT_EQ((*e)->sender(), "sender-1");
  EXPECT_EQ((*e)->body().as<std::vector<int>>(), (std::vector<int>{1, 2, 3}));

  absl::StatusOr<internal::EnvelopePtr> b = envelope_of(frames[1]);
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE((*b)->is_broadcast());
  EXPECT_EQ((*b)->channel(), std::nullopt);
  EXPECT_TRUE((*b)->body().is_nil());
}

TEST(WsWire, WelcomeRepliesErrorsAndMembers) {
  std::string out;
  append_welcome(out, "me", 1 << 20, 15000);
  append_reply(out, 7, absl::OkStatus());
  append_reply(out, 8, absl::InvalidArgumentError("bad channel"));
  append_error(out, absl::ResourceExhaustedError("too big"));
  append_members_reply(out, 9, {{"a", Message::of(std::string("Luke"))}, {"b", Message()}});
  auto frames = parse_all(out);
  ASSERT_EQ(frames.size(), 5u);

  EXPECT_EQ(frames[0].op, Op::welcome);
  EXPECT_EQ(frames[0].id, "me");
  EXPECT_EQ(frames[0].max_message_bytes, 1u << 20);
  EXPECT_EQ(frames[0].ping_interval_ms, 15000u);

  EXPECT_EQ(frames[1].op, Op::reply);
  EXPECT_EQ(frames[1].req, 7u);
  EXPECT_EQ(frames[1].code, 0u);

  EXPECT_EQ(frames[2].req, 8u);
  EXPECT_EQ(frames[2].code, static_cast<std::uint64_t>(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(frames[2].error, "bad channel");

  EXPECT_EQ(frames[3].op, Op::error);
  EXPECT_EQ(frames[3].code, static_cast<std::uint64_t>(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(frames[3].error, "too big");

  EXPECT_EQ(frames[4].req, 9u);
  absl::StatusOr<std::vector<Member>> members = decode_members(frames[4].members);
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].id, "a");
  EXPECT_EQ((*members)[0].data.as<std::string>(), "Luke");
  EXPECT_EQ((*members)[1].id, "b");
  EXPECT_TRUE((*members)[1].data.is_nil());
}

TEST(WsWire, TruncatedMessageNamesTheByteOffset) {
  std::string out;
  append_request(out, Op::join, 1, "room", true);
  append_request(out, Op::join, 2, "other", true);
  out.resize(out.size() - 3);
  FrameSplitter frames(out);
  ASSERT_TRUE(frames.next().ok());
  absl::StatusOr<std::string_view> bad = frames.next();
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.status().message()).find("malformed msgpack at byte"),
            std::string::npos)
      << bad.status();
}

TEST(WsWire, WellFormedValuesThatAreNotFramesAreRefusedWithAReason) {
  auto refused = [](std::string_view value) {
    Frame f;
    absl::Status s = parse_frame(value, f);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    return std::string(s.message());
  };
  EXPECT_NE(refused("\x01").find("array"), std::string::npos);              // 1
  EXPECT_NE(refused("\x90").find("array"), std::string::npos);              // []
  EXPECT_NE(refused("\x91\x63").find("unknown op 99"), std::string::npos);  // [99]
  // [2, 1, "", true]: an empty channel name.
  EXPECT_NE(refused(std::string_view("\x94\x02\x01\xa0\xc3", 5)).find("channel"),
            std::string::npos);
  // [2, 1, "room", true, 0]: a field too many.
  EXPECT_NE(refused(std::string_view("\x95\x02\x01\xa4room\xc3\x00", 10)).find("join: expected"),
            std::string::npos);
  // [19, 1, "room", "e", "s", nil]: a broadcast with a channel.
  EXPECT_NE(refused("\x96\x13\x01\xa4room\xa1"
                    "e\xa1s\xc0")
                .find("kind 1"),
            std::string::npos);
}

TEST(WsWire, SendsAndBroadcastsOfChannelEventsAreRefused) {
  auto refusal = [](std::string_view value) {
    Frame f;
    return parse_frame(value, f);
  };
  // [4, "r", "channel:leave", false, nil] and [5, "channel:join", false, nil].
  const absl::Status send = refusal(
      "\x95\x04\xa1r\xad"
      "channel:leave\xc2\xc0");
  EXPECT_EQ(send.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(send.message()).find("reserved"), std::string::npos) << send;
  EXPECT_EQ(refusal("\x94\x05\xac"
                    "channel:join\xc2\xc0")
                .code(),
            absl::StatusCode::kInvalidArgument);
  // A message frame from the hub carries them: [19, 2, "r", "channel:join", "s", nil].
  EXPECT_TRUE(refusal("\x96\x13\x02\xa1r\xac"
                      "channel:join\xa1s\xc0")
                  .ok());
}

TEST(WsWire, AFrameHoldsABodyAsDeepAsTheNestingLimit) {
  // [4, "r", "e", false, body]: the body one level down.
  const auto send_of = [](int depth) {
    return std::string(
               "\x95\x04\xa1r\xa1"
               "e\xc2") +
           std::string(depth, '\x91') + '\xc0';
  };
  const std::string at_limit = send_of(limits::kMaxNestingDepth);
  FrameSplitter at_limit_frames(at_limit);
  ASSERT_TRUE(at_limit_frames.next().ok());
  EXPECT_EQ(at_limit_frames.deepest(), limits::kMaxNestingDepth + 1);
  const std::string deeper = send_of(limits::kMaxNestingDepth + 1);  // read: the hub answers 3
  FrameSplitter deeper_frames(deeper);
  ASSERT_TRUE(deeper_frames.next().ok());
  EXPECT_EQ(deeper_frames.deepest(), limits::kMaxNestingDepth + 2);
  const std::string too_deep = send_of(kMaxFrameNesting);
  FrameSplitter too_deep_frames(too_deep);
  EXPECT_FALSE(too_deep_frames.next().ok());  // not even a frame: close 1007
}

TEST(WsWire, SocketIds) {
  EXPECT_TRUE(valid_socket_id("Ab0_-"));
  EXPECT_TRUE(valid_socket_id(std::string(kMaxIdBytes, 'x')));
  EXPECT_FALSE(valid_socket_id(""));
  EXPECT_FALSE(valid_socket_id(std::string(kMaxIdBytes + 1, 'x')));
  EXPECT_FALSE(valid_socket_id("a b"));
  EXPECT_FALSE(valid_socket_id("a/b"));
}

}  // namespace
}  // namespace herald::ws_wire
