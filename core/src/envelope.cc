#include "herald/internal/envelope.hpp"

#include <cstring>
#include <new>

#include "herald/internal/names.hpp"

namespace herald::internal {

EnvelopePtr Envelope::make(EnvelopeKind kind, std::string_view channel, std::string_view event,
                           std::string_view sender, Message body, bool echo) {
  if (kind == EnvelopeKind::broadcast) channel = {};
  return make(kind, channel, channel.empty() ? 0 : hash_name(channel), event, hash_name(event),
              sender, std::move(body), echo);
}

EnvelopePtr Envelope::make(EnvelopeKind kind, std::string_view channel, std::size_t channel_hash,
                           std::string_view event, std::size_t event_hash, std::string_view sender,
                           Message body, bool echo) {
  if (kind == EnvelopeKind::broadcast) channel = {};
  const std::size_t chars = channel.size() + event.size() + sender.size();
  const std::size_t bytes = sizeof(Envelope) + chars;
  void* raw = message_tail(body, bytes, alignof(Envelope));
  const bool in_body_block = raw != nullptr;
  if (!in_body_block) raw = ::operator new(bytes);
  auto* e = new (raw) Envelope(
      kind, static_cast<std::uint32_t>(channel.size()), static_cast<std::uint32_t>(event.size()),
      static_cast<std::uint32_t>(sender.size()), std::move(body), echo, in_body_block);
  char* out = e->chars();
  if (!channel.empty()) std::memcpy(out, channel.data(), channel.size());
  std::memcpy(out + channel.size(), event.data(), event.size());
  if (!sender.empty())
    std::memcpy(out + channel.size() + event.size(), sender.data(), sender.size());
  e->channel_hash_ = channel.empty() ? 0 : channel_hash;
  e->event_hash_ = event_hash;
  return EnvelopePtr(e);
}

Message presence_body(std::string_view id, const Message& profile) {
  MessageWriter writer;
  msgpack::packer<MessageWriter> packer(writer);
  packer.pack_map(2);
  packer.pack(std::string_view("id"));
  packer.pack(id);
  packer.pack(std::string_view("data"));
  auto bytes = profile.bytes();
  writer.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  return adopt_message(writer.release());
}

void Envelope::destroy(const Envelope* e) noexcept {
  if (e->in_body_block_) {
    // The storage belongs to the body's block: take the body out first, end
    // the Envelope, and only then let go of the block (which may free it).
    Message body = std::move(const_cast<Envelope*>(e)->body_);
    e->~Envelope();
    return;
  }
  e->~Envelope();
  ::operator delete(const_cast<Envelope*>(e));
}

}  // namespace herald::internal
