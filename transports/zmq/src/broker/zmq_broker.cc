// ZmqBroker (herald/zmq/broker.hpp): a handle over BrokerService.
#include <zmq.h>

#include "broker_service.hpp"
#include "herald/internal/text.hpp"
#include "herald/zmq/broker.hpp"

namespace herald {

ZmqBroker::ZmqBroker(ZmqBrokerOptions options)
    : service_(std::make_unique<zmq_broker::BrokerService>(std::move(options))) {}

ZmqBroker::~ZmqBroker() { stop(); }

absl::Status ZmqBroker::start() { return service_->start(); }

void ZmqBroker::stop() { service_->stop(); }

int ZmqBroker::port() const { return service_->port(); }

std::string ZmqBroker::url() const {
  const std::string& key = service_->curve_public_key();
  return internal::cat("zmq://", service_->host(), ":", service_->port(),
                       key.empty() ? std::string() : "?curve=" + key);
}

ZmqBrokerStats ZmqBroker::stats() const { return service_->stats(); }

absl::StatusOr<CurveKeypair> make_curve_keypair() {
  if (!zmq_has("curve")) {
    return absl::FailedPreconditionError("herald: this libzmq was built without CURVE");
  }
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return absl::InternalError("herald: zmq_curve_keypair failed");
  }
  return CurveKeypair{std::string(public_key, 40), std::string(secret_key, 40)};
}

absl::StatusOr<std::string> curve_public_key(const std::string& secret_key) {
  char public_key[41];
  if (secret_key.size() != 40 || zmq_curve_public(public_key, secret_key.c_str()) != 0) {
    return absl::InvalidArgumentError(
        "herald: a CURVE secret key is 40 characters of Z85 (herald keygen writes one)");
  }
  return std::string(public_key, 40);
}

}  // namespace herald
