// herald/internal/message_block.hpp — the bytes behind a Message: a
// reference-counted block, the writer that encodes into it, and the hooks the
// Envelope uses to live in the block's spare tail. Included by message.hpp
// after the Message class; not for applications.
#pragma once

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <iterator>
#include <list>
#include <map>
#include <msgpack.hpp>
#include <new>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <tuple>
#include <type_traits>
#include <typeinfo>
#include <unordered_map>
#include <utility>
#include <vector>

namespace herald {

class Message;

namespace internal {

// What a block knows of the value it was made from (Message::of): its type,
// and how to end it. The value itself lives in the block, after the bytes.
struct CarriedType {
  const std::type_info* type;
  void (*destroy)(void* value) noexcept;
};

struct BlockPool;  // where small blocks are kept for reuse (message.cc)

// A reference-counted byte block: header followed by the bytes, then maybe
// the value they encode (`carried`), then maybe an Envelope (message_tail).
struct MessageBlock {
  std::atomic<std::uint32_t> refs;
  std::uint32_t size;
  std::uint32_t capacity;
  // Offset from the block's start of the first byte after the carried value
  // (0: nothing carried).
  std::uint32_t carried_end;
  const CarriedType* carried_type;
  const void* carried;
  BlockPool* pool;  // the pool it returns to (message.cc), or nullptr
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
  // Room for the body of a value that is carried too (see carry_value).
  static constexpr std::size_t kCarriedBodyRoom = 64;
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
  // Makes sure `n` more bytes fit without growing (before anything is
  // constructed in the spare tail: growing moves the block).
  void reserve_tail(std::size_t n) {
    if (block_->capacity - block_->size < n) grow(n);
  }
  MessageBlock* block() noexcept { return block_; }

 private:
  // Room for a small body plus the Envelope that usually follows it into the
  // same allocation (see message_tail).
  static constexpr std::size_t kInitialCapacity = 176;
  void grow(std::size_t n);
  MessageBlock* block_;
};

// Values that own everything they hold, so that a copy kept beside the bytes
// stays valid however long the Message lives: numbers, strings, byte
// strings, structs with MSGPACK_DEFINE (whose members are expected to own
// theirs, as any body's are), and the std containers, optional, pair and
// tuple of such values. Views (std::string_view, spans, msgpack::object,
// reference_wrapper) are not.
template <class T>
struct owning_value : std::bool_constant<std::is_arithmetic_v<T>> {};
template <>
struct owning_value<std::string> : std::true_type {};
template <class T>
requires requires(const T& t, msgpack::packer<msgpack::sbuffer>& p) { t.msgpack_pack(p); }
struct owning_value<T> : std::true_type {};
template <class U, class A>
struct owning_value<std::vector<U, A>> : owning_value<U> {};
template <class A>
struct owning_value<std::vector<std::byte, A>> : std::true_type {};
template <class U, class A>
struct owning_value<std::deque<U, A>> : owning_value<U> {};
template <class U, class A>
struct owning_value<std::list<U, A>> : owning_value<U> {};
template <class U, std::size_t N>
struct owning_value<std::array<U, N>> : owning_value<U> {};
template <class U>
struct owning_value<std::optional<U>> : owning_value<U> {};
template <class A, class B>
struct owning_value<std::pair<A, B>>
    : std::bool_constant<owning_value<A>::value && owning_value<B>::value> {};
template <class... U>
struct owning_value<std::tuple<U...>> : std::bool_constant<(owning_value<U>::value && ...)> {};
template <class K, class V, class C, class A>
struct owning_value<std::map<K, V, C, A>>
    : std::bool_constant<owning_value<K>::value && owning_value<V>::value> {};
template <class K, class V, class H, class E, class A>
struct owning_value<std::unordered_map<K, V, H, E, A>>
    : std::bool_constant<owning_value<K>::value && owning_value<V>::value> {};
template <class K, class C, class A>
struct owning_value<std::set<K, C, A>> : owning_value<K> {};

// Values Message::of keeps beside their bytes, so that as<T>() of the type
// that was sent copies instead of decoding: owning class types whose
// decoding builds an object tree (structs, containers). Not strings and byte
// strings (decoding them is one copy, the same as copying them), nor numbers
// (decoded directly, message_decode.hpp).
template <class T>
concept carried_value =
    std::is_class_v<T> && owning_value<T>::value && !std::is_same_v<T, std::string> &&
    !std::is_same_v<T, std::vector<std::byte>> && std::is_copy_constructible_v<T> &&
    std::is_nothrow_destructible_v<T> && alignof(T) <= alignof(std::max_align_t);

template <class T>
inline constexpr CarriedType kCarriedType{
    &typeid(T), [](void* value) noexcept { static_cast<T*>(value)->~T(); }};

// Constructs a copy of `value` in the block's tail, after the bytes.
template <class T>
void carry_value(MessageWriter& writer, const T& value) {
  constexpr std::size_t kAlign = alignof(T);
  writer.reserve_tail(sizeof(T) + kAlign + MessageWriter::kEnvelopeRoom);
  MessageBlock* block = writer.block();
  const std::size_t used = sizeof(MessageBlock) + block->size;
  const std::size_t start = (used + kAlign - 1) / kAlign * kAlign;
  void* where = reinterpret_cast<char*>(block) + start;
  const T* made = new (where) T(value);
  block->carried = made;
  block->carried_type = &kCarriedType<T>;
  block->carried_end = static_cast<std::uint32_t>(start + sizeof(T));
}

// The value `block` carries when it is a T, or nullptr.
template <class T>
const T* carried_as(const MessageBlock* block) noexcept {
  if (block == nullptr || block->carried_type == nullptr) return nullptr;
  if (block->carried_type != &kCarriedType<T> && *block->carried_type->type != typeid(T)) {
    return nullptr;
  }
  return static_cast<const T*>(block->carried);
}

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
