// herald/limits.hpp — the limits and defaults every transport shares, written once.
//
// Option structs (HubOptions, ZmqBrokerOptions, WsGatewayOptions, Options)
// take their defaults from here, and the hub, the broker and the clients
// enforce the same numbers, so a program that fits on mem:// fits on zmq://
// and ws:// too.
#pragma once

#include <cstddef>

namespace herald::limits {

// Largest message body (and member profile), in bytes, unless a hub or broker
// is configured otherwise.
inline constexpr std::size_t kDefaultMaxMessageBytes = std::size_t{1} << 20;
// Channels one connection may be a member of at a time (hub and broker).
inline constexpr std::size_t kMaxChannelsPerConnection = 65'536;
// How deep a body or profile may nest (arrays and maps in one another): a
// deeper one is refused at send (kInvalidArgument) on every transport, and
// by Message::from_msgpack and the hub's reader.
inline constexpr int kMaxNestingDepth = 256;
// Messages a connection's inbox holds before its Overflow policy applies.
inline constexpr std::size_t kDefaultInboxCapacity = 65'536;
// Messages a connection buffers while disconnected.
inline constexpr std::size_t kDefaultMaxBufferedMessages = 10'000;

}  // namespace herald::limits
