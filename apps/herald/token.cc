// `herald token`: a session token signed with a secret file.
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "herald/herald.hpp"

namespace herald::cli {
namespace {

constexpr const char* kTokenUsage = R"(usage: herald token --secret FILE --sub ID [--ttl DURATION]

Prints a session token: an HS256 JWT with "sub" = ID, signed with the secret
in FILE. Any JWT library can make the same tokens.

options:
  --secret FILE     file holding the shared secret (required)
  --sub ID          the subject (required)
  --ttl DURATION    validity: 90s, 15m, 1h, 7d, or seconds (default 1h)
  --help            this text
)";

}  // namespace

int run_token(int argc, char** argv) {
  Args args = parse(argc, argv, 2, {"secret", "sub", "ttl"});
  if (args.values.count("help")) {
    std::cout << kTokenUsage;
    return 0;
  }
  if (!args.error.empty()) return fail(args.error, kTokenUsage);
  if (!args.values.count("secret") || !args.values.count("sub")) {
    return fail("--secret FILE and --sub ID are required", kTokenUsage);
  }
  std::string ttl_text = args.values.count("ttl") ? args.values["ttl"] : "1h";
  long long multiplier = 1;
  if (!ttl_text.empty()) {
    switch (ttl_text.back()) {
      case 's':
        multiplier = 1;
        ttl_text.pop_back();
        break;
      case 'm':
        multiplier = 60;
        ttl_text.pop_back();
        break;
      case 'h':
        multiplier = 3600;
        ttl_text.pop_back();
        break;
      case 'd':
        multiplier = 86400;
        ttl_text.pop_back();
        break;
      default:
        break;
    }
  }
  auto ttl = number(ttl_text);
  if (!ttl || *ttl == 0) return fail("--ttl takes e.g. 90s, 15m, 1h, 7d", kTokenUsage);
  auto secret = herald::read_secret_file(args.values["secret"]);
  if (!secret.ok()) return fail(std::string(secret.status().message()), kTokenUsage);
  std::cout << herald::make_session_token(*secret, args.values["sub"],
                                          std::chrono::seconds(*ttl * multiplier))
            << "\n";
  return 0;
}

}  // namespace herald::cli
