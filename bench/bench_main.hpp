// The `main` of herald's benchmark binaries: BENCHMARK_MAIN with default
// flags put in front of the command line's (a flag given on the command line
// still wins: the last one counts). Defaults as flags, not per benchmark
// (->MinTime() would be appended to every name), keep the names comparable.
#pragma once

#include <benchmark/benchmark.h>

#include <string>
#include <vector>

namespace herald::bench {

inline int run_benchmarks(int argc, char** argv, std::vector<std::string> defaults) {
  std::vector<char*> args(argv, argv + argc);
  args.insert(args.begin() + 1, defaults.size(), nullptr);
  for (std::size_t i = 0; i < defaults.size(); ++i) args[1 + i] = defaults[i].data();
  int n = static_cast<int>(args.size());
  args.push_back(nullptr);
  benchmark::Initialize(&n, args.data());
  if (benchmark::ReportUnrecognizedArguments(n, args.data())) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

}  // namespace herald::bench
