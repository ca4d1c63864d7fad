// WsGateway and its Shared state: binding, the accept loop, the I/O threads
// (with their flush of due writes), the session registry, and stop().
#include "herald/websocket/gateway.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "herald/internal/text.hpp"
#include "herald/internal/transport.hpp"
#include "shared.hpp"
#include "tls.hpp"
#include "ws_session.hpp"

namespace herald {

using internal::cat;
using ws_hub::WsSession;
using namespace std::chrono_literals;
namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

// Per I/O thread: the gateway it runs, and the sessions that got frames (or
// finished a write with more waiting) since its last flush. Their writes
// start once the thread has run everything that was ready — so the frames
// routed from all the input read meanwhile go out as one message each.
struct PendingFlush {
  const void* owner = nullptr;  // the WsGateway::Shared this thread runs
  std::vector<std::shared_ptr<WsSession>> sessions;
};
thread_local PendingFlush tl_pending;

}  // namespace

WsGateway::Shared::Shared(std::shared_ptr<Hub> h, WsGatewayOptions o)
    : hub(std::move(h)), options(std::move(o)), acceptor(net::make_strand(ioc)) {
  queue_budget.max_bytes = options.max_total_queued_bytes;
}

void WsGateway::Shared::run_loop() {
  constexpr int kMaxReadyRun = 256;  // handlers between two flushes, at most
  tl_pending.owner = this;
  // Nothing here may wait for a connection: a full queued mem:// inbox on
  // this hub is overfilled (and counted) rather than stalling every client.
  internal::t_on_transport_thread = true;
  std::vector<std::shared_ptr<WsSession>> due;
  while (ioc.run_one() > 0) {
    for (int i = 0; i < kMaxReadyRun && ioc.poll_one() > 0; ++i) {
    }
    due.swap(tl_pending.sessions);
    for (auto& session : due) session->start_write_now();
    due.clear();
  }
  tl_pending.owner = nullptr;
  due.swap(tl_pending.sessions);
  for (auto& session : due) session->start_write_now();
}

bool WsGateway::Shared::on_own_thread() const { return tl_pending.owner == this; }

void WsGateway::Shared::write_after_ready(std::shared_ptr<WsSession> session) {
  if (on_own_thread()) {
    tl_pending.sessions.push_back(std::move(session));
  } else {
    session->start_write_now();
  }
}

void WsGateway::Shared::do_accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          self->on_accept(ec, std::move(socket));
                        });
}

void WsGateway::Shared::on_accept(beast::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || stopping.load()) return;
  if (ec) {
    // E.g. out of file descriptors: try again shortly, not in a busy loop.
    auto timer = std::make_shared<net::steady_timer>(acceptor.get_executor(), 100ms);
    timer->async_wait([self = shared_from_this(), timer](beast::error_code) {
      if (!self->stopping.load()) self->do_accept();
    });
    return;
  }
  beast::error_code ignored;
  socket.set_option(tcp::no_delay(true), ignored);
  auto session = std::make_shared<WsSession>(std::move(socket), shared_from_this());
  bool admitted;
  {
    std::lock_guard lock(mu);
    // Room for the HTTP 503 answers of a few over the limit; past that, drop at once.
    admitted = sessions.size() < options.max_connections + 64;
    if (admitted) sessions.emplace(session.get(), session);
  }
  if (admitted) {
    session->start();
  } else {
    counters.refused.fetch_add(1, std::memory_order_relaxed);
  }
  do_accept();
}

void WsGateway::Shared::forget(const WsSession* session, std::string_view id) {
  std::lock_guard lock(mu);
  sessions.erase(session);
  if (!id.empty()) {
    auto it = by_id.find(id);
    if (it != by_id.end()) {
      auto current = it->second.lock();
      if (current == nullptr || current.get() == session) by_id.erase(it);
    }
  }
  if (sessions.empty()) all_gone.notify_all();
}

// ------------------------------------------------------------------ WsGateway

WsGateway::WsGateway(std::shared_ptr<Shared> shared) : shared_(std::move(shared)) {}

WsGateway::~WsGateway() { stop(); }

absl::StatusOr<std::unique_ptr<WsGateway>> WsGateway::start(std::shared_ptr<Hub> hub,
                                                            WsGatewayOptions options) {
  if (hub == nullptr) return absl::InvalidArgumentError("herald hub: no Hub given");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(cat("herald hub: port ", options.port, " is not 0-65535"));
  }
  if (options.threads < 1) return absl::InvalidArgumentError("herald hub: threads must be >= 1");
  if (options.max_channels_per_connection == 0) {
    return absl::InvalidArgumentError("herald hub: max_channels_per_connection must be >= 1");
  }
  if (options.max_write_queue_frames == 0 || options.max_write_queue_bytes == 0 ||
      options.max_connections == 0 || options.max_total_membership_bytes == 0 ||
      options.max_total_profile_bytes == 0 || options.max_total_queued_bytes == 0 ||
      options.idle_timeout <= 0ms || options.handshake_timeout <= 0ms) {
    return absl::InvalidArgumentError(
        "herald hub: limits and timeouts must be positive (write queue, connections, budgets, "
        "timeouts)");
  }
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        cat("herald hub: \"", options.host, "\" is not an IP address (", ec.message(), ")"));
  }
  if (options.tls_certificate_file.empty() && !options.tls_private_key_file.empty()) {
    return absl::InvalidArgumentError(
        "herald hub: tls_private_key_file is given without tls_certificate_file");
  }
  std::shared_ptr<net::ssl::context> tls;
  if (!options.tls_certificate_file.empty()) {
    auto context =
        ws_tls::server_context(options.tls_certificate_file, options.tls_private_key_file);
    if (!context.ok()) return context.status();
    tls = *std::move(context);
  }
  auto shared = std::make_shared<Shared>(std::move(hub), options);
  shared->tls = std::move(tls);
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  auto fail = [&](std::string_view what) {
    return absl::UnavailableError(
        cat("herald hub: cannot ", what, " ", options.host, ":", options.port, ": ", ec.message()));
  };
  shared->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  shared->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  shared->acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  shared->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  shared->port = shared->acceptor.local_endpoint().port();
  shared->host = options.host;
  shared->do_accept();
  for (int i = 0; i < options.threads; ++i) {
    shared->threads.emplace_back([s = shared.get()] { s->run_loop(); });
  }
  return std::unique_ptr<WsGateway>(new WsGateway(std::move(shared)));
}

int WsGateway::port() const noexcept { return shared_->port; }

std::string WsGateway::url() const {
  const bool v6 = shared_->host.find(':') != std::string::npos;
  const std::string_view scheme = shared_->tls ? "wss://" : "ws://";
  return v6 ? cat(scheme, "[", shared_->host, "]:", shared_->port)
            : cat(scheme, shared_->host, ":", shared_->port);
}

const std::shared_ptr<Hub>& WsGateway::hub() const noexcept { return shared_->hub; }

WsGatewayStats WsGateway::stats() const {
  const auto& c = shared_->counters;
  WsGatewayStats s;
  s.accepted = c.accepted.load();
  s.refused = c.refused.load();
  s.tls_handshakes_failed = c.tls_handshakes_failed.load();
  s.connections = c.connections.load();
  s.frames_in = c.frames_in.load();
  s.messages_routed = c.messages_routed.load();
  s.frames_out = c.frames_out.load();
  s.writes = c.writes.load();
  s.frame_errors = c.frame_errors.load();
  s.closed_protocol = c.closed_protocol.load();
  s.closed_unauthenticated = c.closed_unauthenticated.load();
  s.closed_slow_consumer = c.closed_slow_consumer.load();
  s.publishers_held = c.publishers_held.load();
  s.held_ns = c.held_ns.load();
  s.closed_stalled = c.closed_stalled.load();
  s.dropped_slow_consumer = c.dropped_slow_consumer.load();
  s.dropped_closing = c.dropped_closing.load();
  s.closed_idle = c.closed_idle.load();
  s.write_queue_high_water = c.write_queue_high_water.load();
  s.refused_reserved_events = c.refused_reserved_events.load();
  s.refused_budget = c.refused_budget.load();
  s.closed_queue_budget = c.closed_queue_budget.load();
  s.membership_bytes = c.membership_bytes.load();
  s.profile_bytes = c.profile_bytes.load();
  s.queued_bytes = shared_->queue_budget.bytes.load();
  return s;
}

void WsGateway::stop() {
  if (shared_->on_own_thread()) {
    // On one of our own I/O threads (a mem:// listener, say): it cannot join
    // itself. Stop from another thread; this call returns at once.
    std::thread([shared = shared_] { WsGateway(shared).stop(); }).detach();
    return;
  }
  Shared& s = *shared_;
  std::lock_guard stop_lock(s.stop_mu);
  if (s.threads.empty()) return;
  s.stopping.store(true);
  net::post(s.acceptor.get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
  });
  std::vector<std::shared_ptr<WsSession>> sessions;
  {
    std::lock_guard lock(s.mu);
    for (auto& [_, weak] : s.sessions) {
      if (auto session = weak.lock()) sessions.push_back(std::move(session));
    }
  }
  for (auto& session : sessions) session->stop_from_gateway();
  sessions.clear();
  {
    std::unique_lock lock(s.mu);
    // Queues drain for up to stop_grace, then the close handshake gets a second.
    s.all_gone.wait_for(lock, s.options.stop_grace + ws_hub::kHardCloseAfter + 100ms,
                        [&s] { return s.sessions.empty(); });
  }
  s.ioc.stop();
  for (auto& t : s.threads) t.join();
  s.threads.clear();
  // Whatever did not finish in time: detach from the Hub now.
  std::vector<std::shared_ptr<WsSession>> left;
  {
    std::lock_guard lock(s.mu);
    for (auto& [_, weak] : s.sessions) {
      if (auto session = weak.lock()) left.push_back(std::move(session));
    }
    s.sessions.clear();
    s.by_id.clear();
  }
  for (auto& session : left) session->abandon();
  left.clear();
  // Let the aborted operations finish, so that nothing keeps the state alive:
  // a handler left in the io_context holds its session, and the session this
  // state (a cycle, leaked). Run until no work is left; a handler of an
  // aborted operation may arm one last hard-close timer, so wait past it.
  s.ioc.restart();
  const auto give_up = std::chrono::steady_clock::now() + ws_hub::kHardCloseAfter + 1s;
  while (!s.ioc.stopped() && std::chrono::steady_clock::now() < give_up) {
    s.ioc.run_for(50ms);
  }
}

}  // namespace herald
