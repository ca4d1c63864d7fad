#include "herald/session_token.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "herald/internal/text.hpp"

namespace herald {
namespace {

using internal::cat;

// OpenSSL frees its state in an atexit handler by default, while threads that
// outlive main() — an enforcing Hub's session watch, a broker's ZAP thread —
// may still be verifying a token with it (a crash at exit). So the first
// initialization, at load time, says not to: what it holds is reclaimed with
// the process.
[[maybe_unused]] const bool g_openssl_without_exit_cleanup =
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr) == 1;

std::string base64url(std::string_view bytes) {
  std::string s = internal::base64(bytes);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

// Canonical base64url as JWTs use it (RFC 7515 §2): the URL-safe alphabet
// only, no padding, and the unused low bits of the last character zero, so
// exactly one text decodes to a given byte string — "=junk" appended to a
// valid token, or a last character changed in its unused bits, is refused.
bool unbase64url(std::string_view in, std::string& out) {
  out.clear();
  if (in.size() % 4 == 1) return false;  // 6 bits cannot end a byte
  unsigned value = 0;
  int bits = 0;
  for (char c : in) {
    int d;
    if (c >= 'A' && c <= 'Z')
      d = c - 'A';
    else if (c >= 'a' && c <= 'z')
      d = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      d = c - '0' + 52;
    else if (c == '-')
      d = 62;
    else if (c == '_')
      d = 63;
    else
      return false;
    value = ((value << 6) | static_cast<unsigned>(d)) & 0xfff;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return (value & ((1u << bits) - 1)) == 0;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status refuse(std::string_view why) {
  return absl::UnauthenticatedError(cat("herald: session token refused: ", why));
}

}  // namespace

std::string make_session_token(std::string_view secret, std::string_view subject,
                               std::chrono::seconds ttl) {
  const std::int64_t now = now_seconds();
  nlohmann::json payload = {
      {"sub", std::string(subject)}, {"iat", now}, {"exp", now + ttl.count()}};
  // JSON text is UTF-8: a subject that is not gets U+FFFD for its bad bytes
  // (dump would throw otherwise).
  const std::string payload_text =
      payload.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string signing_input =
      cat(base64url(R"({"alg":"HS256","typ":"JWT"})"), ".", base64url(payload_text));
  return cat(signing_input, ".", base64url(hmac_sha256(secret, signing_input)));
}

absl::StatusOr<std::string> verify_session_token(std::string_view secret, std::string_view token) {
  if (token.empty()) return refuse("no token");
  if (token.size() > 8192) return refuse("longer than 8192 bytes");
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos) {
    return refuse("not a JWT (expected header.payload.signature)");
  }
  std::string header, payload, signature;
  const char* part = !unbase64url(token.substr(0, dot1), header)                      ? "header"
                     : !unbase64url(token.substr(dot1 + 1, dot2 - dot1 - 1), payload) ? "payload"
                     : !unbase64url(token.substr(dot2 + 1), signature)                ? "signature"
                                                                                      : nullptr;
  if (part != nullptr) {
    return refuse(
        cat("the ", part,
            " is not canonical base64url (A-Z a-z 0-9 - _, no padding, unused bits zero)"));
  }
  nlohmann::json h = nlohmann::json::parse(header, nullptr, /*allow_exceptions=*/false);
  if (!h.is_object() || !h.contains("alg") || h["alg"] != "HS256") {
    return refuse("the header must say \"alg\":\"HS256\"");
  }
  const std::string expected = hmac_sha256(secret, token.substr(0, dot2));
  if (signature.size() != expected.size() ||
      CRYPTO_memcmp(signature.data(), expected.data(), expected.size()) != 0) {
    return refuse("bad signature");
  }
  nlohmann::json p = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  if (!p.is_object()) return refuse("the payload is not a JSON object");
  const std::int64_t now = now_seconds();
  // A token without "exp" would be valid forever: herald refuses it rather
  // than accept a credential that can never be withdrawn (`herald token` and
  // make_session_token always write one).
  if (!p.contains("exp")) return refuse("no \"exp\" (expiry) claim: a token must expire");
  if (!p["exp"].is_number()) return refuse("\"exp\" must be a number (unix seconds)");
  if (p["exp"].get<double>() <= static_cast<double>(now)) return refuse("expired");
  if (p.contains("nbf")) {
    if (!p["nbf"].is_number() || p["nbf"].get<double>() > static_cast<double>(now)) {
      return refuse("not valid yet (nbf)");
    }
  }
  if (p.contains("sub") && p["sub"].is_string()) return p["sub"].get<std::string>();
  return std::string();
}

std::function<bool(std::string_view)> session_verifier(std::string secret) {
  return [secret = std::move(secret)](std::string_view token) {
    return verify_session_token(secret, token).ok();
  };
}

absl::StatusOr<std::string> read_secret_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(cat("herald: cannot read secret file \"", path, "\""));
  std::ostringstream text;
  text << in.rdbuf();
  std::string secret = text.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  if (secret.empty()) {
    return absl::InvalidArgumentError(cat("herald: secret file \"", path, "\" is empty"));
  }
  return secret;
}

}  // namespace herald
