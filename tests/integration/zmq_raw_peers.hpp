// Raw ZeroMQ peers of a ZmqBroker for the zmq:// integration tests: they
// speak docs/PROTOCOL.md's frames directly, as a hostile or third-party
// peer would, with none of herald's client in between.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <msgpack.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>
#include <zmq.hpp>

#include "../../transports/zmq/src/wire/control.hpp"
#include "herald/herald.hpp"
#include "herald/zmq/broker.hpp"
#include "test_support.hpp"

namespace herald {

using namespace std::chrono_literals;

inline std::unique_ptr<ZmqBroker> start_broker(ZmqBrokerOptions options = {}) {
  auto broker = std::make_unique<ZmqBroker>(std::move(options));
  absl::Status s = broker->start();
  EXPECT_TRUE(s.ok()) << s;
  return broker;
}

inline std::unique_ptr<Realtime> connect(const std::string& url, Options options = {}) {
  auto rt = std::make_unique<Realtime>(url, options);
  EXPECT_TRUE(testing::eventually([&] { return rt->is_connected(); })) << url;
  return rt;
}

// A raw ZeroMQ publisher, made to pass the broker's subscribe-all first.
struct RawPublisher {
  RawPublisher(zmq::context_t& ctx, int port, const std::string& secret_token = "")
      : pub(ctx, zmq::socket_type::pub), sub(ctx, zmq::socket_type::sub) {
    for (zmq::socket_t* s : {&pub, &sub}) {
      s->set(zmq::sockopt::linger, 0);
      if (!secret_token.empty()) {
        s->set(zmq::sockopt::plain_username, "raw");
        s->set(zmq::sockopt::plain_password, secret_token);
      }
    }
    pub.connect("tcp://127.0.0.1:" + std::to_string(port + 1));
    sub.connect("tcp://127.0.0.1:" + std::to_string(port + 2));
  }
  // Probes until its own messages come back (or `limit` passes).
  bool through(std::chrono::milliseconds limit = 5s) {
    const std::string topic = "p" + testing::unique_name("raw") + "\xff";
    sub.set(zmq::sockopt::subscribe, topic);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
      pub.send(
          zmq::buffer(topic + std::string("\x97\x02\x05\xc0\xa5probe\xa3raw\xc2\x00\xc0", 17)));
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, 5ms) > 0) return true;
    }
    return false;
  }
  // A message of these frames (a data message is one: topic + header + body).
  void send(std::vector<std::string> frames) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      pub.send(zmq::buffer(frames[i]),
               i + 1 < frames.size() ? zmq::send_flags::sndmore : zmq::send_flags::none);
    }
  }
  zmq::socket_t pub;
  zmq::socket_t sub;
};

// A data message's header from "raw-peer" (PROTOCOL.md: [2, kind, channel,
// event, sender, echo, seq]); an empty channel is nil.
inline std::string header(std::string_view channel, std::string_view event, int kind = 0,
                          std::string_view sender = "raw-peer") {
  msgpack::sbuffer b;
  msgpack::packer<msgpack::sbuffer> pk(b);
  pk.pack_array(7);
  pk.pack(2);
  pk.pack(kind);
  if (channel.empty()) {
    pk.pack_nil();
  } else {
    pk.pack(channel);
  }
  pk.pack(event);
  pk.pack(sender);
  pk.pack(true);
  pk.pack(0);
  return std::string(b.data(), b.size());
}

// A raw control peer: a DEALER on the broker's control port.
struct RawControl {
  RawControl(zmq::context_t& ctx, int port) : dealer(ctx, zmq::socket_type::dealer) {
    dealer.set(zmq::sockopt::linger, 0);
    dealer.connect("tcp://127.0.0.1:" + std::to_string(port));
  }
  void send(std::string_view payload) { dealer.send(zmq::buffer(payload)); }
  // The next message from the broker, or nullopt after `limit`.
  std::optional<std::string> receive(std::chrono::milliseconds limit = 5s) {
    zmq::pollitem_t item{dealer.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, limit) <= 0) return std::nullopt;
    zmq::message_t m;
    if (!dealer.recv(m)) return std::nullopt;
    return m.to_string();
  }
  std::optional<std::string> request(std::string_view payload) {
    send(payload);
    return receive();
  }
  // Says hello as `socket_id`; true when welcomed.
  bool hello(std::string_view socket_id, std::string_view resume = "0123456789abcdef-raw",
             std::span<const std::string_view> channels = {}) {
    std::optional<std::string> r = request(zmq_wire::encode_hello(socket_id, resume, channels));
    zmq_wire::Control c;
    return r && zmq_wire::parse_reply(*r, c).ok() && c.command == zmq_wire::Command::welcome;
  }
  zmq::socket_t dealer;
};

}  // namespace herald
