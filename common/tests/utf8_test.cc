#include "common/utf8.h"

#include <gtest/gtest.h>

#include <string>

namespace keyfleet {
namespace {

TEST(Utf8Test, WellFormedTextPasses) {
  for (const std::string& good :
       {std::string(""), std::string("plain ascii"), std::string("caf\xC3\xA9"),
        std::string("\xE2\x82\xAC 20"), std::string("\xF0\x9F\x94\x91 key"),
        std::string("\xED\x9F\xBF"), std::string("\xF4\x8F\xBF\xBF"), std::string("a\0b", 3)}) {
    EXPECT_EQ(FindInvalidUtf8(good), std::nullopt) << good;
  }
}

TEST(Utf8Test, MalformedTextIsFoundAtItsFirstBadByte) {
  struct Case {
    std::string text;
    size_t at;
    const char* why;
  };
  const Case cases[] = {
      {"\xFF", 0, "never valid"},
      {"ok\x80", 2, "a lone continuation byte"},
      {"\xC0\xAF", 0, "overlong two-byte form"},
      {"\xC1\xBF", 0, "overlong two-byte form"},
      {"\xE0\x80\xAF", 0, "overlong three-byte form"},
      {"\xF0\x80\x80\xAF", 0, "overlong four-byte form"},
      {"\xED\xA0\x80", 0, "a surrogate"},
      {"\xF4\x90\x80\x80", 0, "above U+10FFFF"},
      {"\xF5\x80\x80\x80", 0, "above U+10FFFF"},
      {"ab\xC3", 2, "truncated at the end"},
      {"\xE2\x82", 0, "truncated three-byte sequence"},
      {"\xE2\x28\xA1", 0, "a bad continuation byte"},
      {"x\xF0\x9F\x94", 1, "truncated four-byte sequence"},
  };
  for (const Case& c : cases) EXPECT_EQ(FindInvalidUtf8(c.text), c.at) << c.why;
}

}  // namespace
}  // namespace keyfleet
