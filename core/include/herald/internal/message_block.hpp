// herald/internal/message_block.hpp — the bytes behind a Message: a
// reference-counted block, the writer that encodes into it, and the hooks the
// Envelope uses to live in the block's spare tail. Included by message.hpp
// after the Message class; not for applications.
#pragma once

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <msgpack.hpp>
#include <span>

namespace herald {

class Message;

namespace internal {

// A reference-counted byte block: header followed by the bytes.
struct MessageBlock {
  std::atomic<std::uint32_t> refs;
  std::uint32_t size;
  std::uint32_t capacity;
  std::byte* data() noexcept { return reinterpret_cast<std::byte*>(this + 1); }
  const std::byte* data() const noexcept { return reinterpret_cast<const std::byte*>(this + 1); }
};

MessageBlock* allocate_block(std::size_t capacity);
void free_block(MessageBlock* block) noexcept;

// The msgpack output stream of Message::of: writes straight into the block the
// Message will own, so encoding costs one allocation for small bodies.
class MessageWriter {
 public:
  // Room after the body for the Envelope that usually joins it (names included).
  static constexpr std::size_t kEnvelopeRoom = 128;
  MessageWriter() : block_(allocate_block(kInitialCapacity)) {}
  explicit MessageWriter(std::size_t body_capacity)
      : block_(allocate_block(body_capacity + kEnvelopeRoom)) {}
  MessageWriter(const MessageWriter&) = delete;
  MessageWriter& operator=(const MessageWriter&) = delete;
  ~MessageWriter() {
    if (block_ != nullptr) free_block(block_);
  }
  void write(const char* data, std::size_t n) {
    if (block_->capacity - block_->size < n) grow(n);
    std::memcpy(block_->data() + block_->size, data, n);
    block_->size += static_cast<std::uint32_t>(n);
  }
  MessageBlock* release() noexcept {
    MessageBlock* b = block_;
    block_ = nullptr;
    return b;
  }

 private:
  // Room for a small body plus the Envelope that usually follows it into the
  // same allocation (see message_tail).
  static constexpr std::size_t kInitialCapacity = 176;
  void grow(std::size_t n);
  MessageBlock* block_;
};

// std::string, Bytes and the like: their encoded size is known up front.
template <class T>
concept contiguous_bytes = requires(const T& t) {
  { t.size() } -> std::convertible_to<std::size_t>;
  std::data(t);
  requires sizeof(*std::data(t)) == 1;
};

// Decodes `bytes` into a msgpack object (strings and bin reference `bytes`),
// then converts it; throws DecodeError naming `type_name` on mismatch.
msgpack::object_handle unpack_for_decode(std::span<const std::byte> bytes, const char* type_name);
[[noreturn]] void throw_decode_error(const char* type_name, const char* what);

// A Message owning `block` (which must hold exactly one msgpack value).
Message adopt_message(MessageBlock* block) noexcept;

// Unused space after the body of `message`'s block, `n` bytes aligned to
// `align`, or nullptr. Only offered while `message` is the block's sole
// owner: the Envelope built around a fresh body lives there, saving an
// allocation. The Envelope keeps a reference to the block, so the space
// stays valid (and unoffered) for as long as the Envelope lives.
void* message_tail(const Message& message, std::size_t n, std::size_t align) noexcept;

}  // namespace internal

}  // namespace herald
