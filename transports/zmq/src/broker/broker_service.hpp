// BrokerService: what a started ZmqBroker is — its ZeroMQ context and its
// three threads (proxy, control, ZAP) — and the named steps that start and
// stop them. ZmqBroker (broker.hpp) is a thin handle over it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <zmq.hpp>

#include "absl/status/status.h"
#include "counters.hpp"
#include "herald/zmq/broker.hpp"
#include "ports.hpp"
#include "zap.hpp"

namespace herald::zmq_broker {

class ControlServer;

class BrokerService {
 public:
  explicit BrokerService(ZmqBrokerOptions options);
  ~BrokerService();

  // bind → run the proxy → serve control (→ authenticate with ZAP). Under
  // the lifecycle lock; kFailedPrecondition if already started.
  absl::Status start();
  void stop();  // idempotent

  int port() const { return port_; }
  const std::string& host() const { return host_; }
  // With CURVE, the broker's public key (Z85); else empty.
  const std::string& curve_public_key() const { return curve_public_; }
  ZmqBrokerStats stats() const;

 private:
  absl::Status start_locked();
  // The proxy thread between the XSUB and XPUB (inproc-bound too, for the
  // broker's own publisher); returns once the broker's publisher is forwarded.
  absl::Status run_proxy(PublicSockets& sockets, zmq::socket_t& presence,
                         zmq::socket_t& proxy_client);
  void serve_control(PublicSockets& sockets, zmq::socket_t presence, zmq::socket_t proxy_client);

  const ZmqBrokerOptions options_;
  std::mutex lifecycle_mu_;  // start / stop
  bool started_ = false;
  std::unique_ptr<zmq::context_t> ctx_;
  std::string host_;
  std::string curve_public_;
  int port_ = -1;
  std::string inproc_prefix_;
  std::atomic<bool> running_{false};
  std::thread proxy_thread_;
  std::thread control_thread_;
  std::thread zap_thread_;
  std::unique_ptr<ControlServer> control_;
  std::unique_ptr<zmq::socket_t> stop_sender_;  // under lifecycle_mu_
  zmq::socket_t subscriber_events_;             // start: the XPUB's monitor, for control
  BrokerCounters counters_;
  CurveKeys curve_keys_;  // the control thread's and the ZAP thread's
};

}  // namespace herald::zmq_broker
