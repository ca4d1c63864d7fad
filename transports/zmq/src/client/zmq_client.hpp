// ZmqClient: one zmq:// connection to a ZmqBroker and its I/O thread (the
// guarantees are in zmq_transport.hpp). It is a network::NetworkClient: the
// one network Transport adapter (network/client.hpp) drives it.
//
// One class, its rooms in separate files:
//   zmq_client.cc  construction, the NetworkClient calls, the request queue
//   control.cc     the control socket: hello / welcome, requests and their
//                  replies, pings, bye (all through wire/control.hpp)
//   probes.cc      probes: a subscription is trusted once one came back
//   data_path.cc   publish, receive, subscriptions, input backpressure
//   sequences.cc   sequence numbers out, loss counting in
//   life_cycle.cc  the I/O loop, sockets, security handshake, loss of the
//                  broker and reconnection
//
// Threads: publish() runs on any sender's thread (the PUB is shared under
// pub_mu_); the NetworkClient calls queue work for the I/O thread; the rest
// is the I/O thread's alone. Shared by the transport and the thread, so that
// the thread may outlive a transport destroyed from a listener.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>

#include "client/curve.hpp"
#include "client/sequences.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/transport.hpp"
#include "herald/network/backoff.hpp"
#include "herald/network/client.hpp"
#include "herald/network/io_thread.hpp"
#include "herald/network/pending_request.hpp"
#include "wire/control.hpp"

namespace herald::zmq_transport {

using namespace std::chrono_literals;

inline constexpr auto kProbeInterval = 5ms;    // a probe is sent again until it comes back
inline constexpr auto kFlushOnClose = 1000ms;  // close(): what was sent gets this long to leave
inline constexpr auto kPingInterval = 1000ms;  // at most; a third of the broker's session timeout
inline constexpr auto kSilenceLimit = 3500ms;  // no word from the broker: it is gone
// What a receiver that blocks lets wait in its SUB (the broker keeps the
// rest), and what a sender lets wait in its PUB, in messages and in bytes
// (past either, send_data waits for room): small, so that a hold notice
// reaches a sender that is not far ahead.
inline constexpr int kReceiveWindow = 256;
inline constexpr int kSendWindow = 4096;
inline constexpr std::size_t kSendWindowBytes = 4 << 20;
// Messages from this size on are counted in the byte window (they are handed
// to libzmq without a copy, and it says when it is done with them).
inline constexpr std::size_t kCountedBytes = 1024;

// The bytes handed to the PUB that its I/O thread has not written yet. Shared
// with libzmq's free callbacks, which may run after the client is gone.
struct SendWindow {
  std::atomic<std::size_t> bytes{0};
  std::atomic<int> waiters{0};
  std::mutex mu;
  std::condition_variable cv;
};
// The longest the I/O thread reads data before it serves its other sockets.
inline constexpr auto kReadSlice = 20ms;

class ZmqClient final : public network::NetworkClient,
                        public std::enable_shared_from_this<ZmqClient> {
 public:
  ZmqClient(internal::Url url, Options options, CurveCredentials curve,
            std::weak_ptr<internal::TransportEvents> events);
  ~ZmqClient() override;

  // Life cycle: see IoThread. A listener's open() makes the loop start over
  // with fresh sockets once the listener returns; a close() flushes what was
  // sent (at most kFlushOnClose) and says bye before the thread ends.
  void start() override;
  void stop(bool detach_if_self) override;
  absl::Status request(Request kind, std::string_view channel, bool echo, const Message& profile,
                       std::vector<Member>* members_out) override;
  absl::Status publish(const internal::EnvelopePtr& envelope) override;
  std::size_t max_message_bytes() const override;
  bool on_io_thread() const override;
  void resume_input() override;
  void add_stats(Stats& stats) const override;

 private:
  using Clock = std::chrono::steady_clock;
  using PendingRequest = network::PendingRequest;
  enum class Phase { hello, probing, ready, backoff, refused };

  // A request queued for the I/O thread.
  struct Queued {
    Request kind{};
    std::string channel;
    bool echo = false;
    std::shared_ptr<PendingRequest> pending;  // null when nobody waits (called on the I/O thread)
  };
  // A probe in flight; `then` runs when it comes back.
  struct Sync {
    std::string topic;
    Clock::time_point last_sent;
    std::function<void()> then;
    std::shared_ptr<PendingRequest> pending;  // failed if the connection is lost first
  };
  // A request sent, waiting for its reply.
  struct Awaiting {
    std::function<void(const zmq_wire::Control&)> on_reply;
    std::shared_ptr<PendingRequest> pending;
  };

  void wake();

  // life_cycle.cc
  void run();
  void loop_once();
  void timers();
  std::unique_ptr<zmq::socket_t> make_socket(zmq::socket_type type);
  void connect_attempt();
  void teardown();
  void lose(const std::string& reason);
  void refuse(absl::Status status);
  void read_monitor();
  absl::Status handshake_refusal() const;

  // control.cc
  void send_hello();
  void ping_if_due(Clock::time_point now);
  void say_bye();
  void send_control(const std::string& payload);
  void read_control();
  void handle_reply(std::string_view payload);
  void welcome(const zmq_wire::Welcome& welcome);
  void send_request(Request kind, const std::string& channel, bool echo,
                    std::shared_ptr<PendingRequest> pending,
                    std::function<void(const zmq_wire::Control&)> done);
  static absl::Status reply_status(const zmq_wire::Control& reply);

  // zmq_client.cc: the request queue. Membership requests run one at a
  // time, in order: a join still waiting for its probe is never overtaken
  // by a later leave of the same channel.
  void run_queued();
  void run_one(Queued q);
  void complete_request(const std::shared_ptr<PendingRequest>& pending, absl::Status status);
  void deliver_own_leave(const std::string& channel);
  void fail_requests(const absl::Status& status);

  // probes.cc
  void begin_probing();
  void sync(std::shared_ptr<PendingRequest> pending, std::function<void()> then);
  void send_probe(Sync& sync);
  void probe_arrived(std::string_view topic);
  void flush_outgoing(std::chrono::milliseconds limit);

  // life_cycle.cc: the PUB and the SUB (connected at once, or after the
  // welcome over CURVE with sessions).
  bool data_sockets_wait_for_welcome() const;
  void connect_data_sockets();

  // flow.cc: the broker's hold notices, the waits they make senders do, and
  // the cut of a receiver that stalled
  void read_notices();
  void set_holds(std::vector<std::string> topics);
  void clear_holds();
  absl::Status wait_while_held(std::string_view topic, internal::SendWait* send);
  absl::Status send_data(zmq::message_t& message, std::string_view topic, internal::SendWait* send,
                         bool may_wait);
  absl::Status wait_for_window(internal::SendWait* send);
  bool send_before(zmq::message_t& message, Clock::time_point deadline, bool until_closing);
  void send_lossily(zmq::message_t& message);
  zmq::message_t counted_message(std::size_t size);
  bool stalled(Clock::time_point now) const;
  void cut_stalled();

  // data_path.cc
  void read_data();
  void subscribe(const std::string& channel);
  void unsubscribe(const std::string& channel);

  const internal::Url url_;
  const Options options_;
  const CurveCredentials curve_;  // empty: no CURVE
  const std::weak_ptr<internal::TransportEvents> events_;
  std::string socket_id_;
  std::string resume_token_;
  int wake_fd_ = -1;

  network::IoThread io_thread_{[this] { run(); }, [this] { wake(); }};

  std::mutex queue_mu_;
  std::deque<Queued> queue_;

  const std::shared_ptr<SendWindow> window_ = std::make_shared<SendWindow>();
  std::mutex order_mu_;  // senders that may wait, one at a time: a wait keeps their order
  std::mutex pub_mu_;
  std::unique_ptr<zmq::socket_t> pub_;
  OutgoingSequences outgoing_seqs_;  // under pub_mu_

  // The topics the broker holds (its last notice, sorted) until the lease ends.
  std::mutex hold_mu_;
  std::condition_variable hold_cv_;
  std::vector<std::string> held_;
  Clock::time_point hold_expires_;
  std::atomic<bool> any_held_{false};
  std::atomic<std::uint64_t> cut_slow_consumer_{0};

  std::atomic<std::size_t> max_message_bytes_;
  std::atomic<std::uint64_t> malformed_{0};
  std::atomic<std::uint64_t> lost_{0};

  // I/O thread only.
  Phase phase_ = Phase::hello;
  std::unique_ptr<zmq::socket_t> dealer_;
  std::unique_ptr<zmq::socket_t> sub_;
  std::unique_ptr<zmq::socket_t> notices_;      // the hold notices, read even while sub_ waits
  std::chrono::milliseconds stall_timeout_{0};  // the welcome's; 0: never cut ourselves
  Clock::time_point paused_since_{};            // the inbox full, nothing taken since
  bool cut_for_stall_ = false;                  // reconnect once the inbox has room
  std::unique_ptr<zmq::socket_t> monitor_;
  std::string monitor_endpoint_;
  std::uint64_t next_req_ = 1;
  std::uint64_t probe_counter_ = 0;
  std::vector<Sync> syncs_;
  std::unordered_map<std::uint64_t, Awaiting> awaiting_;
  Clock::time_point hello_sent_, last_heard_, last_ping_, next_attempt_;
  std::chrono::milliseconds ping_interval_;
  std::vector<internal::TransportEvents::ChannelToRestore> restore_;
  internal::NameSet subscribed_;
  bool request_in_flight_ = false;
  bool handshake_ok_ = false;
  int handshake_failures_ = 0;
  bool backpressured_ = false;
  network::Backoff backoff_{options_.reconnection_delay};
  IncomingSequences incoming_seqs_;
  zmq::message_t frame_;  // the data message being read
};

}  // namespace herald::zmq_transport
