// ws_client.hpp — WsClient: the ws:// client, one connection to a herald hub
// (the contract is in ws_transport.hpp).
//
// Everything the I/O thread touches. Shared by the transport adapter and the
// thread, so that the thread may outlive a transport destroyed from a
// listener. Its member functions live by responsibility:
//   ws_client.cc   the NetworkClient calls (API threads) and the I/O thread's
//                  sessions (one per open() .. close());
//   connection.cc  the connection life cycle: connect, handshake, hello /
//                  welcome, rejoin, backoff, and the ways a link ends;
//   link_io.cc     writing (hello and rejoins ahead of the outgoing buffer)
//                  and reading (frames from the hub, held back while the
//                  inbox is full).
// The policies they apply are plain and apart: outgoing_buffer.hpp (the
// bound and the coalescing), requests.hpp (request / reply correlation),
// link_end.hpp (what is retried), ../wire.hpp (the frames).
//
// Internal to transports/websocket/src/client: includes Beast and Asio.
#pragma once

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herald/hub.hpp"
#include "herald/limits.hpp"
#include "herald/network/backoff.hpp"
#include "herald/network/client.hpp"
#include "herald/network/io_thread.hpp"
#include "outgoing_buffer.hpp"
#include "requests.hpp"
#include "wire.hpp"
#include "ws_stream.hpp"

namespace herald::ws_transport {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

inline constexpr auto kDefaultIdleTimeout = std::chrono::milliseconds(30000);

// One WebSocket connection (or an attempt at one). Its handlers hold it, so
// that the buffers they use outlive a loss; after one the WsClient starts
// over with a new Link and ignores what the old one's handlers report.
struct Link {
  // Over TLS when `tls` is given (wss://).
  Link(net::io_context& ioc, net::ssl::context* tls) : resolver(ioc), ws(ioc, tls) {}
  tcp::resolver resolver;
  ws_stream::WsStream ws;
  websocket::response_type response;  // the hub's answer to the WebSocket handshake
  beast::flat_buffer in;
  std::size_t in_offset = 0;  // where handling of the message in `in` continues
  std::string control;        // hello and rejoins: written ahead of the pending sends
  std::string writing;        // the message being written
  bool open = false;          // WebSocket handshake done
  bool writing_now = false;
  bool reading = false;
  bool read_paused = false;
  bool close_sent = false;
};

class WsClient final : public network::NetworkClient,
                       public std::enable_shared_from_this<WsClient> {
 public:
  // `tls`: wss:// (the client context of src/tls.hpp); null: ws://.
  WsClient(internal::Url url, Options options, std::weak_ptr<internal::TransportEvents> events,
           std::shared_ptr<net::ssl::context> tls);

  // ---- network::NetworkClient (any thread), ws_client.cc
  // Lifecycle: see IoThread. A listener's open() starts a new session once
  // the current one has ended; a close() writes what was sent (at most
  // kFlushOnClose) and a close frame before the thread ends.
  void start() override { io_thread_.start(shared_from_this()); }
  void stop(bool detach_if_self) override { io_thread_.stop(detach_if_self); }
  bool on_io_thread() const override { return io_thread_.on_io_thread(); }
  absl::Status publish(const internal::EnvelopePtr& envelope) override;
  // join / leave / profile / members. From the I/O thread: sent in order with
  // everything else, without waiting. Requests made while the connection is
  // being (re)established go out once it is.
  absl::Status request(Request kind, std::string_view channel, bool echo, const Message& profile,
                       std::vector<Member>* members_out) override;
  std::size_t max_message_bytes() const override { return max_message_bytes_.load(); }
  void resume_input() override;
  void add_stats(Stats& stats) const override;

 private:
  enum class Phase { connecting, hello, rejoining, ready, backoff, closing, refused, done };

  absl::Status not_connected() const;
  void wake_for_stop();
  void stop_taking_locked(const absl::Status& why);

  // ---- I/O thread: sessions (ws_client.cc)
  void run();
  void session();

  // ---- I/O thread: the connection life cycle (connection.cc)
  void arm(std::chrono::milliseconds delay, std::function<void()> then);
  void disarm();
  void connect();
  void tls_handshake(const std::shared_ptr<Link>& link);
  void handshake(const std::shared_ptr<Link>& link);
  websocket::stream_base::timeout timeouts(bool idle) const;
  void welcome(const ws_wire::Frame& f);
  void rejoined(const absl::Status& status, internal::TransportEvents* events);
  void become_ready();
  void link_ended(beast::error_code ec);
  void declined(const websocket::response_type& response);
  void drop_link();
  void lose(const std::string& reason);
  void refuse(const absl::Status& status);
  void begin_shutdown();
  void continue_close();
  void end_session();

  // ---- I/O thread: writing and reading (link_io.cc)
  void service();
  void start_write();
  void on_write(const std::shared_ptr<Link>& link, beast::error_code ec);
  void start_read();
  void on_read(const std::shared_ptr<Link>& link, beast::error_code ec);
  void continue_input(const std::shared_ptr<Link>& link);
  void resume_reads();
  bool has_waiters();
  bool should_pause(internal::TransportEvents* events);
  bool should_pause();
  bool handle_message(std::string_view message, std::size_t& offset);
  void handle_frame(const ws_wire::Frame& f, internal::TransportEvents* events);
  void reply(const ws_wire::Frame& f, internal::TransportEvents* events);

  const internal::Url url_;
  const Options options_;
  const std::weak_ptr<internal::TransportEvents> events_;
  const std::shared_ptr<net::ssl::context> tls_;
  const int port_;
  const std::string resolve_host_;
  const std::string host_header_;
  const std::string target_;
  const std::string resume_;
  std::string socket_id_;

  network::IoThread io_thread_{[this] { run(); }, [this] { wake_for_stop(); }};

  // Shared with API threads, under mu_.
  std::mutex mu_;
  net::io_context* ioc_ = nullptr;  // the running session's, for posting
  bool accepting_ = false;          // requests are taken (a session runs)
  bool ready_ = false;              // sends are taken
  bool kick_ = false;               // the I/O thread will look at outgoing_
  bool held_ = false;               // the hub said [20, true]: sends wait (back-pressure)
  absl::Status refusal_;
  OutgoingBuffer outgoing_;  // its backlog: I/O thread only
  RequestTable requests_;

  std::atomic<std::size_t> max_message_bytes_{limits::kDefaultMaxMessageBytes};
  std::atomic<std::uint64_t> malformed_{0};
  std::atomic<std::uint64_t> dropped_sends_{0};      // unwritten when refused
  std::atomic<std::uint64_t> cut_slow_consumer_{0};  // closed 4002 by the hub

  // I/O thread only.
  net::io_context* io_ = nullptr;
  std::optional<net::executor_work_guard<net::io_context::executor_type>> work_;
  std::optional<net::steady_timer> timer_;
  std::uint64_t timer_seq_ = 0;
  std::shared_ptr<Link> link_;
  Phase phase_ = Phase::connecting;
  network::Backoff backoff_;
  absl::Status refusal_hint_;  // an error frame that announced a refusal
  std::size_t rejoins_left_ = 0;
  std::uint64_t taken_ = 0;      // messages taken from this link (credit flow)
  bool writes_pending_ = false;  // outgoing_ may be written (ready, or flushing on close)
  std::size_t write_limit_ = limits::kDefaultMaxMessageBytes + ws_wire::kFrameOverhead;
  std::chrono::milliseconds idle_timeout_ = kDefaultIdleTimeout;
};

}  // namespace herald::ws_transport
