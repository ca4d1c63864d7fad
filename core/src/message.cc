#include "herald/message.hpp"

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <string>

#include "absl/status/status.h"
#include "herald/internal/msgpack_walk.hpp"
#include "herald/internal/text.hpp"

namespace herald::internal {

namespace {

// Blocks of the common small size are reused, so that a send allocates
// nothing (its Envelope lives in the block's tail) and, above all, so that
// a block made on a producer's thread and freed on a consumer's does not go
// back through malloc: glibc then takes the producer's arena lock on every
// message, against the producer's own mallocs (measured: most of the cost
// of a queued 1 -> 1 send).
//
// Each thread that makes blocks owns a BlockPool. A block freed on its
// owner's thread goes to the pool's local list; one freed elsewhere is
// pushed onto the pool's remote stack (lock-free), which the owner takes
// whole when its local list runs dry. Both lists are bounded (kMaxLocal,
// about kMaxRemote, 2 MiB); past them blocks go to free(). A pool outlives its
// thread: it is kept in a registry and adopted by the next thread that
// needs one, so there are never more pools than threads alive at once.
// Off under AddressSanitizer, which must see every block freed.
constexpr std::size_t kSmallCapacity = 256 - sizeof(MessageBlock);
#if defined(__SANITIZE_ADDRESS__)  // GCC
constexpr bool kPooled = false;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)  // Clang
constexpr bool kPooled = false;
#else
constexpr bool kPooled = true;
#endif
#else
constexpr bool kPooled = true;
#endif
constexpr int kMaxLocal = 64;
constexpr int kMaxRemote = 8192;  // 2 MiB

// A free block's link: its `carried` field, unused while it is free.
MessageBlock* next_of(const MessageBlock* b) noexcept {
  return static_cast<MessageBlock*>(const_cast<void*>(b->carried));
}
void set_next(MessageBlock* b, MessageBlock* next) noexcept { b->carried = next; }

}  // namespace

struct BlockPool {
  // The owner's.
  MessageBlock* local = nullptr;
  int local_count = 0;
  // Freed by other threads.
  std::atomic<MessageBlock*> remote{nullptr};
  std::atomic<int> remote_count{0};  // at least what `remote` holds
  std::atomic<bool> owned{false};
  BlockPool* next_unowned = nullptr;  // in the registry (g_pools_mu)

  // The owner, when `local` is empty: takes what other threads gave back as
  // its local list; returns how many.
  int take_remote() noexcept {
    MessageBlock* list = remote.exchange(nullptr, std::memory_order_acquire);
    int n = 0;
    for (MessageBlock* b = list; b != nullptr; b = next_of(b)) ++n;
    if (n > 0) remote_count.fetch_sub(n, std::memory_order_relaxed);
    local = list;
    local_count = n;
    return n;
  }
  static void free_list(MessageBlock* list) noexcept {
    while (list != nullptr) {
      MessageBlock* next = next_of(list);
      std::free(list);
      list = next;
    }
  }
};

namespace {

std::mutex g_pools_mu;
BlockPool* g_unowned = nullptr;  // pools whose thread ended, for the next thread

struct PoolHolder {
  BlockPool* pool = nullptr;
  bool ended = false;  // this thread's pool is gone (the thread is ending)
  BlockPool* get() {
    if (pool != nullptr || ended) return pool;
    {
      std::lock_guard lock(g_pools_mu);
      if (g_unowned != nullptr) {
        pool = g_unowned;
        g_unowned = pool->next_unowned;
      }
    }
    if (pool == nullptr) pool = new BlockPool;  // kept for ever, reused (see above)
    pool->owned.store(true, std::memory_order_seq_cst);
    return pool;
  }
  ~PoolHolder() {
    ended = true;
    if (pool == nullptr) return;
    BlockPool::free_list(pool->local);
    pool->local = nullptr;
    pool->local_count = 0;
    pool->owned.store(false, std::memory_order_seq_cst);
    BlockPool::free_list(pool->remote.exchange(nullptr, std::memory_order_acquire));
    std::lock_guard lock(g_pools_mu);
    pool->next_unowned = g_unowned;
    g_unowned = pool;
    pool = nullptr;
  }
};
thread_local PoolHolder t_pool;

MessageBlock* pooled_block() noexcept {
  BlockPool* pool = t_pool.get();
  if (pool == nullptr) return nullptr;
  if (pool->local == nullptr &&
      (pool->remote.load(std::memory_order_relaxed) == nullptr || pool->take_remote() == 0)) {
    return nullptr;
  }
  MessageBlock* b = pool->local;
  pool->local = next_of(b);
  --pool->local_count;
  return b;
}

// True when `block` went back to a pool.
bool pool_block(MessageBlock* block) noexcept {
  BlockPool* home = block->pool;
  if (home == nullptr || block->capacity != kSmallCapacity) return false;
  if (home == t_pool.pool) {
    if (home->local_count >= kMaxLocal) return false;
    set_next(block, home->local);
    home->local = block;
    ++home->local_count;
    return true;
  }
  if (!home->owned.load(std::memory_order_acquire) ||
      home->remote_count.load(std::memory_order_relaxed) >= kMaxRemote) {
    return false;
  }
  home->remote_count.fetch_add(1, std::memory_order_relaxed);
  MessageBlock* head = home->remote.load(std::memory_order_relaxed);
  do {
    set_next(block, head);
  } while (!home->remote.compare_exchange_weak(head, block, std::memory_order_release,
                                               std::memory_order_relaxed));
  // Its thread ended meanwhile: nobody takes these, so take them here.
  if (!home->owned.load(std::memory_order_seq_cst)) {
    MessageBlock* list = home->remote.exchange(nullptr, std::memory_order_acquire);
    int n = 0;
    for (MessageBlock* b = list; b != nullptr; b = next_of(b)) ++n;
    home->remote_count.fetch_sub(n, std::memory_order_relaxed);
    BlockPool::free_list(list);
  }
  return true;
}

}  // namespace

MessageBlock* allocate_block(std::size_t capacity) {
  MessageBlock* block = nullptr;
  BlockPool* pool = nullptr;
  if (kPooled && capacity <= kSmallCapacity) {
    capacity = kSmallCapacity;
    block = pooled_block();
    pool = t_pool.pool;
  }
  if (block == nullptr) {
    void* raw = std::malloc(sizeof(MessageBlock) + capacity);
    if (raw == nullptr) throw std::bad_alloc();
    block = static_cast<MessageBlock*>(raw);
  }
  block->refs.store(1, std::memory_order_relaxed);
  block->size = 0;
  block->capacity = static_cast<std::uint32_t>(capacity);
  block->carried_end = 0;
  block->carried_type = nullptr;
  block->carried = nullptr;
  block->pool = pool;
  return block;
}

void free_block(MessageBlock* block) noexcept {
  if (block->carried_type != nullptr) {
    block->carried_type->destroy(const_cast<void*>(block->carried));
  }
  if (kPooled && pool_block(block)) return;
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
