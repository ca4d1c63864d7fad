// herald/herald.hpp — everything herald offers, in one include: Realtime,
// Message, Hub, the WebSocket hub (WsGateway), the ZeroMQ broker (ZmqBroker),
// session tokens and the shared limits.
//
// Start with herald::Realtime (realtime.hpp); see README.md and docs/.
#pragma once

#include "herald/hub.hpp"                // IWYU pragma: export
#include "herald/limits.hpp"             // IWYU pragma: export
#include "herald/message.hpp"            // IWYU pragma: export
#include "herald/options.hpp"            // IWYU pragma: export
#include "herald/payload.hpp"            // IWYU pragma: export
#include "herald/realtime.hpp"           // IWYU pragma: export
#include "herald/session_token.hpp"      // IWYU pragma: export
#include "herald/websocket/gateway.hpp"  // IWYU pragma: export
#include "herald/zmq/broker.hpp"         // IWYU pragma: export
