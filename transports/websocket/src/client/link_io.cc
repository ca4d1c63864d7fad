// WsClient: writing to and reading from the current link — one write in
// flight (the hello and rejoins ahead of the outgoing buffer), and the hub's
// frames handed to the connection, held back while its inbox is full.
#include <boost/asio/buffer.hpp>

#include "ws_client.hpp"

namespace herald::ws_transport {

// ------------------------------------------------------------ writing

// Runs on the I/O thread for what other threads queued.
void WsClient::service() {
  start_write();
  if (link_ && link_->read_paused && has_waiters()) resume_reads();
}

// One write in flight. What waits goes out as one WebSocket message: the
// hello and rejoins first, then the pending sends (once ready) — at most
// what the hub takes in one message, in whole frames.
void WsClient::start_write() {
  const std::shared_ptr<Link> link = link_;
  if (!link || !link->open || link->writing_now) return;
  if (!link->control.empty()) {
    link->writing.swap(link->control);
  } else if (outgoing_.backlog_empty()) {
    bool notify = false;
    {
      std::lock_guard lock(mu_);
      if (!writes_pending_ || outgoing_.pending_empty()) {
        kick_ = false;
        return;
      }
      notify = outgoing_.take_pending(link->writing, write_limit_);
    }
    if (notify) outgoing_.release_waiters();
  }
  if (!outgoing_.backlog_empty() && link->writing.empty()) {
    outgoing_.take_from_backlog(link->writing, write_limit_);
  }
  link->writing_now = true;
  link->ws.async_write(net::buffer(link->writing),
                       [this, link](beast::error_code ec, std::size_t) { on_write(link, ec); });
}

void WsClient::on_write(const std::shared_ptr<Link>& link, beast::error_code ec) {
  link->writing_now = false;
  if (link != link_) return;
  if (ec) return link_ended(ec);
  give_back(link->writing);
  if (phase_ == Phase::closing) return continue_close();
  start_write();
}

// ------------------------------------------------------------ reading

void WsClient::start_read() {
  const std::shared_ptr<Link> link = link_;
  if (!link || !link->open || link->reading) return;
  link->reading = true;
  link->read_paused = false;
  link->ws.async_read(link->in,
                      [this, link](beast::error_code ec, std::size_t) { on_read(link, ec); });
}

void WsClient::on_read(const std::shared_ptr<Link>& link, beast::error_code ec) {
  link->reading = false;
  if (link != link_) return;
  if (ec) return link_ended(ec);
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
void WsClient::continue_input(const std::shared_ptr<Link>& link) {
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

void WsClient::resume_reads() {
  const std::shared_ptr<Link> link = link_;
  if (!link || !link->read_paused || phase_ == Phase::closing) return;
  link->read_paused = false;
  link->ws.set_option(timeouts(/*idle=*/true));
  continue_input(link);
}

bool WsClient::has_waiters() {
  std::lock_guard lock(mu_);
  return requests_.anyone_waits();
}

bool WsClient::should_pause(internal::TransportEvents* events) {
  if (phase_ != Phase::ready || events == nullptr || events->ready_for_more()) return false;
  // A reply somebody waits for comes behind the data: keep reading (the
  // inbox takes the surplus as overfill) rather than stall a join.
  return !has_waiters();
}
bool WsClient::should_pause() { return should_pause(events_.lock().get()); }

// Handles the frames of `message` from byte `offset` on. True when held
// back before a message frame because the inbox is full (`offset` then
// says where to continue).
bool WsClient::handle_message(std::string_view message, std::size_t& offset) {
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

void WsClient::handle_frame(const ws_wire::Frame& f, internal::TransportEvents* events) {
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
    case ws_wire::Op::flow: {
      {
        std::lock_guard lock(mu_);
        held_ = f.held;
      }
      if (!f.held) outgoing_.release_waiters();
      return;
    }
    case ws_wire::Op::message: {
      if (phase_ == Phase::hello) break;
      if (events) events->deliver(ws_wire::envelope_of(f));
      // Credit flow: tell the hub what this connection took, ahead of any
      // pending send (it never waits behind a hold).
      if (options_.overflow == Overflow::block && ++taken_ % ws_wire::kCreditEvery == 0 && link_) {
        ws_wire::append_credit(link_->control, taken_);
        start_write();
      }
      return;
    }
    default:
      break;
  }
  malformed_.fetch_add(1, std::memory_order_relaxed);
}

void WsClient::reply(const ws_wire::Frame& f, internal::TransportEvents* events) {
  std::optional<Awaiting> awaiting;
  {
    std::lock_guard lock(mu_);
    awaiting = requests_.take(f.req);
  }
  if (!awaiting) return;  // its requester gave up (the connection was lost)
  if (awaiting->kind == Awaiting::Kind::rejoin) {
    return rejoined(f.code == 0 ? absl::OkStatus() : status_of(f.code, f.error), events);
  }
  const Completion done = complete(*std::move(awaiting), f);
  if (done.malformed) malformed_.fetch_add(1, std::memory_order_relaxed);
  if (!done.unreported.ok() && events) events->transport_error(done.unreported);
}

}  // namespace herald::ws_transport
