// quickstart — the Altogic realtime documentation's example, in C++.
//
// Three connections share the process's default hub ("mem://"). Luke and Leia
// chat in the `technology-chat` channel, Darth Vader broadcasts a warning to
// everyone, and along the way we use every listener call: on, once, on_any,
// off, off_any, get_listeners — and echo.
//
// Swap "mem://" for "zmq://HOST:PORT" or "ws://HOST:PORT" and nothing else
// changes (once those transports are built).
#include <cstdlib>
#include <iostream>
#include <string>

#include "herald/herald.hpp"

// A typed message: any struct with MSGPACK_DEFINE_MAP travels as a msgpack map
// (JavaScript clients see a plain object).
struct ChatMessage {
  std::string from;
  std::string text;
  MSGPACK_DEFINE_MAP(from, text)
};

namespace {

void check(const absl::Status& status, const char* what) {
  if (!status.ok()) {
    std::cerr << what << " failed: " << status << "\n";
    std::exit(1);
  }
}

void print(const char* who, const herald::Payload& p) {
  auto msg = p.message().as<ChatMessage>();
  std::cout << "  [" << who << "] " << p.event() << " in "
            << (p.channel() ? std::string(*p.channel()) : std::string("(broadcast)")) << ": "
            << msg.from << " says \"" << msg.text << "\"\n";
}

}  // namespace

int main() {
  herald::Realtime luke("mem://");
  herald::Realtime leia("mem://");
  herald::Options quiet;
  quiet.echo_messages = false;  // Vader does not want to hear himself
  herald::Realtime vader("mem://", quiet);

  // Listeners for one event run in registration order; on_any runs first.
  leia.on("chat-message", [](const herald::Payload& p) { print("leia", p); });
  luke.on("chat-message", [](const herald::Payload& p) { print("luke", p); });
  herald::ListenerId spy = leia.on_any([](const herald::Payload& p) {
    std::cout << "  [leia/any] saw event " << p.event() << "\n";
  });
  // once: removed, then invoked, the first time the event arrives.
  luke.once("warning-message", [](const herald::Payload& p) { print("luke, once", p); });
  leia.on("warning-message", [](const herald::Payload& p) { print("leia", p); });
  vader.on("warning-message", [](const herald::Payload& p) { print("vader", p); });

  check(luke.join("technology-chat", /*echo=*/false), "join");
  check(leia.join("technology-chat", /*echo=*/false), "join");

  std::cout << "Luke sends to technology-chat (echo on: he hears himself too):\n";
  check(luke.send("technology-chat", "chat-message",
                  ChatMessage{"Luke Skywalker", "May the Force be with you"}),
        "send");

  std::cout << "Luke sends again with echo off for this call:\n";
  check(luke.send("technology-chat", "chat-message",
                  ChatMessage{"Luke Skywalker", "Anyone seen my lightsaber?"}, /*echo=*/false),
        "send");

  std::cout << "Darth Vader broadcasts to everyone (his echo is off):\n";
  check(vader.broadcast("warning-message", ChatMessage{"Darth Vader", "I am your father"}),
        "broadcast");

  std::cout << "He broadcasts again; Luke's once-listener is gone:\n";
  check(vader.broadcast("warning-message", ChatMessage{"Darth Vader", "Join the dark side"}),
        "broadcast");

  std::cout << "Leia has " << leia.get_listeners().size() << " listeners ("
            << leia.get_listeners("chat-message").size() << " for chat-message); "
            << "she removes the spy and her chat listeners:\n";
  leia.off_any(spy);
  leia.off("chat-message");
  std::cout << "  now " << leia.get_listeners().size() << " listener(s) left\n";
  check(
      luke.send("technology-chat", "chat-message", ChatMessage{"Luke Skywalker", "Leia? ...Leia?"}),
      "send");

  herald::Stats stats = luke.stats();
  std::cout << "Luke sent " << stats.sent << " messages; " << stats.delivered
            << " envelopes reached him (Leia's channel:join presence event included).\n";
  return 0;
}
