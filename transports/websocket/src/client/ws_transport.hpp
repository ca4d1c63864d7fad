// ws_transport.hpp — the ws:// transport (internal: reached through transport_factory.cc).
//
// `ws://HOST:PORT[/PATH]` talks to a herald hub (a WsGateway, gateway.hpp) in
// its native protocol (docs/PROTOCOL.md, "ws://"): one WebSocket connection,
// owned by one I/O thread per Realtime. `wss://HOST:PORT[/PATH]` is the same
// over TLS (src/tls.hpp): the hub's certificate is verified against
// Options::tls_ca_file or the system's trust store, and must name HOST. Listeners with
// Dispatch::immediate run on that thread.
//
// Guarantees, and how:
//  - Order: every frame of a connection — join, leave, profile, send — goes
//    out in the order it was made, and the hub applies them in that order; a
//    join() that returned has been applied by the hub (its reply came back).
//  - Coalescing: sends from any thread are encoded into one pending buffer;
//    the I/O thread writes everything that waits as one WebSocket message.
//    The buffer is bounded (8 MiB): past it a sender waits for the writer —
//    except on the I/O thread, which never waits.
//  - Reconnection: when the hub goes away, on_disconnect fires, sends buffer
//    (bounded, in core) or fail with kUnavailable, attempts follow
//    reconnection_delay with exponential backoff (on_reconnect_attempt), and
//    on reconnect the same socket id says hello again, the channels are
//    rejoined before on_connect, and what was sent meanwhile goes out in order.
//  - Refusal: a hub that rejects the session (error 16 / close 4001) or finds
//    the socket id taken by someone else (error 6 / close 4009) is not retried;
//    nor is a wss:// hub whose certificate does not verify (kUnauthenticated).
//  - A dead hub is noticed: with no frame or pong for three of the hub's ping
//    intervals, the connection counts as lost.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "herald/internal/transport.hpp"

namespace herald::ws_transport {

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events);

}  // namespace herald::ws_transport
