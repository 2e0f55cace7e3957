// sshd's "Accepted publickey" and session-end messages, and the three framings they come in.
#include "node-agent/sshd_auth_log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/sha256_fingerprint.h"
#include "node-agent/sshd_log_framing.h"

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;

const std::string kDigest(32, '\x5a');
const std::string kFp = Sha256FingerprintText(kDigest);
const std::string kCaFp = Sha256FingerprintText(std::string(32, '\x07'));

std::string Accepted(const std::string& tail) {
  return "Accepted publickey for alice from 192.0.2.7 port 50522 ssh2: " + tail;
}

struct GoodAccepted {
  std::string name;
  std::string message;
  std::string user, address;
  uint16_t port;
  std::string key_type;
};

TEST(SshdAuthLog, AcceptedLinesParse) {
  const GoodAccepted cases[] = {
      {"plain ed25519", Accepted("ED25519 " + kFp), "alice", "192.0.2.7", 50522, "ED25519"},
      {"sshd -E line ends in CRLF", Accepted("ED25519 " + kFp) + "\r\n", "alice", "192.0.2.7",
       50522, "ED25519"},
      {"rsa", Accepted("RSA " + kFp), "alice", "192.0.2.7", 50522, "RSA"},
      {"security key with its method info", Accepted("ED25519-SK " + kFp + ", signature count = 7"),
       "alice", "192.0.2.7", 50522, "ED25519-SK"},
      {"certificate: the key's fingerprint, not the CA's",
       Accepted("ED25519-CERT " + kFp + " ID alice@corp (serial 42) CA ED25519 " + kCaFp), "alice",
       "192.0.2.7", 50522, "ED25519-CERT"},
      {"certificate whose key ID has spaces and a fake fingerprint",
       Accepted("RSA-CERT " + kFp + " ID x port 1 ssh2: RSA " + kCaFp + " (serial 1) CA RSA " +
                kCaFp),
       "alice", "192.0.2.7", 50522, "RSA-CERT"},
      {"certificate cut at syslog's 500 bytes", Accepted("ED25519-CERT " + kFp + " ID aaaa"),
       "alice", "192.0.2.7", 50522, "ED25519-CERT"},
      {"ipv6", "Accepted publickey for bob from 2001:db8::1 port 1 ssh2: ECDSA " + kFp, "bob",
       "2001:db8::1", 1, "ECDSA"},
      {"ipv6 link-local with zone",
       "Accepted publickey for bob from fe80::1%eth0 port 65535 ssh2: ECDSA " + kFp, "bob",
       "fe80::1%eth0", 65535, "ECDSA"},
      {"user at 32 bytes",
       "Accepted publickey for " + std::string(32, 'u') + " from 10.0.0.1 port 22 ssh2: ED25519 " +
           kFp,
       std::string(32, 'u'), "10.0.0.1", 22, "ED25519"},
  };
  for (const GoodAccepted& c : cases) {
    SCOPED_TRACE(c.name);
    SshdLogEvent e = ParseSshdMessage(c.message);
    ASSERT_EQ(e.kind, SshdLogEventKind::kAccepted) << e.error;
    EXPECT_EQ(e.user, c.user);
    EXPECT_EQ(e.address, c.address);
    EXPECT_EQ(e.port, c.port);
    EXPECT_EQ(e.key_type, c.key_type);
    EXPECT_EQ(e.fingerprint, kFp);
    EXPECT_EQ(e.digest, kDigest);
  }
}

struct BadAccepted {
  std::string name;
  std::string message;
  std::string reason;
};

TEST(SshdAuthLog, MalformedAcceptedLinesAreRefusedWithTheReason) {
  const std::string pre = "Accepted publickey for alice from 192.0.2.7 port 50522 ssh2: ";
  const BadAccepted cases[] = {
      {"no user", "Accepted publickey for  from 192.0.2.7 port 1 ssh2: ED25519 " + kFp, "empty"},
      {"user past 32 bytes",
       "Accepted publickey for " + std::string(33, 'u') + " from 10.0.0.1 port 22 ssh2: ED25519 " +
           kFp,
       "longer than 32"},
      {"user with a slash", "Accepted publickey for a/b from 10.0.0.1 port 22 ssh2: ED25519 " + kFp,
       "'/'"},
      {"user with a space (an invalid user)",
       "Accepted publickey for invalid user x from 10.0.0.1 port 22 ssh2: ED25519 " + kFp,
       "\" from \""},
      {"host name instead of address",
       "Accepted publickey for alice from host.example port 22 ssh2: ED25519 " + kFp,
       "not a numeric"},
      {"ipv4 with a leading zero octet... too many octets",
       "Accepted publickey for alice from 1.2.3.4.5 port 22 ssh2: ED25519 " + kFp, "not a numeric"},
      {"bad ipv6 zone", "Accepted publickey for alice from fe80::1% port 22 ssh2: ED25519 " + kFp,
       "not a numeric"},
      {"port 0", "Accepted publickey for alice from 10.0.0.1 port 0 ssh2: ED25519 " + kFp,
       "1..65535"},
      {"port too large",
       "Accepted publickey for alice from 10.0.0.1 port 65536 ssh2: ED25519 " + kFp, "1..65535"},
      {"port with leading zero",
       "Accepted publickey for alice from 10.0.0.1 port 022 ssh2: ED25519 " + kFp, "1..65535"},
      {"no ssh2", "Accepted publickey for alice from 10.0.0.1 port 22 ED25519 " + kFp, "ssh2"},
      {"no key at all", "Accepted publickey for alice from 10.0.0.1 port 22 ssh2", "ssh2"},
      {"unknown key type", pre + "ssh-ed25519 " + kFp, "is not one sshd prints"},
      {"no fingerprint", pre + "ED25519", "no fingerprint"},
      {"md5 fingerprint", pre + "ED25519 MD5:aa:bb:cc:dd:ee:ff:00:11:22:33:44:55:66:77:88:99",
       "FingerprintHash sha256"},
      {"short fingerprint", pre + "ED25519 " + kFp.substr(0, 40), "FingerprintHash sha256"},
      {"(null) fingerprint", pre + "ED25519 (null)", "FingerprintHash sha256"},
      {"text after a plain key's fingerprint", pre + "ED25519 " + kFp + " trailing",
       "unexpected text"},
      {"empty method info", pre + "ED25519 " + kFp + ", ", "unexpected text"},
      {"certificate without ID", pre + "ED25519-CERT " + kFp, "\" ID \""},
      {"plain key followed by ID", pre + "ED25519 " + kFp + " ID x", "unexpected text"},
      {"too long", pre + "ED25519-CERT " + kFp + " ID " + std::string(5000, 'x'), "too long"},
  };
  for (const BadAccepted& c : cases) {
    SCOPED_TRACE(c.name);
    SshdLogEvent e = ParseSshdMessage(c.message);
    EXPECT_EQ(e.kind, SshdLogEventKind::kMalformed);
    EXPECT_THAT(e.error, HasSubstr(c.reason));
    EXPECT_TRUE(e.user.empty() && e.digest.empty()) << "never half-used";
  }
}

TEST(SshdAuthLog, OtherLinesAreIgnored) {
  for (const std::string& line : std::vector<std::string>{
           "", "Server listening on 0.0.0.0 port 22.",
           "Failed publickey for alice from 1.2.3.4 port 5 ssh2: ED25519 " + kFp,
           "Partial publickey for alice from 1.2.3.4 port 5 ssh2: ED25519 " + kFp,
           "Accepted password for alice from 1.2.3.4 port 5 ssh2", "Accepted publickey",
           "pam_unix(sshd:session): session opened for user alice(uid=1000)",
           "Connection closed by authenticating user alice 1.2.3.4 port 5 [preauth]",
           "Connection closed by invalid user x 1.2.3.4 port 9 1.2.3.4 port 5 [preauth]",
           "Disconnected from user alice 1.2.3.4 port 5 extra",
           "Disconnected from user alice host.example port 5",
           "Received disconnect from 1.2.3.4 port 5:11: bye [preauth]"}) {
    SCOPED_TRACE(line);
    EXPECT_EQ(ParseSshdMessage(line).kind, SshdLogEventKind::kIgnored);
  }
}

TEST(SshdAuthLog, SessionEndsParse) {
  struct Case {
    std::string line, user, address;
    uint16_t port;
  };
  const Case cases[] = {
      {"Disconnected from user alice 192.0.2.7 port 50522", "alice", "192.0.2.7", 50522},
      {"Connection closed by user alice 192.0.2.7 port 50522", "alice", "192.0.2.7", 50522},
      {"Connection reset by user alice 2001:db8::1 port 3", "alice", "2001:db8::1", 3},
      {"Connection closed by 192.0.2.7 port 50522", "", "192.0.2.7", 50522},
      {"Received disconnect from 192.0.2.7 port 50522:11: disconnected by user", "", "192.0.2.7",
       50522},
      {"error: Received disconnect from 192.0.2.7 port 9:2: user port 1 text", "", "192.0.2.7", 9},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.line);
    SshdLogEvent e = ParseSshdMessage(c.line + "\r");
    ASSERT_EQ(e.kind, SshdLogEventKind::kSessionEnd);
    EXPECT_EQ(e.user, c.user);
    EXPECT_EQ(e.address, c.address);
    EXPECT_EQ(e.port, c.port);
  }
}

const absl::Time kNow =
    absl::FromCivil(absl::CivilSecond(2026, 12, 1, 12, 0, 0), absl::UTCTimeZone());

TEST(SshdLogFraming, ClassicSyslog) {
  SshdLogRecord r =
      ParseSshdLogLine("Dec  1 10:47:18 web-1 sshd[4242]: " + Accepted("ED25519 " + kFp),
                       SshdLogFormat::kSyslog, kNow, absl::UTCTimeZone());
  ASSERT_EQ(r.event.kind, SshdLogEventKind::kAccepted) << r.event.error;
  EXPECT_EQ(r.pid, 4242);
  EXPECT_EQ(r.time,
            absl::FromCivil(absl::CivilSecond(2026, 12, 1, 10, 47, 18), absl::UTCTimeZone()));
  // A December line read on the 1st of January belongs to the year before.
  r = ParseSshdLogLine("Dec 31 23:59:59 web-1 sshd[4242]: " + Accepted("ED25519 " + kFp),
                       SshdLogFormat::kSyslog,
                       absl::FromCivil(absl::CivilSecond(2027, 1, 1, 0, 0, 5), absl::UTCTimeZone()),
                       absl::UTCTimeZone());
  EXPECT_EQ(r.time,
            absl::FromCivil(absl::CivilSecond(2026, 12, 31, 23, 59, 59), absl::UTCTimeZone()));
}

TEST(SshdLogFraming, Rfc3339Syslog) {
  SshdLogRecord r = ParseSshdLogLine(
      "2026-12-01T10:47:18.123456+01:00 web-1 sshd[77]: " + Accepted("ED25519 " + kFp),
      SshdLogFormat::kSyslog, kNow, absl::UTCTimeZone());
  ASSERT_EQ(r.event.kind, SshdLogEventKind::kAccepted);
  EXPECT_EQ(r.pid, 77);
  EXPECT_EQ(r.time,
            absl::FromCivil(absl::CivilSecond(2026, 12, 1, 9, 47, 18), absl::UTCTimeZone()) +
                absl::Microseconds(123456));
}

TEST(SshdLogFraming, SyslogLinesOfOtherProgramsOrBadFramingAreIgnored) {
  const std::string msg = Accepted("ED25519 " + kFp);
  for (const std::string& line : std::vector<std::string>{
           "Dec  1 10:47:18 web-1 logger[5]: " + msg, "Dec  1 10:47:18 web-1 sshd: " + msg,
           "Dec  1 10:47:18 web-1 sshd[abc]: " + msg, "Dex  1 10:47:18 web-1 sshd[5]: " + msg,
           "Dec 41 10:47:18 web-1 sshd[5]: " + msg, "Dec  1 25:47:18 web-1 sshd[5]: " + msg,
           "2026-13-01T10:47:18+00:00 web-1 sshd[5]: " + msg, "Dec  1 10:47:18 web-1 -- MARK --",
           msg}) {
    SCOPED_TRACE(line);
    EXPECT_EQ(ParseSshdLogLine(line, SshdLogFormat::kSyslog, kNow, absl::UTCTimeZone()).event.kind,
              SshdLogEventKind::kIgnored);
  }
  // A malformed sshd message in a good frame is reported.
  EXPECT_EQ(ParseSshdLogLine("Dec  1 10:47:18 web-1 sshd[5]: " + Accepted("ED25519 x"),
                             SshdLogFormat::kSyslog, kNow, absl::UTCTimeZone())
                .event.kind,
            SshdLogEventKind::kMalformed);
}

TEST(SshdLogFraming, JournalJson) {
  const std::string msg = Accepted("ED25519 " + kFp);
  SshdLogRecord r = ParseSshdLogLine(
      absl::StrCat(R"({"__REALTIME_TIMESTAMP":"1796107638123456","_PID":"901","_COMM":"sshd",)",
                   R"("SYSLOG_IDENTIFIER":"sshd","MESSAGE":")", msg, R"("})"),
      SshdLogFormat::kJournalJson, kNow, absl::UTCTimeZone());
  ASSERT_EQ(r.event.kind, SshdLogEventKind::kAccepted) << r.event.error;
  EXPECT_EQ(r.pid, 901);
  EXPECT_EQ(r.time, absl::FromUnixMicros(1796107638123456));
  // MESSAGE as journald's byte array (non-UTF-8 content).
  std::string bytes = "[";
  for (char c : msg) absl::StrAppend(&bytes, bytes.size() > 1 ? "," : "", static_cast<int>(c));
  bytes += "]";
  r = ParseSshdLogLine(absl::StrCat(R"({"_COMM":"sshd","MESSAGE":)", bytes, "}"),
                       SshdLogFormat::kJournalJson, kNow, absl::UTCTimeZone());
  EXPECT_EQ(r.event.kind, SshdLogEventKind::kAccepted);
  EXPECT_FALSE(r.pid.has_value());
  // _COMM (from the kernel) wins over SYSLOG_IDENTIFIER (the sender's word).
  for (const std::string& line : std::vector<std::string>{
           absl::StrCat(R"({"_COMM":"logger","SYSLOG_IDENTIFIER":"sshd","MESSAGE":")", msg,
                        R"("})"),
           std::string(R"({"_COMM":"sshd"})"), std::string("not json"), std::string("[1,2]"),
           absl::StrCat(R"({"_COMM":"sshd","MESSAGE":[300]})")}) {
    SCOPED_TRACE(line);
    EXPECT_EQ(
        ParseSshdLogLine(line, SshdLogFormat::kJournalJson, kNow, absl::UTCTimeZone()).event.kind,
        SshdLogEventKind::kIgnored);
  }
}

}  // namespace
}  // namespace keyfleet::agent
