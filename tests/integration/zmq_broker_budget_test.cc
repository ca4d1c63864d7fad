// The ZmqBroker's broker-wide budget (sessions, channels, memberships,
// profile bytes): past each limit the request is refused with
// kResourceExhausted naming it, counted in ZmqBrokerStats and in the stats
// command; what is already held keeps working. And the profile rules of
// docs/PROTOCOL.md: a join never replaces a session's profile, a profile too
// large for its presence event is refused.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "test_support.hpp"
#include "zmq_raw_peers.hpp"

namespace herald {
namespace {

using testing::Collector;
using testing::eventually;
using zmq_wire::Command;
using zmq_wire::Control;

bool mentions(const absl::Status& s, const std::string& text) {
  return std::string(s.message()).find(text) != std::string::npos;
}

TEST(ZmqBrokerBudget, ChannelsAndMembershipsPastTheBudgetAreRefusedAndCounted) {
  auto broker = start_broker({.max_channels = 3, .max_memberships = 4});
  auto a = connect(broker->url());
  auto b = connect(broker->url());
  for (const char* channel : {"one", "two", "three"}) ASSERT_TRUE(a->join(channel).ok());
  absl::Status past_channels = b->join("four");
  EXPECT_EQ(past_channels.code(), absl::StatusCode::kResourceExhausted) << past_channels;
  EXPECT_TRUE(mentions(past_channels, "max_channels")) << past_channels;
  ASSERT_TRUE(b->join("one").ok());  // an existing channel: a fourth membership
  absl::Status past_memberships = b->join("two");
  EXPECT_EQ(past_memberships.code(), absl::StatusCode::kResourceExhausted) << past_memberships;
  EXPECT_TRUE(mentions(past_memberships, "max_memberships")) << past_memberships;
  ASSERT_TRUE(a->join("one").ok());  // idempotent: never refused

  ZmqBrokerStats stats = broker->stats();
  EXPECT_EQ(stats.refused_channels, 1u);
  EXPECT_EQ(stats.refused_memberships, 1u);
  EXPECT_EQ(stats.channels, 3u);
  EXPECT_EQ(stats.memberships, 4u);
  // What is held keeps working, and leaving frees room.
  Collector seen;
  b->on("hi", seen.listener());
  ASSERT_TRUE(a->send("one", "hi", 1).ok());
  EXPECT_TRUE(seen.wait_for(1));
  ASSERT_TRUE(a->leave("three").ok());
  EXPECT_TRUE(b->join("four").ok());

  zmq::context_t ctx;
  RawControl peer(ctx, broker->port());
  ASSERT_TRUE(peer.hello("stats-reader-0123456"));
  std::optional<std::string> reply = peer.request(zmq_wire::encode_stats_request(4));
  ASSERT_TRUE(reply.has_value());
  Control c;
  ASSERT_TRUE(zmq_wire::parse_reply(*reply, c).ok());
  EXPECT_EQ(c.counts.refused_channels, 1u);
  EXPECT_EQ(c.counts.refused_memberships, 1u);
  EXPECT_EQ(c.counts.memberships, 4u);
}

TEST(ZmqBrokerBudget, AHelloPastMaxSessionsIsRefused) {
  auto broker = start_broker({.max_sessions = 2});
  auto a = connect(broker->url());
  auto b = connect(broker->url());
  Realtime c(broker->url());
  std::mutex mu;
  absl::Status error;
  c.on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    error = s;
  });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !error.ok();
  }));
  std::lock_guard lock(mu);
  EXPECT_EQ(error.code(), absl::StatusCode::kResourceExhausted) << error;
  EXPECT_TRUE(mentions(error, "max_sessions")) << error;
  EXPECT_FALSE(c.is_connected());
  EXPECT_GE(broker->stats().refused_sessions, 1u);
}

TEST(ZmqBrokerBudget, ProfilesPastTheBudgetOrTooLargeForTheirPresenceEventAreRefused) {
  auto broker = start_broker({.max_message_bytes = 4096, .max_profile_bytes = 6000});
  auto a = connect(broker->url());
  auto b = connect(broker->url());
  ASSERT_TRUE(a->join("room").ok());
  ASSERT_TRUE(b->join("room").ok());
  Collector updates;
  b->on_update(updates.listener());
  // Within the body limit, but its channel:update ({"id", "data"}) would not be.
  absl::Status too_large = a->update_profile(std::string(4080, 'x'));
  EXPECT_EQ(too_large.code(), absl::StatusCode::kResourceExhausted) << too_large;
  EXPECT_TRUE(mentions(too_large, "presence event")) << too_large;
  ASSERT_TRUE(a->update_profile(std::string(3000, 'x')).ok());
  ASSERT_TRUE(updates.wait_for(1));
  absl::Status over_budget = b->update_profile(std::string(3500, 'y'));
  EXPECT_EQ(over_budget.code(), absl::StatusCode::kResourceExhausted) << over_budget;
  EXPECT_TRUE(mentions(over_budget, "max_profile_bytes")) << over_budget;
  EXPECT_EQ(broker->stats().refused_profiles, 2u);
  // Replacing a profile counts only the difference.
  EXPECT_TRUE(a->update_profile(std::string(3100, 'z')).ok());
  EXPECT_EQ(b->stats().dropped_malformed, 0u);
}

TEST(ZmqBrokerBudget, AJoinNeverReplacesTheSessionsProfile) {
  auto broker = start_broker();
  zmq::context_t ctx;
  RawControl luke(ctx, broker->port());
  ASSERT_TRUE(luke.hello("luke-0123456789abcdef"));
  auto ok = [](const std::optional<std::string>& r) {
    Control c;
    return r && zmq_wire::parse_reply(*r, c).ok() && c.command == Command::ok;
  };
  ASSERT_TRUE(ok(luke.request(zmq_wire::encode_profile(1, "\xa4luke", false))));
  // A join carrying another profile (or nil) leaves it as it is.
  ASSERT_TRUE(ok(luke.request(zmq_wire::encode_join(2, "room", false, "\xa5vader"))));
  ASSERT_TRUE(ok(luke.request(zmq_wire::encode_join(3, "hall", false, "\xc0"))));
  // A fresh session without a profile takes its first join's (a client
  // restoring itself after a broker restart).
  RawControl leia(ctx, broker->port());
  ASSERT_TRUE(leia.hello("leia-0123456789abcdef"));
  ASSERT_TRUE(ok(leia.request(zmq_wire::encode_join(1, "room", false, "\xa4leia"))));
  ASSERT_TRUE(ok(leia.request(zmq_wire::encode_join(2, "hall", false, "\xa3han"))));

  auto observer = connect(broker->url());
  for (const char* channel : {"room", "hall"}) {
    absl::StatusOr<std::vector<Member>> members = observer->get_members(channel);
    ASSERT_TRUE(members.ok()) << members.status();
    ASSERT_EQ(members->size(), 2u);
    for (const Member& m : *members) {
      EXPECT_EQ(m.data.as<std::string>(), m.id.substr(0, 4)) << channel << " " << m.id;
    }
  }
}

TEST(ZmqBrokerBudget, TheHellosChannelListJoinsNothing) {
  // PROTOCOL.md: the list names what a takeover keeps; joining is join's.
  auto broker = start_broker();
  zmq::context_t ctx;
  RawControl peer(ctx, broker->port());
  const std::string_view channels[] = {"room"};
  ASSERT_TRUE(peer.hello("lister-0123456789abc", "0123456789abcdef-raw", channels));
  auto observer = connect(broker->url());
  absl::StatusOr<std::vector<Member>> members = observer->get_members("room");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_TRUE(members->empty());
  EXPECT_EQ(broker->stats().channels, 0u);
}

}  // namespace
}  // namespace herald
