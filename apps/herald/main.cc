// herald — the command-line tool: run a hub or a broker, mint session tokens,
// publish and subscribe from a shell.
//
//   herald hub --ws HOST:PORT [--session-secret FILE] ...
//   herald broker --zmq tcp://HOST:PORT [--session-secret FILE] ...
//   herald token --secret FILE --sub ID [--ttl 1h]
//   herald keygen --secret-out FILE
//   herald pub URL CHANNEL EVENT JSON [--broadcast] [--no-echo]
//   herald sub URL CHANNEL... [--all]
#include <cstring>
#include <iostream>
#include <string>

#include "cli.hpp"

namespace {

constexpr const char* kUsage = R"(herald — realtime pub/sub tools

usage: herald <command> [options]

commands:
  hub      run a herald hub that ws://HOST:PORT connections (WebSocket) meet at
  broker   run a ZeroMQ broker that zmq://HOST:PORT connections meet at
  token    print a session token (HS256 JWT) signed with a secret file
  keygen   make a CURVE keypair for a broker (--curve-secret)
  pub      send one message (JSON) to a channel, or broadcast it
  sub      print every message on some channels, one JSON line each

Run "herald <command> --help" for the options of a command.
)";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "help") == 0) {
    std::cout << kUsage;
    return argc < 2 ? 2 : 0;
  }
  const std::string command = argv[1];
  if (command == "hub") return herald::cli::run_hub(argc, argv);
  if (command == "broker") return herald::cli::run_broker(argc, argv);
  if (command == "token") return herald::cli::run_token(argc, argv);
  if (command == "keygen") return herald::cli::run_keygen(argc, argv);
  if (command == "pub") return herald::cli::run_pub(argc, argv);
  if (command == "sub") return herald::cli::run_sub(argc, argv);
  std::cerr << "herald: unknown command \"" << command << "\"\n\n" << kUsage;
  return 2;
}
