// inter_thread — a pipeline of worker threads passing typed messages.
//
//   reader thread ──"lines"──▶ parser thread ──"words"──▶ counter thread
//
// Each stage owns one Realtime with Dispatch::queued: messages wait in the
// stage's bounded inbox and its listeners run on the stage's own thread, in
// poll_for(). When an inbox is full, Overflow::block makes the sender wait,
// so a fast stage never floods a slow one and nothing is lost.
#include <atomic>
#include <chrono>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"

struct Line {
  int number = 0;
  std::string text;
  MSGPACK_DEFINE_MAP(number, text)
};

struct Words {
  int line = 0;
  std::vector<std::string> words;
  MSGPACK_DEFINE_MAP(line, words)
};

int main() {
  using namespace std::chrono_literals;
  const std::string hub = "mem://pipeline";
  herald::Options queued;
  queued.dispatch = herald::Dispatch::queued;
  queued.inbox_capacity = 64;  // small on purpose: back-pressure, not memory growth

  const std::vector<std::string> text = {
      "the quick brown fox", "jumps over the lazy dog", "the dog sleeps",
      "the fox runs",        "and the story ends",
  };
  constexpr int kRounds = 2000;
  const int total_lines = kRounds * static_cast<int>(text.size());

  herald::Realtime parser(hub, queued);
  herald::Realtime counter(hub, queued);
  herald::Realtime reader(hub);
  if (!parser.join("lines", false).ok() || !counter.join("words", false).ok()) return 1;

  // Stage 2: split lines into words (runs on the parser thread).
  parser.on("line", [&](const herald::Payload& p) {
    auto line = p.message().as<Line>();
    Words out{line.number, {}};
    std::istringstream in(line.text);
    for (std::string w; in >> w;) out.words.push_back(w);
    (void)parser.send("words", "words", out);
  });

  // Stage 3: count (runs on the counter thread; no lock needed).
  std::map<std::string, int> counts;
  std::atomic<int> lines_done{0};
  counter.on("words", [&](const herald::Payload& p) {
    for (const auto& w : p.message().as<Words>().words) ++counts[w];
    lines_done.fetch_add(1);
  });

  std::thread parser_thread([&] {
    while (lines_done.load() < total_lines) parser.poll_for(10ms);
  });
  std::thread counter_thread([&] {
    while (lines_done.load() < total_lines) counter.poll_for(10ms);
  });

  // Stage 1: read (here, this thread).
  int number = 0;
  for (int round = 0; round < kRounds; ++round) {
    for (const auto& t : text) (void)reader.send("lines", "line", Line{++number, t});
  }
  parser_thread.join();
  counter_thread.join();

  std::cout << "processed " << lines_done.load() << " lines\n";
  for (const auto& [word, n] : counts) std::cout << "  " << word << ": " << n << "\n";
  herald::Stats s = parser.stats();
  std::cout << "parser inbox: high water " << s.inbox_high_water << " of 64, senders waited "
            << s.sender_waits << " times, dropped " << s.dropped_inbox_full << "\n";
  return counts["the"] == 5 * kRounds ? 0 : 1;
}
