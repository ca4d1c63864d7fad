// shared.hpp — WsGateway::Shared: what the gateway's I/O threads and its
// connections share — the acceptor, the threads, the registry of sessions
// (all, and the attached ones by socket id) and the counters (Beast's
// chat-multi calls it shared_state).
//
// Lifetime: held by the WsGateway and by every session, so a session that
// outlives the gateway (a Router route-cache snapshot may hold the last
// reference) still finds its io_context alive.
//
// Internal to transports/websocket/src/hub: includes Asio.
#pragma once

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "counters.hpp"
#include "herald/internal/names.hpp"
#include "herald/websocket/gateway.hpp"
#include "write_queue.hpp"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl

namespace herald {

namespace ws_hub {
class WsSession;
}  // namespace ws_hub

struct WsGateway::Shared : std::enable_shared_from_this<WsGateway::Shared> {
  Shared(std::shared_ptr<Hub> h, WsGatewayOptions o);

  std::shared_ptr<Hub> hub;
  WsGatewayOptions options;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor;
  std::vector<std::thread> threads;
  int port = 0;
  std::string host;
  std::atomic<bool> stopping{false};
  // wss://: every connection is TLS with this context (src/tls.hpp); null: ws://.
  std::shared_ptr<boost::asio::ssl::context> tls;
  std::mutex stop_mu;  // serializes stop()

  // Every accepted connection, and the ones attached under their socket id.
  mutable std::mutex mu;
  std::condition_variable all_gone;
  absl::flat_hash_map<const ws_hub::WsSession*, std::weak_ptr<ws_hub::WsSession>> sessions;
  internal::NameMap<std::weak_ptr<ws_hub::WsSession>> by_id;

  ws_hub::GatewayCounters counters;
  ws_hub::QueueBudget queue_budget;  // every session's WriteQueue counts here

  void do_accept();
  void on_accept(boost::beast::error_code ec, boost::asio::ip::tcp::socket socket);
  // An I/O thread: runs what is ready, then starts the writes it made due.
  void run_loop();
  // Whether the calling thread is one of this gateway's I/O threads.
  bool on_own_thread() const;
  // On one of this gateway's I/O threads: `session`'s write starts after
  // what is ready has run; anywhere else: now (posted to its strand).
  void write_after_ready(std::shared_ptr<ws_hub::WsSession> session);
  // The session is over: it leaves the registry (and its id, if still its own).
  void forget(const ws_hub::WsSession* session, std::string_view id);
};

}  // namespace herald
