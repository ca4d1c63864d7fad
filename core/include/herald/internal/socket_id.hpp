// herald/internal/socket_id.hpp — the socket id every connection gets.
#pragma once

#include <string>

namespace herald::internal {

// 20 characters of base64url, like Socket.IO ids: a per-process random part
// mixed with a counter, so ids never repeat within a process and are unlikely
// to repeat across processes.
std::string make_socket_id();

}  // namespace herald::internal
