// herald/message.hpp — Message: an immutable msgpack body whose copies share bytes.
//
// A Message is what `send` and `broadcast` carry. It is encoded once, with
// msgpack, when it is created; after that it never changes, and copying it
// copies one pointer (the bytes are reference-counted and shared by every
// copy, on any thread). Decoding is explicit: `as<T>()` or `try_as<T>()`.
//
// What decoding costs: numbers, bool and strings are read straight from the
// bytes (message_decode.hpp), with no msgpack-c object tree. A struct or
// container made with `Message::of(value)` in this process also keeps a copy
// of `value` beside its bytes (internal::carried_value), so `as<T>()` of that
// same T is a copy, not a decode; any other T, and every message that came
// over a network, decodes the bytes as before. Both paths give the same
// result as decoding the bytes would.
//
// Thread-safety: a Message is immutable; copies may be used, copied and
// destroyed concurrently from any thread.
//
// What can be carried: anything msgpack-c can pack — numbers, bool, strings,
// `Bytes` (travels as msgpack bin), std containers, std::optional, and structs
// with MSGPACK_DEFINE / MSGPACK_DEFINE_MAP.
#pragma once

#include <algorithm>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <msgpack.hpp>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "absl/status/statusor.h"

namespace herald {

// Binary data; travels as msgpack bin.
using Bytes = std::vector<std::byte>;

// Thrown by Message::as<T>() when the body does not hold a T. This is the one
// exception herald throws for a misuse a correct program never makes.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Message;

namespace internal {
struct MessageBlock;
Message adopt_message(MessageBlock* block) noexcept;
void* message_tail(const Message& message, std::size_t n, std::size_t align) noexcept;
}  // namespace internal

class Message {
 public:
  // nil
  Message() noexcept = default;
  Message(const Message& other) noexcept : block_(other.block_) { retain(); }
  Message(Message&& other) noexcept : block_(other.block_) { other.block_ = nullptr; }
  Message& operator=(const Message& other) noexcept {
    if (this != &other) {
      other.retain();
      release();
      block_ = other.block_;
    }
    return *this;
  }
  Message& operator=(Message&& other) noexcept {
    if (this != &other) {
      release();
      block_ = other.block_;
      other.block_ = nullptr;
    }
    return *this;
  }
  ~Message() { release(); }

  // Encodes any msgpack-serializable value. `Message::of(message)` is a copy.
  template <class T>
  static Message of(const T& value);

  // Copies `bytes` after checking that they hold exactly one well-formed
  // msgpack value (kInvalidArgument otherwise, saying where it went wrong).
  [[nodiscard]] static absl::StatusOr<Message> from_msgpack(std::span<const std::byte> bytes);

  // Decodes the body; throws herald::DecodeError when it does not hold a T.
  template <class T>
  T as() const;

  template <class T>
  std::optional<T> try_as() const noexcept {
    try {
      return as<T>();
    } catch (...) {
      return std::nullopt;
    }
  }

  // The msgpack encoding (one byte, 0xc0, for nil).
  std::span<const std::byte> bytes() const noexcept;

  // Readable JSON form: bin as base64 strings, non-string map keys as their
  // JSON text, ext as {"$ext": type, "data": base64}.
  std::string to_json() const;

  bool is_nil() const noexcept;

  // True when both refer to the same shared bytes (not a byte comparison).
  bool shares_bytes_with(const Message& other) const noexcept { return block_ == other.block_; }

  friend bool operator==(const Message& a, const Message& b) noexcept {
    auto x = a.bytes();
    auto y = b.bytes();
    return x.size() == y.size() && std::memcmp(x.data(), y.data(), x.size()) == 0;
  }

 private:
  static constexpr std::byte kNilByte{0xc0};
  friend Message internal::adopt_message(internal::MessageBlock* block) noexcept;
  friend void* internal::message_tail(const Message& message, std::size_t n,
                                      std::size_t align) noexcept;
  explicit Message(internal::MessageBlock* block) noexcept : block_(block) {}
  void retain() const noexcept;
  void release() noexcept;
  internal::MessageBlock* block_ = nullptr;
};

}  // namespace herald

#include "herald/internal/message_block.hpp"   // IWYU pragma: export
#include "herald/internal/message_decode.hpp"  // IWYU pragma: export

namespace herald {

// ---- Inline definitions (they need the block internals) ----

inline std::span<const std::byte> Message::bytes() const noexcept {
  if (block_ == nullptr) return {&kNilByte, 1};
  return {block_->data(), block_->size};
}

inline bool Message::is_nil() const noexcept {
  return block_ == nullptr || (block_->size == 1 && block_->data()[0] == kNilByte);
}

inline void Message::retain() const noexcept {
  if (block_ != nullptr) block_->refs.fetch_add(1, std::memory_order_relaxed);
}

inline void Message::release() noexcept {
  // A sole owner frees without the read-modify-write: nobody else can be
  // copying a block that only this Message references.
  if (block_ != nullptr && (block_->refs.load(std::memory_order_acquire) == 1 ||
                            block_->refs.fetch_sub(1, std::memory_order_acq_rel) == 1)) {
    internal::free_block(block_);
  }
  block_ = nullptr;
}

template <class T>
Message Message::of(const T& value) {
  if constexpr (std::is_same_v<T, Message>) {
    return value;
  } else {
    // Byte strings and strings of known size get a block that fits at once.
    internal::MessageWriter writer = [&] {
      if constexpr (internal::contiguous_bytes<T>) {
        return internal::MessageWriter(value.size() + 5);  // + the str/bin header
      } else if constexpr (internal::carried_value<T>) {
        // Room for a small body and the value it carries: no regrowth.
        return internal::MessageWriter(internal::MessageWriter::kCarriedBodyRoom + sizeof(T) +
                                       alignof(T));
      } else {
        return internal::MessageWriter();
      }
    }();
    msgpack::packer<internal::MessageWriter> packer(writer);
    packer.pack(value);
    if constexpr (internal::carried_value<T>) internal::carry_value(writer, value);
    return Message(writer.release());
  }
}

template <class T>
T Message::as() const {
  if constexpr (internal::direct_decodable<T>) {
    T out;
    if (internal::decode_direct(bytes(), out)) return out;
  } else if constexpr (internal::carried_value<T>) {
    // Sent in this process as a T: a copy, no decoding.
    if (const T* carried = internal::carried_as<T>(block_)) return *carried;
  }
  msgpack::object_handle handle = internal::unpack_for_decode(bytes(), typeid(T).name());
  try {
    return handle.get().as<T>();
  } catch (const std::exception& e) {
    internal::throw_decode_error(typeid(T).name(), e.what());
  }
}

namespace internal {
inline Message adopt_message(MessageBlock* block) noexcept { return Message(block); }

// A Message holding a copy of `bytes`, which the caller has already checked
// hold exactly one well-formed msgpack value (Message::from_msgpack checks).
inline Message copy_checked_msgpack(std::span<const std::byte> bytes) {
  MessageWriter writer(bytes.size());
  writer.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return adopt_message(writer.release());
}

inline void* message_tail(const Message& message, std::size_t n, std::size_t align) noexcept {
  MessageBlock* block = message.block_;
  if (block == nullptr || block->refs.load(std::memory_order_acquire) != 1) return nullptr;
  const std::size_t used =
      std::max<std::size_t>(sizeof(MessageBlock) + block->size, block->carried_end);
  const std::size_t start = (used + align - 1) / align * align;
  if (start + n > sizeof(MessageBlock) + block->capacity) return nullptr;
  return reinterpret_cast<char*>(block) + start;
}
}  // namespace internal

}  // namespace herald
