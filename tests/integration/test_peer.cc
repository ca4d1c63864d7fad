// herald_test_peer — a herald client in a process of its own, for
// cross-process tests.
//
//   herald_test_peer sub URL CHANNEL COUNT   join, print "ready", receive COUNT
//                                            ints 0..COUNT-1 in order, print "received"
//   herald_test_peer pub URL CHANNEL COUNT   send ints 0..COUNT-1, and make sure the
//                                            last one went through before exiting
// Exit status 0 on success, 1 on a timeout or a message out of order.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <thread>

#include "herald/herald.hpp"

namespace {

using namespace std::chrono_literals;

bool wait_until(const std::atomic<bool>& flag, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!flag.load()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::cerr << "usage: herald_test_peer sub|pub URL CHANNEL COUNT\n";
    return 2;
  }
  const std::string mode = argv[1], url = argv[2], channel = argv[3];
  const int count = std::atoi(argv[4]);
  herald::Realtime rt(url);
  std::atomic<bool> connected{false};
  rt.on_connect([&] { connected = true; });
  if (!wait_until(connected, std::chrono::seconds(20))) {
    std::cerr << "not connected to " << url << "\n";
    return 1;
  }
  std::atomic<int> next{0};
  std::atomic<bool> done{false}, disorder{false};
  rt.on("n", [&](const herald::Payload& p) {
    const int n = p.message().as<int>();
    if (n != next.load()) disorder = true;
    next = n + 1;
    if (n == count - 1) done = true;
  });
  if (!rt.join(channel).ok()) {
    std::cerr << "join failed\n";
    return 1;
  }
  if (mode == "sub") {
    std::cout << "ready " << rt.get_socket_id() << std::endl;
  } else {
    // The publisher is a member too: its own last message coming back proves
    // everything before it went through the broker (linger is 0 on exit).
    for (int i = 0; i < count; ++i) {
      if (absl::Status s = rt.send(channel, "n", i); !s.ok()) {
        std::cerr << "send failed: " << s << "\n";
        return 1;
      }
    }
  }
  if (!wait_until(done, std::chrono::seconds(30))) {
    std::cerr << mode << ": got " << next.load() << " of " << count << "\n";
    return 1;
  }
  if (disorder) {
    std::cerr << mode << ": out of order\n";
    return 1;
  }
  std::cout << (mode == "sub" ? "received " : "sent ") << count << std::endl;
  return 0;
}
