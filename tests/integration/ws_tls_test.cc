// wss:// — the hub's TLS and the client's verification of it, on
// certificates this test makes (tests/support/tls_certificates.hpp): a
// trusted client meets mem:// and other wss:// clients on the same Hub; an
// untrusted certificate or a wrong name is a refusal that says why; a plain
// client on a TLS port fails and costs the TLS clients nothing; a TCP peer
// that never completes the TLS handshake is freed at the handshake timeout.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
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
using testing::eventually;
using testing::Process;
using testing::tls_files;
using testing::unique_name;

std::shared_ptr<Hub> fresh_hub() {
  auto hub = Hub::create(unique_name("ws-tls"));
  EXPECT_TRUE(hub.ok()) << hub.status();
  return hub.ok() ? *hub : nullptr;
}

WsGatewayOptions tls_options(std::string cert = tls_files().hub_cert,
                             std::string key = tls_files().hub_key) {
  WsGatewayOptions o;
  o.tls_certificate_file = std::move(cert);
  o.tls_private_key_file = std::move(key);
  return o;
}

std::unique_ptr<WsGateway> start_gateway(std::shared_ptr<Hub> hub, WsGatewayOptions options) {
  auto gateway = WsGateway::start(std::move(hub), std::move(options));
  EXPECT_TRUE(gateway.ok()) << gateway.status();
  return gateway.ok() ? *std::move(gateway) : nullptr;
}

Options trusting(std::string ca_file = tls_files().ca) {
  Options o;
  o.tls_ca_file = std::move(ca_file);
  o.reconnection_delay = 100ms;
  return o;
}

// A client that records its errors and reconnection attempts from the start.
struct Watched {
  explicit Watched(const std::string& url, Options options = trusting())
      : rt(std::make_unique<Realtime>(url, std::move(options))) {
    rt->on_error([state = state](const absl::Status& s) {
      std::lock_guard lock(state->mu);
      state->errors.push_back(s);
    });
    rt->on_reconnect_attempt([state = state](int) { ++state->attempts; });
    // A first connection error that came before on_error is not replayed
    // (refusals are): start over, now that the handlers are in place.
    rt->close();
    EXPECT_TRUE(rt->open().ok());
  }
  std::optional<absl::Status> first_error() {
    std::lock_guard lock(state->mu);
    if (state->errors.empty()) return std::nullopt;
    return state->errors.front();
  }
  bool wait_error() {
    return eventually([&] { return first_error().has_value(); });
  }
  struct State {
    std::mutex mu;
    std::vector<absl::Status> errors;
    std::atomic<int> attempts{0};
  };
  std::shared_ptr<State> state = std::make_shared<State>();
  std::unique_ptr<Realtime> rt;
};

std::unique_ptr<Realtime> connected(const std::string& url, Options options = trusting()) {
  auto rt = std::make_unique<Realtime>(url, std::move(options));
  EXPECT_TRUE(eventually([&] { return rt->is_connected(); })) << url;
  return rt;
}

// Two clients that can talk: a message sent by `from` on `channel` reaches `to`.
bool reaches(Realtime& from, Realtime& to, const std::string& channel, const std::string& text) {
  Collector seen;
  const ListenerId id = to.on(text, seen.listener());
  const bool sent = from.send(channel, text, text).ok();
  const bool got = sent && seen.wait_for(1);
  to.off(text, id);
  return got && seen.all().front().message.as<std::string>() == text &&
         seen.all().front().sender == from.get_socket_id();
}

// ---------------------------------------------------------------- talking

TEST(WsTls, AWssClientMeetsMemAndWssClientsOnTheSameHub) {
  auto hub = fresh_hub();
  ASSERT_NE(hub, nullptr);
  auto gateway = start_gateway(hub, tls_options());
  ASSERT_NE(gateway, nullptr);
  EXPECT_EQ(gateway->url(), "wss://127.0.0.1:" + std::to_string(gateway->port()));

  Realtime local("mem://" + std::string(hub->name()));
  auto a = connected(gateway->url());
  // By name: SNI and DNS-name verification (the certificate names localhost).
  auto b = connected("wss://localhost:" + std::to_string(gateway->port()));
  for (Realtime* rt : {&local, a.get(), b.get()}) ASSERT_TRUE(rt->join("room").ok());

  EXPECT_TRUE(reaches(*a, local, "room", "wss-to-mem"));
  EXPECT_TRUE(reaches(local, *a, "room", "mem-to-wss"));
  EXPECT_TRUE(reaches(*a, *b, "room", "wss-to-wss"));
  EXPECT_TRUE(reaches(*b, *a, "room", "wss-back"));
  auto members = local.get_members("room");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 3u);

  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.accepted, 2u);
  EXPECT_EQ(stats.tls_handshakes_failed, 0u);
}

TEST(WsTls, TheKeyMayBeInTheCertificateFile) {
  auto gateway = start_gateway(fresh_hub(), tls_options(tls_files().hub_combined, ""));
  ASSERT_NE(gateway, nullptr);
  auto a = connected(gateway->url());
  auto b = connected(gateway->url());
  ASSERT_TRUE(a->join("r").ok());
  ASSERT_TRUE(b->join("r").ok());
  EXPECT_TRUE(reaches(*a, *b, "r", "combined"));
}

// ---------------------------------------------------------------- refusals

// An untrusted chain, or a trusted one for another name: the client never
// connects, says why (kUnauthenticated), and does not try again.
TEST(WsTls, ACertificateThatDoesNotVerifyIsARefusalThatSaysWhy) {
  struct Case {
    std::string cert, key, trust, url_host, why;
  };
  const testing::TlsFiles& f = tls_files();
  const std::vector<Case> cases = {
      {f.self_signed_cert, f.self_signed_key, f.ca, "127.0.0.1", "self-signed"},
      {f.hub_cert, f.hub_key, f.self_signed_cert, "127.0.0.1", "local issuer"},
      {f.other_name_cert, f.other_name_key, f.ca, "127.0.0.1", "IP address mismatch"},
      {f.other_name_cert, f.other_name_key, f.ca, "localhost", "hostname mismatch"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.why);
    auto gateway = start_gateway(fresh_hub(), tls_options(c.cert, c.key));
    ASSERT_NE(gateway, nullptr);
    Watched client("wss://" + c.url_host + ":" + std::to_string(gateway->port()),
                   trusting(c.trust));
    ASSERT_TRUE(client.wait_error());
    const absl::Status error = *client.first_error();
    EXPECT_EQ(error.code(), absl::StatusCode::kUnauthenticated) << error;
    EXPECT_NE(error.message().find("does not verify"), std::string::npos) << error;
    EXPECT_NE(error.message().find(c.why), std::string::npos) << error;
    EXPECT_NE(error.message().find(c.trust), std::string::npos) << error;
    EXPECT_FALSE(client.rt->is_connected());
    EXPECT_EQ(client.rt->join("room").code(), absl::StatusCode::kUnauthenticated);
    EXPECT_EQ(client.rt->send("room", "e", 1).code(), absl::StatusCode::kUnauthenticated);
    std::this_thread::sleep_for(500ms);  // five reconnection delays: none is attempted
    EXPECT_EQ(client.state->attempts.load(), 0);
    EXPECT_EQ(gateway->stats().accepted, 0u);
  }
}

TEST(WsTls, APlainClientOnATlsPortFailsAndTheTlsClientsGoOn) {
  auto gateway = start_gateway(fresh_hub(), tls_options());
  ASSERT_NE(gateway, nullptr);
  auto a = connected(gateway->url());
  auto b = connected(gateway->url());
  ASSERT_TRUE(a->join("r").ok());
  ASSERT_TRUE(b->join("r").ok());

  Options plain_options;
  plain_options.reconnection_delay = 50ms;
  Watched plain("ws://127.0.0.1:" + std::to_string(gateway->port()), plain_options);
  ASSERT_TRUE(plain.wait_error());
  EXPECT_EQ(plain.first_error()->code(), absl::StatusCode::kUnavailable) << *plain.first_error();
  EXPECT_FALSE(plain.rt->is_connected());
  ASSERT_TRUE(eventually([&] { return gateway->stats().tls_handshakes_failed >= 2; }));

  EXPECT_TRUE(reaches(*a, *b, "r", "still-here"));
  EXPECT_TRUE(reaches(*b, *a, "r", "and-back"));
  plain.rt->close();
  const WsGatewayStats stats = gateway->stats();
  EXPECT_EQ(stats.accepted, 2u);
  EXPECT_GE(stats.refused, stats.tls_handshakes_failed);
}

// A wss:// client on a plain hub: no TLS answer, retried like a hub that is
// not there (not a refusal: no certificate was ever seen).
TEST(WsTls, AWssClientOnAPlainHubIsNotConnectedAndRetries) {
  auto gateway = start_gateway(fresh_hub(), {});
  ASSERT_NE(gateway, nullptr);
  Watched client("wss://127.0.0.1:" + std::to_string(gateway->port()));
  ASSERT_TRUE(client.wait_error());
  EXPECT_EQ(client.first_error()->code(), absl::StatusCode::kUnavailable) << *client.first_error();
  EXPECT_NE(client.first_error()->message().find("TLS handshake failed"), std::string::npos)
      << *client.first_error();
  EXPECT_TRUE(eventually([&] { return client.state->attempts.load() >= 2; }));
  EXPECT_FALSE(client.rt->is_connected());
}

// Slowloris on the TLS handshake: a TCP connection that sends nothing, and
// one that sends half a ClientHello, are both closed by the hub.
TEST(WsTls, ATlsHandshakeNeverCompletedIsFreedAtTheHandshakeTimeout) {
  WsGatewayOptions options = tls_options();
  options.handshake_timeout = 300ms;
  auto gateway = start_gateway(fresh_hub(), options);
  ASSERT_NE(gateway, nullptr);
  auto silent_peer = [&](std::string_view first_bytes) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(gateway->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    if (!first_bytes.empty()) {
      EXPECT_EQ(::send(fd, first_bytes.data(), first_bytes.size(), 0),
                static_cast<ssize_t>(first_bytes.size()));
    }
    return fd;
  };
  // A TLS record header announcing a 512-byte handshake message, then nothing.
  const std::string half_hello("\x16\x03\x01\x02\x00\x01\x00\x01\xfc", 9);
  const std::vector<int> peers = {silent_peer(""), silent_peer(half_hello)};
  for (const int fd : peers) {
    // The hub ends the connection: EOF (or a reset) within the patience.
    pollfd p{.fd = fd, .events = POLLIN, .revents = 0};
    ASSERT_EQ(
        ::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(testing::kPatience).count())), 1);
    char byte;
    EXPECT_LE(::recv(fd, &byte, 1, 0), 0);
    ::close(fd);
  }
  // (The timer closes the socket before the handshake's handler counts it.)
  ASSERT_TRUE(eventually([&] { return gateway->stats().tls_handshakes_failed == 2; }));
  EXPECT_EQ(gateway->stats().closed_idle, 2u);
  auto after = connected(gateway->url());  // and the hub serves on
  EXPECT_TRUE(after->join("r").ok());
}

// ---------------------------------------------------------------- configuration

TEST(WsTls, FilesThatCannotBeUsedAreNamed) {
  const testing::TlsFiles& f = tls_files();
  struct Case {
    std::string cert, key, names;
  };
  for (const Case& c :
       std::vector<Case>{{"/nonexistent/hub.pem", "", "/nonexistent/hub.pem"},
                         {f.hub_cert, "/nonexistent/hub.key", "/nonexistent/hub.key"},
                         {f.hub_key, f.hub_key, f.hub_key},
                         {f.hub_cert, f.self_signed_key, "mismatch"},
                         {"", f.hub_key, "tls_private_key_file"}}) {
    auto gateway = WsGateway::start(fresh_hub(), tls_options(c.cert, c.key));
    ASSERT_FALSE(gateway.ok()) << c.cert << " " << c.key;
    EXPECT_EQ(gateway.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(gateway.status().message().find(c.names), std::string::npos) << gateway.status();
  }
  try {
    Realtime rt("wss://127.0.0.1:1", trusting("/nonexistent/ca.pem"));
    ADD_FAILURE() << "a CA file that does not exist was accepted";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ca.pem"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- the CLI

TEST(WsTlsCli, HubPubAndSubSpeakWss) {
  const testing::TlsFiles& f = tls_files();
  Process hub(
      {HERALD_CLI, "hub", "--ws", "127.0.0.1:0", "--tls-cert", f.hub_cert, "--tls-key", f.hub_key});
  const std::optional<std::string> port = hub.expect("listening wss://127.0.0.1:");
  ASSERT_TRUE(port.has_value()) << "herald hub did not start with TLS";
  const std::string url = "wss://127.0.0.1:" + *port;
  Process sub({HERALD_CLI, "sub", url, "news", "--count", "1", "--tls-ca", f.ca});
  auto watcher = connected(url);
  ASSERT_TRUE(eventually([&] {  // until the subscriber is in
    auto members = watcher->get_members("news");
    return members.ok() && members->size() == 1;
  }));
  Process pub({HERALD_CLI, "pub", url, "news", "headline", R"({"n":1})", "--tls-ca", f.ca});
  EXPECT_EQ(pub.wait(), std::optional<int>(0));
  const std::optional<std::string> line = sub.read_line();
  ASSERT_TRUE(line.has_value());
  EXPECT_NE(line->find(R"("event":"headline")"), std::string::npos) << *line;
  EXPECT_NE(line->find(R"("message":{"n":1})"), std::string::npos) << *line;
  EXPECT_EQ(sub.wait(), std::optional<int>(0));

  // Without the CA (the system's store does not know it): refused, exit 1.
  Process untrusting({HERALD_CLI, "sub", url, "news"});
  EXPECT_EQ(untrusting.wait(), std::optional<int>(1));
  hub.signal(SIGTERM);
  EXPECT_EQ(hub.wait(10s), std::optional<int>(0));

  Process key_alone({HERALD_CLI, "hub", "--ws", "127.0.0.1:0", "--tls-key", f.hub_key});
  EXPECT_EQ(key_alone.wait(10s), std::optional<int>(2));  // a usage error
  Process no_cert({HERALD_CLI, "hub", "--ws", "127.0.0.1:0", "--tls-cert", "/nonexistent/c.pem"});
  EXPECT_EQ(no_cert.wait(10s), std::optional<int>(1));  // cannot start
}

}  // namespace
}  // namespace herald
