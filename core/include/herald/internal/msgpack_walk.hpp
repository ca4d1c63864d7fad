// Walks one msgpack value without allocating: validation for untrusted input
// and the basis of Message::to_json.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace herald::internal {

inline constexpr int kMaxMsgpackDepth = 256;

struct MsgpackWalkResult {
  std::size_t offset = 0;  // where the value ends (or where the error is)
  std::string error;       // empty when well-formed
};

// Checks that `bytes` starts with one complete, well-formed msgpack value
// nested at most kMaxMsgpackDepth deep.
MsgpackWalkResult walk_msgpack(std::span<const std::byte> bytes);

}  // namespace herald::internal
