#include <charconv>

#include "herald/internal/text.hpp"
#include "herald/internal/transport.hpp"

namespace herald::internal {

absl::StatusOr<Url> parse_url(std::string_view text) {
  auto bad = [&](std::string_view why) {
    return absl::InvalidArgumentError(internal::cat("herald: malformed URL \"", text, "\": ", why,
                                                    " (expected mem://NAME, zmq://HOST:PORT or "
                                                    "ws://HOST:PORT)"));
  };
  Url url;
  url.text = std::string(text);
  std::size_t sep = text.find("://");
  if (sep == std::string_view::npos) return bad("no \"://\"");
  if (sep == 0) return bad("no scheme before \"://\"");
  for (char c : text.substr(0, sep)) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.')) {
      return bad("the scheme must be lowercase letters, digits, '+', '-' or '.'");
    }
  }
  url.scheme = std::string(text.substr(0, sep));
  std::string_view rest = text.substr(sep + 3);
  // A network URL's authority ends at a path or a query
  // ("zmq://HOST:PORT?curve=KEY"); what follows is the transport's (Url::path).
  std::size_t slash = url.scheme == "mem" ? rest.find('/') : rest.find_first_of("/?");
  std::string_view authority = rest.substr(0, slash);
  if (slash != std::string_view::npos) url.path = std::string(rest.substr(slash));
  if (url.scheme == "mem") {
    if (!url.path.empty()) return bad("a mem:// hub name cannot contain '/'");
    url.host = std::string(authority);
    return url;
  }
  std::size_t colon = authority.rfind(':');
  if (colon != std::string_view::npos && authority.find(']') != std::string_view::npos &&
      colon < authority.find(']')) {
    colon = std::string_view::npos;  // "[::1]" without a port
  }
  url.host = std::string(authority.substr(0, colon));
  if (url.host.empty()) return bad("no host");
  if (colon != std::string_view::npos) {
    std::string_view port = authority.substr(colon + 1);
    int value = -1;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 0 || value > 65535) {
      return bad("the port must be a number from 0 to 65535");
    }
    url.port = value;
  }
  return url;
}

}  // namespace herald::internal
