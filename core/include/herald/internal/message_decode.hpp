// herald/internal/message_decode.hpp — Message::as<T>() without msgpack-c's
// object tree, for the values listeners read most: numbers, bool, strings.
//
// decode_direct() reads one msgpack scalar straight from the bytes. It
// accepts exactly what msgpack-c's own conversion accepts and gives the same
// result (integers in range, floats from either float format or from an
// integer, bool, str or bin as a string); anything else returns false and
// as<T>() takes msgpack-c's generic path, which converts the exotic cases
// and throws the DecodeError it always did. Included by message.hpp; not for
// applications.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>

namespace herald::internal {

template <class T>
concept direct_decodable = (std::is_arithmetic_v<T> && !std::is_same_v<T, wchar_t>) ||
                           std::is_same_v<T, std::string> || std::is_same_v<T, std::string_view>;

struct ScalarView {
  enum class Kind : std::uint8_t { other, positive, negative, floating, boolean, text };
  Kind kind = Kind::other;
  std::uint64_t u = 0;      // positive
  std::int64_t i = 0;       // negative
  double f = 0;             // floating
  bool b = false;           // boolean
  const char* p = nullptr;  // text (str or bin)
  std::size_t n = 0;
};

namespace decode_detail {
template <class U>
inline U load_be(const std::byte* p) noexcept {
  U v;
  std::memcpy(&v, p, sizeof(U));
  if constexpr (sizeof(U) > 1 && std::endian::native == std::endian::little) {
    if constexpr (sizeof(U) == 2)
      v = static_cast<U>(__builtin_bswap16(static_cast<std::uint16_t>(v)));
    if constexpr (sizeof(U) == 4)
      v = static_cast<U>(__builtin_bswap32(static_cast<std::uint32_t>(v)));
    if constexpr (sizeof(U) == 8)
      v = static_cast<U>(__builtin_bswap64(static_cast<std::uint64_t>(v)));
  }
  return v;
}
// A signed value as msgpack-c's unpacker types it: non-negative is positive.
inline void set_signed(ScalarView& v, std::int64_t x) noexcept {
  if (x < 0) {
    v.kind = ScalarView::Kind::negative;
    v.i = x;
  } else {
    v.kind = ScalarView::Kind::positive;
    v.u = static_cast<std::uint64_t>(x);
  }
}
}  // namespace decode_detail

// The scalar at the start of `b` (a Message's bytes: one whole msgpack
// value, already checked); Kind::other for containers, nil, ext and anything
// cut short.
inline ScalarView read_scalar(std::span<const std::byte> b) noexcept {
  using decode_detail::load_be;
  ScalarView v;
  if (b.empty()) return v;
  const auto c = static_cast<std::uint8_t>(b[0]);
  const std::byte* p = b.data() + 1;
  const std::size_t left = b.size() - 1;
  auto text = [&](std::size_t header, std::size_t n) {
    if (left < header || left - header < n) return;
    v.kind = ScalarView::Kind::text;
    v.p = reinterpret_cast<const char*>(p + header);
    v.n = n;
  };
  if (c <= 0x7f) {
    v.kind = ScalarView::Kind::positive;
    v.u = c;
  } else if (c >= 0xe0) {
    v.kind = ScalarView::Kind::negative;
    v.i = static_cast<std::int8_t>(c);
  } else if ((c & 0xe0) == 0xa0) {
    text(0, c & 0x1f);
  } else {
    switch (c) {
      case 0xc2:
      case 0xc3:
        v.kind = ScalarView::Kind::boolean;
        v.b = c == 0xc3;
        break;
      case 0xcc:
        if (left >= 1) v.kind = ScalarView::Kind::positive, v.u = load_be<std::uint8_t>(p);
        break;
      case 0xcd:
        if (left >= 2) v.kind = ScalarView::Kind::positive, v.u = load_be<std::uint16_t>(p);
        break;
      case 0xce:
        if (left >= 4) v.kind = ScalarView::Kind::positive, v.u = load_be<std::uint32_t>(p);
        break;
      case 0xcf:
        if (left >= 8) v.kind = ScalarView::Kind::positive, v.u = load_be<std::uint64_t>(p);
        break;
      case 0xd0:
        if (left >= 1) decode_detail::set_signed(v, load_be<std::int8_t>(p));
        break;
      case 0xd1:
        if (left >= 2) decode_detail::set_signed(v, load_be<std::int16_t>(p));
        break;
      case 0xd2:
        if (left >= 4) decode_detail::set_signed(v, load_be<std::int32_t>(p));
        break;
      case 0xd3:
        if (left >= 8) decode_detail::set_signed(v, load_be<std::int64_t>(p));
        break;
      case 0xca:
        if (left >= 4) {
          const std::uint32_t bits = load_be<std::uint32_t>(p);
          float f;
          std::memcpy(&f, &bits, 4);
          v.kind = ScalarView::Kind::floating;
          v.f = static_cast<double>(f);
        }
        break;
      case 0xcb:
        if (left >= 8) {
          const std::uint64_t bits = load_be<std::uint64_t>(p);
          v.kind = ScalarView::Kind::floating;
          std::memcpy(&v.f, &bits, 8);
        }
        break;
      case 0xd9:  // str 8
      case 0xc4:  // bin 8
        if (left >= 1) text(1, load_be<std::uint8_t>(p));
        break;
      case 0xda:  // str 16
      case 0xc5:  // bin 16
        if (left >= 2) text(2, load_be<std::uint16_t>(p));
        break;
      case 0xdb:  // str 32
      case 0xc6:  // bin 32
        if (left >= 4) text(4, load_be<std::uint32_t>(p));
        break;
      default:
        break;
    }
  }
  return v;
}

// `out` set and true when `bytes` hold a T as msgpack-c would convert it;
// false otherwise (the caller takes the generic path, which throws or
// converts exactly as before).
template <direct_decodable T>
bool decode_direct(std::span<const std::byte> bytes, T& out) {
  const ScalarView v = read_scalar(bytes);
  using Kind = ScalarView::Kind;
  if constexpr (std::is_same_v<T, bool>) {
    if (v.kind != Kind::boolean) return false;
    out = v.b;
  } else if constexpr (std::is_integral_v<T>) {
    if (v.kind == Kind::positive) {
      if (v.u > static_cast<std::uint64_t>(std::numeric_limits<T>::max())) return false;
      out = static_cast<T>(v.u);
    } else if (v.kind == Kind::negative) {
      if constexpr (std::is_unsigned_v<T>) {
        return false;
      } else {
        if (v.i < static_cast<std::int64_t>(std::numeric_limits<T>::min())) return false;
        out = static_cast<T>(v.i);
      }
    } else {
      return false;
    }
  } else if constexpr (std::is_floating_point_v<T>) {
    if (v.kind == Kind::floating) {
      out = static_cast<T>(v.f);
    } else if (v.kind == Kind::positive) {
      out = static_cast<T>(v.u);
    } else if (v.kind == Kind::negative) {
      out = static_cast<T>(v.i);
    } else {
      return false;
    }
  } else {  // std::string, std::string_view
    if (v.kind != Kind::text) return false;
    out = T(v.p, v.n);
  }
  return true;
}

}  // namespace herald::internal
