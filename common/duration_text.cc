#include "common/duration_text.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace keyfleet {

absl::StatusOr<absl::Duration> ParseDurationText(absl::string_view text) {
  auto bad = [&] {
    return absl::InvalidArgumentError(
        absl::StrCat("duration \"", text,
                     "\" is not valid: use a whole number and one unit, e.g. 30d, 12h, "
                     "15m or 90s"));
  };
  if (text.size() < 2 || text.size() > 12) return bad();
  absl::Duration unit;
  switch (text.back()) {
    case 's':
      unit = absl::Seconds(1);
      break;
    case 'm':
      unit = absl::Minutes(1);
      break;
    case 'h':
      unit = absl::Hours(1);
      break;
    case 'd':
      unit = absl::Hours(24);
      break;
    default:
      return bad();
  }
  int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return bad();
    n = n * 10 + (c - '0');
  }
  return n * unit;
}

std::string FormatDurationText(absl::Duration d) {
  const int64_t s = absl::ToInt64Seconds(d);
  if (s != 0 && s % 86400 == 0) return absl::StrCat(s / 86400, "d");
  if (s != 0 && s % 3600 == 0) return absl::StrCat(s / 3600, "h");
  if (s != 0 && s % 60 == 0) return absl::StrCat(s / 60, "m");
  return absl::StrCat(s, "s");
}

std::string FormatDurationForHumans(absl::Duration d) {
  const absl::Duration unit =
      absl::AbsDuration(d) < absl::Seconds(10) ? absl::Milliseconds(100) : absl::Seconds(1);
  return absl::FormatDuration(absl::Floor(d + unit / 2, unit));  // nearest
}

}  // namespace keyfleet
