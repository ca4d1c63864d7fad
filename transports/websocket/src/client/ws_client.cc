// WsClient: the NetworkClient calls (any thread) and the I/O thread's
// sessions. See ws_client.hpp for where the rest lives.
#include "ws_client.hpp"

#include <boost/asio/post.hpp>
#include <exception>
#include <utility>

#include "herald/internal/text.hpp"
#include "herald/network/random.hpp"
#include "tls.hpp"
#include "ws_transport.hpp"

namespace herald::ws_transport {

using internal::cat;

WsClient::WsClient(internal::Url url, Options options,
                   std::weak_ptr<internal::TransportEvents> events,
                   std::shared_ptr<net::ssl::context> tls)
    : url_(std::move(url)),
      options_(std::move(options)),
      events_(std::move(events)),
      tls_(std::move(tls)),
      port_(url_.port >= 0 ? url_.port
            : tls_         ? 443
                           : 80),
      // A bracketed IPv6 literal is resolved without its brackets.
      resolve_host_(url_.host.size() > 2 && url_.host.front() == '['
                        ? url_.host.substr(1, url_.host.size() - 2)
                        : url_.host),
      host_header_(cat(url_.host, ":", port_)),
      target_(url_.path.empty() ? std::string("/") : url_.path),
      // Proves to the hub that a reconnecting hello with our (public) socket
      // id is ours: the hub then replaces a connection it has not yet
      // noticed dead instead of refusing the id as taken.
      resume_(network::random_hex(32)),
      backoff_(options_.reconnection_delay) {
  if (auto e = events_.lock()) socket_id_ = std::string(e->id());
}

// Waits while the hub holds this connection's sends back ([20, true]: a
// receiver is full) or its own buffer is full — up to the sender's deadline,
// a little on a thread that polls (then past the bound), not at all on the
// I/O thread or the connection's own poller (internal::SendWait).
absl::Status WsClient::publish(const internal::EnvelopePtr& envelope) {
  using Clock = std::chrono::steady_clock;
  internal::SendWait* const send = internal::t_send_wait;
  std::unique_lock lock(mu_);
  if (!ready_) return not_connected();
  const bool may_wait =
      !on_io_thread() && (send == nullptr || send->limit != internal::SendWait::Limit::never);
  if ((held_ || outgoing_.full()) && may_wait) {
    const Clock::time_point start = Clock::now();
    Clock::time_point deadline = send ? send->deadline_at(start) : Clock::time_point::max();
    const bool bounded = send && send->limit == internal::SendWait::Limit::bounded;
    if (bounded) deadline = std::min(deadline, start + internal::kBoundedSendWait);
    const bool room = outgoing_.wait_until(lock, deadline, [&] {
      return !ready_ || io_thread_.stop_requested() || (!held_ && !outgoing_.full());
    });
    if (send) {
      ++send->waits;
      send->waited_ns += static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count());
    }
    if (!ready_ || io_thread_.stop_requested()) return not_connected();
    if (!room && !bounded) {
      return absl::DeadlineExceededError(
          cat("herald ws: the hub held this connection's sends back for ",
              std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count(),
              " ms (a receiver with Overflow::block is full; Options::timeout); not sent"));
    }
  }
  outgoing_.append([&](std::string& out) { ws_wire::append_publish(out, *envelope); });
  if (!kick_) {
    kick_ = true;
    if (ioc_ != nullptr) net::post(*ioc_, [this] { start_write(); });
  }
  return absl::OkStatus();
}

absl::Status WsClient::request(Request kind, std::string_view channel, bool echo,
                               const Message& profile, std::vector<Member>* members_out) {
  std::shared_ptr<network::PendingRequest> pending = network::pending_for(on_io_thread());
  {
    std::lock_guard lock(mu_);
    if (!accepting_) {
      return refusal_.ok() ? absl::FailedPreconditionError("herald ws: the connection is closed")
                           : refusal_;
    }
    const std::uint64_t req = requests_.add(Awaiting{
        kind == Request::members ? Awaiting::Kind::members : Awaiting::Kind::request, pending});
    outgoing_.append([&](std::string& out) {
      switch (kind) {
        case Request::profile:
          return ws_wire::append_profile(out, req, echo, profile);
        case Request::members:
          return ws_wire::append_members_request(out, req, channel);
        case Request::join:
          return ws_wire::append_request(out, ws_wire::Op::join, req, channel, echo);
        case Request::leave:
          return ws_wire::append_request(out, ws_wire::Op::leave, req, channel, echo);
      }
    });
    kick_ = true;
    // (Also resumes reading if it was held back: the reply must get through.)
    if (ioc_ != nullptr) net::post(*ioc_, [this] { service(); });
  }
  return network::await_answer(pending, options_.timeout, cat("herald ws: the hub at ", url_.text),
                               members_out);
}

void WsClient::resume_input() {
  std::lock_guard lock(mu_);
  if (ioc_ != nullptr) net::post(*ioc_, [this] { resume_reads(); });
}

void WsClient::add_stats(Stats& stats) const {
  stats.dropped_malformed += malformed_.load(std::memory_order_relaxed);
  // Sent while connected, still waiting to be written when the hub refused
  // the connection: no connection will take them.
  stats.dropped_unavailable += dropped_sends_.load(std::memory_order_relaxed);
  stats.cut_slow_consumer += cut_slow_consumer_.load(std::memory_order_relaxed);
}

absl::Status WsClient::not_connected() const {
  return absl::UnavailableError(cat("herald ws: not connected to the hub at ", url_.text));
}

// stop(), on the calling thread: requests are refused from now on, the
// session shuts down, and senders waiting for room stop waiting.
void WsClient::wake_for_stop() {
  {
    std::lock_guard lock(mu_);
    accepting_ = false;
    if (ioc_ != nullptr) net::post(*ioc_, [this] { begin_shutdown(); });
  }
  outgoing_.release_waiters();
}

// Under mu_: sends and requests are refused from now on, the requests waiting
// are answered with `why`, and what was not written is dropped.
void WsClient::stop_taking_locked(const absl::Status& why) {
  accepting_ = false;
  ready_ = false;
  kick_ = false;
  requests_.fail_all(why);
  outgoing_.clear();
}

// ---------------------------------------------------------------- I/O thread

void WsClient::run() {
  internal::t_on_transport_thread = true;
  do {
    session();
  } while (io_thread_.take_restart() && !io_thread_.stop_requested());
}

// One open() .. close(): connects, reconnects as needed, until stopped or refused.
void WsClient::session() {
  auto ioc = std::make_unique<net::io_context>(1);
  {
    std::lock_guard lock(mu_);
    ioc_ = ioc.get();
    accepting_ = true;
    refusal_ = absl::OkStatus();
  }
  // (stop() asks the thread to stop before it looks for ioc_: either it
  // posted the shutdown, or we see the stop here.)
  if (!io_thread_.stop_requested()) {
    io_ = ioc.get();
    work_.emplace(ioc->get_executor());
    timer_.emplace(*ioc);
    backoff_.reset();
    connect();
    try {
      ioc->run();
    } catch (const std::exception& e) {
      if (auto events = events_.lock()) {
        events->transport_error(
            absl::InternalError(cat("herald ws: I/O thread failed: ", e.what())));
      }
    }
  }
  drop_link();
  timer_.reset();
  work_.reset();
  {
    std::lock_guard lock(mu_);
    ioc_ = nullptr;
    stop_taking_locked(absl::FailedPreconditionError("herald ws: the connection is closed"));
  }
  outgoing_.release_waiters();
  io_ = nullptr;
  ioc.reset();  // handlers never run are destroyed here, with the Links they hold
}

// ---------------------------------------------------------------- entry point

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events) {
  if (url.port == 0) {
    return absl::InvalidArgumentError(cat("herald: ", url.scheme, " URL \"", url.text,
                                          "\" needs the hub's port (", url.scheme,
                                          "://HOST:PORT)"));
  }
  if (!url.path.empty() && url.path.front() != '/') {
    return absl::InvalidArgumentError(
        cat("herald: ", url.scheme, " URL \"", url.text, "\" has a bad path"));
  }
  std::shared_ptr<net::ssl::context> tls;
  if (url.scheme == "wss") {
    auto context = ws_tls::client_context(options.tls_ca_file);
    if (!context.ok()) return context.status();
    tls = *std::move(context);
  }
  return network::make_client_transport(
      std::make_shared<WsClient>(url, options, std::move(events), std::move(tls)), "herald ws",
      "hub");
}

}  // namespace herald::ws_transport
