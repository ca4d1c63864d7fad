// WriteQueue (transports/websocket/src/hub/write_queue.hpp): what waits for
// one hub client — the slow-consumer bound, one writer, coalescing in order.
#include <gtest/gtest.h>

#include <string>

#include "../../transports/websocket/src/hub/write_queue.hpp"
#include "../../transports/websocket/src/wire.hpp"
#include "herald/herald.hpp"

namespace herald::ws_hub {
namespace {

Outgoing control(std::string bytes) { return Outgoing{{}, std::move(bytes)}; }

TEST(WsWriteQueue, PastTheFrameBoundTheQueueIsCutAndTakesNothingMore) {
  WriteQueue queue({.max_frames = 2, .max_bytes = 1000});
  EXPECT_EQ(queue.push(control("a"), 1).depth, 1u);
  EXPECT_EQ(queue.push(control("b"), 1).depth, 2u);
  const WriteQueue::Pushed over = queue.push(control("c"), 1);
  EXPECT_EQ(over.cut, 3u);  // the two waiting and the new one
  EXPECT_FALSE(queue.has_more());
  const WriteQueue::Pushed after = queue.push(control("d"), 1);
  EXPECT_EQ(after.cut, 0u);
  EXPECT_EQ(after.depth, 0u);
  EXPECT_FALSE(queue.has_more());
}

TEST(WsWriteQueue, PastTheByteBoundTheQueueIsCut) {
  WriteQueue queue({.max_frames = 100, .max_bytes = 10});
  EXPECT_EQ(queue.push(control("a"), 6).cut, 0u);
  EXPECT_EQ(queue.push(control("b"), 5).cut, 2u);
}

TEST(WsWriteQueue, AForcedPushPassesTheBound) {
  WriteQueue queue({.max_frames = 1, .max_bytes = 10});
  queue.push(control("a"), 10);
  EXPECT_EQ(queue.push(control("why"), 3, /*force=*/true).cut, 0u);
  std::string out;
  queue.open();
  EXPECT_EQ(queue.take_message(out, 1000), 2u);
  EXPECT_EQ(out, "awhy");
}

TEST(WsWriteQueue, OneWriterAtATimeOnceOpen) {
  WriteQueue queue({.max_frames = 10, .max_bytes = 100});
  EXPECT_FALSE(queue.push(control("a"), 1).start_writer);  // before hello: nobody writes
  EXPECT_TRUE(queue.open());                               // the caller writes
  EXPECT_FALSE(queue.push(control("b"), 1).start_writer);  // a write is in flight
  std::string out;
  EXPECT_EQ(queue.take_message(out, 100), 2u);
  EXPECT_EQ(queue.take_message(out, 100), 0u);  // nothing waits: the writer is idle
  EXPECT_TRUE(queue.push(control("c"), 1).start_writer);
}

TEST(WsWriteQueue, WhatWaitsIsCoalescedInOrderWithinTheLimit) {
  WriteQueue queue({.max_frames = 10, .max_bytes = 100});
  auto envelope = internal::Envelope::make(internal::EnvelopeKind::message, "room", "chat", "me",
                                           Message::of(1), false);
  std::string message_frame;
  ws_wire::append_message(message_frame, *envelope);
  queue.push_uncounted(control("W"));
  queue.push(Outgoing{envelope, {}}, 20);
  queue.push(control("xx"), 2);
  queue.push(control(std::string(50, 'y')), 50);
  queue.open();
  std::string out;
  // The frame that crosses the limit, and the rest, wait for the next message.
  EXPECT_EQ(queue.take_message(out, 1 + message_frame.size() + 2 + 10), 3u);
  EXPECT_EQ(out, "W" + message_frame + "xx");
  EXPECT_TRUE(queue.has_more());
  // At least one frame per message, even over the limit.
  EXPECT_EQ(queue.take_message(out, 10), 1u);
  EXPECT_EQ(out, std::string(50, 'y'));
  EXPECT_FALSE(queue.has_more());
}

TEST(WsWriteQueue, ClosingLetsWhatWaitsGoOutAndTakesNothingMore) {
  WriteQueue queue({.max_frames = 10, .max_bytes = 100});
  queue.push(control("a"), 1);
  EXPECT_TRUE(queue.close());  // idle: the caller writes what is left
  queue.push(control("b"), 1);
  std::string out;
  EXPECT_EQ(queue.take_message(out, 100), 1u);
  EXPECT_EQ(out, "a");
}

TEST(WsWriteQueue, DiscardCountsTheMessagesDropped) {
  WriteQueue queue({.max_frames = 10, .max_bytes = 100});
  auto envelope = internal::Envelope::make(internal::EnvelopeKind::broadcast, "", "alert", "me",
                                           Message::of(2), true);
  queue.push(Outgoing{envelope, {}}, 10);
  queue.push(control("error"), 5);
  queue.push(Outgoing{envelope, {}}, 10);
  EXPECT_EQ(queue.discard(), 2u);
  EXPECT_FALSE(queue.has_more());
  EXPECT_EQ(queue.push(control("late"), 4).depth, 0u);
}

TEST(WsWriteQueue, PastTheHubWideBudgetTheQueueOverItsShareIsCut) {
  QueueBudget budget;
  budget.max_bytes = 100;
  WriteQueue big({.max_frames = 100, .max_bytes = 1000, .budget = &budget});
  WriteQueue small({.max_frames = 100, .max_bytes = 1000, .budget = &budget});
  big.open();
  small.open();
  EXPECT_EQ(budget.open_queues.load(), 2u);
  EXPECT_EQ(big.push(control("a"), 90).cut, 0u);  // over its share (50), but within the budget
  EXPECT_EQ(small.push(control("b"), 10).cut, 0u);
  EXPECT_EQ(budget.bytes.load(), 100u);
  // Past the budget: the small one is within its share and gets its frame...
  EXPECT_EQ(small.push(control("c"), 10).cut, 0u);
  // ... the big one is over it and is cut.
  const WriteQueue::Pushed cut = big.push(control("d"), 1);
  EXPECT_EQ(cut.cut, 2u);
  EXPECT_TRUE(cut.over_budget);
  EXPECT_EQ(budget.bytes.load(), 20u);
  EXPECT_EQ(budget.open_queues.load(), 1u);
  std::string out;
  EXPECT_EQ(small.take_message(out, 1000), 2u);
  EXPECT_EQ(budget.bytes.load(), 0u);
}

TEST(WsWriteQueue, AQueueGivesItsBytesBackToTheBudget) {
  QueueBudget budget;
  {
    WriteQueue queue({.max_frames = 100, .max_bytes = 1000, .budget = &budget});
    queue.open();
    queue.push(control("a"), 30);
    queue.push(control("b"), 40);
    std::string out;
    EXPECT_EQ(queue.take_message(out, 1), 1u);  // one frame out, one back in the queue
    EXPECT_EQ(budget.bytes.load(), 40u);
  }
  EXPECT_EQ(budget.bytes.load(), 0u);
  EXPECT_EQ(budget.open_queues.load(), 0u);
}

}  // namespace
}  // namespace herald::ws_hub
