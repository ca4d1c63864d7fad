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
  append_hello(out, "abc_DEF-123", "0123456789abcdef0123", "jwt.token.here", profile);
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
  append_hello(out, "id", "0123456789abcdef", "", Message());
  // [1, 1, "id", "0123456789abcdef", nil, nil]
  EXPECT_EQ(static_cast<unsigned char>(out[0]), 0x96);
  EXPECT_EQ(static_cast<unsigned char>(out[out.size() - 2]), 0xc0);
  EXPECT_EQ(static_cast<unsigned char>(out.back()), 0xc0);
  auto frames = parse_all(out);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].token.empty());
  EXPECT_EQ(frames[0].body, "\xc0");
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
