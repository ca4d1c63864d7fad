// `herald hub`: a herald hub (WsGateway) until SIGINT / SIGTERM.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "herald/herald.hpp"

namespace herald::cli {
namespace {

constexpr const char* kHubUsage = R"(usage: herald hub --ws HOST:PORT [options]

Runs a herald hub until SIGINT or SIGTERM, then closes every connection
(close 1001) after what was being written has gone out. It prints the URL
clients use, "listening ws://HOST:PORT" (wss:// with --tls-cert), as its
first line (port 0 picks a free port). The protocol is in docs/PROTOCOL.md
("ws://").

options:
  --ws HOST:PORT               where to listen (required; e.g. 127.0.0.1:7070)
  --session-secret FILE        require session tokens: HS256 JWTs signed with the
                               secret in FILE (see "herald token"); checked at hello
                               and before every operation
  --max-message-bytes N        largest message body (default 1048576)
  --threads N                  I/O threads (default 1)
  --idle-timeout-ms N          drop a connection silent this long; it is pinged
                               after half of it (default 30000)
  --max-write-queue-bytes N    per-connection write queue bound; past it the
                               connection is closed with 4002 (default 16777216)
  --max-write-queue-frames N   the same bound in frames (default 65536)
  --max-connections N          default 10000
  --max-channels-per-connection N
                               channels one connection may be in (default 65536);
                               a join past it is refused (reply 8)
  --handshake-timeout-ms N     the WebSocket upgrade and the hello must be done
                               within this (default 5000)
  --stall-timeout-ms N         a receiver that takes nothing this long while it holds
                               senders back is closed with 4002 (default 10000)
  --max-total-membership-bytes N
                               hub-wide budget: channel memberships of all
                               connections, each its channel name + 256 bytes
                               (default 268435456); a join past it gets reply 8
  --max-total-profile-bytes N  and profiles (default 268435456): a hello past it
                               gets error 8 and close 1013
  --max-total-queued-bytes N   and write queues (default 1073741824): past it, a
                               connection over its share is closed with 4002
  --tls-cert FILE              serve wss:// only (TLS 1.2+): the certificate chain
                               in FILE (PEM, leaf first)
  --tls-key FILE               its private key (PEM; default: in the --tls-cert file)
  --help                       this text
)";

bool split_host_port(std::string text, std::string& host, int& port) {
  if (text.rfind("ws://", 0) == 0) text = text.substr(5);
  if (text.rfind("wss://", 0) == 0) text = text.substr(6);
  if (!text.empty() && text.back() == '/') text.pop_back();
  const auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) return false;
  host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  auto p = number(text.substr(colon + 1));
  if (!p || *p > 65535) return false;
  port = static_cast<int>(*p);
  return true;
}

}  // namespace

int run_hub(int argc, char** argv) {
  Args args = parse(argc, argv, 2,
                    {"ws", "session-secret", "max-message-bytes", "threads", "idle-timeout-ms",
                     "max-write-queue-bytes", "max-write-queue-frames", "max-connections",
                     "max-channels-per-connection", "handshake-timeout-ms", "stall-timeout-ms",
                     "max-total-membership-bytes", "max-total-profile-bytes",
                     "max-total-queued-bytes", "tls-cert", "tls-key"});
  if (args.values.count("help")) {
    std::cout << kHubUsage;
    return 0;
  }
  if (!args.error.empty()) return fail(args.error, kHubUsage);
  if (!args.positional.empty()) return fail("unexpected argument " + args.positional[0], kHubUsage);
  if (!args.values.count("ws")) return fail("--ws HOST:PORT is required", kHubUsage);
  herald::WsGatewayOptions options;
  if (!split_host_port(args.values["ws"], options.host, options.port)) {
    return fail("--ws takes HOST:PORT, e.g. 127.0.0.1:7070 (port 0 picks one)", kHubUsage);
  }
  if (args.values.count("tls-key") && !args.values.count("tls-cert")) {
    return fail("--tls-key needs --tls-cert", kHubUsage);
  }
  if (args.values.count("tls-cert")) options.tls_certificate_file = args.values["tls-cert"];
  if (args.values.count("tls-key")) options.tls_private_key_file = args.values["tls-key"];
  herald::HubOptions hub_options;
  if (args.values.count("session-secret")) {
    auto secret = herald::read_secret_file(args.values["session-secret"]);
    if (!secret.ok()) return fail(std::string(secret.status().message()), kHubUsage);
    hub_options.enforce_session = true;
    hub_options.verify_session = herald::session_verifier(*secret);
  }
  auto numeric = [&args](const char* name, auto& field) { return positive(args, name, field); };
  long long idle_ms = options.idle_timeout.count();
  long long handshake_ms = options.handshake_timeout.count();
  long long stall_ms = hub_options.stall_timeout.count();
  if (!numeric("max-message-bytes", hub_options.max_message_bytes) ||
      !numeric("threads", options.threads) || !numeric("idle-timeout-ms", idle_ms) ||
      !numeric("max-write-queue-bytes", options.max_write_queue_bytes) ||
      !numeric("max-write-queue-frames", options.max_write_queue_frames) ||
      !numeric("max-connections", options.max_connections) ||
      !numeric("max-channels-per-connection", options.max_channels_per_connection) ||
      !numeric("handshake-timeout-ms", handshake_ms) || !numeric("stall-timeout-ms", stall_ms) ||
      !numeric("max-total-membership-bytes", options.max_total_membership_bytes) ||
      !numeric("max-total-profile-bytes", options.max_total_profile_bytes) ||
      !numeric("max-total-queued-bytes", options.max_total_queued_bytes)) {
    return fail("numeric options take a positive whole number", kHubUsage);
  }
  options.idle_timeout = std::chrono::milliseconds(idle_ms);
  options.handshake_timeout = std::chrono::milliseconds(handshake_ms);
  hub_options.stall_timeout = std::chrono::milliseconds(stall_ms);

  const sigset_t stop_signals = block_stop_signals();

  auto hub = herald::Hub::create("herald-hub", hub_options);
  if (!hub.ok()) {
    std::cerr << "herald hub: " << hub.status().message() << "\n";
    return 1;
  }
  auto gateway = herald::WsGateway::start(*hub, options);
  if (!gateway.ok()) {
    std::cerr << gateway.status().message() << "\n";
    return 1;
  }
  std::cout << "listening " << (*gateway)->url() << std::endl;
  std::cerr << "herald hub: native protocol on " << (*gateway)->url() << "/"
            << (hub_options.enforce_session ? ", session tokens required" : "") << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  (*gateway)->stop();
  herald::WsGatewayStats stats = (*gateway)->stats();
  std::cerr << "herald hub: stopped (" << strsignal(signal) << "); " << stats.accepted
            << " connections accepted, " << stats.messages_routed << " messages routed, "
            << stats.frames_out << " frames written in " << stats.writes << " writes, "
            << stats.closed_slow_consumer << " slow consumers closed (" << stats.closed_stalled
            << " stalled), " << stats.refused_budget << " refused for the hub-wide budget"
            << std::endl;
  return 0;
}

}  // namespace herald::cli
