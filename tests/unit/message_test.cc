#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <typeinfo>
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

namespace herald {
namespace {

// What msgpack-c's own conversion (the path as<T>() took before it read
// scalars directly) makes of `bytes` as a T, or std::nullopt when it throws.
template <class T>
std::optional<T> generic_as(const std::vector<std::byte>& bytes) {
  try {
    // Strings reference `bytes` (as as<T>() always had them), so that a
    // std::string_view stays valid after the handle.
    msgpack::object_handle h =
        msgpack::unpack(reinterpret_cast<const char*>(bytes.data()), bytes.size(),
                        [](msgpack::type::object_type, std::size_t, void*) { return true; });
    return h.get().as<T>();
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

template <class T>
void expect_same_as_generic(const std::vector<std::byte>& bytes) {
  absl::StatusOr<Message> m = Message::from_msgpack(bytes);
  ASSERT_TRUE(m.ok()) << m.status();
  const std::optional<T> generic = generic_as<T>(bytes);
  const std::optional<T> direct = m->try_as<T>();
  ASSERT_EQ(direct.has_value(), generic.has_value())
      << typeid(T).name() << " of " << m->to_json() << " (first byte " << static_cast<int>(bytes[0])
      << ")";
  if (direct) {
    if constexpr (std::is_floating_point_v<T>) {
      if (*generic != *generic) {
        EXPECT_NE(*direct, *direct);
        return;
      }
    }
    EXPECT_EQ(*direct, *generic) << typeid(T).name() << " of " << m->to_json();
  }
}

template <class T>
std::vector<std::byte> packed(const T& value) {
  msgpack::sbuffer buffer;
  msgpack::pack(buffer, value);
  const auto* p = reinterpret_cast<const std::byte*>(buffer.data());
  return {p, p + buffer.size()};
}

// Every scalar encoding at its edges, read as every number type, bool and
// the string types: as<T>() reads scalars straight from the bytes now, and
// must accept, refuse and convert exactly as msgpack-c does.
TEST(MessageDecode, ScalarsDecodeExactlyAsMsgpackCConvertsThem) {
  std::vector<std::vector<std::byte>> cases;
  for (std::int64_t v : {std::int64_t{0},
                         std::int64_t{1},
                         std::int64_t{127},
                         std::int64_t{128},
                         std::int64_t{255},
                         std::int64_t{256},
                         std::int64_t{65535},
                         std::int64_t{65536},
                         std::int64_t{2147483647},
                         std::int64_t{2147483648},
                         std::int64_t{4294967295},
                         std::int64_t{4294967296},
                         std::numeric_limits<std::int64_t>::max(),
                         std::int64_t{-1},
                         std::int64_t{-32},
                         std::int64_t{-33},
                         std::int64_t{-128},
                         std::int64_t{-129},
                         std::int64_t{-32768},
                         std::int64_t{-32769},
                         std::int64_t{-2147483648LL},
                         std::int64_t{-2147483649LL},
                         std::numeric_limits<std::int64_t>::min()}) {
    cases.push_back(packed(v));
  }
  cases.push_back(packed(std::numeric_limits<std::uint64_t>::max()));
  // Signed formats holding non-negative values (msgpack-c types them positive).
  cases.push_back(raw({0xd0, 0x05}));
  cases.push_back(raw({0xd1, 0x00, 0x80}));
  cases.push_back(raw({0xd2, 0x00, 0x00, 0x80, 0x00}));
  cases.push_back(raw({0xd3, 0, 0, 0, 0, 0, 0, 0, 0x2a}));
  for (double d : {0.0, -0.0, 1.5, -2.25, 1e300, 3.0e9, std::numeric_limits<double>::infinity(),
                   std::numeric_limits<double>::quiet_NaN()}) {
    cases.push_back(packed(d));
  }
  cases.push_back(packed(1.5f));
  cases.push_back(packed(true));
  cases.push_back(packed(false));
  cases.push_back(packed(std::string()));
  cases.push_back(packed(std::string("herald")));
  cases.push_back(packed(std::string(40, 'x')));               // str 8
  cases.push_back(packed(std::string(300, 'y')));              // str 16
  cases.push_back(packed(std::string(70000, 'z')));            // str 32
  cases.push_back(packed(Bytes{std::byte{1}, std::byte{2}}));  // bin 8
  cases.push_back(packed(Bytes(300)));                         // bin 16
  cases.push_back(packed(std::vector<int>{1, 2}));
  cases.push_back(packed(std::map<std::string, int>{{"a", 1}}));
  cases.push_back(raw({0xc0}));              // nil
  cases.push_back(raw({0xd4, 0x01, 0x02}));  // fixext 1
  for (const auto& bytes : cases) {
    expect_same_as_generic<bool>(bytes);
    expect_same_as_generic<char>(bytes);
    expect_same_as_generic<signed char>(bytes);
    expect_same_as_generic<unsigned char>(bytes);
    expect_same_as_generic<short>(bytes);
    expect_same_as_generic<unsigned short>(bytes);
    expect_same_as_generic<int>(bytes);
    expect_same_as_generic<unsigned>(bytes);
    expect_same_as_generic<long>(bytes);
    expect_same_as_generic<unsigned long>(bytes);
    expect_same_as_generic<long long>(bytes);
    expect_same_as_generic<unsigned long long>(bytes);
    expect_same_as_generic<float>(bytes);
    expect_same_as_generic<double>(bytes);
    expect_same_as_generic<std::string>(bytes);
    expect_same_as_generic<std::string_view>(bytes);
  }
}

TEST(MessageDecode, AScalarOfTheWrongTypeStillThrowsDecodeError) {
  EXPECT_THROW(Message::of(std::string("x")).as<int>(), DecodeError);
  EXPECT_THROW(Message::of(300).as<std::uint8_t>(), DecodeError);
  EXPECT_THROW(Message::of(-1).as<unsigned>(), DecodeError);
  EXPECT_THROW(Message::of(1.5).as<int>(), DecodeError);
  EXPECT_THROW(Message().as<double>(), DecodeError);
  EXPECT_THROW(Message::of(1).as<bool>(), DecodeError);
  try {
    Message::of(std::string("x")).as<int>();
  } catch (const DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot decode message as"), std::string::npos)
        << e.what();
  }
}

// A struct whose live instances are counted: what a Message carries beside
// its bytes must end with the last copy of the Message.
struct Counted {
  static inline int alive = 0;
  int n = 0;
  std::vector<std::string> tags;
  Counted() { ++alive; }
  Counted(int v, std::vector<std::string> t) : n(v), tags(std::move(t)) { ++alive; }
  Counted(const Counted& o) : n(o.n), tags(o.tags) { ++alive; }
  Counted& operator=(const Counted&) = default;
  ~Counted() { --alive; }
  MSGPACK_DEFINE(n, tags)
};

TEST(MessageCarried, AStructSentInProcessDecodesAsItselfAndAsItsBytes) {
  const Point p{3, -4, "p"};
  const Message m = Message::of(p);
  EXPECT_EQ(m.as<Point>(), p);
  // Bytes and the value agree: the same bytes, decoded from scratch.
  absl::StatusOr<Message> from_bytes = Message::from_msgpack(m.bytes());
  ASSERT_TRUE(from_bytes.ok());
  EXPECT_EQ(from_bytes->as<Point>(), p);
  EXPECT_EQ(*from_bytes, m);
  // Another type that can read the same bytes still decodes them.
  const auto as_map = m.as<std::map<std::string, msgpack::object>>();
  ASSERT_EQ(as_map.size(), 3u);
  EXPECT_EQ(as_map.begin()->first, "label");
  EXPECT_EQ(m.to_json(), from_bytes->to_json());
  EXPECT_THROW(m.as<std::vector<int>>(), DecodeError);
}

TEST(MessageCarried, ContainersOfOwningValuesAreCarried) {
  const std::vector<Point> points{{1, 2, "a"}, {3, 4, "b"}};
  const Message m = Message::of(points);
  EXPECT_EQ(m.as<std::vector<Point>>(), points);
  const std::map<std::string, std::vector<int>> nested{{"x", {1, 2}}, {"y", {}}};
  EXPECT_EQ(Message::of(nested).as<std::remove_cvref_t<decltype(nested)>>().at("x"),
            (std::vector<int>{1, 2}));
  const std::optional<std::pair<int, std::string>> maybe{{7, "seven"}};
  EXPECT_EQ(Message::of(maybe).as<std::remove_cvref_t<decltype(maybe)>>(), maybe);
}

TEST(MessageCarried, TheCarriedValueEndsWithTheLastCopy) {
  const int before = Counted::alive;
  {
    Message m = Message::of(Counted(5, {"a", "b"}));
    EXPECT_EQ(Counted::alive, before + 1);  // the temporary ended; the carried copy lives
    Message copy = m;
    {
      Counted got = copy.as<Counted>();
      EXPECT_EQ(got.n, 5);
      EXPECT_EQ(got.tags, (std::vector<std::string>{"a", "b"}));
    }
    m = Message();
    EXPECT_EQ(Counted::alive, before + 1);
  }
  EXPECT_EQ(Counted::alive, before);
}

// Large carried values push the block past its first size: the value, the
// bytes and an Envelope's room still fit and stay intact through a Hub.
TEST(MessageCarried, CarriedValuesTravelThroughAHubUnchanged) {
  Realtime rt("mem://carried-" + std::to_string(::getpid()));
  ASSERT_TRUE(rt.join("room").ok());
  std::vector<Point> got;
  const std::vector<Point> sent(50, Point{1, 2, std::string(100, 'q')});
  rt.on("big", [&](const Payload& p) { got = p.message().as<std::vector<Point>>(); });
  rt.on("small", [&](const Payload& p) { got.push_back(p.message().as<Point>()); });
  ASSERT_TRUE(rt.send("room", "big", sent).ok());
  EXPECT_EQ(got, sent);
  ASSERT_TRUE(rt.send("room", "small", Point{9, 9, "s"}).ok());
  ASSERT_EQ(got.size(), 51u);
  EXPECT_EQ(got.back(), (Point{9, 9, "s"}));
}

}  // namespace
}  // namespace herald

namespace herald {
namespace {

// Small blocks are reused across threads (made on a producer, freed on a
// consumer, taken back by the producer), and pools outlive their threads.
// Rounds of short-lived producers: every message reads back what was put in
// it, whichever block it got.
TEST(MessageBlocks, BlocksReusedAcrossThreadsKeepEveryMessageIntact) {
  std::mutex mu;
  std::vector<Message> handed;
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> checked{0};
  std::atomic<std::uint64_t> wrong{0};
  std::thread consumer([&] {
    std::vector<Message> mine;
    for (;;) {
      // Read before taking: once done, this take holds everything left.
      const bool last = done.load();
      {
        std::lock_guard lock(mu);
        mine.swap(handed);
      }
      for (const Message& m : mine) {
        const auto v = m.as<std::vector<std::int64_t>>();
        if (v.size() != 3 || v[0] + v[1] != v[2]) ++wrong;
        ++checked;
      }
      mine.clear();  // frees on this thread what producers made
      if (last) break;
    }
  });
  constexpr int kRounds = 5;
  constexpr int kProducers = 3;
  constexpr std::int64_t kEach = 20'000;
  for (int round = 0; round < kRounds; ++round) {
    std::vector<std::thread> producers;
    for (int p = 0; p < kProducers; ++p) {
      producers.emplace_back([&, p] {
        for (std::int64_t i = 0; i < kEach; ++i) {
          Message m = Message::of(std::vector<std::int64_t>{i, p, i + p});
          Message scratch = Message::of(static_cast<int>(i));  // made and freed here
          EXPECT_EQ(scratch.as<int>(), static_cast<int>(i));
          std::lock_guard lock(mu);
          handed.push_back(std::move(m));
        }
      });
    }
    for (std::thread& t : producers) t.join();
  }
  done = true;
  consumer.join();
  EXPECT_EQ(checked.load(), static_cast<std::uint64_t>(kRounds * kProducers * kEach));
  EXPECT_EQ(wrong.load(), 0u);
}

}  // namespace
}  // namespace herald
