// Router: channel membership, who an envelope reaches, snapshots and the
// route cache (a membership change is seen by the next route on every thread).
#include "herald/internal/router.hpp"

#include <gtest/gtest.h>

#include <thread>

#include "fake_receiver.hpp"

namespace herald::internal {
namespace {

using testing::fake;
using testing::FakeReceiver;

EnvelopePtr message(std::string_view channel, std::string_view sender, bool echo = true) {
  return Envelope::make(EnvelopeKind::message, channel, "chat", sender, Message::of(1), echo);
}
EnvelopePtr broadcast(std::string_view sender, bool echo = true) {
  return Envelope::make(EnvelopeKind::broadcast, {}, "news", sender, Message::of(1), echo);
}

TEST(Router, AttachRefusesASecondReceiverWithTheSameId) {
  Router router;
  EXPECT_TRUE(router.attach(fake("a")));
  EXPECT_FALSE(router.attach(fake("a")));
  EXPECT_TRUE(router.attach(fake("b")));
  EXPECT_EQ(router.connection_count(), 2u);
}

TEST(Router, AReplacementTakesTheOldReceiversPlaceInEveryChannel) {
  Router router;
  auto old = fake("a"), other = fake("b"), replacement = fake("a");
  ASSERT_TRUE(router.attach(old));
  ASSERT_TRUE(router.attach(other));
  ASSERT_TRUE(router.join(*old, "room"));
  ASSERT_TRUE(router.join(*old, "lab"));
  ASSERT_TRUE(router.join(*other, "room"));
  router.route(message("room", "b"));  // cached: the replacement must be seen anyway
  EXPECT_FALSE(router.replace(*other, fake("not-b")));  // another id
  ASSERT_TRUE(router.replace(*old, replacement));
  EXPECT_FALSE(router.replace(*old, replacement));  // no longer attached
  EXPECT_EQ(router.channels_of(*replacement), (std::vector<std::string>{"lab", "room"}));
  EXPECT_TRUE(router.channels_of(*old).empty());
  EXPECT_EQ(router.connection_count(), 2u);
  router.route(message("room", "b"));
  router.route(message("lab", "b"));
  router.route(broadcast("b"));
  EXPECT_EQ(old->count(), 1u);
  EXPECT_EQ(replacement->log(),
            (std::vector<std::string>{"chat@room from b", "chat@lab from b", "news@* from b"}));
  EXPECT_FALSE(router.join(*replacement, "room"));  // already a member
  EXPECT_FALSE(router.attach(fake("a")));           // the id is still taken
}

TEST(Router, JoinIsIdempotentAndChannelsAreSorted) {
  Router router;
  auto a = fake("a");
  ASSERT_TRUE(router.attach(a));
  EXPECT_TRUE(router.join(*a, "zeta"));
  EXPECT_FALSE(router.join(*a, "zeta"));
  EXPECT_TRUE(router.join(*a, "alpha"));
  EXPECT_EQ(router.channels(), (std::vector<std::string>{"alpha", "zeta"}));
  EXPECT_EQ(router.channels_of(*a), (std::vector<std::string>{"alpha", "zeta"}));
  ASSERT_TRUE(router.members("zeta"));
  EXPECT_EQ(router.members("zeta")->size(), 1u);
  EXPECT_FALSE(router.members("nowhere"));
}

TEST(Router, AMessageReachesTheChannelsMembersOnlyAndTheEchoRuleHolds) {
  Router router;
  auto a = fake("a"), b = fake("b"), c = fake("c");
  for (auto& r : {a, b, c}) ASSERT_TRUE(router.attach(r));
  ASSERT_TRUE(router.join(*a, "room"));
  ASSERT_TRUE(router.join(*b, "room"));
  ASSERT_TRUE(router.join(*c, "other"));

  router.route(message("room", "a", /*echo=*/true));
  router.route(message("room", "a", /*echo=*/false));
  EXPECT_EQ(a->count(), 1u);  // its own message comes back only with echo
  EXPECT_EQ(b->count(), 2u);
  EXPECT_EQ(c->count(), 0u);  // not a member
}

TEST(Router, ABroadcastReachesEveryAttachedReceiverJoinedOrNot) {
  Router router;
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(router.attach(a));
  ASSERT_TRUE(router.attach(b));
  router.route(broadcast("a", /*echo=*/false));
  EXPECT_EQ(a->count(), 0u);
  EXPECT_EQ(b->count(), 1u);
  router.route(broadcast("a", /*echo=*/true));
  EXPECT_EQ(a->count(), 1u);
}

TEST(Router, LeaveReturnsTheMembersBeforeItAndStopsDelivery) {
  Router router;
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(router.attach(a));
  ASSERT_TRUE(router.attach(b));
  ASSERT_TRUE(router.join(*a, "room"));
  ASSERT_TRUE(router.join(*b, "room"));
  router.route(message("room", "b"));  // warms this thread's route cache
  Router::Snapshot before = router.leave(*a, "room");
  ASSERT_TRUE(before);
  EXPECT_EQ(before->size(), 2u);           // the leaver included
  EXPECT_FALSE(router.leave(*a, "room"));  // not a member any more
  router.route(message("room", "b"));      // the cached snapshot is not used
  EXPECT_EQ(a->count(), 1u);
  EXPECT_EQ(b->count(), 2u);
}

TEST(Router, DetachReturnsItsChannelsAndForgetsTheEmptyOnes) {
  Router router;
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(router.attach(a));
  ASSERT_TRUE(router.attach(b));
  ASSERT_TRUE(router.join(*a, "x"));
  ASSERT_TRUE(router.join(*a, "y"));
  ASSERT_TRUE(router.join(*b, "y"));
  std::vector<std::string> left = router.detach(*a);
  std::sort(left.begin(), left.end());
  EXPECT_EQ(left, (std::vector<std::string>{"x", "y"}));
  EXPECT_EQ(router.channels(), std::vector<std::string>{"y"});
  EXPECT_EQ(router.connection_count(), 1u);
  router.route(broadcast("b"));
  EXPECT_EQ(a->count(), 0u);
  EXPECT_TRUE(router.attach(fake("a")));  // the id is free again
}

TEST(Router, RouteToChannelUsesTheGivenChannel) {
  Router router;
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(router.attach(a));
  ASSERT_TRUE(router.attach(b));
  ASSERT_TRUE(router.join(*b, "room"));
  auto presence =
      Envelope::make(EnvelopeKind::join, "room", "channel:join", "a", Message::of(0), false);
  router.route_to_channel(presence, "room");
  EXPECT_EQ(b->log(), std::vector<std::string>{"channel:join@room from a"});
  EXPECT_EQ(a->count(), 0u);
}

TEST(Router, AReceiverMayJoinAndLeaveFromInsideADelivery) {
  Router router;
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(router.attach(a));
  ASSERT_TRUE(router.attach(b));
  ASSERT_TRUE(router.join(*a, "room"));
  a->on_deliver([&](const EnvelopePtr& e) {
    if (e->event() == "chat") {
      EXPECT_TRUE(router.join(*b, "room"));  // no deadlock: delivery is outside the lock
      EXPECT_TRUE(router.leave(*a, "room"));
    }
  });
  router.route(message("room", "b"));  // goes to the snapshot taken before: a only
  EXPECT_EQ(a->count(), 1u);
  EXPECT_EQ(b->count(), 0u);
  router.route(message("room", "a"));  // now b only
  EXPECT_EQ(a->count(), 1u);
  EXPECT_EQ(b->count(), 1u);
}

TEST(Router, AJoinOnOneThreadIsSeenByTheNextRouteOnAnother) {
  Router router;
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(router.attach(a));
  ASSERT_TRUE(router.attach(b));
  ASSERT_TRUE(router.join(*a, "room"));
  std::thread([&] { router.route(message("room", "x")); }).join();  // caches on that thread
  ASSERT_TRUE(router.join(*b, "room"));
  std::thread([&] { router.route(message("room", "x")); }).join();
  router.route(message("room", "x"));
  EXPECT_EQ(a->count(), 3u);
  EXPECT_EQ(b->count(), 2u);
}

}  // namespace
}  // namespace herald::internal
