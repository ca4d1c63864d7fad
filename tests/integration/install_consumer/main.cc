// Compiled against the installed herald package only. Uses MSGPACK_DEFINE_MAP
// without finding msgpack itself, and the ZeroMQ transport without finding
// libzmq: herald's package brings them along.
#include <chrono>
#include <herald/herald.hpp>
#include <herald/zmq/broker.hpp>
#include <iostream>
#include <string>
#include <thread>

struct Greeting {
  std::string who;
  int times = 0;
  MSGPACK_DEFINE_MAP(who, times)
};

namespace {

template <class F>
bool eventually(F condition) {
  for (int i = 0; i < 5000 && !condition(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return condition();
}

int round_trip(const std::string& url) {
  herald::Realtime a(url);
  herald::Realtime b(url);
  if (!eventually([&] { return a.is_connected() && b.is_connected(); })) return 10;
  std::atomic<bool> got{false};
  Greeting greeting;
  b.on("hello", [&](const herald::Payload& p) {
    greeting = p.message().as<Greeting>();
    got = true;
  });
  if (!b.join("room", false).ok()) return 11;
  if (!a.send("room", "hello", Greeting{"consumer", 3}).ok()) return 12;
  if (!eventually([&] { return got.load(); })) return 13;
  if (greeting.who != "consumer" || greeting.times != 3) return 14;
  std::cout << "installed herald works over " << url << "\n";
  return 0;
}

}  // namespace

int main() {
  if (int rc = round_trip("mem://consumer"); rc != 0) return rc;
  herald::ZmqBroker broker({.endpoint = "tcp://127.0.0.1:0"});
  if (!broker.start().ok()) return 20;
  return round_trip(broker.url());
}
