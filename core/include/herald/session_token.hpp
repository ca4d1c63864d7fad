// herald/session_token.hpp — session tokens: HS256 JSON Web Tokens.
//
// Hubs and brokers that enforce sessions accept a token signed with a shared
// secret, so any JWT library can mint one:
//   header  {"alg":"HS256","typ":"JWT"}
//   payload {"sub": <who>, "iat": <unix seconds>, "exp": <unix seconds>}
// `herald token --secret FILE --sub ID --ttl 1h` prints one.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"

namespace herald {

// A token for `subject`, valid for `ttl` from now. Bytes of `subject` that are
// not UTF-8 become U+FFFD (a JWT payload is JSON text).
std::string make_session_token(std::string_view secret, std::string_view subject,
                               std::chrono::seconds ttl);

// The token's subject when its HS256 signature matches `secret`, it has an
// "exp" that has not passed, and it is already valid ("nbf"). Each part is
// canonical base64url (no padding, nothing appended). kUnauthenticated,
// saying why, otherwise — a token without "exp" included: it would never
// expire.
[[nodiscard]] absl::StatusOr<std::string> verify_session_token(std::string_view secret,
                                                               std::string_view token);

// For HubOptions::verify_session and the brokers: accepts exactly the tokens
// verify_session_token accepts.
std::function<bool(std::string_view)> session_verifier(std::string secret);

// Reads a secret from a file (trailing newline removed). kNotFound /
// kInvalidArgument (empty) with the path in the message.
[[nodiscard]] absl::StatusOr<std::string> read_secret_file(const std::string& path);

}  // namespace herald
