// ListenerRegistry: registration order, once, any-listeners, errors, and
// changes made from inside a dispatch.
#include "herald/internal/listener_registry.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

namespace herald::internal {
namespace {

struct Dispatcher {
  ListenerRegistry registry;
  std::vector<absl::Status> errors;
  ListenerRegistry::ErrorSink sink = [this](const absl::Status& s) { errors.push_back(s); };
  Message body = Message::of(std::string("hi"));

  ListenerRegistry::DispatchCounts emit(std::string_view event) {
    Payload payload(std::string_view("room"), event, body, "sender");
    return registry.dispatch(payload, HashedName{event, hash_name(event)}, sink);
  }
};

TEST(ListenerRegistry, AnyListenersRunFirstThenTheEventsInRegistrationOrder) {
  Dispatcher d;
  std::vector<std::string> calls;
  d.registry.add(
      "chat", [&](const Payload&) { calls.push_back("chat-1"); }, false);
  d.registry.add_any([&](const Payload& p) { calls.push_back("any:" + std::string(p.event())); });
  d.registry.add(
      "chat",
      [&](const Payload& p) {
        EXPECT_EQ(p.message().as<std::string>(), "hi");
        EXPECT_EQ(p.channel(), std::optional<std::string_view>("room"));
        calls.push_back("chat-2");
      },
      false);
  d.registry.add(
      "other", [&](const Payload&) { calls.push_back("other"); }, false);
  auto counts = d.emit("chat");
  EXPECT_EQ(calls, (std::vector<std::string>{"any:chat", "chat-1", "chat-2"}));
  EXPECT_EQ(counts.calls, 3u);
  EXPECT_EQ(counts.errors, 0u);
}

TEST(ListenerRegistry, OnceRunsOnceAndIsThenGone) {
  Dispatcher d;
  int n = 0;
  ListenerId id = d.registry.add(
      "chat", [&](const Payload&) { ++n; }, /*once=*/true);
  EXPECT_EQ(d.registry.listeners("chat"), std::vector<ListenerId>{id});
  d.emit("chat");
  d.emit("chat");
  EXPECT_EQ(n, 1);
  EXPECT_TRUE(d.registry.listeners("chat").empty());
}

TEST(ListenerRegistry, RemovalByIdByEventAndAll) {
  Dispatcher d;
  int a = 0, b = 0, any = 0;
  ListenerId ia = d.registry.add(
      "x", [&](const Payload&) { ++a; }, false);
  ListenerId ib = d.registry.add(
      "y", [&](const Payload&) { ++b; }, false);
  ListenerId iany = d.registry.add_any([&](const Payload&) { ++any; });
  EXPECT_EQ(d.registry.all(), (std::vector<ListenerId>{ia, ib, iany}));
  d.registry.remove("x", ib);  // wrong event: nothing happens
  EXPECT_EQ(d.registry.listeners("y"), std::vector<ListenerId>{ib});
  d.registry.remove("x", ia);
  d.emit("x");
  EXPECT_EQ(a, 0);
  EXPECT_EQ(any, 1);
  d.registry.remove_event("y");
  d.emit("y");
  EXPECT_EQ(b, 0);
  d.registry.remove_any(iany);
  d.emit("y");
  EXPECT_EQ(any, 2);
  EXPECT_TRUE(d.registry.all().empty());
}

TEST(ListenerRegistry, AThrowingListenerIsReportedAndTheOthersStillRun) {
  Dispatcher d;
  int after = 0;
  d.registry.add(
      "chat", [](const Payload&) { throw std::runtime_error("boom"); }, false);
  d.registry.add(
      "chat", [&](const Payload&) { ++after; }, false);
  auto counts = d.emit("chat");
  EXPECT_EQ(after, 1);
  EXPECT_EQ(counts.errors, 1u);
  ASSERT_EQ(d.errors.size(), 1u);
  EXPECT_NE(std::string(d.errors[0].message()).find("boom"), std::string::npos)
      << d.errors[0].message();
}

TEST(ListenerRegistry, ChangesDuringADispatchApplyFromTheNextOne) {
  Dispatcher d;
  int first = 0, second = 0, added = 0;
  ListenerId second_id{};
  d.registry.add(
      "chat",
      [&](const Payload&) {
        ++first;
        d.registry.remove("chat", second_id);  // removed while the dispatch runs
        d.registry.add(
            "chat", [&](const Payload&) { ++added; }, false);
      },
      false);
  second_id = d.registry.add(
      "chat", [&](const Payload&) { ++second; }, false);
  d.emit("chat");
  EXPECT_EQ(first, 1);
  EXPECT_EQ(second, 0);  // a listener removed mid-dispatch is not called afterwards
  EXPECT_EQ(added, 0);   // one added mid-dispatch waits for the next
  d.emit("chat");
  EXPECT_EQ(added, 1);
}

TEST(ListenerRegistry, TheDispatchCacheSeesEveryChange) {
  Dispatcher d;
  int n = 0;
  d.emit("chat");  // caches "no listeners"
  ListenerId id = d.registry.add(
      "chat", [&](const Payload&) { ++n; }, false);
  d.emit("chat");
  EXPECT_EQ(n, 1);
  d.registry.remove("chat", id);
  d.emit("chat");
  EXPECT_EQ(n, 1);
  d.registry.add(
      "chat", [&](const Payload&) { ++n; }, false);
  d.registry.clear();
  d.emit("chat");
  EXPECT_EQ(n, 1);
}

}  // namespace
}  // namespace herald::internal
