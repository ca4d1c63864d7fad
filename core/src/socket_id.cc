#include "herald/internal/socket_id.hpp"

#include <atomic>
#include <cstdint>
#include <random>

namespace herald::internal {
namespace {

std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

}  // namespace

std::string make_socket_id() {
  static const std::uint64_t seed = [] {
    std::random_device rd;
    return (std::uint64_t{rd()} << 32) ^ rd();
  }();
  static std::atomic<std::uint64_t> counter{0};
  std::uint64_t n = counter.fetch_add(1, std::memory_order_relaxed);
  std::uint8_t bytes[15];
  std::uint64_t a = mix(seed ^ n);
  std::uint64_t b = mix(seed + 0x632be59bd9b4e019ull) ^ n;
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::uint8_t>(a >> (8 * i));
  for (int i = 0; i < 7; ++i) bytes[8 + i] = static_cast<std::uint8_t>(b >> (8 * i));
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string id;
  id.reserve(20);
  for (int i = 0; i < 15; i += 3) {
    std::uint32_t v =
        (std::uint32_t{bytes[i]} << 16) | (std::uint32_t{bytes[i + 1]} << 8) | bytes[i + 2];
    for (int k = 3; k >= 0; --k) id.push_back(kAlphabet[(v >> (6 * k)) & 63]);
  }
  return id;
}

}  // namespace herald::internal
