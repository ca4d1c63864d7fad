#include "zap.hpp"

#include <array>
#include <chrono>
#include <vector>
#include <zmq_addon.hpp>

#include "absl/status/statusor.h"
#include "herald/session_token.hpp"

namespace herald::zmq_broker {

void serve_zap(zmq::socket_t zap, const std::string& secret, const std::atomic<bool>& running,
               std::atomic<std::uint64_t>& failures) {
  while (running) {
    zmq::pollitem_t item{zap.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
    std::vector<zmq::message_t> request;
    if (!zmq::recv_multipart(zap, std::back_inserter(request))) continue;
    // version, request id, domain, address, identity, mechanism, credentials...
    std::string status = "400";
    std::string text = "herald: a session token is required";
    std::string user;
    if (request.size() >= 8 && request[5].to_string_view() == "PLAIN") {
      absl::StatusOr<std::string> subject =
          verify_session_token(secret, request[7].to_string_view());
      if (subject.ok()) {
        status = "200";
        text = "OK";
        user = *subject;
      } else {
        text = std::string(subject.status().message());
      }
    }
    if (status != "200") failures.fetch_add(1);
    std::array<zmq::const_buffer, 6> reply = {
        zmq::buffer(std::string_view("1.0")),
        zmq::buffer(request.size() > 1 ? request[1].to_string_view() : std::string_view()),
        zmq::buffer(status),
        zmq::buffer(text),
        zmq::buffer(user),
        zmq::buffer(std::string_view())};
    zmq::send_multipart(zap, reply);
  }
}

}  // namespace herald::zmq_broker
