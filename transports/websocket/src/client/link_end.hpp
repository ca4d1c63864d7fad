// link_end.hpp — the reconnection rule of the ws:// client: which ends of a
// connection to the hub are tried again, and what each reports.
//
// A loss (the hub went away, stopped answering, or closed without refusing)
// is retried after the backoff. A refusal is not: saying the same thing again
// would get the same answer —
//  - the session is refused (error 16 / close 4001): kUnauthenticated;
//  - the socket id is taken by someone else (error 6 / close 4009):
//    kAlreadyExists;
//  - what we said is not acceptable to this hub (close 1002 / 1008: a
//    protocol version it does not speak, a hello it does not take);
//  - the WebSocket handshake got a client error or a redirect (404: a wrong
//    path) — but timeouts, throttling and server errors (503: the hub is
//    stopping, or full) may pass: try again later.
// An error frame that came just before the close (`hint`) says more than the
// close reason, and decides the refusal's code.
//
// Plain functions of what the link saw; no Asio in here.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace herald::ws_transport {

// How a connection ended: a refusal (not OK: no retry), else a loss with its reason.
struct LinkEnd {
  absl::Status refusal;
  std::string lost;  // the reason of a loss, for on_disconnect / on_error
};

// What a failed read or write of an open link saw.
struct LinkFailure {
  std::uint16_t close_code = 0;     // the hub's close frame (0: none)
  std::string_view close_reason{};  // its reason
  bool timed_out = false;           // nothing from the hub for `idle_timeout`
  std::string_view error{};         // otherwise: what failed
  std::chrono::milliseconds idle_timeout{0};
};

// `url`: the hub's, as the user wrote it; `hint`: an error frame that
// announced a refusal (OK: none).
LinkEnd end_of_link(const LinkFailure& failure, const absl::Status& hint, std::string_view url);

// The WebSocket handshake got an HTTP answer other than 101.
LinkEnd end_of_declined_handshake(unsigned status, std::string_view reason, std::string_view body,
                                  std::string_view url);

}  // namespace herald::ws_transport
