// herald — the command-line tool: run a hub or a broker, mint session tokens,
// publish and subscribe from a shell.
//
//   herald hub --ws HOST:PORT [--session-secret FILE] ...
//   herald broker --zmq tcp://HOST:PORT [--session-secret FILE] ...
//   herald token --secret FILE --sub ID [--ttl 1h]
//   herald pub URL CHANNEL EVENT JSON [--broadcast] [--no-echo]
//   herald sub URL CHANNEL... [--all]
#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "herald/session_token.hpp"
#include "herald/websocket/gateway.hpp"
#include "herald/zmq/broker.hpp"

namespace {

constexpr const char* kUsage = R"(herald — realtime pub/sub tools

usage: herald <command> [options]

commands:
  hub      run a herald hub that ws://HOST:PORT connections (WebSocket) meet at
  broker   run a ZeroMQ broker that zmq://HOST:PORT connections meet at
  token    print a session token (HS256 JWT) signed with a secret file
  pub      send one message (JSON) to a channel, or broadcast it
  sub      print every message on some channels, one JSON line each

Run "herald <command> --help" for the options of a command.
)";

constexpr const char* kHubUsage = R"(usage: herald hub --ws HOST:PORT [options]

Runs a herald hub until SIGINT or SIGTERM, then closes every connection
(close 1001) after what was being written has gone out. It prints the URL
clients use, "listening ws://HOST:PORT", as its first line (port 0 picks a
free port). The protocol is in docs/PROTOCOL.md ("ws://").

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
  --max-connections N          default 10000
  --help                       this text
)";

constexpr const char* kBrokerUsage = R"(usage: herald broker --zmq tcp://HOST:PORT [options]

Runs a ZeroMQ broker until SIGINT or SIGTERM. It prints the URL clients use,
"listening zmq://HOST:PORT", as its first line (port 0 picks a free port).
Ports: PORT is the control socket; publishers connect to PORT+1 and
subscribers to PORT+2 (see docs/PROTOCOL.md).

options:
  --zmq tcp://HOST:PORT        where to listen (required; e.g. tcp://127.0.0.1:5555)
  --session-secret FILE        require session tokens: HS256 JWTs signed with the
                               secret in FILE (see "herald token"); peers without a
                               valid token are refused by ZeroMQ's ZAP handshake
  --max-message-bytes N        largest message body (default 1048576)
  --session-timeout-ms N       a client silent this long has left (default 5000)
  --high-water-mark N          per-peer queue bound, each direction (default 100000)
  --help                       this text
)";

constexpr const char* kTokenUsage = R"(usage: herald token --secret FILE --sub ID [--ttl DURATION]

Prints a session token: an HS256 JWT with "sub" = ID, signed with the secret
in FILE. Any JWT library can make the same tokens.

options:
  --secret FILE     file holding the shared secret (required)
  --sub ID          the subject (required)
  --ttl DURATION    validity: 90s, 15m, 1h, 7d, or seconds (default 1h)
  --help            this text
)";

constexpr const char* kPubUsage = R"(usage: herald pub URL CHANNEL EVENT JSON [options]

Sends one message and exits once it has gone through (it waits for a marker
of its own to come back). JSON becomes the msgpack body: objects become maps,
arrays arrays, and so on.

  herald pub ws://127.0.0.1:7070 technology-chat chat-message '{"text":"hi"}'

options:
  --broadcast        send to everyone (CHANNEL is then ignored)
  --no-echo          do not deliver it back to this connection
  --session TOKEN    session token for hubs and brokers that require one
  --help             this text
)";

constexpr const char* kSubUsage = R"(usage: herald sub URL CHANNEL... [options]

Joins the channels and prints every message sent to them as one JSON line:
  {"channel":"room","event":"chat","sender":"<socket id>","message":<body>}
(binary data as base64 strings). Broadcasts have "channel":null. Runs until
SIGINT / SIGTERM.

options:
  --all              also print broadcasts and presence (channel:join, ...) events
  --count N          exit after printing N lines
  --session TOKEN    session token for hubs and brokers that require one
  --help             this text
)";

// --name value pairs; a flag without value maps to "".
struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> positional;
  std::string error;
};

Args parse(int argc, char** argv, int first, const std::vector<std::string>& with_value,
           const std::vector<std::string>& switches = {}) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (std::find(with_value.begin(), with_value.end(), name) != with_value.end()) {
      if (i + 1 >= argc) {
        args.error = "--" + name + " needs a value";
        return args;
      }
      value = argv[++i];
    } else if (name != "help" &&
               std::find(switches.begin(), switches.end(), name) == switches.end()) {
      args.error = "unknown option --" + name;
      return args;
    }
    args.values[name] = value;
  }
  return args;
}

std::optional<long long> number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || v < 0) return std::nullopt;
  return v;
}

// Sets `field` from --NAME if given; false when it is not a positive whole number.
template <class T>
bool positive(Args& args, const char* name, T& field) {
  if (!args.values.count(name)) return true;
  auto v = number(args.values[name]);
  if (!v || *v == 0) return false;
  field = static_cast<T>(*v);
  return true;
}

// Blocks SIGINT and SIGTERM (before any thread starts) so that sigwait() gets them.
sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int fail(const std::string& message, const char* usage) {
  std::cerr << (message.rfind("herald", 0) == 0 ? "" : "herald: ") << message << "\n\n" << usage;
  return 2;
}

int run_broker(int argc, char** argv) {
  Args args = parse(
      argc, argv, 2,
      {"zmq", "session-secret", "max-message-bytes", "session-timeout-ms", "high-water-mark"});
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
  auto numeric = [&args](const char* name, auto& field) { return positive(args, name, field); };
  long long timeout_ms = options.session_timeout.count();
  if (!numeric("max-message-bytes", options.max_message_bytes) ||
      !numeric("session-timeout-ms", timeout_ms) ||
      !numeric("high-water-mark", options.high_water_mark)) {
    return fail("numeric options take a positive whole number", kBrokerUsage);
  }
  options.session_timeout = std::chrono::milliseconds(timeout_ms);

  // Block the stop signals before any thread starts, then wait for one.
  const sigset_t stop_signals = block_stop_signals();

  herald::ZmqBroker broker(options);
  if (absl::Status s = broker.start(); !s.ok()) {
    std::cerr << "herald broker: " << s.message() << "\n";
    return 1;
  }
  std::cout << "listening " << broker.url() << std::endl;
  std::cerr << "herald broker: control port " << broker.port() << ", publish port "
            << broker.port() + 1 << ", subscribe port " << broker.port() + 2
            << (options.session_secret.empty() ? "" : ", session tokens required") << std::endl;
  int signal = 0;
  sigwait(&stop_signals, &signal);
  herald::ZmqBrokerStats stats = broker.stats();
  broker.stop();
  std::cerr << "herald broker: stopped (" << strsignal(signal) << "); forwarded "
            << stats.messages_in << " messages in, " << stats.messages_out << " out" << std::endl;
  return 0;
}

// "HOST:PORT", "[V6]:PORT" or "ws://HOST:PORT".
bool split_host_port(std::string text, std::string& host, int& port) {
  if (text.rfind("ws://", 0) == 0) text = text.substr(5);
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

int run_hub(int argc, char** argv) {
  Args args = parse(argc, argv, 2,
                    {"ws", "session-secret", "max-message-bytes", "threads", "idle-timeout-ms",
                     "max-write-queue-bytes", "max-connections"});
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
  herald::HubOptions hub_options;
  if (args.values.count("session-secret")) {
    auto secret = herald::read_secret_file(args.values["session-secret"]);
    if (!secret.ok()) return fail(std::string(secret.status().message()), kHubUsage);
    hub_options.enforce_session = true;
    hub_options.verify_session = herald::session_verifier(*secret);
  }
  auto numeric = [&args](const char* name, auto& field) { return positive(args, name, field); };
  long long idle_ms = options.idle_timeout.count();
  if (!numeric("max-message-bytes", hub_options.max_message_bytes) ||
      !numeric("threads", options.threads) || !numeric("idle-timeout-ms", idle_ms) ||
      !numeric("max-write-queue-bytes", options.max_write_queue_bytes) ||
      !numeric("max-connections", options.max_connections)) {
    return fail("numeric options take a positive whole number", kHubUsage);
  }
  options.idle_timeout = std::chrono::milliseconds(idle_ms);

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
            << stats.closed_slow_consumer << " slow consumers closed" << std::endl;
  return 0;
}

int run_token(int argc, char** argv) {
  Args args = parse(argc, argv, 2, {"secret", "sub", "ttl"});
  if (args.values.count("help")) {
    std::cout << kTokenUsage;
    return 0;
  }
  if (!args.error.empty()) return fail(args.error, kTokenUsage);
  if (!args.values.count("secret") || !args.values.count("sub")) {
    return fail("--secret FILE and --sub ID are required", kTokenUsage);
  }
  std::string ttl_text = args.values.count("ttl") ? args.values["ttl"] : "1h";
  long long multiplier = 1;
  if (!ttl_text.empty()) {
    switch (ttl_text.back()) {
      case 's':
        multiplier = 1;
        ttl_text.pop_back();
        break;
      case 'm':
        multiplier = 60;
        ttl_text.pop_back();
        break;
      case 'h':
        multiplier = 3600;
        ttl_text.pop_back();
        break;
      case 'd':
        multiplier = 86400;
        ttl_text.pop_back();
        break;
      default:
        break;
    }
  }
  auto ttl = number(ttl_text);
  if (!ttl || *ttl == 0) return fail("--ttl takes e.g. 90s, 15m, 1h, 7d", kTokenUsage);
  auto secret = herald::read_secret_file(args.values["secret"]);
  if (!secret.ok()) return fail(std::string(secret.status().message()), kTokenUsage);
  std::cout << herald::make_session_token(*secret, args.values["sub"],
                                          std::chrono::seconds(*ttl * multiplier))
            << "\n";
  return 0;
}

std::string json_string(std::string_view s) {
  return nlohmann::json(std::string(s))
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool wait_connected(herald::Realtime& rt, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!rt.is_connected()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

herald::Realtime connect_or_explain(const std::string& url, const herald::Options& options,
                                    std::string& error) {
  try {
    return herald::Realtime(url, options);
  } catch (const std::invalid_argument& e) {
    error = e.what();
    return herald::Realtime("mem://herald-cli-unused");
  }
}

int run_pub(int argc, char** argv) {
  Args args = parse(argc, argv, 2, {"session"}, {"broadcast", "no-echo"});
  if (args.values.count("help")) {
    std::cout << kPubUsage;
    return 0;
  }
  if (!args.error.empty()) return fail(args.error, kPubUsage);
  if (args.positional.size() != 4) return fail("expected URL CHANNEL EVENT JSON", kPubUsage);
  const std::string& url = args.positional[0];
  const std::string& channel = args.positional[1];
  const std::string& event = args.positional[2];
  nlohmann::json body = nlohmann::json::parse(args.positional[3], nullptr, false);
  if (body.is_discarded()) return fail("JSON is not valid JSON: " + args.positional[3], kPubUsage);
  std::vector<std::uint8_t> packed = nlohmann::json::to_msgpack(body);
  auto message = herald::Message::from_msgpack(
      std::span<const std::byte>(reinterpret_cast<const std::byte*>(packed.data()), packed.size()));
  if (!message.ok()) return fail(std::string(message.status().message()), kPubUsage);

  herald::Options options;
  if (args.values.count("session")) options.session = args.values["session"];
  options.timeout = std::chrono::seconds(10);
  std::string error;
  herald::Realtime rt = connect_or_explain(url, options, error);
  if (!error.empty()) return fail(error, kPubUsage);
  std::mutex error_mu;
  absl::Status last_error;
  rt.on_error([&](const absl::Status& s) {
    std::lock_guard lock(error_mu);
    last_error = s;
  });
  if (!wait_connected(rt, std::chrono::seconds(10))) {
    std::cerr << "herald pub: not connected to " << url
              << (last_error.ok() ? std::string() : ": " + std::string(last_error.message()))
              << "\n";
    return 1;
  }
  const bool echo = !args.values.count("no-echo");
  absl::Status sent = args.values.count("broadcast") ? rt.broadcast(event, *message, echo)
                                                     : rt.send(channel, event, *message, echo);
  if (!sent.ok()) {
    std::cerr << "herald pub: " << sent.message() << "\n";
    return 1;
  }
  // A marker on a channel of our own: when it is back, the message (sent
  // before it, on the same path) has gone through.
  const std::string own = "herald-pub-" + rt.get_socket_id();
  std::atomic<bool> back{false};
  rt.on("herald-pub-done", [&](const herald::Payload&) { back = true; });
  if (!rt.join(own, /*echo=*/false).ok() || !rt.send(own, "herald-pub-done", 0, true).ok()) {
    std::cerr << "herald pub: could not confirm delivery\n";
    return 1;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (!back && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return back ? 0 : 1;
}

int run_sub(int argc, char** argv) {
  Args args = parse(argc, argv, 2, {"session", "count"}, {"all"});
  if (args.values.count("help")) {
    std::cout << kSubUsage;
    return 0;
  }
  if (!args.error.empty()) return fail(args.error, kSubUsage);
  if (args.positional.size() < 2) return fail("expected URL and at least one CHANNEL", kSubUsage);
  long long limit = -1;
  if (args.values.count("count")) {
    auto n = number(args.values["count"]);
    if (!n || *n == 0) return fail("--count takes a positive whole number", kSubUsage);
    limit = *n;
  }
  const bool all = args.values.count("all") > 0;
  const sigset_t stop_signals = block_stop_signals();

  herald::Options options;
  options.dispatch = herald::Dispatch::queued;  // print from this thread
  if (args.values.count("session")) options.session = args.values["session"];
  std::string error;
  herald::Realtime rt = connect_or_explain(args.positional[0], options, error);
  if (!error.empty()) return fail(error, kSubUsage);
  long long printed = 0;
  rt.on_any([&](const herald::Payload& p) {
    const bool presence = p.event().rfind("channel:", 0) == 0;
    if (!all && (!p.channel() || presence)) return;
    if (limit > 0 && printed >= limit) return;
    std::cout << "{\"channel\":" << (p.channel() ? json_string(*p.channel()) : "null")
              << ",\"event\":" << json_string(p.event())
              << ",\"sender\":" << json_string(p.sender())
              << ",\"message\":" << p.message().to_json() << "}" << std::endl;
    ++printed;
  });
  rt.on_error(
      [](const absl::Status& s) { std::cerr << "herald sub: " << s.message() << std::endl; });
  for (std::size_t i = 1; i < args.positional.size(); ++i) {
    if (absl::Status s = rt.join(args.positional[i], /*echo=*/false); !s.ok()) {
      std::cerr << "herald sub: " << s.message() << "\n";
      return 1;
    }
  }
  std::cerr << "herald sub: listening" << std::endl;
  for (;;) {
    rt.poll_for(std::chrono::milliseconds(100));
    if (limit > 0 && printed >= limit) return 0;
    timespec zero{0, 0};
    if (sigtimedwait(&stop_signals, nullptr, &zero) > 0) return 0;
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "hub") return run_hub(argc, argv);
  if (command == "broker") return run_broker(argc, argv);
  if (command == "token") return run_token(argc, argv);
  if (command == "pub") return run_pub(argc, argv);
  if (command == "sub") return run_sub(argc, argv);
  std::cerr << "herald: unknown command \"" << command << "\"\n\n" << kUsage;
  return 2;
}
