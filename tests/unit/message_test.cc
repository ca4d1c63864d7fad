#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "herald/herald.hpp"

namespace herald {
namespace {

struct Point {
  int x = 0;
  int y = 0;
  std::string label;
  MSGPACK_DEFINE_MAP(x, y, label)
  friend bool operator==(const Point&, const Point&) = default;
};

std::vector<std::byte> raw(std::initializer_list<int> bytes) {
  std::vector<std::byte> out;
  for (int b : bytes) out.push_back(static_cast<std::byte>(b));
  return out;
}

TEST(Message, DefaultIsNil) {
  Message m;
  EXPECT_TRUE(m.is_nil());
  ASSERT_EQ(m.bytes().size(), 1u);
  EXPECT_EQ(m.bytes()[0], std::byte{0xc0});
  EXPECT_EQ(m.to_json(), "null");
}

TEST(Message, RoundTripsScalarsAndStrings) {
  EXPECT_EQ(Message::of(42).as<int>(), 42);
  EXPECT_EQ(Message::of(-7).as<long>(), -7);
  EXPECT_DOUBLE_EQ(Message::of(2.5).as<double>(), 2.5);
  EXPECT_EQ(Message::of(true).as<bool>(), true);
  EXPECT_EQ(Message::of(std::string("hello")).as<std::string>(), "hello");
  EXPECT_EQ(Message::of("literal").as<std::string>(), "literal");
  EXPECT_FALSE(Message::of(0).is_nil());
}

TEST(Message, RoundTripsContainersAndOptional) {
  std::vector<int> v{1, 2, 3};
  EXPECT_EQ(Message::of(v).as<std::vector<int>>(), v);
  std::map<std::string, int> m{{"a", 1}, {"b", 2}};
  EXPECT_EQ((Message::of(m).as<std::map<std::string, int>>()), m);
  std::optional<int> none;
  EXPECT_TRUE(Message::of(none).is_nil());
  EXPECT_EQ(Message::of(std::optional<int>(5)).as<std::optional<int>>(), 5);
}

TEST(Message, BinaryTravelsAsMsgpackBin) {
  Bytes data = raw({0x00, 0xff, 0x10, 0x80});
  Message m = Message::of(data);
  EXPECT_EQ(m.bytes()[0], std::byte{0xc4});  // bin 8
  EXPECT_EQ(m.as<Bytes>(), data);
  EXPECT_EQ(m.to_json(), "\"AP8QgA==\"");  // base64
}

TEST(Message, TypedStructWithDefineMap) {
  Point p{3, -4, "corner"};
  Message m = Message::of(p);
  EXPECT_EQ(m.as<Point>(), p);
  EXPECT_EQ(m.to_json(), R"({"x":3,"y":-4,"label":"corner"})");
}

TEST(Message, WrongTypeThrowsDecodeError) {
  Message m = Message::of(std::string("not a number"));
  EXPECT_THROW(m.as<int>(), DecodeError);
  EXPECT_EQ(m.try_as<int>(), std::nullopt);
  EXPECT_THROW(Message::of(7).as<Point>(), DecodeError);
  try {
    m.as<int>();
    FAIL() << "expected DecodeError";
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot decode"), std::string::npos) << e.what();
  }
}

TEST(Message, CopiesShareBytes) {
  Message a = Message::of(std::string(1000, 'x'));
  Message b = a;
  EXPECT_TRUE(a.shares_bytes_with(b));
  EXPECT_EQ(a.bytes().data(), b.bytes().data());
  Message c = Message::of(std::string(1000, 'x'));
  EXPECT_FALSE(a.shares_bytes_with(c));
  EXPECT_EQ(a, c);  // same bytes, different buffers
}

TEST(Message, LargeBodiesGrowTheBuffer) {
  std::string big(100'000, 'z');
  EXPECT_EQ(Message::of(big).as<std::string>(), big);
}

TEST(Message, FromMsgpackAcceptsOneValue) {
  auto m = Message::from_msgpack(raw({0x92, 0x01, 0xa1, 'a'}));  // [1, "a"]
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->to_json(), R"([1,"a"])");
}

TEST(Message, FromMsgpackRejectsMalformedInput) {
  auto empty = Message::from_msgpack({});
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  auto truncated = Message::from_msgpack(raw({0xa5, 'a', 'b'}));  // str of 5, 2 given
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(truncated.status().message()).find("ends inside"), std::string::npos);
  auto trailing = Message::from_msgpack(raw({0x01, 0x02}));
  EXPECT_EQ(trailing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(std::string(trailing.status().message()).find("trailing"), std::string::npos);
  auto reserved = Message::from_msgpack(raw({0xc1}));
  EXPECT_EQ(reserved.status().code(), absl::StatusCode::kInvalidArgument);
  // An array header claiming four billion items must not be trusted.
  auto huge = Message::from_msgpack(raw({0xdd, 0xff, 0xff, 0xff, 0xff, 0x01}));
  EXPECT_EQ(huge.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Message, FromMsgpackRejectsDeepNesting) {
  std::vector<std::byte> deep(1000, std::byte{0x91});  // [[[[...
  deep.push_back(std::byte{0x01});
  auto m = Message::from_msgpack(deep);
  EXPECT_EQ(m.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(Message, ToJsonEscapesAndHandlesNonStringKeys) {
  std::map<int, std::string> m{{1, "a\"b\n"}};
  EXPECT_EQ(Message::of(m).to_json(), R"({"1":"a\"b\n"})");
}

TEST(Message, ToJsonIsValidUtf8WhenAStrIsNot) {
  // msgpack does not check str bytes; JSON text must be UTF-8. Found by
  // tests/fuzz/msgpack_fuzzer.cc (corpus/msgpack/invalid_utf8).
  auto m = Message::from_msgpack(raw({0xa2, 0xff, 0xfe}));
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->to_json(), R"("\ufffd\ufffd")");
  // Well-formed sequences stay; a truncated one and a lone continuation byte do not.
  EXPECT_EQ(Message::of(std::string("h\xc3\xa9 \xe2\x82 \x80!")).to_json(),
            "\"h\xc3\xa9 \\ufffd\\ufffd \\ufffd!\"");
  EXPECT_EQ(Message::of(std::map<std::string, int>{{"k\xff", 1}}).to_json(), R"({"k\ufffd":1})");
}

TEST(Message, ToJsonOfKeysWithinKeysIsLinear) {
  // {{{nil: nil}: nil}: nil}: a key that is a map is its JSON text, quoted once.
  auto three = Message::from_msgpack(raw({0x81, 0x81, 0x81, 0xc0, 0xc0, 0xc0, 0xc0}));
  ASSERT_TRUE(three.ok()) << three.status();
  EXPECT_EQ(three->to_json(), R"({"{{null:null}:null}":null})");
  // 40 levels, 81 bytes: quoting each level again doubled the output per level
  // (a timeout of tests/fuzz/msgpack_fuzzer.cc, corpus/msgpack/keys_within_keys).
  std::vector<std::byte> deep(40, std::byte{0x81});
  deep.insert(deep.end(), 41, std::byte{0xc0});
  auto m = Message::from_msgpack(deep);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_LT(m->to_json().size(), 600u);
}

}  // namespace
}  // namespace herald
