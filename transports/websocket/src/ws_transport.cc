#include "ws_transport.hpp"

#include <algorithm>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "herald/hub.hpp"
#include "herald/network/backoff.hpp"
#include "herald/network/io_thread.hpp"
#include "herald/network/pending_request.hpp"
#include "herald/internal/text.hpp"
#include "wire.hpp"

namespace herald::ws_transport {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using internal::cat;
using network::PendingRequest;
using namespace std::chrono_literals;

// Sends waiting to be written, at most; past it a sender (not the I/O thread)
// waits for the writer.
constexpr std::size_t kMaxPendingBytes = 8u << 20;
constexpr auto kFlushOnClose = 1000ms;
// Beast masks a client's message through a buffer of this size.
constexpr std::size_t kWriteBufferBytes = 64 * 1024;
// The hub coalesces what waits for a client into messages of about 1 MiB plus
// the frame that crosses that size: room for it on top of one frame's limit.
constexpr std::size_t kCoalescingSlack = 1u << 20;
// A buffer grown past this by a burst is given back once written.
constexpr std::size_t kKeepCapacity = 1u << 20;
using limits::kDefaultMaxMessageBytes;
constexpr auto kDefaultIdleTimeout = 30000ms;

std::size_t read_limit(std::size_t max_message_bytes) {
  return max_message_bytes + ws_wire::kFrameOverhead + kCoalescingSlack;
}

// 32 hex characters from the system's random source.
std::string random_secret() {
  std::random_device rd;
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 4; ++i) {
    std::uint32_t v = rd();
    for (int k = 0; k < 8; ++k, v >>= 4) out.push_back(kHex[v & 15]);
  }
  return out;
}

absl::Status status_of(std::uint64_t code, std::string_view message) {
  if (code == 0 || code > static_cast<std::uint64_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(cat("herald ws: the hub answered with code ", code, ": ", message));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), std::string(message));
}

// A request sent to the hub, waiting for its reply.
struct Awaiting {
  enum class Kind { request, members, rejoin } kind = Kind::request;
  std::shared_ptr<PendingRequest> pending;  // null: nobody waits (the I/O thread's own request)
};

// One WebSocket connection (or an attempt at one). Its handlers hold it, so
// that the buffers they use outlive a loss; after one the Core starts over
// with a new Link and ignores what the old one's handlers report.
struct Link {
  explicit Link(net::io_context& ioc) : resolver(ioc), ws(ioc) {}
  tcp::resolver resolver;
  websocket::stream<beast::tcp_stream> ws;
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

// Everything the I/O thread touches. Shared by the transport and the thread,
// so that the thread may outlive a transport destroyed from a listener.
class Core : public std::enable_shared_from_this<Core> {
 public:
  Core(internal::Url url, Options options, std::weak_ptr<internal::TransportEvents> events)
      : url_(std::move(url)),
        options_(std::move(options)),
        events_(std::move(events)),
        port_(url_.port < 0 ? 80 : url_.port),
        // A bracketed IPv6 literal is resolved without its brackets.
        resolve_host_(url_.host.size() > 2 && url_.host.front() == '['
                          ? url_.host.substr(1, url_.host.size() - 2)
                          : url_.host),
        host_header_(cat(url_.host, ":", port_)),
        target_(url_.path.empty() ? std::string("/") : url_.path),
        // Proves to the hub that a reconnecting hello with our (public) socket
        // id is ours: the hub then replaces a connection it has not yet
        // noticed dead instead of refusing the id as taken.
        resume_(random_secret()),
        backoff_(options_.reconnection_delay) {
    if (auto e = events_.lock()) socket_id_ = std::string(e->id());
  }

  // Lifecycle: see IoThread. A listener's open() starts a new session once
  // the current one has ended; a close() writes what was sent (at most
  // kFlushOnClose) and a close frame before the thread ends.
  void start() { io_thread_.start(shared_from_this()); }
  void stop(bool detach_if_self) { io_thread_.stop(detach_if_self); }
  bool on_io_thread() const { return io_thread_.on_io_thread(); }

  absl::Status publish(const internal::EnvelopePtr& envelope) {
    std::unique_lock lock(mu_);
    if (!ready_) return not_connected();
    if (pending_.size() >= kMaxPendingBytes && !on_io_thread()) {
      ++waiters_;
      drained_cv_.wait(lock, [&] {
        return !ready_ || io_thread_.stop_requested() || pending_.size() < kMaxPendingBytes;
      });
      --waiters_;
      if (!ready_ || io_thread_.stop_requested()) return not_connected();
    }
    ws_wire::append_publish(pending_, *envelope);
    ends_.push_back(pending_.size());
    if (!kick_) {
      kick_ = true;
      if (ioc_ != nullptr) net::post(*ioc_, [this] { start_write(); });
    }
    return absl::OkStatus();
  }

  // join / leave / profile / members. From the I/O thread: sent in order with
  // everything else, without waiting. Requests made while the connection is
  // being (re)established go out once it is.
  absl::Status request(ws_wire::Op op, std::string_view channel, bool echo, const Message& profile,
                       std::vector<Member>* members_out = nullptr) {
    const bool inline_call = on_io_thread();
    std::shared_ptr<PendingRequest> pending;
    if (!inline_call) pending = std::make_shared<PendingRequest>();
    {
      std::lock_guard lock(mu_);
      if (!accepting_) {
        return refusal_.ok() ? absl::FailedPreconditionError("herald ws: the connection is closed")
                             : refusal_;
      }
      const std::uint64_t req = next_req_++;
      awaiting_[req] = Awaiting{
          op == ws_wire::Op::members ? Awaiting::Kind::members : Awaiting::Kind::request, pending};
      switch (op) {
        case ws_wire::Op::profile:
          ws_wire::append_profile(pending_, req, echo, profile);
          break;
        case ws_wire::Op::members:
          ws_wire::append_members_request(pending_, req, channel);
          break;
        default:
          ws_wire::append_request(pending_, op, req, channel, echo);
          break;
      }
      ends_.push_back(pending_.size());
      kick_ = true;
      // (Also resumes reading if it was held back: the reply must get through.)
      if (ioc_ != nullptr) net::post(*ioc_, [this] { service(); });
    }
    if (inline_call) return absl::OkStatus();  // takes effect in order, never a wait
    if (!pending->wait(options_.timeout)) {
      return absl::DeadlineExceededError(cat("herald ws: the hub at ", url_.text,
                                             " did not answer within ", options_.timeout.count(),
                                             " ms"));
    }
    return pending->take(members_out);
  }

  std::size_t max_message_bytes() const { return max_message_bytes_.load(); }

  void resume_input() {
    std::lock_guard lock(mu_);
    if (ioc_ != nullptr) net::post(*ioc_, [this] { resume_reads(); });
  }

  void add_stats(Stats& stats) const {
    stats.dropped_malformed += malformed_.load(std::memory_order_relaxed);
    // Sent while connected, still waiting to be written when the hub refused
    // the connection: no connection will take them.
    stats.dropped_unavailable += dropped_sends_.load(std::memory_order_relaxed);
  }

 private:
  enum class Phase { connecting, hello, rejoining, ready, backoff, closing, refused, done };

  absl::Status not_connected() const {
    return absl::UnavailableError(cat("herald ws: not connected to the hub at ", url_.text));
  }

  // stop(), on the calling thread: requests are refused from now on, the
  // session shuts down, and senders waiting for room stop waiting.
  void wake_for_stop() {
    {
      std::lock_guard lock(mu_);
      accepting_ = false;
      if (ioc_ != nullptr) net::post(*ioc_, [this] { begin_shutdown(); });
    }
    drained_cv_.notify_all();
  }

  // ---------------------------------------------------------------- I/O thread

  void run() {
    internal::t_on_transport_thread = true;
    do {
      session();
    } while (io_thread_.take_restart() && !io_thread_.stop_requested());
  }

  // One open() .. close(): connects, reconnects as needed, until stopped or refused.
  void session() {
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
      accepting_ = false;
      ready_ = false;
      kick_ = false;
      fail_awaiting_locked(absl::FailedPreconditionError("herald ws: the connection is closed"));
      pending_.clear();
      ends_.clear();
    }
    clear_backlog();
    drained_cv_.notify_all();
    io_ = nullptr;
    ioc.reset();  // handlers never run are destroyed here, with the Links they hold
  }

  void arm(std::chrono::milliseconds delay, std::function<void()> then) {
    const std::uint64_t seq = ++timer_seq_;
    timer_->expires_after(delay);
    timer_->async_wait([this, seq, then = std::move(then)](beast::error_code ec) {
      if (ec || seq != timer_seq_) return;
      then();
    });
  }
  void disarm() {
    ++timer_seq_;
    if (timer_) timer_->cancel();
  }

  void connect() {
    phase_ = Phase::connecting;
    refusal_hint_ = absl::OkStatus();
    rejoins_left_ = 0;
    writes_pending_ = false;
    auto link = std::make_shared<Link>(*io_);
    link_ = link;
    // One deadline for everything up to ready: TCP, WebSocket handshake,
    // hello, rejoins.
    arm(options_.timeout, [this] {
      lose(cat("no answer from the hub at ", url_.text, " within ", options_.timeout.count(),
               " ms"));
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
                handshake(link);
              });
        });
  }

  void handshake(const std::shared_ptr<Link>& link) {
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
          ws_wire::append_hello(link->control, socket_id_, resume_, options_.session, profile);
          start_read();
          start_write();
        });
  }

  websocket::stream_base::timeout timeouts(bool idle) const {
    websocket::stream_base::timeout t{};
    t.handshake_timeout = options_.timeout;  // also bounds a close handshake
    t.idle_timeout = idle ? idle_timeout_ : websocket::stream_base::none();
    // Pings after half the idle time without a frame; the hub's pong (or any
    // frame) keeps the connection; nothing for the other half: it is lost.
    t.keep_alive_pings = idle;
    return t;
  }

  // ------------------------------------------------------------ writing

  // Runs on the I/O thread for what other threads queued.
  void service() {
    start_write();
    if (link_ && link_->read_paused && has_waiters()) resume_reads();
  }

  // One write in flight. What waits goes out as one WebSocket message: the
  // hello and rejoins first, then the pending sends (once ready) — at most
  // what the hub takes in one message, in whole frames.
  void start_write() {
    const std::shared_ptr<Link> link = link_;
    if (!link || !link->open || link->writing_now) return;
    if (!link->control.empty()) {
      link->writing.swap(link->control);
    } else if (backlog_.empty()) {
      bool notify = false;
      {
        std::lock_guard lock(mu_);
        if (!writes_pending_ || pending_.empty()) {
          kick_ = false;
          return;
        }
        if (pending_.size() <= write_limit_) {
          link->writing.swap(pending_);
          pending_.clear();  // (keeps the capacity of the buffer written last)
          ends_.clear();
        } else {
          // More than one message: it goes out from the backlog, one piece
          // per write, and senders may fill pending_ meanwhile.
          backlog_.swap(pending_);
          backlog_ends_.swap(ends_);
          pending_.clear();
          ends_.clear();
        }
        notify = waiters_ > 0;
      }
      if (notify) drained_cv_.notify_all();
    }
    if (!backlog_.empty() && link->writing.empty()) take_from_backlog(link->writing);
    link->writing_now = true;
    link->ws.async_write(net::buffer(link->writing),
                         [this, link](beast::error_code ec, std::size_t) { on_write(link, ec); });
  }

  void take_from_backlog(std::string& out) {
    const auto first = backlog_ends_.begin() + static_cast<std::ptrdiff_t>(backlog_next_);
    auto it = std::upper_bound(first, backlog_ends_.end(), backlog_offset_ + write_limit_);
    if (it == first) ++it;  // one frame over the limit goes alone (the hub refuses it)
    const std::size_t cut = *(it - 1);
    out.assign(backlog_, backlog_offset_, cut - backlog_offset_);
    backlog_offset_ = cut;
    backlog_next_ = static_cast<std::size_t>(it - backlog_ends_.begin());
    if (backlog_next_ == backlog_ends_.size()) clear_backlog();
  }

  void clear_backlog() {
    if (backlog_.capacity() > kKeepCapacity) {
      std::string().swap(backlog_);
    } else {
      backlog_.clear();
    }
    backlog_ends_.clear();
    backlog_offset_ = 0;
    backlog_next_ = 0;
  }

  void on_write(const std::shared_ptr<Link>& link, beast::error_code ec) {
    link->writing_now = false;
    if (link != link_) return;
    if (ec) return ended(ec);
    if (link->writing.capacity() > kKeepCapacity) {
      std::string().swap(link->writing);
    } else {
      link->writing.clear();
    }
    if (phase_ == Phase::closing) return continue_close();
    start_write();
  }

  // ------------------------------------------------------------ reading

  void start_read() {
    const std::shared_ptr<Link> link = link_;
    if (!link || !link->open || link->reading) return;
    link->reading = true;
    link->read_paused = false;
    link->ws.async_read(link->in,
                        [this, link](beast::error_code ec, std::size_t) { on_read(link, ec); });
  }

  void on_read(const std::shared_ptr<Link>& link, beast::error_code ec) {
    link->reading = false;
    if (link != link_) return;
    if (ec) return ended(ec);
    link->in_offset = 0;
    if (!link->ws.got_binary()) {
      malformed_.fetch_add(1, std::memory_order_relaxed);  // the hub sends binary only
      link->in.consume(link->in.size());
    }
    continue_input(link);
  }

  // Handles what is left of the message read last, then reads on — unless
  // the connection's queued inbox is full: then the rest stays where it is
  // (and further input in the socket: TCP pushes back on the hub) until
  // resume_input(). Meanwhile no pong is read, so the idle timeout is off.
  void continue_input(const std::shared_ptr<Link>& link) {
    const auto data = link->in.cdata();
    const std::string_view message(static_cast<const char*>(data.data()), data.size());
    const bool held_back = handle_message(message, link->in_offset);
    if (link != link_) return;  // lost or refused meanwhile
    if (held_back || should_pause()) {
      link->read_paused = true;
      link->ws.set_option(timeouts(/*idle=*/false));
      return;
    }
    link->in.consume(link->in.size());
    link->in_offset = 0;
    if (link->in.capacity() > kKeepCapacity) link->in.shrink_to_fit();
    if (phase_ == Phase::closing) return;  // a closing stream's own close does the reading
    start_read();
  }

  void resume_reads() {
    const std::shared_ptr<Link> link = link_;
    if (!link || !link->read_paused || phase_ == Phase::closing) return;
    link->read_paused = false;
    link->ws.set_option(timeouts(/*idle=*/true));
    continue_input(link);
  }

  bool has_waiters() {
    std::lock_guard lock(mu_);
    for (const auto& [req, awaiting] : awaiting_) {
      if (awaiting.pending) return true;
    }
    return false;
  }

  bool should_pause(internal::TransportEvents* events) {
    if (phase_ != Phase::ready || events == nullptr || events->ready_for_more()) return false;
    // A reply somebody waits for comes behind the data: keep reading (the
    // inbox takes the surplus as overfill) rather than stall a join.
    return !has_waiters();
  }
  bool should_pause() { return should_pause(events_.lock().get()); }

  // Handles the frames of `message` from byte `offset` on. True when held
  // back before a message frame because the inbox is full (`offset` then
  // says where to continue).
  bool handle_message(std::string_view message, std::size_t& offset) {
    auto events = events_.lock();  // keeps the connection alive while its listeners run
    const std::shared_ptr<Link> link = link_;
    ws_wire::FrameSplitter frames(message.substr(offset));
    while (!frames.done()) {
      absl::StatusOr<std::string_view> value = frames.next();
      if (!value.ok()) {  // the rest of the message cannot be framed
        malformed_.fetch_add(1, std::memory_order_relaxed);
        offset = message.size();
        return false;
      }
      ws_wire::Frame frame;
      if (!ws_wire::parse_frame(*value, frame).ok()) {
        malformed_.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      if (frame.op == ws_wire::Op::message && should_pause(events.get())) {
        offset = static_cast<std::size_t>(value->data() - message.data());
        return true;
      }
      handle_frame(frame, events.get());
      if (link != link_) return false;  // lost or refused
    }
    offset = message.size();
    return false;
  }

  void handle_frame(const ws_wire::Frame& f, internal::TransportEvents* events) {
    switch (f.op) {
      case ws_wire::Op::welcome:
        if (phase_ != Phase::hello) break;
        return welcome(f);
      case ws_wire::Op::reply:
        return reply(f, events);
      case ws_wire::Op::error: {
        absl::Status status = status_of(f.code, f.error);
        // Refusals are followed by a close (4001 / 4009; a refused hello:
        // 1002 / 1008), which reports them.
        if (absl::IsUnauthenticated(status) || absl::IsAlreadyExists(status) ||
            phase_ == Phase::hello) {
          refusal_hint_ = status;
          return;
        }
        if (events) events->transport_error(status);
        return;
      }
      case ws_wire::Op::message: {
        if (phase_ == Phase::hello) break;
        if (events) events->deliver(ws_wire::envelope_of(f));
        return;
      }
      default:
        break;
    }
    malformed_.fetch_add(1, std::memory_order_relaxed);
  }

  void welcome(const ws_wire::Frame& f) {
    const std::size_t max = f.max_message_bytes > 0 ? static_cast<std::size_t>(f.max_message_bytes)
                                                    : kDefaultMaxMessageBytes;
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
        const std::uint64_t req = next_req_++;
        awaiting_[req] = Awaiting{Awaiting::Kind::rejoin, nullptr};
        ws_wire::append_request(link_->control, ws_wire::Op::join, req, c.channel, c.echo);
      }
    }
    rejoins_left_ = channels.size();
    start_write();
  }

  void reply(const ws_wire::Frame& f, internal::TransportEvents* events) {
    Awaiting awaiting;
    {
      std::lock_guard lock(mu_);
      auto it = awaiting_.find(f.req);
      if (it == awaiting_.end()) return;  // its requester gave up (the connection was lost)
      awaiting = std::move(it->second);
      awaiting_.erase(it);
    }
    absl::Status status = f.code == 0 ? absl::OkStatus() : status_of(f.code, f.error);
    switch (awaiting.kind) {
      case Awaiting::Kind::rejoin:
        if (!status.ok() && events) events->transport_error(status);
        if (rejoins_left_ > 0 && --rejoins_left_ == 0 && phase_ == Phase::rejoining) {
          become_ready();
        }
        return;
      case Awaiting::Kind::request:
        if (awaiting.pending) {
          awaiting.pending->finish(std::move(status));
        } else if (!status.ok() && events) {
          events->transport_error(status);
        }
        return;
      case Awaiting::Kind::members: {
        std::vector<Member> members;
        if (status.ok() && !f.members.empty()) {
          absl::StatusOr<std::vector<Member>> decoded = ws_wire::decode_members(f.members);
          if (decoded.ok()) {
            members = *std::move(decoded);
          } else {
            malformed_.fetch_add(1, std::memory_order_relaxed);
            status = decoded.status();
          }
        }
        if (awaiting.pending) awaiting.pending->finish(std::move(status), std::move(members));
        return;
      }
    }
  }

  // Welcomed and rejoined: what was sent meanwhile goes out, then on_connect.
  void become_ready() {
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
  void ended(beast::error_code ec) {
    if (phase_ == Phase::closing) return finish();
    std::uint16_t code = 0;
    std::string why;
    if (ec == websocket::error::closed) {
      const websocket::close_reason& r = link_->ws.reason();
      code = static_cast<std::uint16_t>(r.code);
      why = std::string(r.reason.data(), r.reason.size());
    }
    const std::string hint(refusal_hint_.message());
    if (code == ws_wire::kCloseUnauthenticated || absl::IsUnauthenticated(refusal_hint_)) {
      return refuse(
          absl::UnauthenticatedError(cat("herald ws: the hub at ", url_.text,
                                         " refused the session: ", hint.empty() ? why : hint)));
    }
    if (code == ws_wire::kCloseIdInUse || absl::IsAlreadyExists(refusal_hint_)) {
      return refuse(
          absl::AlreadyExistsError(cat("herald ws: the hub at ", url_.text,
                                       " refused the connection: ", hint.empty() ? why : hint)));
    }
    if (code == static_cast<std::uint16_t>(websocket::close_code::protocol_error) ||
        code == static_cast<std::uint16_t>(websocket::close_code::policy_error)) {
      // What we said is not acceptable to this hub (a protocol version it does
      // not speak, a hello it does not take): saying it again would not help.
      const absl::StatusCode status_code =
          refusal_hint_.ok() ? absl::StatusCode::kFailedPrecondition : refusal_hint_.code();
      return refuse(absl::Status(
          status_code,
          cat("herald ws: the hub at ", url_.text, " refused the connection (close ", code,
              code == static_cast<std::uint16_t>(websocket::close_code::protocol_error)
                  ? " protocol error"
                  : " policy violation",
              "): ", hint.empty() ? why : hint)));
    }
    const std::string said = hint.empty() ? "" : cat(" after error: ", hint);
    if (code != 0) {
      return lose(
          cat("the hub closed the connection (", code, why.empty() ? "" : " ", why, ")", said));
    }
    if (ec == beast::error::timeout) {
      return lose(cat("the hub stopped answering (nothing for ", idle_timeout_.count(), " ms)"));
    }
    lose(cat(ec.message(), said));
  }

  // The WebSocket handshake got an HTTP answer other than 101. A client error
  // (a wrong path: 404) or a redirect would be the same next time: a refusal.
  // Timeouts, throttling and server errors (503: the hub is stopping, or full)
  // may pass: try again later.
  void declined(const websocket::response_type& response) {
    const unsigned status = response.result_int();
    std::string body = response.body().substr(0, 200);
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.pop_back();
    const std::string what = cat("HTTP ", status, " ", response.reason(), body.empty() ? "" : " (",
                                 body, body.empty() ? "" : ")");
    const bool permanent = status >= 300 && status < 500 && status != 408 && status != 429;
    if (!permanent) {
      return lose(cat("the hub at ", url_.text, " declined the WebSocket handshake: ", what));
    }
    refuse(absl::Status(
        status == 404 ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kFailedPrecondition,
        cat("herald ws: ", url_.text, " declined the WebSocket handshake with ", what,
            status == 404 ? "; a herald hub serves path /" : "")));
  }

  void drop_link() {
    if (!link_) return;
    beast::error_code ignored;
    link_->resolver.cancel();
    beast::get_lowest_layer(link_->ws).socket().close(ignored);
    link_.reset();
  }

  void fail_awaiting_locked(const absl::Status& status) {
    for (auto& [req, awaiting] : awaiting_) {
      if (awaiting.pending) awaiting.pending->finish(status);
    }
    awaiting_.clear();
  }

  // Whether the frame at `start` of a buffer of encoded frames is a send or a
  // broadcast. Every frame this client writes is a fixarray, then its op as a
  // positive fixint: the op is the second byte.
  static bool is_send(const std::string& frames, std::size_t start) {
    const auto op = static_cast<ws_wire::Op>(frames[start + 1]);
    return op == ws_wire::Op::send || op == ws_wire::Op::broadcast;
  }

  // The sends not yet written: the backlog's rest, and pending_.
  std::uint64_t unwritten_sends_locked() const {
    std::uint64_t n = 0;
    std::size_t start = backlog_offset_;
    for (std::size_t i = backlog_next_; i < backlog_ends_.size(); start = backlog_ends_[i++]) {
      if (is_send(backlog_, start)) ++n;
    }
    start = 0;
    for (std::size_t end : ends_) {
      if (is_send(pending_, start)) ++n;
      start = end;
    }
    return n;
  }

  // After a loss: the sends not yet written are kept (they go out, in order,
  // once reconnected and rejoined); requests are answered with the loss, and
  // their frames dropped — the rejoin and the hello's profile restore state.
  void keep_sends_only_locked() {
    std::string kept;
    std::vector<std::size_t> ends;
    auto keep = [&](const std::string& from, std::size_t start,
                    std::span<const std::size_t> frame_ends) {
      for (std::size_t end : frame_ends) {
        if (is_send(from, start)) {
          kept.append(from, start, end - start);
          ends.push_back(kept.size());
        }
        start = end;
      }
    };
    // The backlog's rest is older than pending_.
    keep(backlog_, backlog_offset_, std::span(backlog_ends_).subspan(backlog_next_));
    keep(pending_, 0, ends_);
    clear_backlog();
    pending_.swap(kept);
    ends_.swap(ends);
  }

  // The hub went away (or never answered): report, and try again later.
  void lose(const std::string& reason) {
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
      fail_awaiting_locked(absl::UnavailableError(cat("herald ws: ", reason)));
      keep_sends_only_locked();
    }
    drained_cv_.notify_all();
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
  void refuse(const absl::Status& status) {
    const bool was_ready = phase_ == Phase::ready;
    drop_link();
    disarm();
    writes_pending_ = false;
    phase_ = Phase::refused;
    io_thread_.end_from_io_thread();  // the thread ends; open() starts it again
    work_.reset();
    {
      std::lock_guard lock(mu_);
      ready_ = false;
      kick_ = false;
      accepting_ = false;
      refusal_ = status;
      fail_awaiting_locked(status);
      dropped_sends_.fetch_add(unwritten_sends_locked(), std::memory_order_relaxed);
      pending_.clear();
      ends_.clear();
    }
    clear_backlog();
    drained_cv_.notify_all();
    if (auto events = events_.lock()) {
      if (was_ready) {
        events->transport_disconnected(cat("io server disconnect: ", status.message()));
      }
      events->transport_refused(status);
    }
  }

  // close(): what was sent goes out (at most kFlushOnClose), then a close
  // frame (1000); a hub that does not answer does not hold us up.
  void begin_shutdown() {
    if (phase_ == Phase::closing || phase_ == Phase::done) return;
    const bool flush = phase_ == Phase::ready && link_ && link_->open;
    {
      std::lock_guard lock(mu_);
      ready_ = false;
      accepting_ = false;
      fail_awaiting_locked(absl::FailedPreconditionError("herald ws: the connection is closed"));
    }
    drained_cv_.notify_all();
    if (!flush) return finish();
    phase_ = Phase::closing;
    arm(kFlushOnClose, [this] { finish(); });
    continue_close();
  }

  void continue_close() {
    if (phase_ != Phase::closing || !link_ || link_->close_sent) return;
    start_write();
    if (link_->writing_now) return;  // on_write comes back here
    link_->close_sent = true;
    websocket::stream_base::timeout t = timeouts(/*idle=*/false);
    t.handshake_timeout = kFlushOnClose;
    link_->ws.set_option(t);
    link_->ws.async_close(websocket::close_code::normal, [this, link = link_](beast::error_code) {
      if (link == link_) finish();
    });
  }

  void finish() {
    if (phase_ == Phase::done) return;
    phase_ = Phase::done;
    disarm();
    drop_link();
    writes_pending_ = false;
    work_.reset();
    io_->stop();
  }

  const internal::Url url_;
  const Options options_;
  const std::weak_ptr<internal::TransportEvents> events_;
  const int port_;
  const std::string resolve_host_;
  const std::string host_header_;
  const std::string target_;
  const std::string resume_;
  std::string socket_id_;

  network::IoThread io_thread_{[this] { run(); }, [this] { wake_for_stop(); }};

  // Shared with API threads, under mu_.
  std::mutex mu_;
  std::condition_variable drained_cv_;
  net::io_context* ioc_ = nullptr;  // the running session's, for posting
  bool accepting_ = false;          // requests are taken (a session runs)
  bool ready_ = false;              // sends are taken
  bool kick_ = false;               // the I/O thread will look at pending_
  absl::Status refusal_;
  std::string pending_;            // encoded frames waiting to be written
  std::vector<std::size_t> ends_;  // where each of them ends
  int waiters_ = 0;                // senders waiting for room in pending_
  std::uint64_t next_req_ = 1;
  std::unordered_map<std::uint64_t, Awaiting> awaiting_;

  std::atomic<std::size_t> max_message_bytes_{kDefaultMaxMessageBytes};
  std::atomic<std::uint64_t> malformed_{0};
  std::atomic<std::uint64_t> dropped_sends_{0};  // unwritten when refused

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
  bool writes_pending_ = false;  // pending_ may be written (ready, or flushing on close)
  std::size_t write_limit_ = kDefaultMaxMessageBytes + ws_wire::kFrameOverhead;
  // Sends taken from pending_ that need more than one message: written from
  // here, one piece at a time (backlog_next_: the first frame not written).
  std::string backlog_;
  std::vector<std::size_t> backlog_ends_;
  std::size_t backlog_offset_ = 0;
  std::size_t backlog_next_ = 0;
  std::chrono::milliseconds idle_timeout_ = kDefaultIdleTimeout;
};

class WsTransport final : public internal::Transport {
 public:
  WsTransport(const internal::Url& url, const Options& options,
              std::weak_ptr<internal::TransportEvents> events)
      : core_(std::make_shared<Core>(url, options, std::move(events))) {}
  ~WsTransport() override { core_->stop(/*detach_if_self=*/true); }

  void open() override { core_->start(); }
  void close() override { core_->stop(/*detach_if_self=*/false); }

  absl::Status join(std::string_view channel, bool echo) override {
    return core_->request(ws_wire::Op::join, channel, echo, {});
  }
  absl::Status leave(std::string_view channel, bool echo) override {
    return core_->request(ws_wire::Op::leave, channel, echo, {});
  }
  absl::Status publish(const internal::EnvelopePtr& envelope) override {
    return core_->publish(envelope);
  }
  std::size_t max_message_bytes() const override { return core_->max_message_bytes(); }
  absl::Status update_profile(const Message& profile, bool echo) override {
    return core_->request(ws_wire::Op::profile, {}, echo, profile);
  }
  absl::StatusOr<std::vector<Member>> get_members(std::string_view channel) override {
    if (core_->on_io_thread()) {
      return absl::FailedPreconditionError(
          "herald ws: get_members cannot wait for the hub from a listener running on the "
          "connection's I/O thread; use Dispatch::queued or call it from another thread");
    }
    std::vector<Member> members;
    absl::Status status = core_->request(ws_wire::Op::members, channel, false, {}, &members);
    if (!status.ok()) return status;
    return members;
  }
  void resume_input() override { core_->resume_input(); }
  void add_stats(Stats& stats) const override { core_->add_stats(stats); }

 private:
  std::shared_ptr<Core> core_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<internal::Transport>> make_transport(
    const internal::Url& url, const Options& options,
    std::weak_ptr<internal::TransportEvents> events) {
  if (url.port == 0) {
    return absl::InvalidArgumentError(
        cat("herald: ws URL \"", url.text, "\" needs the hub's port (ws://HOST:PORT)"));
  }
  if (!url.path.empty() && url.path.front() != '/') {
    return absl::InvalidArgumentError(cat("herald: ws URL \"", url.text, "\" has a bad path"));
  }
  return std::make_unique<WsTransport>(url, options, std::move(events));
}

}  // namespace herald::ws_transport
