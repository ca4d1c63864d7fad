// ws_bench.cc — WebSocket fan-out: the herald hub (`herald hub --ws`) next to a
// Node `ws` server doing the same fan-out (bench/node/ws_fanout_server.mjs, the
// broadcast loop of ws's README), same driver, same machine, same run.
//
//   WsFanout_Herald  `herald hub --ws 127.0.0.1:0` (default options: one I/O
//                    thread). 100 subscribers say hello and join a channel; a
//                    publisher (hello, not a member) sends
//                    [4, channel, "tick", false, bin8(64 bytes)].
//   WsFanout_NodeWs  `node bench/node/ws_fanout_server.mjs`: the publisher's
//                    64 raw bytes go to every other open client.
//
// Each server is its own process, started once for the whole binary (on a
// loopback port the OS picks, read from its first stdout line) and stopped at
// the end. The driver is this process, one thread: 1 + 100 Boost.Beast
// WebSocket clients on one io_context. The body (64 bytes) carries a sequence
// number and the steady_clock time of the send; every subscriber checks that
// it receives every message once, in order. Flow control: at most `window`
// (the argument) messages in flight, a message being done when all 100
// subscribers have received it; one message per WebSocket message from the
// publisher to both servers. A subscriber that is closed (e.g. 4002 slow
// consumer), an error frame, a gap or a batch not done within kTimeout make
// the benchmark report an error instead of a number. See bench/README.md.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench_main.hpp"
#include "process.hpp"

#ifndef HERALD_CLI_PATH
#error "HERALD_CLI_PATH (the herald executable) must be defined by the build"
#endif
#ifndef HERALD_WS_NODE_SERVER
#error "HERALD_WS_NODE_SERVER (bench/node/ws_fanout_server.mjs) must be defined by the build"
#endif
#ifndef HERALD_REPO_ROOT
#error "HERALD_REPO_ROOT (where node_modules is) must be defined by the build"
#endif

namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr int kSubscribers = 100;
constexpr std::uint64_t kBatch = 1000;  // messages per benchmark iteration (100'000 deliveries)
constexpr std::uint64_t kWarmup = 300;  // messages sent and drained before timing
constexpr std::size_t kBodyBytes = 64;  // seq (8) + send time (8) + filler
constexpr auto kTimeout = 30s;          // per batch, generous
constexpr auto kSetupTimeout = 10s;
constexpr std::string_view kEvent = "tick";

enum class Peer { herald, node };

// ------------------------------------------------------------------ servers

// A server process started once for the whole binary (the launcher the
// integration tests use: it dies with us if we crash).
struct Server {
  std::unique_ptr<herald::testing::Process> process;
  int port = 0;
  std::string error;  // why it could not be started

  pid_t pid() const { return process ? process->pid() : -1; }
  void stop() { process.reset(); }
};

// Starts argv in `cwd` and reads "listening ws://HOST:PORT" from the first
// line of its stdout.
void spawn(Server& s, const std::vector<std::string>& argv, const std::string& cwd) {
  try {
    s.process = std::make_unique<herald::testing::Process>(argv, cwd);
  } catch (const std::exception& e) {
    s.error = e.what();
    return;
  }
  const std::optional<std::string> line = s.process->read_line(kSetupTimeout);
  if (!line) {
    s.error = argv[0] + " did not print its port within 10 s (see stderr)";
    s.stop();
    return;
  }
  const std::size_t colon = line->rfind(':');
  if (line->rfind("listening ws://", 0) != 0 || colon == std::string::npos) {
    s.error = argv[0] + " printed \"" + *line + "\", not \"listening ws://HOST:PORT\"";
    s.stop();
    return;
  }
  s.port = std::atoi(line->c_str() + colon + 1);
  if (s.port <= 0) {
    s.error = "bad port in \"" + *line + "\"";
    s.stop();
  }
}

// HERALD_WS_BENCH_HUB_THREADS=N runs the hub with --threads N (default 1, the
// headline: Node is single-threaded).
int hub_threads() {
  const char* v = std::getenv("HERALD_WS_BENCH_HUB_THREADS");
  const int n = v != nullptr ? std::atoi(v) : 1;
  return n > 0 ? n : 1;
}

Server g_herald_server;
Server g_node_server;
bool g_herald_started = false;
bool g_node_started = false;

// Starts the peer's server on first use.
Server& server(Peer peer) {
  if (peer == Peer::herald) {
    if (!g_herald_started) {
      g_herald_started = true;
      spawn(g_herald_server,
            {HERALD_CLI_PATH, "hub", "--ws", "127.0.0.1:0", "--threads",
             std::to_string(hub_threads())},
            HERALD_REPO_ROOT);
    }
    return g_herald_server;
  }
  if (!g_node_started) {
    g_node_started = true;
    const char* env = std::getenv("HERALD_BENCH_NODE");
    const std::string node = herald::testing::Process::find_on_path(env != nullptr ? env : "node");
    const std::string modules = std::string(HERALD_REPO_ROOT) + "/node_modules/ws/package.json";
    if (node.empty()) {
      g_node_server.error = "node not found on PATH (or set HERALD_BENCH_NODE)";
    } else if (::access(modules.c_str(), R_OK) != 0) {
      g_node_server.error = "npm ws is not installed: run `npm ci` in " HERALD_REPO_ROOT;
    } else {
      spawn(g_node_server, {node, HERALD_WS_NODE_SERVER}, HERALD_REPO_ROOT);
    }
  }
  return g_node_server;
}

void stop_servers() {
  g_herald_server.stop();
  g_node_server.stop();
}

// CPU time (user + system) a process has used, in seconds; -1 if unknown.
double process_cpu_seconds(pid_t pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  const std::size_t paren = text.rfind(')');
  if (paren == std::string::npos) return -1;
  // Fields after "(comm)": state(3) ... utime(14) stime(15).
  const char* p = text.c_str() + paren + 2;
  unsigned long long utime = 0, stime = 0;
  for (int field = 3; field <= 15 && *p != '\0'; ++field) {
    if (field == 14) utime = std::strtoull(p, nullptr, 10);
    if (field == 15) stime = std::strtoull(p, nullptr, 10);
    p = std::strchr(p, ' ');
    if (p == nullptr) break;
    ++p;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double self_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// ------------------------------------------------------------------ msgpack, just enough

struct Reader {
  const std::uint8_t* p;
  const std::uint8_t* end;
  bool ok = true;

  bool done() const { return p >= end; }
  bool need(std::size_t n) {
    if (ok && static_cast<std::size_t>(end - p) >= n) return true;
    ok = false;
    return false;
  }
  std::uint64_t be(int bytes) {
    if (!need(static_cast<std::size_t>(bytes))) return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
    p += bytes;
    return v;
  }
  std::uint8_t byte() {
    if (!need(1)) return 0;
    return *p++;
  }
  std::uint64_t array_header() {
    const std::uint8_t b = byte();
    if ((b & 0xf0) == 0x90) return b & 0x0f;
    if (b == 0xdc) return be(2);
    if (b == 0xdd) return be(4);
    ok = false;
    return 0;
  }
  std::uint64_t uint() {
    const std::uint8_t b = byte();
    if (b <= 0x7f) return b;
    switch (b) {
      case 0xcc:
        return be(1);
      case 0xcd:
        return be(2);
      case 0xce:
        return be(4);
      case 0xcf:
        return be(8);
      default:
        ok = false;
        return 0;
    }
  }
  std::string_view str() {  // nil reads as ""
    const std::uint8_t b = byte();
    std::uint64_t n = 0;
    if ((b & 0xe0) == 0xa0) {
      n = b & 0x1f;
    } else if (b == 0xd9) {
      n = be(1);
    } else if (b == 0xda) {
      n = be(2);
    } else if (b == 0xdb) {
      n = be(4);
    } else if (b == 0xc0) {
      return {};
    } else {
      ok = false;
      return {};
    }
    if (!need(n)) return {};
    std::string_view s(reinterpret_cast<const char*>(p), n);
    p += n;
    return s;
  }
  void skip_bytes(std::uint64_t n) {
    if (need(n)) p += n;
  }
  // Skips one value of any type.
  void skip(int depth = 0) {
    if (depth > 64) {
      ok = false;
      return;
    }
    const std::uint8_t b = byte();
    if (!ok) return;
    if (b <= 0x7f || b >= 0xe0) return;  // fixints
    if ((b & 0xf0) == 0x80) return skip_items(2 * (b & 0x0f), depth);
    if ((b & 0xf0) == 0x90) return skip_items(b & 0x0f, depth);
    if ((b & 0xe0) == 0xa0) return skip_bytes(b & 0x1f);
    switch (b) {
      case 0xc0:
      case 0xc2:
      case 0xc3:
        return;
      case 0xc4:
      case 0xd9:
        return skip_bytes(be(1));
      case 0xc5:
      case 0xda:
        return skip_bytes(be(2));
      case 0xc6:
      case 0xdb:
        return skip_bytes(be(4));
      case 0xc7:
        return skip_bytes(be(1) + 1);
      case 0xc8:
        return skip_bytes(be(2) + 1);
      case 0xc9:
        return skip_bytes(be(4) + 1);
      case 0xca:
      case 0xce:
      case 0xd2:
        return skip_bytes(4);
      case 0xcb:
      case 0xcf:
      case 0xd3:
        return skip_bytes(8);
      case 0xcc:
      case 0xd0:
        return skip_bytes(1);
      case 0xcd:
      case 0xd1:
        return skip_bytes(2);
      case 0xd4:
        return skip_bytes(2);
      case 0xd5:
        return skip_bytes(3);
      case 0xd6:
        return skip_bytes(5);
      case 0xd7:
        return skip_bytes(9);
      case 0xd8:
        return skip_bytes(17);
      case 0xdc:
        return skip_items(be(2), depth);
      case 0xdd:
        return skip_items(be(4), depth);
      case 0xde:
        return skip_items(2 * be(2), depth);
      case 0xdf:
        return skip_items(2 * be(4), depth);
      default:
        ok = false;
        return;  // 0xc1
    }
  }
  void skip_items(std::uint64_t n, int depth) {
    for (std::uint64_t i = 0; i < n && ok; ++i) skip(depth + 1);
  }
};

void put_str(std::string& out, std::string_view s) {  // names here are < 32 bytes
  out.push_back(static_cast<char>(0xa0 | s.size()));
  out.append(s);
}

// [1, 1, id, resume, nil, nil]
std::string hello_frame(std::string_view id, std::string_view resume) {
  std::string out;
  out.push_back(static_cast<char>(0x96));
  out.push_back(1);
  out.push_back(1);
  put_str(out, id);
  put_str(out, resume);
  out.push_back(static_cast<char>(0xc0));
  out.push_back(static_cast<char>(0xc0));
  return out;
}

// [2, req, channel, false]
std::string join_frame(std::uint8_t req, std::string_view channel) {
  std::string out;
  out.push_back(static_cast<char>(0x94));
  out.push_back(2);
  out.push_back(static_cast<char>(req));
  put_str(out, channel);
  out.push_back(static_cast<char>(0xc2));
  return out;
}

void put_le64(std::uint8_t* p, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<std::uint8_t>(v >> (8 * i));
}
std::uint64_t get_le64(const std::uint8_t* p) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// ------------------------------------------------------------------ the driver

class Fanout {
 public:
  Fanout(Peer peer, int port, std::uint64_t window, int run)
      : peer_(peer), port_(port), window_(window), run_(run), done_count_(window, 0), timer_(ioc_) {
    channel_ = "fanout-" + std::to_string(run);
    // The publisher's message: herald wraps the body in a send frame,
    // [4, channel, "tick", false, bin8(64)]; node gets the 64 bytes as they are.
    if (peer_ == Peer::herald) {
      out_.push_back(static_cast<char>(0x95));
      out_.push_back(4);
      put_str(out_, channel_);
      put_str(out_, kEvent);
      out_.push_back(static_cast<char>(0xc2));
      out_.push_back(static_cast<char>(0xc4));
      out_.push_back(static_cast<char>(kBodyBytes));
    }
    body_at_ = out_.size();
    out_.append(kBodyBytes, '\x5a');
  }

  const std::string& error() const { return error_; }

  // Connects everyone (synchronously); herald: hello, join, wait for the reply.
  bool setup() {
    try {
      const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"),
                                   static_cast<unsigned short>(port_));
      for (int i = 0; i <= kSubscribers; ++i) {
        auto c = std::make_unique<Conn>(ioc_, i);
        c->ws.next_layer().connect(endpoint);
        c->ws.next_layer().set_option(tcp::no_delay(true));
        c->ws.binary(true);
        c->ws.auto_fragment(false);
        c->ws.secure_prng(false);
        c->ws.read_message_max(64u << 20);
        c->ws.handshake("127.0.0.1:" + std::to_string(port_), "/");
        if (peer_ == Peer::herald && !herald_handshake(*c, i == kSubscribers)) return false;
        if (i == kSubscribers) {
          publisher_ = std::move(c);
        } else {
          subscribers_.push_back(std::move(c));
        }
      }
    } catch (const std::exception& e) {
      fail(std::string("setup: ") + e.what());
      return false;
    }
    for (auto& c : subscribers_) read(*c);
    read(*publisher_);
    // Warm-up, untimed: proves every subscriber gets the fan-out (and drains
    // presence frames of the joins on herald).
    if (!run_batch(kWarmup)) return false;
    latencies_.clear();
    return true;
  }

  // Sends `n` messages (at most window_ in flight) and runs until all
  // subscribers have received all of them.
  bool run_batch(std::uint64_t n) {
    batch_end_ = sent_ + n;
    ioc_.restart();
    timer_.expires_after(kTimeout);
    timer_.async_wait([this](beast::error_code ec) {
      if (ec) return;
      fail("batch not delivered within " + std::to_string(kTimeout.count()) +
           " s: " + std::to_string(done_) + " of " + std::to_string(batch_end_) +
           " messages done, " + std::to_string(sent_) + " sent");
    });
    maybe_send();
    ioc_.run();
    timer_.cancel();
    return error_.empty() && done_ == batch_end_;
  }

  // Closes every connection (close 1000) and waits for the closes, untimed.
  void teardown() {
    closing_ = true;
    ioc_.restart();
    auto close = [](Conn& c) {
      if (!c.open) return;
      c.ws.async_close(websocket::close_code::normal, [&c](beast::error_code) { c.open = false; });
    };
    for (auto& c : subscribers_) close(*c);
    if (publisher_) close(*publisher_);
    ioc_.run_for(3s);
  }

  std::vector<std::uint32_t>& latencies() { return latencies_; }
  std::uint64_t done() const { return done_; }

 private:
  struct Conn {
    Conn(net::io_context& ioc, int i) : ws(ioc), index(i) {}
    websocket::stream<tcp::socket> ws;
    beast::flat_buffer buffer;
    int index;
    bool open = true;
    std::uint64_t next_seq = 0;  // the next message it must receive
  };

  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    ioc_.stop();
  }

  bool herald_handshake(Conn& c, bool is_publisher) {
    const std::string id =
        (is_publisher ? "pub-" : "sub-") + std::to_string(run_) + "-" + std::to_string(c.index);
    const std::string resume =
        "resume-secret-" + std::to_string(run_) + "-" + std::to_string(c.index) + "-0123456789";
    write_sync(c, hello_frame(id, resume));
    bool welcomed = false;
    bool joined = is_publisher;
    if (!is_publisher) write_sync(c, join_frame(1, channel_));
    while (!welcomed || !joined) {
      c.buffer.clear();
      c.ws.read(c.buffer);
      const auto data = c.buffer.cdata();
      Reader r{static_cast<const std::uint8_t*>(data.data()),
               static_cast<const std::uint8_t*>(data.data()) + data.size()};
      while (r.ok && !r.done()) {
        const std::uint64_t n = r.array_header();
        const std::uint64_t op = r.uint();
        if (!r.ok || n == 0) break;
        if (op == 16) {
          welcomed = true;
          r.skip_items(n - 1, 0);
        } else if (op == 17) {
          const std::uint64_t req = r.uint();
          const std::uint64_t code = r.uint();
          const std::string_view text = r.str();
          if (code != 0 || req != 1) {
            fail("join refused: code " + std::to_string(code) + " " + std::string(text));
            return false;
          }
          joined = true;
          r.skip_items(n - 4, 0);
        } else if (op == 18) {
          r.uint();
          fail("hub error at setup: " + std::string(r.str()));
          return false;
        } else {
          r.skip_items(n - 1, 0);  // presence of earlier joiners
        }
      }
      if (!r.ok) {
        fail("malformed frame from the hub at setup");
        return false;
      }
    }
    c.buffer.clear();
    return true;
  }

  void write_sync(Conn& c, const std::string& frame) { c.ws.write(net::buffer(frame)); }

  void read(Conn& c) {
    c.ws.async_read(c.buffer, [this, &c](beast::error_code ec, std::size_t) { on_read(c, ec); });
  }

  void on_read(Conn& c, beast::error_code ec) {
    if (ec) {
      c.open = false;
      if (closing_) return;
      std::string why = (&c == publisher_.get() ? std::string("the publisher")
                                                : "subscriber " + std::to_string(c.index)) +
                        " lost its connection: " + ec.message();
      const auto& r = c.ws.reason();
      if (r.code != websocket::close_code::none) {
        why += " (close " + std::to_string(r.code) + " " + std::string(r.reason.c_str()) + ")";
      }
      return fail(std::move(why));
    }
    const std::int64_t now = now_ns();
    const auto data = c.buffer.cdata();
    const auto* p = static_cast<const std::uint8_t*>(data.data());
    if (&c == publisher_.get()) {
      on_publisher_message(p, data.size());
    } else if (peer_ == Peer::node) {
      if (data.size() != kBodyBytes) {
        return fail("subscriber " + std::to_string(c.index) + " got a message of " +
                    std::to_string(data.size()) + " bytes");
      }
      if (!deliver(c, p, now)) return;
    } else {
      Reader r{p, p + data.size()};
      while (r.ok && !r.done()) {
        const std::uint64_t n = r.array_header();
        const std::uint64_t op = r.uint();
        if (op == 19 && n == 6) {  // [19, kind, channel, event, sender, body]
          const std::uint64_t kind = r.uint();
          r.skip();
          r.skip();
          r.skip();
          if (kind != 0) {  // presence
            r.skip();
            continue;
          }
          if (!r.need(2 + kBodyBytes) || r.p[0] != 0xc4 || r.p[1] != kBodyBytes) {
            return fail("subscriber " + std::to_string(c.index) + ": unexpected message body");
          }
          if (!deliver(c, r.p + 2, now)) return;
          r.p += 2 + kBodyBytes;
        } else if (op == 18) {
          r.uint();
          return fail("subscriber " + std::to_string(c.index) +
                      " got error frame: " + std::string(r.str()));
        } else if (n > 0) {
          r.skip_items(n - 1, 0);
        } else {
          r.ok = false;
        }
      }
      if (!r.ok) return fail("subscriber " + std::to_string(c.index) + ": malformed msgpack");
    }
    c.buffer.consume(c.buffer.size());
    read(c);
  }

  void on_publisher_message(const std::uint8_t* p, std::size_t size) {
    if (peer_ == Peer::node) return fail("the publisher received a message (ws echoed?)");
    Reader r{p, p + size};
    while (r.ok && !r.done()) {
      const std::uint64_t n = r.array_header();
      const std::uint64_t op = r.uint();
      if (op == 18) {
        r.uint();
        return fail("the publisher got error frame: " + std::string(r.str()));
      }
      if (n > 0) r.skip_items(n - 1, 0);
    }
    publisher_->buffer.consume(publisher_->buffer.size());
    read(*publisher_);
  }

  // One delivery of the 64-byte body to subscriber c.
  bool deliver(Conn& c, const std::uint8_t* body, std::int64_t now) {
    const std::uint64_t seq = get_le64(body);
    const auto sent_at = static_cast<std::int64_t>(get_le64(body + 8));
    if (seq != c.next_seq) {
      fail("subscriber " + std::to_string(c.index) + " got message " + std::to_string(seq) +
           ", expected " + std::to_string(c.next_seq));
      return false;
    }
    ++c.next_seq;
    const std::int64_t latency = now - sent_at;
    latencies_.push_back(
        static_cast<std::uint32_t>(std::clamp<std::int64_t>(latency, 0, UINT32_MAX)));
    std::uint32_t& count = done_count_[seq % window_];
    if (++count == static_cast<std::uint32_t>(kSubscribers)) {
      // Each subscriber receives in order, so messages complete in order.
      count = 0;
      if (seq != done_) {
        fail("message " + std::to_string(seq) + " completed before " + std::to_string(done_));
        return false;
      }
      ++done_;
      if (done_ == batch_end_) {
        ioc_.stop();
      } else {
        maybe_send();
      }
    }
    return true;
  }

  // Sends what the window allows, back to back: one WebSocket message per
  // write (blocking writes on the publisher's socket; what is in flight stays
  // far below its socket buffer, so they do not wait in practice). Writing
  // the burst here, rather than one async_write per trip through the
  // io_context, keeps the publisher from being paced by the driver's loop.
  void maybe_send() {
    while (sent_ < batch_end_ && sent_ - done_ < window_) {
      auto* body = reinterpret_cast<std::uint8_t*>(out_.data() + body_at_);
      put_le64(body, sent_);
      put_le64(body + 8, static_cast<std::uint64_t>(now_ns()));
      ++sent_;
      beast::error_code ec;
      publisher_->ws.write(net::buffer(out_), ec);
      if (ec) return fail("the publisher's write failed: " + ec.message());
    }
  }

  Peer peer_;
  int port_;
  std::uint64_t window_;
  int run_;
  std::string channel_;
  net::io_context ioc_{1};
  std::vector<std::uint32_t> done_count_;  // deliveries so far of message seq, at seq % window
  net::steady_timer timer_;
  std::vector<std::unique_ptr<Conn>> subscribers_;
  std::unique_ptr<Conn> publisher_;
  std::string out_;  // the publisher's message
  std::size_t body_at_ = 0;
  std::uint64_t sent_ = 0;
  std::uint64_t done_ = 0;       // messages received by every subscriber
  std::uint64_t batch_end_ = 0;  // send up to here
  bool closing_ = false;
  std::string error_;
  std::vector<std::uint32_t> latencies_;  // ns, one per delivery
};

double percentile_us(std::vector<std::uint32_t>& v, double q) {
  if (v.empty()) return 0;
  const auto k = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]) / 1e3;
}

void run_fanout(benchmark::State& state, Peer peer) {
  static int runs = 0;
  const auto window = static_cast<std::uint64_t>(state.range(0));
  Server& s = server(peer);
  if (s.pid() <= 0) {
    state.SkipWithError(s.error.empty() ? "server not running" : s.error.c_str());
    return;
  }
  Fanout fanout(peer, s.port, window, ++runs);
  if (!fanout.setup()) {
    state.SkipWithError(fanout.error().c_str());
    fanout.teardown();
    return;
  }
  fanout.latencies().reserve(8u << 20);
  const double server_cpu0 = process_cpu_seconds(s.pid());
  const double self_cpu0 = self_cpu_seconds();
  const auto t0 = Clock::now();
  bool failed = false;
  for (auto _ : state) {
    if (!fanout.run_batch(kBatch)) {
      failed = true;
      break;
    }
  }
  const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
  const double server_cpu = process_cpu_seconds(s.pid()) - server_cpu0;
  const double self_cpu = self_cpu_seconds() - self_cpu0;
  if (failed) {
    state.SkipWithError(fanout.error().c_str());
    fanout.teardown();
    return;
  }
  fanout.teardown();
  const auto messages = static_cast<double>(state.iterations()) * static_cast<double>(kBatch);
  state.SetItemsProcessed(state.iterations() *
                          static_cast<benchmark::IterationCount>(kBatch * kSubscribers));
  state.counters["deliveries_per_s"] =
      benchmark::Counter(messages * kSubscribers, benchmark::Counter::kIsRate);
  state.counters["msgs_per_s"] = benchmark::Counter(messages, benchmark::Counter::kIsRate);
  auto& lat = fanout.latencies();
  state.counters["p50_us"] = percentile_us(lat, 0.50);
  state.counters["p99_us"] = percentile_us(lat, 0.99);
  // Share of one CPU each side used while timed: which one is the bottleneck.
  // On a busy machine the servers get what the scheduler gives them; the
  // deliveries per CPU-second of the server process do not depend on that.
  if (wall > 0) {
    state.counters["server_cpu"] = server_cpu / wall;
    state.counters["driver_cpu"] = self_cpu / wall;
  }
  if (server_cpu > 0) {
    state.counters["deliveries_per_server_cpu_s"] = messages * kSubscribers / server_cpu;
  }
}

void BM_WsFanout_Herald(benchmark::State& state) { run_fanout(state, Peer::herald); }
void BM_WsFanout_NodeWs(benchmark::State& state) { run_fanout(state, Peer::node); }

BENCHMARK(BM_WsFanout_Herald)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_WsFanout_NodeWs)
    ->Arg(64)
    ->Arg(256)
    ->Arg(1)
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

// BENCHMARK_MAIN with defaults (flags given on the command line still win):
//  --benchmark_min_time=2                     seconds per benchmark;
//  --benchmark_enable_random_interleaving     herald's and node's repetitions
//      alternate in random order, so a load change hits both.
// The servers are started on first use and stopped (SIGTERM) at the end; the
// hub then prints its counters (slow consumers closed included) to stderr.
int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  const int status = herald::bench::run_benchmarks(
      argc, argv, {"--benchmark_min_time=2", "--benchmark_enable_random_interleaving=true"});
  stop_servers();
  return status;
}
