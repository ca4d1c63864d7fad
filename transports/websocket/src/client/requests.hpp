// requests.hpp — RequestTable: which request a reply from the hub answers.
//
// Every join / leave / profile / members frame a ws:// client writes carries a
// request id (docs/PROTOCOL.md, "ws://": `req`); the hub's reply names it. The
// table maps the ids not yet answered to who waits for them: an API thread
// (a PendingRequest), or nobody (requests made on the I/O thread, and the
// rejoins after a reconnection, whose errors are reported instead).
//
// Thread-safety: none of its own; its owner guards it with the mutex under
// which it also appends the request's frame, so that a loss fails a request
// and drops its frame together. No Asio in here.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "absl/status/status.h"
#include "herald/network/pending_request.hpp"
#include "wire.hpp"

namespace herald::ws_transport {

// A request sent to the hub, waiting for its reply.
struct Awaiting {
  enum class Kind { request, members, rejoin } kind = Kind::request;
  // null: nobody waits (the I/O thread's own request, a rejoin)
  std::shared_ptr<network::PendingRequest> pending;
};

// The status a reply or error frame carries (`code` is an absl::StatusCode;
// one out of range is kUnknown, saying what the hub sent).
absl::Status status_of(std::uint64_t code, std::string_view message);

class RequestTable {
 public:
  // A new request id (ids are never reused), awaited as `awaiting`.
  std::uint64_t add(Awaiting awaiting);
  // The request `req` answers, taken out; nothing when none waits (its
  // requester gave up: the connection was lost meanwhile).
  std::optional<Awaiting> take(std::uint64_t req);
  // Whether an API thread waits for a reply.
  bool anyone_waits() const;
  // Every request still waiting is answered with `status`.
  void fail_all(const absl::Status& status);

 private:
  std::uint64_t next_req_ = 1;
  std::unordered_map<std::uint64_t, Awaiting> awaiting_;
};

// What a reply to a request (not a rejoin) left for the client to do.
struct Completion {
  absl::Status unreported;  // an error nobody waited for: report it
  bool malformed = false;   // the members in the reply could not be decoded
};

// Hands the reply `f` to whoever waits for `awaiting` (kind request or
// members; members are decoded here).
Completion complete(Awaiting awaiting, const ws_wire::Frame& f);

}  // namespace herald::ws_transport
