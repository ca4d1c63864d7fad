// memory_transport.hpp — the mem:// transport (internal: reached through transport_factory.cc).
//
// `mem://NAME` attaches the connection to the in-process Hub named NAME
// (`mem://` = the default hub, named ""). Everything happens on the calling
// thread: open() connects before it returns, join/leave are applied before
// they return, and publish() routes through the hub's Router, which hands the
// one shared envelope to each receiver.
#pragma once

#include <memory>

#include "absl/status/statusor.h"
#include "herald/internal/transport.hpp"

namespace herald::memory {

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events);

}  // namespace herald::memory
