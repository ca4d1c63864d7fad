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
#include "zap.hpp"

namespace herald::zmq_broker {

class ControlServer {
 public:
  struct Sockets {
    zmq::socket_t router;         // the clients' control socket
    zmq::socket_t presence;       // PUB into the proxy
    zmq::socket_t stop;           // PAIR: a message ends run()
    zmq::socket_t proxy_control;  // REQ to the proxy's REP
    zmq::socket_t subscribers;    // PAIR: the XPUB's monitor (disconnections)
  };
  ControlServer(const ZmqBrokerOptions& options, int port, BrokerCounters& counters,
                CurveKeys& curve_keys, Sockets sockets);

  // Serves until a message on the stop socket (or the context closing), then
  // terminates the proxy.
  void run();

 private:
  void serve_ready_requests();
  // `user_id`: the peer's CURVE key (Z85) as ZAP named it, when sessions
  // travel over CURVE; else empty.
  void dispatch(std::string routing_id, std::string_view payload, std::string_view user_id);
  void expire_silent_sessions(std::chrono::steady_clock::time_point now);
  // A subscriber that left may leave hundreds of MB that glibc's malloc
  // keeps (its queue, freed); hand them back to the system, at most once a
  // second.
  void return_freed_memory(std::chrono::steady_clock::time_point now);

  // One per command; `session` is the sender's (it said hello).
  void on_hello(const zmq_wire::Control& c, std::string_view user_id);
  // Over CURVE with sessions, the hello's token admits the peer's key to the
  // data sockets; false after replying the refusal.
  bool admit_curve_key(const zmq_wire::Control& hello, std::string_view user_id);
  void on_join(Session& session, const zmq_wire::Control& c);
  void on_leave(Session& session, const zmq_wire::Control& c);
  void on_profile(Session& session, const zmq_wire::Control& c);
  void on_members(const zmq_wire::Control& c);
  void on_stats(const zmq_wire::Control& c);
  void on_ping();
  void on_bye();
  void on_stalled();

  // Replies to the peer being served.
  void reply(const std::string& payload);
  void reply_malformed(std::uint64_t req, std::string_view why);
  // Leaves the session's channels (presence: channel:leave) and forgets it.
  void remove_session(const std::string& routing_id);
  void forget(const Session& session);  // its CURVE key, if it brought one
  void leave_channels_not_kept(const Session& old, const zmq_wire::Control& hello, Session& fresh);
  // The budget (ZmqBrokerOptions::max_*): false after replying the refusal
  // (kResourceExhausted, naming the limit) and counting it in `counter`.
  bool admit_join(const Session& session, const zmq_wire::Control& join);
  bool admit_profile(std::uint64_t req, const Session& session, std::string_view profile);
  void refuse(std::uint64_t req, std::atomic<std::uint64_t>& counter, std::string message);
  void refresh_counts();
  bool curve_sessions() const {
    return !options_.curve_secret_key.empty() && !options_.session_secret.empty();
  }

  const ZmqBrokerOptions& options_;
  const int port_;
  BrokerCounters& counters_;
  CurveKeys& curve_keys_;
  zmq::socket_t router_;
  zmq::socket_t stop_;
  zmq::socket_t proxy_control_;
  zmq::socket_t subscribers_;
  bool subscriber_left_ = false;
  std::chrono::steady_clock::time_point last_trim_{};
  PresencePublisher presence_;
  SessionTable sessions_;
  std::string peer_;  // routing id of the peer being served
};

}  // namespace herald::zmq_broker
