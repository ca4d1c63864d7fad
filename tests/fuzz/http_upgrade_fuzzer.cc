// Fuzzes the first bytes a hub reads from any TCP peer: the HTTP upgrade
// request, parsed as WsSession::read_request does (Beast's request parser,
// header limit 8 KiB, no body), then judged by the hub's own checks
// (hub/upgrade_checks.cc: path "/" before '?', a WebSocket upgrade, a key of
// 16 bytes), and what follows the header handed to Beast again as
// WsSession::on_request does (handshake_replay). The parser never consumes
// more than it was given; a request it completes has no body; one refused
// gets 404, 426 or 400; one taken is an HTTP/1.1 GET carrying the upgrade
// headers; and its replay, parsed again, is an upgrade the hub takes, with
// the same key, followed by exactly the bytes that came behind it.
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "fuzz_check.hpp"
#include "hub/upgrade_checks.hpp"

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
  const std::optional<herald::ws_hub::UpgradeRefusal> refusal = herald::ws_hub::judge_upgrade(req);
  if (refusal) {
    FUZZ_CHECK(refusal->status == http::status::not_found ||
               refusal->status == http::status::upgrade_required ||
               refusal->status == http::status::bad_request);
    FUZZ_CHECK(!refusal->body.empty());
    return 0;
  }
  FUZZ_CHECK(req.method() == http::verb::get);
  FUZZ_CHECK(req.version() >= 11);
  FUZZ_CHECK(has_token(req[http::field::connection], "upgrade"));
  FUZZ_CHECK(has_token(req[http::field::upgrade], "websocket"));
  const auto key = req[http::field::sec_websocket_key];
  FUZZ_CHECK(herald::ws_hub::is_sixteen_byte_key(std::string_view(key.data(), key.size())));

  // What came behind the header: the client's first frames.
  const std::string_view early(reinterpret_cast<const char*>(data) + consumed, size - consumed);
  const herald::ws_hub::HandshakeReplay replay = herald::ws_hub::handshake_replay(req, early);
  if (replay.refusal) {
    FUZZ_CHECK(replay.refusal->status == http::status::bad_request);
    FUZZ_CHECK(early.size() > 0);
    return 0;
  }
  FUZZ_CHECK(replay.bytes.size() <= herald::ws_hub::kMaxHandshakeReplay);
  http::request_parser<http::empty_body> again;
  again.header_limit(8 * 1024);
  again.body_limit(0);
  const std::size_t header = again.put(boost::asio::buffer(replay.bytes), ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(again.is_done());
  FUZZ_CHECK(!herald::ws_hub::judge_upgrade(again.get()));
  FUZZ_CHECK(again.get()[http::field::sec_websocket_key] == key);
  FUZZ_CHECK(std::string_view(replay.bytes).substr(header) == early);
  return 0;
}
