#include "common/ssh_wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

TEST(WireReaderTest, ReadsWhatTheWriterWrote) {
  const std::string bytes =
      WireWriter().U32(7).U64(1ull << 40).String("abc").Mpint("\x80\x01").Mpint("\x7f").Take();
  WireReader r(bytes);
  EXPECT_EQ(*r.ReadU32("a"), 7u);
  EXPECT_EQ(*r.ReadU64("b"), 1ull << 40);
  EXPECT_EQ(*r.ReadCString("c"), "abc");
  EXPECT_EQ(*r.ReadPositiveMpint("d"), "\x80\x01");
  EXPECT_EQ(*r.ReadPositiveMpint("e"), "\x7f");
  EXPECT_TRUE(r.ExpectEnd("all").ok());
}

TEST(WireReaderTest, MalformedFieldsAreRefused) {
  struct Row {
    std::string name;
    std::string bytes;
    std::string reason;
  };
  const std::vector<Row> rows = {
      {"short length", std::string("\x00\x00", 2), "truncated in f"},
      {"length past end",
       std::string("\x00\x00\x00\x05"
                   "ab",
                   6),
       "truncated in f"},
      {"zero mpint", std::string("\x00\x00\x00\x00", 4), "f is zero"},
      {"negative mpint", std::string("\x00\x00\x00\x01\x80", 5), "f is negative"},
      {"padded mpint", std::string("\x00\x00\x00\x02\x00\x01", 6), "superfluous leading zero"},
      {"lone zero byte", std::string("\x00\x00\x00\x01\x00", 5), "superfluous leading zero"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    WireReader r(row.bytes);
    auto v = r.ReadPositiveMpint("f");
    ASSERT_FALSE(v.ok());
    EXPECT_THAT(std::string(v.status().message()), HasSubstr(row.reason));
  }
}

TEST(WireReaderTest, MpintSizeAtAndPastTheCap) {
  const std::string at_cap(kSshMaxBignumBytes, '\x11');
  const std::string at_cap_bytes = WireWriter().Mpint(at_cap).Take();
  WireReader ok(at_cap_bytes);
  EXPECT_TRUE(ok.ReadPositiveMpint("m").ok());
  const std::string past = WireWriter().Mpint(at_cap + "\x11").Take();
  WireReader bad(past);
  auto v = bad.ReadPositiveMpint("m");
  ASSERT_FALSE(v.ok());
  EXPECT_THAT(std::string(v.status().message()), HasSubstr("longer than 16384 bits"));
}

TEST(WireReaderTest, CStringRefusesNul) {
  const std::string bytes = WireWriter().String(std::string("a\0b", 3)).Take();
  WireReader r(bytes);
  EXPECT_FALSE(r.ReadCString("s").ok());
}

TEST(BigEndianBitLengthTest, CountsSignificantBits) {
  EXPECT_EQ(BigEndianBitLength(""), 0u);
  EXPECT_EQ(BigEndianBitLength(std::string("\x00\x01", 2)), 1u);
  EXPECT_EQ(BigEndianBitLength("\x80"), 8u);
  EXPECT_EQ(BigEndianBitLength(std::string("\x01\x00", 2)), 9u);
}

}  // namespace
}  // namespace keyfleet
