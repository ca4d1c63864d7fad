#include "client/zmq_client.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <random>
#include <utility>

#include "client/zmq_transport.hpp"
#include "herald/internal/text.hpp"

namespace herald::zmq_transport {

using internal::cat;

ZmqClient::ZmqClient(internal::Url url, Options options, CurveCredentials curve,
                     std::weak_ptr<internal::TransportEvents> events)
    : url_(std::move(url)),
      options_(std::move(options)),
      curve_(std::move(curve)),
      events_(std::move(events)),
      max_message_bytes_(limits::kDefaultMaxMessageBytes),
      ping_interval_(kPingInterval) {
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (auto e = events_.lock()) socket_id_ = std::string(e->id());
  // A secret of this connection's own, sent in every hello: it proves to the
  // broker that a reconnecting hello with our (public) socket id is ours.
  std::random_device rd;
  std::uint8_t secret[16];
  for (auto& b : secret) b = static_cast<std::uint8_t>(rd());
  resume_token_ = internal::base64(std::string_view(reinterpret_cast<char*>(secret), 16));
}

ZmqClient::~ZmqClient() {
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void ZmqClient::start() { io_thread_.start(shared_from_this()); }
void ZmqClient::stop(bool detach_if_self) { io_thread_.stop(detach_if_self); }
bool ZmqClient::on_io_thread() const { return io_thread_.on_io_thread(); }
std::size_t ZmqClient::max_message_bytes() const { return max_message_bytes_.load(); }
void ZmqClient::resume_input() { wake(); }

void ZmqClient::add_stats(Stats& stats) const {
  stats.dropped_malformed += malformed_.load(std::memory_order_relaxed);
  stats.lost_in_transit += lost_.load(std::memory_order_relaxed);
  stats.cut_slow_consumer += cut_slow_consumer_.load(std::memory_order_relaxed);
}

void ZmqClient::wake() {
  const std::uint64_t one = 1;
  [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
}

// The profile travels as the connection's current one (TransportEvents::profile),
// read when the request goes out: `profile` is that already.
absl::Status ZmqClient::request(Request kind, std::string_view channel, bool echo,
                                const Message& /*profile*/, std::vector<Member>* members_out) {
  std::shared_ptr<PendingRequest> pending = network::pending_for(on_io_thread());
  {
    std::lock_guard lock(queue_mu_);
    queue_.push_back(Queued{kind, std::string(channel), echo, pending});
  }
  wake();
  return network::await_answer(pending, options_.timeout,
                               cat("herald zmq: the broker at ", url_.text), members_out);
}

void ZmqClient::run_queued() {
  while (!request_in_flight_) {
    Queued next;
    {
      std::lock_guard lock(queue_mu_);
      if (queue_.empty()) return;
      next = std::move(queue_.front());
      queue_.pop_front();
    }
    run_one(std::move(next));
  }
}

void ZmqClient::complete_request(const std::shared_ptr<PendingRequest>& pending,
                                 absl::Status status) {
  request_in_flight_ = false;
  if (pending) pending->finish(std::move(status));
}

void ZmqClient::run_one(Queued q) {
  auto pending = q.pending;
  request_in_flight_ = true;
  switch (q.kind) {
    case Request::join:
      subscribe(q.channel);
      sync(pending, [this, channel = q.channel, echo = q.echo, pending] {
        send_request(Request::join, channel, echo, pending,
                     [this, pending](const zmq_wire::Control& reply) {
                       absl::Status status = reply_status(reply);
                       if (!status.ok()) return complete_request(pending, status);
                       // The broker published our channel:join before it
                       // replied, but on the data path: a probe sent now
                       // comes back behind it, so join() returns once the
                       // event is here (as on mem:// and ws://).
                       sync(pending, [this, pending] { complete_request(pending, {}); });
                     });
      });
      break;
    case Request::leave:
      // Unsubscribed, then a probe round trip: once leave() returns, the
      // broker no longer sends us the channel, and what it sent before is
      // dropped on arrival (read_data filters by subscription).
      send_request(
          Request::leave, q.channel, q.echo, pending,
          [this, channel = q.channel, echo = q.echo, pending](const zmq_wire::Control& reply) {
            absl::Status status = reply_status(reply);
            unsubscribe(channel);
            sync(pending, [this, channel, echo, status, pending] {
              if (echo) deliver_own_leave(channel);
              complete_request(pending, status);
            });
          });
      break;
    case Request::profile:
      send_request(Request::profile, {}, q.echo, pending,
                   [this, pending](const zmq_wire::Control& reply) {
                     complete_request(pending, reply_status(reply));
                   });
      break;
    case Request::members:
      send_request(Request::members, q.channel, false, pending,
                   [this, pending](const zmq_wire::Control& reply) {
                     request_in_flight_ = false;
                     if (!pending) return;
                     absl::Status status = reply_status(reply);
                     std::vector<Member> members;
                     if (status.ok() && reply.command == zmq_wire::Command::members) {
                       absl::StatusOr<std::vector<Member>> decoded =
                           zmq_wire::decode_members(reply.members);
                       if (decoded.ok()) {
                         members = *std::move(decoded);
                       } else {
                         status = decoded.status();
                       }
                     }
                     pending->finish(std::move(status), std::move(members));
                   });
      break;
  }
}

void ZmqClient::deliver_own_leave(const std::string& channel) {
  auto events = events_.lock();
  if (!events) return;
  events->deliver(
      internal::Envelope::make(internal::EnvelopeKind::leave, channel, "channel:leave", socket_id_,
                               internal::presence_body(socket_id_, events->profile()), true));
}

void ZmqClient::fail_requests(const absl::Status& status) {
  request_in_flight_ = false;
  for (auto& [req, awaiting] : awaiting_) {
    if (awaiting.pending) awaiting.pending->finish(status);
  }
  awaiting_.clear();
  for (Sync& sync : syncs_) {
    if (sync.pending) sync.pending->finish(status);
  }
  syncs_.clear();
  std::deque<Queued> batch;
  {
    std::lock_guard lock(queue_mu_);
    batch.swap(queue_);
  }
  for (Queued& q : batch) {
    if (q.pending) q.pending->finish(status);
  }
}

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events) {
  if (url.port < 0 || url.port > 65532) {
    return absl::InvalidArgumentError(cat("herald: zmq URL \"", url.text,
                                          "\" needs the broker's control port (zmq://HOST:PORT)"));
  }
  absl::StatusOr<std::string> server_key = curve_server_key(url);
  if (!server_key.ok()) return server_key.status();
  absl::StatusOr<CurveCredentials> curve = make_curve_credentials(*std::move(server_key));
  if (!curve.ok()) return curve.status();
  return network::make_client_transport(
      std::make_shared<ZmqClient>(url, options, *std::move(curve), std::move(events)), "herald zmq",
      "broker");
}

}  // namespace herald::zmq_transport
