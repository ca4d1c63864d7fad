#include "zmq_transport.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <deque>
#include <functional>
#include <msgpack.hpp>
#include <mutex>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "absl/container/flat_hash_set.h"
#include "herald/hub.hpp"
#include "herald/network/backoff.hpp"
#include "herald/network/io_thread.hpp"
#include "herald/internal/names.hpp"
#include "herald/network/pending_request.hpp"
#include "herald/internal/text.hpp"
#include "wire.hpp"

namespace herald::zmq_transport {
namespace {

using internal::cat;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kProbeInterval = 5ms;
constexpr auto kFlushOnClose = 1000ms;
constexpr auto kPingInterval = 1000ms;
constexpr auto kSilenceLimit = 3500ms;  // no word from the broker: it is gone
constexpr std::size_t kMaxTrackedSenders = 65'536;
constexpr int kHighWaterMark = 100'000;
constexpr std::int64_t kMaxFrameBytes = 64ll << 20;

zmq::context_t& client_context() {
  static auto* context = new zmq::context_t(1);  // never destroyed: sockets may outlive main()
  return *context;
}

std::atomic<std::uint64_t> g_monitor_counter{0};

struct StringWriter {
  std::string* out;
  void write(const char* data, std::size_t n) { out->append(data, n); }
};

bool reference(msgpack::type::object_type, std::size_t, void*) { return true; }

using network::PendingRequest;

struct Command {
  enum class Type { join, leave, profile, members } type;
  std::string channel;
  bool echo = false;
  Message profile;
  std::shared_ptr<PendingRequest> pending;  // null when nobody waits (called on the I/O thread)
};

// Everything the I/O thread touches. Shared by the transport and the thread,
// so that the thread may outlive a transport destroyed from a listener.
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(internal::Url url, Options options, std::weak_ptr<internal::TransportEvents> events)
      : url_(std::move(url)), options_(std::move(options)), events_(std::move(events)) {
    wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (auto e = events_.lock()) socket_id_ = std::string(e->id());
    // A secret of this connection's own, sent in every hello: it proves to the
    // broker that a reconnecting hello with our (public) socket id is ours.
    std::random_device rd;
    std::uint8_t secret[16];
    for (auto& b : secret) b = static_cast<std::uint8_t>(rd());
    resume_token_ = internal::base64(std::string_view(reinterpret_cast<char*>(secret), 16));
  }
  ~Core() {
    if (wake_fd_ >= 0) ::close(wake_fd_);
  }

  // Lifecycle: see IoThread. A listener's open() makes the loop start over
  // with fresh sockets once the listener returns; a close() flushes what was
  // sent (at most kFlushOnClose) and says bye before the thread ends.
  void start() { io_thread_.start(shared_from_this()); }
  void stop(bool detach_if_self) { io_thread_.stop(detach_if_self); }
  bool on_io_thread() const { return io_thread_.on_io_thread(); }

  absl::Status submit(Command command, std::chrono::milliseconds timeout,
                      std::vector<Member>* members_out = nullptr) {
    const bool inline_call = on_io_thread();
    std::shared_ptr<PendingRequest> pending;
    if (!inline_call) {
      pending = std::make_shared<PendingRequest>();
      command.pending = pending;
    }
    {
      std::lock_guard lock(commands_mu_);
      commands_.push_back(std::move(command));
    }
    wake();
    if (inline_call) return absl::OkStatus();  // takes effect in order, never a wait
    if (!pending->wait(timeout)) {
      return absl::DeadlineExceededError(cat("herald zmq: the broker at ", url_.text,
                                             " did not answer within ", timeout.count(), " ms"));
    }
    return pending->take(members_out);
  }

  absl::Status publish(const internal::EnvelopePtr& envelope) {
    char topic[zmq_wire::kMaxTopicBytes];
    const std::size_t topic_size = zmq_wire::write_topic(topic, *envelope);
    char header[zmq_wire::kMaxHeaderBytes];
    const auto body = envelope->body().bytes();
    std::lock_guard lock(pub_mu_);
    if (!pub_) return absl::UnavailableError("herald zmq: not connected to the broker");
    const std::string_view topic_view(topic, topic_size);
    auto seq = seqs_.find(topic_view);
    if (seq == seqs_.end()) {
      // Bounded: past the limit the numbering starts over, which receivers
      // take as a restart (a lower number), never as a loss.
      if (seqs_.size() >= kMaxTrackedSenders) seqs_.clear();
      seq = seqs_.emplace(std::string(topic_view), 0).first;
    }
    const std::size_t header_size = zmq_wire::write_header(header, *envelope, ++seq->second);
    // One frame: the header, then the body (one allocation inside libzmq,
    // none at all for the smallest messages).
    zmq::message_t message(header_size + body.size());
    std::memcpy(message.data(), header, header_size);
    std::memcpy(static_cast<char*>(message.data()) + header_size, body.data(), body.size());
    try {
      pub_->send(zmq::buffer(topic, topic_size),
                 zmq::send_flags::sndmore | zmq::send_flags::dontwait);
      pub_->send(message, zmq::send_flags::dontwait);
    } catch (const zmq::error_t& e) {
      return absl::UnavailableError(cat("herald zmq: send failed: ", e.what()));
    }
    return absl::OkStatus();
  }

  std::size_t max_message_bytes() const { return max_message_bytes_.load(); }

  void resume_input() { wake(); }

  void add_stats(Stats& stats) const {
    stats.dropped_malformed += malformed_.load(std::memory_order_relaxed);
    stats.lost_in_transit += lost_.load(std::memory_order_relaxed);
  }

 private:
  enum class Phase { hello, probing, ready, backoff, refused };

  struct Sync {
    std::string topic;
    Clock::time_point last_sent;
    std::function<void()> then;
    std::shared_ptr<PendingRequest> pending;  // failed if the connection is lost first
  };
  struct Awaiting {
    std::function<void(const msgpack::object&)> on_reply;
    std::shared_ptr<PendingRequest> pending;
  };

  void wake() {
    const std::uint64_t one = 1;
    [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
  }

  // ---------------------------------------------------------------- I/O thread

  void run() {
    internal::t_on_transport_thread = true;
    handshake_failures_ = 0;
    // After close() / open(), what others sent meanwhile was not lost to us:
    // sequences start over. (Across an outage they do not: gaps count.)
    last_seq_.clear();
    try {
      connect_attempt();
      while (io_thread_.keep_running()) {
        if (io_thread_.take_restart()) {
          if (phase_ == Phase::ready && dealer_) send_control_array("bye");
          fail_commands(absl::UnavailableError("herald zmq: connection restarted"));
          teardown();
          last_seq_.clear();
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
      send_control_array("bye");
    }
    fail_commands(absl::FailedPreconditionError("herald zmq: connection closed"));
    teardown();
  }

  // Sockets close with ZMQ_LINGER 0 (a dead broker never holds up a close),
  // so first make sure what was sent has left: a probe published after it,
  // on the same path, coming back (waits at most `limit`). What arrives for
  // us meanwhile is not delivered: the connection is closing.
  void flush_outgoing(std::chrono::milliseconds limit) {
    if (!sub_) return;
    const std::string topic = zmq_wire::probe_topic(socket_id_, ++probe_counter_);
    sub_->set(zmq::sockopt::subscribe, topic);
    Sync probe{topic, Clock::time_point{}, nullptr, nullptr};
    const auto deadline = Clock::now() + limit;
    while (Clock::now() < deadline) {
      if (Clock::now() - probe.last_sent >= kProbeInterval) send_probe(probe);
      zmq::pollitem_t item{sub_->handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, kProbeInterval) <= 0) continue;
      while (sub_->recv(topic_frame_, zmq::recv_flags::dontwait)) {
        const bool ours = topic_frame_.to_string_view() == topic;
        while (topic_frame_.more() && sub_->recv(topic_frame_, zmq::recv_flags::none)) {
        }
        if (ours) return;
      }
    }
  }

  void loop_once() {
    zmq::pollitem_t items[4];
    std::size_t count = 0;
    items[count++] = {nullptr, wake_fd_, ZMQ_POLLIN, 0};
    // While the connection's inbox is full, data stays in ZeroMQ's queue
    // (bounded by the high-water mark): look again shortly, keep serving the
    // control socket (pings) meanwhile.
    const bool data_wanted = sub_ && (!backpressured_ || !syncs_.empty());
    if (dealer_) items[count++] = {dealer_->handle(), 0, ZMQ_POLLIN, 0};
    if (data_wanted) items[count++] = {sub_->handle(), 0, ZMQ_POLLIN, 0};
    if (monitor_) items[count++] = {monitor_->handle(), 0, ZMQ_POLLIN, 0};
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
    if (monitor_ready) read_monitor();
    if (dealer_ready && dealer_) read_control();
    backpressured_ = false;
    if (sub_ready && sub_) read_data();
    if (phase_ == Phase::ready || phase_ == Phase::probing) run_commands();
    timers();
  }

  void timers() {
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
        if (now - last_ping_ >= ping_interval_) {
          last_ping_ = now;
          send_control_array("ping");
        }
        if (now - last_heard_ > kSilenceLimit) lose("the broker stopped answering pings");
        break;
      case Phase::backoff:
        if (now >= next_attempt_) {
          const int attempt = backoff_.begin_attempt();
          if (auto events = events_.lock()) events->transport_reconnect_attempt(attempt);
          if (!io_thread_.stop_requested()) connect_attempt();
        }
        break;
      case Phase::refused:
        break;
    }
  }

  std::unique_ptr<zmq::socket_t> make_socket(zmq::socket_type type) {
    auto s = std::make_unique<zmq::socket_t>(client_context(), type);
    s->set(zmq::sockopt::linger, 0);
    s->set(zmq::sockopt::sndhwm, kHighWaterMark);
    s->set(zmq::sockopt::rcvhwm, kHighWaterMark);
    s->set(zmq::sockopt::reconnect_ivl, 100);
    s->set(zmq::sockopt::maxmsgsize, kMaxFrameBytes);
    if (!options_.session.empty()) {
      s->set(zmq::sockopt::plain_username, "herald");
      s->set(zmq::sockopt::plain_password, options_.session);
    }
    return s;
  }

  void connect_attempt() {
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
    sub_ = make_socket(zmq::socket_type::sub);
    sub_->connect(cat(host, url_.port + zmq_wire::kSubscribePortOffset));
    {
      std::lock_guard lock(pub_mu_);
      pub_ = make_socket(zmq::socket_type::pub);
      pub_->connect(cat(host, url_.port + zmq_wire::kPublishPortOffset));
    }
    phase_ = Phase::hello;
    hello_sent_ = Clock::now();
    std::string hello;
    StringWriter w{&hello};
    msgpack::packer<StringWriter> pk(w);
    pk.pack_array(5);
    pk.pack(std::string_view("hello"));
    pk.pack_uint8(zmq_wire::kVersion);
    pk.pack(socket_id_);
    pk.pack(resume_token_);
    // The channels this connection still wants: a broker that kept our old
    // session leaves every other channel (a leave that never got through).
    restore_.clear();
    if (auto events = events_.lock()) restore_ = events->channels_to_restore();
    pk.pack_array(static_cast<std::uint32_t>(restore_.size()));
    for (const auto& r : restore_) pk.pack(r.channel);
    dealer_->send(zmq::buffer(hello), zmq::send_flags::dontwait);
  }

  void teardown() {
    if (dealer_) zmq_socket_monitor(dealer_->handle(), nullptr, 0);
    monitor_.reset();
    dealer_.reset();
    sub_.reset();
    std::lock_guard lock(pub_mu_);
    pub_.reset();
  }

  // The broker went away (or never answered): report, and try again later.
  void lose(const std::string& reason) {
    const bool was_ready = phase_ == Phase::ready || phase_ == Phase::probing;
    fail_commands(absl::UnavailableError(cat("herald zmq: ", reason)));
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

  void refuse(absl::Status status) {
    fail_commands(status);
    teardown();
    phase_ = Phase::refused;
    io_thread_.end_from_io_thread();  // the thread ends; open() starts it again
    if (auto events = events_.lock()) events->transport_refused(status);
  }

  void read_monitor() {
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
      if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL) {
        return refuse(absl::UnauthenticatedError(
            cat("herald zmq: security handshake with ", url_.text, " failed: ",
                options_.session.empty()
                    ? "the broker requires a session token (Options::session)"
                    : "the broker does not use sessions (remove Options::session)")));
      }
      if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED) {
        handshake_ok_ = true;
        handshake_failures_ = 0;
        continue;
      }
      if (event == ZMQ_EVENT_DISCONNECTED && phase_ != Phase::backoff) {
        // Closed before the security handshake completed, twice running: the
        // mechanisms differ (a token where none is used, or none where one is
        // required) — the broker closes before we may learn why.
        if (!handshake_ok_ && ++handshake_failures_ >= 2) {
          return refuse(absl::UnauthenticatedError(
              cat("herald zmq: security handshake with ", url_.text, " failed: ",
                  options_.session.empty()
                      ? "the broker requires a session token (Options::session)"
                      : "the broker does not use sessions (remove Options::session)")));
        }
        return lose("the broker closed the connection");
      }
    }
  }

  void send_control(const std::string& payload) {
    if (dealer_) dealer_->send(zmq::buffer(payload), zmq::send_flags::dontwait);
  }
  void send_control_array(std::string_view command) {
    std::string out;
    StringWriter w{&out};
    msgpack::packer<StringWriter> pk(w);
    pk.pack_array(1);
    pk.pack(command);
    send_control(out);
  }

  void read_control() {
    for (int i = 0; i < 256 && dealer_; ++i) {
      zmq::message_t msg;
      if (!dealer_->recv(msg, zmq::recv_flags::dontwait)) return;
      last_heard_ = Clock::now();
      handle_control(msg.to_string_view());
    }
  }

  void handle_control(std::string_view payload) {
    msgpack::object_handle handle;
    try {
      handle = msgpack::unpack(payload.data(), payload.size(), reference);
    } catch (const std::exception&) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const msgpack::object& o = handle.get();
    if (o.type != msgpack::type::ARRAY || o.via.array.size == 0 ||
        o.via.array.ptr[0].type != msgpack::type::STR) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    const msgpack::object* f = o.via.array.ptr;
    const std::uint32_t n = o.via.array.size;
    const std::string_view what(f[0].via.str.ptr, f[0].via.str.size);
    if (what == "welcome" && phase_ == Phase::hello) {
      if (n >= 3 && f[2].type == msgpack::type::POSITIVE_INTEGER) {
        max_message_bytes_.store(static_cast<std::size_t>(f[2].via.u64));
      }
      if (n >= 6 && f[5].type == msgpack::type::POSITIVE_INTEGER) {
        // Ping at a third of the broker's session timeout (at most every second).
        ping_interval_ = std::min<std::chrono::milliseconds>(
            kPingInterval, std::chrono::milliseconds(f[5].via.u64 / 3));
      }
      begin_probing();
      return;
    }
    if (what == "unknown-session") {
      // Expired by the broker (or it restarted): start over, channels restored.
      return lose("the broker no longer knows this connection");
    }
    if (what == "refused") {
      std::string why = n >= 2 && f[1].type == msgpack::type::STR
                            ? std::string(f[1].via.str.ptr, f[1].via.str.size)
                            : std::string("refused");
      return refuse(absl::UnauthenticatedError(why));
    }
    if (what == "pong") return;
    if (n < 2 || f[1].type != msgpack::type::POSITIVE_INTEGER) {
      malformed_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto it = awaiting_.find(f[1].via.u64);
    if (it == awaiting_.end()) return;
    auto callback = std::move(it->second.on_reply);
    awaiting_.erase(it);
    callback(o);
  }

  // Welcome received: make sure our PUB is forwarded and our SUB's
  // subscriptions (broadcast + restored channels) are in force, then report.
  void begin_probing() {
    phase_ = Phase::probing;
    last_heard_ = Clock::now();
    last_ping_ = last_heard_;
    sub_->set(zmq::sockopt::subscribe, zmq_wire::kBroadcastTopic);
    const std::vector<internal::TransportEvents::ChannelToRestore> channels = restore_;
    for (const auto& restore : channels) subscribe(restore.channel);
    sync(nullptr, [this, channels] {
      for (const auto& restore : channels) {
        control_request("join", restore.channel, restore.echo, nullptr, nullptr);
      }
      phase_ = Phase::ready;
      backoff_.reset();
      if (auto events = events_.lock()) events->transport_connected();
    });
  }

  // Runs `then` once everything subscribed so far is in force at the broker.
  void sync(std::shared_ptr<PendingRequest> pending, std::function<void()> then) {
    Sync s{zmq_wire::probe_topic(socket_id_, ++probe_counter_), Clock::time_point{},
           std::move(then), std::move(pending)};
    sub_->set(zmq::sockopt::subscribe, s.topic);
    send_probe(s);
    syncs_.push_back(std::move(s));
  }

  void send_probe(Sync& sync) {
    sync.last_sent = Clock::now();
    std::lock_guard lock(pub_mu_);
    if (!pub_) return;
    char message[zmq_wire::kMaxHeaderBytes + 1];
    std::size_t size = zmq_wire::write_probe_header(message, socket_id_);
    message[size++] = '\xc0';  // nil body
    pub_->send(zmq::buffer(sync.topic), zmq::send_flags::sndmore | zmq::send_flags::dontwait);
    pub_->send(zmq::buffer(message, size), zmq::send_flags::dontwait);
  }

  void probe_arrived(std::string_view topic) {
    for (auto it = syncs_.begin(); it != syncs_.end(); ++it) {
      if (it->topic == topic) {
        auto then = std::move(it->then);
        sub_->set(zmq::sockopt::unsubscribe, it->topic);
        syncs_.erase(it);
        then();
        return;
      }
    }
  }

  // Sends [command, req, channel, echo, (profile)] and calls `done` with the reply.
  void control_request(std::string_view command, std::string_view channel, bool echo,
                       std::shared_ptr<PendingRequest> pending,
                       std::function<void(const msgpack::object&)> done) {
    const std::uint64_t req = next_req_++;
    std::string out;
    StringWriter w{&out};
    msgpack::packer<StringWriter> pk(w);
    if (command == "join") {
      pk.pack_array(5);
    } else if (command == "members") {
      pk.pack_array(3);
    } else {
      pk.pack_array(4);
    }
    pk.pack(command);
    pk.pack_uint64(req);
    if (command == "profile") {
      append_profile(out);
      echo ? pk.pack_true() : pk.pack_false();
    } else {
      pk.pack(channel);
      if (command != "members") echo ? pk.pack_true() : pk.pack_false();
      if (command == "join") append_profile(out);
    }
    if (done) awaiting_[req] = Awaiting{std::move(done), std::move(pending)};
    send_control(out);
  }

  void append_profile(std::string& out) {
    Message profile;
    if (auto events = events_.lock()) profile = events->profile();
    auto bytes = profile.bytes();
    out.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  }

  static absl::Status reply_status(const msgpack::object& o) {
    const msgpack::object* f = o.via.array.ptr;
    const std::string_view what(f[0].via.str.ptr, f[0].via.str.size);
    if (what == "ok" || what == "members") return absl::OkStatus();
    if (what == "error" && o.via.array.size >= 3 && f[2].type == msgpack::type::STR) {
      return absl::InvalidArgumentError(std::string(f[2].via.str.ptr, f[2].via.str.size));
    }
    return absl::InternalError(cat("herald zmq: unexpected reply \"", what, "\""));
  }

  // Membership commands run one at a time, in order: a join still waiting for
  // its probe is never overtaken by a later leave of the same channel.
  void run_commands() {
    while (!command_in_flight_) {
      Command next;
      {
        std::lock_guard lock(commands_mu_);
        if (commands_.empty()) return;
        next = std::move(commands_.front());
        commands_.pop_front();
      }
      run_command(std::move(next));
    }
  }

  void subscribe(const std::string& channel) {
    if (subscribed_.insert(channel).second) {
      sub_->set(zmq::sockopt::subscribe, zmq_wire::channel_topic(channel));
    }
  }

  void unsubscribe(const std::string& channel) {
    if (subscribed_.erase(channel) == 0 || !sub_) return;
    const std::string topic = zmq_wire::channel_topic(channel);
    sub_->set(zmq::sockopt::unsubscribe, topic);
    // Sequences on this topic start over if it is joined again.
    for (auto it = last_seq_.begin(); it != last_seq_.end();) {
      const std::string& key = it->first;
      if (key.size() > topic.size() &&
          key.compare(key.size() - topic.size(), topic.size(), topic) == 0) {
        last_seq_.erase(it++);
      } else {
        ++it;
      }
    }
  }

  void run_command(Command c) {
    auto pending = c.pending;
    command_in_flight_ = true;
    auto finish = [this, pending](absl::Status s) {
      command_in_flight_ = false;
      if (pending) pending->finish(std::move(s));
    };
    switch (c.type) {
      case Command::Type::join:
        subscribe(c.channel);
        sync(pending, [this, channel = c.channel, echo = c.echo, pending, finish] {
          control_request("join", channel, echo, pending,
                          [finish](const msgpack::object& o) { finish(reply_status(o)); });
        });
        break;
      case Command::Type::leave:
        // Unsubscribed, then a probe round trip: once leave() returns, the
        // broker no longer sends us the channel, and what it sent before is
        // dropped on arrival (read_data filters by subscription).
        control_request(
            "leave", c.channel, c.echo, pending,
            [this, channel = c.channel, echo = c.echo, pending, finish](const msgpack::object& o) {
              absl::Status status = reply_status(o);
              unsubscribe(channel);
              sync(pending, [this, channel, echo, status, finish] {
                if (echo) deliver_own_leave(channel);
                finish(status);
              });
            });
        break;
      case Command::Type::profile:
        control_request("profile", {}, c.echo, pending,
                        [finish](const msgpack::object& o) { finish(reply_status(o)); });
        break;
      case Command::Type::members:
        control_request(
            "members", c.channel, false, pending, [this, pending](const msgpack::object& o) {
              command_in_flight_ = false;
              if (!pending) return;
              absl::Status status = reply_status(o);
              std::vector<Member> members;
              if (status.ok() && o.via.array.size >= 3 &&
                  o.via.array.ptr[2].type == msgpack::type::ARRAY) {
                const msgpack::object& list = o.via.array.ptr[2];
                for (std::uint32_t i = 0; i < list.via.array.size; ++i) {
                  const msgpack::object& m = list.via.array.ptr[i];
                  if (m.type != msgpack::type::ARRAY || m.via.array.size != 2 ||
                      m.via.array.ptr[0].type != msgpack::type::STR) {
                    continue;
                  }
                  std::string data;
                  StringWriter w{&data};
                  msgpack::pack(w, m.via.array.ptr[1]);
                  auto message = Message::from_msgpack(std::span<const std::byte>(
                      reinterpret_cast<const std::byte*>(data.data()), data.size()));
                  members.push_back(
                      {std::string(m.via.array.ptr[0].via.str.ptr, m.via.array.ptr[0].via.str.size),
                       message.ok() ? *message : Message()});
                }
              }
              pending->finish(std::move(status), std::move(members));
            });
        break;
    }
  }

  void deliver_own_leave(const std::string& channel) {
    auto events = events_.lock();
    if (!events) return;
    events->deliver(internal::Envelope::make(
        internal::EnvelopeKind::leave, channel, "channel:leave", socket_id_,
        internal::presence_body(socket_id_, events->profile()), true));
  }

  void fail_commands(const absl::Status& status) {
    command_in_flight_ = false;
    for (auto& [req, awaiting] : awaiting_) {
      if (awaiting.pending) awaiting.pending->finish(status);
    }
    awaiting_.clear();
    for (Sync& sync : syncs_) {
      if (sync.pending) sync.pending->finish(status);
    }
    syncs_.clear();
    std::deque<Command> batch;
    {
      std::lock_guard lock(commands_mu_);
      batch.swap(commands_);
    }
    for (Command& c : batch) {
      if (c.pending) c.pending->finish(status);
    }
  }

  void read_data() {
    auto events = events_.lock();  // keeps the connection alive while its listeners run
    for (int i = 0; i < 4096 && sub_; ++i) {
      // (Probes travel behind the data: while one is awaited, keep reading;
      // the inbox takes the surplus as overfill rather than stall a join.)
      if (events && syncs_.empty() && !events->ready_for_more()) {
        backpressured_ = true;
        return;
      }
      if (!sub_->recv(topic_frame_, zmq::recv_flags::dontwait)) return;
      // Exactly two frames: the topic, then header + body. (The parts of a
      // message arrive together, so these receives never wait.)
      if (!topic_frame_.more()) {
        malformed_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (!sub_->recv(message_frame_, zmq::recv_flags::none)) return;
      if (message_frame_.more()) {
        while (message_frame_.more() && sub_->recv(message_frame_, zmq::recv_flags::none)) {
        }
        malformed_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      const std::string_view topic = topic_frame_.to_string_view();
      absl::StatusOr<zmq_wire::Decoded> decoded =
          zmq_wire::decode(topic, message_frame_.to_string_view(), max_message_bytes_.load());
      if (!decoded.ok()) {
        malformed_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (decoded->probe) {
        probe_arrived(topic);
        continue;
      }
      const internal::Envelope& e = *decoded->envelope;
      // Sent before our unsubscribe reached the broker: we have left.
      if (!e.is_broadcast() && !subscribed_.contains(e.channel_or_empty())) continue;
      if (decoded->seq != 0) track_sequence(e.sender(), topic, decoded->seq);
      if (!e.reaches(socket_id_)) continue;  // our own, echo off
      if (events && phase_ != Phase::refused) events->deliver(decoded->envelope);
    }
  }

  void track_sequence(std::string_view sender, std::string_view topic, std::uint64_t seq) {
    char key_buffer[internal::kMaxNameBytes + 1 + zmq_wire::kMaxTopicBytes];
    std::memcpy(key_buffer, sender.data(), sender.size());
    key_buffer[sender.size()] = zmq_wire::kTopicEnd;
    std::memcpy(key_buffer + sender.size() + 1, topic.data(), topic.size());
    const std::string_view key(key_buffer, sender.size() + 1 + topic.size());
    auto it = last_seq_.find(key);
    if (it == last_seq_.end()) {
      if (last_seq_.size() >= kMaxTrackedSenders) last_seq_.clear();
      last_seq_.emplace(std::string(key), seq);
      return;
    }
    // ZeroMQ keeps a sender's order, so a lower number is a restart (the
    // sender's numbering started over), never a late arrival.
    if (seq > it->second + 1) lost_.fetch_add(seq - it->second - 1, std::memory_order_relaxed);
    it->second = seq;
  }

  const internal::Url url_;
  const Options options_;
  const std::weak_ptr<internal::TransportEvents> events_;
  std::string socket_id_;
  int wake_fd_ = -1;

  network::IoThread io_thread_{[this] { run(); }, [this] { wake(); }};

  std::mutex commands_mu_;
  std::deque<Command> commands_;

  std::mutex pub_mu_;
  std::unique_ptr<zmq::socket_t> pub_;
  internal::NameMap<std::uint64_t> seqs_;  // per topic, under pub_mu_

  std::atomic<std::size_t> max_message_bytes_{limits::kDefaultMaxMessageBytes};
  std::atomic<std::uint64_t> malformed_{0};
  std::atomic<std::uint64_t> lost_{0};

  // I/O thread only.
  Phase phase_ = Phase::hello;
  std::unique_ptr<zmq::socket_t> dealer_;
  std::unique_ptr<zmq::socket_t> sub_;
  std::unique_ptr<zmq::socket_t> monitor_;
  std::string monitor_endpoint_;
  std::uint64_t next_req_ = 1;
  std::uint64_t probe_counter_ = 0;
  std::vector<Sync> syncs_;
  std::unordered_map<std::uint64_t, Awaiting> awaiting_;
  Clock::time_point hello_sent_, last_heard_, last_ping_, next_attempt_;
  std::chrono::milliseconds ping_interval_ = kPingInterval;
  std::string resume_token_;
  std::vector<internal::TransportEvents::ChannelToRestore> restore_;
  internal::NameSet subscribed_;
  bool command_in_flight_ = false;
  bool handshake_ok_ = false;
  int handshake_failures_ = 0;
  bool backpressured_ = false;
  network::Backoff backoff_{options_.reconnection_delay};
  internal::NameMap<std::uint64_t> last_seq_;
  zmq::message_t topic_frame_;
  zmq::message_t message_frame_;
};

class ZmqTransport final : public internal::Transport {
 public:
  ZmqTransport(const internal::Url& url, const Options& options,
               std::weak_ptr<internal::TransportEvents> events)
      : core_(std::make_shared<Core>(url, options, std::move(events))), timeout_(options.timeout) {}
  ~ZmqTransport() override { core_->stop(/*detach_if_self=*/true); }

  void open() override { core_->start(); }
  void close() override { core_->stop(/*detach_if_self=*/false); }

  absl::Status join(std::string_view channel, bool echo) override {
    return core_->submit({Command::Type::join, std::string(channel), echo, {}, {}}, timeout_);
  }
  absl::Status leave(std::string_view channel, bool echo) override {
    return core_->submit({Command::Type::leave, std::string(channel), echo, {}, {}}, timeout_);
  }
  absl::Status publish(const internal::EnvelopePtr& envelope) override {
    return core_->publish(envelope);
  }
  std::size_t max_message_bytes() const override { return core_->max_message_bytes(); }
  absl::Status update_profile(const Message& profile, bool echo) override {
    return core_->submit({Command::Type::profile, {}, echo, profile, {}}, timeout_);
  }
  absl::StatusOr<std::vector<Member>> get_members(std::string_view channel) override {
    if (core_->on_io_thread()) {
      return absl::FailedPreconditionError(
          "herald zmq: get_members cannot wait for the broker from a listener running on the "
          "connection's I/O thread; use Dispatch::queued or call it from another thread");
    }
    std::vector<Member> members;
    absl::Status status = core_->submit(
        {Command::Type::members, std::string(channel), false, {}, {}}, timeout_, &members);
    if (!status.ok()) return status;
    return members;
  }
  void add_stats(Stats& stats) const override { core_->add_stats(stats); }
  void resume_input() override { core_->resume_input(); }

 private:
  std::shared_ptr<Core> core_;
  std::chrono::milliseconds timeout_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events) {
  if (url.port < 0 || url.port > 65533) {
    return absl::InvalidArgumentError(cat("herald: zmq URL \"", url.text,
                                          "\" needs the broker's control port (zmq://HOST:PORT)"));
  }
  if (!url.path.empty() && url.path != "/") {
    return absl::InvalidArgumentError(cat("herald: zmq URL \"", url.text, "\" takes no path"));
  }
  return std::make_unique<ZmqTransport>(url, options, std::move(events));
}

}  // namespace herald::zmq_transport
