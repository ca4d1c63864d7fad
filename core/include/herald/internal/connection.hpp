// herald/internal/connection.hpp — the state behind one Realtime: listeners,
// inbox, channels, counters, and the transport.
//
// Dispatch ownership: at most one thread at a time runs this connection's
// listeners (the "dispatcher"). A delivery that finds no dispatcher becomes
// it and runs the listeners on its own thread; one that finds a dispatcher
// (another thread's, or its own thread re-entering from a listener) leaves
// the envelope in the inbox, and the dispatcher runs it before it lets go.
// Nobody ever waits for a dispatcher, so listeners that send to each other
// cannot deadlock. Queued dispatch uses the same inbox; only poll() drains it.
// Which threads may wait at all: herald/internal/thread_role.hpp.
//
// Files: connection.cc (state, transport events, open / close, sending,
// handlers, stats), connection_dispatch.cc (the dispatcher role, the inbox,
// poll), connection_membership.cc (join / leave and their ordering, restored
// channels, presence); the buffering policy while disconnected is
// OfflineBuffer (offline_buffer.hpp).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "herald/hub.hpp"
#include "herald/internal/envelope.hpp"
#include "herald/internal/inbox.hpp"
#include "herald/internal/listener_registry.hpp"
#include "herald/internal/offline_buffer.hpp"
#include "herald/internal/receiver.hpp"
#include "herald/internal/transport.hpp"
#include "herald/options.hpp"

namespace herald::internal {

class Connection final : public TransportEvents, public std::enable_shared_from_this<Connection> {
 public:
  enum class State : std::uint8_t { connecting, connected, disconnected, refused, closed };

  // Throws std::invalid_argument for a malformed URL or unknown scheme.
  static std::shared_ptr<Connection> create(std::string_view url, Options options);
  ~Connection() override;

  // ---- Receiver / TransportEvents ----
  std::string_view id() const noexcept override { return socket_id_; }
  void deliver(const EnvelopePtr& envelope) override;
  Message profile() const override;
  std::vector<ChannelToRestore> channels_to_restore() override;
  bool ready_for_more() const noexcept override;
  void transport_connected() override;
  void transport_disconnected(std::string_view reason) override;
  void transport_refused(const absl::Status& status) override;
  // mem://: the Hub ended this connection's session (see HubOptions).
  void session_ended(const absl::Status& why) override;
  void transport_error(const absl::Status& status) override;
  void transport_reconnect_attempt(int attempt) override;

  // ---- Realtime ----
  absl::Status publish(EnvelopeKind kind, std::string_view channel, std::string_view event,
                       Message body, std::optional<bool> echo);
  ListenerRegistry& listeners() noexcept { return registry_; }
  const ListenerRegistry& listeners() const noexcept { return registry_; }
  absl::Status join(std::string_view channel, std::optional<bool> echo);
  absl::Status leave(std::string_view channel, std::optional<bool> echo);
  std::vector<std::string> channels() const;
  absl::Status update_profile(Message data, std::optional<bool> echo);
  absl::StatusOr<std::vector<Member>> get_members(std::string_view channel);
  absl::Status open();
  void close();
  // close(), then wait for a dispatch running on another thread to finish and
  // drop every listener. Called by ~Realtime.
  void shutdown();
  bool is_connected() const noexcept { return state() == State::connected; }
  void on_connect(std::function<void()> handler);
  void on_disconnect(std::function<void(std::string_view)> handler);
  void on_error(std::function<void(const absl::Status&)> handler);
  void on_reconnect_attempt(std::function<void(int)> handler);
  std::size_t poll();
  std::size_t poll_for(std::chrono::milliseconds max_wait);
  Stats stats() const;

  Connection(std::string socket_id, Options options);  // use create()

 private:
  State state() const noexcept { return state_.load(std::memory_order_acquire); }
  // Status for an operation that needs a live connection, or OK.
  absl::Status usable(std::string_view operation) const;
  bool try_become_dispatcher() noexcept;
  void dispatch_one(const Envelope& envelope);
  // Runs what waits in the inbox, lets go of the dispatcher role, and takes it
  // back if something arrived meanwhile.
  void drain_and_release();
  std::size_t run_batch();
  Inbox::Wait wait_policy() const noexcept;
  bool own_membership(bool block);
  void release_membership();
  // `remember`: keep it for an on_error handler registered later if nobody
  // hears it now (connection refusals).
  void report_error(const absl::Status& status, bool remember = false);
  // Waits (up to Options::timeout) until connected; returns at once on a
  // dispatching thread. OK when connected.
  absl::Status await_connected(std::string_view operation);
  absl::Status rejected(absl::Status status) noexcept {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return status;
  }
  void flush_buffered();
  // A sender found this connection stalled (Inbox::Admitted::stalled): cut it
  // as a slow consumer; it is reattached by reattach_if_cut() when it drains.
  void cut_stalled();
  void reattach_if_cut();
  static void bump(std::atomic<std::uint64_t>& counter, std::uint64_t n = 1) noexcept {
    counter.fetch_add(n, std::memory_order_relaxed);
  }

  const std::string socket_id_;
  const Options options_;
  std::unique_ptr<Transport> transport_;

  std::atomic<State> state_{State::connecting};
  ListenerRegistry registry_;
  Inbox inbox_;
  std::atomic<std::thread::id> dispatcher_{};
  std::atomic<std::thread::id> poller_{};
  std::vector<EnvelopePtr> batch_;  // dispatcher only

  std::mutex membership_mu_;  // the membership role (see join / leave)
  std::atomic<std::thread::id> membership_owner_{};

  mutable std::mutex mu_;  // guards what follows
  std::condition_variable state_cv_;
  std::map<std::string, bool, std::less<>> joined_;  // channel -> the echo its join asked for
  struct MembershipOp {
    std::string channel;
    bool join = false;
    bool echo = false;
  };
  std::deque<MembershipOp> pending_ops_;
  OfflineBuffer offline_;  // sends made while not connected
  bool flushing_ = false;
  bool ever_connected_ = false;
  Message profile_;
  std::function<void()> on_connect_;
  std::function<void(std::string_view)> on_disconnect_;
  std::function<void(const absl::Status&)> on_error_;
  std::function<void(int)> on_reconnect_attempt_;
  std::optional<absl::Status> unheard_error_;
  absl::Status refusal_;
  const ListenerRegistry::ErrorSink error_sink_;

  std::atomic<std::uint64_t> sent_{0};
  std::atomic<std::uint64_t> delivered_{0};
  std::atomic<std::uint64_t> listener_calls_{0};
  std::atomic<std::uint64_t> listener_errors_{0};
  std::atomic<std::uint64_t> rejected_{0};
  std::atomic<std::uint64_t> dropped_unavailable_{0};
  std::atomic<std::uint64_t> dropped_buffer_full_{0};
  std::atomic<std::uint64_t> dropped_inbox_full_{0};
  std::atomic<std::uint64_t> dropped_closed_{0};
  std::atomic<std::uint64_t> inbox_overfilled_{0};
  std::atomic<std::uint64_t> sends_held_{0};
  std::atomic<std::uint64_t> send_held_ns_{0};
  std::atomic<std::uint64_t> send_timeouts_{0};
  std::atomic<std::uint64_t> cut_slow_consumer_{0};
  std::atomic<bool> cutting_{false};  // a stall cut is under way or done, not yet reattached
  std::atomic<bool> cut_{false};      // cut and told: reattach when drained
  // ready_for_more() said no: the transport stopped reading (run_batch resumes it).
  mutable std::atomic<bool> input_paused_{false};
};

}  // namespace herald::internal
