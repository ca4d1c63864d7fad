// The broker's ZAP handler (ZeroMQ's authentication protocol, RFC 27).
//
// Without CURVE: every peer's PLAIN password must be an HS256 session token
// signed with the broker's secret (session_token.hpp).
// With CURVE (and sessions): tokens travel in the hello, encrypted, never in
// a handshake. The control socket admits every client key (its user id is
// the key, in Z85, so the control thread sees which key sent each hello);
// the data sockets admit only keys whose hello carried a valid token
// (CurveKeys, filled by the control thread). Runs on its own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <set>
#include <string>
#include <zmq.hpp>

namespace herald::zmq_broker {

// ZAP domains: which of the broker's sockets a handshake is for.
inline constexpr const char* kControlDomain = "herald";
inline constexpr const char* kDataDomain = "herald-data";

// The client keys (Z85) with a live, authenticated session, once per session
// (a takeover briefly holds two). Shared by the control thread (adds,
// removes) and the ZAP thread (reads).
class CurveKeys {
 public:
  void add(const std::string& key) {
    std::lock_guard lock(mu_);
    keys_.insert(key);
  }
  void remove(const std::string& key) {
    std::lock_guard lock(mu_);
    if (auto it = keys_.find(key); it != keys_.end()) keys_.erase(it);
  }
  bool contains(const std::string& key) const {
    std::lock_guard lock(mu_);
    return keys_.count(key) != 0;
  }

 private:
  mutable std::mutex mu_;
  std::multiset<std::string> keys_;
};

struct ZapPolicy {
  const std::string& session_secret;
  bool curve = false;
  const CurveKeys& keys;
};

// Answers ZAP requests on `zap` (bound to inproc://zeromq.zap.01) until
// `running` turns false; counts refusals in `failures`.
void serve_zap(zmq::socket_t zap, ZapPolicy policy, const std::atomic<bool>& running,
               std::atomic<std::uint64_t>& failures);

}  // namespace herald::zmq_broker
