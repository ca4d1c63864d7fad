#include "herald/realtime.hpp"

#include "herald/internal/connection.hpp"

namespace herald {

using internal::EnvelopeKind;

Realtime::Realtime(std::string_view url, Options options)
    : connection_(internal::Connection::create(url, std::move(options))) {}

Realtime::~Realtime() {
  try {
    connection_->shutdown();
  } catch (...) {
    // Never throws (see header); a failing close has nothing left to report to.
  }
}

absl::Status Realtime::send_message(std::string_view channel, std::string_view event,
                                    Message message, std::optional<bool> echo) {
  return connection_->publish(EnvelopeKind::message, channel, event, std::move(message), echo);
}

absl::Status Realtime::broadcast_message(std::string_view event, Message message,
                                         std::optional<bool> echo) {
  return connection_->publish(EnvelopeKind::broadcast, {}, event, std::move(message), echo);
}

ListenerId Realtime::on(std::string_view event, Listener listener) {
  return connection_->listeners().add(event, std::move(listener), false);
}
ListenerId Realtime::once(std::string_view event, Listener listener) {
  return connection_->listeners().add(event, std::move(listener), true);
}
ListenerId Realtime::on_any(Listener listener) {
  return connection_->listeners().add_any(std::move(listener));
}
void Realtime::off(std::string_view event, ListenerId id) {
  connection_->listeners().remove(event, id);
}
void Realtime::off(std::string_view event) { connection_->listeners().remove_event(event); }
void Realtime::off() { connection_->listeners().remove_all_events(); }
void Realtime::off_any(ListenerId id) { connection_->listeners().remove_any(id); }
void Realtime::off_any() { connection_->listeners().remove_all_any(); }
std::vector<ListenerId> Realtime::get_listeners(std::string_view event) const {
  return connection_->listeners().listeners(event);
}
std::vector<ListenerId> Realtime::get_listeners() const { return connection_->listeners().all(); }

absl::Status Realtime::join(std::string_view channel, std::optional<bool> echo) {
  return connection_->join(channel, echo);
}
absl::Status Realtime::leave(std::string_view channel, std::optional<bool> echo) {
  return connection_->leave(channel, echo);
}
std::vector<std::string> Realtime::channels() const { return connection_->channels(); }

absl::Status Realtime::update_profile_message(Message data, std::optional<bool> echo) {
  return connection_->update_profile(std::move(data), echo);
}
absl::StatusOr<std::vector<Member>> Realtime::get_members(std::string_view channel) {
  return connection_->get_members(channel);
}
ListenerId Realtime::on_join(Listener listener) { return on("channel:join", std::move(listener)); }
ListenerId Realtime::on_leave(Listener listener) {
  return on("channel:leave", std::move(listener));
}
ListenerId Realtime::on_update(Listener listener) {
  return on("channel:update", std::move(listener));
}

absl::Status Realtime::open() { return connection_->open(); }
void Realtime::close() { connection_->close(); }
bool Realtime::is_connected() const { return connection_->is_connected(); }
std::string Realtime::get_socket_id() const { return std::string(connection_->id()); }
void Realtime::on_connect(std::function<void()> handler) {
  connection_->on_connect(std::move(handler));
}
void Realtime::on_disconnect(std::function<void(std::string_view reason)> handler) {
  connection_->on_disconnect(std::move(handler));
}
void Realtime::on_error(std::function<void(const absl::Status&)> handler) {
  connection_->on_error(std::move(handler));
}
void Realtime::on_reconnect_attempt(std::function<void(int attempt)> handler) {
  connection_->on_reconnect_attempt(std::move(handler));
}

std::size_t Realtime::poll() { return connection_->poll(); }
std::size_t Realtime::poll_for(std::chrono::milliseconds max_wait) {
  return connection_->poll_for(max_wait);
}
Stats Realtime::stats() const { return connection_->stats(); }

}  // namespace herald
