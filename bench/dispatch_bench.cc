// dispatch_bench.cc — herald next to the libraries a user would otherwise reach
// for, on the same message, selected by event name.
//
//   Immediate  one connection, N listeners on "tick", echo on; one send per
//              iteration.  Peers: an event-name -> signal map of
//              Boost.Signals2 / libsigc++ 3 signals with N slots.
//   FanOut     one sender, R receiver connections joined to "room" (sender not
//              a member); one send per iteration = R deliveries.  Peers: the
//              same map with one signal of R slots.
//   Queued     P producer threads -> 1 consumer thread; herald with
//              Dispatch::queued + poll_for, a hand-written mutex/condvar
//              deque, and moodycamel::BlockingConcurrentQueue.  One iteration
//              = kQueuedBatch messages sent and all received.
//   *Decode    the same three, with listeners that read their message
//              (as<int>, as<std::string>, as<Tick> struct); the peers get the
//              same typed values.
//
// Every listener/slot/handler counts its calls; a benchmark whose count does
// not match what was sent reports an error instead of a number.
// See bench/README.md for how to run and compare.
#include <benchmark/benchmark.h>
#include <concurrentqueue/blockingconcurrentqueue.h>
#include <sigc++/sigc++.h>

#include <atomic>
#include <boost/signals2/signal.hpp>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <functional>
#include <memory>
#include <msgpack.hpp>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "bench_main.hpp"
#include "herald/herald.hpp"

namespace {

using namespace std::chrono_literals;

constexpr std::string_view kEvent = "tick";
constexpr std::string_view kChannel = "room";
// The message every benchmark carries: a 16-byte string.
const std::string kMessage = "0123456789abcdef";
static_assert(sizeof("0123456789abcdef") - 1 == 16);

// How long a queued benchmark waits for its batch before declaring it lost.
constexpr auto kQueuedTimeout = 30s;
constexpr std::uint64_t kQueuedBatch = 100'000;

std::uint64_t as_u64(benchmark::IterationCount n) { return static_cast<std::uint64_t>(n); }

// The body of every listener: count, and keep the payload's bytes alive.
inline void touch(std::uint64_t& calls, const void* data) {
  ++calls;
  benchmark::DoNotOptimize(data);
}

bool check_calls(benchmark::State& state, std::uint64_t calls, std::uint64_t expected) {
  if (calls == expected) return true;
  const std::string msg =
      "listener calls " + std::to_string(calls) + " != expected " + std::to_string(expected);
  state.SkipWithError(msg.c_str());
  return false;
}

bool check_ok(benchmark::State& state, const absl::Status& status, std::string_view what) {
  if (status.ok()) return true;
  const std::string msg = std::string(what) + ": " + status.ToString();
  state.SkipWithError(msg.c_str());
  return false;
}

// ============================================================ 1. Immediate

void BM_Immediate_Herald(benchmark::State& state) {
  const auto listeners = static_cast<std::size_t>(state.range(0));
  herald::Realtime rt("mem://bench-imm-" + std::to_string(listeners));
  std::uint64_t calls = 0;
  for (std::size_t i = 0; i < listeners; ++i) {
    rt.on(kEvent, [&calls](const herald::Payload& p) { touch(calls, p.message().bytes().data()); });
  }
  if (!check_ok(state, rt.join(kChannel), "join")) return;

  for (auto _ : state) {
    absl::Status status = rt.send(kChannel, kEvent, kMessage);
    if (!status.ok()) {
      check_ok(state, status, "send");
      break;
    }
  }
  check_calls(state, calls, as_u64(state.iterations()) * listeners);
  state.SetItemsProcessed(state.iterations());
}

using Signals2Signal = boost::signals2::signal<void(const std::string&)>;
using SigcSignal = sigc::signal<void(const std::string&)>;

void BM_Immediate_Signals2(benchmark::State& state) {
  const auto listeners = static_cast<std::size_t>(state.range(0));
  std::unordered_map<std::string, Signals2Signal> signals;
  std::uint64_t calls = 0;
  Signals2Signal& signal = signals[std::string(kEvent)];
  for (std::size_t i = 0; i < listeners; ++i) {
    signal.connect([&calls](const std::string& s) { touch(calls, s.data()); });
  }
  const std::string event(kEvent);

  for (auto _ : state) {
    auto it = signals.find(event);
    it->second(kMessage);
  }
  check_calls(state, calls, as_u64(state.iterations()) * listeners);
  state.SetItemsProcessed(state.iterations());
}

void BM_Immediate_Sigc(benchmark::State& state) {
  const auto listeners = static_cast<std::size_t>(state.range(0));
  std::unordered_map<std::string, SigcSignal> signals;
  std::uint64_t calls = 0;
  SigcSignal& signal = signals[std::string(kEvent)];
  for (std::size_t i = 0; i < listeners; ++i) {
    signal.connect([&calls](const std::string& s) { touch(calls, s.data()); });
  }
  const std::string event(kEvent);

  for (auto _ : state) {
    auto it = signals.find(event);
    it->second.emit(kMessage);
  }
  check_calls(state, calls, as_u64(state.iterations()) * listeners);
  state.SetItemsProcessed(state.iterations());
}

// ============================================================ 2. Fan-out

void set_fanout_counters(benchmark::State& state, std::size_t receivers) {
  const auto deliveries = static_cast<double>(state.iterations()) * static_cast<double>(receivers);
  state.SetItemsProcessed(state.iterations() * static_cast<benchmark::IterationCount>(receivers));
  state.counters["deliveries_per_s"] = benchmark::Counter(deliveries, benchmark::Counter::kIsRate);
}

void BM_FanOut_Herald(benchmark::State& state) {
  const auto receivers = static_cast<std::size_t>(state.range(0));
  const std::string url = "mem://bench-fan-" + std::to_string(receivers);
  std::uint64_t calls = 0;
  std::vector<std::unique_ptr<herald::Realtime>> members;
  members.reserve(receivers);
  for (std::size_t i = 0; i < receivers; ++i) {
    auto rt = std::make_unique<herald::Realtime>(url);
    rt->on(kEvent,
           [&calls](const herald::Payload& p) { touch(calls, p.message().bytes().data()); });
    if (!check_ok(state, rt->join(kChannel), "join")) return;
    members.push_back(std::move(rt));
  }
  herald::Realtime sender(url);  // not a member of the channel

  for (auto _ : state) {
    absl::Status status = sender.send(kChannel, kEvent, kMessage);
    if (!status.ok()) {
      check_ok(state, status, "send");
      break;
    }
  }
  check_calls(state, calls, as_u64(state.iterations()) * receivers);
  set_fanout_counters(state, receivers);
}

void BM_FanOut_Signals2(benchmark::State& state) {
  const auto receivers = static_cast<std::size_t>(state.range(0));
  std::unordered_map<std::string, Signals2Signal> signals;
  std::uint64_t calls = 0;
  Signals2Signal& signal = signals[std::string(kEvent)];
  for (std::size_t i = 0; i < receivers; ++i) {
    signal.connect([&calls](const std::string& s) { touch(calls, s.data()); });
  }
  const std::string event(kEvent);

  for (auto _ : state) {
    auto it = signals.find(event);
    it->second(kMessage);
  }
  check_calls(state, calls, as_u64(state.iterations()) * receivers);
  set_fanout_counters(state, receivers);
}

void BM_FanOut_Sigc(benchmark::State& state) {
  const auto receivers = static_cast<std::size_t>(state.range(0));
  std::unordered_map<std::string, SigcSignal> signals;
  std::uint64_t calls = 0;
  SigcSignal& signal = signals[std::string(kEvent)];
  for (std::size_t i = 0; i < receivers; ++i) {
    signal.connect([&calls](const std::string& s) { touch(calls, s.data()); });
  }
  const std::string event(kEvent);

  for (auto _ : state) {
    auto it = signals.find(event);
    it->second.emit(kMessage);
  }
  check_calls(state, calls, as_u64(state.iterations()) * receivers);
  set_fanout_counters(state, receivers);
}

// ============================================================ 3. Queued, cross-thread

// Messages producer `p` of `producers` sends per batch.
std::uint64_t share(std::uint64_t total, std::size_t producers, std::size_t p) {
  const std::uint64_t base = total / producers;
  return p + 1 == producers ? total - base * (producers - 1) : base;
}

// What the hand-written queues carry: {event name, msgpack-encoded body}.
using Item = std::pair<std::string, std::vector<std::byte>>;
using Handler = std::function<void(std::span<const std::byte>)>;
using Handlers = std::unordered_map<std::string, Handler>;

std::vector<std::byte> encode(const std::string& value) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  std::vector<std::byte> bytes(buffer.size());
  std::memcpy(bytes.data(), buffer.data(), buffer.size());
  return bytes;
}

void dispatch_item(const Handlers& handlers, const Item& item) {
  auto it = handlers.find(item.first);
  if (it != handlers.end()) it->second(item.second);
}

void BM_Queued_Herald(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  const std::string url = "mem://bench-queued-" + std::to_string(producers);
  // Set field by field rather than `herald::Options{.dispatch = ...}`: at the
  // commit these benchmarks were written against, Options::session had no
  // default member initializer and GCC 12 -Wextra (-Werror) rejected the
  // designated-initializer form with -Wmissing-field-initializers.
  herald::Options options;
  options.dispatch = herald::Dispatch::queued;
  herald::Realtime consumer(url, options);
  std::uint64_t received = 0;  // touched by the consumer thread only while it runs
  consumer.on(kEvent, [&received](const herald::Payload& p) {
    touch(received, p.message().bytes().data());
  });
  if (!check_ok(state, consumer.join(kChannel), "join")) return;
  std::vector<std::unique_ptr<herald::Realtime>> senders;
  for (std::size_t p = 0; p < producers; ++p)
    senders.push_back(std::make_unique<herald::Realtime>(url));

  std::uint64_t total_received = 0;
  for (auto _ : state) {
    received = 0;
    bool timed_out = false;
    std::thread consumer_thread([&] {
      const auto deadline = std::chrono::steady_clock::now() + kQueuedTimeout;
      while (received < kQueuedBatch) {
        consumer.poll_for(std::chrono::milliseconds(50));
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          const herald::Stats s = consumer.stats();
          std::fprintf(stderr,
                       "BM_Queued_Herald/%zu: consumer timed out: received %llu of %llu; "
                       "delivered=%llu inbox_depth=%zu high_water=%zu sender_waits=%llu "
                       "overfilled=%llu dropped_inbox_full=%llu\n",
                       producers, static_cast<unsigned long long>(received),
                       static_cast<unsigned long long>(kQueuedBatch),
                       static_cast<unsigned long long>(s.delivered), s.inbox_depth,
                       s.inbox_high_water, static_cast<unsigned long long>(s.sender_waits),
                       static_cast<unsigned long long>(s.inbox_overfilled),
                       static_cast<unsigned long long>(s.dropped_inbox_full));
          consumer.close();  // wakes producers blocked on the full inbox
          return;
        }
      }
    });
    std::vector<absl::Status> send_errors(producers);
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        const std::uint64_t n = share(kQueuedBatch, producers, p);
        for (std::uint64_t i = 0; i < n; ++i) {
          absl::Status status = senders[p]->send(kChannel, kEvent, kMessage);
          if (!status.ok()) {
            send_errors[p] = status;
            return;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    consumer_thread.join();
    total_received += received;
    bool failed = timed_out;
    for (const absl::Status& s : send_errors) {
      if (!check_ok(state, s, "send")) failed = true;
    }
    if (timed_out) state.SkipWithError("consumer timed out (see stderr)");
    if (failed) break;
  }
  check_calls(state, total_received, as_u64(state.iterations()) * kQueuedBatch);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kQueuedBatch));
}

// The event queue a typical user writes: lock, push_back, unlock, notify_one;
// the consumer swaps the whole deque out under the lock and drains it.
void BM_Queued_MutexDeque(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Item> queue;
  std::uint64_t received = 0;
  Handlers handlers;
  handlers.emplace(std::string(kEvent),
                   [&received](std::span<const std::byte> body) { touch(received, body.data()); });

  std::uint64_t total_received = 0;
  for (auto _ : state) {
    received = 0;
    bool timed_out = false;
    std::thread consumer_thread([&] {
      const auto deadline = std::chrono::steady_clock::now() + kQueuedTimeout;
      std::deque<Item> batch;
      while (received < kQueuedBatch) {
        {
          std::unique_lock lock(mu);
          if (!cv.wait_until(lock, deadline, [&] { return !queue.empty(); })) {
            timed_out = true;
            return;
          }
          batch.swap(queue);
        }
        for (const Item& item : batch) dispatch_item(handlers, item);
        batch.clear();
      }
    });
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        const std::uint64_t n = share(kQueuedBatch, producers, p);
        for (std::uint64_t i = 0; i < n; ++i) {
          Item item{std::string(kEvent), encode(kMessage)};
          {
            std::lock_guard lock(mu);
            queue.push_back(std::move(item));
          }
          cv.notify_one();
        }
      });
    }
    for (std::thread& t : threads) t.join();
    consumer_thread.join();
    total_received += received;
    if (timed_out) {
      state.SkipWithError("consumer timed out");
      break;
    }
  }
  check_calls(state, total_received, as_u64(state.iterations()) * kQueuedBatch);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kQueuedBatch));
}

void BM_Queued_Moodycamel(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  moodycamel::BlockingConcurrentQueue<Item> queue;
  std::uint64_t received = 0;
  Handlers handlers;
  handlers.emplace(std::string(kEvent),
                   [&received](std::span<const std::byte> body) { touch(received, body.data()); });

  std::uint64_t total_received = 0;
  for (auto _ : state) {
    received = 0;
    bool timed_out = false;
    std::thread consumer_thread([&] {
      const auto deadline = std::chrono::steady_clock::now() + kQueuedTimeout;
      std::vector<Item> batch(256);
      while (received < kQueuedBatch) {
        const std::size_t n = queue.wait_dequeue_bulk_timed(batch.begin(), batch.size(),
                                                            std::chrono::milliseconds(50));
        for (std::size_t i = 0; i < n; ++i) dispatch_item(handlers, batch[i]);
        if (n == 0 && std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          return;
        }
      }
    });
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        const std::uint64_t n = share(kQueuedBatch, producers, p);
        for (std::uint64_t i = 0; i < n; ++i) {
          queue.enqueue(Item{std::string(kEvent), encode(kMessage)});
        }
      });
    }
    for (std::thread& t : threads) t.join();
    consumer_thread.join();
    total_received += received;
    if (timed_out) {
      state.SkipWithError("consumer timed out");
      break;
    }
  }
  check_calls(state, total_received, as_u64(state.iterations()) * kQueuedBatch);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kQueuedBatch));
}

// ============================================================ 4. Listeners that decode
//
// What a real listener does: read its message as the type that was sent. The
// same three shapes as above, each with three values: an int, a 16-byte
// std::string, and a struct {int64, double, std::string} (MSGPACK_DEFINE).
// The peers receive the same values, typed, as a user of those libraries
// would pass them (a hand-written queue carries {event name, value}). Every
// listener adds what it read to a sum, checked against what was sent.

struct Tick {
  std::int64_t seq = 0;
  double price = 0;
  std::string symbol;
  MSGPACK_DEFINE(seq, price, symbol)
};

struct IntValue {
  using Type = int;
  static Type make(std::uint64_t i) { return static_cast<int>(i & 0xFFFF); }
  static std::uint64_t read(const Type& v) { return static_cast<std::uint64_t>(v); }
};
struct StringValue {
  using Type = std::string;
  static Type make(std::uint64_t) { return kMessage; }
  static std::uint64_t read(const Type& v) { return v.size() + static_cast<unsigned char>(v[0]); }
};
struct TickValue {
  using Type = Tick;
  static Type make(std::uint64_t i) {
    return Tick{static_cast<std::int64_t>(i & 0xFFFF), 1.25, "EURUSD"};
  }
  static std::uint64_t read(const Type& v) {
    return static_cast<std::uint64_t>(v.seq) + v.symbol.size() + (v.price > 1.0 ? 1 : 0);
  }
};

// What `iterations` sends of V carry, summed as the listeners read them.
template <class V>
std::uint64_t expected_sum(std::uint64_t iterations, std::uint64_t times) {
  std::uint64_t sum = 0;
  for (std::uint64_t i = 0; i < iterations; ++i) sum += V::read(V::make(i));
  return sum * times;
}

bool check_sum(benchmark::State& state, std::uint64_t sum, std::uint64_t expected) {
  if (sum == expected) return true;
  const std::string msg = "listeners read " + std::to_string(sum) + ", expected " +
                          std::to_string(expected) + " (a value was lost or misread)";
  state.SkipWithError(msg.c_str());
  return false;
}

template <class V>
void BM_ImmediateDecode_Herald(benchmark::State& state) {
  const auto listeners = static_cast<std::size_t>(state.range(0));
  herald::Realtime rt("mem://bench-imm-decode-" + std::to_string(listeners));
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < listeners; ++i) {
    rt.on(kEvent,
          [&sum](const herald::Payload& p) { sum += V::read(p.message().as<typename V::Type>()); });
  }
  if (!check_ok(state, rt.join(kChannel), "join")) return;
  std::uint64_t i = 0;
  for (auto _ : state) {
    absl::Status status = rt.send(kChannel, kEvent, V::make(i++));
    if (!status.ok()) {
      check_ok(state, status, "send");
      break;
    }
  }
  check_sum(state, sum, expected_sum<V>(i, listeners));
  state.SetItemsProcessed(state.iterations());
}

template <class Signal, class V>
void run_signal_map(benchmark::State& state, std::size_t slots, bool fanout) {
  std::unordered_map<std::string, Signal> signals;
  std::uint64_t sum = 0;
  Signal& signal = signals[std::string(kEvent)];
  for (std::size_t s = 0; s < slots; ++s) {
    signal.connect([&sum](const typename V::Type& v) { sum += V::read(v); });
  }
  const std::string event(kEvent);
  std::uint64_t i = 0;
  for (auto _ : state) {
    auto it = signals.find(event);
    if constexpr (requires { it->second.emit(V::make(0)); }) {
      it->second.emit(V::make(i++));
    } else {
      it->second(V::make(i++));
    }
  }
  check_sum(state, sum, expected_sum<V>(i, slots));
  if (fanout) {
    set_fanout_counters(state, slots);
  } else {
    state.SetItemsProcessed(state.iterations());
  }
}

template <class V>
void BM_ImmediateDecode_Signals2(benchmark::State& state) {
  run_signal_map<boost::signals2::signal<void(const typename V::Type&)>, V>(
      state, static_cast<std::size_t>(state.range(0)), false);
}
template <class V>
void BM_ImmediateDecode_Sigc(benchmark::State& state) {
  run_signal_map<sigc::signal<void(const typename V::Type&)>, V>(
      state, static_cast<std::size_t>(state.range(0)), false);
}

template <class V>
void BM_FanOutDecode_Herald(benchmark::State& state) {
  const auto receivers = static_cast<std::size_t>(state.range(0));
  const std::string url = "mem://bench-fan-decode-" + std::to_string(receivers);
  std::uint64_t sum = 0;
  std::vector<std::unique_ptr<herald::Realtime>> members;
  members.reserve(receivers);
  for (std::size_t r = 0; r < receivers; ++r) {
    auto rt = std::make_unique<herald::Realtime>(url);
    rt->on(kEvent, [&sum](const herald::Payload& p) {
      sum += V::read(p.message().as<typename V::Type>());
    });
    if (!check_ok(state, rt->join(kChannel), "join")) return;
    members.push_back(std::move(rt));
  }
  herald::Realtime sender(url);
  std::uint64_t i = 0;
  for (auto _ : state) {
    absl::Status status = sender.send(kChannel, kEvent, V::make(i++));
    if (!status.ok()) {
      check_ok(state, status, "send");
      break;
    }
  }
  check_sum(state, sum, expected_sum<V>(i, receivers));
  set_fanout_counters(state, receivers);
}

template <class V>
void BM_FanOutDecode_Signals2(benchmark::State& state) {
  run_signal_map<boost::signals2::signal<void(const typename V::Type&)>, V>(
      state, static_cast<std::size_t>(state.range(0)), true);
}
template <class V>
void BM_FanOutDecode_Sigc(benchmark::State& state) {
  run_signal_map<sigc::signal<void(const typename V::Type&)>, V>(
      state, static_cast<std::size_t>(state.range(0)), true);
}

// Queued, P producers -> 1 consumer, the consumer's listener decoding. The
// hand-written peers carry {event name, typed value}: in one process nobody
// serializes.
template <class V>
void BM_QueuedDecode_Herald(benchmark::State& state) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  const std::string url = "mem://bench-queued-decode-" + std::to_string(producers);
  herald::Options options;
  options.dispatch = herald::Dispatch::queued;
  herald::Realtime consumer(url, options);
  std::uint64_t received = 0;
  std::uint64_t sum = 0;
  consumer.on(kEvent, [&](const herald::Payload& p) {
    ++received;
    sum += V::read(p.message().as<typename V::Type>());
  });
  if (!check_ok(state, consumer.join(kChannel), "join")) return;
  std::vector<std::unique_ptr<herald::Realtime>> senders;
  for (std::size_t p = 0; p < producers; ++p)
    senders.push_back(std::make_unique<herald::Realtime>(url));
  std::uint64_t expected = 0;
  for (auto _ : state) {
    received = 0;
    bool timed_out = false;
    std::thread consumer_thread([&] {
      const auto deadline = std::chrono::steady_clock::now() + kQueuedTimeout;
      while (received < kQueuedBatch) {
        consumer.poll_for(std::chrono::milliseconds(50));
        if (std::chrono::steady_clock::now() > deadline) {
          timed_out = true;
          consumer.close();
          return;
        }
      }
    });
    std::vector<std::thread> threads;
    std::vector<absl::Status> send_errors(producers);
    for (std::size_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        const std::uint64_t n = share(kQueuedBatch, producers, p);
        for (std::uint64_t k = 0; k < n; ++k) {
          absl::Status status = senders[p]->send(kChannel, kEvent, V::make(k));
          if (!status.ok()) {
            send_errors[p] = status;
            return;
          }
        }
      });
    }
    for (std::thread& t : threads) t.join();
    consumer_thread.join();
    for (std::size_t p = 0; p < producers; ++p) {
      expected += expected_sum<V>(share(kQueuedBatch, producers, p), 1);
    }
    bool failed = timed_out;
    for (const absl::Status& s : send_errors) {
      if (!check_ok(state, s, "send")) failed = true;
    }
    if (timed_out) state.SkipWithError("consumer timed out");
    if (failed) break;
  }
  check_sum(state, sum, expected);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kQueuedBatch));
}

template <class V>
using TypedItem = std::pair<std::string, typename V::Type>;

// The two hand-written queues of section 3, carrying typed values. `Queue`
// provides push(item) for producers and drain(deadline, fn) for the consumer.
template <class V, class Queue>
void run_typed_queue(benchmark::State& state, Queue& queue) {
  const auto producers = static_cast<std::size_t>(state.range(0));
  std::uint64_t received = 0;
  std::uint64_t sum = 0;
  std::unordered_map<std::string, std::function<void(const typename V::Type&)>> handlers;
  handlers.emplace(std::string(kEvent), [&](const typename V::Type& v) {
    ++received;
    sum += V::read(v);
  });
  std::uint64_t expected = 0;
  for (auto _ : state) {
    received = 0;
    bool timed_out = false;
    std::thread consumer_thread([&] {
      const auto deadline = std::chrono::steady_clock::now() + kQueuedTimeout;
      while (received < kQueuedBatch) {
        if (!queue.drain(deadline, [&](const TypedItem<V>& item) {
              auto it = handlers.find(item.first);
              if (it != handlers.end()) it->second(item.second);
            })) {
          timed_out = true;
          return;
        }
      }
    });
    std::vector<std::thread> threads;
    for (std::size_t p = 0; p < producers; ++p) {
      threads.emplace_back([&, p] {
        const std::uint64_t n = share(kQueuedBatch, producers, p);
        for (std::uint64_t k = 0; k < n; ++k)
          queue.push(TypedItem<V>{std::string(kEvent), V::make(k)});
      });
    }
    for (std::thread& t : threads) t.join();
    consumer_thread.join();
    for (std::size_t p = 0; p < producers; ++p) {
      expected += expected_sum<V>(share(kQueuedBatch, producers, p), 1);
    }
    if (timed_out) {
      state.SkipWithError("consumer timed out");
      break;
    }
  }
  check_sum(state, sum, expected);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kQueuedBatch));
}

template <class V>
struct MutexDequeQueue {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<TypedItem<V>> items;
  std::deque<TypedItem<V>> batch;
  void push(TypedItem<V> item) {
    {
      std::lock_guard lock(mu);
      items.push_back(std::move(item));
    }
    cv.notify_one();
  }
  template <class F>
  bool drain(std::chrono::steady_clock::time_point deadline, F&& fn) {
    {
      std::unique_lock lock(mu);
      if (!cv.wait_until(lock, deadline, [&] { return !items.empty(); })) return false;
      batch.swap(items);
    }
    for (const TypedItem<V>& item : batch) fn(item);
    batch.clear();
    return true;
  }
};

template <class V>
struct MoodycamelQueue {
  moodycamel::BlockingConcurrentQueue<TypedItem<V>> queue;
  std::vector<TypedItem<V>> batch = std::vector<TypedItem<V>>(256);
  void push(TypedItem<V> item) { queue.enqueue(std::move(item)); }
  template <class F>
  bool drain(std::chrono::steady_clock::time_point deadline, F&& fn) {
    const std::size_t n =
        queue.wait_dequeue_bulk_timed(batch.begin(), batch.size(), std::chrono::milliseconds(50));
    for (std::size_t i = 0; i < n; ++i) fn(batch[i]);
    return n > 0 || std::chrono::steady_clock::now() <= deadline;
  }
};

template <class V>
void BM_QueuedDecode_MutexDeque(benchmark::State& state) {
  MutexDequeQueue<V> queue;
  run_typed_queue<V>(state, queue);
}
template <class V>
void BM_QueuedDecode_Moodycamel(benchmark::State& state) {
  MoodycamelQueue<V> queue;
  run_typed_queue<V>(state, queue);
}

// ============================================================ registration

BENCHMARK(BM_Immediate_Herald)->Arg(1)->Arg(8)->Arg(64);
BENCHMARK(BM_Immediate_Signals2)->Arg(1)->Arg(8)->Arg(64);
BENCHMARK(BM_Immediate_Sigc)->Arg(1)->Arg(8)->Arg(64);

BENCHMARK(BM_FanOut_Herald)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK(BM_FanOut_Signals2)->Arg(1)->Arg(16)->Arg(256);
BENCHMARK(BM_FanOut_Sigc)->Arg(1)->Arg(16)->Arg(256);

BENCHMARK(BM_Queued_Herald)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Queued_MutexDeque)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Queued_Moodycamel)->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond);

#define HERALD_DECODE_BENCH(NAME, ...)               \
  BENCHMARK_TEMPLATE(NAME, IntValue) __VA_ARGS__;    \
  BENCHMARK_TEMPLATE(NAME, StringValue) __VA_ARGS__; \
  BENCHMARK_TEMPLATE(NAME, TickValue) __VA_ARGS__
HERALD_DECODE_BENCH(BM_ImmediateDecode_Herald, ->Arg(1)->Arg(8));
HERALD_DECODE_BENCH(BM_ImmediateDecode_Signals2, ->Arg(1)->Arg(8));
HERALD_DECODE_BENCH(BM_ImmediateDecode_Sigc, ->Arg(1)->Arg(8));
HERALD_DECODE_BENCH(BM_FanOutDecode_Herald, ->Arg(16)->Arg(256));
HERALD_DECODE_BENCH(BM_FanOutDecode_Signals2, ->Arg(16)->Arg(256));
HERALD_DECODE_BENCH(BM_FanOutDecode_Sigc, ->Arg(16)->Arg(256));
HERALD_DECODE_BENCH(
    BM_QueuedDecode_Herald, ->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond));
HERALD_DECODE_BENCH(
    BM_QueuedDecode_MutexDeque, ->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond));
HERALD_DECODE_BENCH(
    BM_QueuedDecode_Moodycamel, ->Arg(1)->Arg(2)->UseRealTime()->Unit(benchmark::kMillisecond));
#undef HERALD_DECODE_BENCH

}  // namespace

// BENCHMARK_MAIN, with a default of --benchmark_min_time=0.2 (seconds per
// benchmark) so the whole binary runs in well under two minutes. Set per
// benchmark with ->MinTime() it would be appended to every name
// ("/min_time:0.200"); as a default flag the names stay comparable, and a
// --benchmark_min_time given on the command line still wins (last one counts).
int main(int argc, char** argv) {
  return herald::bench::run_benchmarks(argc, argv, {"--benchmark_min_time=0.2"});
}
