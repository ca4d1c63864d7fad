// Fuzzes the first bytes a hub reads from any TCP peer: the HTTP upgrade
// request, parsed as WsSession::read_request does (Beast's request parser,
// header limit 8 KiB, no body), then judged as WsSession::on_request does
// (path "/" before '?', a WebSocket upgrade). The parser never consumes more
// than it was given, a request it completes has no body, and one judged an
// upgrade is an HTTP/1.1 GET carrying the upgrade headers.
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "fuzz_check.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;

bool has_token(beast::string_view list, beast::string_view token) {
  return http::token_list(list).exists(token);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  http::request_parser<http::empty_body> parser;
  parser.header_limit(8 * 1024);
  parser.body_limit(0);
  beast::error_code ec;
  std::size_t consumed = 0;
  // As http::async_read does: hand the parser what arrived, more while it
  // needs more; here the input arrives whole, then the peer closes.
  while (!parser.is_done() && consumed < size) {
    const std::size_t n = parser.put(boost::asio::buffer(data + consumed, size - consumed), ec);
    consumed += n;
    FUZZ_CHECK(consumed <= size);
    if (ec == http::error::need_more) {
      ec = {};
      break;
    }
    if (ec || n == 0) break;
  }
  if (ec) return 0;
  if (!parser.is_done()) {
    if (!parser.got_some()) return 0;  // end of stream before a request: dropped
    parser.put_eof(ec);
    if (ec || !parser.is_done()) return 0;
  }

  const auto& req = parser.get();
  FUZZ_CHECK(!parser.chunked() || parser.is_done());
  const std::string_view target(req.target().data(), req.target().size());
  const std::string_view path = target.substr(0, target.find('?'));
  FUZZ_CHECK(path.size() <= target.size());
  if (path != "/") return 0;                         // 404
  if (!beast::websocket::is_upgrade(req)) return 0;  // 426
  FUZZ_CHECK(req.method() == http::verb::get);
  FUZZ_CHECK(req.version() >= 11);
  FUZZ_CHECK(has_token(req[http::field::connection], "upgrade"));
  FUZZ_CHECK(has_token(req[http::field::upgrade], "websocket"));
  return 0;
}
