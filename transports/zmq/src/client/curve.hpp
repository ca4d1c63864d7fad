// CURVE on the client side: the broker's public key from the URL
// (zmq://HOST:PORT?curve=KEY) and this connection's own keypair, made fresh
// for each client (nobody needs to know it: the broker admits it by the
// hello's session token, or admits every key when it uses no sessions).
#pragma once

#include <string>
#include <zmq.hpp>

#include "absl/status/statusor.h"
#include "herald/internal/transport.hpp"

namespace herald::zmq_transport {

struct CurveCredentials {
  std::string server_public;  // Z85, 40 characters; empty: no CURVE
  std::string public_key;     // this client's, Z85
  std::string secret_key;
  bool enabled() const { return !server_public.empty(); }
};

// The URL's path part: "", "/", or "[/]?curve=KEY" with KEY the broker's
// public key in Z85 (40 characters, as `herald keygen` prints it; taken as
// it is, no percent-decoding). kInvalidArgument saying what is wrong.
absl::StatusOr<std::string> curve_server_key(const internal::Url& url);

// With a server key, a fresh keypair beside it (kFailedPrecondition when
// this libzmq has no CURVE).
absl::StatusOr<CurveCredentials> make_curve_credentials(std::string server_public);

// Makes `socket` a CURVE client of the broker.
void apply_curve(zmq::socket_t& socket, const CurveCredentials& keys);

}  // namespace herald::zmq_transport
