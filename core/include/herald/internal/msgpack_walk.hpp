// Walks one msgpack value without allocating: validation for untrusted input
// and the basis of Message::to_json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "herald/limits.hpp"

namespace herald::internal {

inline constexpr int kMaxMsgpackDepth = limits::kMaxNestingDepth;

struct MsgpackWalkResult {
  std::size_t offset = 0;  // where the value ends (or where the error is)
  std::string error;       // empty when well-formed
  int deepest = 0;         // the deepest nesting level reached (0: a scalar)
};

// Checks that `bytes` starts with one complete, well-formed msgpack value
// nested at most `max_depth` deep (a frame holding a body may need more than
// the body itself).
MsgpackWalkResult walk_msgpack(std::span<const std::byte> bytes, int max_depth = kMaxMsgpackDepth);

// kInvalidArgument when `bytes` (one well-formed value) nests deeper than
// limits::kMaxNestingDepth; `what` names it in the message ("message body").
absl::Status check_nesting(std::span<const std::byte> bytes, std::string_view what);

}  // namespace herald::internal
