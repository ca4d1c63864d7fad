#include "herald/internal/names.hpp"

#include <cstdint>
#include <cstring>
#include <random>

#include "herald/internal/text.hpp"

namespace herald::internal {

namespace {

// The last channel and event names this thread sent with, found valid, and
// their hashes: a sender that sends to the same names again validates and
// hashes nothing. Validity and the hash depend on the bytes alone, so the
// cache is shared by every connection of the thread. Names up to kKnownBytes.
struct KnownName {
  static constexpr std::size_t kKnownBytes = 64;
  char bytes[kKnownBytes];
  std::uint8_t size = 0;  // 0: nothing known
  std::size_t hash = 0;
  bool is(std::string_view name) const noexcept {
    return size != 0 && same_name(std::string_view(bytes, size), name);
  }
  void remember(std::string_view name, std::size_t h) noexcept {
    if (name.size() > kKnownBytes) return;
    std::memcpy(bytes, name.data(), name.size());
    size = static_cast<std::uint8_t>(name.size());
    hash = h;
  }
};
thread_local KnownName t_known_channel;
thread_local KnownName t_known_event;

}  // namespace

namespace names_detail {
std::uint64_t make_hash_seed() {
  std::random_device rd;
  return (std::uint64_t{rd()} << 32) ^ rd();
}
}  // namespace names_detail

bool is_valid_utf8(std::string_view s) noexcept {
  // Short ASCII names, the norm, in one pass without branches per byte.
  if (s.size() <= 32) {
    unsigned char all = 0;
    for (char c : s) all |= static_cast<unsigned char>(c);
    if (all < 0x80) return true;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII fast path, eight bytes at a time.
    if (end - p >= 8) {
      std::uint64_t chunk;
      std::memcpy(&chunk, p, 8);
      if ((chunk & 0x8080808080808080ull) == 0) {
        p += 8;
        continue;
      }
    }
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int extra;
    std::uint32_t cp;
    if (c >= 0xc2 && c <= 0xdf) {
      extra = 1;
      cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
      extra = 2;
      cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
      extra = 3;
      cp = c & 0x07;
    } else {
      return false;  // continuation byte, overlong lead (c0/c1) or > f4
    }
    if (end - p <= extra) return false;
    for (int i = 1; i <= extra; ++i) {
      unsigned char cc = p[i];
      if ((cc & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3f);
    }
    if ((extra == 2 && cp < 0x800) || (extra == 3 && cp < 0x10000)) return false;  // overlong
    if (cp >= 0xd800 && cp <= 0xdfff) return false;                                // surrogate
    if (cp > 0x10ffff) return false;
    p += extra + 1;
  }
  return true;
}

absl::Status validate_name(std::string_view what, std::string_view name) {
  if (name.empty()) {
    return absl::InvalidArgumentError(internal::cat("herald: ", what, " name is empty (1 to ",
                                                    kMaxNameBytes, " bytes of UTF-8 expected)"));
  }
  if (name.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(cat("herald: ", what, " name ", printable_quote(name, 32),
                                          " is ", name.size(), " bytes; the limit is ",
                                          kMaxNameBytes));
  }
  if (!is_valid_utf8(name)) {
    return absl::InvalidArgumentError(
        cat("herald: ", what, " name ", printable_quote(name), " is not valid UTF-8"));
  }
  return absl::OkStatus();
}

absl::Status validate_sent_event(std::string_view event) {
  if (absl::Status s = validate_name("event", event); !s.ok()) return s;
  if (event.starts_with(kReservedEventPrefix)) {
    return absl::InvalidArgumentError(
        cat("herald: event name ", printable_quote(event), " is reserved: events starting with \"",
            kReservedEventPrefix,
            "\" are the hub's presence events (channel:join, channel:leave, channel:update)"));
  }
  return absl::OkStatus();
}

absl::Status check_sent_channel(std::string_view channel, std::size_t& hash) {
  if (t_known_channel.is(channel)) {
    hash = t_known_channel.hash;
    return absl::OkStatus();
  }
  absl::Status status = validate_name("channel", channel);
  if (!status.ok()) return status;
  hash = hash_name(channel);
  t_known_channel.remember(channel, hash);
  return status;
}
absl::Status check_sent_event(std::string_view event, std::size_t& hash) {
  if (t_known_event.is(event)) {
    hash = t_known_event.hash;
    return absl::OkStatus();
  }
  absl::Status status = validate_sent_event(event);
  if (!status.ok()) return status;
  hash = hash_name(event);
  t_known_event.remember(event, hash);
  return status;
}

}  // namespace herald::internal
