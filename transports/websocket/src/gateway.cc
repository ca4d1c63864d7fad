#include "herald/websocket/gateway.hpp"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "herald/internal/envelope.hpp"
#include "herald/internal/hub_access.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/receiver.hpp"
#include "herald/internal/text.hpp"
#include "wire.hpp"

namespace herald {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using internal::cat;
using internal::EnvelopePtr;
using namespace std::chrono_literals;

namespace {

constexpr auto kHardCloseAfter = 1000ms;  // a peer that does not take our close frame
constexpr std::size_t kMaxCoalescedBytes = 1u << 20;
using limits::kMaxChannelsPerConnection;

std::string_view text_of(const absl::Status& s) { return {s.message().data(), s.message().size()}; }

// Close reasons are at most 123 bytes (RFC 6455 5.5).
std::string reason(std::string_view text) {
  if (text.size() <= 123) return std::string(text);
  std::size_t n = 123;
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xc0) == 0x80) --n;  // whole UTF-8
  return std::string(text.substr(0, n));
}

void bump_max(std::atomic<std::size_t>& gauge, std::size_t value) {
  std::size_t seen = gauge.load(std::memory_order_relaxed);
  while (value > seen && !gauge.compare_exchange_weak(seen, value, std::memory_order_relaxed)) {
  }
}

class WsSession;

// Per I/O thread: the gateway it runs, and the sessions that got frames (or
// finished a write with more waiting) since its last flush. Their writes
// start once the thread has run everything that was ready — so the frames
// routed from all the input read meanwhile go out as one message each.
struct PendingFlush {
  const void* owner = nullptr;  // the WsGateway::State this thread runs
  std::vector<std::shared_ptr<WsSession>> sessions;
};
thread_local PendingFlush tl_pending;

}  // namespace

struct WsGateway::State : std::enable_shared_from_this<WsGateway::State> {
  State(std::shared_ptr<Hub> h, WsGatewayOptions o)
      : hub(std::move(h)), options(std::move(o)), acceptor(net::make_strand(ioc)) {}

  std::shared_ptr<Hub> hub;
  WsGatewayOptions options;
  net::io_context ioc;
  tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  int port = 0;
  std::string host;
  std::atomic<bool> stopping{false};
  std::mutex stop_mu;  // serializes stop()

  // Every accepted connection, and the ones attached under their socket id.
  mutable std::mutex mu;
  std::condition_variable all_gone;
  absl::flat_hash_map<const WsSession*, std::weak_ptr<WsSession>> sessions;
  internal::NameMap<std::weak_ptr<WsSession>> by_id;

  struct Counters {
    std::atomic<std::uint64_t> accepted{0}, refused{0}, frames_in{0}, messages_routed{0},
        frames_out{0}, writes{0}, frame_errors{0}, closed_protocol{0}, closed_unauthenticated{0},
        closed_slow_consumer{0}, dropped_slow_consumer{0}, dropped_closing{0}, closed_idle{0};
    std::atomic<std::size_t> connections{0}, write_queue_high_water{0};
  } counters;

  void do_accept();
  // An I/O thread: runs what is ready, then starts the writes it made due.
  void run_loop();
  void on_accept(beast::error_code ec, tcp::socket socket);
  void forget(const WsSession* session, std::string_view id);
};

namespace {

class WsSession final : public internal::Receiver, public std::enable_shared_from_this<WsSession> {
 public:
  WsSession(tcp::socket&& socket, std::shared_ptr<WsGateway::State> state)
      : state_(std::move(state)),
        ws_(std::move(socket)),
        hello_timer_(ws_.get_executor()),
        hard_close_timer_(ws_.get_executor()) {}

  // ---- Receiver (any thread)
  std::string_view id() const noexcept override { return id_; }
  Message profile() const override {
    std::lock_guard lock(mu_);
    return profile_;
  }
  void deliver(const EnvelopePtr& envelope) override {
    const internal::Envelope& e = *envelope;
    enqueue(Outgoing{envelope, {}}, e.body().bytes().size() + e.channel_or_empty().size() +
                                        e.event().size() + e.sender().size() + 16);
  }

  // ---- Gateway
  void start() {
    net::dispatch(ws_.get_executor(), [self = shared_from_this()] { self->read_request(); });
  }
  void stop_from_gateway() {
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->close_with(websocket::close_code::going_away, "hub stopping");
    });
  }
  // Another connection took over this one's socket id (same resume secret).
  void replaced() {
    detach();
    net::post(ws_.get_executor(), [self = shared_from_this()] {
      self->close_with(ws_wire::kCloseReplaced, "replaced by a new connection with the same id");
    });
  }
  bool resume_matches(std::string_view resume) const {
    // Constant time over the stored secret's length.
    if (resume.size() != resume_.size()) return false;
    unsigned char diff = 0;
    for (std::size_t i = 0; i < resume.size(); ++i) diff |= resume[i] ^ resume_[i];
    return diff == 0;
  }

 private:
  struct Outgoing {
    EnvelopePtr envelope;  // a message frame, or
    std::string bytes;     // an encoded control frame
    std::size_t size = 0;  // what it counts against the write queue's bound
  };
  enum class Phase { http, hello, ready, closing };

  WsGateway::State& state() { return *state_; }
  WsGateway::State::Counters& counters() { return state_->counters; }

  // ------------------------------------------------------------ handshake
  void read_request() {
    parser_.emplace();
    parser_->header_limit(8 * 1024);
    parser_->body_limit(0);
    beast::get_lowest_layer(ws_).expires_after(state().options.handshake_timeout);
    http::async_read(
        beast::get_lowest_layer(ws_), buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_request(ec); });
  }

  void on_request(beast::error_code ec) {
    if (ec) {
      counters().refused.fetch_add(1, std::memory_order_relaxed);
      if (ec == beast::error::timeout) counters().closed_idle.fetch_add(1);
      return finish();
    }
    const auto& req = parser_->get();
    const std::string_view target(req.target().data(), req.target().size());
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/") return refuse(http::status::not_found, "herald hub: no such path\n");
    if (!websocket::is_upgrade(req)) {
      return refuse(http::status::upgrade_required,
                    "herald hub: WebSocket only (native protocol on path /)\n");
    }
    if (state().stopping.load()) {
      return refuse(http::status::service_unavailable, "herald hub: stopping\n");
    }
    {
      std::lock_guard lock(state().mu);
      if (state().sessions.size() > state().options.max_connections) {
        return refuse(http::status::service_unavailable, "herald hub: too many connections\n");
      }
    }
    beast::get_lowest_layer(ws_).expires_never();
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = state().options.handshake_timeout;
    timeout.idle_timeout = state().options.idle_timeout;
    timeout.keep_alive_pings = true;
    ws_.set_option(timeout);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "herald-hub"); }));
    ws_.read_message_max(state().hub->options().max_message_bytes + ws_wire::kFrameOverhead);
    ws_.binary(true);
    ws_.auto_fragment(false);
    ws_.async_accept(req,
                     [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
  }

  void refuse(http::status status, std::string_view body) {
    counters().refused.fetch_add(1, std::memory_order_relaxed);
    auto res = std::make_shared<http::response<http::string_body>>(status, 11);
    res->set(http::field::server, "herald-hub");
    res->set(http::field::content_type, "text/plain");
    res->keep_alive(false);
    res->body() = std::string(body);
    res->prepare_payload();
    http::async_write(beast::get_lowest_layer(ws_), *res,
                      [self = shared_from_this(), res](beast::error_code, std::size_t) {
                        beast::error_code ignored;
                        beast::get_lowest_layer(self->ws_).socket().shutdown(
                            tcp::socket::shutdown_send, ignored);
                        self->finish();
                      });
  }

  void on_accept(beast::error_code ec) {
    if (ec) {
      counters().refused.fetch_add(1, std::memory_order_relaxed);
      return finish();
    }
    counters().accepted.fetch_add(1, std::memory_order_relaxed);
    parser_.reset();
    phase_ = Phase::hello;
    hello_timer_.expires_after(state().options.handshake_timeout);
    hello_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->phase_ != Phase::hello) return;
      self->counters().closed_idle.fetch_add(1, std::memory_order_relaxed);
      self->close_with(
          websocket::close_code::policy_error,
          cat("no hello within ", self->state().options.handshake_timeout.count(), " ms"));
    });
    read();
  }

  // ------------------------------------------------------------ reading
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_read(ec);
    });
  }

  void on_read(beast::error_code ec) {
    if (ec) {
      if (ec == websocket::error::message_too_big) {
        counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
      } else if (ec == beast::error::timeout) {
        counters().closed_idle.fetch_add(1, std::memory_order_relaxed);
      }
      return finish();
    }
    if (phase_ == Phase::closing) {  // closing: what still arrives is not acted on
      buffer_.consume(buffer_.size());
      return read();
    }
    if (!ws_.got_binary()) {
      counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
      buffer_.consume(buffer_.size());
      close_with(websocket::close_code::unknown_data,
                 "binary frames only (msgpack, see docs/PROTOCOL.md)");
      return read();
    }
    const auto data = buffer_.cdata();
    const std::string_view message(static_cast<const char*>(data.data()), data.size());
    ws_wire::FrameSplitter frames(message);
    while (!frames.done() && phase_ != Phase::closing) {
      absl::StatusOr<std::string_view> value = frames.next();
      if (!value.ok()) {
        counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
        close_with(websocket::close_code::bad_payload, text_of(value.status()));
        break;
      }
      counters().frames_in.fetch_add(1, std::memory_order_relaxed);
      handle(*value);
    }
    buffer_.consume(buffer_.size());
    read();
  }

  void refuse_frame(const ws_wire::Frame& frame, const absl::Status& status) {
    counters().frame_errors.fetch_add(1, std::memory_order_relaxed);
    std::string out;
    if (frame.has_req) {
      ws_wire::append_reply(out, frame.req, status);
    } else {
      ws_wire::append_error(out, status);
    }
    send_control(std::move(out));
  }

  void handle(std::string_view value) {
    ws_wire::Frame f;
    absl::Status parsed = ws_wire::parse_frame(value, f);
    if (phase_ == Phase::hello) {
      if (!parsed.ok() && f.op == ws_wire::Op::hello && f.has_version &&
          f.version != ws_wire::kVersion) {
        return refuse_hello(parsed, websocket::close_code::protocol_error);
      }
      if (!parsed.ok() || f.op != ws_wire::Op::hello) {
        counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
        return close_with(websocket::close_code::policy_error,
                          parsed.ok() ? "the first frame must be hello" : text_of(parsed));
      }
      return hello(f);
    }
    if (!session_valid()) return;
    if (!parsed.ok()) return refuse_frame(f, parsed);
    switch (f.op) {
      case ws_wire::Op::hello:
        counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
        return close_with(websocket::close_code::policy_error, "a second hello");
      case ws_wire::Op::join:
      case ws_wire::Op::leave: {
        if (f.op == ws_wire::Op::join && !joined_.contains(f.channel)) {
          if (joined_.size() >= kMaxChannelsPerConnection) {
            return refuse_frame(
                f, absl::ResourceExhaustedError(cat("a connection may be in at most ",
                                                    kMaxChannelsPerConnection, " channels")));
          }
          joined_.insert(std::string(f.channel));
        } else if (f.op == ws_wire::Op::leave) {
          joined_.erase(f.channel);
        }
        absl::Status s = f.op == ws_wire::Op::join ? internal::HubAccess::join(*state().hub, *this, f.channel, f.echo)
                                                   : internal::HubAccess::leave(*state().hub, *this, f.channel, f.echo);
        std::string out;
        ws_wire::append_reply(out, f.req, s);
        return send_control(std::move(out));
      }
      case ws_wire::Op::send:
      case ws_wire::Op::broadcast: {
        if (!body_fits(f, "body")) return;
        const auto kind = f.op == ws_wire::Op::send ? internal::EnvelopeKind::message
                                                    : internal::EnvelopeKind::broadcast;
        internal::HubAccess::route(*state().hub, internal::Envelope::make(kind, f.channel, f.event, id_,
                                                    ws_wire::message_of(f.body), f.echo));
        counters().messages_routed.fetch_add(1, std::memory_order_relaxed);
        return;
      }
      case ws_wire::Op::profile: {
        if (!body_fits(f, "profile")) return;
        {
          std::lock_guard lock(mu_);
          profile_ = ws_wire::message_of(f.body);
        }
        internal::HubAccess::update_profile(*state().hub, *this, f.echo);
        std::string out;
        ws_wire::append_reply(out, f.req, absl::OkStatus());
        return send_control(std::move(out));
      }
      case ws_wire::Op::members: {
        std::vector<Member> members = state().hub->members(f.channel);
        const std::size_t limit =
            state().hub->options().max_message_bytes + ws_wire::kFrameOverhead;
        std::size_t size = 16;
        for (const Member& m : members) size += m.id.size() + m.data.bytes().size() + 8;
        if (size > limit) {
          return refuse_frame(f, absl::ResourceExhaustedError(
                                     cat("the members of \"", f.channel, "\" (", members.size(),
                                         ") with their profiles take about ", size,
                                         " bytes, over the message limit of ", limit)));
        }
        std::string out;
        ws_wire::append_members_reply(out, f.req, members);
        return send_control(std::move(out));
      }
      default:
        return refuse_frame(f, absl::InvalidArgumentError(cat("op ", static_cast<int>(f.op),
                                                              " is not accepted from a client")));
    }
  }

  bool body_fits(const ws_wire::Frame& f, std::string_view what) {
    const std::size_t limit = state().hub->options().max_message_bytes;
    if (f.body.size() <= limit) return true;
    refuse_frame(f, absl::ResourceExhaustedError(
                        cat(what, " of ", f.body.size(), " bytes exceeds the limit of ", limit)));
    return false;
  }

  // Sessions are checked again before every operation (a token may expire).
  bool session_valid() {
    const HubOptions& options = state().hub->options();
    if (!options.enforce_session || options.verify_session(token_)) return true;
    reject_session("herald hub: the session token is no longer valid");
    return false;
  }

  void reject_session(std::string_view why) {
    counters().closed_unauthenticated.fetch_add(1, std::memory_order_relaxed);
    std::string out;
    ws_wire::append_error(out, absl::UnauthenticatedError(std::string(why)));
    send_control(std::move(out), /*force=*/true);
    close_with(ws_wire::kCloseUnauthenticated, why);
  }

  // A hello that cannot be accepted: an error frame saying why, then the close.
  void refuse_hello(const absl::Status& why, std::uint16_t code) {
    hello_timer_.cancel();
    counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
    std::string out;
    ws_wire::append_error(out, why);
    send_control(std::move(out), /*force=*/true);
    close_with(code, text_of(why));
  }

  void hello(const ws_wire::Frame& f) {
    hello_timer_.cancel();
    if (!ws_wire::valid_socket_id(f.id) || f.resume.size() < ws_wire::kMinResumeBytes ||
        f.resume.size() > ws_wire::kMaxResumeBytes) {
      return refuse_hello(absl::InvalidArgumentError(
                              "hello: id must be 1-64 bytes of [A-Za-z0-9_-], resume 16-64 bytes"),
                          websocket::close_code::policy_error);
    }
    if (f.body.size() > state().hub->options().max_message_bytes) {
      return refuse_hello(absl::ResourceExhaustedError("hello: profile over the message limit"),
                          websocket::close_code::policy_error);
    }
    id_ = std::string(f.id);
    resume_ = std::string(f.resume);
    token_ = std::string(f.token);
    {
      std::lock_guard lock(mu_);
      profile_ = ws_wire::message_of(f.body);
      // The welcome goes first, ahead of anything routed to us once attached.
      std::string out;
      ws_wire::append_welcome(out, id_, state().hub->options().max_message_bytes,
                              static_cast<std::uint64_t>(state().options.idle_timeout.count() / 2));
      queue_.push_back(Outgoing{{}, std::move(out)});
    }
    absl::Status attached = internal::HubAccess::attach(*state().hub, shared_from_this(), token_);
    if (attached.code() == absl::StatusCode::kAlreadyExists) {
      std::shared_ptr<WsSession> old;
      {
        std::lock_guard lock(state().mu);
        auto it = state().by_id.find(id_);
        if (it != state().by_id.end()) old = it->second.lock();
      }
      if (old != nullptr && old.get() != this && old->resume_matches(resume_)) {
        old->replaced();
        attached = internal::HubAccess::attach(*state().hub, shared_from_this(), token_);
      }
    }
    if (!attached.ok()) {
      {
        std::lock_guard lock(mu_);
        queue_.clear();
      }
      std::string out;
      ws_wire::append_error(out, attached);
      if (attached.code() == absl::StatusCode::kUnauthenticated) {
        counters().closed_unauthenticated.fetch_add(1, std::memory_order_relaxed);
        send_control(std::move(out), /*force=*/true);
        return close_with(ws_wire::kCloseUnauthenticated, text_of(attached));
      }
      counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
      send_control(std::move(out), /*force=*/true);
      return close_with(ws_wire::kCloseIdInUse, "socket id in use by another connection");
    }
    attached_.store(true);
    {
      std::lock_guard lock(state().mu);
      state().by_id[id_] = weak_from_this();
    }
    counters().connections.fetch_add(1, std::memory_order_relaxed);
    phase_ = Phase::ready;
    start_write_if_idle();
  }

  // ------------------------------------------------------------ writing
  // Any thread. `force`: past the slow-consumer bound too (a last word before closing).
  void enqueue(Outgoing out, std::size_t bytes, bool force = false) {
    bool start = false;
    std::size_t dropped = 0;
    {
      std::lock_guard lock(mu_);
      if (dead_) return;
      const auto& o = state().options;
      if (!force && (queue_.size() + 1 > o.max_write_queue_frames ||
                     queued_bytes_ + bytes > o.max_write_queue_bytes)) {
        dead_ = true;
        dropped = queue_.size() + 1;
        queue_.clear();
        queued_bytes_ = 0;
      } else {
        out.size = bytes;
        queue_.push_back(std::move(out));
        queued_bytes_ += bytes;
        bump_max(counters().write_queue_high_water, queue_.size());
        if (!writing_ && write_ready_) {
          writing_ = true;
          start = true;
        }
      }
    }
    if (dropped > 0) {
      counters().closed_slow_consumer.fetch_add(1, std::memory_order_relaxed);
      counters().dropped_slow_consumer.fetch_add(dropped, std::memory_order_relaxed);
      // Detached on its own strand: never re-entrantly on the delivering
      // thread (a stall of many members would recurse through Hub::detach).
      net::post(ws_.get_executor(), [self = shared_from_this()] {
        self->close_with(
            ws_wire::kCloseSlowConsumer,
            cat("slow consumer: more than ", self->state().options.max_write_queue_frames,
                " frames or ", self->state().options.max_write_queue_bytes, " bytes waiting"));
      });
      return;
    }
    if (start) start_write_later();
  }

 public:
  // On one of this gateway's I/O threads: after what is ready has run;
  // anywhere else: now (posted to the strand).
  void start_write_later() {
    if (tl_pending.owner == state_.get()) {
      tl_pending.sessions.push_back(shared_from_this());
    } else {
      start_write_now();
    }
  }
  void start_write_now() {
    net::post(ws_.get_executor(), [self = shared_from_this()] { self->write_next(); });
  }

 private:
  void send_control(std::string bytes, bool force = false) {
    const std::size_t n = bytes.size();
    enqueue(Outgoing{{}, std::move(bytes)}, n, force);
  }

  // Strand: after hello, writing may begin.
  void start_write_if_idle() {
    bool start = false;
    {
      std::lock_guard lock(mu_);
      write_ready_ = true;
      if (!writing_ && !queue_.empty()) start = writing_ = true;
    }
    if (start) write_next();
  }

  // Strand: one write in flight; everything waiting goes out as one message.
  void write_next() {
    {
      std::lock_guard lock(mu_);
      batch_.swap(queue_);
      queue_.clear();
      queued_bytes_ = 0;
      if (batch_.empty()) writing_ = false;
    }
    if (batch_.empty()) {
      if (close_pending_) send_close();
      return;
    }
    out_.clear();
    // A coalesced message stays within what a client must accept (the body
    // limit plus room for names, see docs/PROTOCOL.md), and within 1 MiB.
    const std::size_t limit = std::min(
        kMaxCoalescedBytes, state().hub->options().max_message_bytes + ws_wire::kFrameOverhead);
    std::size_t frames = 0;
    for (Outgoing& o : batch_) {
      const std::size_t before = out_.size();
      if (o.envelope) {
        ws_wire::append_message(out_, *o.envelope);
      } else {
        out_.append(o.bytes);
      }
      if (frames > 0 && out_.size() > limit) {
        out_.resize(before);  // this frame and the rest go back to the front of the queue
        std::lock_guard lock(mu_);
        std::vector<Outgoing> rest(std::make_move_iterator(batch_.begin() + frames),
                                   std::make_move_iterator(batch_.end()));
        for (const Outgoing& r : rest) queued_bytes_ += r.size;
        for (auto& q : queue_) rest.push_back(std::move(q));
        queue_.swap(rest);
        break;
      }
      ++frames;
    }
    batch_.clear();
    counters().frames_out.fetch_add(frames, std::memory_order_relaxed);
    counters().writes.fetch_add(1, std::memory_order_relaxed);
    ws_.async_write(net::buffer(out_),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      if (ec) {
                        std::lock_guard lock(self->mu_);
                        self->writing_ = false;
                        self->dead_ = true;
                        return;
                      }
                      bool more;
                      {
                        std::lock_guard lock(self->mu_);
                        more = !self->queue_.empty();
                      }
                      // More frames arrived meanwhile: after the ready input too.
                      if (more && !self->close_pending_) return self->start_write_later();
                      self->write_next();
                    });
  }

  // ------------------------------------------------------------ closing
  // Strand. Detaches (nothing more is routed here), lets what is already
  // queued (an error saying why, messages routed here before) go out — for at
  // most `stop_grace` — then sends the close frame; a peer that does not
  // complete the close handshake within a second has its TCP connection
  // dropped. A slow consumer's queue is already gone: it gets one second.
  void close_with(std::uint16_t code, std::string_view why) {
    if (phase_ == Phase::closing) return;
    if (phase_ == Phase::http) return finish();
    phase_ = Phase::closing;
    hello_timer_.cancel();
    detach();
    arm_hard_close(code == ws_wire::kCloseSlowConsumer ? kHardCloseAfter
                                                       : state().options.stop_grace);
    close_reason_ = websocket::close_reason(static_cast<websocket::close_code>(code), reason(why));
    close_pending_ = true;
    bool idle;
    {
      std::lock_guard lock(mu_);
      dead_ = true;  // what is queued still goes out (a slow consumer's queue is gone already)
      write_ready_ = true;
      idle = !writing_;
      if (idle) writing_ = true;
    }
    if (idle) write_next();  // sends what is left, then the close frame
  }

  void send_close() {
    close_pending_ = false;
    arm_hard_close(kHardCloseAfter);
    ws_.async_close(close_reason_, [self = shared_from_this()](beast::error_code) {});
  }

  void arm_hard_close(std::chrono::milliseconds after) {
    hard_close_timer_.expires_after(after);
    hard_close_timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::error_code ignored;
      beast::get_lowest_layer(self->ws_).socket().close(ignored);
    });
  }

 public:
  // After WsGateway::stop() gave up waiting (its threads are stopped).
  void abandon() {
    discard_queue();
    detach();
    beast::error_code ignored;
    hello_timer_.cancel();
    hard_close_timer_.cancel();
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  void detach() {
    if (attached_.exchange(false)) {
      internal::HubAccess::detach(*state().hub, *this);
      counters().connections.fetch_sub(1, std::memory_order_relaxed);
    }
  }

  // Strand: the connection is over (read failed or closed).
  void finish() {
    phase_ = Phase::closing;
    discard_queue();
    detach();
    hello_timer_.cancel();
    hard_close_timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
    // The session object may live on a while (a route snapshot): keep nothing big.
    buffer_ = beast::flat_buffer();
    std::string().swap(out_);
    std::vector<Outgoing>().swap(batch_);
    joined_ = {};
    state().forget(this, id_);
  }

  // Any thread: nothing more is queued; what was waiting is dropped and counted.
  void discard_queue() {
    std::vector<Outgoing> dropped;
    {
      std::lock_guard lock(mu_);
      dead_ = true;
      dropped.swap(queue_);
      queued_bytes_ = 0;
    }
    std::size_t messages = 0;
    for (const Outgoing& o : dropped) messages += o.envelope ? 1 : 0;
    if (messages > 0) counters().dropped_closing.fetch_add(messages, std::memory_order_relaxed);
  }

  // state_ first: destroyed last. A session can outlive the WsGateway (a
  // Router route-cache snapshot may hold the last reference); its stream and
  // timers must go while the State's io_context is still alive.
  std::shared_ptr<WsGateway::State> state_;
  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::empty_body>> parser_;
  net::steady_timer hello_timer_;
  net::steady_timer hard_close_timer_;
  Phase phase_ = Phase::http;  // strand only
  std::string id_;             // set once, before attach; read by routing threads after
  std::string resume_;
  std::string token_;
  std::atomic<bool> attached_{false};
  websocket::close_reason close_reason_;
  bool close_pending_ = false;   // strand: send the close frame once the queue is written
  internal::NameSet joined_;     // channels joined (strand), for the per-connection limit
  std::string out_;              // the message being written (strand)
  std::vector<Outgoing> batch_;  // strand

  mutable std::mutex mu_;  // guards the fields below
  Message profile_;
  std::vector<Outgoing> queue_;
  std::size_t queued_bytes_ = 0;
  bool writing_ = false;
  bool write_ready_ = false;  // hello done: writes may start
  bool dead_ = false;         // closing: nothing more is queued
};

}  // namespace

void WsGateway::State::run_loop() {
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

void WsGateway::State::do_accept() {
  acceptor.async_accept(net::make_strand(ioc),
                        [self = shared_from_this()](beast::error_code ec, tcp::socket socket) {
                          self->on_accept(ec, std::move(socket));
                        });
}

void WsGateway::State::on_accept(beast::error_code ec, tcp::socket socket) {
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

void WsGateway::State::forget(const WsSession* session, std::string_view id) {
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

WsGateway::WsGateway(std::shared_ptr<State> state) : state_(std::move(state)) {}

WsGateway::~WsGateway() { stop(); }

absl::StatusOr<std::unique_ptr<WsGateway>> WsGateway::start(std::shared_ptr<Hub> hub,
                                                            WsGatewayOptions options) {
  if (hub == nullptr) return absl::InvalidArgumentError("herald hub: no Hub given");
  if (options.port < 0 || options.port > 65535) {
    return absl::InvalidArgumentError(cat("herald hub: port ", options.port, " is not 0-65535"));
  }
  if (options.threads < 1) return absl::InvalidArgumentError("herald hub: threads must be >= 1");
  if (options.max_write_queue_frames == 0 || options.max_write_queue_bytes == 0 ||
      options.max_connections == 0 || options.idle_timeout <= 0ms ||
      options.handshake_timeout <= 0ms) {
    return absl::InvalidArgumentError(
        "herald hub: limits and timeouts must be positive (write queue, connections, timeouts)");
  }
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(options.host, ec);
  if (ec) {
    return absl::InvalidArgumentError(
        cat("herald hub: \"", options.host, "\" is not an IP address (", ec.message(), ")"));
  }
  auto state = std::make_shared<State>(std::move(hub), options);
  const tcp::endpoint endpoint(address, static_cast<unsigned short>(options.port));
  auto fail = [&](std::string_view what) {
    return absl::UnavailableError(
        cat("herald hub: cannot ", what, " ", options.host, ":", options.port, ": ", ec.message()));
  };
  state->acceptor.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  state->acceptor.set_option(net::socket_base::reuse_address(true), ec);
  state->acceptor.bind(endpoint, ec);
  if (ec) return fail("bind");
  state->acceptor.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  state->port = state->acceptor.local_endpoint().port();
  state->host = options.host;
  state->do_accept();
  for (int i = 0; i < options.threads; ++i) {
    state->threads.emplace_back([s = state.get()] { s->run_loop(); });
  }
  return std::unique_ptr<WsGateway>(new WsGateway(std::move(state)));
}

int WsGateway::port() const noexcept { return state_->port; }

std::string WsGateway::url() const {
  const bool v6 = state_->host.find(':') != std::string::npos;
  return v6 ? cat("ws://[", state_->host, "]:", state_->port)
            : cat("ws://", state_->host, ":", state_->port);
}

const std::shared_ptr<Hub>& WsGateway::hub() const noexcept { return state_->hub; }

WsGatewayStats WsGateway::stats() const {
  const auto& c = state_->counters;
  WsGatewayStats s;
  s.accepted = c.accepted.load();
  s.refused = c.refused.load();
  s.connections = c.connections.load();
  s.frames_in = c.frames_in.load();
  s.messages_routed = c.messages_routed.load();
  s.frames_out = c.frames_out.load();
  s.writes = c.writes.load();
  s.frame_errors = c.frame_errors.load();
  s.closed_protocol = c.closed_protocol.load();
  s.closed_unauthenticated = c.closed_unauthenticated.load();
  s.closed_slow_consumer = c.closed_slow_consumer.load();
  s.dropped_slow_consumer = c.dropped_slow_consumer.load();
  s.dropped_closing = c.dropped_closing.load();
  s.closed_idle = c.closed_idle.load();
  s.write_queue_high_water = c.write_queue_high_water.load();
  return s;
}

void WsGateway::stop() {
  if (tl_pending.owner == state_.get()) {
    // On one of our own I/O threads (a mem:// listener, say): it cannot join
    // itself. Stop from another thread; this call returns at once.
    std::thread([state = state_] { WsGateway(state).stop(); }).detach();
    return;
  }
  State& s = *state_;
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
    s.all_gone.wait_for(lock, s.options.stop_grace + kHardCloseAfter + 100ms,
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
  // Let the aborted operations finish, so that nothing keeps the state alive.
  s.ioc.restart();
  s.ioc.run_for(std::chrono::milliseconds(200));
}

}  // namespace herald
