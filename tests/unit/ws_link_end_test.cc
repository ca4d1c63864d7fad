// The ws:// client's reconnection rule (transports/websocket/src/client/
// link_end.hpp): which ends of a connection are retried, and what they say.
#include <gtest/gtest.h>

#include "../../transports/websocket/src/client/link_end.hpp"

namespace herald::ws_transport {
namespace {

using namespace std::chrono_literals;

constexpr std::string_view kUrl = "ws://hub:1";

LinkEnd closed(std::uint16_t code, std::string_view why, absl::Status hint = absl::OkStatus()) {
  return end_of_link(LinkFailure{.close_code = code, .close_reason = why}, hint, kUrl);
}

TEST(WsLinkEnd, ARefusedSessionIsNotRetried) {
  const LinkEnd end = closed(4001, "bad token");
  EXPECT_TRUE(absl::IsUnauthenticated(end.refusal)) << end.refusal;
  EXPECT_NE(end.refusal.message().find("bad token"), std::string::npos);
  // An error frame before the close says more than its reason.
  const LinkEnd hinted = closed(1000, "", absl::UnauthenticatedError("token expired"));
  EXPECT_TRUE(absl::IsUnauthenticated(hinted.refusal));
  EXPECT_NE(hinted.refusal.message().find("token expired"), std::string::npos);
}

TEST(WsLinkEnd, ASocketIdTakenBySomeoneElseIsNotRetried) {
  EXPECT_TRUE(absl::IsAlreadyExists(closed(4009, "id in use").refusal));
}

TEST(WsLinkEnd, AHelloTheHubDoesNotTakeIsNotRetried) {
  EXPECT_TRUE(absl::IsFailedPrecondition(closed(1008, "policy").refusal));
  const LinkEnd version = closed(1002, "", absl::InvalidArgumentError("hello: version 2"));
  EXPECT_TRUE(absl::IsInvalidArgument(version.refusal)) << version.refusal;
}

TEST(WsLinkEnd, AHubGoingAwayOrSilentIsRetried) {
  const LinkEnd stopping = closed(1001, "hub stopping");
  EXPECT_TRUE(stopping.refusal.ok());
  EXPECT_EQ(stopping.lost, "the hub closed the connection (1001 hub stopping)");
  const LinkEnd silent =
      end_of_link(LinkFailure{.timed_out = true, .idle_timeout = 90ms}, absl::OkStatus(), kUrl);
  EXPECT_TRUE(silent.refusal.ok());
  EXPECT_EQ(silent.lost, "the hub stopped answering (nothing for 90 ms)");
  const LinkEnd reset =
      end_of_link(LinkFailure{.error = "Connection reset by peer"}, absl::OkStatus(), kUrl);
  EXPECT_EQ(reset.lost, "Connection reset by peer");
}

TEST(WsLinkEnd, AClientErrorOrRedirectDeclinesForGood) {
  const LinkEnd wrong_path = end_of_declined_handshake(404, "Not Found", "no such path\n", kUrl);
  EXPECT_TRUE(absl::IsInvalidArgument(wrong_path.refusal));
  EXPECT_NE(wrong_path.refusal.message().find("(no such path); a herald hub serves path /"),
            std::string::npos)
      << wrong_path.refusal;
  EXPECT_TRUE(
      absl::IsFailedPrecondition(end_of_declined_handshake(301, "Moved", "", kUrl).refusal));
}

TEST(WsLinkEnd, AFullStoppingOrThrottlingHubIsTriedAgain) {
  for (unsigned status : {503u, 500u, 408u, 429u}) {
    const LinkEnd end = end_of_declined_handshake(status, "Busy", "", kUrl);
    EXPECT_TRUE(end.refusal.ok()) << status;
    EXPECT_NE(end.lost.find("declined the WebSocket handshake"), std::string::npos);
  }
}

}  // namespace
}  // namespace herald::ws_transport
