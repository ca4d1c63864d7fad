// Compiled against the installed herald package only. Uses MSGPACK_DEFINE_MAP
// without finding msgpack itself: herald's package brings it along.
#include <herald/herald.hpp>

#include <iostream>
#include <string>

struct Greeting {
  std::string who;
  int times = 0;
  MSGPACK_DEFINE_MAP(who, times)
};

int main() {
  herald::Realtime a("mem://consumer");
  herald::Realtime b("mem://consumer");
  Greeting got;
  b.on("hello", [&](const herald::Payload& p) { got = p.message().as<Greeting>(); });
  if (!b.join("room", false).ok()) return 1;
  if (!a.send("room", "hello", Greeting{"consumer", 3}).ok()) return 2;
  if (got.who != "consumer" || got.times != 3) return 3;
  std::cout << "installed herald works: " << got.who << " x" << got.times << "\n";
  return 0;
}
