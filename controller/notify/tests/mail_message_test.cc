// The e-mail a notification becomes: addresses, the header (no injection), encodings.
#include "controller/notify/mail_message.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/base64.h"

namespace keyfleet::controller::notify {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

Notification Rotated() {
  Notification n;
  n.id = 42;
  n.event = "key.rotated";
  n.at = absl::FromUnixSeconds(1699999000);
  n.payload_json = "{}";
  n.email_to = "alice@example.com";
  n.subject = "Your key laptop-2023 was rotated";
  n.text = "Your key laptop-2023 was rotated.\nThe old key stops working in 7 days.\n";
  return n;
}

const absl::Time kSent = absl::FromUnixSeconds(1700000000);

// The header lines (unfolded) and the body of a composed message.
struct Parts {
  std::vector<std::string> header;
  std::string body;
};

Parts Split(const std::string& message) {
  Parts parts;
  const size_t end = message.find("\r\n\r\n");
  EXPECT_NE(end, std::string::npos) << message;
  for (absl::string_view line : absl::StrSplit(message.substr(0, end), "\r\n")) {
    if (!line.empty() && line[0] == ' ' && !parts.header.empty()) {
      parts.header.back() += std::string(line);
    } else {
      parts.header.emplace_back(line);
    }
  }
  parts.body = message.substr(end + 4);
  return parts;
}

TEST(MailAddress, GoodAddresses) {
  const char* good[] = {
      "alice@example.com",
      "a@b",
      "first.last+tag@mail.example.co.uk",
      "o'brien@example.com",
      "x!#$%&'*+-/=?^_`{|}~@example.com",
      "user@xn--bcher-kva.example",
      "a@1.2.3.4",  // digits are labels too; no [literal] form
  };
  for (const char* address : good) {
    EXPECT_TRUE(ValidateMailAddress(address).ok())
        << address << ": " << ValidateMailAddress(address);
  }
  EXPECT_TRUE(ValidateMailAddress(std::string(kMaxMailLocalPartBytes, 'a') + "@example.com").ok());
}

TEST(MailAddress, BadAddressesSayWhy) {
  const std::pair<std::string, const char*> bad[] = {
      {"", "it is empty"},
      {"alice", "no '@'"},
      {"@example.com", "nothing before '@'"},
      {"alice@", "no domain"},
      {"Alice <alice@example.com>", "may hold only letters, digits"},
      {"\"alice\"@example.com", "may hold only letters, digits"},
      {"alice@example.com\r\nBcc: eve@example.com", "may hold only letters, digits"},
      {"alice@example.com>\r\nRCPT TO:<eve@example.com", "may hold only letters, digits"},
      {"al ice@example.com", "may hold only letters, digits"},
      {"al\nice@example.com", "may hold only letters, digits"},
      {".alice@example.com", "dot at either end"},
      {"alice.@example.com", "dot at either end"},
      {"al..ice@example.com", "two dots"},
      {"alice@example..com", "empty label"},
      {"alice@.example.com", "empty label"},
      {"alice@example.com.", "empty label"},
      {"alice@-example.com", "starts or ends with '-'"},
      {"alice@[192.0.2.1]", "no address literals"},
      {"al\xc3\xaf"
       "ce@example.com",
       "may hold only letters, digits"},
      {"alice@ex_ample.com", "may hold only letters, digits, '-'"},
      {std::string(kMaxMailLocalPartBytes + 1, 'a') + "@example.com", "longer than 64"},
      {"a@" + std::string(63, 'b') + "." + std::string(64, 'c'), "label longer than 63"},
      {"a@" + absl::StrJoin(std::vector<std::string>(5, std::string(60, 'd')), "."),
       "longer than 254"},
  };
  for (const auto& [address, reason] : bad) {
    absl::Status valid = ValidateMailAddress(address);
    ASSERT_FALSE(valid.ok()) << absl::CEscape(address) << " was accepted";
    EXPECT_EQ(valid.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(valid.message(), HasSubstr(reason)) << absl::CEscape(address);
    // Escaped: the message itself never carries a line break.
    EXPECT_THAT(valid.message(), Not(HasSubstr("\n"))) << absl::CEscape(address);
  }
}

TEST(MailMessage, DateIsRfc5322InUtcWithEnglishNames) {
  EXPECT_EQ(MailDate(kSent), "Tue, 14 Nov 2023 22:13:20 +0000");
  EXPECT_EQ(MailDate(absl::FromUnixSeconds(0)), "Thu, 01 Jan 1970 00:00:00 +0000");
  EXPECT_EQ(MailDate(absl::FromUnixSeconds(951782400)), "Tue, 29 Feb 2000 00:00:00 +0000");
  EXPECT_EQ(MailDate(absl::FromUnixSeconds(1704067199)), "Sun, 31 Dec 2023 23:59:59 +0000");
}

TEST(MailMessage, HasEveryHeaderAndAPlainBody) {
  absl::StatusOr<std::string> message = ComposeMail(Rotated(), "keyfleet@example.com", kSent);
  ASSERT_TRUE(message.ok()) << message.status();
  const Parts parts = Split(*message);
  EXPECT_EQ(parts.header, (std::vector<std::string>{
                              "From: keyfleet@example.com",
                              "To: alice@example.com",
                              "Subject: Your key laptop-2023 was rotated",
                              "Date: Tue, 14 Nov 2023 22:13:20 +0000",
                              "Message-ID: <keyfleet.outbox.42@example.com>",
                              "MIME-Version: 1.0",
                              "Content-Type: text/plain; charset=utf-8",
                              "Content-Transfer-Encoding: 7bit",
                              "Auto-Submitted: auto-generated",
                              "X-Keyfleet-Event: key.rotated",
                              "X-Keyfleet-Delivery: 42",
                          }));
  EXPECT_EQ(parts.body,
            "Your key laptop-2023 was rotated.\r\nThe old key stops working in 7 days.\r\n");
}

TEST(MailMessage, TheMessageIdIsTheSameOnEveryRetry) {
  absl::StatusOr<std::string> first = ComposeMail(Rotated(), "keyfleet@example.com", kSent);
  absl::StatusOr<std::string> retry =
      ComposeMail(Rotated(), "keyfleet@example.com", kSent + absl::Hours(1));
  ASSERT_TRUE(first.ok() && retry.ok());
  EXPECT_THAT(*retry, HasSubstr("Message-ID: <keyfleet.outbox.42@example.com>\r\n"));
  EXPECT_NE(*first, *retry);  // the Date differs
  EXPECT_EQ(MailMessageId(7, "k@mail.example"), "<keyfleet.outbox.7@mail.example>");
}

TEST(MailMessage, LineBreaksInTheSubjectCannotAddHeaders) {
  const char* subjects[] = {
      "Rotated\r\nBcc: eve@example.com",
      "Rotated\nBcc: eve@example.com",
      "Rotated\rBcc: eve@example.com",
      "Rotated\r\n\r\nfake body",
  };
  for (const char* subject : subjects) {
    Notification n = Rotated();
    n.subject = subject;
    absl::StatusOr<std::string> message = ComposeMail(n, "keyfleet@example.com", kSent);
    ASSERT_TRUE(message.ok()) << message.status();
    const Parts parts = Split(*message);
    EXPECT_EQ(parts.header.size(), 11u) << absl::CEscape(subject);
    EXPECT_THAT(*message, Not(HasSubstr("\nBcc:"))) << absl::CEscape(subject);
    EXPECT_THAT(*message, Not(HasSubstr("\r\n\r\nfake body")));
    EXPECT_EQ(parts.header[2].find("Subject: Rotated "), 0u) << parts.header[2];
  }
}

TEST(MailMessage, SubjectIsCleanedAndBounded) {
  EXPECT_EQ(CleanMailSubject("  a\tb\x01"
                             "c  ",
                             "key.added"),
            "a b c");
  EXPECT_EQ(CleanMailSubject("", "key.added"), "keyfleet: key.added");
  EXPECT_EQ(CleanMailSubject("\r\n", "host.drift"), "keyfleet: host.drift");
  EXPECT_EQ(CleanMailSubject(std::string(kMaxMailSubjectBytes + 50, 'x'), "key.added").size(),
            kMaxMailSubjectBytes);
  // Cut before a two-byte character that would straddle the limit, not through it.
  const std::string umlauts = std::string(kMaxMailSubjectBytes - 1, 'x') + "\xc3\xbc";
  EXPECT_EQ(CleanMailSubject(umlauts, "key.added"), std::string(kMaxMailSubjectBytes - 1, 'x'));
}

TEST(MailMessage, NonAsciiSubjectAndTextAreEncoded) {
  Notification n = Rotated();
  n.subject = "Schl\xc3\xbcssel rotiert: laptop-2023 \xe2\x80\x94 please read this whole line";
  n.text =
      "Gr\xc3\xbc\xc3\x9f"
      "e\nzweite Zeile\n";
  absl::StatusOr<std::string> message = ComposeMail(n, "keyfleet@example.com", kSent);
  ASSERT_TRUE(message.ok()) << message.status();
  const Parts parts = Split(*message);
  const std::string& subject = parts.header[2];
  ASSERT_EQ(subject.find("Subject: =?utf-8?B?"), 0u) << subject;
  // Each encoded word decodes to a whole piece of the subject; together they are all of it.
  std::string decoded;
  for (absl::string_view word : absl::StrSplit(subject.substr(9), ' ')) {
    ASSERT_TRUE(absl::ConsumePrefix(&word, "=?utf-8?B?") && absl::ConsumeSuffix(&word, "?="))
        << word;
    EXPECT_LE(word.size() + 12, 75u);
    absl::StatusOr<std::string> piece = Base64DecodeStrict(word);
    ASSERT_TRUE(piece.ok()) << word;
    decoded += *piece;
  }
  EXPECT_EQ(decoded, n.subject);
  EXPECT_THAT(*message, HasSubstr("Content-Transfer-Encoding: base64\r\n"));
  for (absl::string_view line : absl::StrSplit(parts.body, "\r\n")) EXPECT_LE(line.size(), 76u);
  absl::StatusOr<std::string> body =
      Base64DecodeStrict(absl::StrReplaceAll(parts.body, {{"\r\n", ""}}));
  ASSERT_TRUE(body.ok()) << body.status();
  EXPECT_EQ(*body, n.text);
}

TEST(MailMessage, TextLinesAreNormalisedWrappedAndBounded) {
  Notification n = Rotated();
  n.text = "a\r\nb\rc\n" + std::string(kMaxMailLineBytes + 5, 'x') + "\n.\n";
  absl::StatusOr<std::string> message = ComposeMail(n, "keyfleet@example.com", kSent);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(Split(*message).body,
            "a\r\nb\r\nc\r\n" + std::string(kMaxMailLineBytes, 'x') + "\r\nxxxxx\r\n.\r\n");

  n.text = std::string(kMaxMailTextBytes + 1000, 'y');
  message = ComposeMail(n, "keyfleet@example.com", kSent);
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_THAT(*message, HasSubstr("[the rest of this notification was cut by keyfleet]"));
  EXPECT_LT(message->size(), kMaxMailTextBytes + 2048);
}

TEST(MailMessage, RefusesWhatCannotBeMailed) {
  const struct {
    const char* what;
    std::string from, to, event;
    const char* reason;
  } bad[] = {
      {"bad from", "keyfleet", "alice@example.com", "key.added", "from: "},
      {"bad to", "keyfleet@example.com", "alice@example.com\r\nBcc: eve@example.com", "key.added",
       "email_to: "},
      {"no to", "keyfleet@example.com", "", "key.added", "email_to: "},
      {"unknown event", "keyfleet@example.com", "alice@example.com", "key.added\r\nBcc: x",
       "unknown event"},
  };
  for (const auto& c : bad) {
    Notification n = Rotated();
    n.email_to = c.to;
    n.event = c.event;
    absl::StatusOr<std::string> message = ComposeMail(n, c.from, kSent);
    ASSERT_FALSE(message.ok()) << c.what;
    EXPECT_EQ(message.status().code(), absl::StatusCode::kInvalidArgument) << c.what;
    EXPECT_THAT(message.status().message(), HasSubstr(c.reason)) << c.what;
  }
}

}  // namespace
}  // namespace keyfleet::controller::notify
