// OfflineBuffer: the buffering policy while disconnected.
#include "herald/internal/offline_buffer.hpp"

#include <gtest/gtest.h>

namespace herald::internal {
namespace {

EnvelopePtr numbered(int n) {
  return Envelope::make(EnvelopeKind::message, "room", "chat", "me", Message::of(n), true);
}

TEST(OfflineBuffer, KeepsUpToItsBoundInOrderThenSaysWhy) {
  OfflineBuffer buffer(/*enabled=*/true, /*capacity=*/3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(buffer.push(numbered(i), "chat").ok());
  EXPECT_EQ(buffer.size_now(), 3u);
  absl::Status full = buffer.push(numbered(3), "chat");
  EXPECT_EQ(full.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(std::string(full.message()).find("max_buffered_messages"), std::string::npos);
  for (int i = 0; i < 3; ++i) {
    EnvelopePtr e = buffer.pop();
    ASSERT_TRUE(e);
    EXPECT_EQ(e->body().as<int>(), i);
  }
  EXPECT_FALSE(buffer.pop());
  EXPECT_TRUE(buffer.empty());
  EXPECT_EQ(buffer.size_now(), 0u);
}

TEST(OfflineBuffer, DisabledKeepsNothing) {
  OfflineBuffer buffer(/*enabled=*/false, /*capacity=*/10);
  absl::Status s = buffer.push(numbered(1), "chat");
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
  EXPECT_NE(std::string(s.message()).find("buffer_messages"), std::string::npos);
  EXPECT_TRUE(buffer.empty());
}

TEST(OfflineBuffer, ClearSaysHowManyWereDropped) {
  OfflineBuffer buffer(true, 10);
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(buffer.push(numbered(i), "chat").ok());
  EXPECT_EQ(buffer.clear(), 4u);
  EXPECT_EQ(buffer.size_now(), 0u);
  EXPECT_TRUE(buffer.push(numbered(9), "chat").ok());  // usable again
}

}  // namespace
}  // namespace herald::internal
