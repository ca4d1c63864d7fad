#include "proxy.hpp"

#include <chrono>
#include <cstring>
#include <vector>
#include <zmq_addon.hpp>

namespace herald::zmq_broker {

void run_proxy(zmq::socket_t xsub, zmq::socket_t xpub, zmq::socket_t control) {
  zmq_proxy_steerable(xsub.handle(), xpub.handle(), nullptr, control.handle());
}

bool wait_until_forwarded(zmq::context_t& ctx, zmq::socket_t& pub,
                          const std::string& xpub_endpoint) {
  zmq::socket_t probe(ctx, zmq::socket_type::sub);
  probe.set(zmq::sockopt::linger, 0);
  probe.connect(xpub_endpoint);
  probe.set(zmq::sockopt::subscribe, "x");
  for (int i = 0; i < 2000; ++i) {
    pub.send(zmq::buffer(std::string_view("x")), zmq::send_flags::dontwait);
    zmq::pollitem_t item{probe.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(5)) > 0) return true;
  }
  return false;
}

void read_proxy_stats(zmq::socket_t& proxy_control, BrokerCounters& counters) {
  proxy_control.send(zmq::buffer(std::string_view("STATISTICS")));
  std::vector<zmq::message_t> frames;
  if (!zmq::recv_multipart(proxy_control, std::back_inserter(frames)) || frames.size() != 8) {
    return;
  }
  auto value = [&](int i) {
    std::uint64_t v = 0;
    if (frames[i].size() == sizeof v) std::memcpy(&v, frames[i].data(), sizeof v);
    return v;
  };
  // frontend (XSUB) msgs in, bytes in, msgs out, bytes out; backend (XPUB) the same.
  counters.messages_in.store(value(0));
  counters.bytes_in.store(value(1));
  counters.messages_out.store(value(6));
  counters.bytes_out.store(value(7));
}

void terminate_proxy(zmq::socket_t& proxy_control) {
  try {
    proxy_control.send(zmq::buffer(std::string_view("TERMINATE")));
  } catch (const zmq::error_t&) {
  }
}

}  // namespace herald::zmq_broker
