// WsClient: the connection life cycle — connect, TLS handshake (wss://),
// WebSocket handshake, hello / welcome, rejoin, backoff after a loss, refusal, and close. Which
// ends are retried is link_end.hpp's rule; this file carries it out.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "herald/internal/text.hpp"
#include "link_end.hpp"
#include "tls.hpp"
#include "ws_client.hpp"

namespace herald::ws_transport {

using internal::cat;
using namespace std::chrono_literals;

namespace {

constexpr auto kFlushOnClose = 1000ms;
// Beast masks a client's message through a buffer of this size.
constexpr std::size_t kWriteBufferBytes = 64 * 1024;
// The hub coalesces what waits for a client into messages of about 1 MiB plus
// the frame that crosses that size: room for it on top of one frame's limit.
constexpr std::size_t kCoalescingSlack = 1u << 20;

std::size_t read_limit(std::size_t max_message_bytes) {
  return max_message_bytes + ws_wire::kFrameOverhead + kCoalescingSlack;
}

}  // namespace

void WsClient::arm(std::chrono::milliseconds delay, std::function<void()> then) {
  const std::uint64_t seq = ++timer_seq_;
  timer_->expires_after(delay);
  timer_->async_wait([this, seq, then = std::move(then)](beast::error_code ec) {
    if (ec || seq != timer_seq_) return;
    then();
  });
}

void WsClient::disarm() {
  ++timer_seq_;
  if (timer_) timer_->cancel();
}

void WsClient::connect() {
  phase_ = Phase::connecting;
  refusal_hint_ = absl::OkStatus();
  rejoins_left_ = 0;
  writes_pending_ = false;
  auto link = std::make_shared<Link>(*io_, tls_.get());
  link_ = link;
  // One deadline for everything up to ready: TCP, TLS, WebSocket handshake,
  // hello, rejoins.
  arm(options_.timeout, [this] {
    lose(cat("no answer from the hub at ", url_.text, " within ", options_.timeout.count(), " ms"));
  });
  link->resolver.async_resolve(
      resolve_host_, std::to_string(port_),
      [this, link](beast::error_code ec, const tcp::resolver::results_type& results) {
        if (link != link_) return;
        if (ec) return lose(cat("cannot resolve \"", url_.host, "\": ", ec.message()));
        beast::get_lowest_layer(link->ws).async_connect(
            results, [this, link](beast::error_code ec, const tcp::endpoint&) {
              if (link != link_) return;
              if (ec) return lose(cat("cannot connect to ", url_.text, ": ", ec.message()));
              if (link->ws.tls()) return tls_handshake(link);
              handshake(link);
            });
      });
}

// wss://: the hub's certificate must verify and name the URL's host. One
// that does not is a refusal — trying again would meet the same certificate
// — unlike a hub that is not there or does not speak TLS (retried).
void WsClient::tls_handshake(const std::shared_ptr<Link>& link) {
  if (absl::Status named = ws_tls::expect_host(link->ws.tls_layer(), url_.host); !named.ok()) {
    return refuse(named);
  }
  link->ws.tls_layer().async_handshake(
      net::ssl::stream_base::client, [this, link](beast::error_code ec) {
        if (link != link_) return;
        if (!ec) return handshake(link);
        const ws_tls::HandshakeFailure failure = ws_tls::describe_failure(link->ws.tls_layer(), ec);
        if (failure.not_trusted) {
          return refuse(absl::UnauthenticatedError(
              cat("herald ws: ", failure.why, " (", url_.text, "; trusted: ",
                  options_.tls_ca_file.empty() ? std::string("the system's store")
                                               : cat("\"", options_.tls_ca_file, "\""),
                  ")")));
        }
        lose(cat(failure.why, " with ", url_.text));
      });
}

void WsClient::handshake(const std::shared_ptr<Link>& link) {
  beast::error_code ignored;
  beast::get_lowest_layer(link->ws).socket().set_option(tcp::no_delay(true), ignored);
  link->ws.set_option(timeouts(/*idle=*/false));
  link->ws.set_option(websocket::stream_base::decorator(
      [](websocket::request_type& req) { req.set(beast::http::field::user_agent, "herald"); }));
  link->ws.binary(true);
  link->ws.auto_fragment(false);
  link->ws.write_buffer_bytes(kWriteBufferBytes);
  link->ws.read_message_max(read_limit(max_message_bytes_.load()));
  link->ws.async_handshake(
      link->response, host_header_, target_, [this, link](beast::error_code ec) {
        if (link != link_) return;
        if (ec == websocket::error::upgrade_declined) return declined(link->response);
        if (ec) {
          return lose(cat("WebSocket handshake with ", url_.text, " failed: ", ec.message()));
        }
        link->open = true;
        phase_ = Phase::hello;
        Message profile;
        if (auto events = events_.lock()) profile = events->profile();
        // Credit flow for a receiver that holds senders back when full.
        // A receiver that drops when full says so: nobody waits for it.
        const std::uint64_t window =
            options_.overflow == Overflow::block ? ws_wire::kCreditWindow : 0;
        taken_ = 0;
        ws_wire::append_hello(link->control, socket_id_, resume_, options_.session, window,
                              profile);
        start_read();
        start_write();
      });
}

websocket::stream_base::timeout WsClient::timeouts(bool idle) const {
  websocket::stream_base::timeout t{};
  t.handshake_timeout = options_.timeout;  // also bounds a close handshake
  t.idle_timeout = idle ? idle_timeout_ : websocket::stream_base::none();
  // Pings after half the idle time without a frame; the hub's pong (or any
  // frame) keeps the connection; nothing for the other half: it is lost.
  t.keep_alive_pings = idle;
  return t;
}

// The hub took the hello: its limits apply from now on, then the channels of
// the connection are joined again before it counts as ready.
void WsClient::welcome(const ws_wire::Frame& f) {
  const std::size_t max = f.max_message_bytes > 0 ? static_cast<std::size_t>(f.max_message_bytes)
                                                  : limits::kDefaultMaxMessageBytes;
  max_message_bytes_.store(max);
  write_limit_ = max + ws_wire::kFrameOverhead;
  idle_timeout_ =
      f.ping_interval_ms > 0
          ? std::chrono::milliseconds(3 * std::min<std::uint64_t>(f.ping_interval_ms, 3'600'000))
          : kDefaultIdleTimeout;
  link_->ws.read_message_max(read_limit(max));
  link_->ws.set_option(timeouts(/*idle=*/true));
  phase_ = Phase::rejoining;
  std::vector<internal::TransportEvents::ChannelToRestore> channels;
  if (auto events = events_.lock()) channels = events->channels_to_restore();
  if (channels.empty()) return become_ready();
  {
    std::lock_guard lock(mu_);
    for (const auto& c : channels) {
      const std::uint64_t req = requests_.add(Awaiting{Awaiting::Kind::rejoin, nullptr});
      ws_wire::append_request(link_->control, ws_wire::Op::join, req, c.channel, c.echo);
    }
  }
  rejoins_left_ = channels.size();
  start_write();
}

// The reply to one rejoin: a channel the hub refuses now is reported; the
// last reply makes the connection ready.
void WsClient::rejoined(const absl::Status& status, internal::TransportEvents* events) {
  if (!status.ok() && events) events->transport_error(status);
  if (rejoins_left_ > 0 && --rejoins_left_ == 0 && phase_ == Phase::rejoining) become_ready();
}

// Welcomed and rejoined: what was sent meanwhile goes out, then on_connect.
void WsClient::become_ready() {
  disarm();
  phase_ = Phase::ready;
  backoff_.reset();
  writes_pending_ = true;
  {
    std::lock_guard lock(mu_);
    ready_ = true;
    kick_ = true;
  }
  start_write();
  if (auto events = events_.lock()) events->transport_connected();
}

// ------------------------------------------------------------ endings

// The current link's read or write failed: the hub closed, refused, or is gone.
void WsClient::link_ended(beast::error_code ec) {
  if (phase_ == Phase::closing) return end_session();
  LinkFailure failure;
  std::string why;
  if (ec == websocket::error::closed) {
    const websocket::close_reason& r = link_->ws.reason();
    failure.close_code = static_cast<std::uint16_t>(r.code);
    if (failure.close_code == ws_wire::kCloseSlowConsumer) {
      cut_slow_consumer_.fetch_add(1, std::memory_order_relaxed);
    }
    why = std::string(r.reason.data(), r.reason.size());
    failure.close_reason = why;
  }
  failure.timed_out = ec == beast::error::timeout;
  const std::string error = ec.message();
  failure.error = error;
  failure.idle_timeout = idle_timeout_;
  LinkEnd end = end_of_link(failure, refusal_hint_, url_.text);
  if (!end.refusal.ok()) return refuse(end.refusal);
  lose(end.lost);
}

void WsClient::declined(const websocket::response_type& response) {
  const auto reason = response.reason();
  LinkEnd end = end_of_declined_handshake(response.result_int(),
                                          std::string_view(reason.data(), reason.size()),
                                          response.body(), url_.text);
  if (!end.refusal.ok()) return refuse(end.refusal);
  lose(end.lost);
}

void WsClient::drop_link() {
  if (!link_) return;
  beast::error_code ignored;
  link_->resolver.cancel();
  beast::get_lowest_layer(link_->ws).socket().close(ignored);
  link_.reset();
}

// The hub went away (or never answered): report, and try again later. The
// sends not yet written are kept (they go out, in order, once reconnected and
// rejoined); requests are answered with the loss, and their frames dropped —
// the rejoin and the hello's profile restore state.
void WsClient::lose(const std::string& reason) {
  if (phase_ == Phase::backoff || phase_ == Phase::closing || phase_ == Phase::refused ||
      phase_ == Phase::done) {
    return;
  }
  const bool was_ready = phase_ == Phase::ready;
  drop_link();
  writes_pending_ = false;
  {
    std::lock_guard lock(mu_);
    ready_ = false;
    kick_ = false;
    held_ = false;
    requests_.fail_all(absl::UnavailableError(cat("herald ws: ", reason)));
    outgoing_.keep_only(ws_wire::is_publish_frame);
  }
  outgoing_.release_waiters();
  phase_ = Phase::backoff;
  arm(backoff_.delay(), [this] {
    const int attempt = backoff_.begin_attempt();
    if (auto events = events_.lock()) events->transport_reconnect_attempt(attempt);
    if (phase_ == Phase::backoff) connect();
  });
  if (auto events = events_.lock()) {
    if (was_ready) {
      events->transport_disconnected(cat("transport close: ", reason));
    } else if (backoff_.attempts() == 0) {
      events->transport_error(absl::UnavailableError(cat("herald ws: ", reason)));
    }
  }
}

// Refused by the hub: no retry; the thread ends, open() starts it again.
// A connection that was ready is disconnected first. The sends not yet
// written are dropped, and counted (Stats::dropped_unavailable).
void WsClient::refuse(const absl::Status& status) {
  const bool was_ready = phase_ == Phase::ready;
  drop_link();
  disarm();
  writes_pending_ = false;
  phase_ = Phase::refused;
  io_thread_.end_from_io_thread();  // the thread ends; open() starts it again
  work_.reset();
  {
    std::lock_guard lock(mu_);
    refusal_ = status;
    dropped_sends_.fetch_add(outgoing_.count(ws_wire::is_publish_frame), std::memory_order_relaxed);
    stop_taking_locked(status);
  }
  outgoing_.release_waiters();
  if (auto events = events_.lock()) {
    if (was_ready) {
      events->transport_disconnected(cat("io server disconnect: ", status.message()));
    }
    events->transport_refused(status);
  }
}

// close(): what was sent goes out (at most Options::timeout), then a close
// frame (1000); a hub that does not answer does not hold us up.
void WsClient::begin_shutdown() {
  if (phase_ == Phase::closing || phase_ == Phase::done) return;
  const bool flush = phase_ == Phase::ready && link_ && link_->open;
  {
    std::lock_guard lock(mu_);
    ready_ = false;
    accepting_ = false;
    requests_.fail_all(absl::FailedPreconditionError("herald ws: the connection is closed"));
  }
  outgoing_.release_waiters();
  if (!flush) return end_session();
  phase_ = Phase::closing;
  // Held back by the hub (a full receiver), the flush may take a while: up
  // to the connection's timeout.
  arm(std::max<std::chrono::milliseconds>(kFlushOnClose, options_.timeout),
      [this] { end_session(); });
  continue_close();
}

void WsClient::continue_close() {
  if (phase_ != Phase::closing || !link_ || link_->close_sent) return;
  start_write();
  if (link_->writing_now) return;  // on_write comes back here
  link_->close_sent = true;
  websocket::stream_base::timeout t = timeouts(/*idle=*/false);
  t.handshake_timeout = std::max<std::chrono::milliseconds>(kFlushOnClose, options_.timeout);
  link_->ws.set_option(t);
  link_->ws.async_close(websocket::close_code::normal, [this, link = link_](beast::error_code) {
    if (link == link_) end_session();
  });
}

// The session is over (closed, or the flush on close ran out of time): the
// io_context stops, and session() cleans up.
void WsClient::end_session() {
  if (phase_ == Phase::done) return;
  phase_ = Phase::done;
  disarm();
  drop_link();
  writes_pending_ = false;
  work_.reset();
  io_->stop();
}

}  // namespace herald::ws_transport
