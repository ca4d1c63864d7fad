// herald/internal/names.hpp — validation and hashing of channel and event names.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/status/status.h"

namespace herald::internal {

inline constexpr std::size_t kMaxNameBytes = 255;

// True when `s` is well-formed UTF-8 (no overlongs, surrogates or code points
// past U+10FFFF).
bool is_valid_utf8(std::string_view s) noexcept;

// OK, or kInvalidArgument naming `what` ("channel", "event"), the offending
// value (shortened) and the limit.
absl::Status validate_name(std::string_view what, std::string_view name);

// Event names starting with this are the hub's own presence events
// (channel:join, channel:leave, channel:update): no client may send one.
inline constexpr std::string_view kReservedEventPrefix = "channel:";

// validate_name("event", event), and kInvalidArgument for a reserved name
// (kReservedEventPrefix): what every transport's send and broadcast check.
absl::Status validate_sent_event(std::string_view event);

// What send / broadcast check of their names: validate_name("channel") and
// validate_sent_event, and the name's hash_name() in `hash`. The thread's
// last valid channel and event are remembered (names up to 64 bytes), so a
// sender that sends to the same names again validates and hashes nothing.
absl::Status check_sent_channel(std::string_view channel, std::size_t& hash);
absl::Status check_sent_event(std::string_view event, std::size_t& hash);

namespace names_detail {
// Per-process random seed, so that colliding names cannot be prepared in
// advance against herald's hash maps.
std::uint64_t make_hash_seed();
inline std::uint64_t hash_seed() noexcept {
  static const std::uint64_t seed = make_hash_seed();  // safe during static initialization
  return seed;
}
inline std::uint64_t load_bytes(const char* p, std::size_t n) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i)
    v |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
  return v;
}
inline std::uint64_t mix(std::uint64_t h) noexcept {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}
}  // namespace names_detail

// Fast seeded hash for names (Debian's Abseil hashes std::string_view through
// std::hash, which costs more than the rest of a lookup).
inline std::size_t hash_name(std::string_view name) noexcept {
  const char* p = name.data();
  std::size_t n = name.size();
  std::uint64_t h = names_detail::hash_seed() ^ (n * 0x9e3779b97f4a7c15ull);
  while (n >= 8) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    h = names_detail::mix(h ^ v) * 0xc4ceb9fe1a85ec53ull;
    p += 8;
    n -= 8;
  }
  if (n > 0) h = (h ^ names_detail::load_bytes(p, n)) * 0xc4ceb9fe1a85ec53ull;
  return names_detail::mix(h);
}

// Equality without a call to memcmp for the short names that are the norm.
inline bool same_name(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  if (a.size() > 16) return a == b;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (a[i] != b[i]) return false;
  }
  return true;
}

// A name with its hash computed once; lets hash maps keyed by std::string be
// searched without hashing again.
struct HashedName {
  std::string_view name;
  std::size_t hash;
};

struct NameHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return hash_name(s); }
  std::size_t operator()(const std::string& s) const noexcept { return hash_name(s); }
  std::size_t operator()(const HashedName& h) const noexcept { return h.hash; }
};

struct NameEq {
  using is_transparent = void;
  static std::string_view view(std::string_view s) noexcept { return s; }
  static std::string_view view(const std::string& s) noexcept { return s; }
  static std::string_view view(const HashedName& h) noexcept { return h.name; }
  template <class A, class B>
  bool operator()(const A& a, const B& b) const noexcept {
    return same_name(view(a), view(b));
  }
};

// String-keyed containers that accept std::string_view and HashedName lookups.
template <class Value>
using NameMap = absl::flat_hash_map<std::string, Value, NameHash, NameEq>;
using NameSet = absl::flat_hash_set<std::string, NameHash, NameEq>;

}  // namespace herald::internal
