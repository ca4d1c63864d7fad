#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "herald/herald.hpp"
#include "herald/internal/names.hpp"
#include "herald/internal/transport.hpp"

namespace herald::internal {
namespace {

TEST(Names, AcceptsOneTo255BytesOfUtf8) {
  EXPECT_TRUE(validate_name("channel", "a").ok());
  EXPECT_TRUE(validate_name("channel", std::string(255, 'x')).ok());
  EXPECT_TRUE(validate_name("event", "chat:message/été-日本-😀").ok());
}

TEST(Names, RejectsEmptyLongAndInvalidUtf8WithTheLimitInTheMessage) {
  absl::Status empty = validate_name("channel", "");
  EXPECT_EQ(empty.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(empty.message()).find("channel name is empty"), std::string::npos);

  absl::Status long_name = validate_name("event", std::string(256, 'y'));
  EXPECT_EQ(long_name.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(long_name.message()).find("256 bytes; the limit is 255"), std::string::npos)
      << long_name.message();

  absl::Status bad = validate_name("channel", "ab\xff");
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(bad.message()).find("not valid UTF-8"), std::string::npos);
}

TEST(Names, Utf8ValidatorRejectsOverlongsSurrogatesAndTruncation) {
  EXPECT_TRUE(is_valid_utf8("plain ascii text, longer than eight bytes"));
  EXPECT_TRUE(is_valid_utf8("\xc3\xa9"));           // é
  EXPECT_TRUE(is_valid_utf8("\xf0\x9f\x98\x80"));   // 😀
  EXPECT_FALSE(is_valid_utf8("\xc0\xaf"));          // overlong '/'
  EXPECT_FALSE(is_valid_utf8("\xe0\x80\xaf"));      // overlong
  EXPECT_FALSE(is_valid_utf8("\xed\xa0\x80"));      // surrogate U+D800
  EXPECT_FALSE(is_valid_utf8("\xf4\x90\x80\x80"));  // > U+10FFFF
  EXPECT_FALSE(is_valid_utf8("\xe2\x82"));          // truncated
  EXPECT_FALSE(is_valid_utf8("\x80"));              // lone continuation
  EXPECT_FALSE(is_valid_utf8("abcdefgh\xc3"));      // truncated after fast path
}

TEST(Url, ParsesMemAndNetworkForms) {
  auto mem = parse_url("mem://");
  ASSERT_TRUE(mem.ok());
  EXPECT_EQ(mem->scheme, "mem");
  EXPECT_EQ(mem->host, "");
  auto named = parse_url("mem://orders");
  ASSERT_TRUE(named.ok());
  EXPECT_EQ(named->host, "orders");
  auto zmq = parse_url("zmq://127.0.0.1:5555");
  ASSERT_TRUE(zmq.ok());
  EXPECT_EQ(zmq->host, "127.0.0.1");
  EXPECT_EQ(zmq->port, 5555);
  auto ws = parse_url("ws://localhost:8080/socket.io/");
  ASSERT_TRUE(ws.ok());
  EXPECT_EQ(ws->path, "/socket.io/");
}

TEST(Url, RejectsMalformedUrlsNamingThem) {
  for (const char* text :
       {"orders", "://x", "MEM://x", "mem://a/b", "zmq://:5", "zmq://h:99999", "zmq://h:12x"}) {
    auto url = parse_url(text);
    EXPECT_EQ(url.status().code(), absl::StatusCode::kInvalidArgument) << text;
    EXPECT_NE(std::string(url.status().message()).find(text), std::string::npos)
        << url.status().message();
  }
}

TEST(Url, RealtimeConstructorThrowsInvalidArgumentNamingTheUrl) {
  try {
    Realtime rt("carrier-pigeon://coop");
    FAIL() << "expected std::invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("carrier-pigeon://coop"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Realtime("no-scheme-here"), std::invalid_argument);
}

}  // namespace
}  // namespace herald::internal
