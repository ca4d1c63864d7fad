#include "cli.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>

namespace herald::cli {

Args parse(int argc, char** argv, int first, const std::vector<std::string>& with_value,
           const std::vector<std::string>& switches) {
  Args args;
  for (int i = first; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--", 0) != 0) {
      args.positional.push_back(a);
      continue;
    }
    std::string name = a.substr(2);
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else if (std::find(with_value.begin(), with_value.end(), name) != with_value.end()) {
      if (i + 1 >= argc) {
        args.error = "--" + name + " needs a value";
        return args;
      }
      value = argv[++i];
    } else if (name != "help" &&
               std::find(switches.begin(), switches.end(), name) == switches.end()) {
      args.error = "unknown option --" + name;
      return args;
    }
    args.values[name] = value;
  }
  return args;
}

std::optional<long long> number(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  long long v = std::strtoll(text.c_str(), &end, 10);
  if (*end != '\0' || v < 0) return std::nullopt;
  return v;
}

sigset_t block_stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  return set;
}

int fail(const std::string& message, const char* usage) {
  std::cerr << (message.rfind("herald", 0) == 0 ? "" : "herald: ") << message << "\n\n" << usage;
  return 2;
}

}  // namespace herald::cli
