#include "zap.hpp"

#include <array>
#include <chrono>
#include <vector>
#include <zmq_addon.hpp>

#include "absl/status/statusor.h"
#include "herald/session_token.hpp"

namespace herald::zmq_broker {

namespace {

struct Verdict {
  std::string status = "400";
  std::string text = "herald: a session token is required";
  std::string user;
};

Verdict judge_plain(const std::string& secret, std::string_view password) {
  Verdict v;
  absl::StatusOr<std::string> subject = verify_session_token(secret, password);
  if (!subject.ok()) {
    v.text = std::string(subject.status().message());
    return v;
  }
  return {"200", "OK", *subject};
}

Verdict judge_curve(std::string_view domain, std::string_view public_key, const CurveKeys& keys) {
  Verdict v;
  if (public_key.size() != 32) return v;
  char z85[41];
  zmq_z85_encode(z85, reinterpret_cast<const std::uint8_t*>(public_key.data()), 32);
  const std::string key(z85, 40);
  if (domain == kControlDomain || keys.contains(key)) return {"200", "OK", key};
  v.text = "herald: this key said no hello with a valid session token";
  return v;
}

}  // namespace

void serve_zap(zmq::socket_t zap, ZapPolicy policy, const std::atomic<bool>& running,
               std::atomic<std::uint64_t>& failures) {
  while (running) {
    zmq::pollitem_t item{zap.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
    std::vector<zmq::message_t> request;
    if (!zmq::recv_multipart(zap, std::back_inserter(request))) continue;
    // version, request id, domain, address, identity, mechanism, credentials...
    Verdict v;
    const std::string_view mechanism =
        request.size() >= 7 ? request[5].to_string_view() : std::string_view();
    if (!policy.curve && mechanism == "PLAIN" && request.size() >= 8) {
      v = judge_plain(policy.session_secret, request[7].to_string_view());
    } else if (policy.curve && mechanism == "CURVE") {
      v = judge_curve(request[2].to_string_view(), request[6].to_string_view(), policy.keys);
    }
    if (v.status != "200") failures.fetch_add(1);
    std::array<zmq::const_buffer, 6> reply = {
        zmq::buffer(std::string_view("1.0")),
        zmq::buffer(request.size() > 1 ? request[1].to_string_view() : std::string_view()),
        zmq::buffer(v.status),
        zmq::buffer(v.text),
        zmq::buffer(v.user),
        zmq::buffer(std::string_view())};
    zmq::send_multipart(zap, reply);
  }
}

}  // namespace herald::zmq_broker
