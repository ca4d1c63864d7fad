// herald/network/msgpack_io.hpp — the few msgpack types wire headers hold,
// read and written without allocating. Used by the transports' codecs
// (docs/PROTOCOL.md); bodies are never decoded here, only skipped or copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>

#include "herald/internal/msgpack_walk.hpp"

namespace herald::network {

// Writes into a caller's buffer that is large enough by construction.
struct FixedSink {
  char* p;
  void push_back(char c) { *p++ = c; }
  void append(const char* data, std::size_t n) {
    std::memcpy(p, data, n);
    p += n;
  }
};

// Appends msgpack to `Sink` (std::string, or FixedSink).
template <class Sink>
class BasicMsgpackOut {
 public:
  explicit BasicMsgpackOut(Sink& out) : out_(out) {}
  void byte(std::uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void raw(std::string_view bytes) { out_.append(bytes.data(), bytes.size()); }
  void raw(std::span<const std::byte> bytes) {
    out_.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }
  void array(std::uint32_t n) {
    if (n < 16) return byte(static_cast<std::uint8_t>(0x90 | n));
    if (n <= 0xffff) {
      byte(0xdc);
      return be(n, 2);
    }
    byte(0xdd);
    be(n, 4);
  }
  void nil() { byte(0xc0); }
  void boolean(bool v) { byte(v ? 0xc3 : 0xc2); }
  void uint(std::uint64_t v) {
    if (v < 128) return byte(static_cast<std::uint8_t>(v));
    if (v <= 0xff) {
      byte(0xcc);
      return be(v, 1);
    }
    if (v <= 0xffff) {
      byte(0xcd);
      return be(v, 2);
    }
    if (v <= 0xffffffff) {
      byte(0xce);
      return be(v, 4);
    }
    byte(0xcf);
    be(v, 8);
  }
  void str(std::string_view s) {
    if (s.size() < 32) {
      byte(static_cast<std::uint8_t>(0xa0 | s.size()));
    } else if (s.size() <= 0xff) {
      byte(0xd9);
      be(s.size(), 1);
    } else if (s.size() <= 0xffff) {
      byte(0xda);
      be(s.size(), 2);
    } else {
      byte(0xdb);
      be(s.size(), 4);
    }
    out_.append(s.data(), s.size());
  }

 private:
  void be(std::uint64_t v, int width) {
    for (int i = width - 1; i >= 0; --i) byte(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  Sink& out_;
};

using MsgpackOut = BasicMsgpackOut<std::string>;

// Reads msgpack values one at a time from a byte range. Every read returns
// false, consuming nothing useful, when the next value is not of that type.
class MsgpackIn {
 public:
  explicit MsgpackIn(std::string_view s)
      : begin_(s.data()), p_(s.data()), end_(s.data() + s.size()) {}
  std::size_t consumed() const { return static_cast<std::size_t>(p_ - begin_); }
  bool at_end() const { return p_ >= end_; }
  std::string_view rest() const { return {p_, static_cast<std::size_t>(end_ - p_)}; }

  bool array_header(std::uint32_t& n) {
    if (p_ >= end_) return false;
    const auto b = static_cast<std::uint8_t>(*p_);
    if ((b & 0xf0) == 0x90) {
      n = b & 0x0f;
      ++p_;
      return true;
    }
    if ((b == 0xdc && end_ - p_ >= 3) || (b == 0xdd && end_ - p_ >= 5)) {
      const int width = b == 0xdc ? 2 : 4;
      ++p_;
      n = static_cast<std::uint32_t>(be(width));
      return true;
    }
    return false;
  }
  bool uint(std::uint64_t& v) {
    if (p_ >= end_) return false;
    const auto b = static_cast<std::uint8_t>(*p_);
    if (b < 0x80) {
      v = b;
      ++p_;
      return true;
    }
    const int width = b == 0xcc ? 1 : b == 0xcd ? 2 : b == 0xce ? 4 : b == 0xcf ? 8 : 0;
    if (width == 0 || end_ - p_ < width + 1) return false;
    ++p_;
    v = be(width);
    return true;
  }
  bool nil() {
    if (p_ < end_ && static_cast<std::uint8_t>(*p_) == 0xc0) {
      ++p_;
      return true;
    }
    return false;
  }
  bool boolean(bool& v) {
    if (p_ >= end_) return false;
    const auto b = static_cast<std::uint8_t>(*p_);
    if (b != 0xc2 && b != 0xc3) return false;
    v = b == 0xc3;
    ++p_;
    return true;
  }
  bool str(std::string_view& s) {
    if (p_ >= end_) return false;
    const auto b = static_cast<std::uint8_t>(*p_);
    std::size_t n = 0;
    int width = 0;
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
    } else if (b == 0xd9 || b == 0xda || b == 0xdb) {
      width = b == 0xd9 ? 1 : b == 0xda ? 2 : 4;
      if (end_ - p_ < width + 1) return false;
    } else {
      return false;
    }
    const char* q = p_ + 1;
    for (int i = 0; i < width; ++i) n = (n << 8) | static_cast<std::uint8_t>(*q++);
    if (static_cast<std::size_t>(end_ - q) < n) return false;
    s = std::string_view(q, n);
    p_ = q + n;
    return true;
  }
  // The last element of a value already known to be well-formed (e.g. by
  // walk_msgpack): everything left, without walking it again.
  bool last(std::string_view& bytes) {
    if (p_ >= end_) return false;
    bytes = rest();
    p_ = end_;
    return true;
  }
  // Any one well-formed value, as its bytes.
  bool value(std::string_view& bytes) {
    if (p_ >= end_) return false;
    internal::MsgpackWalkResult r = internal::walk_msgpack(
        std::span<const std::byte>(reinterpret_cast<const std::byte*>(p_), end_ - p_));
    if (!r.error.empty()) return false;
    bytes = std::string_view(p_, r.offset);
    p_ += r.offset;
    return true;
  }

 private:
  std::uint64_t be(int width) {
    std::uint64_t v = 0;
    for (int i = 0; i < width; ++i) v = (v << 8) | static_cast<std::uint8_t>(*p_++);
    return v;
  }
  const char* begin_;
  const char* p_;
  const char* end_;
};

}  // namespace herald::network
