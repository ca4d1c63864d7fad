// zmq:// over CURVE (ZmqBrokerOptions::curve_secret_key, `herald broker
// --curve-secret`): clients given the broker's public key in the URL
// (?curve=KEY) connect and exchange messages; without it, or with another
// key, they never connect and say why; with sessions the token travels in
// the encrypted hello, never in clear text, and a key that brought no valid
// token cannot publish.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <mutex>
#include <stdexcept>
#include <string>

#include "herald/session_token.hpp"
#include "process.hpp"
#include "test_support.hpp"
#include "zmq_raw_peers.hpp"

namespace herald {
namespace {

using testing::Collector;
using testing::eventually;

CurveKeypair keypair() {
  absl::StatusOr<CurveKeypair> keys = make_curve_keypair();
  EXPECT_TRUE(keys.ok()) << keys.status();
  return keys.ok() ? *keys : CurveKeypair{};
}

std::string without_key(const std::string& url) { return url.substr(0, url.find('?')); }

// The refusal a connection reports (kUnauthenticated), after any
// kUnavailable of its first attempts; the last error if none comes.
absl::Status refusal(Realtime& rt) {
  auto mu = std::make_shared<std::mutex>();
  auto error = std::make_shared<absl::Status>();
  rt.on_error([mu, error](const absl::Status& s) {
    std::lock_guard lock(*mu);
    *error = s;
  });
  eventually([&] {
    std::lock_guard lock(*mu);
    return error->code() == absl::StatusCode::kUnauthenticated;
  });
  std::lock_guard lock(*mu);
  return *error;
}

TEST(ZmqCurve, AClientWithTheBrokersKeyExchangesMessages) {
  ASSERT_TRUE(zmq_has("curve"));
  const CurveKeypair broker_keys = keypair();
  auto broker = start_broker({.curve_secret_key = broker_keys.secret_key});
  EXPECT_EQ(broker->url(), without_key(broker->url()) + "?curve=" + broker_keys.public_key);
  auto a = connect(broker->url());
  auto b = connect(broker->url());
  Collector seen;
  b->on("hi", seen.listener());
  ASSERT_TRUE(b->join("room").ok());
  ASSERT_TRUE(a->send("room", "hi", std::string("over curve")).ok());
  ASSERT_TRUE(seen.wait_for(1));
  EXPECT_EQ(seen.all()[0].message.as<std::string>(), "over curve");
  absl::StatusOr<std::vector<Member>> members = a->get_members("room");
  ASSERT_TRUE(members.ok()) << members.status();
  EXPECT_EQ(members->size(), 1u);
}

TEST(ZmqCurve, AClientWithoutTheKeyOrWithAnotherNeverConnectsAndSaysWhy) {
  const CurveKeypair broker_keys = keypair();
  auto broker = start_broker({.curve_secret_key = broker_keys.secret_key});
  for (const std::string& url : {without_key(broker->url()),
                                 without_key(broker->url()) + "?curve=" + keypair().public_key}) {
    Realtime rt(url);
    const absl::Status error = refusal(rt);
    EXPECT_EQ(error.code(), absl::StatusCode::kUnauthenticated) << url << ": " << error;
    EXPECT_NE(std::string(error.message()).find("CURVE"), std::string::npos) << error;
    EXPECT_FALSE(rt.is_connected());
    EXPECT_EQ(rt.join("room").code(), absl::StatusCode::kUnauthenticated);
  }
  EXPECT_EQ(broker->stats().sessions, 0u);
}

TEST(ZmqCurve, AMalformedKeyInTheUrlIsAnInvalidArgument) {
  for (const std::string url : {"zmq://127.0.0.1:5555?curve=short", "zmq://127.0.0.1:5555?key=x",
                                "zmq://127.0.0.1:5555/path"}) {
    try {
      Realtime rt(url);
      ADD_FAILURE() << url << " was accepted";
    } catch (const std::invalid_argument& e) {
      EXPECT_NE(std::string(e.what()).find("curve"), std::string::npos) << e.what();
    }
  }
  ZmqBroker broker({.curve_secret_key = "not a key"});
  EXPECT_EQ(broker.start().code(), absl::StatusCode::kInvalidArgument);
}

TEST(ZmqCurve, WithSessionsTheTokenTravelsInTheEncryptedHello) {
  const std::string secret = "correct horse battery staple";
  const CurveKeypair broker_keys = keypair();
  auto broker =
      start_broker({.session_secret = secret, .curve_secret_key = broker_keys.secret_key});
  Options good;
  good.session = make_session_token(secret, "luke", std::chrono::hours(1));
  auto luke = connect(broker->url(), good);
  auto leia = connect(broker->url(), good);
  Collector seen;
  leia->on_any(seen.listener());
  ASSERT_TRUE(leia->join("rebels", false).ok());
  ASSERT_TRUE(luke->send("rebels", "hello", 1).ok());
  ASSERT_TRUE(seen.wait_for(1));

  for (const std::string& token : {std::string(), make_session_token("wrong", "vader", 1h)}) {
    Options bad;
    bad.session = token;
    Realtime vader(broker->url(), bad);
    const absl::Status error = refusal(vader);
    EXPECT_EQ(error.code(), absl::StatusCode::kUnauthenticated) << error;
    EXPECT_FALSE(vader.is_connected());
  }
  EXPECT_GT(broker->stats().auth_failures, 0u);

  // A raw publisher with a key of its own but no hello: the data sockets
  // never admit it.
  zmq::context_t ctx;
  const CurveKeypair raw_keys = keypair();
  RawPublisher raw(ctx, broker->port());
  for (zmq::socket_t* s : {&raw.pub, &raw.sub}) {
    s->set(zmq::sockopt::curve_serverkey, broker_keys.public_key);
    s->set(zmq::sockopt::curve_publickey, raw_keys.public_key);
    s->set(zmq::sockopt::curve_secretkey, raw_keys.secret_key);
  }
  // (The options apply to connections made after them: reconnect.)
  raw.pub.disconnect("tcp://127.0.0.1:" + std::to_string(broker->port() + 1));
  raw.pub.connect("tcp://127.0.0.1:" + std::to_string(broker->port() + 1));
  raw.sub.disconnect("tcp://127.0.0.1:" + std::to_string(broker->port() + 2));
  raw.sub.connect("tcp://127.0.0.1:" + std::to_string(broker->port() + 2));
  EXPECT_FALSE(raw.through(500ms));
}

// Runs `luke` and `leia` exchanging one message through a recording relay
// in front of `broker`; returns every byte the relay carried.
std::string traffic_through_relay(const ZmqBroker& broker, const Options& options) {
  const std::string log = ::testing::TempDir() + testing::unique_name("herald-relay");
  testing::Process relay({"/usr/bin/python3", HERALD_INTEGRATION_DIR "/python/tcp_relay.py",
                          std::to_string(broker.port()), "3", log});
  std::optional<std::string> port = relay.expect("relay ");
  EXPECT_TRUE(port.has_value());
  std::string url = broker.url();
  url.replace(url.find(':', 6) + 1, std::to_string(broker.port()).size(), port.value_or("0"));
  {
    auto luke = connect(url, options);
    auto leia = connect(url, options);
    Collector seen;
    leia->on("hi", seen.listener());
    EXPECT_TRUE(leia->join("room").ok());
    EXPECT_TRUE(luke->send("room", "hi", std::string("plain words")).ok());
    EXPECT_TRUE(seen.wait_for(1));
  }
  relay.signal(SIGTERM);
  relay.wait(5s);
  std::ifstream in(log, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::remove(log.c_str());
  return bytes;
}

TEST(ZmqCurve, TokensAndMessagesNeverTravelInClearText) {
  const std::string secret = "correct horse battery staple";
  Options options;
  options.session = make_session_token(secret, "luke", std::chrono::hours(1));
  {
    // Without CURVE (PLAIN), the token is on the wire: the relay sees it.
    auto plain = start_broker({.session_secret = secret});
    const std::string seen = traffic_through_relay(*plain, options);
    EXPECT_NE(seen.find(options.session), std::string::npos);
    EXPECT_NE(seen.find("plain words"), std::string::npos);
  }
  auto curve = start_broker({.session_secret = secret, .curve_secret_key = keypair().secret_key});
  const std::string seen = traffic_through_relay(*curve, options);
  EXPECT_GT(seen.size(), 1000u);
  EXPECT_EQ(seen.find(options.session), std::string::npos);
  EXPECT_EQ(seen.find("plain words"), std::string::npos);
  EXPECT_EQ(seen.find("room"), std::string::npos);
}

TEST(ZmqCurve, KeygenMakesAKeyTheBrokerCommandServesWith) {
  // (Named for this process: a run that failed midway leaves its file behind.)
  const std::string key_file =
      ::testing::TempDir() + testing::unique_name("herald-curve-key-" + std::to_string(::getpid()));
  testing::Process keygen({HERALD_CLI, "keygen", "--secret-out", key_file});
  std::optional<std::string> public_key = keygen.read_line(10s);
  ASSERT_TRUE(public_key.has_value());
  EXPECT_EQ(keygen.wait(), 0);
  EXPECT_EQ(public_key->size(), 40u);
  // Never overwrites a key.
  testing::Process again({HERALD_CLI, "keygen", "--secret-out", key_file});
  EXPECT_NE(again.wait(), 0);

  testing::Process broker(
      {HERALD_CLI, "broker", "--zmq", "tcp://127.0.0.1:0", "--curve-secret", key_file});
  std::optional<std::string> url = broker.expect("listening ");
  ASSERT_TRUE(url.has_value());
  EXPECT_NE(url->find("?curve=" + *public_key), std::string::npos) << *url;
  auto a = connect(*url);
  auto b = connect(*url);
  Collector seen;
  b->on("hi", seen.listener());
  ASSERT_TRUE(b->join("room").ok());
  ASSERT_TRUE(a->send("room", "hi", 1).ok());
  EXPECT_TRUE(seen.wait_for(1));
  std::remove(key_file.c_str());
}

}  // namespace
}  // namespace herald
