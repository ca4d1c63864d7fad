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

std::string base64url(std::string_view bytes) {
  std::string s = internal::base64(bytes);
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  while (!s.empty() && s.back() == '=') s.pop_back();
  return s;
}

bool unbase64url(std::string_view in, std::string& out) {
  out.clear();
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
    else if (c == '-' || c == '+')
      d = 62;
    else if (c == '_' || c == '/')
      d = 63;
    else if (c == '=')
      break;
    else
      return false;
    value = (value << 6) | static_cast<unsigned>(d);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((value >> bits) & 0xff));
    }
  }
  return true;
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
  std::string signing_input =
      cat(base64url(R"({"alg":"HS256","typ":"JWT"})"), ".", base64url(payload.dump()));
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
  if (!unbase64url(token.substr(0, dot1), header) ||
      !unbase64url(token.substr(dot1 + 1, dot2 - dot1 - 1), payload) ||
      !unbase64url(token.substr(dot2 + 1), signature)) {
    return refuse("not base64url");
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
  if (p.contains("exp")) {
    if (!p["exp"].is_number() || p["exp"].get<double>() <= static_cast<double>(now)) {
      return refuse("expired");
    }
  }
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
