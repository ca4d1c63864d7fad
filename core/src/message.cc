#include "herald/message.hpp"

#include <cstdlib>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "herald/internal/msgpack_walk.hpp"
#include "herald/internal/text.hpp"

namespace herald::internal {

namespace {

// Blocks of the common small size are kept per thread for reuse: a send
// then allocates nothing (its Envelope lives in the block's tail). At most
// kKeptBlocks per thread (8 KiB), freed when the thread ends. Not under
// AddressSanitizer, which must see every block freed.
constexpr std::size_t kSmallCapacity = 256 - sizeof(MessageBlock);
#if defined(__SANITIZE_ADDRESS__)
constexpr int kKeptBlocks = 0;
#else
constexpr int kKeptBlocks = 32;
#endif

struct KeptBlocks {
  MessageBlock* blocks[kKeptBlocks > 0 ? kKeptBlocks : 1];
  int count = 0;  // -1 once the thread's kept blocks are gone (at its end)
  ~KeptBlocks() {
    while (count > 0) std::free(blocks[--count]);
    count = -1;
  }
};
thread_local KeptBlocks t_kept;

}  // namespace

MessageBlock* allocate_block(std::size_t capacity) {
  void* raw = nullptr;
  if (capacity <= kSmallCapacity) {
    capacity = kSmallCapacity;
    if (t_kept.count > 0) raw = t_kept.blocks[--t_kept.count];
  }
  if (raw == nullptr) raw = std::malloc(sizeof(MessageBlock) + capacity);
  if (raw == nullptr) throw std::bad_alloc();
  auto* block = static_cast<MessageBlock*>(raw);
  block->refs.store(1, std::memory_order_relaxed);
  block->size = 0;
  block->capacity = static_cast<std::uint32_t>(capacity);
  block->carried_end = 0;
  block->carried_type = nullptr;
  block->carried = nullptr;
  return block;
}

void free_block(MessageBlock* block) noexcept {
  if (block->carried_type != nullptr) {
    block->carried_type->destroy(const_cast<void*>(block->carried));
  }
  if (block->capacity == kSmallCapacity && t_kept.count >= 0 && t_kept.count < kKeptBlocks) {
    t_kept.blocks[t_kept.count++] = block;
    return;
  }
  std::free(block);
}

void MessageWriter::grow(std::size_t n) {
  std::size_t needed = std::size_t{block_->size} + n;
  if (needed > 0xFFFFFFF0u) throw std::length_error("herald: message body over 4 GiB");
  std::size_t capacity = std::max<std::size_t>(needed, std::size_t{block_->capacity} * 2);
  if (capacity > 0xFFFFFFF0u) capacity = needed;
  void* raw = std::realloc(block_, sizeof(MessageBlock) + capacity);
  if (raw == nullptr) throw std::bad_alloc();
  block_ = static_cast<MessageBlock*>(raw);
  block_->capacity = static_cast<std::uint32_t>(capacity);
}

namespace {
// Strings and bin in a decoded object point into the Message's own bytes:
// they stay valid while the Message lives, so nothing is copied.
bool reference_everything(msgpack::type::object_type, std::size_t, void*) { return true; }
}  // namespace

[[noreturn]] void throw_decode_error(const char* type_name, const char* what) {
  throw DecodeError(internal::cat("herald: cannot decode message as ", type_name, ": ", what));
}

msgpack::object_handle unpack_for_decode(std::span<const std::byte> bytes, const char* type_name) {
  try {
    return msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size(),
                           reference_everything);
  } catch (const std::exception& e) {
    throw_decode_error(type_name, e.what());
  }
}

}  // namespace herald::internal

namespace herald {

absl::StatusOr<Message> Message::from_msgpack(std::span<const std::byte> bytes) {
  if (bytes.empty()) {
    return absl::InvalidArgumentError(
        "herald: from_msgpack: empty input (expected one msgpack value)");
  }
  internal::MsgpackWalkResult walked = internal::walk_msgpack(bytes);
  if (!walked.error.empty()) {
    return absl::InvalidArgumentError(internal::cat(
        "herald: from_msgpack: invalid msgpack at byte ", walked.offset, ": ", walked.error));
  }
  if (walked.offset != bytes.size()) {
    return absl::InvalidArgumentError(internal::cat(
        "herald: from_msgpack: ", bytes.size() - walked.offset,
        " trailing bytes after the first msgpack value (which ends at byte ", walked.offset, ")"));
  }
  internal::MessageWriter writer(bytes.size());
  writer.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return Message(writer.release());
}

}  // namespace herald
