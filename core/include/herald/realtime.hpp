// herald/realtime.hpp — Realtime: one connection ("socket") with the
// Altogic-style realtime API.
//
//   herald::Realtime rt("mem://");          // or "mem://NAME", later zmq:// and ws://
//   rt.on("chat-message", [](const herald::Payload& p) { ... });
//   rt.join("technology-chat");
//   rt.send("technology-chat", "chat-message", std::string("hello"));
//
// Construction picks the transport from the URL once. An unknown scheme or a
// malformed URL makes the constructor throw std::invalid_argument naming the
// URL (a bug in the program, not a run-time condition). Everything that can
// go wrong at run time is an absl::Status.
//
// Thread-safety: every method may be called from any thread, and from inside
// a listener (its own connection's included). Listener calls for one
// connection never overlap and keep per-sender order. See docs/dispatch.md
// for where listeners run.
//
// Lifetime: the destructor closes the connection and waits for a listener
// call running on another thread to return (never for one on its own thread).
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/hub.hpp"
#include "herald/message.hpp"
#include "herald/options.hpp"
#include "herald/payload.hpp"

namespace herald {

namespace internal {
class Connection;
}

class Realtime {
 public:
  explicit Realtime(std::string_view url = "mem://", Options options = {});
  ~Realtime();
  Realtime(const Realtime&) = delete;
  Realtime& operator=(const Realtime&) = delete;

  // ---- Messages ----
  // `message`: a Message, or any value Message::of accepts.
  [[nodiscard]] absl::Status send(std::string_view channel, std::string_view event,
                                  const auto& message, std::optional<bool> echo = std::nullopt) {
    return send_message(channel, event, Message::of(message), echo);
  }
  [[nodiscard]] absl::Status broadcast(std::string_view event, const auto& message,
                                       std::optional<bool> echo = std::nullopt) {
    return broadcast_message(event, Message::of(message), echo);
  }

  // ---- Listeners ----
  ListenerId on(std::string_view event, Listener listener);
  ListenerId once(std::string_view event, Listener listener);
  ListenerId on_any(Listener listener);
  void off(std::string_view event, ListenerId id);  // remove that listener
  void off(std::string_view event);                 // remove all listeners of the event
  void off();  // remove all event listeners (not any-listeners)
  void off_any(ListenerId id);
  void off_any();                                                       // remove all any-listeners
  std::vector<ListenerId> get_listeners(std::string_view event) const;  // registration order
  std::vector<ListenerId> get_listeners() const;  // every event listener, then any-listeners

  // ---- Channels ----
  [[nodiscard]] absl::Status join(std::string_view channel,
                                  std::optional<bool> echo = std::nullopt);
  [[nodiscard]] absl::Status leave(std::string_view channel,
                                   std::optional<bool> echo = std::nullopt);
  std::vector<std::string> channels() const;  // joined, sorted

  // ---- Presence ----
  [[nodiscard]] absl::Status update_profile(const auto& data,
                                            std::optional<bool> echo = std::nullopt) {
    return update_profile_message(Message::of(data), echo);
  }
  [[nodiscard]] absl::StatusOr<std::vector<Member>> get_members(std::string_view channel);
  ListenerId on_join(Listener listener);    // = on("channel:join", ...)
  ListenerId on_leave(Listener listener);   // = on("channel:leave", ...)
  ListenerId on_update(Listener listener);  // = on("channel:update", ...)

  // ---- Connection ----
  [[nodiscard]] absl::Status open();  // (re)connect after close()
  void close();                       // no reconnect until open()
  bool is_connected() const;
  std::string get_socket_id() const;  // unique per connection
  // A handler registered after the fact still hears about it: on_connect runs
  // at once if already connected, on_error gets a refusal nobody heard yet.
  void on_connect(std::function<void()> handler);
  void on_disconnect(std::function<void(std::string_view reason)> handler);
  void on_error(std::function<void(const absl::Status&)> handler);
  void on_reconnect_attempt(std::function<void(int attempt)> handler);

  // ---- Queued dispatch (Options::dispatch == Dispatch::queued) ----
  std::size_t poll();  // run what is ready, now
  std::size_t poll_for(
      std::chrono::milliseconds max_wait);  // wait for work up to max_wait, then run it

  Stats stats() const;

 private:
  absl::Status send_message(std::string_view channel, std::string_view event, Message message,
                            std::optional<bool> echo);
  absl::Status broadcast_message(std::string_view event, Message message, std::optional<bool> echo);
  absl::Status update_profile_message(Message data, std::optional<bool> echo);

  std::shared_ptr<internal::Connection> connection_;
};

}  // namespace herald
