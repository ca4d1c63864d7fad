// ws:// interop: programs in other languages, using nothing but common
// WebSocket and msgpack libraries, speak the herald hub's native protocol
// (docs/PROTOCOL.md, "ws://") with each other and with herald's C++ client.
//
//   python/ws_peer.py  — Python: websockets + msgpack (Debian python3-websockets,
//                        python3-msgpack), run by /usr/bin/python3
//   node/ws_peer.mjs   — Node: npm ws + @msgpack/msgpack (package-lock.json at
//                        the repository root; scripts/setup.sh runs npm ci)
//
// Both peers run the same script (see the top of either file): hello, join,
// wait until the channel has everyone (members), send a map with a string,
// binary bytes and a nested array, broadcast, send a burst of 50 frames in
// one WebSocket message, then receive everybody else's and print what they
// got as canonical JSON. The test compares every line with what the sender
// sent, and the C++ client compares the exact msgpack bytes it receives:
// the hub forwards bodies unchanged. Each test runs over ws:// and over
// wss:// (a certificate made by the test; the peers trust its CA through
// SSL_CERT_FILE / NODE_EXTRA_CA_CERTS, the C++ client through
// Options::tls_ca_file).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "herald/herald.hpp"
#include "herald/websocket/gateway.hpp"
#include "process.hpp"
#include "test_support.hpp"
#include "tls_certificates.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::Process;
using testing::Received;

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kNode = "node";
constexpr const char* kChannel = "interop";
constexpr int kBurst = 50;
constexpr auto kLineWait = 30s;

// ---------------------------------------------------------------- the bodies
// The same values as body() and broadcast_body() in the peers.

using Nested = std::tuple<int, std::tuple<int, std::tuple<int, std::string>>,
                          std::map<std::string, std::optional<int>>, bool, double>;

struct PeerBody {
  std::string from;
  std::string text;
  Bytes blob;
  Nested nested;
  MSGPACK_DEFINE_MAP(from, text, blob, nested)
};

struct Flags {
  Bytes bin;
  bool ok = false;
  MSGPACK_DEFINE_MAP(bin, ok)
};

using BroadcastBody =
    std::tuple<std::string, Flags, std::tuple<std::vector<int>, std::map<std::string, int>>>;

Bytes blob_of(const std::string& name) {
  Bytes out;
  for (std::size_t i = 0; i < 300; ++i)
    out.push_back(static_cast<std::byte>((i * 7 + name.size()) % 256));
  return out;
}

PeerBody body_of(const std::string& name) {
  return {name, "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x9a\x80 from " + name, blob_of(name),
          Nested{1, {2, {3, name}}, {{"k", std::nullopt}, {"n", -7}}, true, 1.5}};
}

BroadcastBody broadcast_body_of(const std::string& name) {
  return {name,
          Flags{{std::byte{0}, std::byte{255}, std::byte{128}, static_cast<std::byte>(name.size())},
                true},
          {{}, {}}};
}

std::string hex(std::span<const std::byte> bytes) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (std::byte b : bytes) {
    const auto v = std::to_integer<unsigned>(b);
    out.push_back(kDigits[v >> 4]);
    out.push_back(kDigits[v & 0xf]);
  }
  return out;
}

// How the peers print them: canonical JSON (sorted keys, ASCII, bin as {"$bin": hex}).
std::string canonical_body(const std::string& name) {
  return R"({"blob":{"$bin":")" + hex(blob_of(name)) + R"("},"from":")" + name +
         R"(","nested":[1,[2,[3,")" + name +
         R"("]],{"k":null,"n":-7},true,1.5],"text":"h\u00e9llo \u2713 \ud83d\ude80 from )" + name +
         R"("})";
}

std::string canonical_broadcast_body(const std::string& name) {
  return R"([")" + name + R"(",{"bin":{"$bin":")" + hex(std::get<1>(broadcast_body_of(name)).bin) +
         R"("},"ok":true},[[],{}]])";
}

// ---------------------------------------------------------------- a peer process

// One peer's output, line by line: "welcome", "joined", "members", "got",
// "burst", "presence", "done" (see the peers' documentation).
struct PeerReport {
  std::string name;
  std::string id;
  std::string welcome;  // after the id: "<max_message_bytes> <ping_interval_ms>"
  std::set<std::string> members;
  std::map<std::string, std::string> got;             // event → the rest of its "got" line
  std::map<std::string, std::pair<int, int>> bursts;  // sender name → (frames, messages)
  std::vector<std::string> presence;
  bool done = false;
};

class Peer {
 public:
  Peer(std::string name, std::vector<std::string> argv) : name_(std::move(name)) {
    process_ = std::make_unique<Process>(std::move(argv));
    report_.name = name_;
  }

  // Reads lines until one starts with `word` (recording everything read);
  // false at EOF or after kLineWait.
  bool read_until(const std::string& word) {
    while (auto line = process_->read_line(kLineWait)) {
      lines_.push_back(*line);
      const std::string head = line->substr(0, line->find(' '));
      const std::string rest = line->size() > head.size() ? line->substr(head.size() + 1) : "";
      if (head == "welcome") {
        report_.id = rest.substr(0, rest.find(' '));
        report_.welcome = rest.substr(rest.find(' ') + 1);
      } else if (head == "members") {
        std::istringstream words(rest);
        for (std::string w; words >> w;) report_.members.insert(w);
      } else if (head == "got") {
        // "<kind> <channel> <event> <sender> <body>": keyed by the event.
        std::istringstream words(rest);
        std::string kind, channel, event;
        words >> kind >> channel >> event;
        report_.got[event] = rest;
      } else if (head == "burst") {
        std::istringstream words(rest);
        std::string from;
        int frames = 0, messages = 0;
        words >> from >> frames >> messages;
        report_.bursts[from] = {frames, messages};
      } else if (head == "presence") {
        report_.presence.push_back(rest);
      } else if (head == "done") {
        report_.done = true;
      }
      if (head == word) return true;
    }
    return false;
  }

  const PeerReport& report() const { return report_; }
  std::string transcript() const {
    std::string out;
    for (const auto& l : lines_) out += "  " + name_ + "> " + l.substr(0, 300) + "\n";
    return out;
  }
  std::optional<int> wait() { return process_->wait(kLineWait); }

 private:
  std::string name_;
  std::unique_ptr<Process> process_;
  std::vector<std::string> lines_;
  PeerReport report_;
};

// The parameter: over TLS (wss://) or not.
class WsInterop : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    // scripts/setup.sh installs both: python3-websockets, python3-msgpack, npm ci.
    ASSERT_EQ(::access(kPython, X_OK), 0) << kPython << " not found (run scripts/setup.sh)";
    const std::string ws_package =
        std::string(HERALD_INTEGRATION_DIR) + "/../../node_modules/ws/package.json";
    ASSERT_EQ(::access(ws_package.c_str(), R_OK), 0)
        << ws_package << " not found (run scripts/setup.sh, which runs npm ci)";
    auto hub = Hub::create(testing::unique_name("ws-interop"), {});
    ASSERT_TRUE(hub.ok()) << hub.status();
    // One I/O thread: a burst that arrives in one WebSocket message is
    // routed in one go, so each receiver gets it coalesced.
    WsGatewayOptions options{.host = "127.0.0.1", .port = 0, .threads = 1};
    if (GetParam()) {
      options.tls_certificate_file = testing::tls_files().hub_combined;
      const std::string& ca = testing::tls_files().ca;
      peer_env_ = {"/usr/bin/env", "SSL_CERT_FILE=" + ca, "NODE_EXTRA_CA_CERTS=" + ca};
      cpp_options_.tls_ca_file = ca;
    }
    auto gateway = WsGateway::start(*hub, options);
    ASSERT_TRUE(gateway.ok()) << gateway.status();
    gateway_ = *std::move(gateway);
  }

  std::unique_ptr<Peer> python(int count, std::vector<std::string> from) {
    std::vector<std::string> argv = peer_env_;
    argv.insert(argv.end(), {kPython, std::string(HERALD_INTEGRATION_DIR) + "/python/ws_peer.py",
                             gateway_->url(), "python", kChannel, std::to_string(count)});
    argv.insert(argv.end(), from.begin(), from.end());
    return std::make_unique<Peer>("python", std::move(argv));
  }
  std::unique_ptr<Peer> node(int count, std::vector<std::string> from) {
    std::vector<std::string> argv = peer_env_;
    argv.insert(argv.end(), {kNode, std::string(HERALD_INTEGRATION_DIR) + "/node/ws_peer.mjs",
                             gateway_->url(), "node", kChannel, std::to_string(count)});
    argv.insert(argv.end(), from.begin(), from.end());
    return std::make_unique<Peer>("node", std::move(argv));
  }

  // What a peer reports receiving from `sender` (name → socket id).
  static void expect_received(const PeerReport& r, const std::string& sender,
                              const std::string& sender_id, bool peer_sender) {
    SCOPED_TRACE(r.name + " receiving from " + sender);
    EXPECT_EQ(r.got.count(sender + "-send"), 1u);
    if (r.got.count(sender + "-send")) {
      EXPECT_EQ(r.got.at(sender + "-send"), std::string("0 ") + kChannel + " " + sender + "-send " +
                                                sender_id + " " + canonical_body(sender));
    }
    if (sender == r.name) return;  // its own broadcast and burst had echo off
    ASSERT_EQ(r.got.count(sender + "-broadcast"), 1u);
    EXPECT_EQ(r.got.at(sender + "-broadcast"),
              "1 - " + sender + "-broadcast " + sender_id + " " + canonical_broadcast_body(sender));
    ASSERT_EQ(r.bursts.count(sender), 1u);
    EXPECT_EQ(r.bursts.at(sender).first, kBurst);
    if (peer_sender) {
      // Sent as one WebSocket message, routed at once: the hub coalesced it.
      EXPECT_LT(r.bursts.at(sender).second, kBurst);
    }
  }

  static void expect_welcome(const PeerReport& r) {
    EXPECT_EQ(r.id.rfind(r.name + "-", 0), 0u) << r.id;
    EXPECT_EQ(r.welcome, "1048576 15000");  // the hub's body limit, idle_timeout / 2
  }

  std::unique_ptr<WsGateway> gateway_;
  std::vector<std::string> peer_env_;  // wss://: the peers run under env, trusting the CA
  Options cpp_options_;
};

TEST_P(WsInterop, PythonAndNodePeersTalkToEachOther) {
  auto py = python(2, {"node"});
  ASSERT_TRUE(py->read_until("joined")) << py->transcript();
  auto js = node(2, {"python"});
  ASSERT_TRUE(py->read_until("done")) << py->transcript();
  ASSERT_TRUE(js->read_until("done")) << js->transcript();
  EXPECT_EQ(py->wait(), std::optional<int>(0)) << py->transcript();
  EXPECT_EQ(js->wait(), std::optional<int>(0)) << js->transcript();

  const PeerReport& p = py->report();
  const PeerReport& n = js->report();
  expect_welcome(p);
  expect_welcome(n);
  const std::set<std::string> members{p.id + R"(={"lang":"python"})", n.id + R"(={"lang":"node"})"};
  EXPECT_EQ(p.members, members);
  EXPECT_EQ(n.members, members);
  expect_received(p, "python", p.id, true);
  expect_received(p, "node", n.id, true);
  expect_received(n, "node", n.id, true);
  expect_received(n, "python", p.id, true);
  // Python joined first: it saw Node join, with Node's profile.
  EXPECT_NE(std::find(p.presence.begin(), p.presence.end(),
                      std::string("channel:join ") + kChannel +
                          R"( {"data":{"lang":"node"},"id":")" + n.id + R"("})"),
            p.presence.end())
      << py->transcript();

  const WsGatewayStats stats = gateway_->stats();
  EXPECT_EQ(stats.messages_routed, 2u * (2 + kBurst));
  EXPECT_EQ(stats.frame_errors, 0u);
  EXPECT_EQ(stats.closed_protocol, 0u);
  EXPECT_TRUE(testing::eventually([&] { return gateway_->stats().connections == 0; }));
}

TEST_P(WsInterop, PythonNodeAndTheCppClientTalkOnOneHub) {
  Realtime cpp(gateway_->url(), cpp_options_);
  Collector received;
  cpp.on_any(received.listener());
  ASSERT_TRUE(testing::eventually([&] { return cpp.is_connected(); })) << gateway_->url();
  ASSERT_TRUE(cpp.join(kChannel).ok());
  const std::string cpp_id = cpp.get_socket_id();

  auto py = python(3, {"node", "cpp"});
  ASSERT_TRUE(py->read_until("joined")) << py->transcript();
  auto js = node(3, {"python", "cpp"});
  // Both list all three members before anyone sends.
  ASSERT_TRUE(py->read_until("members")) << py->transcript();
  ASSERT_TRUE(js->read_until("members")) << js->transcript();
  const PeerReport& p = py->report();
  const PeerReport& n = js->report();
  const std::set<std::string> members{p.id + R"(={"lang":"python"})", n.id + R"(={"lang":"node"})",
                                      cpp_id + "=null"};
  EXPECT_EQ(p.members, members);
  EXPECT_EQ(n.members, members);
  auto cpp_members = cpp.get_members(kChannel);
  ASSERT_TRUE(cpp_members.ok()) << cpp_members.status();
  std::map<std::string, std::string> profiles;
  for (const Member& m : *cpp_members) profiles[m.id] = m.data.to_json();
  EXPECT_EQ(profiles,
            (std::map<std::string, std::string>{
                {p.id, R"({"lang":"python"})"}, {n.id, R"({"lang":"node"})"}, {cpp_id, "null"}}));

  // The C++ client sends what the peers send.
  ASSERT_TRUE(cpp.send(kChannel, "cpp-send", body_of("cpp")).ok());
  ASSERT_TRUE(cpp.broadcast("cpp-broadcast", broadcast_body_of("cpp"), false).ok());
  for (int i = 0; i < kBurst; ++i) {
    ASSERT_TRUE(
        cpp.send(kChannel, "cpp-burst", std::make_tuple(i, std::string("cpp")), false).ok());
  }

  ASSERT_TRUE(py->read_until("done")) << py->transcript();
  ASSERT_TRUE(js->read_until("done")) << js->transcript();
  EXPECT_EQ(py->wait(), std::optional<int>(0)) << py->transcript();
  EXPECT_EQ(js->wait(), std::optional<int>(0)) << js->transcript();
  expect_welcome(p);
  expect_welcome(n);
  for (const PeerReport* r : {&p, &n}) {
    expect_received(*r, "python", p.id, true);
    expect_received(*r, "node", n.id, true);
    expect_received(*r, "cpp", cpp_id, false);
  }

  // The C++ side: the peers' exact bytes, both ways.
  ASSERT_TRUE(received.wait_for_event("python-send") && received.wait_for_event("node-send") &&
              received.wait_for_event("python-broadcast") &&
              received.wait_for_event("node-broadcast"));
  ASSERT_TRUE(testing::eventually([&] {
    return received.count("python-burst") == kBurst && received.count("node-burst") == kBurst;
  })) << received.count("python-burst")
      << " " << received.count("node-burst");
  std::map<std::string, int> next_burst;
  for (const Received& r : received.all()) {
    SCOPED_TRACE(r.event + " " + r.message.to_json());
    for (const auto& [name, id] :
         std::vector<std::pair<std::string, std::string>>{{"python", p.id}, {"node", n.id}}) {
      if (r.event == name + "-send") {
        EXPECT_EQ(r.sender, id);
        EXPECT_EQ(r.channel, std::optional<std::string>(kChannel));
        EXPECT_EQ(hex(r.message.bytes()), hex(Message::of(body_of(name)).bytes()));
        const auto decoded = r.message.try_as<PeerBody>();
        ASSERT_TRUE(decoded.has_value());
        EXPECT_EQ(decoded->text, body_of(name).text);
        EXPECT_EQ(decoded->blob, blob_of(name));
      } else if (r.event == name + "-broadcast") {
        EXPECT_EQ(r.sender, id);
        EXPECT_EQ(r.channel, std::nullopt);
        EXPECT_EQ(hex(r.message.bytes()), hex(Message::of(broadcast_body_of(name)).bytes()));
      } else if (r.event == name + "-burst") {
        EXPECT_EQ(r.sender, id);
        const auto decoded = r.message.try_as<std::tuple<int, std::string>>();
        ASSERT_TRUE(decoded.has_value());
        EXPECT_EQ(*decoded, std::make_tuple(next_burst[name]++, name));
      } else if (r.event == "channel:join" && r.sender == id) {
        EXPECT_EQ(r.message.to_json(),
                  R"({"id":")" + id + R"(","data":{"lang":")" + name + R"("}})");
      }
    }
  }
  EXPECT_EQ(next_burst["python"], kBurst);
  EXPECT_EQ(next_burst["node"], kBurst);
  EXPECT_EQ(received.count("cpp-send"), 1u);       // echo on, a member
  EXPECT_EQ(received.count("cpp-broadcast"), 0u);  // echo off
  EXPECT_EQ(received.count("cpp-burst"), 0u);
  EXPECT_GE(received.count("channel:join"), 2u);

  const WsGatewayStats stats = gateway_->stats();
  EXPECT_EQ(stats.messages_routed, 3u * (2 + kBurst));
  EXPECT_EQ(stats.frame_errors, 0u);
  EXPECT_EQ(stats.closed_protocol, 0u);
  EXPECT_TRUE(cpp.is_connected());
}

INSTANTIATE_TEST_SUITE_P(Schemes, WsInterop, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "wss" : "ws";
                         });

}  // namespace
}  // namespace herald
