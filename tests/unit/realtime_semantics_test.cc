// The rules of API.md "Semantics", each as its own test, run over every
// transport URL the suite is instantiated with. Tests never assume delivery is
// synchronous: they wait, and prove an absence by waiting for a later marker
// from the same sender (per-sender order makes that conclusive).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "herald/websocket/gateway.hpp"
#include "herald/zmq/broker.hpp"
#include "test_support.hpp"
#include "tls_certificates.hpp"

namespace herald {
namespace {

using testing::Collector;
using testing::eventually;
using testing::unique_name;

// Each test gets a routing domain of its own: a fresh mem:// hub, a fresh
// ZeroMQ broker on a free loopback port, or a WebSocket gateway on a free
// loopback port in front of a fresh hub (wss://: with a certificate made by
// the test, its CA trusted by every connection).
class Semantics : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    if (GetParam() == "zmq://") {
      broker_ = std::make_unique<ZmqBroker>(ZmqBrokerOptions{.endpoint = "tcp://127.0.0.1:0"});
      ASSERT_TRUE(broker_->start().ok());
      url_ = broker_->url();
    } else if (GetParam() == "ws://" || GetParam() == "wss://") {
      auto hub = Hub::create(unique_name("semantics-ws"));
      ASSERT_TRUE(hub.ok()) << hub.status();
      WsGatewayOptions options{.host = "127.0.0.1", .port = 0};
      if (GetParam() == "wss://") {
        options.tls_certificate_file = testing::tls_files().hub_combined;
        tls_ca_file_ = testing::tls_files().ca;
      }
      auto gateway = WsGateway::start(*hub, options);
      ASSERT_TRUE(gateway.ok()) << gateway.status();
      gateway_ = *std::move(gateway);
      url_ = gateway_->url();
    } else {
      url_ = GetParam() + unique_name("semantics");
    }
  }

  std::unique_ptr<Realtime> connect(Options options = {}) {
    if (options.tls_ca_file.empty()) options.tls_ca_file = tls_ca_file_;
    auto rt = std::make_unique<Realtime>(url_, options);
    EXPECT_TRUE(eventually([&] { return rt->is_connected(); })) << url_;
    return rt;
  }

  std::unique_ptr<ZmqBroker> broker_;
  std::unique_ptr<WsGateway> gateway_;
  std::string url_;
  std::string tls_ca_file_;
};

// ---------------------------------------------------------------- routing

TEST_P(Semantics, SendReachesEveryMemberAndNoOneElse) {
  auto sender = connect();
  auto a = connect();
  auto b = connect();
  auto outsider = connect();
  Collector ca, cb, co;
  a->on("chat", ca.listener());
  b->on("chat", cb.listener());
  outsider->on("chat", co.listener());
  outsider->on("marker", co.listener());
  ASSERT_TRUE(a->join("room").ok());
  ASSERT_TRUE(b->join("room").ok());
  ASSERT_TRUE(outsider->join("elsewhere").ok());

  ASSERT_TRUE(sender->send("room", "chat", std::string("hi")).ok());
  ASSERT_TRUE(sender->send("elsewhere", "marker", 0).ok());

  ASSERT_TRUE(ca.wait_for(1));
  ASSERT_TRUE(cb.wait_for(1));
  ASSERT_TRUE(co.wait_for_event("marker"));
  EXPECT_EQ(co.count("chat"), 0u);
  auto got = ca.all()[0];
  EXPECT_EQ(got.channel, "room");
  EXPECT_EQ(got.event, "chat");
  EXPECT_EQ(got.sender, sender->get_socket_id());
  EXPECT_EQ(got.message.as<std::string>(), "hi");
}

TEST_P(Semantics, ChannelNamesNeverMatchByPrefix) {
  auto sender = connect();
  auto rx = connect();
  Collector c;
  rx->on_any(c.listener());
  ASSERT_TRUE(rx->join("chatroom", /*echo=*/false).ok());
  ASSERT_TRUE(sender->send("chat", "x", 1).ok());
  ASSERT_TRUE(sender->send("chatroom", "marker", 2).ok());
  ASSERT_TRUE(c.wait_for_event("marker"));
  EXPECT_EQ(c.events(), std::vector<std::string>{"marker"});
}

TEST_P(Semantics, BroadcastReachesEveryConnectionWithoutChannel) {
  auto sender = connect();
  auto a = connect();
  auto b = connect();  // joined nothing
  Collector ca, cb;
  a->on("alert", ca.listener());
  b->on("alert", cb.listener());
  ASSERT_TRUE(a->join("room").ok());
  ASSERT_TRUE(sender->broadcast("alert", std::string("all hands")).ok());
  ASSERT_TRUE(ca.wait_for(1));
  ASSERT_TRUE(cb.wait_for(1));
  EXPECT_EQ(cb.all()[0].channel, std::nullopt);
  EXPECT_EQ(cb.all()[0].message.as<std::string>(), "all hands");
}

TEST_P(Semantics, PerSenderOrderIsKept) {
  auto sender = connect();
  auto rx = connect();
  Collector c;
  rx->on("n", c.listener());
  ASSERT_TRUE(rx->join("seq").ok());
  constexpr int kCount = 1000;
  for (int i = 0; i < kCount; ++i) ASSERT_TRUE(sender->send("seq", "n", i).ok());
  ASSERT_TRUE(c.wait_for(kCount));
  auto all = c.all();
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(all[i].message.as<int>(), i);
}

// ---------------------------------------------------------------- echo

TEST_P(Semantics, EchoOnByDefaultForMembers) {
  auto rt = connect();
  Collector c;
  rt->on("e", c.listener());
  ASSERT_TRUE(rt->join("room").ok());
  ASSERT_TRUE(rt->send("room", "e", 1).ok());
  ASSERT_TRUE(c.wait_for(1));
  EXPECT_EQ(c.all()[0].sender, rt->get_socket_id());
}

TEST_P(Semantics, EchoOffPerConnectionSkipsOnlyTheOrigin) {
  Options quiet;
  quiet.echo_messages = false;
  auto rt = connect(quiet);
  auto other = connect();
  Collector mine, theirs;
  rt->on("e", mine.listener());
  rt->on("marker", mine.listener());
  other->on("e", theirs.listener());
  ASSERT_TRUE(rt->join("room").ok());
  ASSERT_TRUE(other->join("room").ok());
  ASSERT_TRUE(rt->send("room", "e", 1).ok());
  ASSERT_TRUE(rt->broadcast("e", 2).ok());
  ASSERT_TRUE(rt->send("room", "marker", 3, /*echo=*/true).ok());
  ASSERT_TRUE(mine.wait_for_event("marker"));
  EXPECT_EQ(mine.count("e"), 0u);
  ASSERT_TRUE(theirs.wait_for(2));  // echo off never affects other receivers
}

TEST_P(Semantics, EchoPerCallOverridesTheOption) {
  auto rt = connect();  // echo on by default
  Collector c;
  rt->on_any(c.listener());
  ASSERT_TRUE(rt->join("room", /*echo=*/false).ok());
  ASSERT_TRUE(rt->send("room", "silent", 1, /*echo=*/false).ok());
  ASSERT_TRUE(rt->broadcast("silent", 2, /*echo=*/false).ok());
  ASSERT_TRUE(rt->send("room", "marker", 3).ok());
  ASSERT_TRUE(c.wait_for_event("marker"));
  EXPECT_EQ(c.events(), std::vector<std::string>{"marker"});

  Options quiet;
  quiet.echo_messages = false;
  auto q = connect(quiet);
  Collector cq;
  q->on("loud", cq.listener());
  ASSERT_TRUE(q->join("room").ok());
  ASSERT_TRUE(q->send("room", "loud", 4, /*echo=*/true).ok());
  ASSERT_TRUE(cq.wait_for(1));
}

TEST_P(Semantics, NonMemberSenderDoesNotReceiveItsSendEvenWithEcho) {
  auto rt = connect();
  auto member = connect();
  Collector mine, theirs;
  rt->on_any(mine.listener());
  member->on("e", theirs.listener());
  ASSERT_TRUE(member->join("room").ok());
  ASSERT_TRUE(rt->send("room", "e", 1, /*echo=*/true).ok());
  ASSERT_TRUE(theirs.wait_for(1));
  ASSERT_TRUE(rt->broadcast("marker", 2).ok());  // broadcast with echo reaches the sender
  ASSERT_TRUE(mine.wait_for_event("marker"));
  EXPECT_EQ(mine.count("e"), 0u);
}

// ---------------------------------------------------------------- channels

TEST_P(Semantics, JoinIsIdempotent) {
  auto sender = connect();
  auto rx = connect();
  Collector c;
  rx->on_any(c.listener());
  ASSERT_TRUE(rx->join("room").ok());
  ASSERT_TRUE(rx->join("room").ok());
  ASSERT_EQ(rx->channels(), std::vector<std::string>{"room"});
  ASSERT_TRUE(sender->send("room", "e", 1).ok());
  ASSERT_TRUE(sender->send("room", "marker", 2).ok());
  ASSERT_TRUE(c.wait_for_event("marker"));
  EXPECT_EQ(c.count("e"), 1u);
}

TEST_P(Semantics, OneLeaveUndoesAnyNumberOfJoins) {
  auto sender = connect();
  auto rx = connect();
  Collector c;
  rx->on_any(c.listener());
  ASSERT_TRUE(rx->join("room", false).ok());
  ASSERT_TRUE(rx->join("room", false).ok());
  ASSERT_TRUE(rx->join("other", false).ok());
  ASSERT_TRUE(rx->leave("room", false).ok());
  ASSERT_TRUE(sender->send("room", "e", 1).ok());
  ASSERT_TRUE(sender->send("other", "marker", 2).ok());
  ASSERT_TRUE(c.wait_for_event("marker"));
  EXPECT_EQ(c.count("e"), 0u);
}

TEST_P(Semantics, RejoiningIsNotMistakenForLoss) {
  auto sender = connect();
  auto rx = connect();
  Collector c;
  rx->on("n", c.listener());
  ASSERT_TRUE(rx->join("room", false).ok());
  ASSERT_TRUE(sender->send("room", "n", 0).ok());
  ASSERT_TRUE(c.wait_for(1));
  ASSERT_TRUE(rx->leave("room", false).ok());
  for (int i = 1; i <= 10; ++i) ASSERT_TRUE(sender->send("room", "n", i).ok());  // not for rx
  ASSERT_TRUE(rx->join("room", false).ok());
  ASSERT_TRUE(sender->send("room", "n", 11).ok());
  // (Over a network, some of 1..10 may still be on their way to the broker
  // when the rejoin takes effect there, and arrive: that is not a loss.)
  ASSERT_TRUE(eventually([&] { return c.all().back().message.as<int>() == 11; }));
  EXPECT_EQ(rx->stats().lost_in_transit, 0u);
}

TEST_P(Semantics, ProfileOverTheMessageLimitIsResourceExhausted) {
  auto rt = connect();
  EXPECT_EQ(rt->update_profile(Bytes(2 << 20)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(rt->update_profile(std::string("small")).ok());
}

TEST_P(Semantics, CloseWithAFullQueuedInboxReturns) {
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 4;
  auto rx = connect(o);
  auto tx = connect();
  rx->on("e", [](const Payload&) {});
  ASSERT_TRUE(rx->join("room", false).ok());
  for (int i = 0; i < 20; ++i) ASSERT_TRUE(tx->send("room", "e", i).ok());
  ASSERT_TRUE(eventually([&] { return rx->stats().inbox_depth >= 4; }));
  rx->close();  // nobody polls, and the inbox is full: must not wait for either
  EXPECT_GE(rx->stats().dropped_closed, 4u);
}

TEST_P(Semantics, LeaveStopsDeliveryAndLeavingUnjoinedIsOk) {
  auto sender = connect();
  auto rx = connect();
  Collector c;
  rx->on_any(c.listener());
  ASSERT_TRUE(rx->join("room").ok());
  ASSERT_TRUE(rx->join("other").ok());
  ASSERT_TRUE(rx->leave("room").ok());
  EXPECT_TRUE(rx->leave("never-joined").ok());
  EXPECT_EQ(rx->channels(), std::vector<std::string>{"other"});
  ASSERT_TRUE(sender->send("room", "e", 1).ok());
  ASSERT_TRUE(sender->send("other", "marker", 2).ok());
  ASSERT_TRUE(c.wait_for_event("marker"));
  EXPECT_EQ(c.count("e"), 0u);
}

TEST_P(Semantics, ChannelsAreSorted) {
  auto rt = connect();
  for (const char* ch : {"zeta", "alpha", "mid"}) ASSERT_TRUE(rt->join(ch).ok());
  EXPECT_EQ(rt->channels(), (std::vector<std::string>{"alpha", "mid", "zeta"}));
}

// ---------------------------------------------------------------- listeners

TEST_P(Semantics, AnyListenersRunFirstThenEventListenersInRegistrationOrder) {
  auto rt = connect();
  std::vector<std::string> order;
  std::mutex mu;
  auto note = [&](std::string what) {
    return [&, what](const Payload&) {
      std::lock_guard lock(mu);
      order.push_back(what);
    };
  };
  rt->on("e", note("e1"));
  rt->on_any(note("any1"));
  rt->on("e", note("e2"));
  rt->on_any(note("any2"));
  ASSERT_TRUE(rt->broadcast("e", 0).ok());
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return order.size() == 4;
  }));
  EXPECT_EQ(order, (std::vector<std::string>{"any1", "any2", "e1", "e2"}));
}

TEST_P(Semantics, OnceIsRemovedThenInvokedAndRunsOnce) {
  auto rt = connect();
  int calls = 0;
  std::vector<ListenerId> seen_inside;
  ListenerId id = rt->once("e", [&](const Payload&) {
    ++calls;
    seen_inside = rt->get_listeners("e");
  });
  Collector c;
  rt->on("marker", c.listener());
  EXPECT_EQ(rt->get_listeners("e"), std::vector<ListenerId>{id});
  ASSERT_TRUE(rt->broadcast("e", 1).ok());
  ASSERT_TRUE(rt->broadcast("e", 2).ok());
  ASSERT_TRUE(rt->broadcast("marker", 3).ok());
  ASSERT_TRUE(c.wait_for(1));
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(seen_inside.empty());
  EXPECT_TRUE(rt->get_listeners("e").empty());
}

TEST_P(Semantics, OffOneListener) {
  auto rt = connect();
  Collector kept, removed;
  ListenerId a = rt->on("e", removed.listener());
  ListenerId b = rt->on("e", kept.listener());
  rt->off("e", a);
  EXPECT_EQ(rt->get_listeners("e"), std::vector<ListenerId>{b});
  rt->off("other-event", b);  // wrong event: nothing removed
  EXPECT_EQ(rt->get_listeners("e"), std::vector<ListenerId>{b});
  ASSERT_TRUE(rt->broadcast("e", 1).ok());
  ASSERT_TRUE(kept.wait_for(1));
  EXPECT_EQ(removed.size(), 0u);
}

TEST_P(Semantics, OffEventRemovesAllItsListeners) {
  auto rt = connect();
  Collector c;
  rt->on("e", c.listener());
  rt->on("e", c.listener());
  ListenerId keep = rt->on("f", c.listener());
  rt->off("e");
  EXPECT_TRUE(rt->get_listeners("e").empty());
  EXPECT_EQ(rt->get_listeners(), std::vector<ListenerId>{keep});
  ASSERT_TRUE(rt->broadcast("e", 1).ok());
  ASSERT_TRUE(rt->broadcast("f", 2).ok());
  ASSERT_TRUE(c.wait_for(1));
  EXPECT_EQ(c.events(), std::vector<std::string>{"f"});
}

TEST_P(Semantics, OffAllRemovesEventListenersButNotAnyListeners) {
  auto rt = connect();
  Collector events, any;
  rt->on("e", events.listener());
  rt->on("f", events.listener());
  ListenerId any_id = rt->on_any(any.listener());
  rt->off();
  EXPECT_EQ(rt->get_listeners(), std::vector<ListenerId>{any_id});
  ASSERT_TRUE(rt->broadcast("e", 1).ok());
  ASSERT_TRUE(any.wait_for(1));
  EXPECT_EQ(events.size(), 0u);
}

TEST_P(Semantics, OffAnyOneAndAll) {
  auto rt = connect();
  Collector a, b, marker;
  ListenerId ida = rt->on_any(a.listener());
  ListenerId idb = rt->on_any(b.listener());
  ListenerId ev = rt->on("m", marker.listener());
  rt->off_any(ida);
  EXPECT_EQ(rt->get_listeners(), (std::vector<ListenerId>{ev, idb}));
  ASSERT_TRUE(rt->broadcast("m", 1).ok());
  ASSERT_TRUE(marker.wait_for(1));
  EXPECT_EQ(a.size(), 0u);
  EXPECT_EQ(b.size(), 1u);
  rt->off_any();
  EXPECT_EQ(rt->get_listeners(), std::vector<ListenerId>{ev});
  ASSERT_TRUE(rt->broadcast("m", 2).ok());
  ASSERT_TRUE(marker.wait_for(2));
  EXPECT_EQ(b.size(), 1u);
}

TEST_P(Semantics, GetListenersBothForms) {
  auto rt = connect();
  ListenerId any1 = rt->on_any([](const Payload&) {});
  ListenerId e1 = rt->on("e", [](const Payload&) {});
  ListenerId f1 = rt->on("f", [](const Payload&) {});
  ListenerId e2 = rt->on("e", [](const Payload&) {});
  ListenerId j = rt->on_join([](const Payload&) {});
  EXPECT_EQ(rt->get_listeners("e"), (std::vector<ListenerId>{e1, e2}));
  EXPECT_EQ(rt->get_listeners("channel:join"), std::vector<ListenerId>{j});
  EXPECT_TRUE(rt->get_listeners("nothing").empty());
  // every event listener in registration order, then the any-listeners
  EXPECT_EQ(rt->get_listeners(), (std::vector<ListenerId>{e1, f1, e2, j, any1}));
}

TEST_P(Semantics, ListenerAddedDuringDispatchIsNotCalledForThatMessage) {
  auto rt = connect();
  Collector late;
  bool added = false;
  rt->on("e", [&](const Payload&) {
    if (!added) {
      added = true;
      rt->on("e", late.listener());
    }
  });
  ASSERT_TRUE(rt->broadcast("e", 1).ok());
  ASSERT_TRUE(eventually([&] { return rt->get_listeners("e").size() == 2; }));
  EXPECT_EQ(late.size(), 0u);
  ASSERT_TRUE(rt->broadcast("e", 2).ok());
  ASSERT_TRUE(late.wait_for(1));
  EXPECT_EQ(late.all()[0].message.as<int>(), 2);
}

TEST_P(Semantics, ListenerRemovedDuringDispatchIsNotCalledLaterInIt) {
  auto rt = connect();
  Collector victim, marker;
  ListenerId victim_id{};
  ListenerId victim_any{};
  rt->on_any([&](const Payload& p) {
    if (p.event() == "e") {
      rt->off("e", victim_id);
      rt->off_any(victim_any);
    }
  });
  victim_any = rt->on_any(victim.listener());
  victim_id = rt->on("e", victim.listener());
  rt->on("marker", marker.listener());
  ASSERT_TRUE(rt->broadcast("e", 1).ok());
  ASSERT_TRUE(rt->broadcast("marker", 2).ok());
  ASSERT_TRUE(marker.wait_for(1));
  EXPECT_EQ(victim.size(), 0u);
}

TEST_P(Semantics, ThrowingListenerDoesNotStopOthersAndIsReported) {
  auto rt = connect();
  std::vector<absl::Status> errors;
  std::mutex mu;
  rt->on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  });
  Collector after;
  rt->on("e", [](const Payload&) { throw std::runtime_error("listener exploded"); });
  rt->on("e", after.listener());
  ASSERT_TRUE(rt->broadcast("e", 1).ok());
  ASSERT_TRUE(after.wait_for(1));
  std::lock_guard lock(mu);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(std::string(errors[0].message()).find("listener exploded"), std::string::npos);
  EXPECT_NE(std::string(errors[0].message()).find("\"e\""), std::string::npos);
  // Counted once the dispatch (which may still be finishing on the delivering
  // thread) is over.
  EXPECT_TRUE(eventually([&] { return rt->stats().listener_errors == 1u; }));
}

TEST_P(Semantics, ListenersMaySendJoinAndOffFromInside) {
  auto a = connect();
  auto b = connect();
  Collector got;
  // ping-pong between two connections, entirely from listeners, plus a
  // listener that sends to its own connection.
  a->on("ping", [&](const Payload& p) {
    int n = p.message().as<int>();
    if (n < 50) {
      ASSERT_TRUE(a->send("b-room", "pong", n + 1).ok());
    }
  });
  b->on("pong", [&](const Payload& p) {
    int n = p.message().as<int>();
    ASSERT_TRUE(b->send("a-room", "ping", n + 1).ok());
    if (n == 49) {
      ASSERT_TRUE(b->broadcast("self", n).ok());
    }
  });
  b->on("self", [&](const Payload& p) {
    got.add(p);
    ASSERT_TRUE(b->join("late-room").ok());
    b->off("self");
  });
  ASSERT_TRUE(a->join("a-room").ok());
  ASSERT_TRUE(b->join("b-room").ok());
  ASSERT_TRUE(b->send("a-room", "ping", 0).ok());
  ASSERT_TRUE(got.wait_for(1));
  // (The listener may still be finishing on the delivering thread.)
  ASSERT_TRUE(eventually([&] { return b->channels().size() == 2; }));
  EXPECT_TRUE(eventually([&] { return b->get_listeners("self").empty(); }));
}

TEST_P(Semantics, ConnectionCanBeClosedFromItsOwnListener) {
  auto rt = connect();
  Collector c;
  rt->on("stop", [&](const Payload& p) {
    c.add(p);
    rt->close();
  });
  ASSERT_TRUE(rt->broadcast("stop", 1).ok());
  ASSERT_TRUE(c.wait_for(1));
  ASSERT_TRUE(eventually([&] { return !rt->is_connected(); }));
  EXPECT_EQ(rt->send("x", "y", 1).code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------- limits and errors

TEST_P(Semantics, InvalidNamesAreInvalidArgument) {
  auto rt = connect();
  EXPECT_EQ(rt->send("", "e", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->send("room", "", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->send(std::string(256, 'c'), "e", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->broadcast(std::string(256, 'e'), 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->send("bad\xc3(", "e", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->join("").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->leave(std::string(300, 'x')).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(rt->get_members("").status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(rt->send(std::string(255, 'c'), std::string(255, 'e'), 1).ok());
  EXPECT_EQ(rt->stats().rejected, 8u);
}

TEST_P(Semantics, ChannelEventsAreTheHubsAndRefusedAtSend) {
  // channel:join / leave / update come only from the hub (API.md presence).
  auto rt = connect();
  auto rx = connect();
  Collector c;
  rx->on_any(c.listener());
  ASSERT_TRUE(rx->join("room", /*echo=*/false).ok());
  for (const std::string event : {"channel:leave", "channel:join", "channel:update", "channel:"}) {
    absl::Status sent = rt->send("room", event, 1);
    EXPECT_EQ(sent.code(), absl::StatusCode::kInvalidArgument) << event;
    EXPECT_NE(std::string(sent.message()).find("reserved"), std::string::npos) << sent;
    EXPECT_EQ(rt->broadcast(event, 1).code(), absl::StatusCode::kInvalidArgument) << event;
  }
  EXPECT_TRUE(rt->send("room", "channels:list", 1).ok());  // only the prefix is reserved
  ASSERT_TRUE(c.wait_for_event("channels:list"));
  EXPECT_EQ(c.events(), std::vector<std::string>{"channels:list"});
  EXPECT_EQ(rt->stats().rejected, 8u);
}

TEST_P(Semantics, NestingIsCheckedAtSendTheSameOnEveryTransport) {
  // limits::kMaxNestingDepth: what from_msgpack accepts is sent and arrives
  // on every transport; a body or profile nested deeper is refused.
  const auto nested = [](int depth) {
    std::string bytes(static_cast<std::size_t>(depth), '\x91');
    bytes += '\xc0';
    return internal::copy_checked_msgpack(
        std::span(reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()));
  };
  auto tx = connect();
  auto rx = connect();
  Collector c;
  rx->on("deep", c.listener());
  ASSERT_TRUE(rx->join("room").ok());
  ASSERT_TRUE(tx->send("room", "deep", nested(limits::kMaxNestingDepth)).ok());
  ASSERT_TRUE(c.wait_for(1));
  EXPECT_EQ(c.all()[0].message, nested(limits::kMaxNestingDepth));
  absl::Status deeper = tx->send("room", "deep", nested(limits::kMaxNestingDepth + 1));
  EXPECT_EQ(deeper.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(deeper.message()).find("nesting deeper than 256"), std::string::npos)
      << deeper;
  EXPECT_EQ(tx->broadcast("deep", nested(300)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tx->update_profile(nested(limits::kMaxNestingDepth + 1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(tx->stats().rejected, 3u);
}

TEST_P(Semantics, ClosedConnectionRefusesWithFailedPreconditionAndReopens) {
  auto rt = connect();
  std::vector<std::string> reasons;
  rt->on_disconnect([&](std::string_view r) { reasons.emplace_back(r); });
  ASSERT_TRUE(rt->join("room").ok());
  rt->close();
  EXPECT_FALSE(rt->is_connected());
  EXPECT_EQ(reasons.size(), 1u);
  EXPECT_EQ(rt->send("room", "e", 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rt->broadcast("e", 1).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rt->join("x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rt->leave("room").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(rt->update_profile(1).code(), absl::StatusCode::kFailedPrecondition);
  rt->close();  // idempotent
  EXPECT_EQ(reasons.size(), 1u);

  ASSERT_TRUE(rt->open().ok());
  ASSERT_TRUE(eventually([&] { return rt->is_connected(); }));
  auto sender = connect();
  Collector c;
  rt->on("e", c.listener());
  ASSERT_TRUE(sender->send("room", "e", 1).ok());  // auto_join_channels rejoined "room"
  ASSERT_TRUE(c.wait_for(1));
}

TEST_P(Semantics, OpenWithoutAutoJoinForgetsChannels) {
  Options o;
  o.auto_join_channels = false;
  auto rt = connect(o);
  ASSERT_TRUE(rt->join("room").ok());
  rt->close();
  ASSERT_TRUE(rt->open().ok());
  ASSERT_TRUE(eventually([&] { return rt->is_connected(); }));
  EXPECT_TRUE(rt->channels().empty());
}

TEST_P(Semantics, SocketIdsAreUnique) {
  auto a = connect();
  auto b = connect();
  EXPECT_NE(a->get_socket_id(), b->get_socket_id());
  EXPECT_EQ(a->get_socket_id().size(), 20u);
}

TEST_P(Semantics, OnConnectRegisteredLateStillRuns) {
  auto rt = connect();
  bool called = false;
  rt->on_connect([&] { called = true; });
  EXPECT_TRUE(called);
}

// ---------------------------------------------------------------- payloads

struct Order {
  std::string id;
  double amount = 0;
  std::vector<std::string> items;
  MSGPACK_DEFINE_MAP(id, amount, items)
};

TEST_P(Semantics, TypedStructsAndBinaryPayloadsArrive) {
  auto sender = connect();
  auto rx = connect();
  Collector c;
  rx->on_any(c.listener());
  ASSERT_TRUE(rx->join("orders", /*echo=*/false).ok());
  ASSERT_TRUE(sender->send("orders", "created", Order{"o-1", 9.5, {"tea", "cake"}}).ok());
  Bytes blob;
  for (int i = 0; i < 256; ++i) blob.push_back(static_cast<std::byte>(i));
  ASSERT_TRUE(sender->send("orders", "blob", blob).ok());
  ASSERT_TRUE(sender->send("orders", "pre-encoded", Message::of(7)).ok());
  ASSERT_TRUE(c.wait_for(3));
  auto all = c.all();
  Order o = all[0].message.as<Order>();
  EXPECT_EQ(o.id, "o-1");
  EXPECT_DOUBLE_EQ(o.amount, 9.5);
  EXPECT_EQ(o.items, (std::vector<std::string>{"tea", "cake"}));
  EXPECT_EQ(all[1].message.as<Bytes>(), blob);
  EXPECT_EQ(all[2].message.as<int>(), 7);
}

// ---------------------------------------------------------------- presence

TEST_P(Semantics, PresenceJoinUpdateLeaveAndMembers) {
  auto watcher = connect();
  Collector seen;
  watcher->on_join(seen.listener());
  watcher->on_update(seen.listener());
  watcher->on_leave(seen.listener());
  ASSERT_TRUE(watcher->join("lobby", /*echo=*/false).ok());

  auto luke = connect();
  ASSERT_TRUE(luke->update_profile(std::map<std::string, std::string>{{"name", "Luke"}}).ok());
  ASSERT_TRUE(luke->join("lobby").ok());
  ASSERT_TRUE(seen.wait_for(1));
  auto joined = seen.all()[0];
  EXPECT_EQ(joined.event, "channel:join");
  EXPECT_EQ(joined.channel, "lobby");
  EXPECT_EQ(joined.message.to_json(),
            "{\"id\":\"" + luke->get_socket_id() + "\",\"data\":{\"name\":\"Luke\"}}");

  auto members = luke->get_members("lobby");
  ASSERT_TRUE(members.ok()) << members.status();
  ASSERT_EQ(members->size(), 2u);
  std::vector<std::string> ids{(*members)[0].id, (*members)[1].id};
  std::sort(ids.begin(), ids.end());
  std::vector<std::string> expected{watcher->get_socket_id(), luke->get_socket_id()};
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(ids, expected);

  ASSERT_TRUE(luke->update_profile(std::map<std::string, std::string>{{"name", "Jedi"}}).ok());
  ASSERT_TRUE(seen.wait_for(2));
  EXPECT_EQ(seen.all()[1].event, "channel:update");
  ASSERT_TRUE(luke->leave("lobby").ok());
  ASSERT_TRUE(seen.wait_for(3));
  EXPECT_EQ(seen.all()[2].event, "channel:leave");
  EXPECT_EQ(seen.all()[2].sender, luke->get_socket_id());

  ASSERT_TRUE(luke->join("lobby").ok());
  ASSERT_TRUE(seen.wait_for(4));
  luke.reset();  // disconnecting leaves every channel
  ASSERT_TRUE(seen.wait_for(5));
  EXPECT_EQ(seen.all()[4].event, "channel:leave");
  auto after = watcher->get_members("lobby");
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->size(), 1u);
}

TEST_P(Semantics, PresenceEchoDecidesWhetherTheJoinerHearsItself) {
  auto rt = connect();
  Collector c;
  rt->on_join(c.listener());
  rt->on_leave(c.listener());
  rt->on("marker", c.listener());
  ASSERT_TRUE(rt->join("quiet", /*echo=*/false).ok());
  ASSERT_TRUE(rt->leave("quiet", /*echo=*/false).ok());
  ASSERT_TRUE(rt->join("loud", /*echo=*/true).ok());
  ASSERT_TRUE(rt->leave("loud", /*echo=*/true).ok());
  ASSERT_TRUE(rt->broadcast("marker", 0).ok());
  // Over zmq:// the broker's presence events and a client's broadcast take
  // different paths through it: the marker may overtake the last of them.
  const bool three = c.wait_for(3);
  std::this_thread::sleep_for(std::chrono::milliseconds(100));  // anything more would show
  auto all = c.all();
  std::string got;
  for (const auto& r : all) got += r.event + "(" + r.channel.value_or("-") + ") ";
  ASSERT_TRUE(three) << got;
  ASSERT_EQ(all.size(), 3u);
  EXPECT_EQ(c.count("marker"), 1u);
  std::vector<std::string> presence;
  for (const auto& r : all) {
    if (r.event == "marker") continue;
    EXPECT_EQ(r.channel, "loud") << r.event;
    presence.push_back(r.event);
  }
  EXPECT_EQ(presence, (std::vector<std::string>{"channel:join", "channel:leave"}));
}

INSTANTIATE_TEST_SUITE_P(Transports, Semantics,
                         ::testing::Values("mem://", "zmq://", "ws://", "wss://"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param.substr(0, info.param.find(':'));
                         });

}  // namespace
}  // namespace herald
