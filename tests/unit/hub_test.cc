// Hub and its transport half (HubAccess): sessions at attach, presence
// events on join / leave / profile / detach, members, routing.
#include "herald/hub.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>

#include "fake_receiver.hpp"
#include "herald/internal/hub_access.hpp"
#include "test_support.hpp"

namespace herald::internal {
namespace {

using testing::fake;
using testing::unique_name;

// Records the end of its session (HubOptions::session_check_interval).
class EndedReceiver : public testing::FakeReceiver {
 public:
  using FakeReceiver::FakeReceiver;
  void session_ended(const absl::Status& why) override {
    std::lock_guard lock(mu_);
    why_ = why;
    ended_ = true;
  }
  bool ended() const {
    std::lock_guard lock(mu_);
    return ended_;
  }
  absl::Status why() const {
    std::lock_guard lock(mu_);
    return why_;
  }

 private:
  mutable std::mutex mu_;
  bool ended_ = false;
  absl::Status why_;
};

std::shared_ptr<Hub> new_hub(HubOptions options = {}) {
  auto hub = Hub::create(unique_name("hub-test"), std::move(options));
  EXPECT_TRUE(hub.ok()) << hub.status();
  return *hub;
}

TEST(Hub, AnEnforcingHubAdmitsOnlyVerifiedSessions) {
  auto hub = new_hub(
      {.enforce_session = true, .verify_session = [](std::string_view t) { return t == "jedi"; }});
  absl::Status none = HubAccess::attach(*hub, fake("a"), "");
  EXPECT_EQ(none.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(none.message()).find("none was given"), std::string::npos);
  EXPECT_EQ(HubAccess::attach(*hub, fake("a"), "sith").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(HubAccess::attach(*hub, fake("a"), "jedi").ok());
  EXPECT_EQ(HubAccess::attach(*hub, fake("a"), "jedi").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(hub->connection_count(), 1u);
}

TEST(Hub, JoinAndLeaveTellTheOtherMembersAndTheJoinerOnlyWithEcho) {
  auto hub = new_hub();
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(HubAccess::attach(*hub, a, "").ok());
  ASSERT_TRUE(HubAccess::attach(*hub, b, "").ok());
  ASSERT_TRUE(HubAccess::join(*hub, *a, "room", /*echo=*/false).ok());
  ASSERT_TRUE(HubAccess::join(*hub, *b, "room", /*echo=*/true).ok());
  ASSERT_TRUE(HubAccess::join(*hub, *b, "room", /*echo=*/true).ok());  // again: no event
  EXPECT_EQ(a->log(), std::vector<std::string>{"channel:join@room from b"});
  EXPECT_EQ(b->log(), std::vector<std::string>{"channel:join@room from b"});
  ASSERT_TRUE(HubAccess::leave(*hub, *b, "room", /*echo=*/true).ok());
  EXPECT_EQ(a->log().back(), "channel:leave@room from b");
  EXPECT_EQ(b->log().back(), "channel:leave@room from b");  // the leaver hears it with echo
  EXPECT_EQ(hub->members("room").size(), 1u);
}

TEST(Hub, MembersCarryTheirProfilesAndUpdatesReachEveryChannel) {
  auto hub = new_hub();
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(HubAccess::attach(*hub, a, "").ok());
  ASSERT_TRUE(HubAccess::attach(*hub, b, "").ok());
  for (const char* channel : {"x", "y"}) {
    ASSERT_TRUE(HubAccess::join(*hub, *a, channel, false).ok());
    ASSERT_TRUE(HubAccess::join(*hub, *b, channel, false).ok());
  }
  a->set_profile(Message::of(std::string("Luke")));
  HubAccess::update_profile(*hub, *a, /*echo=*/false);
  std::vector<std::string> updates;
  for (const auto& line : b->log()) {
    if (line.rfind("channel:update", 0) == 0) updates.push_back(line);
  }
  EXPECT_EQ(updates,
            (std::vector<std::string>{"channel:update@x from a", "channel:update@y from a"}));
  std::vector<Member> members = hub->members("x");
  ASSERT_EQ(members.size(), 2u);
  for (const Member& m : members) {
    if (m.id == "a") {
      EXPECT_EQ(m.data.as<std::string>(), "Luke");
    }
  }
  EXPECT_TRUE(hub->members("nowhere").empty());
}

TEST(Hub, DetachSaysLeaveInEveryChannelAndFreesTheId) {
  auto hub = new_hub();
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(HubAccess::attach(*hub, a, "").ok());
  ASSERT_TRUE(HubAccess::attach(*hub, b, "").ok());
  ASSERT_TRUE(HubAccess::join(*hub, *a, "room", false).ok());
  ASSERT_TRUE(HubAccess::join(*hub, *b, "room", false).ok());
  HubAccess::detach(*hub, *a);
  EXPECT_EQ(b->log().back(), "channel:leave@room from a");
  EXPECT_EQ(hub->channels(), std::vector<std::string>{"room"});
  EXPECT_EQ(hub->connection_count(), 1u);
  EXPECT_TRUE(HubAccess::attach(*hub, fake("a"), "").ok());
}

TEST(Hub, RouteDeliversToMembersAndBroadcastsToAll) {
  auto hub = new_hub();
  auto a = fake("a"), b = fake("b");
  ASSERT_TRUE(HubAccess::attach(*hub, a, "").ok());
  ASSERT_TRUE(HubAccess::attach(*hub, b, "").ok());
  ASSERT_TRUE(HubAccess::join(*hub, *b, "room", false).ok());
  const std::size_t before = b->count();
  HubAccess::route(
      *hub, Envelope::make(EnvelopeKind::message, "room", "chat", "a", Message::of(1), false));
  HubAccess::route(*hub,
                   Envelope::make(EnvelopeKind::broadcast, {}, "news", "b", Message::of(2), false));
  EXPECT_EQ(b->count(), before + 1);
  EXPECT_EQ(a->log(), std::vector<std::string>{"news@* from b"});
}

TEST(Hub, CreateChecksItsOptionsAndNamedHubsAreShared) {
  EXPECT_EQ(Hub::create("a/b").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Hub::create(unique_name("x"), {.enforce_session = true}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Hub::create(unique_name("x"), {.max_message_bytes = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  const std::string name = unique_name("shared");
  EXPECT_EQ(Hub::named(name).get(), Hub::named(name).get());
  EXPECT_EQ(Hub::named(name)->options().max_message_bytes, limits::kDefaultMaxMessageBytes);
}

TEST(Hub, AnEnforcingHubDetachesAndTellsAReceiverWhoseSessionEnded) {
  // a's token is revoked (an expiry is the same to the Hub); b's stays valid.
  auto a_valid = std::make_shared<std::atomic<bool>>(true);
  auto hub = new_hub(
      {.enforce_session = true,
       .verify_session =
           [a_valid](std::string_view token) { return token != "token-a" || a_valid->load(); },
       .session_check_interval = std::chrono::milliseconds(10)});
  auto a = std::make_shared<EndedReceiver>("a");
  auto b = fake("b");
  ASSERT_TRUE(HubAccess::attach(*hub, a, "token-a").ok());
  ASSERT_TRUE(HubAccess::attach(*hub, b, "token-b").ok());
  ASSERT_TRUE(HubAccess::join(*hub, *a, "room", false).ok());
  ASSERT_TRUE(HubAccess::join(*hub, *b, "room", false).ok());
  a_valid->store(false);
  ASSERT_TRUE(testing::eventually([&] { return a->ended() && hub->connection_count() == 1; }));
  EXPECT_EQ(a->why().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(a->why().message()).find("no longer valid"), std::string::npos);
  ASSERT_FALSE(b->log().empty());
  EXPECT_EQ(b->log().back(), "channel:leave@room from a");
  const auto members = hub->members("room");
  ASSERT_EQ(members.size(), 1u);
  EXPECT_EQ(members[0].id, "b");
}

TEST(Hub, SessionCheckIntervalMustBePositive) {
  auto hub = Hub::create(unique_name("hub-test"),
                         {.enforce_session = true,
                          .verify_session = [](std::string_view) { return true; },
                          .session_check_interval = std::chrono::milliseconds(0)});
  EXPECT_EQ(hub.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace herald::internal
