// herald/internal/envelope.hpp — Envelope: one message on its way, shared by
// every receiver.
//
// An Envelope is {kind, channel?, event, sender, echo, body}. It is created
// once per send in a single allocation (names inline), is immutable, and is
// reference-counted: fan-out to N receivers hands out N pointer copies.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>

#include "herald/message.hpp"
#include "herald/payload.hpp"

namespace herald::internal {

enum class EnvelopeKind : std::uint8_t {
  message = 0,    // send(channel, event, body)
  broadcast = 1,  // broadcast(event, body)
  join = 2,       // presence: channel:join
  leave = 3,      // presence: channel:leave
  update = 4,     // presence: channel:update
};

class Envelope;

// Intrusive, thread-safe shared pointer to an immutable Envelope.
class EnvelopePtr {
 public:
  EnvelopePtr() noexcept = default;
  explicit EnvelopePtr(const Envelope* e) noexcept : p_(e) {}  // adopts one reference
  EnvelopePtr(const EnvelopePtr& o) noexcept;
  EnvelopePtr(EnvelopePtr&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  EnvelopePtr& operator=(EnvelopePtr o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~EnvelopePtr();
  const Envelope* get() const noexcept { return p_; }
  const Envelope& operator*() const noexcept { return *p_; }
  const Envelope* operator->() const noexcept { return p_; }
  explicit operator bool() const noexcept { return p_ != nullptr; }
  void reset() noexcept { EnvelopePtr().swap(*this); }
  // Gives up the reference without dropping it (EnvelopePtr(e) adopts it back).
  const Envelope* release() noexcept { return std::exchange(p_, nullptr); }
  void swap(EnvelopePtr& o) noexcept { std::swap(p_, o.p_); }

 private:
  const Envelope* p_ = nullptr;
};

class Envelope {
 public:
  // `channel` is ignored for broadcast. Names must already be validated.
  static EnvelopePtr make(EnvelopeKind kind, std::string_view channel, std::string_view event,
                          std::string_view sender, Message body, bool echo);
  // The same, with the names' hash_name() already known (0 for no channel).
  static EnvelopePtr make(EnvelopeKind kind, std::string_view channel, std::size_t channel_hash,
                          std::string_view event, std::size_t event_hash, std::string_view sender,
                          Message body, bool echo);

  EnvelopeKind kind() const noexcept { return kind_; }
  bool is_broadcast() const noexcept { return kind_ == EnvelopeKind::broadcast; }
  // std::nullopt for a broadcast.
  std::optional<std::string_view> channel() const noexcept {
    if (is_broadcast()) return std::nullopt;
    return std::string_view(chars(), channel_len_);
  }
  std::string_view channel_or_empty() const noexcept { return {chars(), channel_len_}; }
  std::string_view event() const noexcept { return {chars() + channel_len_, event_len_}; }
  std::string_view sender() const noexcept {
    return {chars() + channel_len_ + event_len_, sender_len_};
  }
  const Message& body() const noexcept { return body_; }
  bool echo() const noexcept { return echo_; }
  std::size_t channel_hash() const noexcept { return channel_hash_; }
  std::size_t event_hash() const noexcept { return event_hash_; }

  Payload payload() const noexcept { return Payload(channel(), event(), body_, sender()); }

  // The echo rule, in one place: a receiver whose socket id is `receiver_id`
  // gets this envelope unless it is the origin and echo is off.
  bool reaches(std::string_view receiver_id) const noexcept {
    return echo_ || receiver_id != sender();
  }

 private:
  friend class EnvelopePtr;
  Envelope(EnvelopeKind kind, std::uint32_t channel_len, std::uint32_t event_len,
           std::uint32_t sender_len, Message body, bool echo, bool in_body_block) noexcept
      : refs_(1),
        kind_(kind),
        echo_(echo),
        in_body_block_(in_body_block),
        channel_len_(channel_len),
        event_len_(event_len),
        sender_len_(sender_len),
        body_(std::move(body)) {}
  const char* chars() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  char* chars() noexcept { return reinterpret_cast<char*>(this + 1); }
  static void destroy(const Envelope* e) noexcept;

  mutable std::atomic<std::uint32_t> refs_;
  EnvelopeKind kind_;
  bool echo_;
  bool in_body_block_;  // lives in the spare tail of body_'s block (no allocation of its own)
  std::uint32_t channel_len_;
  std::uint32_t event_len_;
  std::uint32_t sender_len_;
  std::size_t channel_hash_ = 0;
  std::size_t event_hash_ = 0;
  Message body_;
};

inline EnvelopePtr::EnvelopePtr(const EnvelopePtr& o) noexcept : p_(o.p_) {
  if (p_ != nullptr) p_->refs_.fetch_add(1, std::memory_order_relaxed);
}

inline EnvelopePtr::~EnvelopePtr() {
  if (p_ != nullptr && (p_->refs_.load(std::memory_order_acquire) == 1 ||
                        p_->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)) {
    Envelope::destroy(p_);
  }
}

// The body of presence events: {"id": <socket id>, "data": <profile>}.
Message presence_body(std::string_view id, const Message& profile);

}  // namespace herald::internal
