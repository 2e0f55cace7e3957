#include "controller/notify/mail_message.h"

#include <algorithm>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base64.h"

namespace keyfleet::controller::notify {
namespace {

// RFC 2047 2: an encoded word is at most 75 characters. 45 bytes of text are 60 of base64, plus
// the 12 of "=?utf-8?B?" and "?=".
constexpr size_t kEncodedWordTextBytes = 45;
// RFC 2045 6.8: base64 lines of at most 76 characters.
constexpr size_t kBase64LineChars = 76;
constexpr char kTruncatedNote[] = "\n[the rest of this notification was cut by keyfleet]\n";

bool IsAtext(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-/=?^_`{|}~").find(c) != absl::string_view::npos;
}

absl::Status ValidateDomain(absl::string_view domain) {
  if (domain.empty()) return absl::InvalidArgumentError("it has no domain after '@'");
  for (absl::string_view label : absl::StrSplit(domain, '.')) {
    if (label.empty()) {
      return absl::InvalidArgumentError(
          "its domain has an empty label (two dots, or a dot at "
          "either end)");
    }
    if (label.size() > kMaxMailDomainLabelBytes) {
      return absl::InvalidArgumentError(absl::StrCat("its domain has a label longer than ",
                                                     kMaxMailDomainLabelBytes, " characters"));
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-') {
        return absl::InvalidArgumentError(
            "its domain may hold only letters, digits, '-' and '.' (no address literals)");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return absl::InvalidArgumentError("a label of its domain starts or ends with '-'");
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAddress(absl::string_view address) {
  if (address.empty()) return absl::InvalidArgumentError("it is empty");
  if (address.size() > kMaxMailAddressBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("it is longer than ", kMaxMailAddressBytes, " characters"));
  }
  const size_t at = address.rfind('@');
  if (at == absl::string_view::npos) return absl::InvalidArgumentError("it has no '@'");
  absl::string_view local = address.substr(0, at);
  if (local.empty()) return absl::InvalidArgumentError("it has nothing before '@'");
  if (local.size() > kMaxMailLocalPartBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("its part before '@' is longer than ", kMaxMailLocalPartBytes, " characters"));
  }
  for (char c : local) {
    if (!IsAtext(c) && c != '.') {
      return absl::InvalidArgumentError(
          "its part before '@' may hold only letters, digits, dots and !#$%&'*+-/=?^_`{|}~");
    }
  }
  if (local.front() == '.' || local.back() == '.' || absl::StrContains(local, "..")) {
    return absl::InvalidArgumentError(
        "its part before '@' has a dot at either end or two dots in a row");
  }
  return ValidateDomain(address.substr(at + 1));
}

bool IsUtf8Continuation(char c) {
  return (static_cast<unsigned char>(c) & 0xC0) == 0x80;
}

// The longest prefix of `text` of at most `limit` bytes that does not split a UTF-8 sequence.
absl::string_view Utf8Prefix(absl::string_view text, size_t limit) {
  if (text.size() <= limit) return text;
  size_t end = limit;
  while (end > 0 && IsUtf8Continuation(text[end])) --end;
  return text.substr(0, end);
}

bool IsPrintableAscii(absl::string_view text) {
  for (char c : text) {
    if (c < 0x20 || c > 0x7e) return false;
  }
  return true;
}

// RFC 2047 B-encoded words, folded onto continuation lines.
std::string EncodeHeaderWords(absl::string_view text) {
  std::vector<std::string> words;
  while (!text.empty()) {
    absl::string_view chunk = Utf8Prefix(text, kEncodedWordTextBytes);
    if (chunk.empty()) chunk = text.substr(0, 1);  // a broken sequence longer than a chunk
    words.push_back(absl::StrCat("=?utf-8?B?", Base64Encode(chunk), "?="));
    text.remove_prefix(chunk.size());
  }
  return absl::StrJoin(words, "\r\n ");
}

// Text with LF line ends, whatever mix of CRLF, CR and LF it came with.
std::string NormalizeLineEnds(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\r') {
      out.push_back('\n');
      if (i + 1 < text.size() && text[i + 1] == '\n') ++i;
    } else {
      out.push_back(text[i]);
    }
  }
  return out;
}

// Whether `text` (LF line ends) can go as 7bit: printable ASCII, tabs and line ends only.
bool IsSevenBitText(absl::string_view text) {
  for (char c : text) {
    if (c != '\n' && c != '\t' && (c < 0x20 || c > 0x7e)) return false;
  }
  return true;
}

// 7bit body: CRLF line ends, lines longer than RFC 5322 allows broken up.
std::string SevenBitBody(absl::string_view text) {
  absl::ConsumeSuffix(&text, "\n");  // its line end comes back below
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    do {
      absl::StrAppend(&out, line.substr(0, kMaxMailLineBytes), "\r\n");
      line.remove_prefix(std::min(line.size(), kMaxMailLineBytes));
    } while (!line.empty());
  }
  return out;
}

std::string Base64Body(absl::string_view text) {
  const std::string encoded = Base64Encode(text);
  std::string out;
  for (size_t i = 0; i < encoded.size(); i += kBase64LineChars) {
    absl::StrAppend(&out, absl::string_view(encoded).substr(i, kBase64LineChars), "\r\n");
  }
  return out;
}

}  // namespace

absl::Status ValidateMailAddress(absl::string_view address) {
  absl::Status valid = CheckAddress(address);
  if (valid.ok()) return valid;
  // The address is shown escaped: it may hold the very characters being refused.
  return absl::InvalidArgumentError(
      absl::StrCat("\"", absl::CHexEscape(address.substr(0, kMaxMailAddressBytes)),
                   "\" is not a plain e-mail address local@domain: ", valid.message()));
}

std::string MailDate(absl::Time time) {
  static constexpr const char* kDays[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const absl::CivilSecond t = absl::ToCivilSecond(time, absl::UTCTimeZone());
  const absl::Weekday weekday = absl::GetWeekday(t);  // Monday is 0
  return absl::StrFormat("%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[static_cast<int>(weekday)],
                         t.day(), kMonths[t.month() - 1], t.year(), t.hour(), t.minute(),
                         t.second());
}

std::string MailMessageId(int64_t outbox_id, absl::string_view from) {
  const size_t at = from.rfind('@');
  absl::string_view domain =
      at == absl::string_view::npos ? "keyfleet.invalid" : from.substr(at + 1);
  return absl::StrCat("<keyfleet.outbox.", outbox_id, "@", domain, ">");
}

std::string CleanMailSubject(absl::string_view subject, absl::string_view event) {
  std::string clean(subject);
  for (char& c : clean) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  }
  absl::string_view trimmed = absl::StripAsciiWhitespace(clean);
  trimmed = absl::StripTrailingAsciiWhitespace(Utf8Prefix(trimmed, kMaxMailSubjectBytes));
  if (trimmed.empty()) return absl::StrCat("keyfleet: ", event);
  return std::string(trimmed);
}

absl::StatusOr<std::string> ComposeMail(const Notification& n, absl::string_view from,
                                        absl::Time date) {
  if (absl::Status valid = ValidateMailAddress(from); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("from: ", valid.message()));
  }
  if (absl::Status valid = ValidateMailAddress(n.email_to); !valid.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("email_to: ", valid.message()));
  }
  if (!IsKnownNotificationEvent(n.event)) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown event \"", absl::CHexEscape(n.event), "\""));
  }
  const std::string subject = CleanMailSubject(n.subject, n.event);
  std::string text = NormalizeLineEnds(n.text);
  if (text.size() > kMaxMailTextBytes) {
    text = absl::StrCat(Utf8Prefix(text, kMaxMailTextBytes), kTruncatedNote);
  }
  const bool seven_bit = IsSevenBitText(text);
  std::string message = absl::StrCat(
      "From: ", from, "\r\n",                                                                 //
      "To: ", n.email_to, "\r\n",                                                             //
      "Subject: ", IsPrintableAscii(subject) ? subject : EncodeHeaderWords(subject), "\r\n",  //
      "Date: ", MailDate(date), "\r\n",                                                       //
      "Message-ID: ", MailMessageId(n.id, from), "\r\n",                                      //
      "MIME-Version: 1.0\r\n",                                                                //
      "Content-Type: text/plain; charset=utf-8\r\n",                                          //
      "Content-Transfer-Encoding: ", seven_bit ? "7bit" : "base64", "\r\n",                   //
      "Auto-Submitted: auto-generated\r\n",                                                   //
      "X-Keyfleet-Event: ", n.event, "\r\n",                                                  //
      "X-Keyfleet-Delivery: ", n.id, "\r\n",                                                  //
      "\r\n");
  absl::StrAppend(&message, seven_bit ? SevenBitBody(text) : Base64Body(text));
  return message;
}

}  // namespace keyfleet::controller::notify
