// herald/payload.hpp — what a listener receives.
//
// A Payload and every view it hands out are valid for the duration of the
// listener call only. Keep a copy of what you need: copying the Message only
// shares its bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>

#include "herald/message.hpp"

namespace herald {

class Payload {
 public:
  Payload(std::optional<std::string_view> channel, std::string_view event, const Message& message,
          std::string_view sender) noexcept
      : channel_(channel), event_(event), message_(&message), sender_(sender) {}

  // The channel it was sent to; std::nullopt for a broadcast.
  std::optional<std::string_view> channel() const noexcept { return channel_; }
  std::string_view event() const noexcept { return event_; }
  const Message& message() const noexcept { return *message_; }
  // Socket id of the connection that sent it.
  std::string_view sender() const noexcept { return sender_; }

 private:
  std::optional<std::string_view> channel_;
  std::string_view event_;
  const Message* message_;
  std::string_view sender_;
};

using Listener = std::function<void(const Payload&)>;
enum class ListenerId : std::uint64_t {};

}  // namespace herald
