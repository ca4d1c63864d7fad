#include "broker_service.hpp"

#include <algorithm>
#include <utility>

#include "control_server.hpp"
#include "herald/internal/text.hpp"
#include "proxy.hpp"
#include "zap.hpp"

namespace herald::zmq_broker {

using internal::cat;

namespace {
std::atomic<std::uint64_t> g_broker_counter{0};
}  // namespace

BrokerService::BrokerService(ZmqBrokerOptions options) : options_(std::move(options)) {}

BrokerService::~BrokerService() { stop(); }

ZmqBrokerStats BrokerService::stats() const {
  const BrokerCounters& c = counters_;
  ZmqBrokerStats out;
  out.sessions = c.sessions.load();
  out.channels = c.channels.load();
  out.messages_in = c.messages_in.load();
  out.bytes_in = c.bytes_in.load();
  out.messages_out = c.messages_out.load();
  out.bytes_out = c.bytes_out.load();
  out.control_requests = c.control_requests.load();
  out.control_malformed = c.control_malformed.load();
  out.auth_failures = c.auth_failures.load();
  out.sessions_expired = c.sessions_expired.load();
  out.memberships = c.memberships.load();
  out.profile_bytes = c.profile_bytes.load();
  out.refused_sessions = c.refused_sessions.load();
  out.refused_channels = c.refused_channels.load();
  out.refused_memberships = c.refused_memberships.load();
  out.refused_profiles = c.refused_profiles.load();
  out.forged_dropped = c.forged_dropped.load();
  out.malformed_dropped = c.malformed_dropped.load();
  out.messages_waited = c.messages_waited.load();
  out.holds = c.holds.load();
  out.held_bytes = c.held_bytes.load();
  out.dropped_stalled = c.dropped_stalled.load();
  out.closed_stalled = c.closed_stalled.load();
  return out;
}

absl::Status BrokerService::start() {
  std::lock_guard lock(lifecycle_mu_);
  if (started_) return absl::FailedPreconditionError("herald: ZmqBroker already started");
  try {
    if (absl::Status s = start_locked(); !s.ok()) return s;
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(cat("herald: broker failed to start: ", e.what()));
  }
  started_ = true;
  return absl::OkStatus();
}

absl::Status BrokerService::start_locked() {
  absl::StatusOr<Endpoint> endpoint = parse_endpoint(options_.endpoint);
  if (!endpoint.ok()) return endpoint.status();
  if (options_.session_timeout < std::chrono::milliseconds(300)) {
    return absl::InvalidArgumentError(
        "herald: broker session_timeout must be at least 300 ms (clients ping at a third of it)");
  }
  for (const auto& [name, value] :
       {std::pair<const char*, std::size_t>{"max_channels_per_connection",
                                            options_.max_channels_per_connection},
        {"max_sessions", options_.max_sessions},
        {"max_channels", options_.max_channels},
        {"max_memberships", options_.max_memberships},
        {"max_held_bytes", options_.max_held_bytes},
        {"subscriber_high_water_mark",
         static_cast<std::size_t>(std::max(options_.subscriber_high_water_mark, 0))}}) {
    if (value == 0) {
      return absl::InvalidArgumentError(cat("herald: broker ", name, " must be at least 1"));
    }
  }
  if (options_.stall_timeout < std::chrono::milliseconds(100)) {
    return absl::InvalidArgumentError("herald: broker stall_timeout must be at least 100 ms");
  }
  if (!options_.curve_secret_key.empty()) {
    if (!zmq_has("curve")) {
      return absl::FailedPreconditionError("herald: this libzmq was built without CURVE");
    }
    absl::StatusOr<std::string> public_key = herald::curve_public_key(options_.curve_secret_key);
    if (!public_key.ok()) return public_key.status();
    curve_public_ = *public_key;
  }
  host_ = endpoint->host;
  const bool secure = !options_.session_secret.empty();
  ctx_ = std::make_unique<zmq::context_t>(1);
  inproc_prefix_ = cat("inproc://herald-broker-", g_broker_counter.fetch_add(1));

  zmq::socket_t zap;
  if (secure) {
    // ZAP must be listening before any peer's handshake.
    zap = zmq::socket_t(*ctx_, zmq::socket_type::rep);
    zap.set(zmq::sockopt::linger, 0);
    zap.bind("inproc://zeromq.zap.01");
  }
  absl::StatusOr<PublicSockets> sockets = bind_public_sockets(*ctx_, *endpoint, options_, secure);
  if (!sockets.ok()) return sockets.status();
  port_ = sockets->port;

  zmq::socket_t presence(*ctx_, zmq::socket_type::pub);
  zmq::socket_t proxy_client(*ctx_, zmq::socket_type::req);
  if (absl::Status s = run_proxy(*sockets, presence, proxy_client); !s.ok()) return s;
  serve_control(*sockets, std::move(presence), std::move(proxy_client));
  if (secure) {
    zap_thread_ = std::thread(
        serve_zap, std::move(zap),
        ZapPolicy{options_.session_secret, !options_.curve_secret_key.empty(), curve_keys_},
        std::cref(running_), std::ref(counters_.auth_failures));
  }
  return absl::OkStatus();
}

absl::Status BrokerService::run_proxy(PublicSockets& sockets, zmq::socket_t& presence,
                                      zmq::socket_t& proxy_client) {
  // The broker's own publisher has an input of its own, the one the data
  // path trusts with presence envelopes.
  zmq::socket_t presence_input(*ctx_, zmq::socket_type::xsub);
  set_common(presence_input, options_.high_water_mark);
  presence_input.bind(inproc_prefix_ + "-presence");
  sockets.xpub.bind(inproc_prefix_ + "-xpub");
  // Publishers forward everything; filtering happens once, at the XPUB.
  const char subscribe_all = '\x01';
  sockets.xsub.send(zmq::buffer(&subscribe_all, 1));
  presence_input.send(zmq::buffer(&subscribe_all, 1));

  zmq::socket_t proxy_control(*ctx_, zmq::socket_type::rep);
  proxy_control.bind(inproc_prefix_ + "-proxy");
  proxy_client.set(zmq::sockopt::linger, 0);
  proxy_client.connect(inproc_prefix_ + "-proxy");
  set_common(presence, options_.high_water_mark);
  presence.connect(inproc_prefix_ + "-presence");
  // Subscribers leaving, for the control thread (see return_freed_memory).
  zmq_socket_monitor(sockets.xpub.handle(), (inproc_prefix_ + "-subscribers").c_str(),
                     ZMQ_EVENT_DISCONNECTED);
  subscriber_events_ = zmq::socket_t(*ctx_, zmq::socket_type::pair);
  subscriber_events_.set(zmq::sockopt::linger, 0);
  subscriber_events_.connect(inproc_prefix_ + "-subscribers");

  running_ = true;
  proxy_thread_ = std::thread(
      zmq_broker::run_proxy,
      DataSockets{std::move(sockets.xsub), std::move(presence_input), std::move(sockets.xpub),
                  std::move(sockets.lossy), std::move(proxy_control)},
      FlowLimits{options_.stall_timeout, options_.max_held_bytes}, std::ref(counters_));
  if (!wait_until_forwarded(*ctx_, presence, inproc_prefix_ + "-xpub")) {
    running_ = false;
    terminate_proxy(proxy_client);
    proxy_thread_.join();
    return absl::InternalError("herald: broker's proxy did not start");
  }
  return absl::OkStatus();
}

void BrokerService::serve_control(PublicSockets& sockets, zmq::socket_t presence,
                                  zmq::socket_t proxy_client) {
  zmq::socket_t stop_receiver(*ctx_, zmq::socket_type::pair);
  stop_receiver.bind(inproc_prefix_ + "-stop");
  stop_sender_ = std::make_unique<zmq::socket_t>(*ctx_, zmq::socket_type::pair);
  stop_sender_->set(zmq::sockopt::linger, 0);
  stop_sender_->connect(inproc_prefix_ + "-stop");
  control_ = std::make_unique<ControlServer>(
      options_, port_, counters_, curve_keys_,
      ControlServer::Sockets{std::move(sockets.router), std::move(presence),
                             std::move(stop_receiver), std::move(proxy_client),
                             std::move(subscriber_events_)});
  control_thread_ = std::thread([control = control_.get()] { control->run(); });
}

void BrokerService::stop() {
  std::lock_guard lock(lifecycle_mu_);
  if (!started_) return;
  started_ = false;
  running_ = false;
  try {
    stop_sender_->send(zmq::buffer(std::string_view("stop")), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
  if (control_thread_.joinable()) control_thread_.join();  // it terminates the proxy
  if (proxy_thread_.joinable()) proxy_thread_.join();
  if (zap_thread_.joinable()) zap_thread_.join();
  control_.reset();
  stop_sender_.reset();
  ctx_->close();
  ctx_.reset();
}

}  // namespace herald::zmq_broker
