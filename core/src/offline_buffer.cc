#include "herald/internal/offline_buffer.hpp"

#include <utility>

#include "herald/internal/text.hpp"

namespace herald::internal {

absl::Status OfflineBuffer::push(EnvelopePtr envelope, std::string_view event) {
  if (!enabled_) {
    return absl::UnavailableError(cat("herald: not connected; message for event \"", event,
                                      "\" dropped (Options::buffer_messages is off)"));
  }
  if (items_.size() >= capacity_) {
    return absl::ResourceExhaustedError(
        cat("herald: not connected and ", items_.size(),
            " messages are already buffered (Options::max_buffered_messages); message for event "
            "\"",
            event, "\" dropped"));
  }
  items_.push_back(std::move(envelope));
  publish_size();
  return absl::OkStatus();
}

EnvelopePtr OfflineBuffer::pop() {
  if (items_.empty()) return {};
  EnvelopePtr front = std::move(items_.front());
  items_.pop_front();
  publish_size();
  return front;
}

std::size_t OfflineBuffer::clear() {
  const std::size_t n = items_.size();
  items_.clear();
  publish_size();
  return n;
}

}  // namespace herald::internal
