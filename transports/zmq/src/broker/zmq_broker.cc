// ZmqBroker (herald/zmq/broker.hpp): a handle over BrokerService.
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
  return internal::cat("zmq://", service_->host(), ":", service_->port());
}

ZmqBrokerStats ZmqBroker::stats() const { return service_->stats(); }

}  // namespace herald
