// The broker's data path: libzmq's own steerable XSUB/XPUB proxy, and the
// few things the broker asks of it (is it forwarding, its statistics, stop).
#pragma once

#include <string>
#include <zmq.hpp>

#include "counters.hpp"

namespace herald::zmq_broker {

// Runs the proxy until TERMINATE arrives on `control` (a REP).
void run_proxy(zmq::socket_t xsub, zmq::socket_t xpub, zmq::socket_t control);

// The presence publisher is a publisher like any other: true once what `pub`
// publishes comes out of the XPUB bound at `xpub_endpoint` (the XSUB's
// subscribe-all has reached it — the publisher-side slow joiner); false
// after about 10 s.
bool wait_until_forwarded(zmq::context_t& ctx, zmq::socket_t& pub,
                          const std::string& xpub_endpoint);

// Through the proxy's control socket (a REQ connected to its REP).
void read_proxy_stats(zmq::socket_t& proxy_control, BrokerCounters& counters);
void terminate_proxy(zmq::socket_t& proxy_control);

}  // namespace herald::zmq_broker
