// ws:// against real WsGateways (what zmq:// does the same way is in
// network_client_test.cc): a hub stopped and restarted on the same port,
// sessions refused (at hello, or expiring while connected), other refusals
// (an id in use, a wrong path, a hello the hub does not take), a hub that
// goes silent, backpressure from a full queued inbox, close() flushing, and
// messages at the size limit.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../../transports/websocket/src/wire.hpp"
#include "herald/herald.hpp"
#include "herald/internal/hub_access.hpp"
#include "herald/internal/receiver.hpp"
#include "herald/session_token.hpp"
#include "herald/websocket/gateway.hpp"
#include "outage_stream.hpp"
#include "test_support.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::eventually;
using testing::unique_name;

std::shared_ptr<Hub> fresh_hub(HubOptions options = {}) {
  auto hub = Hub::create(unique_name("ws-transport"), std::move(options));
  EXPECT_TRUE(hub.ok()) << hub.status();
  return hub.ok() ? *hub : nullptr;
}

std::unique_ptr<WsGateway> start_gateway(std::shared_ptr<Hub> hub, int port = 0) {
  auto gateway = WsGateway::start(std::move(hub), {.host = "127.0.0.1", .port = port});
  EXPECT_TRUE(gateway.ok()) << gateway.status();
  return gateway.ok() ? *std::move(gateway) : nullptr;
}

std::unique_ptr<Realtime> connect(const std::string& url, Options options = {}) {
  auto rt = std::make_unique<Realtime>(url, options);
  EXPECT_TRUE(eventually([&] { return rt->is_connected(); })) << url;
  return rt;
}

// A free loopback port (taken by a gateway, then freed).
int free_port() {
  auto gateway = start_gateway(fresh_hub());
  return gateway ? gateway->port() : 0;
}

// ---------------------------------------------------------------- outages

TEST(WsTransport, HubStoppedAndRestartedOnTheSamePort) {
  auto gateway = start_gateway(fresh_hub());
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  const std::string url = gateway->url();
  Options options;
  options.reconnection_delay = 50ms;
  testing::OutageStream s;
  auto receiver = connect(url, options);
  auto sender = connect(url, options);
  ASSERT_NO_FATAL_FAILURE(s.watch(*receiver, *sender));

  s.send_some(300);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(s.mu);
    return s.got_r.size() == 300u && s.got_s.size() == 300u;
  }));
  gateway.reset();  // close 1001 "hub stopping" to both
  ASSERT_TRUE(
      eventually([&] { return s.disconnects_s.load() == 1 && s.disconnects_r.load() == 1; }));
  EXPECT_FALSE(sender->is_connected());
  const int first_buffered = s.next;
  s.send_some(200);  // buffered while the hub is away
  EXPECT_EQ(sender->stats().buffered, 200u);

  // A new hub behind a new gateway on the same port: nothing of the old
  // session is left there, so the channels must be rejoined.
  gateway = start_gateway(fresh_hub(), port);
  ASSERT_NE(gateway, nullptr);
  ASSERT_TRUE(eventually([&] { return s.connects_r.load() == 2 && s.connects_s.load() == 2; }));
  EXPECT_GE(s.attempts.load(), 1);
  EXPECT_EQ(receiver->channels(), std::vector<std::string>{"stream"});
  const int first_after = s.next;
  s.send_some(300);
  const int total = s.next;
  ASSERT_TRUE(s.both_have_the_last());
  EXPECT_EQ(sender->stats().buffered, 0u);

  std::lock_guard lock(s.mu);
  const std::vector<int>& got_r = s.got_r;
  const std::vector<int>& got_s = s.got_s;
  // The sender's own membership was restored before its buffer went out, so
  // its echo has everything, in order, once.
  ASSERT_EQ(got_s.size(), static_cast<std::size_t>(total));
  for (int i = 0; i < total; ++i) ASSERT_EQ(got_s[i], i);
  // The receiver rejoined before on_connect: it missed nothing sent after its
  // reconnect, and whatever it got is in order without duplicates. (Whether
  // it saw the sender's buffer depends on which of the two reconnected first.)
  for (std::size_t i = 1; i < got_r.size(); ++i) ASSERT_LT(got_r[i - 1], got_r[i]);
  EXPECT_EQ(std::count_if(got_r.begin(), got_r.end(), [&](int v) { return v >= first_after; }),
            total - first_after);
  EXPECT_GE(got_r.size(), static_cast<std::size_t>(first_buffered + total - first_after));
}

// ---------------------------------------------------------------- sessions

bool accept_good(std::string_view token) { return token == "good-token"; }

TEST(WsTransport, ARefusedSessionIsReportedAndNotRetried) {
  auto gateway = start_gateway(fresh_hub({.enforce_session = true, .verify_session = accept_good}));
  Options bad;
  bad.session = "bad-token";
  bad.reconnection_delay = 10ms;
  Realtime rt(gateway->url(), bad);
  std::atomic<int> attempts{0};
  rt.on_reconnect_attempt([&](int) { attempts.fetch_add(1); });
  std::mutex mu;
  std::vector<absl::Status> errors;
  rt.on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !errors.empty();
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_EQ(errors[0].code(), absl::StatusCode::kUnauthenticated) << errors[0];
  }
  EXPECT_FALSE(rt.is_connected());
  EXPECT_EQ(rt.send("room", "e", 1).code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(rt.join("room").code(), absl::StatusCode::kUnauthenticated);
  EXPECT_EQ(rt.update_profile(1).code(), absl::StatusCode::kUnauthenticated);

  Options no_token;  // none at all where one is required
  Realtime anonymous(gateway->url(), no_token);
  ASSERT_TRUE(eventually(
      [&] { return anonymous.send("room", "e", 1).code() == absl::StatusCode::kUnauthenticated; }));

  Options good;
  good.session = "good-token";
  auto ok = connect(gateway->url(), good);
  Collector c;
  ok->on("e", c.listener());
  ASSERT_TRUE(ok->join("room").ok());
  ASSERT_TRUE(ok->send("room", "e", 1).ok());
  ASSERT_TRUE(c.wait_for(1));
  EXPECT_EQ(attempts.load(), 0);  // a refusal is final
  EXPECT_GE(gateway->stats().closed_unauthenticated, 2u);
}

// A session token that expires while its connection is up: the hub refuses
// the next frame (error 16, close 4001). The connection was connected, so it
// disconnects first (on_disconnect, then on_error); the sends still waiting
// to be written then are dropped, and counted (Stats::dropped_unavailable).
TEST(WsTransport, ASessionExpiringWhileConnectedDisconnectsThenRefusesAndCountsTheUnsent) {
  const std::string secret = "ws-transport-expiry";
  auto gateway = start_gateway(
      fresh_hub({.enforce_session = true, .verify_session = session_verifier(secret)}));
  ASSERT_NE(gateway, nullptr);
  const std::string token = make_session_token(secret, "short-lived", 2s);
  Options o;
  o.session = token;
  o.reconnection_delay = 10ms;
  auto rt = connect(gateway->url(), o);
  Options other;
  other.session = make_session_token(secret, "other", 1h);
  auto tx = connect(gateway->url(), other);
  ASSERT_TRUE(rt->join("rt").ok());
  std::mutex mu;
  std::vector<std::string> seen;  // "disconnect", or the code of an error
  rt->on_disconnect([&](std::string_view) {
    std::lock_guard lock(mu);
    seen.emplace_back("disconnect");
  });
  rt->on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    seen.push_back(absl::StatusCodeToString(s.code()));
  });
  std::atomic<int> attempts{0};
  rt->on_reconnect_attempt([&](int) { attempts.fetch_add(1); });
  // Each "hold" holds rt's I/O thread in its listener until released.
  std::atomic<int> entered{0}, released{0};
  rt->on("hold", [&](const Payload&) {
    const int n = entered.fetch_add(1) + 1;
    for (const auto give_up = std::chrono::steady_clock::now() + 10s;
         released.load() < n && std::chrono::steady_clock::now() < give_up;) {
      std::this_thread::sleep_for(1ms);
    }
  });

  ASSERT_TRUE(tx->send("rt", "hold", 1).ok());
  ASSERT_TRUE(eventually([&] { return entered.load() == 1; }));
  // Held: the token expires, and a send waits to be written.
  ASSERT_TRUE(eventually([&] { return !verify_session_token(secret, token).ok(); }));
  ASSERT_TRUE(rt->send("room", "e", 0).ok());
  // A second hold, queued for rt at the hub (tx's join reply says it was
  // routed) ahead of anything the hub answers that send with.
  ASSERT_TRUE(tx->send("rt", "hold", 2).ok());
  ASSERT_TRUE(tx->join("sync").ok());
  released = 1;
  // rt writes its send, then is held by the second hold while the hub
  // refuses that send: the refusal waits, unread, behind the hold.
  ASSERT_TRUE(eventually(
      [&] { return entered.load() == 2 && gateway->stats().closed_unauthenticated >= 1; }));
  constexpr int kSends = 16;  // 4 MiB, about four WebSocket messages' worth
  for (int i = 0; i < kSends; ++i) ASSERT_TRUE(rt->send("room", "e", Bytes(256 * 1024)).ok());
  EXPECT_EQ(rt->stats().buffered, 0u);  // taken by the transport
  released = 2;

  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return std::find(seen.begin(), seen.end(), "UNAUTHENTICATED") != seen.end();
  }));
  {
    std::lock_guard lock(mu);
    const std::vector<std::string> expected{"disconnect", "UNAUTHENTICATED"};
    EXPECT_EQ(seen, expected);
  }
  EXPECT_FALSE(rt->is_connected());
  EXPECT_EQ(rt->send("room", "e", 1).code(), absl::StatusCode::kUnauthenticated);
  const Stats s = rt->stats();
  EXPECT_EQ(s.sent, static_cast<std::uint64_t>(kSends + 1));
  // At most what one write took went out before the refusal was read.
  EXPECT_GE(s.dropped_unavailable, static_cast<std::uint64_t>(kSends / 2));
  EXPECT_LE(s.dropped_unavailable, static_cast<std::uint64_t>(kSends));
  EXPECT_EQ(attempts.load(), 0);  // a refusal is final
  EXPECT_TRUE(tx->is_connected());
}

// Something attached to a hub under a given socket id, as another connection
// with that id would be.
class IdHolder : public internal::Receiver {
 public:
  explicit IdHolder(std::string id) : id_(std::move(id)) {}
  std::string_view id() const noexcept override { return id_; }
  void deliver(const internal::EnvelopePtr&) override {}
  Message profile() const override { return {}; }

 private:
  std::string id_;
};

// Reconnecting to a hub where its socket id is taken (by another resume
// secret): error 6, close 4009. Not retried, and what is refused afterwards
// says kAlreadyExists, not kUnauthenticated.
TEST(WsTransport, AnIdInUseIsARefusalWithItsOwnCode) {
  auto hub = fresh_hub();
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  Options o;
  o.reconnection_delay = 20ms;
  auto rt = connect(gateway->url(), o);
  std::mutex mu;
  std::vector<absl::Status> errors;
  rt->on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  });
  std::atomic<int> attempts{0};
  rt->on_reconnect_attempt([&](int) { attempts.fetch_add(1); });
  gateway.reset();  // close 1001: the client reconnects
  ASSERT_TRUE(eventually([&] { return !rt->is_connected() && hub->connection_count() == 0; }));
  auto holder = std::make_shared<IdHolder>(rt->get_socket_id());
  ASSERT_TRUE(herald::internal::HubAccess::attach(*hub, holder, "").ok());
  gateway = start_gateway(hub, port);
  ASSERT_NE(gateway, nullptr);
  auto refused = [&] {
    std::lock_guard lock(mu);
    return std::any_of(errors.begin(), errors.end(),
                       [](const absl::Status& s) { return absl::IsAlreadyExists(s); });
  };
  ASSERT_TRUE(eventually(refused));
  EXPECT_EQ(rt->send("room", "e", 1).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(rt->join("room").code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(rt->update_profile(1).code(), absl::StatusCode::kAlreadyExists);
  const int attempts_then = attempts.load();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(attempts.load(), attempts_then);
  EXPECT_FALSE(rt->is_connected());
  herald::internal::HubAccess::detach(*hub, *holder);
}

// ---------------------------------------------------------------- other refusals

// The hub serves only "/": any other path gets HTTP 404, every time. A
// refusal (kInvalidArgument, naming the status), not something to retry.
TEST(WsTransport, AWrongPathIsARefusalNotRetried) {
  auto gateway = start_gateway(fresh_hub());
  ASSERT_NE(gateway, nullptr);
  Options o;
  o.reconnection_delay = 10ms;
  Realtime rt("ws://127.0.0.1:" + std::to_string(gateway->port()) + "/wrong", o);
  std::atomic<int> attempts{0};
  rt.on_reconnect_attempt([&](int) { attempts.fetch_add(1); });
  std::mutex mu;
  std::vector<absl::Status> errors;
  rt.on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  });
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !errors.empty();
  }));
  std::this_thread::sleep_for(1s);  // time for many attempts, were there any
  EXPECT_EQ(attempts.load(), 0);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0].code(), absl::StatusCode::kInvalidArgument) << errors[0];
    EXPECT_NE(errors[0].message().find("404"), std::string_view::npos) << errors[0];
  }
  EXPECT_FALSE(rt.is_connected());
  EXPECT_EQ(rt.send("room", "e", 1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_GE(gateway->stats().refused, 1u);
}

// A hello the hub does not take (here: a profile over its message limit, set
// before the hub was there) gets an error frame and close 1008: the same
// hello would get the same answer, so it is a refusal with the error's code.
TEST(WsTransport, AHelloTheHubDoesNotTakeIsARefusalNotRetried) {
  const int port = free_port();
  ASSERT_NE(port, 0);
  Options o;
  o.reconnection_delay = 10ms;
  Realtime rt("ws://127.0.0.1:" + std::to_string(port), o);
  ASSERT_TRUE(rt.update_profile(Bytes(2000)).ok());  // kept for the hello
  std::atomic<int> attempts{0};
  rt.on_reconnect_attempt([&](int) { attempts.fetch_add(1); });
  std::mutex mu;
  std::vector<absl::Status> errors;
  rt.on_error([&](const absl::Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  });
  auto gateway = start_gateway(fresh_hub({.max_message_bytes = 1000}), port);
  ASSERT_NE(gateway, nullptr);
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return !errors.empty() && absl::IsResourceExhausted(errors.back());
  }));
  {
    std::lock_guard lock(mu);
    EXPECT_NE(errors.back().message().find("1008"), std::string_view::npos) << errors.back();
  }
  const int attempts_then = attempts.load();
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(attempts.load(), attempts_then);
  EXPECT_FALSE(rt.is_connected());
  EXPECT_EQ(rt.send("room", "e", 1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_GE(gateway->stats().closed_protocol, 1u);
}

// ---------------------------------------------------------------- a silent hub

// A hub that welcomes, then never reads again: no pong ever comes back.
class SilentHub {
 public:
  SilentHub() : acceptor_(ioc_, {boost::asio::ip::make_address("127.0.0.1"), 0}) {
    acceptor_.non_blocking(true);
    port_ = acceptor_.local_endpoint().port();
    thread_ = std::thread([this] { run(); });
  }
  ~SilentHub() {
    stop_ = true;
    thread_.join();
  }
  std::string url() const { return "ws://127.0.0.1:" + std::to_string(port_); }
  int welcomed() const { return welcomed_.load(); }

 private:
  void run() {
    namespace websocket = boost::beast::websocket;
    std::vector<std::unique_ptr<websocket::stream<boost::asio::ip::tcp::socket>>> held;
    while (!stop_) {
      boost::beast::error_code ec;
      boost::asio::ip::tcp::socket socket(ioc_);
      acceptor_.accept(socket, ec);
      if (ec) {
        std::this_thread::sleep_for(2ms);
        continue;
      }
      socket.non_blocking(false);
      auto ws =
          std::make_unique<websocket::stream<boost::asio::ip::tcp::socket>>(std::move(socket));
      ws->accept(ec);
      boost::beast::flat_buffer hello;
      if (!ec) ws->read(hello, ec);
      if (ec) continue;
      std::string welcome;
      ws_wire::append_welcome(welcome, "silent", 1 << 20, /*ping_interval_ms=*/100);
      ws->binary(true);
      ws->write(boost::asio::buffer(welcome), ec);
      if (!ec) welcomed_.fetch_add(1);
      held.push_back(std::move(ws));
    }
  }

  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::acceptor acceptor_;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> welcomed_{0};
  std::thread thread_;
};

TEST(WsTransport, AHubThatStopsAnsweringIsNoticedAndCloseDoesNotWaitForIt) {
  SilentHub hub;
  Options o;
  o.reconnection_delay = 20ms;
  Realtime rt(hub.url(), o);
  std::atomic<int> disconnects{0};
  std::string reason;
  std::mutex mu;
  rt.on_disconnect([&](std::string_view r) {
    std::lock_guard lock(mu);
    reason = std::string(r);
    disconnects.fetch_add(1);
  });
  ASSERT_TRUE(eventually([&] { return rt.is_connected(); }));
  // Nothing answers its keep-alive pings: after three ping intervals of
  // silence the connection is given up, and a new one is tried.
  ASSERT_TRUE(eventually([&] { return disconnects.load() >= 1; }));
  {
    std::lock_guard lock(mu);
    EXPECT_NE(reason.find("stopped answering"), std::string::npos) << reason;
  }
  ASSERT_TRUE(eventually([&] { return hub.welcomed() >= 2 && rt.is_connected(); }));
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(rt.broadcast("e", i).ok());
  rt.close();  // flushes for at most a moment; the hub never takes the close
  EXPECT_FALSE(rt.is_connected());
}

// ---------------------------------------------------------------- flow

TEST(WsTransport, AFullQueuedInboxHoldsInputBackWithoutLosingAny) {
  auto gateway = start_gateway(fresh_hub());
  Options o;
  o.dispatch = Dispatch::queued;
  o.inbox_capacity = 16;
  auto rx = connect(gateway->url(), o);
  auto tx = connect(gateway->url());
  std::vector<int> got;  // polled on this thread only
  rx->on("n", [&](const Payload& p) { got.push_back(p.message().as<int>()); });
  ASSERT_TRUE(rx->join("flow", false).ok());
  constexpr int kCount = 5000;
  std::thread sender([&] {
    for (int i = 0; i < kCount; ++i) ASSERT_TRUE(tx->send("flow", "n", i).ok());
  });
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (got.size() < static_cast<std::size_t>(kCount) &&
         std::chrono::steady_clock::now() < deadline) {
    rx->poll_for(10ms);
    std::this_thread::sleep_for(1ms);  // a slow consumer
  }
  sender.join();
  ASSERT_EQ(got.size(), static_cast<std::size_t>(kCount));
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(got[i], i);
  const Stats s = rx->stats();
  EXPECT_EQ(s.dropped_inbox_full, 0u);
  EXPECT_GE(s.inbox_high_water, 16u);
  EXPECT_EQ(gateway->stats().closed_slow_consumer, 0u);
}

TEST(WsTransport, CloseFlushesWhatWasSent) {
  auto gateway = start_gateway(fresh_hub());
  auto rx = connect(gateway->url());
  Collector c;
  rx->on("n", c.listener());
  ASSERT_TRUE(rx->join("room", false).ok());
  constexpr int kCount = 3000;
  {
    auto tx = connect(gateway->url());
    for (int i = 0; i < kCount; ++i) ASSERT_TRUE(tx->send("room", "n", i).ok());
    tx->close();  // right away: what was sent still goes out first
  }
  ASSERT_TRUE(c.wait_for(kCount));
  auto all = c.all();
  for (int i = 0; i < kCount; ++i) ASSERT_EQ(all[i].message.as<int>(), i);
}

TEST(WsTransport, SendersOnManyThreadsKeepTheirOwnOrder) {
  auto gateway = start_gateway(fresh_hub());
  auto rx = connect(gateway->url());
  auto tx = connect(gateway->url());
  constexpr int kThreads = 4;
  constexpr int kEach = 1000;
  std::mutex mu;
  std::vector<std::vector<int>> got(kThreads);
  rx->on("n", [&](const Payload& p) {
    auto v = p.message().as<std::vector<int>>();
    std::lock_guard lock(mu);
    got[v[0]].push_back(v[1]);
  });
  ASSERT_TRUE(rx->join("many", false).ok());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        ASSERT_TRUE(tx->send("many", "n", std::vector<int>{t, i, 0, 0, 0, 0, 0, 0}).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    std::size_t n = 0;
    for (const auto& g : got) n += g.size();
    return n == static_cast<std::size_t>(kThreads * kEach);
  }));
  std::lock_guard lock(mu);
  for (const auto& g : got) {
    for (int i = 0; i < kEach; ++i) ASSERT_EQ(g[i], i);
  }
  // Coalesced: far fewer WebSocket messages than frames went to the receiver.
  const WsGatewayStats s = gateway->stats();
  EXPECT_LT(s.writes, s.frames_out);
}

// ---------------------------------------------------------------- limits

TEST(WsTransport, MessagesNearTheLimitGoOutOneMessageAtATime) {
  auto gateway = start_gateway(fresh_hub());
  auto rx = connect(gateway->url());
  auto tx = connect(gateway->url());
  Collector c;
  rx->on("big", c.listener());
  ASSERT_TRUE(rx->join("bulk", false).ok());
  // Each body is close to the 1 MiB limit: coalesced, they would be far past
  // what the hub takes in one WebSocket message.
  constexpr int kCount = 6;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_TRUE(tx->send("bulk", "big", Bytes((1 << 20) - 64, static_cast<std::byte>(i))).ok());
  }
  ASSERT_TRUE(c.wait_for(kCount));
  auto all = c.all();
  for (int i = 0; i < kCount; ++i) {
    auto body = all[i].message.as<Bytes>();
    ASSERT_EQ(body.size(), (1u << 20) - 64);
    EXPECT_EQ(body.front(), static_cast<std::byte>(i));
  }
  EXPECT_EQ(gateway->stats().closed_protocol, 0u);
}

TEST(WsTransport, ABurstPastWhatWaitsForTheWriterArrivesWholeAndInOrder) {
  auto gateway = start_gateway(fresh_hub());
  auto rx = connect(gateway->url());
  auto tx = connect(gateway->url());
  std::mutex mu;
  std::vector<std::pair<int, std::size_t>> got;
  rx->on("chunk", [&](const Payload& p) {
    auto v = p.message().as<std::pair<int, Bytes>>();
    std::lock_guard lock(mu);
    got.emplace_back(v.first, v.second.size());
  });
  ASSERT_TRUE(rx->join("bulk", false).ok());
  // 12 MiB at once: more than the 8 MiB a sender may leave for the writer,
  // in pieces that share WebSocket messages unevenly.
  constexpr int kCount = 48;
  for (int i = 0; i < kCount; ++i) {
    const std::size_t size = 256 * 1024 + static_cast<std::size_t>(i) * 1000;
    ASSERT_TRUE(tx->send("bulk", "chunk", std::make_pair(i, Bytes(size))).ok());
  }
  ASSERT_TRUE(eventually([&] {
    std::lock_guard lock(mu);
    return got.size() == static_cast<std::size_t>(kCount);
  }));
  std::lock_guard lock(mu);
  for (int i = 0; i < kCount; ++i) {
    EXPECT_EQ(got[i].first, i);
    EXPECT_EQ(got[i].second, 256 * 1024 + static_cast<std::size_t>(i) * 1000);
  }
  EXPECT_EQ(gateway->stats().closed_protocol, 0u);
}

TEST(WsTransport, TheHubsLimitIsLearnedFromItsWelcome) {
  auto gateway = start_gateway(fresh_hub({.max_message_bytes = 1000}));
  auto rt = connect(gateway->url());
  EXPECT_EQ(rt->send("room", "e", Bytes(2000)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(rt->update_profile(Bytes(2000)).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(rt->send("room", "e", Bytes(900)).ok());
}

// ---------------------------------------------------------------- URLs

TEST(WsTransport, UrlsTheTransportCannotUse) {
  EXPECT_THROW(Realtime("ws://127.0.0.1:0"), std::invalid_argument);
  EXPECT_THROW(Realtime("wss://127.0.0.1:0"), std::invalid_argument);
}

}  // namespace
}  // namespace herald
