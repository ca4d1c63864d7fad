// The herald command line: what every command shares (options parsing, the
// stop signals, errors), and one entry point per command, each in its own
// file: hub.cc (`herald hub`), broker.cc (`herald broker`), token.cc
// (`herald token`), keygen.cc (`herald keygen`), pubsub.cc (`herald pub`,
// `herald sub`).
#pragma once

#include <signal.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace herald::cli {

// --name value pairs; a flag without value maps to "".
struct Args {
  std::map<std::string, std::string> values;
  std::vector<std::string> positional;
  std::string error;
};

// Parses argv[first..]: `with_value` options take a value (--name VALUE or
// --name=VALUE), `switches` take none; anything else is an error in `error`.
Args parse(int argc, char** argv, int first, const std::vector<std::string>& with_value,
           const std::vector<std::string>& switches = {});

// A whole number >= 0, or nullopt.
std::optional<long long> number(const std::string& text);

// Sets `field` from --NAME if given; false when it is not a positive whole number.
template <class T>
bool positive(Args& args, const char* name, T& field) {
  if (!args.values.count(name)) return true;
  auto v = number(args.values[name]);
  if (!v || *v == 0) return false;
  field = static_cast<T>(*v);
  return true;
}

// Blocks SIGINT and SIGTERM (before any thread starts) so that sigwait() gets them.
sigset_t block_stop_signals();

// Prints the message and the usage text; returns 2 (a usage error).
int fail(const std::string& message, const char* usage);

int run_hub(int argc, char** argv);
int run_broker(int argc, char** argv);
int run_token(int argc, char** argv);
int run_keygen(int argc, char** argv);
int run_pub(int argc, char** argv);
int run_sub(int argc, char** argv);

}  // namespace herald::cli
