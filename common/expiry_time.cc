#include "common/expiry_time.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace keyfleet {
namespace {

int Digits(absl::string_view s, size_t pos, size_t n) {
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) v = v * 10 + (s[i] - '0');
  return v;
}

}  // namespace

absl::StatusOr<ExpiryTime> ParseExpiryTime(absl::string_view text) {
  constexpr char kAllowed[] =
      "allowed: YYYYMMDD, YYYYMMDDHHMM or YYYYMMDDHHMMSS, optionally "
      "followed by Z or UTC";
  ExpiryTime out;
  absl::string_view digits = text;
  if (digits.size() > 1 && absl::EndsWithIgnoreCase(digits, "z")) {
    out.utc = true;
    digits.remove_suffix(1);
  } else if (digits.size() > 3 && absl::EndsWithIgnoreCase(digits, "utc")) {
    out.utc = true;
    digits.remove_suffix(3);
  }
  if (digits.size() != 8 && digits.size() != 12 && digits.size() != 14) {
    return absl::InvalidArgumentError(
        absl::StrCat("expiry-time \"", text, "\" has the wrong length (", kAllowed, ")"));
  }
  for (char c : digits) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) {
      return absl::InvalidArgumentError(
          absl::StrCat("expiry-time \"", text, "\" has a non-digit (", kAllowed, ")"));
    }
  }
  const int year = Digits(digits, 0, 4), month = Digits(digits, 4, 2), day = Digits(digits, 6, 2);
  const int hour = digits.size() >= 12 ? Digits(digits, 8, 2) : 0;
  const int minute = digits.size() >= 12 ? Digits(digits, 10, 2) : 0;
  const int second = digits.size() == 14 ? Digits(digits, 12, 2) : 0;
  out.civil = absl::CivilSecond(year, month, day, hour, minute, second);
  // CivilSecond normalises out-of-range fields (month 13 becomes January next year); a field
  // that changed was out of range.
  if (year < 1970 || out.civil.year() != year || out.civil.month() != month ||
      out.civil.day() != day || out.civil.hour() != hour || out.civil.minute() != minute ||
      out.civil.second() != second) {
    return absl::InvalidArgumentError(
        absl::StrCat("expiry-time \"", text, "\" is not a valid date and time"));
  }
  if (out.utc && absl::ToUnixSeconds(absl::FromCivil(out.civil, absl::UTCTimeZone())) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("expiry-time \"", text, "\" is not after 1970-01-01 00:00:00 UTC"));
  }
  return out;
}

absl::Time ExpiryInstant(const ExpiryTime& expiry, absl::TimeZone local) {
  return absl::FromCivil(expiry.civil, expiry.utc ? absl::UTCTimeZone() : local);
}

std::string FormatExpiryTime(absl::Time t) {
  return absl::FormatTime("%Y%m%d%H%MZ", t, absl::UTCTimeZone());
}

}  // namespace keyfleet
