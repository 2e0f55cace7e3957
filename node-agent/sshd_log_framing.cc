#include "node-agent/sshd_log_framing.h"

#include <array>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/strip.h"
#include "nlohmann/json.hpp"

namespace keyfleet::agent {
namespace {

constexpr std::array<absl::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "HH:MM:SS" into its three numbers.
bool ParseClock(absl::string_view text, int* h, int* m, int* s) {
  if (text.size() != 8 || text[2] != ':' || text[5] != ':') return false;
  return AllDigits(text.substr(0, 2)) && AllDigits(text.substr(3, 2)) &&
         AllDigits(text.substr(6, 2)) && absl::SimpleAtoi(text.substr(0, 2), h) &&
         absl::SimpleAtoi(text.substr(3, 2), m) && absl::SimpleAtoi(text.substr(6, 2), s) &&
         *h < 24 && *m < 60 && *s < 61;
}

// "Dec  1 10:47:18 " (15 bytes and a space) at the front of `rest`.
std::optional<absl::Time> TakeClassicTime(absl::string_view* rest, absl::Time now,
                                          absl::TimeZone zone) {
  if (rest->size() < 16 || (*rest)[3] != ' ' || (*rest)[6] != ' ' || (*rest)[15] != ' ') {
    return std::nullopt;
  }
  int month = 0;
  for (size_t i = 0; i < kMonths.size(); ++i) {
    if (rest->substr(0, 3) == kMonths[i]) month = static_cast<int>(i) + 1;
  }
  absl::string_view day_text = absl::StripLeadingAsciiWhitespace(rest->substr(4, 2));
  int day = 0, h = 0, m = 0, s = 0;
  if (month == 0 || !AllDigits(day_text) || !absl::SimpleAtoi(day_text, &day) || day < 1 ||
      day > 31 || !ParseClock(rest->substr(7, 8), &h, &m, &s)) {
    return std::nullopt;
  }
  const absl::CivilYear year(absl::ToCivilYear(now, zone));
  absl::Time t = absl::FromCivil(absl::CivilSecond(year.year(), month, day, h, m, s), zone);
  if (t > now + absl::Hours(24)) {
    t = absl::FromCivil(absl::CivilSecond(year.year() - 1, month, day, h, m, s), zone);
  }
  rest->remove_prefix(16);
  return t;
}

// "2026-12-01T10:47:18.123456+00:00 " at the front of `rest`.
std::optional<absl::Time> TakeRfc3339Time(absl::string_view* rest) {
  const size_t space = rest->find(' ');
  if (space == absl::string_view::npos || space < 20 || space > 40) return std::nullopt;
  absl::Time t;
  std::string err;
  if (!absl::ParseTime("%Y-%m-%d%ET%H:%M:%E*S%Ez", std::string(rest->substr(0, space)), &t, &err)) {
    return std::nullopt;
  }
  rest->remove_prefix(space + 1);
  return t;
}

SshdLogRecord ParseSyslog(absl::string_view line, absl::Time now, absl::TimeZone zone) {
  SshdLogRecord record;
  absl::string_view rest = line;
  std::optional<absl::Time> time = rest.size() > 4 && absl::ascii_isdigit(rest[0])
                                       ? TakeRfc3339Time(&rest)
                                       : TakeClassicTime(&rest, now, zone);
  if (!time) return record;
  const size_t host_end = rest.find(' ');
  if (host_end == 0 || host_end == absl::string_view::npos) return record;
  rest.remove_prefix(host_end + 1);
  // "PROGRAM[PID]: MESSAGE"
  const size_t colon = rest.find(": ");
  if (colon == absl::string_view::npos) return record;
  absl::string_view tag = rest.substr(0, colon);
  const size_t bracket = tag.find('[');
  if (bracket == absl::string_view::npos || !absl::EndsWith(tag, "]")) return record;
  pid_t pid = 0;
  if (!IsSshdProgramName(tag.substr(0, bracket)) ||
      !ParsePid(tag.substr(bracket + 1, tag.size() - bracket - 2), &pid)) {
    return record;
  }
  record.event = ParseSshdMessage(rest.substr(colon + 2));
  record.pid = pid;
  record.time = time;
  return record;
}

// A journal field as text: a string, or the array of bytes journald uses for non-UTF-8.
std::optional<std::string> FieldText(const nlohmann::json& object, const char* name) {
  auto it = object.find(name);
  if (it == object.end()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array() || it->size() > kMaxSshdLogLineBytes) return std::nullopt;
  std::string bytes;
  for (const nlohmann::json& b : *it) {
    if (!b.is_number_unsigned() || b.get<uint64_t>() > 255) return std::nullopt;
    bytes.push_back(static_cast<char>(b.get<uint64_t>()));
  }
  return bytes;
}

SshdLogRecord ParseJournal(absl::string_view line) {
  SshdLogRecord record;
  const nlohmann::json object = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!object.is_object()) return record;
  std::optional<std::string> program = FieldText(object, "_COMM");
  if (!program) program = FieldText(object, "SYSLOG_IDENTIFIER");
  std::optional<std::string> message = FieldText(object, "MESSAGE");
  if (!program || !IsSshdProgramName(*program) || !message) return record;
  record.event = ParseSshdMessage(*message);
  std::optional<std::string> pid_text = FieldText(object, "_PID");
  if (!pid_text) pid_text = FieldText(object, "SYSLOG_PID");
  pid_t pid = 0;
  if (pid_text && ParsePid(*pid_text, &pid)) record.pid = pid;
  std::optional<std::string> usec = FieldText(object, "__REALTIME_TIMESTAMP");
  int64_t micros = 0;
  if (usec && AllDigits(*usec) && usec->size() <= 18 && absl::SimpleAtoi(*usec, &micros)) {
    record.time = absl::FromUnixMicros(micros);
  }
  return record;
}

}  // namespace

bool ParsePid(absl::string_view text, pid_t* pid) {
  int64_t value = 0;
  if (!AllDigits(text) || text.size() > 10 || !absl::SimpleAtoi(text, &value) || value <= 1 ||
      value > (int64_t{1} << 22)) {  // PID_MAX_LIMIT
    return false;
  }
  *pid = static_cast<pid_t>(value);
  return true;
}

bool IsSshdProgramName(absl::string_view name) {
  return name == "sshd" || name == "sshd-session";
}

SshdLogRecord ParseSshdLogLine(absl::string_view line, SshdLogFormat format, absl::Time now,
                               absl::TimeZone zone) {
  if (line.size() > kMaxSshdLogLineBytes) return SshdLogRecord{};
  switch (format) {
    case SshdLogFormat::kSshdFile: {
      SshdLogRecord record;
      record.event = ParseSshdMessage(line);
      return record;
    }
    case SshdLogFormat::kSyslog:
      return ParseSyslog(line, now, zone);
    case SshdLogFormat::kJournalJson:
      return ParseJournal(line);
  }
  return SshdLogRecord{};
}

}  // namespace keyfleet::agent
