// Inbox: the bound, the three overflow policies, producer waits, batches and
// close.
#include "herald/internal/inbox.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

namespace herald::internal {
namespace {

EnvelopePtr numbered(int n) {
  return Envelope::make(EnvelopeKind::message, "room", "chat", "me", Message::of(n), true);
}

std::vector<int> take(Inbox& inbox) {
  std::vector<EnvelopePtr> batch;
  inbox.take_all(batch);
  std::vector<int> out;
  for (const auto& e : batch) out.push_back(e->body().as<int>());
  return out;
}

TEST(Inbox, ABatchTakesEverythingInOrderAndTracksDepth) {
  Inbox inbox(8, Overflow::block);
  for (int i = 0; i < 5; ++i)
    EXPECT_EQ(inbox.push(numbered(i), Inbox::Wait::never), Inbox::Admitted::queued);
  EXPECT_EQ(inbox.depth(), 5u);
  EXPECT_FALSE(inbox.empty());
  EXPECT_EQ(take(inbox), (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_TRUE(inbox.empty());
  EXPECT_EQ(inbox.high_water(), 5u);
}

TEST(Inbox, DropNewestRefusesTheArrivingOne) {
  Inbox inbox(2, Overflow::drop_newest);
  inbox.push(numbered(0), Inbox::Wait::unbounded);
  inbox.push(numbered(1), Inbox::Wait::unbounded);
  EXPECT_EQ(inbox.push(numbered(2), Inbox::Wait::unbounded), Inbox::Admitted::dropped_newest);
  EXPECT_EQ(take(inbox), (std::vector<int>{0, 1}));
}

TEST(Inbox, DropOldestMakesRoomForTheArrivingOne) {
  Inbox inbox(2, Overflow::drop_oldest);
  for (int i = 0; i < 2; ++i) inbox.push(numbered(i), Inbox::Wait::unbounded);
  for (int i = 2; i < 7; ++i) {
    EXPECT_EQ(inbox.push(numbered(i), Inbox::Wait::unbounded), Inbox::Admitted::dropped_oldest);
  }
  EXPECT_EQ(take(inbox), (std::vector<int>{5, 6}));
  EXPECT_EQ(inbox.depth(), 0u);
}

TEST(Inbox, BlockNeverWaitsWhenTheProducerMustNot) {
  Inbox inbox(1, Overflow::block);
  inbox.push(numbered(0), Inbox::Wait::never);
  EXPECT_EQ(inbox.push(numbered(1), Inbox::Wait::never), Inbox::Admitted::overfilled);
  EXPECT_EQ(inbox.sender_waits(), 0u);
  EXPECT_EQ(take(inbox), (std::vector<int>{0, 1}));  // overfilled is admitted, not lost
}

TEST(Inbox, ABoundedWaitEndsOverfilledWhenNobodyConsumes) {
  Inbox inbox(1, Overflow::block);
  inbox.push(numbered(0), Inbox::Wait::bounded);
  EXPECT_EQ(inbox.push(numbered(1), Inbox::Wait::bounded), Inbox::Admitted::overfilled);
  EXPECT_EQ(inbox.sender_waits(), 1u);
  EXPECT_EQ(inbox.depth(), 2u);
}

TEST(Inbox, AnUnboundedWaitEndsWhenTheConsumerMakesRoom) {
  Inbox inbox(1, Overflow::block);
  inbox.push(numbered(0), Inbox::Wait::unbounded);
  std::atomic<bool> admitted{false};
  std::thread producer([&] {
    EXPECT_EQ(inbox.push(numbered(1), Inbox::Wait::unbounded), Inbox::Admitted::queued);
    admitted = true;
  });
  while (inbox.sender_waits() == 0) std::this_thread::yield();
  EXPECT_FALSE(admitted.load());  // still waiting for room
  std::vector<int> all = take(inbox);
  producer.join();
  EXPECT_TRUE(admitted.load());
  std::vector<int> rest = take(inbox);
  all.insert(all.end(), rest.begin(), rest.end());
  EXPECT_EQ(all, (std::vector<int>{0, 1}));
}

TEST(Inbox, CloseWakesWaitersDropsWhatWaitsAndRefusesUntilReopened) {
  Inbox inbox(1, Overflow::block);
  inbox.push(numbered(0), Inbox::Wait::unbounded);
  std::thread producer(
      [&] { EXPECT_EQ(inbox.push(numbered(1), Inbox::Wait::unbounded), Inbox::Admitted::closed); });
  while (inbox.sender_waits() == 0) std::this_thread::yield();
  EXPECT_EQ(inbox.close(), 1u);
  producer.join();
  EXPECT_EQ(inbox.push(numbered(2), Inbox::Wait::never), Inbox::Admitted::closed);
  inbox.reopen();
  EXPECT_EQ(inbox.push(numbered(3), Inbox::Wait::never), Inbox::Admitted::queued);
  EXPECT_EQ(take(inbox), std::vector<int>{3});
}

TEST(Inbox, WaitUntilReadyReturnsWhenSomethingArrivesOrAtTheDeadline) {
  Inbox inbox(4, Overflow::block);
  EXPECT_FALSE(
      inbox.wait_until_ready(std::chrono::steady_clock::now() + std::chrono::milliseconds(5)));
  std::thread producer([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    inbox.push(numbered(1), Inbox::Wait::never);
  });
  EXPECT_TRUE(inbox.wait_until_ready(std::chrono::steady_clock::now() + std::chrono::seconds(30)));
  producer.join();
  EXPECT_EQ(take(inbox), std::vector<int>{1});
}

}  // namespace
}  // namespace herald::internal
