// zmq_bench.cc — herald over zmq:// next to raw cppzmq through the same kind
// of XSUB/XPUB proxy, on tcp loopback, same message sizes, same binary.
//
//   Zmq_Herald  one herald::ZmqBroker (started once), a sender Realtime and a
//               receiver Realtime joined to "room" (immediate dispatch: the
//               listener runs on the receiver's I/O thread). One iteration =
//               kZmqBatch sends of a herald::Bytes body of <size> bytes, and
//               wait until the listener has counted all of them.
//   Zmq_Raw     cppzmq: XSUB + XPUB bound on loopback, zmq_proxy() in a thread;
//               PUB -> XSUB, XPUB -> SUB subscribed to one topic; two frames
//               [topic, <size> bytes]; a receiver thread counts. Same batch.
//
// Both sides use two ZeroMQ contexts with one I/O thread each, like herald
// (the broker has its own context; the clients share one), and the same
// high-water mark as herald (100'000 messages per socket and direction), so
// neither side drops what it is given. A batch (20'000) stays far below it.
// A run that does not receive every message within kZmqTimeout reports an
// error instead of a number (herald's also prints its Stats, lost_in_transit
// included). See bench/README.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "bench_main.hpp"
#include "herald/herald.hpp"
#include "herald/zmq/broker.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr std::string_view kEvent = "tick";
constexpr std::string_view kChannel = "room";
constexpr std::uint64_t kZmqBatch = 20'000;  // messages per iteration (well below the HWM)
constexpr auto kZmqTimeout = 20s;            // per batch, generous
constexpr auto kSetupTimeout = 10s;
constexpr int kHighWaterMark = 100'000;  // what herald's client and broker use

// Counts deliveries on one thread; another waits until a target is reached.
class Counter {
 public:
  // The receiving thread: one more.
  void add() {
    const std::uint64_t n = count_.fetch_add(1, std::memory_order_acq_rel) + 1;
    if (n == target_.load(std::memory_order_acquire)) {
      std::lock_guard lock(mu_);  // no lost wake-up against wait_for()
      cv_.notify_one();
    }
  }
  void count_bad() { bad_.fetch_add(1, std::memory_order_relaxed); }
  // The sending thread, before it sends: the count to wait for.
  void expect(std::uint64_t target) {
    std::lock_guard lock(mu_);
    target_.store(target, std::memory_order_release);
  }
  // True when the target was reached within `timeout`.
  bool wait_for(std::chrono::nanoseconds timeout) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, timeout, [&] {
      return count_.load(std::memory_order_acquire) >= target_.load(std::memory_order_relaxed);
    });
  }
  std::uint64_t count() const { return count_.load(std::memory_order_acquire); }
  std::uint64_t bad() const { return bad_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> count_{0};
  std::atomic<std::uint64_t> target_{0};
  std::atomic<std::uint64_t> bad_{0};  // deliveries of the wrong size
  std::mutex mu_;
  std::condition_variable cv_;
};

void set_counters(benchmark::State& state, std::size_t size) {
  const auto messages = state.iterations() * static_cast<benchmark::IterationCount>(kZmqBatch);
  state.SetItemsProcessed(messages);
  state.SetBytesProcessed(messages * static_cast<benchmark::IterationCount>(size));
}

bool check_ok(benchmark::State& state, const absl::Status& status, std::string_view what) {
  if (status.ok()) return true;
  const std::string msg = std::string(what) + ": " + status.ToString();
  state.SkipWithError(msg.c_str());
  return false;
}

// ============================================================ herald

// One broker for the whole binary, on a free loopback port.
herald::ZmqBroker* broker(absl::Status* error) {
  static herald::ZmqBroker* instance = [error]() -> herald::ZmqBroker* {
    auto* b = new herald::ZmqBroker(herald::ZmqBrokerOptions{});  // tcp://127.0.0.1:0
    absl::Status s = b->start();
    if (!s.ok()) {
      *error = s;
      delete b;
      return nullptr;
    }
    return b;
  }();
  if (instance == nullptr && error->ok()) *error = absl::UnavailableError("broker failed to start");
  return instance;
}

bool wait_connected(const herald::Realtime& rt) {
  const auto deadline = Clock::now() + kSetupTimeout;
  while (!rt.is_connected()) {
    if (Clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

void print_stats(const char* who, std::size_t size, const herald::Stats& s) {
  std::fprintf(stderr,
               "BM_Zmq_Herald/%zu %s: sent=%llu delivered=%llu listener_calls=%llu "
               "lost_in_transit=%llu dropped_malformed=%llu dropped_closed=%llu rejected=%llu "
               "buffered=%zu\n",
               size, who, static_cast<unsigned long long>(s.sent),
               static_cast<unsigned long long>(s.delivered),
               static_cast<unsigned long long>(s.listener_calls),
               static_cast<unsigned long long>(s.lost_in_transit),
               static_cast<unsigned long long>(s.dropped_malformed),
               static_cast<unsigned long long>(s.dropped_closed),
               static_cast<unsigned long long>(s.rejected), s.buffered);
}

void BM_Zmq_Herald(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  absl::Status broker_error;
  herald::ZmqBroker* b = broker(&broker_error);
  if (b == nullptr) {
    check_ok(state, broker_error, "broker");
    return;
  }
  const std::string url = b->url();

  // What the listener sees: the msgpack encoding of the bin (2-5 byte header + bytes).
  const herald::Bytes body(size, std::byte{0x5a});
  const std::size_t encoded_size = herald::Message::of(body).bytes().size();

  Counter counter;
  herald::Realtime receiver(url);  // Dispatch::immediate: listener on its I/O thread
  receiver.on(kEvent, [&counter, encoded_size](const herald::Payload& p) {
    const auto bytes = p.message().bytes();
    benchmark::DoNotOptimize(bytes.data());
    if (bytes.size() == encoded_size) {
      counter.add();
    } else {
      counter.count_bad();
    }
  });
  herald::Realtime sender(url);  // not a member of the channel
  if (!wait_connected(receiver) || !wait_connected(sender)) {
    state.SkipWithError("herald did not connect to the broker");
    return;
  }
  // join() returns once the subscription is in force at the broker (probe).
  if (!check_ok(state, receiver.join(kChannel), "join")) return;

  // One batch: send it all, wait until the listener has counted it all.
  std::uint64_t expected = 0;
  auto run_batch = [&]() -> bool {
    expected += kZmqBatch;
    counter.expect(expected);
    for (std::uint64_t i = 0; i < kZmqBatch; ++i) {
      absl::Status status = sender.send(kChannel, kEvent, body);
      if (!status.ok()) return check_ok(state, status, "send");
    }
    if (counter.wait_for(kZmqTimeout)) return true;
    const herald::Stats rs = receiver.stats();
    print_stats("receiver", size, rs);
    print_stats("sender", size, sender.stats());
    const std::string msg = "receiver got " + std::to_string(counter.count()) + " of " +
                            std::to_string(expected) + " within " +
                            std::to_string(std::chrono::seconds(kZmqTimeout).count()) +
                            " s; lost_in_transit=" + std::to_string(rs.lost_in_transit);
    state.SkipWithError(msg.c_str());
    return false;
  };
  bool failed = false;
  for (auto _ : state) {
    if (!run_batch()) {
      failed = true;
      break;
    }
  }
  if (failed) return;
  const herald::Stats rs = receiver.stats();
  if (counter.bad() != 0 || rs.lost_in_transit != 0 || counter.count() != expected) {
    print_stats("receiver", size, rs);
    const std::string msg = "received " + std::to_string(counter.count()) + " of " +
                            std::to_string(expected) + ", wrong size " +
                            std::to_string(counter.bad()) +
                            ", lost_in_transit=" + std::to_string(rs.lost_in_transit);
    state.SkipWithError(msg.c_str());
    return;
  }
  state.counters["lost_in_transit"] = static_cast<double>(rs.lost_in_transit);
  set_counters(state, size);
}

// ============================================================ raw cppzmq

void set_hwm(zmq::socket_t& s) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, kHighWaterMark);
  s.set(zmq::sockopt::rcvhwm, kHighWaterMark);
}

std::string bind_any(zmq::socket_t& s) {
  s.bind("tcp://127.0.0.1:0");
  return s.get(zmq::sockopt::last_endpoint);
}

void BM_Zmq_Raw(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  const std::string topic = "croom\xff";  // herald's topic for "room"
  const std::string probe_topic = "praw-probe\xff";
  const std::vector<std::byte> payload(size, std::byte{0x5a});

  // The broker: its own context, XSUB/XPUB on loopback, zmq_proxy in a thread.
  zmq::context_t broker_ctx(1);
  zmq::socket_t xsub(broker_ctx, zmq::socket_type::xsub);
  zmq::socket_t xpub(broker_ctx, zmq::socket_type::xpub);
  set_hwm(xsub);
  set_hwm(xpub);
  const std::string xsub_ep = bind_any(xsub);
  const std::string xpub_ep = bind_any(xpub);
  std::thread proxy([&xsub, &xpub] {
    // Returns (ETERM) when broker_ctx is shut down below.
    zmq_proxy(xsub.handle(), xpub.handle(), nullptr);
  });
  struct StopProxy {
    zmq::context_t& ctx;
    std::thread& thread;
    ~StopProxy() {
      ctx.shutdown();
      thread.join();
    }
  } stop_proxy{broker_ctx, proxy};

  // The clients: one context for both, like herald's client_context().
  zmq::context_t client_ctx(1);
  zmq::socket_t pub(client_ctx, zmq::socket_type::pub);
  zmq::socket_t sub(client_ctx, zmq::socket_type::sub);
  set_hwm(pub);
  set_hwm(sub);
  pub.connect(xsub_ep);
  sub.connect(xpub_ep);
  sub.set(zmq::sockopt::subscribe, topic);

  // Slow joiner: subscribe a probe topic after the data topic and publish on
  // it until one comes back. That proves the PUB has the subscriptions
  // (forwarded by the proxy, in order), so the data topic is through too.
  sub.set(zmq::sockopt::subscribe, probe_topic);
  {
    bool through = false;
    const auto deadline = Clock::now() + kSetupTimeout;
    while (!through && Clock::now() < deadline) {
      pub.send(zmq::buffer(probe_topic), zmq::send_flags::sndmore);
      pub.send(zmq::str_buffer("probe"), zmq::send_flags::none);
      zmq::pollitem_t item{sub.handle(), 0, ZMQ_POLLIN, 0};
      through = zmq::poll(&item, 1, 5ms) > 0;
    }
    if (!through) {
      state.SkipWithError("raw: the probe never came back");
      return;
    }
  }
  sub.set(zmq::sockopt::unsubscribe, probe_topic);

  // The receiver thread owns `sub` from here on (late probes are skipped by topic).
  Counter counter;
  std::atomic<bool> stop{false};
  sub.set(zmq::sockopt::rcvtimeo, 100);
  std::thread receiver([&] {
    zmq::message_t t;
    zmq::message_t body;
    while (!stop.load(std::memory_order_relaxed)) {
      if (!sub.recv(t)) continue;  // timeout: check stop
      if (!t.more()) continue;
      (void)sub.recv(body);
      bool extra = false;
      while (body.more()) {  // not ours: drain the rest
        (void)sub.recv(body);
        extra = true;
      }
      if (extra || t.to_string_view() != topic) continue;
      benchmark::DoNotOptimize(body.data());
      if (body.size() == size) {
        counter.add();
      } else {
        counter.count_bad();
      }
    }
  });

  std::uint64_t expected = 0;
  bool failed = false;
  for (auto _ : state) {
    expected += kZmqBatch;
    counter.expect(expected);
    for (std::uint64_t i = 0; i < kZmqBatch; ++i) {
      pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
      pub.send(zmq::buffer(payload.data(), payload.size()), zmq::send_flags::none);
    }
    if (!counter.wait_for(kZmqTimeout)) {
      const std::string msg = "raw receiver got " + std::to_string(counter.count()) + " of " +
                              std::to_string(expected) + " within " +
                              std::to_string(std::chrono::seconds(kZmqTimeout).count()) + " s";
      state.SkipWithError(msg.c_str());
      failed = true;
      break;
    }
  }
  stop = true;
  receiver.join();
  if (failed) return;
  if (counter.bad() != 0 || counter.count() != expected) {
    const std::string msg = "raw: received " + std::to_string(counter.count()) + " of " +
                            std::to_string(expected) + ", wrong size " +
                            std::to_string(counter.bad());
    state.SkipWithError(msg.c_str());
    return;
  }
  set_counters(state, size);
}

// ============================================================ registration

BENCHMARK(BM_Zmq_Herald)
    ->Arg(16)
    ->Arg(256)
    ->Arg(4096)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Zmq_Raw)->Arg(16)->Arg(256)->Arg(4096)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

// BENCHMARK_MAIN with defaults, as in dispatch_bench.cc (flags given on the
// command line still win: the last one counts):
//  --benchmark_min_time=0.5                   seconds per benchmark;
//  --benchmark_enable_random_interleaving     with --benchmark_repetitions=N,
//      herald's and raw's repetitions alternate (in random order) instead of
//      running back to back, so a load change on a shared machine hits both.
int main(int argc, char** argv) {
  return herald::bench::run_benchmarks(
      argc, argv, {"--benchmark_min_time=0.5", "--benchmark_enable_random_interleaving=true"});
}
