// `herald broker`: a ZeroMQ broker until SIGINT / SIGTERM.
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

constexpr const char* kBrokerUsage = R"(usage: herald broker --zmq tcp://HOST:PORT [options]

Runs a ZeroMQ broker until SIGINT or SIGTERM. It prints the URL clients use,
"listening zmq://HOST:PORT", as its first line (port 0 picks a free port).
Ports: PORT is the control socket; publishers connect to PORT+1,
subscribers to PORT+2 (those that drop when full, and hold notices: PORT+3;
see docs/PROTOCOL.md).

options:
  --zmq tcp://HOST:PORT        where to listen (required; e.g. tcp://127.0.0.1:5555)
  --session-secret FILE        require session tokens: HS256 JWTs signed with the
                               secret in FILE (see "herald token"); peers without a
                               valid token are refused by ZeroMQ's ZAP handshake
  --max-message-bytes N        largest message body (default 1048576)
  --session-timeout-ms N       a client silent this long has left (default 5000)
  --high-water-mark N          per-peer queue bound, each direction (default 100000)
  --subscriber-high-water-mark N
                               messages queued for one subscriber (default 10000;
                               at worst N x (max message + 64 KiB) bytes each)
  --stall-timeout-ms N         a receiver that takes nothing this long while messages
                               wait for it is cut as a slow consumer (default 10000)
  --max-held-bytes N           what may wait at the broker for full receivers, all
                               channels (default 67108864); past it publishers wait
  --max-sessions N             broker-wide budget: sessions (default 100000),
  --max-channels N             channels with a member (default 100000),
  --max-memberships N          channel memberships of all sessions (default 1000000),
  --max-profile-bytes N        and profiles of all sessions (default 268435456)
  --curve-secret FILE          encrypt everything with CURVE: FILE holds the broker's
                               secret key (see "herald keygen"); clients connect to
                               zmq://HOST:PORT?curve=PUBLIC_KEY. With --session-secret,
                               tokens then travel in the encrypted hello
  --help                       this text
)";

}  // namespace

int run_broker(int argc, char** argv) {
  Args args =
      parse(argc, argv, 2,
            {"zmq", "session-secret", "max-message-bytes", "session-timeout-ms", "high-water-mark",
             "subscriber-high-water-mark", "max-sessions", "max-channels", "max-memberships",
             "max-profile-bytes", "curve-secret", "stall-timeout-ms", "max-held-bytes"});
  if (args.values.count("help")) {
    std::cout << kBrokerUsage;
    return 0;
  }
  if (!args.error.empty()) return fail(args.error, kBrokerUsage);
  if (!args.positional.empty())
    return fail("unexpected argument " + args.positional[0], kBrokerUsage);
  if (!args.values.count("zmq")) return fail("--zmq tcp://HOST:PORT is required", kBrokerUsage);
  herald::ZmqBrokerOptions options;
  options.endpoint = args.values["zmq"];
  if (args.values.count("session-secret")) {
    auto secret = herald::read_secret_file(args.values["session-secret"]);
    if (!secret.ok()) return fail(std::string(secret.status().message()), kBrokerUsage);
    options.session_secret = *secret;
  }
  std::string curve_public;
  if (args.values.count("curve-secret")) {
    auto secret = herald::read_secret_file(args.values["curve-secret"]);
    if (!secret.ok()) return fail(std::string(secret.status().message()), kBrokerUsage);
    auto public_key = herald::curve_public_key(*secret);
    if (!public_key.ok()) {
      return fail(args.values["curve-secret"] + ": " + std::string(public_key.status().message()),
                  kBrokerUsage);
    }
    options.curve_secret_key = *secret;
    curve_public = *public_key;
  }
  auto numeric = [&args](const char* name, auto& field) { return positive(args, name, field); };
  long long timeout_ms = options.session_timeout.count();
  long long stall_ms = options.stall_timeout.count();
  if (!numeric("max-message-bytes", options.max_message_bytes) ||
      !numeric("session-timeout-ms", timeout_ms) ||
      !numeric("high-water-mark", options.high_water_mark) ||
      !numeric("subscriber-high-water-mark", options.subscriber_high_water_mark) ||
      !numeric("max-sessions", options.max_sessions) ||
      !numeric("max-channels", options.max_channels) ||
      !numeric("max-memberships", options.max_memberships) ||
      !numeric("max-profile-bytes", options.max_profile_bytes) ||
      !numeric("stall-timeout-ms", stall_ms) ||
      !numeric("max-held-bytes", options.max_held_bytes)) {
    return fail("numeric options take a positive whole number", kBrokerUsage);
  }
  options.session_timeout = std::chrono::milliseconds(timeout_ms);
  options.stall_timeout = std::chrono::milliseconds(stall_ms);

  // Block the stop signals before any thread starts, then wait for one.
  const sigset_t stop_signals = block_stop_signals();

  herald::ZmqBroker broker(options);
  if (absl::Status s = broker.start(); !s.ok()) {
    std::cerr << "herald broker: " << s.message() << "\n";
    return 1;
  }
  std::cout << "listening " << broker.url() << std::endl;
  std::cerr << "herald broker: control port " << broker.port() << ", publish port "
            << broker.port() + 1 << ", subscribe ports " << broker.port() + 2 << " and "
            << broker.port() + 3
            << (options.session_secret.empty() ? "" : ", session tokens required")
            << (curve_public.empty() ? "" : ", CURVE public key " + curve_public) << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  herald::ZmqBrokerStats stats = broker.stats();
  broker.stop();
  std::cerr << "herald broker: stopped (" << strsignal(signal) << "); forwarded "
            << stats.messages_in << " messages in, " << stats.messages_out << " out" << std::endl;
  return 0;
}

// "HOST:PORT", "[V6]:PORT" or "ws://HOST:PORT".
}  // namespace herald::cli
