// Fuzzes internal::parse_url, which reads every URL a user or a config file
// hands to herald::connect. An accepted URL has a scheme of the allowed
// characters, a host (except mem://), a port of 0-65535 or none, a path that
// is empty or starts with '/' or '?' (zmq://host:port?curve=KEY), and written
// back as scheme://host[:port]path it parses to the same parts.
#include <string>

#include "fuzz_check.hpp"
#include "herald/internal/transport.hpp"

namespace {

bool scheme_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.';
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text = herald::fuzz::text_of(data, size);
  absl::StatusOr<herald::internal::Url> url = herald::internal::parse_url(text);
  if (!url.ok()) {
    FUZZ_CHECK(url.status().code() == absl::StatusCode::kInvalidArgument);
    FUZZ_CHECK(url.status().message().find("malformed URL") != std::string_view::npos);
    return 0;
  }
  FUZZ_CHECK(url->text == text);
  FUZZ_CHECK(!url->scheme.empty());
  for (char c : url->scheme) FUZZ_CHECK(scheme_char(c));
  FUZZ_CHECK(url->port >= -1 && url->port <= 65535);
  if (url->scheme == "mem") {
    FUZZ_CHECK(url->path.empty() && url->port == -1);
  } else {
    FUZZ_CHECK(!url->host.empty());
  }
  FUZZ_CHECK(url->path.empty() || url->path.front() == '/' || url->path.front() == '?');
  std::string again = url->scheme + "://" + url->host;
  if (url->port >= 0) again += ":" + std::to_string(url->port);
  again += url->path;
  absl::StatusOr<herald::internal::Url> reparsed = herald::internal::parse_url(again);
  FUZZ_CHECK(reparsed.ok());
  FUZZ_CHECK(reparsed->scheme == url->scheme && reparsed->host == url->host &&
             reparsed->port == url->port && reparsed->path == url->path);
  return 0;
}
