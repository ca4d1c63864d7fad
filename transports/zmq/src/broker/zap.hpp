// The broker's ZAP handler (ZeroMQ's authentication protocol, RFC 27): every
// peer's PLAIN password must be an HS256 session token signed with the
// broker's secret (session_token.hpp). Runs on its own thread while `running`.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <zmq.hpp>

namespace herald::zmq_broker {

// Answers ZAP requests on `zap` (bound to inproc://zeromq.zap.01) until
// `running` turns false; counts refusals in `failures`.
void serve_zap(zmq::socket_t zap, const std::string& secret, const std::atomic<bool>& running,
               std::atomic<std::uint64_t>& failures);

}  // namespace herald::zmq_broker
