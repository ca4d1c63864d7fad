// printable_quote (herald/internal/text.hpp): what error messages quote of a
// peer's input is always valid UTF-8 (a msgpack str), cut at a character.
#include "herald/internal/text.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>

#include "herald/internal/names.hpp"

namespace herald::internal {
namespace {

TEST(PrintableQuote, KeepsValidTextAndEscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(printable_quote("room"), "\"room\"");
  EXPECT_EQ(printable_quote("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x89"),
            "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x8e\x89\"");
  EXPECT_EQ(printable_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(printable_quote(std::string("\n\x7f\0", 3)), "\"\\x0a\\x7f\\x00\"");
}

TEST(PrintableQuote, BytesThatAreNotPartOfACharacterAreEscaped) {
  EXPECT_EQ(printable_quote("a\xff"
                            "b"),
            "\"a\\xffb\"");
  EXPECT_EQ(printable_quote("\xc3("), "\"\\xc3(\"");                           // truncated
  EXPECT_EQ(printable_quote("\xc0\xaf"), "\"\\xc0\\xaf\"");                    // overlong
  EXPECT_EQ(printable_quote("\xed\xa0\x80"), "\"\\xed\\xa0\\x80\"");           // a surrogate
  EXPECT_EQ(printable_quote("\xf4\x90\x80\x80"), "\"\\xf4\\x90\\x80\\x80\"");  // past U+10FFFF
}

TEST(PrintableQuote, IsCutAtACharacterBoundary) {
  // "é" is two bytes: with room for one, it is left out whole.
  EXPECT_EQ(printable_quote("ab\xc3\xa9", 3), "\"ab...\"");
  EXPECT_EQ(printable_quote("ab\xc3\xa9", 4), "\"ab\xc3\xa9\"");
  EXPECT_EQ(printable_quote("\xf0\x9f\x8e\x89!", 3), "\"...\"");
  EXPECT_EQ(printable_quote(std::string(100, 'x'), 64), "\"" + std::string(64, 'x') + "...\"");
  EXPECT_EQ(printable_quote("abc", 0), "\"...\"");
}

TEST(PrintableQuote, AnyInputGivesValidUtf8WithinItsBound) {
  std::mt19937 random(9);
  std::uniform_int_distribution<int> byte(0, 255), length(0, 80), limit(0, 70);
  for (int i = 0; i < 20000; ++i) {
    std::string input(static_cast<std::size_t>(length(random)), '\0');
    for (char& c : input) c = static_cast<char>(byte(random));
    const std::size_t max = static_cast<std::size_t>(limit(random));
    const std::string out = printable_quote(input, max);
    ASSERT_TRUE(is_valid_utf8(out)) << i;
    ASSERT_LE(out.size(), 4 * max + 5) << i;
  }
}

}  // namespace
}  // namespace herald::internal
