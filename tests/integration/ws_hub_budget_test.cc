// The hub's limits across connections and at the door (issue 9): the hub-wide
// budget (WsGatewayOptions::max_total_*) refuses or cuts the one that passes
// it while the others carry on; the HTTP upgrade keeps frames sent in the
// same write and checks Sec-WebSocket-Key.
//
// Each test starts its own Hub and gateway on a free loopback port; waits are
// bounded, nothing sleeps to decide an outcome.
#include <gtest/gtest.h>

#include "ws_raw_client.hpp"

namespace herald::ws_test {
namespace {

constexpr std::size_t kMembershipOverhead = 256;  // what the hub counts per membership

// A 255-byte channel name, distinct for each n.
std::string long_name(int n) {
  std::string name = "long-" + std::to_string(n) + "-";
  name.resize(255, 'x');
  return name;
}

TEST(WsHubBudget, JoinsPastTheMembershipBudgetAreRefusedAndOthersCarryOn) {
  constexpr std::size_t kBudget = 100 * (255 + kMembershipOverhead);
  auto hub = make_hub("ws-budget-joins");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.max_total_membership_bytes = kBudget});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  auto bystander = hello_and_join(port, "bystander", "room");
  auto hog = hello(port, "hog");
  ASSERT_TRUE(bystander && hog);

  std::optional<Frame> refusal;
  int joined = 0;
  for (std::uint64_t req = 1; req <= 200 && !refusal; ++req) {
    hog->send(frame(kJoin, req, long_name(static_cast<int>(req)), false));
    std::optional<Frame> reply = hog->next_op(kReply);
    ASSERT_TRUE(reply) << "join " << req << " got no reply";
    if (reply->u(2) == 0) {
      ++joined;
    } else {
      refusal = std::move(reply);
    }
  }
  ASSERT_TRUE(refusal) << "200 long channel names fit a budget of 100";
  EXPECT_TRUE(is_reply(refusal, refusal->u(1), 8, "max_total_membership_bytes"));
  EXPECT_GE(joined, 90);
  EXPECT_LT(joined, 100);
  EXPECT_EQ(gateway->stats().refused_budget, 1u);
  // The hog is still connected; the bystander still gets its messages.
  EXPECT_TRUE(member_ids(hog->members(1000, "room"), 1000));
  auto sender = hello(port, "sender");
  ASSERT_NE(sender, nullptr);
  sender->send(frame(kSend, "room", "still-here", false, 1));
  std::optional<Frame> got = bystander->next_op(kMessage);
  ASSERT_TRUE(got && got->is_message("still-here")) << text_of(got);

  // What the hog held is given back when it goes.
  hog->close();
  ASSERT_TRUE(hog->wait_closed());
  EXPECT_TRUE(eventually([&] {
    return gateway->stats().membership_bytes == std::string("room").size() + kMembershipOverhead;
  })) << gateway->stats().membership_bytes;
  bystander->send(frame(kJoin, 2, long_name(1), false));
  EXPECT_TRUE(is_reply(bystander->next_op(kReply), 2, 0));
}

TEST(WsHubBudget, ProfilesPastTheProfileBudgetAreRefused) {
  auto hub = make_hub("ws-budget-profiles");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.max_total_profile_bytes = 1000});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  const std::string profile = packed(std::string(600, 'p'));  // 602 bytes (str8)
  auto a = hello(port, "a", {}, std::nullopt, profile);
  auto b = hello(port, "b");
  ASSERT_TRUE(a && b);
  b->send(frame(kProfile, 1, false, RawValue{profile}));
  EXPECT_TRUE(is_reply(b->next_op(kReply), 1, 8, "max_total_profile_bytes"));
  // A hello over it may come back later: error 8, close 1013 (try again later).
  RawClient c(port);
  ASSERT_TRUE(c.connected());
  c.send(hello_frame("c", std::nullopt, profile));
  EXPECT_TRUE(is_error(c.next(), 8, "max_total_profile_bytes"));
  ASSERT_TRUE(c.wait_closed());
  EXPECT_EQ(c.close_code(), 1013);
  // Room again once a's profile is smaller.
  a->send(frame(kProfile, 1, false, 1));
  EXPECT_TRUE(is_reply(a->next_op(kReply), 1, 0));
  b->send(frame(kProfile, 2, false, RawValue{profile}));
  EXPECT_TRUE(is_reply(b->next_op(kReply), 2, 0));
  EXPECT_EQ(gateway->stats().refused_budget, 2u);
  EXPECT_EQ(gateway->stats().profile_bytes, profile.size() + 1);
}

TEST(WsHubBudget, PastTheQueueBudgetTheConsumerOverItsShareIsCut) {
  // Each queue's own bound (16 MiB) is far away: the hub-wide one (256 KiB)
  // cuts the one that stopped reading, and the one that reads loses nothing.
  constexpr std::size_t kBodyBytes = 4096;
  constexpr std::uint64_t kWindow = 16;
  constexpr std::uint64_t kMaxMessages = 4000;  // 16 MB: the stuck one must be cut well before
  auto hub = make_hub("ws-budget-queues");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, {.max_total_queued_bytes = 256 * 1024});
  ASSERT_NE(gateway, nullptr);
  const int port = gateway->port();
  std::atomic<std::uint64_t> received{0};
  RawClient::Config config;
  config.on_frame = [&](const Frame& f) {
    if (!f.is_message("data")) return false;
    received.fetch_add(1);
    return true;
  };
  auto reader = hello_and_join(port, "reader", "feed", std::move(config));
  ASSERT_NE(reader, nullptr);
  RawClientConfig stuck_config;
  stuck_config.receive_buffer = 4096;
  stuck_config.read = false;
  RawClient stuck(port, stuck_config);
  ASSERT_TRUE(stuck.connected());
  stuck.send_together({hello_frame("stuck"), frame(kJoin, 1, "feed", true)});
  ASSERT_TRUE(eventually([&] { return hub->members("feed").size() == 2; }));
  auto publisher = hello(port, "publisher");
  ASSERT_NE(publisher, nullptr);

  const std::vector<char> blob(kBodyBytes, 'x');
  std::uint64_t sent = 0;
  while (gateway->stats().closed_queue_budget == 0 && sent < kMaxMessages) {
    std::string message;
    for (std::uint64_t i = 0; i < kWindow; ++i)
      message += frame(kSend, "feed", "data", false, blob);
    publisher->send(std::move(message));
    sent += kWindow;
    ASSERT_TRUE(eventually([&] { return received.load() == sent; })) << received.load();
  }
  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.closed_queue_budget, 1u) << sent << " messages sent";
  EXPECT_EQ(stats.closed_slow_consumer, 1u);
  EXPECT_EQ(received.load(), sent);
  EXPECT_TRUE(eventually([&] { return hub->members("feed").size() == 1; }));
  EXPECT_LE(stats.queued_bytes, 256u * 1024 + kWindow * (kBodyBytes + 64));
}

// ------------------------------------------------------------------ the upgrade

std::string upgrade_request(std::string_view key) {
  return "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: " +
         std::string(key) + "\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

// A client's binary WebSocket frame (masked, as RFC 6455 requires).
std::string masked_frame(std::string_view payload) {
  std::string out(1, '\x82');
  if (payload.size() < 126) {
    out += static_cast<char>(0x80 | payload.size());
  } else {
    out += '\xfe';
    out += static_cast<char>(payload.size() >> 8);
    out += static_cast<char>(payload.size() & 0xff);
  }
  const char mask[4] = {'\x12', '\x34', '\x56', '\x78'};
  out.append(mask, 4);
  for (std::size_t i = 0; i < payload.size(); ++i) out += payload[i] ^ mask[i % 4];
  return out;
}

// The msgpack frames of the (unmasked, unfragmented) binary WebSocket
// messages after the HTTP answer in `bytes`; stops at an incomplete one.
std::vector<Frame> frames_after_http(const std::string& bytes) {
  std::vector<Frame> out;
  std::size_t at = bytes.find("\r\n\r\n");
  if (at == std::string::npos) return out;
  at += 4;
  while (at + 2 <= bytes.size() && bytes[at] == '\x82') {
    std::size_t len = static_cast<unsigned char>(bytes[at + 1]);
    std::size_t head = 2;
    if (len == 126) {
      if (at + 4 > bytes.size()) break;
      len = (static_cast<unsigned char>(bytes[at + 2]) << 8) |
            static_cast<unsigned char>(bytes[at + 3]);
      head = 4;
    }
    if (len > 126 || at + head + len > bytes.size()) break;
    std::size_t offset = 0;
    const char* payload = bytes.data() + at + head;
    while (offset < len) out.emplace_back(msgpack::unpack(payload, len, offset));
    at += head + len;
  }
  return out;
}

TEST(WsHubUpgrade, FramesSentInTheSameWriteAsTheUpgradeAreRead) {
  auto hub = make_hub("ws-early-hello");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  // One write: the upgrade, the hello and a join. (The members are counted
  // while the connection is still open.)
  std::size_t members = 0;
  std::optional<std::string> answer = tcp_exchange(gateway->port(),
                                                   upgrade_request("dGhlIHNhbXBsZSBub25jZQ==") +
                                                       masked_frame(hello_frame("early")) +
                                                       masked_frame(frame(kJoin, 1, "room", false)),
                                                   [&](const std::string& response) {
                                                     if (frames_after_http(response).size() < 2)
                                                       return false;
                                                     members = hub->members("room").size();
                                                     return true;
                                                   });
  ASSERT_TRUE(answer);
  const std::string& response = *answer;
  ASSERT_EQ(response.rfind("HTTP/1.1 101", 0), 0u) << response;
  std::vector<Frame> frames = frames_after_http(response);
  ASSERT_EQ(frames.size(), 2u) << response;
  EXPECT_EQ(frames[0].op(), kWelcome) << frames[0].text();
  EXPECT_EQ(frames[0].s(2), "early");
  EXPECT_TRUE(is_reply(std::optional<Frame>(std::move(frames[1])), 1, 0));
  EXPECT_EQ(members, 1u);
}

TEST(WsHubUpgrade, ASecWebSocketKeyThatIsNotSixteenBytesGets400) {
  auto hub = make_hub("ws-bad-key");
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub);
  ASSERT_NE(gateway, nullptr);
  for (const std::string key : {"abc", "dGhlIHNhbXBsZSBub25jZQ", "AAAAAAAAAAAAAAAAAAAA",
                                "dGhlIHNhbXBsZSBub25jZQ=!", "dGhlIHNhbXBsZSBub25j*Q=="}) {
    std::optional<std::string> answer = http_exchange(gateway->port(), upgrade_request(key));
    ASSERT_TRUE(answer) << key;
    EXPECT_EQ(answer->rfind("HTTP/1.1 400", 0), 0u) << key << ": " << *answer;
    EXPECT_NE(answer->find("Sec-WebSocket-Key must be the base64 of 16 bytes"), std::string::npos)
        << *answer;
  }
  EXPECT_EQ(gateway->stats().accepted, 0u);
  EXPECT_GE(gateway->stats().refused, 5u);
}

}  // namespace
}  // namespace herald::ws_test
