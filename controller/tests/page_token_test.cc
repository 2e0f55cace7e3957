// Page tokens and sizes of the list RPCs: strict, table-driven.
#include "controller/service/page_token.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace keyfleet::controller {
namespace {

const std::string kFingerprint = "SHA256:" + std::string(43, 'A');
const std::string kId = "0123456789abcdef";

TEST(PageToken, AuditTokensRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseAuditPageToken(""), 0u);
  EXPECT_EQ(*ParseAuditPageToken(AuditPageToken(1)), 1u);
  EXPECT_EQ(*ParseAuditPageToken(AuditPageToken(18446744073709551615u)), 18446744073709551615u);
  for (const char* bad : {"a", "a0", "a-1", "a+1", "1", "a1x", "a 1", "b1", "a18446744073709551616",
                          "a000000000000000000001", "a01", "a 1", "k:1"}) {
    EXPECT_EQ(ParseAuditPageToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PageToken, NewestFirstAuditTokensAreTheirOwn) {
  EXPECT_EQ(*ParseNewestAuditPageToken(""), 0u);
  EXPECT_EQ(*ParseNewestAuditPageToken(NewestAuditPageToken(7)), 7u);
  for (const char* bad : {"b", "b0", "b-1", "b+1", "b01", "b 1", "a7", "7", "b7x"}) {
    EXPECT_EQ(ParseNewestAuditPageToken(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  // A token of one order is refused by the other: a page is never read in the wrong direction.
  EXPECT_FALSE(ParseAuditPageToken(NewestAuditPageToken(7)).ok());
  EXPECT_FALSE(ParseNewestAuditPageToken(AuditPageToken(7)).ok());
}

TEST(PageToken, KeyTokensRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseKeyPageToken(""), "");
  EXPECT_EQ(*ParseKeyPageToken(KeyPageToken(kFingerprint)), kFingerprint);
  const std::vector<std::string> bad_tokens = {"k:",
                                               "k:SHA256:",
                                               "k:" + kFingerprint + "A",
                                               "k:" + kFingerprint.substr(1),
                                               kFingerprint,
                                               "a1",
                                               "k:MD5:" + std::string(43, 'A'),
                                               "k:SHA256:" + std::string(42, 'A') + "=",
                                               "k:SHA256:" + std::string(42, 'A') + "\n"};
  for (const std::string& bad : bad_tokens) {
    EXPECT_EQ(ParseKeyPageToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PageToken, NameTokensRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(*ParsePrincipalPageToken(""), "");
  EXPECT_EQ(*ParsePrincipalPageToken(PrincipalPageToken("alice.ops-2")), "alice.ops-2");
  EXPECT_EQ(*ParseHostPageToken(""), "");
  const std::string longest(253, 'h');
  EXPECT_EQ(*ParseHostPageToken(HostPageToken(longest)), longest);
  EXPECT_EQ(*ParseHostPageToken(HostPageToken("Web-1.example.com")), "Web-1.example.com");
  struct Bad {
    const char* what;
    std::string token;
    absl::StatusOr<std::string> (*parse)(absl::string_view);
  };
  const Bad bad[] = {
      {"principal: no name", "p:", ParsePrincipalPageToken},
      {"principal: no prefix", "alice", ParsePrincipalPageToken},
      {"principal: a host token", "h:alice", ParsePrincipalPageToken},
      {"principal: upper case", "p:Alice", ParsePrincipalPageToken},
      {"principal: a newline", "p:alice\n", ParsePrincipalPageToken},
      {"principal: too long", "p:" + std::string(65, 'a'), ParsePrincipalPageToken},
      {"host: no name", "h:", ParseHostPageToken},
      {"host: a principal token", "p:web-1", ParseHostPageToken},
      {"host: a slash", "h:web/1", ParseHostPageToken},
      {"host: leading dot", "h:.web", ParseHostPageToken},
      {"host: too long", "h:" + std::string(254, 'h'), ParseHostPageToken},
  };
  for (const Bad& b : bad) {
    absl::Status s = b.parse(b.token).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << b.what;
    EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("page_token")) << b.what;
  }
}

TEST(PageToken, GrantTokensRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseGrantPageToken(""), 0);
  EXPECT_EQ(*ParseGrantPageToken(GrantPageToken(1)), 1);
  EXPECT_EQ(*ParseGrantPageToken(GrantPageToken(INT64_MAX)), INT64_MAX);
  for (const char* bad :
       {"g", "g0", "g-1", "g+1", "g01", "g 1", "g1 ", "1", "a1", "g1x", "g9223372036854775808"}) {
    EXPECT_EQ(ParseGrantPageToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PageToken, CreationTokensRoundTripAndBadOnesAreRefused) {
  const CreationCursor cursor = CreationCursor::Of(absl::FromUnixMicros(1795000000123456), kId);
  EXPECT_TRUE(ParseJoinTokenPageToken("")->first());
  EXPECT_TRUE(ParseCredentialPageToken("")->first());
  absl::StatusOr<CreationCursor> join = ParseJoinTokenPageToken(JoinTokenPageToken(cursor));
  ASSERT_TRUE(join.ok()) << join.status();
  EXPECT_EQ(join->created_us, 1795000000123456);
  EXPECT_EQ(join->id, kId);
  absl::StatusOr<CreationCursor> credential = ParseCredentialPageToken(CredentialPageToken(cursor));
  ASSERT_TRUE(credential.ok()) << credential.status();
  EXPECT_FALSE(*credential < cursor || cursor < *credential);
  const std::string t = JoinTokenPageToken(cursor);
  const std::vector<std::string> bad_join_tokens = {"j:",
                                                    "j::" + kId,
                                                    "j:1:",
                                                    "j:1:" + kId + "0",
                                                    "j:1:" + kId.substr(1),
                                                    "j:01:" + kId,
                                                    "j:+1:" + kId,
                                                    "j: 1:" + kId,
                                                    "j:1:" + std::string(16, 'A'),
                                                    "j:1:" + std::string(16, 'g'),
                                                    "j:1" + kId,
                                                    "j:99999999999999999999:" + kId,
                                                    "j:-9223372036854775808:" + kId,
                                                    CredentialPageToken(cursor),
                                                    t + "\n",
                                                    " " + t};
  for (const std::string& bad : bad_join_tokens) {
    EXPECT_EQ(ParseJoinTokenPageToken(bad).status().code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_EQ(ParseCredentialPageToken(t).status().code(), absl::StatusCode::kInvalidArgument);
  // Ties on the time are ordered by id.
  EXPECT_LT(CreationCursor::Of(absl::FromUnixMicros(5), "0000000000000001"),
            CreationCursor::Of(absl::FromUnixMicros(5), "0000000000000002"));
  EXPECT_LT(CreationCursor::Of(absl::FromUnixMicros(4), "ffffffffffffffff"),
            CreationCursor::Of(absl::FromUnixMicros(5), "0000000000000000"));
  EXPECT_LT(CreationCursor(), CreationCursor::Of(absl::UnixEpoch(), "0000000000000000"));
}

TEST(PageToken, SizesDefaultAndHaveACeiling) {
  EXPECT_EQ(*PageSize(0, 1000), 1000u);
  EXPECT_EQ(*PageSize(1, 1000), 1u);
  EXPECT_EQ(*PageSize(kMaxPageSize, 1000), kMaxPageSize);
  EXPECT_EQ(PageSize(kMaxPageSize + 1, 1000).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keyfleet::controller
