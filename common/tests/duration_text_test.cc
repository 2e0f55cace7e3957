#include "common/duration_text.h"

#include <gtest/gtest.h>

namespace keyfleet {
namespace {

TEST(DurationText, GoodInputs) {
  const std::pair<const char*, absl::Duration> good[] = {
      {"30d", absl::Hours(24 * 30)}, {"12h", absl::Hours(12)},     {"15m", absl::Minutes(15)},
      {"90s", absl::Seconds(90)},    {"0s", absl::ZeroDuration()}, {"365d", absl::Hours(24 * 365)},
  };
  for (const auto& [text, want] : good) {
    auto d = ParseDurationText(text);
    ASSERT_TRUE(d.ok()) << text << ": " << d.status();
    EXPECT_EQ(*d, want) << text;
    EXPECT_EQ(*ParseDurationText(FormatDurationText(*d)), want) << text;
  }
}

TEST(DurationText, BadInputs) {
  const char* bad[] = {"",    "d",  "30", "-1d",  "+1d", "1.5d",
                       "1 d", "1D", "1w", "1d2h", "d30", "1000000000000d",
                       " 1d", "1d "};
  for (const char* text : bad) {
    auto d = ParseDurationText(text);
    EXPECT_FALSE(d.ok()) << "\"" << text << "\" was accepted";
    if (!d.ok()) EXPECT_NE(d.status().message().find("e.g. 30d"), absl::string_view::npos);
  }
}

TEST(DurationText, Formats) {
  EXPECT_EQ(FormatDurationText(absl::Hours(48)), "2d");
  EXPECT_EQ(FormatDurationText(absl::Hours(5)), "5h");
  EXPECT_EQ(FormatDurationText(absl::Seconds(61)), "61s");
}

TEST(DurationText, ForHumansIsRounded) {
  EXPECT_EQ(FormatDurationForHumans(absl::Nanoseconds(1743557759)), "1.7s");
  EXPECT_EQ(FormatDurationForHumans(absl::Milliseconds(12400)), "12s");
  EXPECT_EQ(FormatDurationForHumans(absl::Seconds(150)), "2m30s");
  EXPECT_EQ(FormatDurationForHumans(absl::ZeroDuration()), "0");
}

}  // namespace
}  // namespace keyfleet
