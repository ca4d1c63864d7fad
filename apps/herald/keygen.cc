// `herald keygen`: a CURVE keypair for a broker (`herald broker --curve-secret`).
#include <sys/stat.h>

#include <fstream>
#include <iostream>
#include <string>

#include "cli.hpp"
#include "herald/herald.hpp"
#include "herald/zmq/broker.hpp"

namespace herald::cli {
namespace {

constexpr const char* kKeygenUsage = R"(usage: herald keygen --secret-out FILE

Makes a CURVE keypair for a ZeroMQ broker: writes the secret key to FILE
(readable by its owner only; give it to "herald broker --curve-secret FILE")
and prints the public key, which clients put in the URL:
zmq://HOST:PORT?curve=PUBLIC_KEY. Both keys are 40 characters of Z85.

options:
  --secret-out FILE   where to write the secret key (required; not overwritten)
  --help              this text
)";

}  // namespace

int run_keygen(int argc, char** argv) {
  Args args = parse(argc, argv, 2, {"secret-out"});
  if (args.values.count("help")) {
    std::cout << kKeygenUsage;
    return 0;
  }
  if (!args.error.empty()) return fail(args.error, kKeygenUsage);
  if (!args.values.count("secret-out")) return fail("--secret-out FILE is required", kKeygenUsage);
  const std::string path = args.values["secret-out"];
  struct stat existing;
  if (::stat(path.c_str(), &existing) == 0) {
    return fail(path + " exists; keygen never overwrites a key", kKeygenUsage);
  }
  absl::StatusOr<CurveKeypair> keys = make_curve_keypair();
  if (!keys.ok()) {
    std::cerr << "herald keygen: " << keys.status().message() << "\n";
    return 1;
  }
  const mode_t old_mask = ::umask(077);
  std::ofstream out(path);
  out << keys->secret_key << "\n";
  out.close();
  ::umask(old_mask);
  if (!out) {
    std::cerr << "herald keygen: cannot write " << path << "\n";
    return 1;
  }
  std::cout << keys->public_key << std::endl;
  return 0;
}

}  // namespace herald::cli
