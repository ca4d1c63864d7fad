// The broker's first steps: read its endpoint, and bind the three sockets
// clients connect to (docs/PROTOCOL.md, "zmq://": P, P+1, P+2, P+3).
#pragma once

#include <string>
#include <zmq.hpp>

#include "absl/status/statusor.h"
#include "herald/zmq/broker.hpp"

namespace herald::zmq_broker {

struct Endpoint {
  std::string host;
  int port = 0;  // 0: any P with P+1, P+2 and P+3 free too
};

// tcp://HOST:PORT, PORT 0-65532; kInvalidArgument otherwise.
absl::StatusOr<Endpoint> parse_endpoint(const std::string& endpoint);

struct PublicSockets {
  zmq::socket_t router;  // P: control
  zmq::socket_t xsub;    // P+1: publishers
  zmq::socket_t xpub;    // P+2: subscribers that block (ZMQ_XPUB_NODROP)
  zmq::socket_t lossy;   // P+3: subscribers that drop; hold notices
  int port = -1;         // P
};

// Creates and binds them: CURVE servers with options.curve_secret_key, else
// PLAIN servers when `secure` (sessions); ZAP with `secure`;
// kUnavailable when the ports cannot be bound. May throw zmq::error_t.
absl::StatusOr<PublicSockets> bind_public_sockets(zmq::context_t& ctx, const Endpoint& endpoint,
                                                  const ZmqBrokerOptions& options, bool secure);

// The socket options every broker socket shares.
void set_common(zmq::socket_t& socket, int high_water_mark);

}  // namespace herald::zmq_broker
