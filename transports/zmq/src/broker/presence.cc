#include "presence.hpp"

#include <span>
#include <string>

#include "herald/message.hpp"
#include "wire/data.hpp"

namespace herald::zmq_broker {

namespace {

std::string_view event_of(internal::EnvelopeKind kind) {
  switch (kind) {
    case internal::EnvelopeKind::join:
      return "channel:join";
    case internal::EnvelopeKind::leave:
      return "channel:leave";
    default:
      return "channel:update";
  }
}

}  // namespace

std::size_t presence_body_size(std::string_view socket_id, std::size_t profile_bytes) {
  // fixmap, "id", the id's str header and bytes, "data", the profile.
  const std::size_t id_header = socket_id.size() < 32 ? 1 : socket_id.size() <= 0xff ? 2 : 3;
  return 1 + 3 + id_header + socket_id.size() + 5 + profile_bytes;
}

void PresencePublisher::publish(internal::EnvelopeKind kind, std::string_view channel,
                                const Session& session, bool echo) {
  absl::StatusOr<Message> profile = Message::from_msgpack(std::span<const std::byte>(
      reinterpret_cast<const std::byte*>(session.profile.data()), session.profile.size()));
  internal::EnvelopePtr envelope = internal::Envelope::make(
      kind, channel, event_of(kind), session.socket_id,
      internal::presence_body(session.socket_id, profile.ok() ? *profile : Message()), echo);
  pub_.send(zmq::buffer(zmq_wire::encode_message(*envelope, 0)), zmq::send_flags::none);
}

}  // namespace herald::zmq_broker
