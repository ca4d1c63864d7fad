// `herald pub` and `herald sub`: one message out, or every message in as JSON lines.
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

constexpr const char* kPubUsage = R"(usage: herald pub URL CHANNEL EVENT JSON [options]

Sends one message and exits once it has gone through (it waits for a marker
of its own to come back). JSON becomes the msgpack body: objects become maps,
arrays arrays, and so on.

  herald pub ws://127.0.0.1:7070 technology-chat chat-message '{"text":"hi"}'

options:
  --broadcast        send to everyone (CHANNEL is then ignored)
  --no-echo          do not deliver it back to this connection
  --session TOKEN    session token for hubs and brokers that require one
  --tls-ca FILE      wss://: trust the CA certificates in FILE (PEM) instead of
                     the system's store
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
  --tls-ca FILE      wss://: trust the CA certificates in FILE (PEM) instead of
                     the system's store
  --help             this text
)";

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

}  // namespace

int run_pub(int argc, char** argv) {
  Args args = parse(argc, argv, 2, {"session", "tls-ca"}, {"broadcast", "no-echo"});
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
  if (args.values.count("tls-ca")) options.tls_ca_file = args.values["tls-ca"];
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
  Args args = parse(argc, argv, 2, {"session", "count", "tls-ca"}, {"all"});
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
  if (args.values.count("tls-ca")) options.tls_ca_file = args.values["tls-ca"];
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

}  // namespace herald::cli
