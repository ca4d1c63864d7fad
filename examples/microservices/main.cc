// microservices — an order service and a billing service, two processes
// exchanging typed events through a ZeroMQ broker.
//
//   microservices                 run the whole demo: an embedded broker and
//                                 both services as child processes
//   microservices orders URL      the order service
//   microservices billing URL     the billing service
//
// With `herald broker --zmq tcp://127.0.0.1:5555` running elsewhere, start
// `microservices billing zmq://127.0.0.1:5555` and
// `microservices orders zmq://127.0.0.1:5555` in two terminals.
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "herald/zmq/broker.hpp"

extern char** environ;

// The events, as typed structs: they travel as msgpack maps, so a service in
// another language reads {"order_id": ..., "customer": ..., ...}.
struct OrderPlaced {
  int order_id = 0;
  std::string customer;
  std::vector<std::string> items;
  double total = 0;
  MSGPACK_DEFINE_MAP(order_id, customer, items, total)
};

struct InvoiceIssued {
  int order_id = 0;
  std::string invoice;
  double amount_due = 0;
  MSGPACK_DEFINE_MAP(order_id, invoice, amount_due)
};

namespace {

using namespace std::chrono_literals;
constexpr int kOrders = 5;

// Waits (bounded) for a condition signalled from listeners.
class Latch {
 public:
  void add(int n = 1) {
    {
      std::lock_guard lock(mu_);
      count_ += n;
    }
    cv_.notify_all();
  }
  bool wait_for(int n, std::chrono::seconds limit) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, limit, [&] { return count_ >= n; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int count_ = 0;
};

int billing(const std::string& url) {
  herald::Realtime rt(url);
  Latch done;
  rt.on("order-placed", [&](const herald::Payload& p) {
    auto order = p.message().as<OrderPlaced>();
    InvoiceIssued invoice{order.order_id, "INV-" + std::to_string(1000 + order.order_id),
                          order.total * 1.2};
    std::cout << "[billing] order " << order.order_id << " from " << order.customer
              << " -> invoice " << invoice.invoice << " (" << invoice.amount_due << ")"
              << std::endl;
    if (absl::Status s = rt.send("billing", "invoice-issued", invoice); !s.ok()) {
      std::cerr << "[billing] " << s << "\n";
    }
    done.add();
  });
  if (absl::Status s = rt.join("orders"); !s.ok()) {
    std::cerr << "[billing] join: " << s << "\n";
    return 1;
  }
  return done.wait_for(kOrders, 30s) ? 0 : 1;
}

int orders(const std::string& url) {
  herald::Realtime rt(url);
  Latch billed, billing_present;
  rt.on("invoice-issued", [&](const herald::Payload& p) {
    auto invoice = p.message().as<InvoiceIssued>();
    std::cout << "[orders]  order " << invoice.order_id << " billed: " << invoice.invoice
              << std::endl;
    billed.add();
  });
  // Presence tells us when billing is listening, so no order is sent into the void.
  rt.on_join([&](const herald::Payload& p) {
    if (p.channel() == "orders") billing_present.add();
  });
  if (!rt.join("billing").ok() || !rt.join("orders", /*echo=*/false).ok()) return 1;
  auto members = rt.get_members("orders");
  if (members.ok() && members->size() > 1) billing_present.add();
  if (!billing_present.wait_for(1, 30s)) {
    std::cerr << "[orders] billing never showed up\n";
    return 1;
  }
  const std::vector<std::string> customers = {"Luke", "Leia", "Han", "Chewbacca", "Lando"};
  for (int id = 1; id <= kOrders; ++id) {
    OrderPlaced order{id, customers[id - 1], {"X-wing polish", "hydrospanner"}, 10.0 * id};
    std::cout << "[orders]  placing order " << id << " for " << order.customer << std::endl;
    if (absl::Status s = rt.send("orders", "order-placed", order); !s.ok()) {
      std::cerr << "[orders] " << s << "\n";
      return 1;
    }
  }
  if (billed.wait_for(kOrders, 30s)) return 0;
  const herald::Stats s = rt.stats();
  std::cerr << "[orders]  not every order was billed; delivered " << s.delivered << ", lost "
            << s.lost_in_transit << ", malformed " << s.dropped_malformed << ", connected "
            << rt.is_connected() << "\n";
  return 1;
}

pid_t spawn(const std::string& self, const std::string& role, const std::string& url) {
  std::vector<std::string> args = {self, role, url};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, self.c_str(), nullptr, nullptr, argv.data(), environ) != 0) return -1;
  return pid;
}

int exit_code(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string role = argc > 1 ? argv[1] : "demo";
  if (role == "orders" && argc == 3) return orders(argv[2]);
  if (role == "billing" && argc == 3) return billing(argv[2]);
  if (role != "demo") {
    std::cerr << "usage: microservices [orders URL | billing URL]\n";
    return 2;
  }
  herald::ZmqBroker broker({.endpoint = "tcp://127.0.0.1:0"});
  if (absl::Status s = broker.start(); !s.ok()) {
    std::cerr << "broker: " << s << "\n";
    return 1;
  }
  std::cout << "[broker]  " << broker.url() << std::endl;
  const std::string self = "/proc/self/exe";
  pid_t billing_pid = spawn(self, "billing", broker.url());
  pid_t orders_pid = spawn(self, "orders", broker.url());
  if (billing_pid < 0 || orders_pid < 0) {
    std::cerr << "could not start the services\n";
    return 1;
  }
  const int orders_rc = exit_code(orders_pid);
  const int billing_rc = exit_code(billing_pid);
  std::cout << "[demo]    orders exited " << orders_rc << ", billing exited " << billing_rc
            << std::endl;
  return orders_rc == 0 && billing_rc == 0 ? 0 : 1;
}
