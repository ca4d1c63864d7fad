#include "herald/session_token.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

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

// Made independently, with Python's hmac and base64 modules: header
// {"alg":"HS256","typ":"JWT"}, secret "secret"; the payload is in each name.
// {"sub":"leia","exp":4102444800} (2100-01-01):
constexpr std::string_view kLeiaUntil2100 =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsZWlhIiwiZXhwIjo0MTAyNDQ0ODAwfQ."
    "8eLWrG34bOZKwaP4F-w6UZkrBnb06OVsFbEdk-87VqU";
// {"sub":"leia"}: no exp.
constexpr std::string_view kLeiaForever =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsZWlhIn0."
    "cdYLzt1LhMJG2K8s7d8n8ymPJv5PBeT1DOJb9Jv5JO8";
// {"sub":"leia","exp":"soon"}
constexpr std::string_view kLeiaExpNotANumber =
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJsZWlhIiwiZXhwIjoic29vbiJ9."
    "aE6nG4kpq1leSzMNSLViK_rfF-zRIzlWsow7xKTKyHM";

void expect_refused(std::string_view token, std::string_view why) {
  auto subject = verify_session_token("secret", token);
  ASSERT_FALSE(subject.ok()) << token << " was accepted";
  EXPECT_EQ(subject.status().code(), absl::StatusCode::kUnauthenticated);
  EXPECT_NE(std::string(subject.status().message()).find(why), std::string::npos)
      << subject.status();
}

TEST(SessionToken, AcceptsATokenFromAnotherJwtLibrary) {
  auto subject = verify_session_token("secret", kLeiaUntil2100);
  ASSERT_TRUE(subject.ok()) << subject.status();
  EXPECT_EQ(*subject, "leia");
}

TEST(SessionToken, RefusesJunkAppendedAfterPadding) {
  expect_refused(std::string(kLeiaUntil2100) + "=junk", "signature is not canonical base64url");
}

TEST(SessionToken, RefusesPadding) {
  expect_refused(std::string(kLeiaUntil2100) + "=", "signature is not canonical base64url");
  std::string padded_header(kLeiaUntil2100);
  padded_header.insert(padded_header.find('.'), "==");
  expect_refused(padded_header, "header is not canonical base64url");
}

TEST(SessionToken, RefusesNonZeroUnusedBitsInTheLastCharacter) {
  // 32 signature bytes take 43 characters, whose last 2 bits are unused: "V"
  // decodes to the same bytes as "U" but is not the canonical spelling.
  std::string token(kLeiaUntil2100);
  ASSERT_EQ(token.back(), 'U');
  token.back() = 'V';
  expect_refused(token, "signature is not canonical base64url");
}

TEST(SessionToken, RefusesTheStandardBase64Alphabet) {
  std::string token(kLeiaUntil2100);
  token[token.rfind('-')] = '+';  // base64's spelling of base64url's '-'
  expect_refused(token, "signature is not canonical base64url");
}

TEST(SessionToken, RefusesALengthNoByteStringHas) {
  // 4n+1 characters: the last one carries 6 bits, less than a byte.
  expect_refused(std::string(kLeiaUntil2100) + "AA", "signature is not canonical base64url");
}

TEST(SessionToken, RefusesATokenWithoutExpiry) { expect_refused(kLeiaForever, "no \"exp\""); }

TEST(SessionToken, RefusesAnExpiryThatIsNotANumber) {
  expect_refused(kLeiaExpNotANumber, "\"exp\" must be a number");
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

TEST(SessionToken, MintsATokenForASubjectThatIsNotUtf8) {
  // JSON text is UTF-8: the bad byte becomes U+FFFD instead of an exception.
  const std::string token = make_session_token("secret", "luke\xff", 1h);
  auto subject = verify_session_token("secret", token);
  ASSERT_TRUE(subject.ok()) << subject.status();
  EXPECT_EQ(*subject, "luke\xef\xbf\xbd");
}

TEST(SessionToken, ReadSecretFileNamesThePath) {
  auto missing = read_secret_file("/nonexistent/herald-secret");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(missing.status().message()).find("/nonexistent/herald-secret"),
            std::string::npos);
}

}  // namespace
}  // namespace herald
