// Picks the transport for a URL's scheme: the one place that knows them all.
#include "herald/internal/text.hpp"
#include "herald/internal/transport.hpp"
#include "memory/src/memory_transport.hpp"
#include "websocket/src/client/ws_transport.hpp"
#include "zmq/src/client/zmq_transport.hpp"

namespace herald::internal {

absl::StatusOr<std::unique_ptr<Transport>> make_transport(const Url& url, const Options& options,
                                                          std::weak_ptr<TransportEvents> events) {
  if (url.scheme == "mem") return memory::make_transport(url, options, std::move(events));
  if (url.scheme == "zmq") return zmq_transport::make_transport(url, options, std::move(events));
  if (url.scheme == "ws" || url.scheme == "wss") {
    return ws_transport::make_transport(url, options, std::move(events));
  }
  return absl::InvalidArgumentError(
      internal::cat("herald: unknown transport scheme \"", url.scheme, "\" in URL \"", url.text,
                    "\"; available: mem://NAME, zmq://HOST:PORT, ws://HOST:PORT, wss://HOST:PORT"));
}

}  // namespace herald::internal
