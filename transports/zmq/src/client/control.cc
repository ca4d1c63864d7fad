// ZmqClient's control socket (a DEALER to the broker's ROUTER): hello and
// welcome, requests and their replies, pings and bye. Every message is
// encoded and parsed by wire/control.hpp.
#include <algorithm>

#include "client/zmq_client.hpp"
#include "herald/internal/text.hpp"

namespace herald::zmq_transport {

using internal::cat;
using zmq_wire::Command;
using zmq_wire::Control;

namespace {

std::string_view bytes_of(const Message& m) {
  return {reinterpret_cast<const char*>(m.bytes().data()), m.bytes().size()};
}

}  // namespace

void ZmqClient::send_control(const std::string& payload) {
  if (dealer_) dealer_->send(zmq::buffer(payload), zmq::send_flags::dontwait);
}

void ZmqClient::send_hello() {
  hello_sent_ = Clock::now();
  // The channels this connection still wants: a broker that kept our old
  // session leaves every other channel (a leave that never got through).
  restore_.clear();
  if (auto events = events_.lock()) restore_ = events->channels_to_restore();
  std::vector<std::string_view> keep;
  keep.reserve(restore_.size());
  for (const auto& r : restore_) keep.push_back(r.channel);
  // Over CURVE the token travels here, encrypted (no PLAIN handshake).
  send_control(zmq_wire::encode_hello(socket_id_, resume_token_, keep,
                                      curve_.enabled() ? options_.session : std::string()));
}

void ZmqClient::ping_if_due(Clock::time_point now) {
  if (now - last_ping_ < ping_interval_) return;
  last_ping_ = now;
  send_control(zmq_wire::encode_signal(Command::ping));
}

void ZmqClient::say_bye() { send_control(zmq_wire::encode_signal(Command::bye)); }

void ZmqClient::read_control() {
  for (int i = 0; i < 256 && dealer_; ++i) {
    zmq::message_t msg;
    if (!dealer_->recv(msg, zmq::recv_flags::dontwait)) return;
    last_heard_ = Clock::now();
    handle_reply(msg.to_string_view());
  }
}

void ZmqClient::handle_reply(std::string_view payload) {
  Control c;
  if (!zmq_wire::parse_reply(payload, c).ok()) {
    malformed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  switch (c.command) {
    case Command::welcome:
      if (phase_ == Phase::hello) welcome(c.welcome);
      return;
    case Command::unknown_session:
      // Expired by the broker (or it restarted): start over, channels restored.
      return lose("the broker no longer knows this connection");
    case Command::refused:
      return refuse(c.status);
    case Command::pong:
      return;
    default:
      break;
  }
  auto it = awaiting_.find(c.req);
  if (it == awaiting_.end()) return;
  auto callback = std::move(it->second.on_reply);
  awaiting_.erase(it);
  callback(c);
}

void ZmqClient::welcome(const zmq_wire::Welcome& w) {
  max_message_bytes_.store(static_cast<std::size_t>(w.max_message_bytes));
  // Ping at a third of the broker's session timeout (at most every second).
  ping_interval_ = std::min<std::chrono::milliseconds>(
      kPingInterval, std::chrono::milliseconds(w.session_timeout_ms / 3));
  stall_timeout_ = std::chrono::milliseconds(w.stall_timeout_ms);
  if (data_sockets_wait_for_welcome()) connect_data_sockets();
  begin_probing();
}

// Sends the request and calls `done` with its reply (none: fire and forget).
void ZmqClient::send_request(Request kind, const std::string& channel, bool echo,
                             std::shared_ptr<PendingRequest> pending,
                             std::function<void(const Control&)> done) {
  const std::uint64_t req = next_req_++;
  Message profile;
  if (kind == Request::join || kind == Request::profile) {
    if (auto events = events_.lock()) profile = events->profile();
  }
  std::string out;
  switch (kind) {
    case Request::join:
      out = zmq_wire::encode_join(req, channel, echo, bytes_of(profile));
      break;
    case Request::leave:
      out = zmq_wire::encode_leave(req, channel, echo);
      break;
    case Request::profile:
      out = zmq_wire::encode_profile(req, bytes_of(profile), echo);
      break;
    case Request::members:
      out = zmq_wire::encode_members_request(req, channel);
      break;
  }
  if (done) awaiting_[req] = Awaiting{std::move(done), std::move(pending)};
  send_control(out);
}

absl::Status ZmqClient::reply_status(const Control& reply) {
  switch (reply.command) {
    case Command::ok:
    case Command::members:
      return absl::OkStatus();
    case Command::error:
      return reply.status;
    default:
      return absl::InternalError(
          cat("herald zmq: unexpected reply \"", zmq_wire::name_of(reply.command), "\""));
  }
}

}  // namespace herald::zmq_transport
