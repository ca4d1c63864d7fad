#include "herald/session_token.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace herald {
namespace {

using namespace std::chrono_literals;

TEST(SessionToken, RoundTripsTheSubject) {
  std::string token = make_session_token("secret", "luke", 1h);
  auto subject = verify_session_token("secret", token);
  ASSERT_TRUE(subject.ok()) << subject.status();
  EXPECT_EQ(*subject, "luke");
  EXPECT_TRUE(session_verifier("secret")(token));
}

TEST(SessionToken, AcceptsATokenFromAnotherJwtLibrary) {
  // Made independently, with Python's hmac and base64 modules:
  // header {"alg":"HS256","typ":"JWT"}, payload {"sub":"leia"}, secret "secret".
  const std::string token =
      "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsZWlhIn0."
      "cdYLzt1LhMJG2K8s7d8n8ymPJv5PBeT1DOJb9Jv5JO8";
  auto subject = verify_session_token("secret", token);
  ASSERT_TRUE(subject.ok()) << subject.status();
  EXPECT_EQ(*subject, "leia");
}

TEST(SessionToken, RefusesWrongSecretExpiryTamperingAndNonsense) {
  const std::string good = make_session_token("secret", "luke", 1h);
  EXPECT_EQ(verify_session_token("other", good).status().code(),
            absl::StatusCode::kUnauthenticated);
  auto expired = verify_session_token("secret", make_session_token("secret", "old", -1s));
  EXPECT_EQ(expired.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(expired.status().message()).find("expired"), std::string::npos);

  std::string tampered = good;
  tampered[tampered.find('.') + 2] ^= 1;  // flip a bit of the payload
  EXPECT_FALSE(verify_session_token("secret", tampered).ok());

  // alg "none" with an empty signature must never pass.
  const std::string none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJ2YWRlciJ9.";
  EXPECT_FALSE(verify_session_token("secret", none).ok());
  for (const char* nonsense : {"", "abc", "a.b", "a.b.c.d", "!!!.???.***"}) {
    EXPECT_EQ(verify_session_token("secret", nonsense).status().code(),
              absl::StatusCode::kUnauthenticated)
        << nonsense;
  }
  EXPECT_FALSE(session_verifier("secret")(""));
}

TEST(SessionToken, ReadSecretFileNamesThePath) {
  auto missing = read_secret_file("/nonexistent/herald-secret");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("/nonexistent/herald-secret"),
            std::string::npos);
}

}  // namespace
}  // namespace herald
