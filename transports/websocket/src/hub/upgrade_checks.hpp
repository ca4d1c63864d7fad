// The hub's judgement of an HTTP upgrade request, before it looks at its own
// state (stopping, full): the path, the upgrade headers, the key; and the
// request it hands Beast again when frames came right behind it. Apart from
// WsSession (no sockets, Beast's HTTP types only) so that the fuzz target
// http_upgrade runs this very code on arbitrary requests.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace herald::ws_hub {

using UpgradeRequest = boost::beast::http::request<boost::beast::http::empty_body>;

// Refused: the HTTP status and the body the hub answers with.
struct UpgradeRefusal {
  boost::beast::http::status status;
  std::string body;
};

// RFC 6455 4.2.1: the key is the base64 of 16 bytes — 22 characters and "==".
bool is_sixteen_byte_key(std::string_view key);

// nullopt: an upgrade the hub takes (path "/" before any '?', a WebSocket
// upgrade, a well-formed key); otherwise 404, 426 or 400 and why.
std::optional<UpgradeRefusal> judge_upgrade(const UpgradeRequest& req);

// Beast reads the handshake from at most this many bytes when it is given
// bytes already read (its read buffer's size).
inline constexpr std::size_t kMaxHandshakeReplay = 1536;

// For a request judge_upgrade took, with `early` bytes read past its header
// (the client's first frames): what Beast is handed to accept it — the
// request again, as much of it as Beast checks, then those bytes — or a 400
// when they do not fit kMaxHandshakeReplay.
struct HandshakeReplay {
  std::string bytes;
  std::optional<UpgradeRefusal> refusal;
};
HandshakeReplay handshake_replay(const UpgradeRequest& req, std::string_view early);

}  // namespace herald::ws_hub
