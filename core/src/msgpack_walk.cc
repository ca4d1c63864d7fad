// walk_msgpack: validates one msgpack value without allocating (untrusted
// input from every network transport goes through it).
#include "herald/internal/msgpack_walk.hpp"

#include <cstdint>
#include <cstring>
#include <string>

#include "herald/internal/text.hpp"

namespace herald::internal {
namespace {

class Walker {
 public:
  Walker(std::span<const std::byte> b, int max_depth) : b_(b), max_depth_(max_depth) {}

  int deepest = 0;

  bool value(int depth) {
    if (depth > max_depth_) return fail(cat("nesting deeper than ", max_depth_, " levels"));
    if (depth > deepest) deepest = depth;
    std::uint8_t t;
    if (!byte(t)) return false;
    if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3) return true;
    if ((t & 0xf0) == 0x80) return items(t & 0x0f, 2, depth);
    if ((t & 0xf0) == 0x90) return items(t & 0x0f, 1, depth);
    if ((t & 0xe0) == 0xa0) return skip(t & 0x1f);
    switch (t) {
      case 0xc4:
        return sized(1);
      case 0xc5:
        return sized(2);
      case 0xc6:
        return sized(4);
      case 0xc7:
        return ext_sized(1);
      case 0xc8:
        return ext_sized(2);
      case 0xc9:
        return ext_sized(4);
      case 0xca:
        return skip(4);
      case 0xcb:
        return skip(8);
      case 0xcc:
      case 0xd0:
        return skip(1);
      case 0xcd:
      case 0xd1:
        return skip(2);
      case 0xce:
      case 0xd2:
        return skip(4);
      case 0xcf:
      case 0xd3:
        return skip(8);
      case 0xd4:
        return skip(2);
      case 0xd5:
        return skip(3);
      case 0xd6:
        return skip(5);
      case 0xd7:
        return skip(9);
      case 0xd8:
        return skip(17);
      case 0xd9:
        return sized(1);
      case 0xda:
        return sized(2);
      case 0xdb:
        return sized(4);
      case 0xdc: {
        std::uint64_t n;
        return uint(2, n) && items(n, 1, depth);
      }
      case 0xdd: {
        std::uint64_t n;
        return uint(4, n) && items(n, 1, depth);
      }
      case 0xde: {
        std::uint64_t n;
        return uint(2, n) && items(n, 2, depth);
      }
      case 0xdf: {
        std::uint64_t n;
        return uint(4, n) && items(n, 2, depth);
      }
      default:
        pos_--;
        return fail("0xc1 is not a msgpack type byte");
    }
  }
  std::size_t pos() const { return pos_; }
  std::string error;

 private:
  bool fail(std::string why) {
    error = std::move(why);
    return false;
  }
  bool byte(std::uint8_t& out) {
    if (pos_ >= b_.size()) return fail("input ends inside a value");
    out = static_cast<std::uint8_t>(b_[pos_++]);
    return true;
  }
  bool skip(std::uint64_t n) {
    if (b_.size() - pos_ < n) return fail("input ends inside a value");
    pos_ += n;
    return true;
  }
  bool uint(int width, std::uint64_t& out) {
    out = 0;
    for (int i = 0; i < width; ++i) {
      std::uint8_t c;
      if (!byte(c)) return false;
      out = (out << 8) | c;
    }
    return true;
  }
  bool sized(int width) {
    std::uint64_t n;
    return uint(width, n) && skip(n);
  }
  bool ext_sized(int width) {
    std::uint64_t n;
    return uint(width, n) && skip(n + 1);
  }
  bool items(std::uint64_t n, std::uint64_t per, int depth) {
    // Every item takes at least one byte: refuse counts the input cannot hold.
    if (n * per > b_.size() - pos_) return fail("container count exceeds the input");
    for (std::uint64_t i = 0; i < n * per; ++i) {
      if (!value(depth + 1)) return false;
    }
    return true;
  }
  std::span<const std::byte> b_;
  int max_depth_;
  std::size_t pos_ = 0;
};

}  // namespace

MsgpackWalkResult walk_msgpack(std::span<const std::byte> bytes, int max_depth) {
  Walker w(bytes, max_depth);
  MsgpackWalkResult result;
  w.value(0);
  result.offset = w.pos();
  result.error = std::move(w.error);
  result.deepest = w.deepest;
  return result;
}

absl::Status check_nesting(std::span<const std::byte> bytes, std::string_view what) {
  // Each level takes at least one byte: a short value cannot nest too deep.
  if (bytes.size() <= static_cast<std::size_t>(limits::kMaxNestingDepth) + 1) {
    return absl::OkStatus();
  }
  MsgpackWalkResult walked = walk_msgpack(bytes);
  if (walked.error.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      cat("herald: ", what, " refused: ", walked.error, " (limits::kMaxNestingDepth)"));
}

}  // namespace herald::internal
