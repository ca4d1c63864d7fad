// herald/internal/names.hpp — validation and hashing of channel and event names.
#pragma once

#include <cstddef>
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

inline std::size_t hash_name(std::string_view name) noexcept {
  return absl::Hash<std::string_view>{}(name);
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
    return view(a) == view(b);
  }
};

// String-keyed containers that accept std::string_view and HashedName lookups.
template <class Value>
using NameMap = absl::flat_hash_map<std::string, Value, NameHash, NameEq>;
using NameSet = absl::flat_hash_set<std::string, NameHash, NameEq>;

}  // namespace herald::internal
