#include "hub/upgrade_checks.hpp"

#include <boost/beast/websocket/rfc6455.hpp>

#include "herald/internal/text.hpp"

namespace herald::ws_hub {

namespace http = boost::beast::http;
using internal::cat;

bool is_sixteen_byte_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22)) {
    const bool base64 = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                        (c >= '0' && c <= '9') || c == '+' || c == '/';
    if (!base64) return false;
  }
  return true;
}

std::optional<UpgradeRefusal> judge_upgrade(const UpgradeRequest& req) {
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  if (path != "/") return UpgradeRefusal{http::status::not_found, "herald hub: no such path\n"};
  if (!boost::beast::websocket::is_upgrade(req)) {
    return UpgradeRefusal{http::status::upgrade_required,
                          "herald hub: WebSocket only (native protocol on path /)\n"};
  }
  const auto key = req[http::field::sec_websocket_key];
  if (!is_sixteen_byte_key(std::string_view(key.data(), key.size()))) {
    return UpgradeRefusal{http::status::bad_request,
                          "herald hub: Sec-WebSocket-Key must be the base64 of 16 bytes "
                          "(RFC 6455 4.2.1)\n"};
  }
  return std::nullopt;
}

HandshakeReplay handshake_replay(const UpgradeRequest& req, std::string_view early) {
  const auto key = req[http::field::sec_websocket_key];
  const auto version = req[http::field::sec_websocket_version];
  HandshakeReplay out;
  out.bytes = cat("GET / HTTP/1.1\r\nHost: herald\r\nUpgrade: websocket\r\n",
                  "Connection: Upgrade\r\nSec-WebSocket-Key: ", key,
                  "\r\nSec-WebSocket-Version: ", version.substr(0, 16), "\r\n\r\n");
  if (out.bytes.size() + early.size() > kMaxHandshakeReplay) {
    out.refusal =
        UpgradeRefusal{http::status::bad_request,
                       cat("herald hub: more than ", kMaxHandshakeReplay - out.bytes.size(),
                           " bytes sent behind the upgrade request, before its answer\n")};
    out.bytes.clear();
    return out;
  }
  out.bytes.append(early);
  return out;
}

}  // namespace herald::ws_hub
