#include "control_server.hpp"

#include <malloc.h>

#include <utility>
#include <vector>
#include <zmq_addon.hpp>

#include "herald/internal/text.hpp"
#include "proxy.hpp"

namespace herald::zmq_broker {

using internal::cat;
using zmq_wire::Command;

namespace {
constexpr auto kHousekeepingInterval = std::chrono::milliseconds(100);
}  // namespace

ControlServer::ControlServer(const ZmqBrokerOptions& options, int port, BrokerCounters& counters,
                             CurveKeys& curve_keys, Sockets sockets)
    : options_(options),
      port_(port),
      counters_(counters),
      curve_keys_(curve_keys),
      router_(std::move(sockets.router)),
      stop_(std::move(sockets.stop)),
      proxy_control_(std::move(sockets.proxy_control)),
      subscribers_(std::move(sockets.subscribers)),
      presence_(std::move(sockets.presence)) {}

void ControlServer::run() {
  auto last_housekeeping = std::chrono::steady_clock::now();
  try {
    for (;;) {
      zmq::pollitem_t items[] = {{router_.handle(), 0, ZMQ_POLLIN, 0},
                                 {stop_.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, kHousekeepingInterval);
      if (items[1].revents & ZMQ_POLLIN) break;
      if (items[0].revents & ZMQ_POLLIN) serve_ready_requests();
      const auto now = std::chrono::steady_clock::now();
      if (now - last_housekeeping >= kHousekeepingInterval) {
        last_housekeeping = now;
        expire_silent_sessions(now);
        return_freed_memory(now);
      }
    }
  } catch (const zmq::error_t&) {
    // Context closing: fall through to terminate the proxy.
  }
  terminate_proxy(proxy_control_);
}

// Drains what is ready, a batch at a time.
void ControlServer::serve_ready_requests() {
  for (int i = 0; i < 1024; ++i) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(router_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      return;
    }
    if (frames.size() != 2) {
      counters_.control_malformed.fetch_add(1);
      continue;
    }
    const char* user_id = curve_sessions() ? frames[1].gets("User-Id") : nullptr;
    dispatch(frames[0].to_string(), frames[1].to_string_view(),
             user_id == nullptr ? std::string_view() : std::string_view(user_id));
  }
}

void ControlServer::dispatch(std::string routing_id, std::string_view payload,
                             std::string_view user_id) {
  peer_ = std::move(routing_id);
  zmq_wire::Control c;
  const absl::Status parsed = zmq_wire::parse_request(payload, c);
  if (c.has_command) counters_.control_requests.fetch_add(1);
  if (!parsed.ok()) {
    if (c.command == Command::hello && c.has_version && c.version != zmq_wire::kVersion) {
      return reply(zmq_wire::encode_refused(
          absl::InvalidArgumentError(cat("herald broker: ", parsed.message()))));
    }
    return reply_malformed(c.has_req ? c.req : 0, std::string(parsed.message()));
  }
  if (c.command == Command::hello) return on_hello(c, user_id);
  Session* session = sessions_.find(peer_);
  if (session == nullptr) {
    // Never said hello, or expired: the client must start over.
    return reply(zmq_wire::encode_unknown_session(c.req));
  }
  session->last_seen = std::chrono::steady_clock::now();
  switch (c.command) {
    case Command::join:
      return on_join(*session, c);
    case Command::leave:
      return on_leave(*session, c);
    case Command::profile:
      return on_profile(*session, c);
    case Command::members:
      return on_members(c);
    case Command::stats:
      return on_stats(c);
    case Command::ping:
      return on_ping();
    case Command::bye:
      return on_bye();
    case Command::stalled:
      return on_stalled();
    default:
      return reply_malformed(c.req, cat("\"", zmq_wire::name_of(c.command), "\" is not a request"));
  }
}

void ControlServer::expire_silent_sessions(std::chrono::steady_clock::time_point now) {
  for (const std::string& id : sessions_.silent_since(now, options_.session_timeout)) {
    counters_.sessions_expired.fetch_add(1);
    remove_session(id);
  }
}

void ControlServer::return_freed_memory(std::chrono::steady_clock::time_point now) {
  for (int i = 0; i < 1024; ++i) {
    zmq::message_t event;
    if (!subscribers_.recv(event, zmq::recv_flags::dontwait)) break;
    if (event.more()) (void)subscribers_.recv(event, zmq::recv_flags::dontwait);  // the address
    subscriber_left_ = true;
  }
  if (!subscriber_left_ || now - last_trim_ < std::chrono::seconds(1)) return;
  subscriber_left_ = false;
  last_trim_ = now;
  ::malloc_trim(0);
}

void ControlServer::reply(const std::string& payload) {
  router_.send(zmq::buffer(peer_), zmq::send_flags::sndmore);
  router_.send(zmq::buffer(payload), zmq::send_flags::dontwait);
}

void ControlServer::reply_malformed(std::uint64_t req, std::string_view why) {
  counters_.control_malformed.fetch_add(1);
  reply(zmq_wire::encode_error(req, absl::InvalidArgumentError(cat("herald broker: ", why))));
}

void ControlServer::remove_session(const std::string& routing_id) {
  std::optional<Session> session = sessions_.take(routing_id);
  if (!session) return;
  forget(*session);
  for (const std::string& channel : session->channels) {
    if (sessions_.members(channel) == nullptr) continue;
    sessions_.drop_member(channel, session->socket_id);
    presence_.publish(internal::EnvelopeKind::leave, channel, *session, false);
  }
  refresh_counts();
}

void ControlServer::forget(const Session& session) {
  if (!session.curve_key.empty()) curve_keys_.remove(session.curve_key);
}

void ControlServer::refresh_counts() {
  counters_.sessions.store(sessions_.size());
  counters_.channels.store(sessions_.channel_count());
  counters_.memberships.store(sessions_.membership_count());
  counters_.profile_bytes.store(sessions_.profile_bytes());
}

}  // namespace herald::zmq_broker
