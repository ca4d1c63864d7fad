#include "herald/zmq/broker.hpp"

#include <algorithm>
#include <atomic>
#include <charconv>
#include <map>
#include <msgpack.hpp>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>
#include <zmq.hpp>
#include <zmq_addon.hpp>

#include "herald/internal/names.hpp"
#include "herald/internal/text.hpp"
#include "herald/session_token.hpp"
#include "wire.hpp"

namespace herald {

using internal::cat;

namespace {

std::atomic<std::uint64_t> g_broker_counter{0};

struct StringWriter {
  std::string* out;
  void write(const char* data, std::size_t n) { out->append(data, n); }
};

bool reference(msgpack::type::object_type, std::size_t, void*) { return true; }

std::string pack_object(const msgpack::object& o) {
  std::string out;
  StringWriter w{&out};
  msgpack::pack(w, o);
  return out;
}

// Room for a header and a topic on top of the largest body.
std::int64_t frame_limit(std::size_t max_message_bytes) {
  return static_cast<std::int64_t>(max_message_bytes) + 64 * 1024;
}

void set_common(zmq::socket_t& s, int hwm) {
  s.set(zmq::sockopt::linger, 0);
  s.set(zmq::sockopt::sndhwm, hwm);
  s.set(zmq::sockopt::rcvhwm, hwm);
}

}  // namespace

struct ZmqBroker::State {
  explicit State(ZmqBrokerOptions o) : options(std::move(o)) {}

  ZmqBrokerOptions options;
  std::unique_ptr<zmq::context_t> ctx;
  std::string host;
  int port = -1;
  std::string inproc_prefix;

  std::mutex lifecycle_mu;  // start/stop
  bool started = false;
  std::atomic<bool> running{false};
  std::thread proxy_thread;
  std::thread control_thread;
  std::thread zap_thread;
  std::unique_ptr<zmq::socket_t> stop_sender;  // used only under lifecycle_mu

  // Control thread only.
  struct Session {
    std::string socket_id;
    std::string routing_id;
    std::string resume_token;  // proves a reconnecting client is the same one
    std::set<std::string> channels;
    std::string profile = std::string(1, '\xc0');  // msgpack nil
    std::chrono::steady_clock::time_point last_seen;
  };
  std::unordered_map<std::string, Session> sessions;          // by routing id
  std::unordered_map<std::string, std::string> by_socket_id;  // socket id -> routing id
  internal::NameMap<std::set<std::string>> members;           // channel -> socket ids
  static constexpr std::size_t kMaxSessions = 100'000;
  static constexpr std::size_t kMaxChannelsPerSession = limits::kMaxChannelsPerConnection;

  // Readable from any thread.
  std::atomic<std::size_t> session_count{0};
  std::atomic<std::size_t> channel_count{0};
  std::atomic<std::uint64_t> messages_in{0}, bytes_in{0}, messages_out{0}, bytes_out{0};
  std::atomic<std::uint64_t> control_requests{0}, control_malformed{0}, auth_failures{0},
      sessions_expired{0};

  void run_proxy(zmq::socket_t xsub, zmq::socket_t xpub, zmq::socket_t control);
  void run_control(zmq::socket_t router, zmq::socket_t pub, zmq::socket_t stop,
                   zmq::socket_t proxy_control);
  void run_zap(zmq::socket_t zap);

  // Control-thread helpers.
  void handle(zmq::socket_t& router, zmq::socket_t& pub, const std::string& routing_id,
              std::string_view payload);
  void publish_presence(zmq::socket_t& pub, std::string_view channel, std::string_view event,
                        const Session& session, bool echo);
  void remove_session(zmq::socket_t& pub, const std::string& routing_id);
  void refresh_counts() {
    session_count.store(sessions.size());
    channel_count.store(members.size());
  }
};

ZmqBroker::ZmqBroker(ZmqBrokerOptions options)
    : state_(std::make_unique<State>(std::move(options))) {}

ZmqBroker::~ZmqBroker() { stop(); }

int ZmqBroker::port() const { return state_->port; }

std::string ZmqBroker::url() const { return cat("zmq://", state_->host, ":", state_->port); }

ZmqBrokerStats ZmqBroker::stats() const {
  const State& s = *state_;
  ZmqBrokerStats out;
  out.sessions = s.session_count.load();
  out.channels = s.channel_count.load();
  out.messages_in = s.messages_in.load();
  out.bytes_in = s.bytes_in.load();
  out.messages_out = s.messages_out.load();
  out.bytes_out = s.bytes_out.load();
  out.control_requests = s.control_requests.load();
  out.control_malformed = s.control_malformed.load();
  out.auth_failures = s.auth_failures.load();
  out.sessions_expired = s.sessions_expired.load();
  return out;
}

absl::Status ZmqBroker::start() {
  State& s = *state_;
  std::lock_guard lock(s.lifecycle_mu);
  if (s.started) return absl::FailedPreconditionError("herald: ZmqBroker already started");
  const std::string& ep = s.options.endpoint;
  const std::string_view prefix = "tcp://";
  const std::size_t colon = ep.rfind(':');
  if (ep.compare(0, prefix.size(), prefix) != 0 || colon == std::string::npos ||
      colon < prefix.size()) {
    return absl::InvalidArgumentError(
        cat("herald: broker endpoint \"", ep, "\" is not tcp://HOST:PORT"));
  }
  s.host = ep.substr(prefix.size(), colon - prefix.size());
  int requested = -1;
  const std::string port_text = ep.substr(colon + 1);
  auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), requested);
  if (s.host.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      requested < 0 || requested > 65533) {
    return absl::InvalidArgumentError(
        cat("herald: broker endpoint \"", ep,
            "\": the port must be 0 to 65533 (P+1 and P+2 are used too)"));
  }
  if (s.options.session_timeout < std::chrono::milliseconds(300)) {
    return absl::InvalidArgumentError(
        "herald: broker session_timeout must be at least 300 ms (clients ping at a third of it)");
  }
  const bool secure = !s.options.session_secret.empty();
  s.ctx = std::make_unique<zmq::context_t>(1);
  s.inproc_prefix = cat("inproc://herald-broker-", g_broker_counter.fetch_add(1));
  const int hwm = s.options.high_water_mark;

  try {
    zmq::socket_t zap;
    if (secure) {
      // ZAP must be listening before any peer's handshake.
      zap = zmq::socket_t(*s.ctx, zmq::socket_type::rep);
      zap.set(zmq::sockopt::linger, 0);
      zap.bind("inproc://zeromq.zap.01");
    }
    auto make = [&](zmq::socket_type type) {
      zmq::socket_t sock(*s.ctx, type);
      set_common(sock, hwm);
      if (secure) {
        sock.set(zmq::sockopt::plain_server, 1);
        sock.set(zmq::sockopt::zap_domain, "herald");
      }
      return sock;
    };
    zmq::socket_t router = make(zmq::socket_type::router);
    router.set(zmq::sockopt::maxmsgsize, frame_limit(s.options.max_message_bytes));
    router.set(zmq::sockopt::router_handover, 1);
    zmq::socket_t xsub = make(zmq::socket_type::xsub);
    xsub.set(zmq::sockopt::maxmsgsize, frame_limit(s.options.max_message_bytes));
    zmq::socket_t xpub = make(zmq::socket_type::xpub);

    // Bind P, P+1, P+2; with port 0, retry until three neighbours are free.
    bool bound = false;
    for (int attempt = 0; attempt < 64 && !bound; ++attempt) {
      std::string control_ep = cat("tcp://", s.host, ":", requested);
      try {
        router.bind(control_ep);
      } catch (const zmq::error_t& e) {
        return absl::UnavailableError(
            cat("herald: broker cannot bind ", control_ep, ": ", e.what()));
      }
      std::string last = router.get(zmq::sockopt::last_endpoint);
      int p = std::stoi(last.substr(last.rfind(':') + 1));
      try {
        xsub.bind(cat("tcp://", s.host, ":", p + zmq_wire::kPublishPortOffset));
        try {
          xpub.bind(cat("tcp://", s.host, ":", p + zmq_wire::kSubscribePortOffset));
          s.port = p;
          bound = true;
        } catch (const zmq::error_t&) {
          xsub.unbind(cat("tcp://", s.host, ":", p + zmq_wire::kPublishPortOffset));
          router.unbind(last);
          if (requested != 0) throw;
        }
      } catch (const zmq::error_t& e) {
        if (requested != 0) {
          return absl::UnavailableError(cat("herald: broker cannot bind ports ", p + 1, " and ",
                                            p + 2, " next to ", p, ": ", e.what()));
        }
        try {
          router.unbind(last);
        } catch (const zmq::error_t&) {
        }
      }
    }
    if (!bound)
      return absl::UnavailableError("herald: broker found no three free neighbouring ports");

    xsub.bind(s.inproc_prefix + "-xsub");
    xpub.bind(s.inproc_prefix + "-xpub");
    // Publishers forward everything; filtering happens once, at the XPUB.
    const char subscribe_all = '\x01';
    xsub.send(zmq::buffer(&subscribe_all, 1));

    zmq::socket_t proxy_control(*s.ctx, zmq::socket_type::rep);
    proxy_control.bind(s.inproc_prefix + "-proxy");
    zmq::socket_t proxy_client(*s.ctx, zmq::socket_type::req);
    proxy_client.set(zmq::sockopt::linger, 0);
    proxy_client.connect(s.inproc_prefix + "-proxy");

    zmq::socket_t pub(*s.ctx, zmq::socket_type::pub);
    set_common(pub, hwm);
    pub.connect(s.inproc_prefix + "-xsub");
    zmq::socket_t probe(*s.ctx, zmq::socket_type::sub);
    probe.set(zmq::sockopt::linger, 0);
    probe.connect(s.inproc_prefix + "-xpub");
    probe.set(zmq::sockopt::subscribe, "x");

    zmq::socket_t stop_receiver(*s.ctx, zmq::socket_type::pair);
    stop_receiver.bind(s.inproc_prefix + "-stop");
    s.stop_sender = std::make_unique<zmq::socket_t>(*s.ctx, zmq::socket_type::pair);
    s.stop_sender->set(zmq::sockopt::linger, 0);
    s.stop_sender->connect(s.inproc_prefix + "-stop");

    s.running = true;
    s.proxy_thread = std::thread(&State::run_proxy, &s, std::move(xsub), std::move(xpub),
                                 std::move(proxy_control));

    // The presence publisher is a publisher like any other: wait until the
    // XSUB's subscribe-all has reached it (the publisher-side slow joiner).
    bool through = false;
    for (int i = 0; i < 2000 && !through; ++i) {
      pub.send(zmq::buffer(std::string_view("x")), zmq::send_flags::dontwait);
      zmq::pollitem_t item{probe.handle(), 0, ZMQ_POLLIN, 0};
      if (zmq::poll(&item, 1, std::chrono::milliseconds(5)) > 0) through = true;
    }
    probe.close();
    if (!through) {
      s.running = false;
      proxy_client.send(zmq::buffer(std::string_view("TERMINATE")));
      s.proxy_thread.join();
      return absl::InternalError("herald: broker's proxy did not start");
    }
    s.control_thread = std::thread(&State::run_control, &s, std::move(router), std::move(pub),
                                   std::move(stop_receiver), std::move(proxy_client));
    if (secure) s.zap_thread = std::thread(&State::run_zap, &s, std::move(zap));
  } catch (const zmq::error_t& e) {
    return absl::UnavailableError(cat("herald: broker failed to start: ", e.what()));
  }
  s.started = true;
  return absl::OkStatus();
}

void ZmqBroker::stop() {
  State& s = *state_;
  std::lock_guard lock(s.lifecycle_mu);
  if (!s.started) return;
  s.started = false;
  s.running = false;
  try {
    s.stop_sender->send(zmq::buffer(std::string_view("stop")), zmq::send_flags::dontwait);
  } catch (const zmq::error_t&) {
  }
  if (s.control_thread.joinable()) s.control_thread.join();  // it terminates the proxy
  if (s.proxy_thread.joinable()) s.proxy_thread.join();
  if (s.zap_thread.joinable()) s.zap_thread.join();
  s.stop_sender.reset();
  s.ctx->close();
  s.ctx.reset();
}

void ZmqBroker::State::run_proxy(zmq::socket_t xsub, zmq::socket_t xpub, zmq::socket_t control) {
  zmq_proxy_steerable(xsub.handle(), xpub.handle(), nullptr, control.handle());
}

void ZmqBroker::State::run_zap(zmq::socket_t zap) {
  const std::string& secret = options.session_secret;
  while (running) {
    zmq::pollitem_t item{zap.handle(), 0, ZMQ_POLLIN, 0};
    if (zmq::poll(&item, 1, std::chrono::milliseconds(100)) <= 0) continue;
    std::vector<zmq::message_t> request;
    if (!zmq::recv_multipart(zap, std::back_inserter(request))) continue;
    // version, request id, domain, address, identity, mechanism, credentials...
    std::string status = "400";
    std::string text = "herald: a session token is required";
    std::string user;
    if (request.size() >= 8 && request[5].to_string_view() == "PLAIN") {
      absl::StatusOr<std::string> subject =
          verify_session_token(secret, request[7].to_string_view());
      if (subject.ok()) {
        status = "200";
        text = "OK";
        user = *subject;
      } else {
        text = std::string(subject.status().message());
      }
    }
    if (status != "200") auth_failures.fetch_add(1);
    std::array<zmq::const_buffer, 6> reply = {
        zmq::buffer(std::string_view("1.0")),
        zmq::buffer(request.size() > 1 ? request[1].to_string_view() : std::string_view()),
        zmq::buffer(status),
        zmq::buffer(text),
        zmq::buffer(user),
        zmq::buffer(std::string_view())};
    zmq::send_multipart(zap, reply);
  }
}

void ZmqBroker::State::publish_presence(zmq::socket_t& pub, std::string_view channel,
                                        std::string_view event, const Session& session, bool echo) {
  absl::StatusOr<Message> profile = Message::from_msgpack(std::span<const std::byte>(
      reinterpret_cast<const std::byte*>(session.profile.data()), session.profile.size()));
  const internal::EnvelopeKind kind = event == "channel:join"    ? internal::EnvelopeKind::join
                                      : event == "channel:leave" ? internal::EnvelopeKind::leave
                                                                 : internal::EnvelopeKind::update;
  internal::EnvelopePtr envelope = internal::Envelope::make(
      kind, channel, event, session.socket_id,
      internal::presence_body(session.socket_id, profile.ok() ? *profile : Message()), echo);
  const std::string topic = zmq_wire::channel_topic(channel);
  std::string message = zmq_wire::encode_header(*envelope, 0);
  auto body = envelope->body().bytes();
  message.append(reinterpret_cast<const char*>(body.data()), body.size());
  pub.send(zmq::buffer(topic), zmq::send_flags::sndmore);
  pub.send(zmq::buffer(message), zmq::send_flags::none);
}

void ZmqBroker::State::remove_session(zmq::socket_t& pub, const std::string& routing_id) {
  auto it = sessions.find(routing_id);
  if (it == sessions.end()) return;
  Session session = std::move(it->second);
  sessions.erase(it);
  by_socket_id.erase(session.socket_id);
  for (const std::string& channel : session.channels) {
    auto m = members.find(channel);
    if (m == members.end()) continue;
    m->second.erase(session.socket_id);
    if (m->second.empty()) members.erase(m);
    publish_presence(pub, channel, "channel:leave", session, false);
  }
  refresh_counts();
}

void ZmqBroker::State::handle(zmq::socket_t& router, zmq::socket_t& pub,
                              const std::string& routing_id, std::string_view payload) {
  std::string reply;
  StringWriter w{&reply};
  msgpack::packer<StringWriter> pk(w);
  auto send_reply = [&] {
    router.send(zmq::buffer(routing_id), zmq::send_flags::sndmore);
    router.send(zmq::buffer(reply), zmq::send_flags::dontwait);
  };
  auto malformed = [&](std::uint64_t req, std::string_view why) {
    control_malformed.fetch_add(1);
    pk.pack_array(3);
    pk.pack(std::string_view("error"));
    pk.pack_uint64(req);
    pk.pack(cat("herald broker: ", why));
    send_reply();
  };

  msgpack::object_handle handle;
  try {
    std::size_t offset = 0;
    handle = msgpack::unpack(payload.data(), payload.size(), offset, reference);
    if (offset != payload.size()) return malformed(0, "trailing bytes");
  } catch (const std::exception&) {
    return malformed(0, "not msgpack");
  }
  const msgpack::object& o = handle.get();
  if (o.type != msgpack::type::ARRAY || o.via.array.size == 0 ||
      o.via.array.ptr[0].type != msgpack::type::STR) {
    return malformed(0, "expected an array starting with a command name");
  }
  const msgpack::object* f = o.via.array.ptr;
  const std::uint32_t n = o.via.array.size;
  auto str = [&](std::uint32_t i) -> std::optional<std::string_view> {
    if (i >= n || f[i].type != msgpack::type::STR) return std::nullopt;
    return std::string_view(f[i].via.str.ptr, f[i].via.str.size);
  };
  const std::string_view command = *str(0);
  static constexpr std::string_view kCommands[] = {"hello", "ping",    "bye",     "join",
                                                   "leave", "profile", "members", "stats"};
  if (std::find(std::begin(kCommands), std::end(kCommands), command) == std::end(kCommands)) {
    return malformed(0, cat("unknown command \"", command, "\""));
  }
  control_requests.fetch_add(1);

  if (command == "hello") {
    // ["hello", 1, socket_id, resume_secret, [channels to keep]]
    auto socket_id = str(2);
    auto resume = str(3);
    if (n < 5 || f[1].type != msgpack::type::POSITIVE_INTEGER || !socket_id || socket_id->empty() ||
        socket_id->size() > internal::kMaxNameBytes || !resume || resume->size() < 16 ||
        f[4].type != msgpack::type::ARRAY) {
      return malformed(0, "hello is [\"hello\", 1, socket_id, resume_secret, [channel, ...]]");
    }
    std::set<std::string, std::less<>> keep;
    for (std::uint32_t i = 0; i < f[4].via.array.size; ++i) {
      const msgpack::object& c = f[4].via.array.ptr[i];
      if (c.type == msgpack::type::STR) keep.emplace(c.via.str.ptr, c.via.str.size);
    }
    auto refuse_hello = [&](const std::string& why) {
      pk.pack_array(2);
      pk.pack(std::string_view("refused"));
      pk.pack(why);
      send_reply();
    };
    if (f[1].via.u64 != zmq_wire::kVersion) {
      return refuse_hello(
          cat("herald broker: protocol version ", f[1].via.u64, " is not supported (1 is)"));
    }
    // A connection that already said hello as someone else leaves first.
    if (auto mine = sessions.find(routing_id);
        mine != sessions.end() && mine->second.socket_id != *socket_id) {
      remove_session(pub, routing_id);
    }
    Session fresh;
    fresh.socket_id = std::string(*socket_id);
    if (auto old = by_socket_id.find(fresh.socket_id); old != by_socket_id.end()) {
      auto s = sessions.find(old->second);
      if (s != sessions.end() && s->second.routing_id != routing_id) {
        // The same client again, reconnected with a new identity — if it can
        // prove it: socket ids are visible to everyone, resume tokens are not.
        if (*resume != s->second.resume_token) {
          return refuse_hello(cat("herald broker: socket id ", fresh.socket_id,
                                  " is in use by another connection"));
        }
      }
      if (s != sessions.end()) {
        // The same client again: it keeps the channels it still wants (and
        // its profile), so rejoining them is idempotent for the others; it
        // leaves the rest.
        Session old = std::move(s->second);
        sessions.erase(s);
        for (const std::string& channel : old.channels) {
          if (keep.count(channel)) {
            fresh.channels.insert(channel);
            continue;
          }
          auto m = members.find(channel);
          if (m != members.end()) {
            m->second.erase(old.socket_id);
            if (m->second.empty()) members.erase(m);
          }
          publish_presence(pub, channel, "channel:leave", old, false);
        }
        fresh.profile = std::move(old.profile);
      }
    }
    if (sessions.size() >= kMaxSessions) {
      return refuse_hello(cat("herald broker: ", kMaxSessions, " sessions already"));
    }
    fresh.resume_token = std::string(*resume);
    fresh.routing_id = routing_id;
    fresh.last_seen = std::chrono::steady_clock::now();
    by_socket_id[fresh.socket_id] = routing_id;
    sessions[routing_id] = std::move(fresh);
    refresh_counts();
    pk.pack_array(6);
    pk.pack(std::string_view("welcome"));
    pk.pack_uint8(zmq_wire::kVersion);
    pk.pack_uint64(options.max_message_bytes);
    pk.pack_int(port + zmq_wire::kPublishPortOffset);
    pk.pack_int(port + zmq_wire::kSubscribePortOffset);
    pk.pack_uint64(static_cast<std::uint64_t>(options.session_timeout.count()));
    return send_reply();
  }

  auto it = sessions.find(routing_id);
  const std::uint64_t req =
      n >= 2 && f[1].type == msgpack::type::POSITIVE_INTEGER ? f[1].via.u64 : 0;
  if (it == sessions.end()) {
    // Never said hello, or expired: the client must start over.
    pk.pack_array(2);
    pk.pack(std::string_view("unknown-session"));
    pk.pack_uint64(req);
    return send_reply();
  }
  Session& session = it->second;
  session.last_seen = std::chrono::steady_clock::now();
  auto ok = [&] {
    pk.pack_array(2);
    pk.pack(std::string_view("ok"));
    pk.pack_uint64(req);
    send_reply();
  };

  if (command == "ping") {
    pk.pack_array(1);
    pk.pack(std::string_view("pong"));
    return send_reply();
  }
  if (command == "bye") return remove_session(pub, routing_id);
  if (command == "join" || command == "leave") {
    auto channel = str(2);
    if (n < 4 || !channel || f[3].type != msgpack::type::BOOLEAN ||
        !internal::validate_name("channel", *channel).ok()) {
      return malformed(req, cat(command, " is [\"", command, "\", req, channel, echo",
                                command == "join" ? ", profile]" : "]"));
    }
    const bool echo = f[3].via.boolean;
    if (command == "join") {
      if (session.channels.size() >= kMaxChannelsPerSession &&
          !session.channels.count(std::string(*channel))) {
        pk.pack_array(3);
        pk.pack(std::string_view("error"));
        pk.pack_uint64(req);
        pk.pack(cat("herald broker: a connection may join at most ", kMaxChannelsPerSession,
                    " channels"));
        return send_reply();
      }
      if (n >= 5) session.profile = pack_object(f[4]);
      if (session.channels.insert(std::string(*channel)).second) {
        members[*channel].insert(session.socket_id);
        refresh_counts();
        publish_presence(pub, *channel, "channel:join", session, echo);
      }
    } else if (session.channels.erase(std::string(*channel)) > 0) {
      auto m = members.find(*channel);
      if (m != members.end()) {
        m->second.erase(session.socket_id);
        if (m->second.empty()) members.erase(m);
      }
      refresh_counts();
      // The leaver hears its own leave from its client (echo), not from here:
      // it may have unsubscribed by the time this arrives.
      publish_presence(pub, *channel, "channel:leave", session, false);
    }
    return ok();
  }
  if (command == "profile") {
    if (n < 4 || f[3].type != msgpack::type::BOOLEAN) {
      return malformed(req, "profile is [\"profile\", req, data, echo]");
    }
    session.profile = pack_object(f[2]);
    for (const std::string& channel : session.channels) {
      publish_presence(pub, channel, "channel:update", session, f[3].via.boolean);
    }
    return ok();
  }
  if (command == "members") {
    auto channel = str(2);
    if (!channel) return malformed(req, "members is [\"members\", req, channel]");
    pk.pack_array(3);
    pk.pack(std::string_view("members"));
    pk.pack_uint64(req);
    auto m = members.find(*channel);
    if (m == members.end()) {
      pk.pack_array(0);
    } else {
      pk.pack_array(static_cast<std::uint32_t>(m->second.size()));
      for (const std::string& id : m->second) {
        pk.pack_array(2);
        pk.pack(id);
        auto member = by_socket_id.find(id);
        auto s = member == by_socket_id.end() ? sessions.end() : sessions.find(member->second);
        if (s == sessions.end()) {
          pk.pack_nil();
        } else {
          reply.append(s->second.profile);
        }
      }
    }
    return send_reply();
  }
  if (command == "stats") {
    pk.pack_array(3);
    pk.pack(std::string_view("stats"));
    pk.pack_uint64(req);
    pk.pack_map(4);
    pk.pack(std::string_view("sessions"));
    pk.pack_uint64(sessions.size());
    pk.pack(std::string_view("channels"));
    pk.pack_uint64(members.size());
    pk.pack(std::string_view("messages_in"));
    pk.pack_uint64(messages_in.load());
    pk.pack(std::string_view("messages_out"));
    pk.pack_uint64(messages_out.load());
    return send_reply();
  }
}

void ZmqBroker::State::run_control(zmq::socket_t router, zmq::socket_t pub, zmq::socket_t stop,
                                   zmq::socket_t proxy_control) {
  auto last_housekeeping = std::chrono::steady_clock::now();
  auto refresh_proxy_stats = [&] {
    proxy_control.send(zmq::buffer(std::string_view("STATISTICS")));
    std::vector<zmq::message_t> frames;
    if (!zmq::recv_multipart(proxy_control, std::back_inserter(frames)) || frames.size() != 8)
      return;
    auto value = [&](int i) {
      std::uint64_t v = 0;
      if (frames[i].size() == sizeof v) std::memcpy(&v, frames[i].data(), sizeof v);
      return v;
    };
    // frontend (XSUB) msgs in, bytes in, msgs out, bytes out; backend (XPUB) the same.
    messages_in.store(value(0));
    bytes_in.store(value(1));
    messages_out.store(value(6));
    bytes_out.store(value(7));
  };
  try {
    while (running) {
      zmq::pollitem_t items[] = {{router.handle(), 0, ZMQ_POLLIN, 0},
                                 {stop.handle(), 0, ZMQ_POLLIN, 0}};
      zmq::poll(items, 2, std::chrono::milliseconds(100));
      if (items[1].revents & ZMQ_POLLIN) break;
      // Drain what is ready, a batch at a time.
      for (int i = 0; i < 1024 && (items[0].revents & ZMQ_POLLIN); ++i) {
        std::vector<zmq::message_t> frames;
        if (!zmq::recv_multipart(router, std::back_inserter(frames), zmq::recv_flags::dontwait)) {
          break;
        }
        if (frames.size() != 2) {
          control_malformed.fetch_add(1);
          continue;
        }
        handle(router, pub, frames[0].to_string(), frames[1].to_string_view());
      }
      auto now = std::chrono::steady_clock::now();
      if (now - last_housekeeping >= std::chrono::milliseconds(100)) {
        last_housekeeping = now;
        std::vector<std::string> expired;
        for (const auto& [id, session] : sessions) {
          if (now - session.last_seen > options.session_timeout) expired.push_back(id);
        }
        for (const std::string& id : expired) {
          sessions_expired.fetch_add(1);
          remove_session(pub, id);
        }
        refresh_proxy_stats();
      }
    }
    refresh_proxy_stats();
  } catch (const zmq::error_t&) {
    // Context closing: fall through to terminate the proxy.
  }
  try {
    proxy_control.send(zmq::buffer(std::string_view("TERMINATE")));
  } catch (const zmq::error_t&) {
  }
}

}  // namespace herald
