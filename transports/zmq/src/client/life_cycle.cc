// ZmqClient's life cycle: the I/O loop, its sockets, the security handshake,
// the loss of the broker and the reconnection rule (reconnection_delay,
// doubling: network::Backoff), and the refusals that end the thread.
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <zmq_addon.hpp>

#include "client/zmq_client.hpp"
#include "herald/internal/text.hpp"

namespace herald::zmq_transport {

using internal::cat;

namespace {

constexpr int kHighWaterMark = 100'000;
constexpr std::int64_t kMaxFrameBytes = 64ll << 20;

zmq::context_t& client_context() {
  static auto* context = new zmq::context_t(1);  // never destroyed: sockets may outlive main()
  return *context;
}

std::atomic<std::uint64_t> g_monitor_counter{0};

}  // namespace

void ZmqClient::run() {
  internal::t_on_transport_thread = true;
  handshake_failures_ = 0;
  // After close() / open(), what others sent meanwhile was not lost to us:
  // sequences start over. (Across an outage they do not: gaps count.)
  incoming_seqs_.clear();
  try {
    connect_attempt();
    while (io_thread_.keep_running()) {
      if (io_thread_.take_restart()) {
        if (phase_ == Phase::ready && dealer_) say_bye();
        fail_requests(absl::UnavailableError("herald zmq: connection restarted"));
        teardown();
        incoming_seqs_.clear();
        backoff_.reset();
        connect_attempt();
      }
      loop_once();
    }
  } catch (const std::exception& e) {
    if (auto events = events_.lock()) {
      events->transport_error(
          absl::InternalError(cat("herald zmq: I/O thread failed: ", e.what())));
    }
  }
  if (phase_ == Phase::ready && dealer_) {
    flush_outgoing(kFlushOnClose);
    say_bye();
  }
  fail_requests(absl::FailedPreconditionError("herald zmq: connection closed"));
  teardown();
}

void ZmqClient::loop_once() {
  zmq::pollitem_t items[5];
  std::size_t count = 0;
  items[count++] = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
  // While the connection's inbox is full, data stays in ZeroMQ's queue
  // (bounded by the high-water mark): look again shortly, keep serving the
  // control socket (pings) meanwhile.
  const bool data_wanted = sub_ && (!backpressured_ || !syncs_.empty());
  if (dealer_) items[count++] = {dealer_->handle(), 0, ZMQ_POLLIN, 0};
  if (data_wanted) items[count++] = {sub_->handle(), 0, ZMQ_POLLIN, 0};
  if (monitor_) items[count++] = {monitor_->handle(), 0, ZMQ_POLLIN, 0};
  if (notices_) items[count++] = {notices_->handle(), 0, ZMQ_POLLIN, 0};
  auto timeout = syncs_.empty() && !backpressured_ ? 50ms : kProbeInterval;
  zmq::poll(items, count, std::chrono::milliseconds(timeout));
  if (!io_thread_.keep_running()) return;
  std::size_t i = 1;
  if (items[0].revents & ZMQ_POLLIN) {
    std::uint64_t wakes;
    [[maybe_unused]] auto n = ::read(wake_fd_, &wakes, sizeof wakes);
  }
  const bool dealer_ready = dealer_ && (items[i++].revents & ZMQ_POLLIN);
  const bool sub_ready = data_wanted ? (items[i++].revents & ZMQ_POLLIN) != 0 : backpressured_;
  const bool monitor_ready = monitor_ && (items[i++].revents & ZMQ_POLLIN);
  const bool notices_ready = notices_ && (items[i++].revents & ZMQ_POLLIN);
  if (notices_ready) read_notices();
  if (monitor_ready) read_monitor();
  if (dealer_ready && dealer_) read_control();
  backpressured_ = false;
  if (sub_ready && sub_) read_data();
  if (phase_ == Phase::ready || phase_ == Phase::probing) run_queued();
  timers();
}

void ZmqClient::timers() {
  const auto now = Clock::now();
  switch (phase_) {
    case Phase::hello:
      if (now - hello_sent_ > options_.timeout) {
        lose(cat("no answer from the broker at ", url_.text, " within ", options_.timeout.count(),
                 " ms"));
      }
      break;
    case Phase::probing:
    case Phase::ready:
      for (Sync& sync : syncs_) {
        if (now - sync.last_sent >= kProbeInterval) send_probe(sync);
      }
      ping_if_due(now);
      if (now - last_heard_ > kSilenceLimit) {
        lose("the broker stopped answering pings");
      } else if (stalled(now)) {
        cut_stalled();
      }
      break;
    case Phase::backoff:
      // Cut as a slow consumer: back once the inbox has room.
      if (cut_for_stall_) {
        auto events = events_.lock();
        if (events && !events->ready_for_more()) break;
      }
      if (now >= next_attempt_) {
        cut_for_stall_ = false;
        const int attempt = backoff_.begin_attempt();
        if (auto events = events_.lock()) events->transport_reconnect_attempt(attempt);
        if (!io_thread_.stop_requested()) connect_attempt();
      }
      break;
    case Phase::refused:
      break;
  }
}

std::unique_ptr<zmq::socket_t> ZmqClient::make_socket(zmq::socket_type type) {
  auto s = std::make_unique<zmq::socket_t>(client_context(), type);
  s->set(zmq::sockopt::linger, 0);
  s->set(zmq::sockopt::sndhwm, kHighWaterMark);
  s->set(zmq::sockopt::rcvhwm, kHighWaterMark);
  s->set(zmq::sockopt::reconnect_ivl, 100);
  s->set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
  if (curve_.enabled()) {
    apply_curve(*s, curve_);  // the session token goes in the hello, encrypted
  } else if (!options_.session.empty()) {
    s->set(zmq::sockopt::plain_username, "herald");
    s->set(zmq::sockopt::plain_password, options_.session);
  }
  return s;
}

void ZmqClient::connect_attempt() {
  teardown();
  subscribed_.clear();
  const std::string host = cat("tcp://", url_.host, ":");
  dealer_ = make_socket(zmq::socket_type::dealer);
  monitor_endpoint_ = cat("inproc://herald-zmq-monitor-", g_monitor_counter.fetch_add(1));
  zmq_socket_monitor(dealer_->handle(), monitor_endpoint_.c_str(),
                     ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH |
                         ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
  handshake_ok_ = false;
  monitor_ = std::make_unique<zmq::socket_t>(client_context(), zmq::socket_type::pair);
  monitor_->set(zmq::sockopt::linger, 0);
  monitor_->connect(monitor_endpoint_);
  dealer_->connect(cat(host, url_.port));
  // Over CURVE with sessions the data sockets admit this client's key only
  // once its hello was welcomed (a refused handshake is never retried).
  if (!data_sockets_wait_for_welcome()) connect_data_sockets();
  phase_ = Phase::hello;
  send_hello();
}

bool ZmqClient::data_sockets_wait_for_welcome() const {
  return curve_.enabled() && !options_.session.empty();
}

void ZmqClient::connect_data_sockets() {
  const std::string host = cat("tcp://", url_.host, ":");
  // A receiver that blocks subscribes at P+2, where the broker keeps what
  // does not fit its window (and holds the senders); one that drops, at P+3.
  const bool blocks = options_.overflow == Overflow::block;
  sub_ = make_socket(zmq::socket_type::sub);
  if (blocks) sub_->set(zmq::sockopt::rcvhwm, kReceiveWindow);
  sub_->connect(cat(
      host, url_.port + (blocks ? zmq_wire::kSubscribePortOffset : zmq_wire::kLossyPortOffset)));
  notices_ = make_socket(zmq::socket_type::sub);
  notices_->set(zmq::sockopt::subscribe, zmq_wire::kHoldTopic);
  notices_->connect(cat(host, url_.port + zmq_wire::kLossyPortOffset));
  std::lock_guard lock(pub_mu_);
  pub_ = make_socket(zmq::socket_type::pub);
  pub_->set(zmq::sockopt::sndhwm, kSendWindow);
  // Past its high-water mark (the broker reads nothing: what waits there
  // reached max_held_bytes) a send is refused rather than dropped: send_data.
  pub_->set(zmq::sockopt::xpub_nodrop, 1);
  pub_->connect(cat(host, url_.port + zmq_wire::kPublishPortOffset));
}

void ZmqClient::teardown() {
  if (dealer_) zmq_socket_monitor(dealer_->handle(), nullptr, 0);
  monitor_.reset();
  dealer_.reset();
  sub_.reset();
  notices_.reset();
  paused_since_ = {};
  clear_holds();
  std::lock_guard lock(pub_mu_);
  pub_.reset();
}

// The broker went away (or never answered): report, and try again later.
void ZmqClient::lose(const std::string& reason) {
  const bool was_ready = phase_ == Phase::ready || phase_ == Phase::probing;
  fail_requests(absl::UnavailableError(cat("herald zmq: ", reason)));
  teardown();
  phase_ = Phase::backoff;
  next_attempt_ = Clock::now() + backoff_.delay();
  if (auto events = events_.lock()) {
    if (was_ready) {
      events->transport_disconnected(cat("transport close: ", reason));
    } else if (backoff_.attempts() == 0) {
      events->transport_error(absl::UnavailableError(cat("herald zmq: ", reason)));
    }
  }
}

// The broker will not have us (a token, a socket id, a version): saying the
// same again would not help. The thread ends; open() starts it again.
void ZmqClient::refuse(absl::Status status) {
  fail_requests(status);
  teardown();
  phase_ = Phase::refused;
  io_thread_.end_from_io_thread();
  if (auto events = events_.lock()) events->transport_refused(status);
}

absl::Status ZmqClient::handshake_refusal() const {
  std::string_view why =
      curve_.enabled() ? "the broker's CURVE public key is not the URL's ?curve= key, or the "
                         "broker does not use CURVE"
      : options_.session.empty()
          ? "the broker requires a session token (Options::session) or CURVE (?curve=KEY)"
          : "the broker does not use sessions (remove Options::session), or uses CURVE "
            "(?curve=KEY)";
  return absl::UnauthenticatedError(
      cat("herald zmq: security handshake with ", url_.text, " failed: ", why));
}

void ZmqClient::read_monitor() {
  for (;;) {
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(*monitor_, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
      return;
    }
    if (frames.empty() || frames[0].size() < 2) continue;
    std::uint16_t event;
    std::memcpy(&event, frames[0].data(), 2);
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH) {
      return refuse(absl::UnauthenticatedError(
          cat("herald zmq: the broker at ", url_.text, " refused the session token")));
    }
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) return refuse(handshake_refusal());
    if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
      handshake_ok_ = true;
      handshake_failures_ = 0;
      continue;
    }
    if (event == ZMQ_EVENT_DISCONNECTED && phase_ != Phase::backoff) {
      // Closed before the security handshake completed, twice running: the
      // mechanisms differ (a token where none is used, or none where one is
      // required) — the broker closes before we may learn why.
      if (!handshake_ok_ && ++handshake_failures_ >= 2) return refuse(handshake_refusal());
      return lose("the broker closed the connection");
    }
  }
}

}  // namespace herald::zmq_transport
