#include "herald/network/backoff.hpp"

#include <gtest/gtest.h>

namespace herald::network {
namespace {

using std::chrono::milliseconds;

TEST(Backoff, DoublesPerAttemptUpToTheCapAndStartsOverAfterASuccess) {
  Backoff b(milliseconds(100));
  EXPECT_EQ(b.delay(), milliseconds(100));
  EXPECT_EQ(b.begin_attempt(), 1);
  EXPECT_EQ(b.delay(), milliseconds(200));
  EXPECT_EQ(b.begin_attempt(), 2);
  EXPECT_EQ(b.delay(), milliseconds(400));
  b.begin_attempt();
  b.begin_attempt();
  EXPECT_EQ(b.delay(), milliseconds(1600));
  b.begin_attempt();
  EXPECT_EQ(b.delay(), milliseconds(3200));
  for (int i = 0; i < 10; ++i) b.begin_attempt();
  EXPECT_EQ(b.delay(), milliseconds(3200));  // 2^5 doublings at most
  EXPECT_EQ(b.attempts(), 15);
  b.reset();
  EXPECT_EQ(b.attempts(), 0);
  EXPECT_EQ(b.delay(), milliseconds(100));
  EXPECT_EQ(b.begin_attempt(), 1);
}

TEST(Backoff, NeverWaitsLongerThanFiveSecondsUnlessTheBaseIsLonger) {
  Backoff small(milliseconds(1000));
  for (int i = 0; i < 8; ++i) small.begin_attempt();
  EXPECT_EQ(small.delay(), milliseconds(5000));
  Backoff large(milliseconds(8000));
  for (int i = 0; i < 8; ++i) large.begin_attempt();
  EXPECT_EQ(large.delay(), milliseconds(8000));
  Backoff zero(milliseconds(0));
  zero.begin_attempt();
  EXPECT_EQ(zero.delay(), milliseconds(0));
}

}  // namespace
}  // namespace herald::network
