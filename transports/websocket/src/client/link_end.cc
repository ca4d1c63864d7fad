#include "link_end.hpp"

#include "herald/internal/text.hpp"
#include "wire.hpp"

namespace herald::ws_transport {

using internal::cat;

namespace {

// RFC 6455 close codes a refusal of what we said comes with.
constexpr std::uint16_t kCloseProtocolError = 1002;
constexpr std::uint16_t kClosePolicyViolation = 1008;

LinkEnd refused(absl::Status status) { return LinkEnd{std::move(status), {}}; }
LinkEnd lost(std::string reason) { return LinkEnd{absl::OkStatus(), std::move(reason)}; }

}  // namespace

LinkEnd end_of_link(const LinkFailure& failure, const absl::Status& hint, std::string_view url) {
  const std::uint16_t code = failure.close_code;
  const std::string_view why = failure.close_reason;
  const std::string hint_text(hint.message());
  const std::string_view said = hint_text.empty() ? why : std::string_view(hint_text);
  if (code == ws_wire::kCloseUnauthenticated || absl::IsUnauthenticated(hint)) {
    return refused(absl::UnauthenticatedError(
        cat("herald ws: the hub at ", url, " refused the session: ", said)));
  }
  if (code == ws_wire::kCloseIdInUse || absl::IsAlreadyExists(hint)) {
    return refused(absl::AlreadyExistsError(
        cat("herald ws: the hub at ", url, " refused the connection: ", said)));
  }
  if (code == kCloseProtocolError || code == kClosePolicyViolation) {
    // What we said is not acceptable to this hub (a protocol version it does
    // not speak, a hello it does not take): saying it again would not help.
    const absl::StatusCode status_code =
        hint.ok() ? absl::StatusCode::kFailedPrecondition : hint.code();
    return refused(absl::Status(
        status_code,
        cat("herald ws: the hub at ", url, " refused the connection (close ", code,
            code == kCloseProtocolError ? " protocol error" : " policy violation", "): ", said)));
  }
  const std::string after = hint_text.empty() ? "" : cat(" after error: ", hint_text);
  if (code != 0) {
    return lost(
        cat("the hub closed the connection (", code, why.empty() ? "" : " ", why, ")", after));
  }
  if (failure.timed_out) {
    return lost(
        cat("the hub stopped answering (nothing for ", failure.idle_timeout.count(), " ms)"));
  }
  return lost(cat(failure.error, after));
}

LinkEnd end_of_declined_handshake(unsigned status, std::string_view reason, std::string_view body,
                                  std::string_view url) {
  body = body.substr(0, 200);
  while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) body.remove_suffix(1);
  const std::string what =
      cat("HTTP ", status, " ", reason, body.empty() ? "" : " (", body, body.empty() ? "" : ")");
  const bool permanent = status >= 300 && status < 500 && status != 408 && status != 429;
  if (!permanent) return lost(cat("the hub at ", url, " declined the WebSocket handshake: ", what));
  return refused(absl::Status(
      status == 404 ? absl::StatusCode::kInvalidArgument : absl::StatusCode::kFailedPrecondition,
      cat("herald ws: ", url, " declined the WebSocket handshake with ", what,
          status == 404 ? "; a herald hub serves path /" : "")));
}

}  // namespace herald::ws_transport
