// ControlServer: the broker's control thread. It serves the ROUTER (hello,
// join, leave, profile, members, stats, ping, bye — one function each, in
// control_commands.cc), keeps the session table, publishes presence, expires
// silent sessions and reads the proxy's statistics. Everything here runs on
// that one thread; only the counters are read from elsewhere.
#pragma once

#include <atomic>
#include <chrono>
#include <string>
#include <zmq.hpp>

#include "counters.hpp"
#include "herald/zmq/broker.hpp"
#include "presence.hpp"
#include "sessions.hpp"
#include "wire/control.hpp"

namespace herald::zmq_broker {

class ControlServer {
 public:
  struct Sockets {
    zmq::socket_t router;         // the clients' control socket
    zmq::socket_t presence;       // PUB into the proxy
    zmq::socket_t stop;           // PAIR: a message ends run()
    zmq::socket_t proxy_control;  // REQ to the proxy's REP
  };
  ControlServer(const ZmqBrokerOptions& options, int port, BrokerCounters& counters,
                Sockets sockets);

  // Serves until a message on the stop socket (or the context closing), then
  // terminates the proxy.
  void run();

 private:
  void serve_ready_requests();
  void dispatch(std::string routing_id, std::string_view payload);
  void expire_silent_sessions(std::chrono::steady_clock::time_point now);

  // One per command; `session` is the sender's (it said hello).
  void on_hello(const zmq_wire::Control& c);
  void on_join(Session& session, const zmq_wire::Control& c);
  void on_leave(Session& session, const zmq_wire::Control& c);
  void on_profile(Session& session, const zmq_wire::Control& c);
  void on_members(const zmq_wire::Control& c);
  void on_stats(const zmq_wire::Control& c);
  void on_ping();
  void on_bye();

  // Replies to the peer being served.
  void reply(const std::string& payload);
  void reply_malformed(std::uint64_t req, std::string_view why);
  // Leaves the session's channels (presence: channel:leave) and forgets it.
  void remove_session(const std::string& routing_id);
  void leave_channels_not_kept(const Session& old, const zmq_wire::Control& hello, Session& fresh);
  bool profile_fits(std::uint64_t req, std::string_view profile);
  void refresh_counts();

  const ZmqBrokerOptions& options_;
  const int port_;
  BrokerCounters& counters_;
  zmq::socket_t router_;
  zmq::socket_t stop_;
  zmq::socket_t proxy_control_;
  PresencePublisher presence_;
  SessionTable sessions_;
  std::string peer_;  // routing id of the peer being served
};

}  // namespace herald::zmq_broker
