// The zmq:// codecs (docs/PROTOCOL.md, "zmq://"), without a broker: a data
// message is one frame that decodes back to its envelope; every control
// message parses back to its fields, a status keeps its code, and malformed
// input is refused with a reason.
#include <gtest/gtest.h>

#include <deque>
#include <map>
#include <string>
#include <vector>

#include "../../transports/zmq/src/wire/control.hpp"
#include "../../transports/zmq/src/wire/data.hpp"
#include "herald/herald.hpp"

namespace herald::zmq_wire {
namespace {

std::string bytes_of(const Message& m) {
  return std::string(reinterpret_cast<const char*>(m.bytes().data()), m.bytes().size());
}

// A parsed message's fields are views into its bytes: these keep them.
std::deque<std::string>& kept() {
  static std::deque<std::string> payloads;
  return payloads;
}

Control request(std::string payload) {
  Control c;
  absl::Status s = parse_request(kept().emplace_back(std::move(payload)), c);
  EXPECT_TRUE(s.ok()) << s;
  return c;
}

Control reply(std::string payload) {
  Control c;
  absl::Status s = parse_reply(kept().emplace_back(std::move(payload)), c);
  EXPECT_TRUE(s.ok()) << s;
  return c;
}

// The reason a malformed request / reply is refused (empty if it was not).
std::string request_error(std::string_view payload) {
  Control c;
  absl::Status s = parse_request(payload, c);
  EXPECT_EQ(s.code(), s.ok() ? absl::StatusCode::kOk : absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

std::string reply_error(std::string_view payload) {
  Control c;
  absl::Status s = parse_reply(payload, c);
  EXPECT_EQ(s.code(), s.ok() ? absl::StatusCode::kOk : absl::StatusCode::kInvalidArgument);
  return std::string(s.message());
}

// ---------------------------------------------------------------- data messages

TEST(ZmqWireData, AMessageIsOneFrameTopicHeaderBody) {
  auto e = internal::Envelope::make(internal::EnvelopeKind::message, "room", "chat", "bob",
                                    Message::of(std::string("hi")), false);
  const std::string frame = encode_message(*e, 7);
  ASSERT_TRUE(frame.starts_with("croom\xff\x97\x02\x00\xa4room"));  // topic, [2, 0, "room", ...
  absl::StatusOr<Decoded> d = decode(frame, 1024);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->topic, "croom\xff");
  EXPECT_EQ(d->seq, 7u);
  EXPECT_FALSE(d->probe);
  EXPECT_EQ(d->envelope->channel_or_empty(), "room");
  EXPECT_EQ(d->envelope->event(), "chat");
  EXPECT_EQ(d->envelope->sender(), "bob");
  EXPECT_FALSE(d->envelope->echo());
  EXPECT_EQ(d->envelope->body().as<std::string>(), "hi");

  auto b = internal::Envelope::make(internal::EnvelopeKind::broadcast, "", "news", "bob",
                                    Message::of(1), true);
  const std::string broadcast = encode_message(*b, 0);  // (d's topic is a view into it)
  d = decode(broadcast, 1024);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_EQ(d->topic, kBroadcastTopic);
  EXPECT_TRUE(d->envelope->is_broadcast());
}

TEST(ZmqWireData, WhatIsNotOneWellFormedMessageIsRefusedWithAReason) {
  auto e = internal::Envelope::make(internal::EnvelopeKind::message, "room", "chat", "bob",
                                    Message::of(std::string("hi")), false);
  const std::string frame = encode_message(*e, 1);
  auto error = [](std::string_view f, std::size_t limit = 1024) {
    absl::StatusOr<Decoded> d = decode(f, limit);
    return d.ok() ? std::string() : std::string(d.status().message());
  };
  EXPECT_NE(error(std::string(300, 'c') + frame).find("no topic"), std::string::npos);
  EXPECT_NE(error("croom\xff").find("array of 7"), std::string::npos);
  std::string v1 = frame;
  v1[7] = '\x01';  // [1, ...]: protocol version 1
  EXPECT_NE(error(v1).find("version"), std::string::npos);
  std::string other = frame;
  other.replace(0, 6, "cmoor\xff");
  EXPECT_NE(error(other).find("topic does not match"), std::string::npos);
  EXPECT_NE(error(frame + "\xc0").size(), 0u);                     // two bodies
  EXPECT_NE(error(frame.substr(0, frame.size() - 1)).size(), 0u);  // body cut
  EXPECT_EQ(decode(frame, 1).status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(error(frame), "");
}

// ---------------------------------------------------------------- round trips

TEST(ZmqWire, HelloCarriesIdSecretAndTheChannelsToKeep) {
  const std::vector<std::string_view> keep = {"room", "lobby"};
  Control c = request(encode_hello("sock-1", "0123456789abcdef", keep));
  EXPECT_EQ(c.command, Command::hello);
  EXPECT_EQ(c.version, kVersion);
  EXPECT_EQ(c.socket_id, "sock-1");
  EXPECT_EQ(c.resume, "0123456789abcdef");
  EXPECT_EQ(c.channels, keep);
  EXPECT_TRUE(request(encode_hello("s", "0123456789abcdef", {})).channels.empty());
}

TEST(ZmqWire, JoinLeaveProfileMembersStatsRequests) {
  const Message profile = Message::of(std::map<std::string, std::string>{{"name", "Luke"}});
  Control join = request(encode_join(7, "room", true, bytes_of(profile)));
  EXPECT_EQ(join.command, Command::join);
  EXPECT_EQ(join.req, 7u);
  EXPECT_EQ(join.channel, "room");
  EXPECT_TRUE(join.echo);
  EXPECT_EQ(join.profile, bytes_of(profile));                          // in place
  EXPECT_EQ(request(encode_join(1, "r", false, "")).profile, "\xc0");  // none: nil

  Control leave = request(encode_leave(~0ull, std::string(255, 'c'), false));
  EXPECT_EQ(leave.command, Command::leave);
  EXPECT_EQ(leave.req, ~0ull);
  EXPECT_EQ(leave.channel, std::string(255, 'c'));
  EXPECT_FALSE(leave.echo);

  Control p = request(encode_profile(8, bytes_of(Message::of(42)), true));
  EXPECT_EQ(p.command, Command::profile);
  EXPECT_EQ(p.req, 8u);
  EXPECT_EQ(p.profile, bytes_of(Message::of(42)));
  EXPECT_TRUE(p.echo);

  Control m = request(encode_members_request(9, "lobby"));
  EXPECT_EQ(m.command, Command::members);
  EXPECT_EQ(m.req, 9u);
  EXPECT_EQ(m.channel, "lobby");

  Control s = request(encode_stats_request(10));
  EXPECT_EQ(s.command, Command::stats);
  EXPECT_EQ(s.req, 10u);
}

TEST(ZmqWire, SignalsAreTheirNameAlone) {
  EXPECT_EQ(request(encode_signal(Command::ping)).command, Command::ping);
  EXPECT_EQ(request(encode_signal(Command::bye)).command, Command::bye);
  EXPECT_EQ(reply(encode_signal(Command::pong)).command, Command::pong);
  EXPECT_EQ(encode_signal(Command::ping), "\x91\xa4ping");
}

TEST(ZmqWire, WelcomeOkUnknownSession) {
  Control w = reply(encode_welcome({.max_message_bytes = 1 << 20,
                                    .publish_port = 5001,
                                    .subscribe_port = 5002,
                                    .session_timeout_ms = 5000}));
  EXPECT_EQ(w.command, Command::welcome);
  EXPECT_EQ(w.version, kVersion);
  EXPECT_EQ(w.welcome.max_message_bytes, 1u << 20);
  EXPECT_EQ(w.welcome.publish_port, 5001u);
  EXPECT_EQ(w.welcome.subscribe_port, 5002u);
  EXPECT_EQ(w.welcome.session_timeout_ms, 5000u);

  Control ok = reply(encode_ok(3));
  EXPECT_EQ(ok.command, Command::ok);
  EXPECT_EQ(ok.req, 3u);
  Control gone = reply(encode_unknown_session(4));
  EXPECT_EQ(gone.command, Command::unknown_session);
  EXPECT_EQ(gone.req, 4u);
  EXPECT_EQ(encode_unknown_session(4), std::string("\x92\xafunknown-session\x04"));
}

TEST(ZmqWire, ErrorsAndRefusalsKeepTheirStatusCode) {
  for (const absl::Status& s :
       {absl::ResourceExhaustedError("a connection may join at most 65536 channels"),
        absl::InvalidArgumentError("bad name"), absl::AlreadyExistsError("socket id in use"),
        absl::UnauthenticatedError("token expired")}) {
    Control e = reply(encode_error(11, s));
    EXPECT_EQ(e.command, Command::error);
    EXPECT_EQ(e.req, 11u);
    EXPECT_EQ(e.status, s);
    Control r = reply(encode_refused(s));
    EXPECT_EQ(r.command, Command::refused);
    EXPECT_EQ(r.status, s);
  }
}

TEST(ZmqWire, ErrorsWithoutACodeAreReadAsBeforeCodes) {
  // ["error", 5, "why"], ["refused", "why"]: what brokers sent before codes.
  EXPECT_EQ(reply("\x93\xa5"
                  "error\x05\xa3why")
                .status,
            absl::InvalidArgumentError("why"));
  EXPECT_EQ(reply("\x92\xa7refused\xa3why").status, absl::UnauthenticatedError("why"));
  // A code this side does not know is kUnknown, not a crash.
  EXPECT_EQ(reply("\x94\xa5"
                  "error\x05\xa3why\x63")
                .status.code(),
            absl::StatusCode::kUnknown);
}

TEST(ZmqWire, MembersAndStatsReplies) {
  const Message luke = Message::of(std::string("luke"));
  const std::string luke_bytes = bytes_of(luke);
  const std::vector<MemberEntry> entries = {{"a", luke_bytes}, {"b", ""}};
  Control m = reply(encode_members_reply(12, entries));
  EXPECT_EQ(m.command, Command::members);
  EXPECT_EQ(m.req, 12u);
  absl::StatusOr<std::vector<Member>> members = decode_members(m.members);
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 2u);
  EXPECT_EQ((*members)[0].id, "a");
  EXPECT_EQ((*members)[0].data.as<std::string>(), "luke");
  EXPECT_EQ((*members)[1].id, "b");
  EXPECT_TRUE((*members)[1].data.is_nil());

  Control s = reply(encode_stats_reply(13, {.sessions = 1,
                                            .channels = 2,
                                            .messages_in = 300,
                                            .messages_out = 1ull << 40,
                                            .refused_channels = 7,
                                            .forged_dropped = 9}));
  EXPECT_EQ(s.command, Command::stats);
  EXPECT_EQ(s.req, 13u);
  EXPECT_EQ(s.counts.sessions, 1u);
  EXPECT_EQ(s.counts.channels, 2u);
  EXPECT_EQ(s.counts.messages_in, 300u);
  EXPECT_EQ(s.counts.messages_out, 1ull << 40);
  EXPECT_EQ(s.counts.refused_channels, 7u);
  EXPECT_EQ(s.counts.forged_dropped, 9u);
  // Counters this client does not know (a newer broker's) are skipped.
  Control newer = reply("\x93\xa5stats\x02\x82\xa8sessions\x05\xa3new\x06");
  EXPECT_EQ(newer.counts.sessions, 5u);
}

// ---------------------------------------------------------------- refusals

TEST(ZmqWire, RefusesWhatIsNotACommand) {
  EXPECT_NE(request_error("").find("command name"), std::string::npos);
  EXPECT_NE(request_error("\xc1garbage").find("command name"), std::string::npos);
  EXPECT_NE(request_error("\x80").find("command name"), std::string::npos);  // a map
  EXPECT_NE(request_error("\x90").find("command name"), std::string::npos);  // []
  EXPECT_NE(request_error("\x91\x01").find("command name"), std::string::npos);
  EXPECT_NE(request_error("\x91\xa4nope").find("unknown command \"nope\""), std::string::npos);
  // The error can answer the request's own req, and quotes the name as valid UTF-8.
  Control unknown;
  const absl::Status named = parse_request("\x92\xa3\xff\xe2\x9c\x07", unknown);
  EXPECT_TRUE(unknown.has_req);
  EXPECT_EQ(unknown.req, 7u);
  EXPECT_NE(std::string(named.message()).find("unknown command \"\\xff\\xe2\\x9c\""),
            std::string::npos)
      << named;
  // Each side accepts only what the other sends.
  EXPECT_NE(request_error(encode_ok(1)).find("unknown command \"ok\""), std::string::npos);
  EXPECT_NE(reply_error(encode_leave(1, "r", true)).find("unknown command \"leave\""),
            std::string::npos);
}

TEST(ZmqWire, RefusesWrongTypesAndMissingFields) {
  EXPECT_NE(request_error("\x92\xa4join\x01").find("join is"), std::string::npos);
  EXPECT_NE(request_error("\x94\xa4join\xa1x\xa1r\xc3").find("join is"), std::string::npos);
  EXPECT_NE(request_error("\x94\xa4join\x01\x02\xc3").find("channel must be a str"),
            std::string::npos);
  EXPECT_NE(request_error("\x94\xa5leave\x01\xa1r\x01").find("echo must be a bool"),
            std::string::npos);
  EXPECT_NE(request_error("\x94\xa4join\x01\xa0\xc3").find("channel"), std::string::npos);
  EXPECT_NE(request_error("\x94\xa4join\x01\xa1\xff\xc3").find("UTF-8"), std::string::npos);
  EXPECT_NE(request_error("\x94\xa7profile\x01\xc0\x01").find("echo must be a bool"),
            std::string::npos);
  EXPECT_NE(request_error("\x92\xa7members\x01").find("members is"), std::string::npos);
  EXPECT_NE(request_error("\x91\xa5stats").find("stats is"), std::string::npos);
  EXPECT_NE(request_error("\x92\xa4ping\x01").find("ping is"), std::string::npos);
  EXPECT_NE(reply_error("\x92\xa2ok\xa1x").find("ok is"), std::string::npos);
  EXPECT_NE(reply_error("\x93\xa5"
                        "error\x01\x02")
                .find("error is"),
            std::string::npos);
  EXPECT_NE(reply_error("\x94\xa5"
                        "error\x01\xa1x\xa1y")
                .find("code must be a uint"),
            std::string::npos);
  EXPECT_NE(reply_error(std::string_view("\x94\xa5"
                                         "error\x01\xa1x\x00",
                                         11))
                .find("code 0"),
            std::string::npos);
  EXPECT_NE(reply_error("\x93\xa7welcome\x02\x02").find("welcome is"), std::string::npos);
  EXPECT_NE(reply_error("\x93\xa7members\x01\x05").size(), 0u);
  EXPECT_NE(reply_error("\x93\xa5stats\x01\xa1x").find("stats"), std::string::npos);
  EXPECT_NE(reply_error("\x93\xa5stats\x01\x81\xa1x\xa1y").find("counter"), std::string::npos);
  absl::StatusOr<std::vector<Member>> members = decode_members(
      "\x91\x91\xa1"
      "a");
  EXPECT_EQ(members.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(members.status().message().find("[socket_id, profile]"), std::string::npos);
}

TEST(ZmqWire, HelloChecksItsVersionFirst) {
  Control c;
  absl::Status s = parse_request("\x95\xa5hello\x01\x01\x02\x03", c);
  EXPECT_TRUE(c.has_version);
  EXPECT_EQ(c.version, 1u);
  EXPECT_NE(s.message().find("protocol version 1 is not supported (2 is)"), std::string::npos) << s;
  EXPECT_NE(request_error("\x92\xa5hello\xa1x").find("version must be a uint"), std::string::npos);
  EXPECT_NE(request_error("\x93\xa5hello\x02\xa1x").find("hello is"), std::string::npos);
  EXPECT_NE(request_error("\x95\xa5hello\x02\xa1x\xa1y\x91\x01").find("each channel"),
            std::string::npos);
  EXPECT_NE(request_error("\x95\xa5hello\x02\x01\xa1y\x90").find("socket_id must be a str"),
            std::string::npos);
}

// Every cut of each message is refused, and so is anything after it.
void expect_whole_messages_only(const std::vector<std::string>& messages,
                                absl::Status (*parse)(std::string_view, Control&)) {
  for (const std::string& m : messages) {
    Control c;
    for (std::size_t cut = 0; cut < m.size(); ++cut) {
      EXPECT_FALSE(parse(std::string_view(m).substr(0, cut), c).ok())
          << "cut at " << cut << " of " << m.size();
    }
    absl::Status trailing = parse(m + "\xc0", c);
    EXPECT_NE(trailing.message().find("trailing bytes"), std::string::npos) << trailing;
  }
}

TEST(ZmqWire, RefusesTruncatedInputAndTrailingBytes) {
  const std::vector<std::string> messages = {
      encode_hello("s", "0123456789abcdef", std::vector<std::string_view>{"room"}),
      encode_join(1, "room", true, bytes_of(Message::of(std::vector<int>{1, 2, 3}))),
      encode_leave(2, "room", false),
      encode_profile(3, bytes_of(Message::of(7)), false),
      encode_members_request(4, "room"),
      encode_stats_request(5),
      encode_signal(Command::ping),
      encode_signal(Command::bye),
  };
  expect_whole_messages_only(messages, parse_request);
  const std::vector<std::string> replies = {
      encode_welcome({1, 2, 3, 4}),
      encode_refused(absl::AlreadyExistsError("in use")),
      encode_ok(1),
      encode_error(2, absl::ResourceExhaustedError("full")),
      encode_unknown_session(3),
      encode_members_reply(4, std::vector<MemberEntry>{{"a", "\x01"}}),
      encode_stats_reply(5, {1, 2, 3, 4}),
      encode_signal(Command::pong),
  };
  expect_whole_messages_only(replies, parse_reply);
}

TEST(ZmqWire, DeeplyNestedProfilesAreRefusedNotRecursedInto) {
  std::string profile(100'000, '\x91');  // [[[[...
  profile.push_back('\xc0');
  std::string join = encode_join(1, "room", true, "\xc0");
  join.replace(join.size() - 1, 1, profile);
  EXPECT_NE(request_error(join).find("profile must be one msgpack value"), std::string::npos);
}

}  // namespace
}  // namespace herald::zmq_wire
