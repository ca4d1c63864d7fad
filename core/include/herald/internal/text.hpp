// herald/internal/text.hpp — building error messages.
//
// Debian's Abseil is built with its own absl::string_view (not
// std::string_view), so absl::StrCat does not take std::string_view; herald
// builds its messages with cat() instead.
#pragma once

#include <concepts>
#include <string>
#include <string_view>
#include <type_traits>

namespace herald::internal {

namespace text_detail {
inline void append(std::string& out, std::string_view s) { out.append(s); }
inline void append(std::string& out, const char* s) { out.append(s); }
inline void append(std::string& out, const std::string& s) { out.append(s); }
inline void append(std::string& out, char c) { out.push_back(c); }
template <class T>
requires(std::is_arithmetic_v<T> && !std::same_as<T, char> &&
         !std::same_as<T, bool>) void append(std::string& out, T v) {
  out.append(std::to_string(v));
}
template <class T>
requires requires(const T& t) {
  t.data();
  t.size();
} &&(!std::convertible_to<const T&, std::string_view>)void append(
    std::string& out, const T& s) {  // absl::string_view and friends
  out.append(s.data(), s.size());
}
}  // namespace text_detail

template <class... Parts>
std::string cat(const Parts&... parts) {
  std::string out;
  (text_detail::append(out, parts), ...);
  return out;
}

// `s` between double quotes, for an error message that may travel to a peer
// (a msgpack str must be valid UTF-8): at most `max_bytes` bytes of `s`, cut at
// a character boundary (then `..."`); valid UTF-8 characters are kept as they
// are; quotes and backslashes are escaped (\" \\), and control bytes and
// bytes that are not part of a valid UTF-8 character are written \xNN. The
// result is always valid UTF-8, and at most 4 * max_bytes + 5 bytes.
std::string printable_quote(std::string_view s, std::size_t max_bytes = 64);

std::string base64(std::string_view bytes);

}  // namespace herald::internal
