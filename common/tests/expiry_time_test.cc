#include "common/expiry_time.h"

#include <gtest/gtest.h>

namespace keyfleet {
namespace {

TEST(ExpiryTimeTest, GoodFormsParse) {
  struct Row {
    std::string text;
    absl::CivilSecond civil;
    bool utc;
  };
  const std::vector<Row> rows = {
      {"20300102", absl::CivilSecond(2030, 1, 2, 0, 0, 0), false},
      {"203001021304", absl::CivilSecond(2030, 1, 2, 13, 4, 0), false},
      {"20300102130459", absl::CivilSecond(2030, 1, 2, 13, 4, 59), false},
      {"20300102Z", absl::CivilSecond(2030, 1, 2, 0, 0, 0), true},
      {"203001021304z", absl::CivilSecond(2030, 1, 2, 13, 4, 0), true},
      {"20300102130459UTC", absl::CivilSecond(2030, 1, 2, 13, 4, 59), true},
      {"20280229", absl::CivilSecond(2028, 2, 29, 0, 0, 0), false},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.text);
    auto t = ParseExpiryTime(row.text);
    ASSERT_TRUE(t.ok()) << t.status();
    EXPECT_EQ(t->civil, row.civil);
    EXPECT_EQ(t->utc, row.utc);
  }
}

TEST(ExpiryTimeTest, BadFormsAreRefused) {
  for (const char* text :
       {"", "Z", "2030010", "203001021", "2030-01-02", "20290229", "20301301", "20300100",
        "203001022400", "203001021260", "20300102125960", "19700101Z", "+2030010", "20300102ZZ"}) {
    SCOPED_TRACE(text);
    EXPECT_FALSE(ParseExpiryTime(text).ok());
  }
}

TEST(ExpiryTimeTest, FormatRoundsDownToTheMinute) {
  const absl::Time t =
      absl::FromCivil(absl::CivilSecond(2031, 5, 6, 7, 8, 59), absl::UTCTimeZone());
  EXPECT_EQ(FormatExpiryTime(t), "203105060708Z");
  auto parsed = ParseExpiryTime(FormatExpiryTime(t));
  ASSERT_TRUE(parsed.ok());
  EXPECT_LE(ExpiryInstant(*parsed, absl::UTCTimeZone()), t);
}

}  // namespace
}  // namespace keyfleet
