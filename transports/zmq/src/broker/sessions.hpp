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
  std::string curve_key;     // over CURVE with sessions: the key its token admitted (Z85)
  std::set<std::string> channels;
  std::string profile = std::string(1, '\xc0');  // one msgpack value (nil); see set_profile
  bool profile_set = false;  // by a profile request, or the first join that carried one
  std::chrono::steady_clock::time_point last_seen;
};

// It also keeps the totals the broker-wide budget is checked against
// (memberships, profile bytes); what they may reach is the caller's to decide.
class SessionTable {
 public:
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
  void set_profile(Session& session, std::string_view profile);
  // The socket ids in `channel` (null when nobody is).
  const std::set<std::string>* members(std::string_view channel) const;
  // Routing ids of the sessions silent for longer than `timeout`.
  std::vector<std::string> silent_since(std::chrono::steady_clock::time_point now,
                                        std::chrono::milliseconds timeout) const;

  std::size_t size() const { return sessions_.size(); }
  std::size_t channel_count() const { return members_.size(); }
  std::size_t membership_count() const { return memberships_; }
  std::size_t profile_bytes() const { return profile_bytes_; }

 private:
  std::unordered_map<std::string, Session> sessions_;          // by routing id
  std::unordered_map<std::string, std::string> by_socket_id_;  // socket id -> routing id
  internal::NameMap<std::set<std::string>> members_;           // channel -> socket ids
  std::size_t memberships_ = 0;    // the sizes of members_'s sets, summed
  std::size_t profile_bytes_ = 0;  // the profiles of sessions_, summed
};

}  // namespace herald::zmq_broker
