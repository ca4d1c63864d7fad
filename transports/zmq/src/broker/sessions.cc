#include "sessions.hpp"

#include <utility>

namespace herald::zmq_broker {

Session* SessionTable::find(const std::string& routing_id) {
  auto it = sessions_.find(routing_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

const std::string* SessionTable::routing_id_of(const std::string& socket_id) const {
  auto it = by_socket_id_.find(socket_id);
  return it == by_socket_id_.end() ? nullptr : &it->second;
}

const Session* SessionTable::find_by_socket_id(const std::string& socket_id) const {
  const std::string* routing_id = routing_id_of(socket_id);
  if (routing_id == nullptr) return nullptr;
  auto it = sessions_.find(*routing_id);
  return it == sessions_.end() ? nullptr : &it->second;
}

void SessionTable::add(Session session) {
  profile_bytes_ += session.profile.size();
  by_socket_id_[session.socket_id] = session.routing_id;
  std::string routing_id = session.routing_id;
  sessions_[routing_id] = std::move(session);
}

std::optional<Session> SessionTable::take(const std::string& routing_id) {
  auto it = sessions_.find(routing_id);
  if (it == sessions_.end()) return std::nullopt;
  Session session = std::move(it->second);
  sessions_.erase(it);
  profile_bytes_ -= session.profile.size();
  auto id = by_socket_id_.find(session.socket_id);
  if (id != by_socket_id_.end() && id->second == routing_id) by_socket_id_.erase(id);
  return session;
}

bool SessionTable::join(Session& session, std::string_view channel) {
  if (!session.channels.insert(std::string(channel)).second) return false;
  if (members_[channel].insert(session.socket_id).second) ++memberships_;
  return true;
}

bool SessionTable::leave(Session& session, std::string_view channel) {
  if (session.channels.erase(std::string(channel)) == 0) return false;
  drop_member(std::string(channel), session.socket_id);
  return true;
}

void SessionTable::drop_member(const std::string& channel, const std::string& socket_id) {
  auto m = members_.find(channel);
  if (m == members_.end()) return;
  memberships_ -= m->second.erase(socket_id);
  if (m->second.empty()) members_.erase(m);
}

void SessionTable::set_profile(Session& session, std::string_view profile) {
  profile_bytes_ += profile.size();
  profile_bytes_ -= session.profile.size();
  session.profile.assign(profile);
  session.profile_set = true;
}

const std::set<std::string>* SessionTable::members(std::string_view channel) const {
  auto m = members_.find(channel);
  return m == members_.end() ? nullptr : &m->second;
}

std::vector<std::string> SessionTable::silent_since(std::chrono::steady_clock::time_point now,
                                                    std::chrono::milliseconds timeout) const {
  std::vector<std::string> out;
  for (const auto& [id, session] : sessions_) {
    if (now - session.last_seen > timeout) out.push_back(id);
  }
  return out;
}

}  // namespace herald::zmq_broker
