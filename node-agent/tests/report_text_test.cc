// Text from users' files made fit for a report (report_text.h): one table of inputs that are
// not UTF-8 and what the controller is sent instead, one of cuts at the limit.
#include "node-agent/report_text.h"

#include <gtest/gtest.h>

#include <string>

#include "common/utf8.h"

namespace keyfleet::agent {
namespace {

struct Case {
  const char* name;
  std::string input;
  size_t max_bytes;
  std::string want;
};

void ExpectReported(const Case& c) {
  const std::string got = ReportText(c.input, c.max_bytes);
  EXPECT_EQ(got, c.want) << c.name;
  EXPECT_FALSE(FindInvalidUtf8(got).has_value()) << c.name << ": not valid UTF-8";
  EXPECT_LE(got.size(), c.max_bytes) << c.name;
}

TEST(ReportText, BytesThatAreNotUtf8AreEscapedAndValidTextIsKept) {
  const Case cases[] = {
      {"empty", "", 16, ""},
      {"ASCII", "alice@laptop", 64, "alice@laptop"},
      {"UTF-8 (2-, 3- and 4-byte characters)", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80", 64,
       "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"},
      {"Latin-1 e acute", "caf\xE9", 64, "caf\\xe9"},
      {"Latin-1 between UTF-8", "\xC3\xA9\xE9\xC3\xA9", 64, "\xC3\xA9\\xe9\xC3\xA9"},
      {"lone continuation byte", "a\x80z", 64, "a\\x80z"},
      {"two-byte sequence cut at the end", "ab\xC3", 64, "ab\\xc3"},
      {"three-byte sequence cut at the end", "ab\xE2\x82", 64, "ab\\xe2\\x82"},
      {"four-byte sequence cut at the end", "x\xF0\x9F\x98", 64, "x\\xf0\\x9f\\x98"},
      {"truncated sequence followed by ASCII", "\xE2\x82z", 64, "\\xe2\\x82z"},
      {"overlong two-byte '/'", "\xC0\xAF", 64, "\\xc0\\xaf"},
      {"overlong two-byte U+007F", "\xC1\xBF", 64, "\\xc1\\xbf"},
      {"overlong three-byte '/'", "\xE0\x80\xAF", 64, "\\xe0\\x80\\xaf"},
      {"overlong four-byte '/'", "\xF0\x80\x80\xAF", 64, "\\xf0\\x80\\x80\\xaf"},
      {"high surrogate U+D800", "\xED\xA0\x80", 64, "\\xed\\xa0\\x80"},
      {"low surrogate U+DFFF", "\xED\xBF\xBF", 64, "\\xed\\xbf\\xbf"},
      {"U+D7FF, just below the surrogates", "\xED\x9F\xBF", 64, "\xED\x9F\xBF"},
      {"U+10FFFF, the last code point", "\xF4\x8F\xBF\xBF", 64, "\xF4\x8F\xBF\xBF"},
      {"past U+10FFFF", "\xF4\x90\x80\x80", 64, "\\xf4\\x90\\x80\\x80"},
      {"bytes never in UTF-8", "\xF5\xFE\xFF", 64, "\\xf5\\xfe\\xff"},
      // Control characters are valid UTF-8 and kept: the controller drops them where it stores
      // key lines, the CLI escapes them where it prints.
      {"C0 controls and DEL", "a\tb\x1B[31mc\x7F", 64, "a\tb\x1B[31mc\x7F"},
      {"a C1 control (U+009B)", "a\xC2\x9B", 64, "a\xC2\x9B"},
      {"NUL", std::string("a\0b", 3), 64, std::string("a\0b", 3)},
      {"a backslash is not escaped", "C:\\x41", 64, "C:\\x41"},
  };
  for (const Case& c : cases) ExpectReported(c);
}

TEST(ReportText, LongTextIsCutOnACharacterBoundaryAndMarked) {
  const std::string e_acute = "\xC3\xA9";
  std::string three_hundred;  // 150 two-byte characters
  for (int i = 0; i < 150; ++i) three_hundred += e_acute;
  std::string cut_comment;  // 126 characters (252 bytes) and the marker: 255 bytes
  for (int i = 0; i < 126; ++i) cut_comment += e_acute;
  cut_comment += "\xE2\x80\xA6";
  const std::string emoji = "\xF0\x9F\x98\x80";
  const Case cases[] = {
      {"exactly at the limit", "abcd", 4, "abcd"},
      {"one byte over", "abcde", 4, "a\xE2\x80\xA6"},
      {"an emoji straddling the cut is dropped whole", "abcde" + emoji + "xyz", 10,
       "abcde\xE2\x80\xA6"},
      {"an emoji that ends at the cut is kept", "abc" + emoji + "xyzw", 10,
       "abc" + emoji + "\xE2\x80\xA6"},
      {"an escape straddling the cut is dropped whole", "abcd\xE9xyz", 8, "abcd\xE2\x80\xA6"},
      {"escaped text that fits exactly is not cut", "caf\xE9", 7, "caf\\xe9"},
      {"escaping makes it too long", "caf\xE9", 6, "caf\xE2\x80\xA6"},
      {"two-byte characters", "\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9\xC3\xA9", 8,
       "\xC3\xA9\xC3\xA9\xE2\x80\xA6"},
      {"a 300-byte comment at the 256-byte limit", three_hundred, 256, cut_comment},
      {"no room for the marker", "abc", 2, "ab"},
      {"no room at all", "abc", 0, ""},
  };
  for (const Case& c : cases) ExpectReported(c);
}

TEST(ReportText, UncutTextIsAllOrNothing) {
  EXPECT_EQ(ReportTextUncut("restrict", 8), "restrict");
  EXPECT_EQ(ReportTextUncut("command=\"caf\xE9\"", 17), "command=\"caf\\xe9\"");
  EXPECT_EQ(ReportTextUncut("command=\"caf\xE9\"", 16), std::nullopt) << "escaped, 17 bytes";
  EXPECT_EQ(ReportTextUncut("restricted", 8), std::nullopt);
  EXPECT_EQ(ReportTextUncut("", 0), "");
}

}  // namespace
}  // namespace keyfleet::agent
