// OutgoingBuffer (transports/websocket/src/client/outgoing_buffer.hpp): the
// ws:// client's frames not yet written — bound, coalescing, order, waiting
// senders, and the memory it gives back.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../transports/websocket/src/client/outgoing_buffer.hpp"
#include "../../transports/websocket/src/wire.hpp"
#include "herald/herald.hpp"
#include "herald/internal/envelope.hpp"

namespace herald::ws_transport {
namespace {

using namespace std::chrono_literals;

// A frame of `n` bytes, all `c` (the buffer does not look inside frames).
void append_frame(OutgoingBuffer& buffer, char c, std::size_t n) {
  buffer.append([&](std::string& out) { out.append(n, c); });
}

std::string publish_frame(std::string_view channel) {
  std::string out;
  ws_wire::append_publish(out, *internal::Envelope::make(internal::EnvelopeKind::message, channel,
                                                         "chat", "me", Message::of(1), false));
  return out;
}

std::string join_frame(std::uint64_t req) {
  std::string out;
  ws_wire::append_request(out, ws_wire::Op::join, req, "room", false);
  return out;
}

TEST(WsOutgoingBuffer, IsFullAtItsBoundAndOnlyThen) {
  OutgoingBuffer buffer(/*max_pending_bytes=*/100);
  EXPECT_FALSE(buffer.full());
  append_frame(buffer, 'a', 99);
  EXPECT_FALSE(buffer.full());
  append_frame(buffer, 'b', 1);
  EXPECT_TRUE(buffer.full());
  // Appending never waits: whoever may not wait (the I/O thread) goes past the bound.
  append_frame(buffer, 'c', 50);
  EXPECT_TRUE(buffer.full());
  std::string out;
  buffer.take_pending(out, /*message_limit=*/1000);
  EXPECT_EQ(out.size(), 150u);
  EXPECT_FALSE(buffer.full());
}

TEST(WsOutgoingBuffer, WhatWaitsGoesOutAsOneMessageInOrder) {
  OutgoingBuffer buffer;
  append_frame(buffer, 'a', 3);
  append_frame(buffer, 'b', 2);
  append_frame(buffer, 'c', 1);
  std::string out;
  EXPECT_FALSE(buffer.take_pending(out, 1000));  // nobody waited
  EXPECT_EQ(out, "aaabbc");
  EXPECT_TRUE(buffer.pending_empty());
  EXPECT_TRUE(buffer.backlog_empty());
}

TEST(WsOutgoingBuffer, MoreThanOneMessageIsWrittenInWholeFramesInOrder) {
  OutgoingBuffer buffer;
  append_frame(buffer, 'a', 4);
  append_frame(buffer, 'b', 4);
  append_frame(buffer, 'c', 12);  // over the limit: goes alone
  append_frame(buffer, 'd', 2);
  std::string out;
  buffer.take_pending(out, /*message_limit=*/10);
  EXPECT_TRUE(out.empty());
  EXPECT_FALSE(buffer.backlog_empty());
  // Senders go on meanwhile; what they add comes after the backlog.
  append_frame(buffer, 'e', 1);
  std::vector<std::string> messages;
  while (!buffer.backlog_empty()) {
    buffer.take_from_backlog(out, 10);
    messages.push_back(out);
  }
  EXPECT_EQ(messages, (std::vector<std::string>{"aaaabbbb", std::string(12, 'c'), "dd"}));
  buffer.take_pending(out, 10);
  EXPECT_EQ(out, "e");
}

TEST(WsOutgoingBuffer, AWaitingSenderIsReleasedByTheWriter) {
  std::mutex mu;
  OutgoingBuffer buffer(/*max_pending_bytes=*/10);
  append_frame(buffer, 'a', 10);
  std::atomic<bool> appended{false};
  std::thread sender([&] {
    std::unique_lock lock(mu);
    buffer.wait_for_room(lock, [] { return false; });
    append_frame(buffer, 'b', 1);
    appended = true;
  });
  // The writer takes what waits; it is told that a sender waits for the room.
  bool waiters = false;
  std::string out;
  while (!waiters) {
    std::this_thread::sleep_for(1ms);
    std::lock_guard lock(mu);
    if (!buffer.pending_empty()) waiters = buffer.take_pending(out, 100);
    if (!waiters) append_frame(buffer, 'a', 10);  // full again: the sender keeps waiting
  }
  buffer.release_waiters();
  sender.join();
  EXPECT_TRUE(appended);
  EXPECT_EQ(out.substr(0, 10), std::string(10, 'a'));
  std::lock_guard lock(mu);
  buffer.take_pending(out, 100);
  EXPECT_EQ(out.back(), 'b');
}

TEST(WsOutgoingBuffer, AWaitingSenderGivesUpWhenReleased) {
  std::mutex mu;
  OutgoingBuffer buffer(/*max_pending_bytes=*/10);
  append_frame(buffer, 'a', 10);
  bool closed = false;
  std::thread sender([&] {
    std::unique_lock lock(mu);
    buffer.wait_for_room(lock, [&] { return closed; });
  });
  {
    std::lock_guard lock(mu);
    closed = true;
  }
  buffer.release_waiters();
  sender.join();  // returns although the buffer is still full
  std::lock_guard lock(mu);
  EXPECT_TRUE(buffer.full());
}

TEST(WsOutgoingBuffer, AfterALossOnlyTheSendsStayInOrder) {
  OutgoingBuffer buffer;
  const std::string first = publish_frame("a"), second = publish_frame("b");
  buffer.append([&](std::string& out) { out += first; });
  buffer.append([&](std::string& out) { out += join_frame(1); });
  buffer.append([&](std::string& out) { out += second; });
  EXPECT_EQ(buffer.count(ws_wire::is_publish_frame), 2u);
  buffer.keep_only(ws_wire::is_publish_frame);
  std::string out;
  buffer.take_pending(out, 1u << 20);
  EXPECT_EQ(out, first + second);
}

TEST(WsOutgoingBuffer, TheBacklogsRestIsKeptAheadOfPending) {
  OutgoingBuffer buffer;
  const std::string a = publish_frame("a"), b = publish_frame("b"), c = publish_frame("c");
  buffer.append([&](std::string& out) { out += a; });
  buffer.append([&](std::string& out) { out += b; });
  std::string out;
  buffer.take_pending(out, a.size());  // two messages: into the backlog
  buffer.take_from_backlog(out, a.size());
  EXPECT_EQ(out, a);
  buffer.append([&](std::string& out) { out += c; });
  buffer.append([&](std::string& out) { out += join_frame(2); });
  EXPECT_EQ(buffer.count(ws_wire::is_publish_frame), 2u);  // b (backlog) and c
  buffer.keep_only(ws_wire::is_publish_frame);
  EXPECT_TRUE(buffer.backlog_empty());
  buffer.take_pending(out, 1u << 20);
  EXPECT_EQ(out, b + c);
}

TEST(WsOutgoingBuffer, ABurstsMemoryIsGivenBack) {
  std::string small(100, 'x');
  const std::size_t small_capacity = small.capacity();
  give_back(small);
  EXPECT_TRUE(small.empty());
  EXPECT_EQ(small.capacity(), small_capacity);  // kept for the next message

  std::string big(kKeepCapacity + 1, 'x');
  give_back(big);
  EXPECT_TRUE(big.empty());
  EXPECT_LT(big.capacity(), kKeepCapacity);

  OutgoingBuffer buffer;
  append_frame(buffer, 'a', kKeepCapacity);
  append_frame(buffer, 'b', kKeepCapacity);
  std::string out;
  buffer.take_pending(out, kKeepCapacity);
  EXPECT_GT(buffer.retained_bytes(), 2 * kKeepCapacity - 1);
  while (!buffer.backlog_empty()) buffer.take_from_backlog(out, kKeepCapacity);
  EXPECT_LT(buffer.retained_bytes(), kKeepCapacity);
}

TEST(WsOutgoingBuffer, ClearDropsEverythingNotWritten) {
  OutgoingBuffer buffer;
  append_frame(buffer, 'a', 8);
  append_frame(buffer, 'b', 8);
  std::string out;
  buffer.take_pending(out, 8);
  append_frame(buffer, 'c', 8);
  buffer.clear();
  EXPECT_TRUE(buffer.pending_empty());
  EXPECT_TRUE(buffer.backlog_empty());
  EXPECT_EQ(buffer.count([](std::string_view) { return true; }), 0u);
}

}  // namespace
}  // namespace herald::ws_transport
