#include "requests.hpp"

#include <string>
#include <utility>
#include <vector>

#include "herald/internal/text.hpp"

namespace herald::ws_transport {

absl::Status status_of(std::uint64_t code, std::string_view message) {
  if (code == 0 || code > static_cast<std::uint64_t>(absl::StatusCode::kUnauthenticated)) {
    return absl::UnknownError(
        internal::cat("herald ws: the hub answered with code ", code, ": ", message));
  }
  return absl::Status(static_cast<absl::StatusCode>(code), std::string(message));
}

std::uint64_t RequestTable::add(Awaiting awaiting) {
  const std::uint64_t req = next_req_++;
  awaiting_[req] = std::move(awaiting);
  return req;
}

std::optional<Awaiting> RequestTable::take(std::uint64_t req) {
  auto it = awaiting_.find(req);
  if (it == awaiting_.end()) return std::nullopt;
  Awaiting awaiting = std::move(it->second);
  awaiting_.erase(it);
  return awaiting;
}

bool RequestTable::anyone_waits() const {
  for (const auto& [req, awaiting] : awaiting_) {
    if (awaiting.pending) return true;
  }
  return false;
}

void RequestTable::fail_all(const absl::Status& status) {
  for (auto& [req, awaiting] : awaiting_) {
    if (awaiting.pending) awaiting.pending->finish(status);
  }
  awaiting_.clear();
}

Completion complete(Awaiting awaiting, const ws_wire::Frame& f) {
  absl::Status status = f.code == 0 ? absl::OkStatus() : status_of(f.code, f.error);
  Completion done;
  if (awaiting.kind != Awaiting::Kind::members) {
    if (awaiting.pending) {
      awaiting.pending->finish(std::move(status));
    } else {
      done.unreported = std::move(status);
    }
    return done;
  }
  std::vector<Member> members;
  if (status.ok() && !f.members.empty()) {
    absl::StatusOr<std::vector<Member>> decoded = ws_wire::decode_members(f.members);
    if (decoded.ok()) {
      members = *std::move(decoded);
    } else {
      done.malformed = true;
      status = decoded.status();
    }
  }
  if (awaiting.pending) awaiting.pending->finish(std::move(status), std::move(members));
  return done;
}

}  // namespace herald::ws_transport
