// The broker's data path: publishers' messages (XSUB) and the broker's own
// presence events go out through the XPUB, each exactly as libzmq received
// it. Unlike zmq_proxy, it looks at each publisher's message first: one of
// more than one frame, or without a topic, is dropped (malformed_dropped);
// presence envelopes (kinds 2-4) and "channel:" events come only from the
// broker, so a publisher's are dropped too (forged_dropped; docs/PROTOCOL.md,
// "zmq://"). Anything else is forwarded as it is: receivers validate and count.
#pragma once

#include <string>
#include <string_view>
#include <zmq.hpp>

#include "counters.hpp"
#include "holds.hpp"

namespace herald::zmq_broker {

struct DataSockets {
  zmq::socket_t publishers;  // XSUB: every client's PUB (untrusted)
  zmq::socket_t presence;    // XSUB (inproc): the broker's own PUB
  zmq::socket_t xpub;        // P+2: receivers that block (ZMQ_XPUB_NODROP; holds.hpp)
  zmq::socket_t lossy;       // P+3: receivers that drop, and the hold notices
  zmq::socket_t control;     // REP: "TERMINATE" ends the loop
};

// Runs the loop until TERMINATE arrives on `control`; counts messages and
// bytes in and out, and messages dropped, in `counters`.
// Messages for a full receiver wait at the broker (holds.hpp, `limits`).
void run_proxy(DataSockets sockets, FlowLimits limits, BrokerCounters& counters);

// What the lossy XPUB hands up: counts the topics subscribed there (not the
// hold notices'), in `topics`.
void read_lossy_subscriptions(zmq::socket_t& lossy, std::size_t& topics);

// True when a publisher's data message (what follows its topic) claims what only
// the broker may publish: a presence kind, or an event named "channel:...".
bool is_reserved_for_the_broker(std::string_view message);

// The presence publisher is a publisher like any other: true once what `pub`
// publishes comes out of the XPUB bound at `xpub_endpoint` (the XSUB's
// subscribe-all has reached it — the publisher-side slow joiner); false
// after about 10 s.
bool wait_until_forwarded(zmq::context_t& ctx, zmq::socket_t& pub,
                          const std::string& xpub_endpoint);

// Through the loop's control socket (a REQ connected to its REP).
void terminate_proxy(zmq::socket_t& proxy_control);

}  // namespace herald::zmq_broker
