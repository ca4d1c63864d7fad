// SessionTable: the clients that said hello, and the members of every
// channel. The control thread's alone (no locks).
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "herald/internal/names.hpp"

namespace herald::zmq_broker {

struct Session {
  std::string socket_id;
  std::string routing_id;
  std::string resume_token;  // proves a reconnecting client is the same one
  std::set<std::string> channels;
  std::string profile = std::string(1, '\xc0');  // one msgpack value (nil)
  std::chrono::steady_clock::time_point last_seen;
};

class SessionTable {
 public:
  static constexpr std::size_t kMaxSessions = 100'000;

  Session* find(const std::string& routing_id);
  // The routing id of the session with this socket id, if any.
  const std::string* routing_id_of(const std::string& socket_id) const;
  const Session* find_by_socket_id(const std::string& socket_id) const;
  void add(Session session);
  // Takes the session out of the table; its channels' member lists still
  // name it (see drop_member): a takeover keeps some of them.
  std::optional<Session> take(const std::string& routing_id);
  // Adds / removes the session to / from a channel; true if that changed anything.
  bool join(Session& session, std::string_view channel);
  bool leave(Session& session, std::string_view channel);
  void drop_member(const std::string& channel, const std::string& socket_id);
  // The socket ids in `channel` (null when nobody is).
  const std::set<std::string>* members(std::string_view channel) const;
  // Routing ids of the sessions silent for longer than `timeout`.
  std::vector<std::string> silent_since(std::chrono::steady_clock::time_point now,
                                        std::chrono::milliseconds timeout) const;

  std::size_t size() const { return sessions_.size(); }
  std::size_t channel_count() const { return members_.size(); }

 private:
  std::unordered_map<std::string, Session> sessions_;          // by routing id
  std::unordered_map<std::string, std::string> by_socket_id_;  // socket id -> routing id
  internal::NameMap<std::set<std::string>> members_;           // channel -> socket ids
};

}  // namespace herald::zmq_broker
