// herald/network/random.hpp — secrets from the system's random source.
//
// Resume secrets (the proof that a reconnecting hello with a public socket id
// comes from the connection that owns it) are made here, for every network
// client the same way.
#pragma once

#include <cstddef>
#include <cstdint>
#include <random>
#include <string>

namespace herald::network {

// `chars` hexadecimal characters (4 random bits each) from std::random_device.
inline std::string random_hex(std::size_t chars = 32) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string out;
  out.reserve(chars);
  while (out.size() < chars) {
    std::uint32_t v = rd();
    for (int k = 0; k < 8 && out.size() < chars; ++k, v >>= 4) out.push_back(kHex[v & 15]);
  }
  return out;
}

}  // namespace herald::network
