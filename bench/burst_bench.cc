// burst_bench.cc — the burst of issue 10, as a user meets it: 4 producer
// threads, each its own connection, each sending a burst of messages as fast
// as it can to one channel; one consumer with Dispatch::queued polling in a
// loop, its listener reading each message. Default Options everywhere
// (Overflow::block). One iteration = one burst of 4 x kPerProducer; reported:
// delivered messages per second (items_per_second) and what was lost.
//
//   Burst_Herald/<transport>/<bytes>   transport 0 mem://, 1 ws:// (a
//                 WsGateway in this process, loopback), 2 zmq:// (a
//                 ZmqBroker in this process, loopback).
//   Burst_Queue/<bytes>   the peer for in-process work: a hand-written bounded
//                 blocking queue (mutex + two condition variables, capacity
//                 65,536 like herald's inbox), 4 producers, 1 consumer that
//                 takes everything waiting at once — what one writes instead
//                 of a library.
//
// A burst that does not arrive whole within kPatience reports what it got:
// `lost` counts messages the consumer never saw (zmq:// without flow
// control drops at the broker's high-water mark). See bench/README.md.
#include <benchmark/benchmark.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench_main.hpp"
#include "herald/herald.hpp"
#include "herald/zmq/broker.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kProducers = 4;
constexpr int kPerProducer = 25'000;
constexpr std::uint64_t kBurst = std::uint64_t{kProducers} * kPerProducer;
constexpr auto kPatience = 30s;

// The far sides, started once per transport and kept for the whole run.
struct FarSides {
  std::unique_ptr<herald::WsGateway> gateway;
  std::unique_ptr<herald::ZmqBroker> broker;
  std::string url(int transport) {
    switch (transport) {
      case 0:
        return "mem://burst-bench";
      case 1:
        if (!gateway) {
          auto g = herald::WsGateway::start(herald::Hub::named("burst-bench-ws"));
          if (!g.ok()) return {};
          gateway = *std::move(g);
        }
        return gateway->url();
      default:
        if (!broker) {
          broker = std::make_unique<herald::ZmqBroker>();
          if (!broker->start().ok()) {
            broker.reset();
            return {};
          }
        }
        return broker->url();
    }
  }
};
FarSides& far_sides() {
  static FarSides f;
  return f;
}

bool wait_connected(const herald::Realtime& rt) {
  const auto deadline = Clock::now() + 10s;
  while (!rt.is_connected() && Clock::now() < deadline) std::this_thread::sleep_for(1ms);
  return rt.is_connected();
}

void BM_Burst_Herald(benchmark::State& state) {
  const int transport = static_cast<int>(state.range(0));
  const auto size = static_cast<std::size_t>(state.range(1));
  const std::string url = far_sides().url(transport);
  if (url.empty()) return state.SkipWithError("the far side did not start");
  herald::Options queued;
  queued.dispatch = herald::Dispatch::queued;
  herald::Realtime consumer(url, queued);
  std::uint64_t received = 0, bytes_read = 0;
  consumer.on("n", [&](const herald::Payload& p) {
    ++received;
    bytes_read += p.message().as<std::string>().size();  // the listener reads its message
  });
  if (!wait_connected(consumer) || !consumer.join("burst").ok()) {
    return state.SkipWithError("the consumer did not connect");
  }
  std::vector<std::unique_ptr<herald::Realtime>> producers;
  for (int p = 0; p < kProducers; ++p) {
    producers.push_back(std::make_unique<herald::Realtime>(url));
    if (!wait_connected(*producers.back()))
      return state.SkipWithError("a producer did not connect");
  }
  const std::string body(size, 'x');
  std::uint64_t delivered = 0, lost = 0, failed_sends = 0;
  for (auto _ : state) {
    const std::uint64_t start = received;
    std::atomic<std::uint64_t> failed{0};
    std::atomic<int> done{0};
    std::vector<std::thread> threads;
    for (int p = 0; p < kProducers; ++p) {
      threads.emplace_back([&, p] {
        for (int i = 0; i < kPerProducer; ++i) {
          if (!producers[p]->send("burst", "n", body).ok()) failed.fetch_add(1);
        }
        done.fetch_add(1);
      });
    }
    const auto deadline = Clock::now() + kPatience;
    auto moved = Clock::now();
    std::uint64_t seen = received;
    while (received - start < kBurst && Clock::now() < deadline) {
      consumer.poll_for(5ms);
      if (received != seen) {
        seen = received;
        moved = Clock::now();
      }
      // zmq:// without flow control: what the broker dropped never comes;
      // once the producers are done and nothing arrives for a second, it is lost.
      if (done.load() == kProducers && Clock::now() - moved > 1s) break;
    }
    for (auto& t : threads) t.join();
    consumer.poll();
    delivered += received - start;
    lost += kBurst - (received - start);
    failed_sends += failed.load();
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
  state.counters["lost"] = static_cast<double>(lost);
  state.counters["failed_sends"] = static_cast<double>(failed_sends);
  benchmark::DoNotOptimize(bytes_read);
}

// The peer: a bounded blocking queue of strings, 4 -> 1.
class BoundedQueue {
 public:
  explicit BoundedQueue(std::size_t capacity) : capacity_(capacity) {}
  void push(std::string s) {
    std::unique_lock lock(mu_);
    not_full_.wait(lock, [&] { return items_.size() < capacity_; });
    items_.push_back(std::move(s));
    if (items_.size() == 1) not_empty_.notify_one();
  }
  // Takes everything waiting (at least one), as herald's poll does.
  void take_all(std::deque<std::string>& out) {
    std::unique_lock lock(mu_);
    not_empty_.wait(lock, [&] { return !items_.empty(); });
    out.swap(items_);
    lock.unlock();
    not_full_.notify_all();
  }

 private:
  const std::size_t capacity_;
  std::mutex mu_;
  std::condition_variable not_full_, not_empty_;
  std::deque<std::string> items_;
};

void BM_Burst_Queue(benchmark::State& state) {
  const auto size = static_cast<std::size_t>(state.range(0));
  BoundedQueue queue(herald::limits::kDefaultInboxCapacity);
  const std::string body(size, 'x');
  std::uint64_t delivered = 0, bytes_read = 0;
  for (auto _ : state) {
    std::vector<std::thread> threads;
    for (int p = 0; p < kProducers; ++p) {
      threads.emplace_back([&] {
        for (int i = 0; i < kPerProducer; ++i) queue.push(body);
      });
    }
    std::uint64_t got = 0;
    std::deque<std::string> batch;
    while (got < kBurst) {
      queue.take_all(batch);
      for (const std::string& s : batch) bytes_read += s.size();
      got += batch.size();
      batch.clear();
    }
    for (auto& t : threads) t.join();
    delivered += got;
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(delivered));
  benchmark::DoNotOptimize(bytes_read);
}

BENCHMARK(BM_Burst_Herald)
    ->ArgsProduct({{0, 1, 2}, {16, 1024}})
    ->ArgNames({"transport", "bytes"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Burst_Queue)
    ->Arg(16)
    ->Arg(1024)
    ->ArgName("bytes")
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  return herald::bench::run_benchmarks(
      argc, argv, {"--benchmark_min_time=1", "--benchmark_enable_random_interleaving=true"});
}
