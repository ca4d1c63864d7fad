// zmq:// interop: a Python program using nothing but pyzmq and msgpack
// (Debian's python3-zmq and python3-msgpack, run by /usr/bin/python3) speaks
// the wire format of docs/PROTOCOL.md with herald C++ clients through an
// embedded ZmqBroker — strings and binary data both ways, and malformed data
// from it is dropped and counted without disturbing the C++ client.
//
// The peer is python/zmq_peer.py; it never talks to the control socket, so
// it also proves the data path needs nothing but the documented frames and
// the probe handshake.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "herald/herald.hpp"
#include "herald/zmq/broker.hpp"
#include "process.hpp"
#include "test_support.hpp"

namespace herald {
namespace {

using namespace std::chrono_literals;
using testing::Collector;
using testing::Process;
using testing::Received;

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kChannel = "interop";
constexpr auto kLineWait = 10s;
constexpr auto kExitWait = 10s;

// What zmq_peer.py sends: PY_TEXT ("hello from python \u2713") and bytes(range(256)).
const std::string kPyText = "hello from python \xe2\x9c\x93";
// What the C++ side sends back.
const std::string kCppText = "hello from C++ \xc3\xbc \xe2\x9c\x93";

// The body both sides exchange: msgpack map {"text": str, "blob": bin}.
struct TextAndBlob {
  std::string text;
  Bytes blob;
  MSGPACK_DEFINE_MAP(text, blob)
};

Bytes all_byte_values() {
  Bytes out;
  for (int i = 0; i < 256; ++i) out.push_back(static_cast<std::byte>(i));
  return out;
}

// Every byte value, in a different order, and a length that is not a power of two.
Bytes cpp_blob() {
  Bytes out;
  for (int i = 0; i < 300; ++i) out.push_back(static_cast<std::byte>((255 - i * 7) & 0xff));
  return out;
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

// Splits off the first `n` space-separated words; the rest of the line
// (which may contain spaces) is the last element.
std::vector<std::string> split_words(const std::string& line, int n) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (int i = 0; i < n; ++i) {
    const std::size_t space = line.find(' ', pos);
    if (space == std::string::npos) break;
    out.push_back(line.substr(pos, space - pos));
    pos = space + 1;
  }
  out.push_back(line.substr(pos));
  return out;
}

std::optional<Received> find_event(const Collector& collector, const std::string& event) {
  for (const Received& r : collector.all()) {
    if (r.event == event) return r;
  }
  return std::nullopt;
}

class ZmqInterop : public ::testing::Test {
 protected:
  void SetUp() override {
    // scripts/setup.sh installs it, with python3-zmq and python3-msgpack.
    ASSERT_EQ(::access(kPython, X_OK), 0) << kPython << " not found (run scripts/setup.sh)";
  }

  // Starts the broker and a C++ client that has joined kChannel and records
  // everything it receives.
  void start(ZmqBrokerOptions options = {}) {
    options.endpoint = "tcp://127.0.0.1:0";
    broker_ = std::make_unique<ZmqBroker>(options);
    ASSERT_TRUE(broker_->start().ok());
    ASSERT_GT(broker_->port(), 0);
    client_ = std::make_unique<Realtime>(broker_->url());
    client_->on_any(received_.listener());
    ASSERT_TRUE(testing::eventually([&] { return client_->is_connected(); })) << broker_->url();
    ASSERT_TRUE(client_->join(kChannel).ok());
  }

  std::unique_ptr<Process> spawn_peer(std::vector<std::string> extra = {}) {
    std::vector<std::string> argv{kPython,
                                  std::string(HERALD_INTEGRATION_DIR) + "/python/zmq_peer.py",
                                  std::to_string(broker_->port()), kChannel};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return std::make_unique<Process>(std::move(argv));
  }

  // Checks the "py-event" the peer sent after its handshake.
  void expect_python_message(const std::string& python_id) {
    ASSERT_TRUE(received_.wait_for_event("py-event")) << "the C++ client never got py-event";
    const std::optional<Received> r = find_event(received_, "py-event");
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(r->channel, std::optional<std::string>(kChannel));
    EXPECT_EQ(r->sender, python_id);
    const auto body = r->message.try_as<TextAndBlob>();
    ASSERT_TRUE(body.has_value()) << "undecodable body: " << r->message.to_json();
    EXPECT_EQ(body->text, kPyText);
    EXPECT_EQ(hex(body->blob), hex(all_byte_values()));
    // Python's msgpack and msgpack-c both pick the shortest encodings, so the
    // bytes that crossed the wire are exactly what herald itself would send.
    EXPECT_EQ(hex(r->message.bytes()),
              hex(Message::of(TextAndBlob{kPyText, all_byte_values()}).bytes()))
        << r->message.to_json();
    EXPECT_NE(r->message.to_json().find("\"text\":\"hello from python"), std::string::npos)
        << r->message.to_json();
  }

  // Sends "cpp-event" and checks what the peer printed about it, then that it exited 0.
  void expect_python_receives_cpp_message(Process& peer) {
    ASSERT_TRUE(client_->send(kChannel, "cpp-event", TextAndBlob{kCppText, cpp_blob()}).ok());

    const std::optional<std::string> header = peer.expect("header ", kLineWait);
    ASSERT_TRUE(header.has_value()) << "the Python peer did not receive cpp-event";
    // kind 0 (message), the channel, echo on (Options::echo_messages), the
    // first message of this sender on this topic.
    EXPECT_EQ(*header, std::string("0 ") + kChannel + " true 1");

    const std::optional<std::string> got = peer.expect("got ", kLineWait);
    ASSERT_TRUE(got.has_value()) << "the Python peer did not report cpp-event";
    const std::vector<std::string> words = split_words(*got, 3);
    ASSERT_EQ(words.size(), 4u) << *got;
    EXPECT_EQ(words[0], "cpp-event");
    EXPECT_EQ(words[1], client_->get_socket_id());
    EXPECT_EQ(words[2], hex(cpp_blob()));
    EXPECT_EQ(words[3], kCppText);

    EXPECT_EQ(peer.wait(kExitWait), std::optional<int>(0));
  }

  std::unique_ptr<ZmqBroker> broker_;
  Collector received_;
  std::unique_ptr<Realtime> client_;
};

TEST_F(ZmqInterop, PythonPeerAndCppClientExchangeMessages) {
  ASSERT_NO_FATAL_FAILURE(start());
  auto peer = spawn_peer();

  const std::optional<std::string> python_id = peer->expect("ready ", kLineWait);
  ASSERT_TRUE(python_id.has_value()) << "the Python peer did not finish its probe handshake";
  EXPECT_EQ(python_id->size(), 20u);

  ASSERT_NO_FATAL_FAILURE(expect_python_message(*python_id));
  ASSERT_NO_FATAL_FAILURE(expect_python_receives_cpp_message(*peer));

  const Stats stats = client_->stats();
  EXPECT_EQ(stats.dropped_malformed, 0u);
  EXPECT_EQ(stats.lost_in_transit, 0u);
  EXPECT_TRUE(client_->is_connected());
}

TEST_F(ZmqInterop, MalformedDataFromPythonDoesNotDisturbCppClient) {
  // A small body limit, so that one of the malformed messages can be a
  // well-formed body the broker forwards (under its frame limit) but which
  // is over the limit the client learned in "welcome".
  constexpr std::size_t kMaxBody = 64 * 1024;
  ZmqBrokerOptions options;
  options.max_message_bytes = kMaxBody;
  ASSERT_NO_FATAL_FAILURE(start(options));
  auto peer = spawn_peer({"malformed", std::to_string(kMaxBody)});

  const std::optional<std::string> python_id = peer->expect("ready ", kLineWait);
  ASSERT_TRUE(python_id.has_value()) << "the Python peer did not finish its probe handshake";
  const std::optional<std::string> sent = peer->expect("sent-malformed ", kLineWait);
  ASSERT_TRUE(sent.has_value());
  const std::uint64_t malformed = std::stoull(*sent);
  EXPECT_GE(malformed, 20u);
  const std::optional<std::string> multipart = peer->expect("sent-multipart ", kLineWait);
  ASSERT_TRUE(multipart.has_value());

  // The valid message sent after them (seq 2) still arrives, and by then
  // (one publisher, one path: in order) every malformed one was seen and
  // dropped. Their headers say seq 5: had the client tracked it, seq 1 -> 5
  // would have counted as 3 messages lost.
  ASSERT_NO_FATAL_FAILURE(expect_python_message(*python_id));
  Stats stats = client_->stats();
  EXPECT_EQ(stats.dropped_malformed, malformed);
  // Messages of more than one frame never leave the broker.
  EXPECT_EQ(broker_->stats().malformed_dropped, std::stoull(*multipart));
  EXPECT_GE(std::stoull(*multipart), 3u);
  EXPECT_EQ(stats.lost_in_transit, 0u) << "a malformed message's seq must not be tracked";
  for (const Received& r : received_.all()) {
    const bool presence = r.event.rfind("channel:", 0) == 0;
    EXPECT_TRUE(presence || r.event == "py-before" || r.event == "py-event")
        << "unexpected delivery: " << r.event;
  }
  EXPECT_EQ(received_.count("py-before"), 1u);
  EXPECT_EQ(received_.count("py-event"), 1u);

  // The connection still works both ways.
  EXPECT_TRUE(client_->is_connected());
  ASSERT_NO_FATAL_FAILURE(expect_python_receives_cpp_message(*peer));
  stats = client_->stats();
  EXPECT_EQ(stats.dropped_malformed, malformed);
  // Messages of more than one frame never leave the broker.
  EXPECT_EQ(broker_->stats().malformed_dropped, std::stoull(*multipart));
  EXPECT_GE(std::stoull(*multipart), 3u);
}

}  // namespace
}  // namespace herald
