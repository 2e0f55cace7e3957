#include "common/source_address_match.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

SourceAddress Address(absl::string_view text) {
  absl::StatusOr<SourceAddress> address = ParseSourceAddress(text);
  EXPECT_TRUE(address.ok()) << address.status();
  return address.ok() ? *address : SourceAddress{};
}

std::string ResultName(SourceMatch result) {
  switch (result) {
    case SourceMatch::kAllowed:
      return "allowed";
    case SourceMatch::kDenied:
      return "denied";
    case SourceMatch::kBadPattern:
      return "bad pattern";
  }
  return "?";
}

// --- ParseSourceAddress ---------------------------------------------------------------------

struct GoodAddress {
  std::string text;
  SourceFamily family;
  std::string canonical;
};

TEST(ParseSourceAddressTest, GoodAddresses) {
  const std::vector<GoodAddress> rows = {
      {"10.1.2.3", SourceFamily::kIPv4, "10.1.2.3"},
      {"0.0.0.0", SourceFamily::kIPv4, "0.0.0.0"},
      {"255.255.255.255", SourceFamily::kIPv4, "255.255.255.255"},
      {"::1", SourceFamily::kIPv6, "::1"},
      {"2001:DB8:0:0::1", SourceFamily::kIPv6, "2001:db8::1"},
      {"fe80::1", SourceFamily::kIPv6, "fe80::1"},
      // IPv4-compatible (deprecated) is not mapped: it stays IPv6, printed as inet_ntop does.
      {"::1.2.3.4", SourceFamily::kIPv6, "::1.2.3.4"},
      // IPv4-mapped becomes IPv4, as sshd normalises a mapped peer.
      {"::ffff:10.1.2.3", SourceFamily::kIPv4, "10.1.2.3"},
      {"::FFFF:a01:203", SourceFamily::kIPv4, "10.1.2.3"},
      // kMaxSourceAddressBytes exactly.
      {"0000:0000:0000:0000:0000:ffff:255.255.255.255", SourceFamily::kIPv4, "255.255.255.255"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.text);
    absl::StatusOr<SourceAddress> address = ParseSourceAddress(row.text);
    ASSERT_TRUE(address.ok()) << address.status();
    EXPECT_EQ(address->family, row.family);
    EXPECT_EQ(address->text, row.canonical);
    EXPECT_EQ(*ParseSourceAddress(address->text), *address);
  }
  EXPECT_EQ(std::string("0000:0000:0000:0000:0000:ffff:255.255.255.255").size(),
            kMaxSourceAddressBytes);
}

struct BadAddress {
  std::string name;
  std::string text;
  std::string reason;
};

TEST(ParseSourceAddressTest, BadAddresses) {
  const std::vector<BadAddress> rows = {
      {"empty", "", "is empty"},
      {"host name", "localhost", "is not an IP address"},
      {"IPv4 shorthand", "127.1", "is not an IP address"},
      {"leading zero", "010.0.0.1", "is not an IP address"},
      {"integer", "2130706433", "is not an IP address"},
      {"prefix", "10.0.0.0/8", "is not an IP address"},
      {"brackets", "[::1]", "is not an IP address"},
      {"port", "10.1.2.3:22", "is not an IP address"},
      {"zone name", "fe80::1%eth0", "is not an IP address"},
      {"zone number", "fe80::1%2", "is not an IP address"},
      {"leading blank", " 10.1.2.3", "is not an IP address"},
      {"trailing blank", "10.1.2.3 ", "is not an IP address"},
      {"trailing newline", "10.1.2.3\n", "is not an IP address"},
      {"octet too big", "256.1.1.1", "is not an IP address"},
      {"five parts", "1.2.3.4.5", "is not an IP address"},
      {"two ::", "1::2::3", "is not an IP address"},
      {"NUL inside", std::string("10.1.2.3\0", 9), "is not an IP address"},
      {"one past the limit", "0000:0000:0000:0000:0000:ffff:255.255.255.2550",
       "longer than 45 bytes"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    absl::StatusOr<SourceAddress> address = ParseSourceAddress(row.text);
    ASSERT_FALSE(address.ok()) << address->text;
    EXPECT_EQ(address.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(address.status().message(), HasSubstr(row.reason));
  }
}

// --- MatchFromOption --------------------------------------------------------------------------

struct MatchRow {
  std::string name;
  std::string address;
  std::string patterns;
  SourceMatch result;
  std::string entry;  // the deciding entry, "" when none
};

std::string LongEntry(size_t bytes) {
  return std::string(bytes, 'x');
}

// A hex IPv4 spelling of 10.1.2.3 that is exactly `bytes` long: glibc accepts any number of
// leading zeros, so this finds sshd's 64-byte CIDR buffer.
std::string HexSpelling(size_t bytes) {
  return "0x" + std::string(bytes - 2 - 7, '0') + "a.1.2.3";
}

TEST(MatchFromOptionTest, AllowedRows) {
  const std::vector<MatchRow> rows = {
      {"exact IPv4", "127.0.0.1", "127.0.0.1", SourceMatch::kAllowed, "127.0.0.1"},
      {"IPv4 /8", "127.0.0.1", "127.0.0.0/8", SourceMatch::kAllowed, "127.0.0.0/8"},
      {"IPv4 /32", "10.1.2.3", "10.1.2.3/32", SourceMatch::kAllowed, "10.1.2.3/32"},
      {"IPv4 /0", "10.1.2.3", "0.0.0.0/0", SourceMatch::kAllowed, "0.0.0.0/0"},
      {"prefix with a leading zero", "10.1.2.3", "10.0.0.0/08", SourceMatch::kAllowed,
       "10.0.0.0/08"},
      {"star", "10.1.2.3", "*", SourceMatch::kAllowed, "*"},
      {"question mark", "10.1.2.3", "10.1.2.?", SourceMatch::kAllowed, "10.1.2.?"},
      {"prefix wildcard", "127.0.0.1", "127.*", SourceMatch::kAllowed, "127.*"},
      {"second entry", "10.1.2.3", "192.168.0.0/16,10.1.2.3", SourceMatch::kAllowed, "10.1.2.3"},
      {"first positive is named", "10.1.2.3", "10.*,10.0.0.0/8", SourceMatch::kAllowed, "10.*"},
      {"unmatched negation", "10.1.2.3", "!192.168.0.1,10.0.0.0/8", SourceMatch::kAllowed,
       "10.0.0.0/8"},
      {"IPv6 /32", "2001:db8::1", "2001:db8::/32", SourceMatch::kAllowed, "2001:db8::/32"},
      {"IPv6 /0", "2001:db8::1", "::/0", SourceMatch::kAllowed, "::/0"},
      {"IPv6 upper-case CIDR", "2001:db8::1", "2001:DB8::/32", SourceMatch::kAllowed,
       "2001:DB8::/32"},
      {"IPv6 loopback", "::1", "::1", SourceMatch::kAllowed, "::1"},
      {"IPv6 loopback /128", "::1", "::1/128", SourceMatch::kAllowed, "::1/128"},
      {"IPv6 wildcard", "2001:DB8::1", "2001:db8::*", SourceMatch::kAllowed, "2001:db8::*"},
      {"IPv6 upper-case wildcard: host-name pass ignores case", "2001:db8::1", "2001:DB8::*",
       SourceMatch::kAllowed, "2001:DB8::*"},
      {"mapped source is IPv4", "::ffff:10.1.2.3", "10.1.2.3", SourceMatch::kAllowed, "10.1.2.3"},
      {"mapped source, IPv4 network", "::ffff:10.1.2.3", "10.0.0.0/8", SourceMatch::kAllowed,
       "10.0.0.0/8"},
      {"mapped source, IPv4 wildcard", "::ffff:10.1.2.3", "10.1.*", SourceMatch::kAllowed,
       "10.1.*"},
      // getaddrinfo(AI_NUMERICHOST) spellings sshd accepts for IPv4.
      {"IPv4 shorthand", "127.0.0.1", "127.1", SourceMatch::kAllowed, "127.1"},
      {"IPv4 integer", "127.0.0.1", "2130706433", SourceMatch::kAllowed, "2130706433"},
      {"IPv4 hex", "127.0.0.1", "0x7f.0.0.1", SourceMatch::kAllowed, "0x7f.0.0.1"},
      {"IPv4 octal", "8.0.0.1", "010.0.0.1", SourceMatch::kAllowed, "010.0.0.1"},
      {"zone 0 is no zone", "::1", "::1%0", SourceMatch::kAllowed, "::1%0"},
      {"CIDR entry at 63 bytes", "10.1.2.3", HexSpelling(kMaxCidrEntryBytes), SourceMatch::kAllowed,
       HexSpelling(kMaxCidrEntryBytes)},
      {"slash twice is a wildcard", "10.1.2.3", "10.0.0.0/8/8,10.0.0.0/8", SourceMatch::kAllowed,
       "10.0.0.0/8"},
      {"address-pass match survives a long entry", "10.1.2.3", "10.1.2.3," + LongEntry(1023),
       SourceMatch::kAllowed, "10.1.2.3"},
      {"host-name pass at 1022 bytes", "2001:db8::1",
       "2001:DB8::*," + LongEntry(kMaxHostnamePatternEntryBytes), SourceMatch::kAllowed,
       "2001:DB8::*"},
      {"pathological wildcard", "2001:db8:1:2:3:4:5:6", "*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*6",
       SourceMatch::kAllowed, "*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*6"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const SourceDecision decision = MatchFromOption(row.patterns, Address(row.address));
    EXPECT_EQ(ResultName(decision.result), ResultName(row.result)) << decision.reason;
    EXPECT_EQ(decision.entry, row.entry) << decision.reason;
    EXPECT_TRUE(ValidateFromPatternList(row.patterns).ok());
  }
}

TEST(MatchFromOptionTest, DeniedRows) {
  const std::vector<MatchRow> rows = {
      {"no match", "10.9.9.9", "10.1.0.0/16,192.168.*", SourceMatch::kDenied, ""},
      {"negation first", "10.1.2.3", "!10.1.2.0/24,10.0.0.0/8", SourceMatch::kDenied,
       "!10.1.2.0/24"},
      {"negation wins after a positive", "10.1.2.3", "10.0.0.0/8,!10.1.2.0/24",
       SourceMatch::kDenied, "!10.1.2.0/24"},
      {"negation after star", "10.1.2.3", "*,!10.1.2.3", SourceMatch::kDenied, "!10.1.2.3"},
      {"negated wildcard", "10.1.2.3", "!10.*", SourceMatch::kDenied, "!10.*"},
      {"only a negation that misses", "10.1.2.3", "!192.168.0.1", SourceMatch::kDenied, ""},
      {"upper-case negated wildcard", "2001:db8::1", "2001:db8::1,!2001:DB8::*",
       SourceMatch::kDenied, "!2001:DB8::*"},
      {"upper-case negated CIDR", "2001:db8::1", "!2001:DB8::1,*", SourceMatch::kDenied,
       "!2001:DB8::1"},
      {"IPv4 pattern, IPv6 source", "::1", "127.0.0.1", SourceMatch::kDenied, ""},
      {"IPv6 pattern, IPv4 source", "127.0.0.1", "::1", SourceMatch::kDenied, ""},
      {"mapped pattern never matches", "127.0.0.1", "::ffff:127.0.0.1", SourceMatch::kDenied, ""},
      {"mapped network never matches", "10.1.2.3", "::ffff:10.0.0.0/104", SourceMatch::kDenied, ""},
      {"mapped pattern, mapped source", "::ffff:10.1.2.3", "::ffff:10.1.2.3", SourceMatch::kDenied,
       ""},
      {"negated mapped pattern does not exclude", "10.1.2.3", "!::ffff:10.1.2.3",
       SourceMatch::kDenied, ""},
      {"prefix over 128 is a wildcard", "10.1.2.3", "10.0.0.0/129", SourceMatch::kDenied, ""},
      {"negative prefix is a wildcard", "10.1.2.3", "10.0.0.0/-8", SourceMatch::kDenied, ""},
      {"blank in prefix is a wildcard", "10.1.2.3", "10.0.0.0/ 8", SourceMatch::kDenied, ""},
      {"empty prefix is a wildcard", "127.0.0.1", "127.0.0.1/", SourceMatch::kDenied, ""},
      {"huge prefix is a wildcard", "10.1.2.3", "10.0.0.0/99999999999999999999999",
       SourceMatch::kDenied, ""},
      {"leading blank", "10.1.2.3", " 10.1.2.3", SourceMatch::kDenied, ""},
      {"trailing blank", "10.1.2.3", "10.1.2.3 ", SourceMatch::kDenied, ""},
      {"IPv4 zone", "10.1.2.3", "10.1.2.3%0", SourceMatch::kDenied, ""},
      {"IPv6 zone", "::1", "::1%1", SourceMatch::kDenied, ""},
      {"bare integer is 0.0.0.10", "10.1.2.3", "10", SourceMatch::kDenied, ""},
      {"shorthand is not a prefix wildcard", "10.1.2.3", "10.1", SourceMatch::kDenied, ""},
      {"CIDR entry at 64 bytes is a wildcard", "10.1.2.3", HexSpelling(kMaxCidrEntryBytes + 1),
       SourceMatch::kDenied, ""},
      {"host names are not resolved", "127.0.0.1", "localhost", SourceMatch::kDenied, ""},
      {"double negation", "10.1.2.3", "!!10.1.2.3", SourceMatch::kDenied, ""},
      {"host-name pass gives up at 1023 bytes", "2001:db8::1",
       "2001:DB8::*," + LongEntry(kMaxHostnamePatternEntryBytes + 1), SourceMatch::kDenied, ""},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    const SourceDecision decision = MatchFromOption(row.patterns, Address(row.address));
    EXPECT_EQ(ResultName(decision.result), ResultName(row.result)) << decision.reason;
    EXPECT_EQ(decision.entry, row.entry) << decision.reason;
    EXPECT_TRUE(ValidateFromPatternList(row.patterns).ok());
  }
}

struct BadPatternRow {
  std::string name;
  std::string patterns;
  std::string entry;
  std::string reason;
};

TEST(MatchFromOptionTest, BadPatternRowsDenyEveryone) {
  const std::vector<BadPatternRow> rows = {
      {"empty list", "", "", "entry 1 \"\": it is empty"},
      {"trailing comma", "10.1.2.3,", "", "entry 2 \"\": it is empty"},
      {"leading comma", ",10.1.2.3", "", "entry 1 \"\": it is empty"},
      {"double comma", "10.0.0.0/8,,*", "", "entry 2 \"\": it is empty"},
      {"lone negation", "!", "!", "a '!' with nothing after it"},
      {"negation at the end", "10.1.2.3,!", "!", "a '!' with nothing after it"},
      {"host bits set", "10.0.0.1/8", "10.0.0.1/8",
       "host bits set past its /8 prefix (the network is 10.0.0.0/8)"},
      {"host bits set, loopback", "127.0.0.1/8", "127.0.0.1/8", "the network is 127.0.0.0/8"},
      {"host bits set after a match", "*,10.0.0.1/8", "10.0.0.1/8", "host bits set"},
      {"host bits set, negated", "!10.0.0.1/8", "!10.0.0.1/8", "host bits set"},
      {"host bits set under /0", "1.2.3.4/0", "1.2.3.4/0", "the network is 0.0.0.0/0"},
      {"host bits set, IPv6", "2001:db8::1/32", "2001:db8::1/32", "the network is 2001:db8::/32"},
      {"bare integer with a prefix", "10/8", "10/8", "the network is 0.0.0.0/8"},
      {"IPv4 prefix 33", "10.0.0.0/33", "10.0.0.0/33", "/33 is out of range for IPv4"},
      {"IPv4 prefix 128", "10.0.0.0/128", "10.0.0.0/128", "/128 is out of range for IPv4"},
      {"NUL byte", std::string("10.1.2.3\0,*", 11), "", "NUL byte"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.name);
    for (const char* address : {"10.1.2.3", "10.0.0.1", "127.0.0.1", "2001:db8::1"}) {
      SCOPED_TRACE(address);
      const SourceDecision decision = MatchFromOption(row.patterns, Address(address));
      EXPECT_EQ(ResultName(decision.result), ResultName(SourceMatch::kBadPattern))
          << decision.reason;
      EXPECT_EQ(decision.entry, row.entry);
      EXPECT_THAT(decision.reason, HasSubstr(row.reason));
      // A NUL is keyfleet's own refusal: sshd never gets to see one.
      if (row.name != "NUL byte") {
        EXPECT_THAT(decision.reason, HasSubstr("sshd denies every login"));
      }
    }
    const absl::Status status = ValidateFromPatternList(row.patterns);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr(row.reason));
  }
}

TEST(MatchFromOptionTest, NullListIsAnEmptyList) {
  // A default string_view is as empty as "": sshd's from="" fails on its one empty entry.
  EXPECT_EQ(MatchFromOption(absl::string_view(), Address("10.1.2.3")).result,
            SourceMatch::kBadPattern);
  EXPECT_FALSE(ValidateFromPatternList(absl::string_view()).ok());
}

TEST(MatchFromOptionTest, NegatedMatchBeforeAnInvalidEntryDeniesFirst) {
  // sshd walks the list in order: a negated match returns before the bad entry is reached.
  const std::string patterns = "!10.1.2.3,10.0.0.1/8";
  EXPECT_EQ(MatchFromOption(patterns, Address("10.1.2.3")).result, SourceMatch::kDenied);
  EXPECT_EQ(MatchFromOption(patterns, Address("10.9.9.9")).result, SourceMatch::kBadPattern);
  EXPECT_FALSE(ValidateFromPatternList(patterns).ok());
}

TEST(MatchFromOptionTest, ReasonsNameTheDecidingPattern) {
  EXPECT_EQ(MatchFromOption("!10.1.2.0/24,10.0.0.0/8", Address("10.1.2.3")).reason,
            "10.1.2.3 is excluded by \"!10.1.2.0/24\"");
  EXPECT_EQ(MatchFromOption("10.1.0.0/16,192.168.*", Address("10.9.9.9")).reason,
            "10.9.9.9 matches none of \"10.1.0.0/16,192.168.*\"");
  EXPECT_EQ(MatchFromOption("127.0.0.0/8", Address("127.0.0.1")).reason,
            "127.0.0.1 is allowed by \"127.0.0.0/8\"");
  EXPECT_EQ(MatchFromOption("2001:DB8::*", Address("2001:db8::1")).reason,
            "2001:db8::1 is allowed by \"2001:DB8::*\" (ignoring case)");
  EXPECT_EQ(MatchFromOption("10.0.0.1/8", Address("10.0.0.1")).reason,
            "from=\"10.0.0.1/8\" is invalid: entry 1 \"10.0.0.1/8\": address has host bits set "
            "past its /8 prefix (the network is 10.0.0.0/8); sshd denies every login with this "
            "list");
  EXPECT_THAT(MatchFromOption("2001:DB8::*," + LongEntry(1023), Address("2001:db8::1")).reason,
              HasSubstr("stops its case-insensitive pass at entry 2"));
  // Control characters in a pattern stay on one line.
  EXPECT_EQ(MatchFromOption("a\nb", Address("10.1.2.3")).reason,
            "10.1.2.3 matches none of \"a\\nb\"");
}

// --- WildcardMatch --------------------------------------------------------------------------

// The plain recursive definition of a '*'/'?' glob, for comparison on small inputs.
bool ReferenceGlob(absl::string_view text, absl::string_view pattern) {
  if (pattern.empty()) return text.empty();
  if (pattern[0] == '*') {
    for (size_t skip = 0; skip <= text.size(); ++skip) {
      if (ReferenceGlob(text.substr(skip), pattern.substr(1))) return true;
    }
    return false;
  }
  if (text.empty()) return false;
  if (pattern[0] != '?' && pattern[0] != text[0]) return false;
  return ReferenceGlob(text.substr(1), pattern.substr(1));
}

// Every string of length 0..max_length over `alphabet`.
std::vector<std::string> AllStrings(absl::string_view alphabet, size_t max_length) {
  std::vector<std::string> out = {""};
  for (size_t start = 0; start < out.size(); ++start) {
    if (out[start].size() == max_length) continue;
    for (char c : alphabet) out.push_back(out[start] + c);
  }
  return out;
}

TEST(WildcardMatchTest, AgreesWithTheRecursiveDefinition) {
  const std::vector<std::string> texts = AllStrings("ab", 5);
  const std::vector<std::string> patterns = AllStrings("ab*?", 5);
  for (const std::string& pattern : patterns) {
    for (const std::string& text : texts) {
      ASSERT_EQ(WildcardMatch(text, pattern), ReferenceGlob(text, pattern))
          << "text \"" << text << "\" pattern \"" << pattern << "\"";
    }
  }
}

TEST(WildcardMatchTest, Rows) {
  EXPECT_TRUE(WildcardMatch("", ""));
  EXPECT_TRUE(WildcardMatch("", "*"));
  EXPECT_TRUE(WildcardMatch("", "***"));
  EXPECT_FALSE(WildcardMatch("", "?"));
  EXPECT_FALSE(WildcardMatch("a", ""));
  EXPECT_TRUE(WildcardMatch("10.1.2.3", "10.*.3"));
  EXPECT_TRUE(WildcardMatch("10.1.2.3", "*.*.*.*"));
  EXPECT_FALSE(WildcardMatch("10.1.2.3", "*.*.*.*.*"));
  EXPECT_FALSE(WildcardMatch("ABC", "abc"));  // case is the caller's business
  EXPECT_FALSE(WildcardMatch(std::string(45, 'a'), std::string(30, '*') + "?b" + "*?*?*?*?*"));
}

}  // namespace
}  // namespace keyfleet
