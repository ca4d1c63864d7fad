#include "ports.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>

#include "herald/internal/text.hpp"
#include "holds.hpp"
#include "wire/data.hpp"
#include "zap.hpp"

namespace herald::zmq_broker {

using internal::cat;

namespace {

// Room for a header and a topic on top of the largest body.
std::int64_t frame_limit(std::size_t max_message_bytes) {
  return static_cast<std::int64_t>(max_message_bytes) + 64 * 1024;
}

}  // namespace

void set_common(zmq::socket_t& s, int hwm) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, hwm);
  s.set(zmq::sockopt::rcvhwm, hwm);
}

absl::StatusOr<Endpoint> parse_endpoint(const std::string& ep) {
  const std::string_view prefix = "tcp://";
  const std::size_t colon = ep.rfind(':');
  if (ep.compare(0, prefix.size(), prefix) != 0 || colon == std::string::npos ||
      colon < prefix.size()) {
    return absl::InvalidArgumentError(
        cat("herald: broker endpoint \"", ep, "\" is not tcp://HOST:PORT"));
  }
  Endpoint out;
  out.host = ep.substr(prefix.size(), colon - prefix.size());
  out.port = -1;
  const std::string port_text = ep.substr(colon + 1);
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), out.port);
  if (out.host.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      out.port < 0 || out.port > 65532) {
    return absl::InvalidArgumentError(
        cat("herald: broker endpoint \"", ep,
            "\": the port must be 0 to 65532 (P+1, P+2 and P+3 are used too)"));
  }
  return out;
}

absl::StatusOr<PublicSockets> bind_public_sockets(zmq::context_t& ctx, const Endpoint& endpoint,
                                                  const ZmqBrokerOptions& options, bool secure) {
  const bool curve = !options.curve_secret_key.empty();
  auto make = [&](zmq::socket_type type, const char* zap_domain) {
    zmq::socket_t sock(ctx, type);
    set_common(sock, options.high_water_mark);
    if (curve) {
      sock.set(zmq::sockopt::curve_server, 1);
      sock.set(zmq::sockopt::curve_secretkey, options.curve_secret_key);
      if (secure) sock.set(zmq::sockopt::zap_domain, zap_domain);
    } else if (secure) {
      sock.set(zmq::sockopt::plain_server, 1);
      sock.set(zmq::sockopt::zap_domain, zap_domain);
    }
    return sock;
  };
  PublicSockets s{
      make(zmq::socket_type::router, kControlDomain), make(zmq::socket_type::xsub, kDataDomain),
      make(zmq::socket_type::xpub, kDataDomain), make(zmq::socket_type::xpub, kDataDomain), -1};
  s.router.set(zmq::sockopt::maxmsgsize, frame_limit(options.max_message_bytes));
  s.router.set(zmq::sockopt::router_handover, 1);
  s.xsub.set(zmq::sockopt::maxmsgsize, frame_limit(options.max_message_bytes));
  // What a SUB sends is its subscriptions: none is longer than the longest
  // topic. A longer one would cost libzmq's subscription trie a recursion
  // per byte (a ~110 KB one overflows the stack): the peer is dropped.
  const int queued = std::min(options.high_water_mark, options.subscriber_high_water_mark);
  for (zmq::socket_t* xpub : {&s.xpub, &s.lossy}) {
    xpub->set(zmq::sockopt::maxmsgsize, static_cast<std::int64_t>(zmq_wire::kMaxSubscriptionBytes));
  }
  // A blocking receiver's window: past it, its topics wait at the broker.
  s.xpub.set(zmq::sockopt::sndhwm, std::min(queued, kReceiverWindow));
  s.xpub.set(zmq::sockopt::xpub_nodrop, 1);
  s.lossy.set(zmq::sockopt::sndhwm, queued);

  const std::string& host = endpoint.host;
  const int requested = endpoint.port;
  // Bind P..P+3; with port 0, retry until four neighbours are free.
  const int offsets[] = {zmq_wire::kPublishPortOffset, zmq_wire::kSubscribePortOffset,
                         zmq_wire::kLossyPortOffset};
  zmq::socket_t* data[] = {&s.xsub, &s.xpub, &s.lossy};
  for (int attempt = 0; attempt < 64; ++attempt) {
    std::string control_ep = cat("tcp://", host, ":", requested);
    try {
      s.router.bind(control_ep);
    } catch (const zmq::error_t& e) {
      return absl::UnavailableError(cat("herald: broker cannot bind ", control_ep, ": ", e.what()));
    }
    std::string last = s.router.get(zmq::sockopt::last_endpoint);
    int p = std::stoi(last.substr(last.rfind(':') + 1));
    int bound = 0;
    std::string failure;
    for (; bound < 3; ++bound) {
      try {
        data[bound]->bind(cat("tcp://", host, ":", p + offsets[bound]));
      } catch (const zmq::error_t& e) {
        failure = e.what();
        break;
      }
    }
    if (bound == 3) {
      s.port = p;
      return s;
    }
    for (int i = 0; i < bound; ++i) {
      try {
        data[i]->unbind(cat("tcp://", host, ":", p + offsets[i]));
      } catch (const zmq::error_t&) {
      }
    }
    try {
      s.router.unbind(last);
    } catch (const zmq::error_t&) {
    }
    if (requested != 0) {
      return absl::UnavailableError(cat("herald: broker cannot bind ports ", p + 1, " to ", p + 3,
                                        " next to ", p, ": ", failure));
    }
  }
  return absl::UnavailableError("herald: broker found no four free neighbouring ports");
}

}  // namespace herald::zmq_broker
