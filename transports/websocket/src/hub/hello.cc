// WsSession: the hello, and who owns a socket id. A hello names the
// client's socket id and a resume secret; the Hub attaches the connection
// under that id. When the id is taken, the rule is:
//  - the same secret: the client reconnecting before the hub noticed its
//    old connection dead — the old one is replaced (closed with 4004) and
//    the new one takes its place: its channels (nobody hears a leave or a
//    join) and, when the hello's profile is nil, its profile;
//  - another secret: someone else — refused (error 6, close 4009).
// A session the Hub's verifier refuses is closed with 4001, at hello and
// before every later operation (a token may expire).
#include <algorithm>

#include "herald/internal/hub_access.hpp"
#include "herald/internal/text.hpp"
#include "ws_session.hpp"

namespace herald::ws_hub {

bool WsSession::resume_matches(std::string_view resume) const {
  // Constant time over the stored secret's length.
  if (resume.size() != resume_.size()) return false;
  unsigned char diff = 0;
  for (std::size_t i = 0; i < resume.size(); ++i) diff |= resume[i] ^ resume_[i];
  return diff == 0;
}

// Another connection took over this one's socket id (same resume secret)
// and its place in the Hub (HubAccess::replace): this one is no longer attached.
void WsSession::replaced() {
  if (attached_.exchange(false)) counters().connections.fetch_sub(1, std::memory_order_relaxed);
  net::post(ws_.get_executor(), [self = shared_from_this()] {
    self->close_with(ws_wire::kCloseReplaced, "replaced by a new connection with the same id");
  });
}

void WsSession::hello(const ws_wire::Frame& f) {
  hello_timer_.cancel();
  if (!ws_wire::valid_socket_id(f.id) || f.resume.size() < ws_wire::kMinResumeBytes ||
      f.resume.size() > ws_wire::kMaxResumeBytes) {
    return refuse_hello(absl::InvalidArgumentError(
                            "hello: id must be 1-64 bytes of [A-Za-z0-9_-], resume 16-64 bytes"),
                        websocket::close_code::policy_error);
  }
  if (f.body.size() > shared().hub->options().max_message_bytes) {
    return refuse_hello(absl::ResourceExhaustedError("hello: profile over the message limit"),
                        websocket::close_code::policy_error);
  }
  if (!reserve_profile(f.body.size())) {
    return refuse_hello(profile_budget_error(), websocket::close_code::try_again_later);
  }
  id_ = std::string(f.id);
  resume_ = std::string(f.resume);
  // Before attach: read by the routers.
  window_ = f.window == ws_wire::kNoWindow ? ws_wire::kNoWindow
                                           : std::min(f.window, ws_wire::kMaxCreditWindow);
  token_ = std::string(f.token);
  {
    std::lock_guard lock(profile_mu_);
    profile_ = ws_wire::message_of(f.body);
  }
  {
    // The welcome goes first, ahead of anything routed to us once attached.
    std::string out;
    ws_wire::append_welcome(out, id_, shared().hub->options().max_message_bytes,
                            static_cast<std::uint64_t>(shared().options.idle_timeout.count() / 2));
    queue_.push_uncounted(Outgoing{{}, std::move(out)});
  }
  absl::Status attached = internal::HubAccess::attach(*shared().hub, shared_from_this(), token_);
  if (attached.code() == absl::StatusCode::kAlreadyExists) {
    std::shared_ptr<WsSession> old;
    {
      std::lock_guard lock(shared().mu);
      auto it = shared().by_id.find(id_);
      if (it != shared().by_id.end()) old = it->second.lock();
    }
    if (old != nullptr && old.get() != this && old->resume_matches(resume_)) {
      attached = internal::HubAccess::replace(*shared().hub, *old, shared_from_this(), token_);
      if (attached.ok()) {
        old->replaced();
        take_place_of(*old, ws_wire::message_of(f.body));
      }
    }
  }
  if (!attached.ok()) {
    queue_.clear();
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
    std::lock_guard lock(shared().mu);
    shared().by_id[id_] = weak_from_this();
  }
  counters().connections.fetch_add(1, std::memory_order_relaxed);
  phase_ = Phase::ready;
  start_write_if_idle();
}

// After HubAccess::replace: the channels are this one's now (counted against
// the limits as this one's), and so is the old profile unless the hello
// brought one; a new one is announced to those channels (channel:update).
void WsSession::take_place_of(const WsSession& old, const Message& hello_profile) {
  for (std::string& channel : internal::HubAccess::channels_of(*shared().hub, *this)) {
    counters().membership_bytes.fetch_add(membership_cost(channel.size()),
                                          std::memory_order_relaxed);
    joined_.insert(std::move(channel));
  }
  const Message old_profile = old.profile();
  if (hello_profile.is_nil()) {
    const std::size_t size = old_profile.bytes().size();
    if (size > profile_bytes_) {  // the old one's share is given back when it ends
      counters().profile_bytes.fetch_add(size - profile_bytes_, std::memory_order_relaxed);
    } else {
      counters().profile_bytes.fetch_sub(profile_bytes_ - size, std::memory_order_relaxed);
    }
    profile_bytes_ = size;
    std::lock_guard lock(profile_mu_);
    profile_ = old_profile;
  } else if (!(hello_profile == old_profile) && !joined_.empty()) {
    internal::HubAccess::update_profile(*shared().hub, *this, /*echo=*/false);
  }
}

// The profile now takes `bytes` of the hub-wide budget (the old one's given
// back); false, counted, when that is past max_total_profile_bytes.
bool WsSession::reserve_profile(std::size_t bytes) {
  if (bytes > profile_bytes_) {
    if (!GatewayCounters::reserve(counters().profile_bytes, bytes - profile_bytes_,
                                  shared().options.max_total_profile_bytes)) {
      counters().refused_budget.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  } else {
    counters().profile_bytes.fetch_sub(profile_bytes_ - bytes, std::memory_order_relaxed);
  }
  profile_bytes_ = bytes;
  return true;
}

absl::Status WsSession::profile_budget_error() const {
  return absl::ResourceExhaustedError(internal::cat("the hub's profiles are at their budget of ",
                                                    shared_->options.max_total_profile_bytes,
                                                    " bytes (max_total_profile_bytes)"));
}

// A hello that cannot be accepted: an error frame saying why, then the close.
void WsSession::refuse_hello(const absl::Status& why, std::uint16_t code) {
  hello_timer_.cancel();
  counters().closed_protocol.fetch_add(1, std::memory_order_relaxed);
  std::string out;
  ws_wire::append_error(out, why);
  send_control(std::move(out), /*force=*/true);
  close_with(code, text_of(why));
}

// Sessions are checked again before every operation (a token may expire).
bool WsSession::session_valid() {
  const HubOptions& options = shared().hub->options();
  if (!options.enforce_session || options.verify_session(token_)) return true;
  reject_session("herald hub: the session token is no longer valid");
  return false;
}

void WsSession::session_ended(const absl::Status& why) {
  net::post(ws_.get_executor(), [self = shared_from_this(), why] {
    if (self->phase_ == Phase::ready) self->reject_session(text_of(why));
  });
}

void WsSession::reject_session(std::string_view why) {
  counters().closed_unauthenticated.fetch_add(1, std::memory_order_relaxed);
  std::string out;
  ws_wire::append_error(out, absl::UnauthenticatedError(std::string(why)));
  send_control(std::move(out), /*force=*/true);
  close_with(ws_wire::kCloseUnauthenticated, why);
}

}  // namespace herald::ws_hub
