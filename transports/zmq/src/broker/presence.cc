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

void PresencePublisher::publish(internal::EnvelopeKind kind, std::string_view channel,
                                const Session& session, bool echo) {
  absl::StatusOr<Message> profile = Message::from_msgpack(std::span<const std::byte>(
      reinterpret_cast<const std::byte*>(session.profile.data()), session.profile.size()));
  internal::EnvelopePtr envelope = internal::Envelope::make(
      kind, channel, event_of(kind), session.socket_id,
      internal::presence_body(session.socket_id, profile.ok() ? *profile : Message()), echo);
  const std::string topic = zmq_wire::channel_topic(channel);
  std::string message = zmq_wire::encode_header(*envelope, 0);
  auto body = envelope->body().bytes();
  message.append(reinterpret_cast<const char*>(body.data()), body.size());
  pub_.send(zmq::buffer(topic), zmq::send_flags::sndmore);
  pub_.send(zmq::buffer(message), zmq::send_flags::none);
}

}  // namespace herald::zmq_broker
