#include "proxy.hpp"

#include <chrono>
#include <cstdint>

#include "herald/internal/envelope.hpp"
#include "herald/network/msgpack_io.hpp"
#include "wire/data.hpp"

namespace herald::zmq_broker {

namespace {

// Messages handled per socket and wake-up, so that no input starves the others.
constexpr int kBatch = 1024;

struct Tally {
  std::uint64_t messages_in = 0, bytes_in = 0, messages_out = 0, bytes_out = 0, forged = 0,
                malformed = 0;
  void publish(BrokerCounters& c) const {
    c.messages_in.fetch_add(messages_in, std::memory_order_relaxed);
    c.bytes_in.fetch_add(bytes_in, std::memory_order_relaxed);
    c.messages_out.fetch_add(messages_out, std::memory_order_relaxed);
    c.bytes_out.fetch_add(bytes_out, std::memory_order_relaxed);
    c.forged_dropped.fetch_add(forged, std::memory_order_relaxed);
    c.malformed_dropped.fetch_add(malformed, std::memory_order_relaxed);
  }
};

// Receives one data message into `message`; false when none is waiting. A
// message of more than one frame is read to its end and `multipart` set (the
// caller drops it): the XPUB only ever sends single frames (docs/PROTOCOL.md: libzmq may abort on a
// multipart message half written when its socket closes).
bool receive(zmq::socket_t& from, zmq::message_t& message, bool& multipart, Tally& tally) {
  if (!from.recv(message, zmq::recv_flags::dontwait)) return false;
  ++tally.messages_in;
  tally.bytes_in += message.size();
  multipart = message.more();
  while (message.more() && from.recv(message, zmq::recv_flags::none)) {
    tally.bytes_in += message.size();
  }
  return true;
}

// What the loop routes through: the blocking XPUB (with its holds) and the
// lossy one, which only gets data while some receiver subscribed there.
struct Outputs {
  zmq::socket_t& xpub;
  zmq::socket_t& lossy;
  Holds& holds;
  std::size_t lossy_topics = 0;  // topics subscribed at the lossy XPUB, notices aside
};

void pass_on(zmq::socket_t& from, Outputs& out, zmq::message_t& message, bool trusted, Tally& tally,
             Holds::Clock::time_point now) {
  bool multipart = false;
  for (int i = 0; i < kBatch && receive(from, message, multipart, tally); ++i) {
    if (multipart) {
      ++tally.malformed;
      continue;
    }
    absl::StatusOr<zmq_wire::Split> split = zmq_wire::split_topic(message.to_string_view());
    if (!split.ok()) {
      ++tally.malformed;
      continue;
    }
    if (!trusted &&
        (split->topic == zmq_wire::kHoldTopic || is_reserved_for_the_broker(split->rest))) {
      ++tally.forged;
      continue;
    }
    // (`topic` points into `message`: used by route before it moves it.)
    const std::string_view topic = split->topic;
    tally.bytes_out += message.size();
    ++tally.messages_out;
    if (out.lossy_topics > 0) {
      zmq::message_t copy;
      copy.copy(message);
      // A lossy XPUB never blocks: past a subscriber's high-water mark it drops.
      (void)out.lossy.send(copy, zmq::send_flags::dontwait);
    }
    out.holds.route(out.xpub, topic, message, now);
  }
}

// Subscriptions reach the XPUB's filter as it reads them; what it hands up
// is not needed (every publisher already sends everything) but must be read,
// or it would pile up.
void discard_subscriptions(zmq::socket_t& xpub) {
  zmq::message_t m;
  for (int i = 0; i < kBatch && xpub.recv(m, zmq::recv_flags::dontwait); ++i) {
  }
}

}  // namespace

bool is_reserved_for_the_broker(std::string_view message) {
  network::MsgpackIn in(message);
  std::uint32_t n = 0;
  std::uint64_t version = 0, kind = 0;
  std::string_view channel, event;
  if (!in.array_header(n) || n != 7 || !in.uint(version) || !in.uint(kind)) return false;
  using internal::EnvelopeKind;
  if (kind == static_cast<std::uint64_t>(EnvelopeKind::join) ||
      kind == static_cast<std::uint64_t>(EnvelopeKind::leave) ||
      kind == static_cast<std::uint64_t>(EnvelopeKind::update)) {
    return true;
  }
  if (!in.nil() && !in.str(channel)) return false;
  return in.str(event) && event.starts_with("channel:");
}

// The lossy XPUB hands up each topic's first subscription and last
// unsubscription (0x01 / 0x00 + topic): counted, so that the loop copies
// data there only while a receiver wants it.
void read_lossy_subscriptions(zmq::socket_t& lossy, std::size_t& topics) {
  zmq::message_t m;
  for (int i = 0; i < kBatch && lossy.recv(m, zmq::recv_flags::dontwait); ++i) {
    const std::string_view s = m.to_string_view();
    if (s.empty() || s.substr(1) == zmq_wire::kHoldTopic) continue;
    if (s.front() == 1) {
      ++topics;
    } else if (s.front() == 0 && topics > 0) {
      --topics;
    }
  }
}

void run_proxy(DataSockets s, FlowLimits limits, BrokerCounters& counters) {
  zmq::message_t message;
  Holds holds(limits, counters);
  Outputs out{s.xpub, s.lossy, holds};
  try {
    for (;;) {
      // Past the budget of what may wait, publishers wait in their sockets
      // (TCP pushes back) until the full receivers drained some.
      const short publishers = holds.over_budget() ? 0 : ZMQ_POLLIN;
      zmq::pollitem_t items[] = {{s.publishers.handle(), 0, publishers, 0},
                                 {s.presence.handle(), 0, ZMQ_POLLIN, 0},
                                 {s.xpub.handle(), 0, ZMQ_POLLIN, 0},
                                 {s.lossy.handle(), 0, ZMQ_POLLIN, 0},
                                 {s.control.handle(), 0, ZMQ_POLLIN, 0}};
      // While something waits, retry every millisecond.
      zmq::poll(items, 5, std::chrono::milliseconds(holds.waiting() ? 1 : -1));
      if (items[4].revents & ZMQ_POLLIN) return;  // TERMINATE
      const auto now = Holds::Clock::now();
      if (holds.waiting()) holds.retry(s.xpub, now);
      Tally tally;
      if (items[3].revents & ZMQ_POLLIN) read_lossy_subscriptions(s.lossy, out.lossy_topics);
      if (items[1].revents & ZMQ_POLLIN) pass_on(s.presence, out, message, true, tally, now);
      if (items[0].revents & ZMQ_POLLIN) pass_on(s.publishers, out, message, false, tally, now);
      if (items[2].revents & ZMQ_POLLIN) discard_subscriptions(s.xpub);
      holds.announce(s.lossy, now);
      tally.publish(counters);
    }
  } catch (const zmq::error_t&) {
    // The context is closing.
  }
}

bool wait_until_forwarded(zmq::context_t& ctx, zmq::socket_t& pub,
                          const std::string& xpub_endpoint) {
  zmq::socket_t probe(ctx, zmq::socket_type::sub);
  probe.set(zmq::sockopt::linger, 0);
  probe.connect(xpub_endpoint);
  // (A topic of its own, ending as every topic does: the loop routes by topic.)
  constexpr std::string_view kTopic = "x\xff";
  probe.set(zmq::sockopt::subscribe, kTopic);
  for (int i = 0; i < 2000; ++i) {
    pub.send(zmq::buffer(kTopic), zmq::send_flags::dontwait);
    zmq::pollitem_t item{probe.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(5)) > 0) return true;
  }
  return false;
}

void terminate_proxy(zmq::socket_t& proxy_control) {
  try {
    proxy_control.send(zmq::buffer(std::string_view("TERMINATE")));
  } catch (const zmq::error_t&) {
  }
}

}  // namespace herald::zmq_broker
