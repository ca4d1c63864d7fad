// Fuzzes verify_session_token, which reads a token from any peer before it is
// authenticated. The first byte picks what the rest is:
//   0: a token, verified with the secret "secret" (the seeds are valid tokens
//      until 2100, so mutations explore the near-valid ones);
//   1: a JSON payload, signed here with "secret" under the HS256 header;
//   2: a secret and a subject for make_session_token.
// An accepted token is canonical (two dots, the base64url alphabet only, no
// padding), has an unexpired numeric exp, and anything appended to it is
// refused; a minted token verifies to its subject.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz_check.hpp"
#include "herald/internal/names.hpp"
#include "herald/session_token.hpp"

namespace {

constexpr std::string_view kSecret = "secret";

std::string base64url(std::string_view bytes) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  unsigned value = 0;
  int bits = 0;
  for (unsigned char c : bytes) {
    value = (value << 8) | c;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kAlphabet[(value >> bits) & 63]);
    }
  }
  if (bits > 0) out.push_back(kAlphabet[(value << (6 - bits)) & 63]);
  return out;
}

std::string signed_token(std::string_view payload) {
  const std::string input = base64url(R"({"alg":"HS256","typ":"JWT"})") + "." + base64url(payload);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), kSecret.data(), static_cast<int>(kSecret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + base64url(std::string_view(reinterpret_cast<char*>(mac), len));
}

void check_verdict(std::string_view token) {
  absl::StatusOr<std::string> subject = herald::verify_session_token(kSecret, token);
  if (!subject.ok()) {
    FUZZ_CHECK(subject.status().code() == absl::StatusCode::kUnauthenticated);
    FUZZ_CHECK(subject.status().message().find("session token refused") != std::string_view::npos);
    return;
  }
  FUZZ_CHECK(token.size() <= 8192);
  std::size_t dots = 0;
  for (char c : token) {
    const bool url_safe = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                          (c >= '0' && c <= '9') || c == '-' || c == '_';
    FUZZ_CHECK(url_safe || c == '.');
    dots += c == '.';
  }
  FUZZ_CHECK(dots == 2);
  for (std::string_view tail : {"=", "A", "AA", "=junk", "."}) {
    FUZZ_CHECK(!herald::verify_session_token(kSecret, std::string(token) + std::string(tail)).ok());
  }
}

void check_signed(std::string_view payload) {
  const std::string token = signed_token(payload);
  check_verdict(token);
  absl::StatusOr<std::string> subject = herald::verify_session_token(kSecret, token);
  if (!subject.ok()) return;
  const nlohmann::json p = nlohmann::json::parse(payload, nullptr, /*allow_exceptions=*/false);
  FUZZ_CHECK(p.is_object() && p.contains("exp") && p["exp"].is_number());
  const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  FUZZ_CHECK(p["exp"].get<double>() > static_cast<double>(now) - 1);
  if (p.contains("sub") && p["sub"].is_string())
    FUZZ_CHECK(*subject == p["sub"].get<std::string>());
}

void check_minted(std::string_view rest) {
  if (rest.empty()) return;
  const std::size_t secret_size = static_cast<unsigned char>(rest[0]) % 64;
  rest.remove_prefix(1);
  const std::string_view secret = rest.substr(0, secret_size);
  const std::string_view subject = rest.substr(std::min(secret_size, rest.size()));
  const std::string token = herald::make_session_token(secret, subject, std::chrono::hours(1));
  absl::StatusOr<std::string> verified = herald::verify_session_token(secret, token);
  if (token.size() > 8192) {
    FUZZ_CHECK(!verified.ok());
    return;
  }
  // A subject that is not UTF-8 is minted with U+FFFD in place of its bad
  // bytes (JSON text is UTF-8); a valid one round-trips.
  FUZZ_CHECK(verified.ok());
  if (herald::internal::is_valid_utf8(subject)) FUZZ_CHECK(*verified == subject);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view rest = herald::fuzz::text_of(data + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_verdict(rest);
      break;
    case 1:
      check_signed(rest);
      break;
    default:
      check_minted(rest);
      break;
  }
  return 0;
}
