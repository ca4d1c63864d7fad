// remote_chat — a chat hub and command-line chat clients over WebSocket.
//
//   remote_chat hub [HOST:PORT]        run a hub (default 127.0.0.1:7070) until Ctrl-C
//   remote_chat client URL NAME [ROOM] chat: each line you type goes to ROOM
//                                      (default "lobby"); "/who" lists who is
//                                      there; end with Ctrl-D
//   remote_chat                        the whole demo: a hub, and two clients
//                                      (alice and bob) as child processes
//
// Try it in three terminals:
//   remote_chat hub 127.0.0.1:7070
//   remote_chat client ws://127.0.0.1:7070 alice
//   remote_chat client ws://127.0.0.1:7070 bob
// `herald hub --ws 127.0.0.1:7070` is the same hub as a ready-made command, and
// `herald sub ws://127.0.0.1:7070 lobby --all` shows the room's traffic as JSON.
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <iostream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "herald/herald.hpp"
#include "herald/websocket/gateway.hpp"

extern char** environ;

// What one chat line is on the wire: a msgpack map {"from": ..., "text": ...},
// so a browser or Python client reads it without any herald code.
struct ChatLine {
  std::string from;
  std::string text;
  MSGPACK_DEFINE_MAP(from, text)
};

struct Profile {
  std::string name;
  MSGPACK_DEFINE_MAP(name)
};

// Presence events (channel:join / channel:leave) carry {"id": socket id, "data": profile}.
struct Presence {
  std::string id;
  Profile data;
  MSGPACK_DEFINE_MAP(id, data)
};

namespace {

using namespace std::chrono_literals;
std::mutex g_print;

void say(const std::string& line) {
  std::lock_guard lock(g_print);
  std::cout << line << std::endl;
}

std::string name_of(const herald::Message& profile) {
  auto p = profile.try_as<Profile>();
  return p ? p->name : std::string("someone");
}

int client(const std::string& url, const std::string& name, const std::string& room) {
  herald::Realtime rt(url);
  rt.on_disconnect([](std::string_view why) { say("* disconnected: " + std::string(why)); });
  rt.on_connect([] { say("* connected"); });
  rt.on("chat", [&](const herald::Payload& p) {
    auto line = p.message().as<ChatLine>();
    say("[" + std::string(*p.channel()) + "] " + line.from + ": " + line.text);
  });
  rt.on_join([&](const herald::Payload& p) {
    auto who = p.message().try_as<Presence>();
    if (who && who->id != rt.get_socket_id()) say("* " + who->data.name + " joined");
  });
  rt.on_leave([&](const herald::Payload& p) {
    auto who = p.message().try_as<Presence>();
    if (who) say("* " + who->data.name + " left");
  });
  rt.on_error([](const absl::Status& s) { say("! " + std::string(s.message())); });

  if (absl::Status s = rt.update_profile(Profile{name}, false); !s.ok()) {
    std::cerr << "remote_chat: " << s.message() << "\n";
    return 1;
  }
  say("* " + name + " joins " + room + " (" + url + ")");
  if (absl::Status s = rt.join(room, false); !s.ok()) {
    std::cerr << "remote_chat: cannot join " << room << ": " << s.message() << "\n";
    return 1;
  }
  std::string line;
  while (std::getline(std::cin, line)) {
    if (line.empty()) continue;
    if (line == "/who") {
      auto members = rt.get_members(room);
      if (!members.ok()) {
        say("! " + std::string(members.status().message()));
        continue;
      }
      std::string names;
      for (const herald::Member& m : *members) names += " " + name_of(m.data);
      say("* in " + room + ":" + names);
      continue;
    }
    // echo off: our own lines are not printed back to us.
    if (absl::Status s = rt.send(room, "chat", ChatLine{name, line}, false); !s.ok()) {
      say("! not sent: " + std::string(s.message()));
    }
  }
  (void)rt.leave(room, false);
  return 0;
}

int hub(const std::string& where) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);
  herald::WsGatewayOptions options;
  const auto colon = where.rfind(':');
  options.host = where.substr(0, colon);
  options.port = std::stoi(where.substr(colon + 1));
  auto gateway = herald::WsGateway::start(herald::Hub::named("chat"), options);
  if (!gateway.ok()) {
    std::cerr << "remote_chat: " << gateway.status().message() << "\n";
    return 1;
  }
  std::cout << "chat hub on " << (*gateway)->url() << std::endl;
  int signal = 0;
  sigwait(&stop, &signal);
  return 0;
}

// The demo: this process runs the hub, watches the room through its own
// in-process connection to the same Hub (mem://chat), and plays two users.
class Room {
 public:
  void saw(const std::string& what) {
    std::lock_guard lock(mu_);
    seen_.push_back(what);
    cv_.notify_all();
  }
  bool wait_for(const std::string& what) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, 20s, [&] {
      for (const auto& s : seen_)
        if (s == what) return true;
      return false;
    });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> seen_;
};

struct Child {
  pid_t pid = -1;
  int stdin_fd = -1;
};

Child spawn_client(const char* self, const std::string& url, const std::string& name) {
  int fds[2];
  // Close-on-exec: the next child must not inherit this one's stdin (no EOF then).
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[0], 0);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<std::string> args = {self, "client", url, name};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Child child;
  if (posix_spawn(&child.pid, self, &actions, nullptr, argv.data(), environ) != 0) child.pid = -1;
  posix_spawn_file_actions_destroy(&actions);
  close(fds[0]);
  child.stdin_fd = fds[1];
  return child;
}

void type(const Child& c, const std::string& line) {
  const std::string text = line + "\n";
  [[maybe_unused]] auto n = write(c.stdin_fd, text.data(), text.size());
}

int demo(const char* self) {
  signal(SIGPIPE, SIG_IGN);
  auto gateway = herald::WsGateway::start(herald::Hub::named("chat"));
  if (!gateway.ok()) {
    std::cerr << "remote_chat: " << gateway.status().message() << "\n";
    return 1;
  }
  const std::string url = (*gateway)->url();
  std::cout << "chat hub on " << url << std::endl;

  // The hub's own view of the room: a local connection on the same Hub.
  herald::Realtime watcher("mem://chat");
  (void)watcher.update_profile(Profile{"hub"});
  Room room;
  watcher.on_join(
      [&](const herald::Payload& p) { room.saw("join " + p.message().as<Presence>().data.name); });
  watcher.on_leave(
      [&](const herald::Payload& p) { room.saw("leave " + p.message().as<Presence>().data.name); });
  watcher.on("chat", [&](const herald::Payload& p) {
    room.saw("chat " + p.message().as<ChatLine>().text);
  });
  if (!watcher.join("lobby").ok()) return 1;

  Child alice = spawn_client(self, url, "alice");
  if (alice.pid < 0 || !room.wait_for("join alice")) return 1;
  Child bob = spawn_client(self, url, "bob");
  if (bob.pid < 0 || !room.wait_for("join bob")) return 1;

  type(alice, "hi bob, this went through a herald hub");
  if (!room.wait_for("chat hi bob, this went through a herald hub")) return 1;
  type(bob, "hi alice! and over WebSocket, too");
  if (!room.wait_for("chat hi alice! and over WebSocket, too")) return 1;
  type(bob, "/who");
  std::this_thread::sleep_for(200ms);  // let the last lines print before they leave

  bool ok = true;
  for (Child* c : {&alice, &bob}) {
    close(c->stdin_fd);  // Ctrl-D: the client leaves and exits
    int status = 0;
    waitpid(c->pid, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  ok = ok && room.wait_for("leave alice") && room.wait_for("leave bob");
  const herald::WsGatewayStats stats = (*gateway)->stats();
  std::cout << "hub: " << stats.accepted << " connections, " << stats.messages_routed
            << " messages routed, " << stats.frames_out << " frames written" << std::endl;
  std::cout << (ok ? "remote_chat: done" : "remote_chat: FAILED") << std::endl;
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return demo(argv[0]);
  if (args[0] == "hub") return hub(args.size() > 1 ? args[1] : "127.0.0.1:7070");
  if (args[0] == "client" && (args.size() == 3 || args.size() == 4)) {
    return client(args[1], args[2], args.size() == 4 ? args[3] : "lobby");
  }
  std::cerr << "usage: remote_chat [hub [HOST:PORT] | client URL NAME [ROOM]]\n";
  return 2;
}
