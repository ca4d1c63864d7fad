#include "client/curve.hpp"

#include <cstdint>

#include "herald/internal/text.hpp"

namespace herald::zmq_transport {

using internal::cat;

absl::StatusOr<std::string> curve_server_key(const internal::Url& url) {
  std::string_view path = url.path;
  if (path.empty() || path == "/") return std::string();
  if (path.front() == '/') path.remove_prefix(1);
  constexpr std::string_view kParameter = "?curve=";
  if (path.substr(0, kParameter.size()) != kParameter) {
    return absl::InvalidArgumentError(
        cat("herald: zmq URL \"", url.text,
            "\" takes no path; its one parameter is ?curve=KEY (the broker's public key)"));
  }
  std::string key(path.substr(kParameter.size()));
  std::uint8_t decoded[32];
  if (key.size() != 40 || zmq_z85_decode(decoded, key.c_str()) == nullptr) {
    return absl::InvalidArgumentError(
        cat("herald: zmq URL \"", url.text,
            "\": curve= must be the broker's public key, 40 characters of Z85 (herald keygen "
            "prints it)"));
  }
  return key;
}

absl::StatusOr<CurveCredentials> make_curve_credentials(std::string server_public) {
  CurveCredentials keys;
  if (server_public.empty()) return keys;
  if (!zmq_has("curve")) {
    return absl::FailedPreconditionError("herald: this libzmq was built without CURVE");
  }
  char public_key[41], secret_key[41];
  if (zmq_curve_keypair(public_key, secret_key) != 0) {
    return absl::InternalError("herald: zmq_curve_keypair failed");
  }
  keys.server_public = std::move(server_public);
  keys.public_key.assign(public_key, 40);
  keys.secret_key.assign(secret_key, 40);
  return keys;
}

void apply_curve(zmq::socket_t& socket, const CurveCredentials& keys) {
  socket.set(zmq::sockopt::curve_serverkey, keys.server_public);
  socket.set(zmq::sockopt::curve_publickey, keys.public_key);
  socket.set(zmq::sockopt::curve_secretkey, keys.secret_key);
}

}  // namespace herald::zmq_transport
