// Page tokens and sizes of the list RPCs: strict, table-driven.
#include "controller/service/page_token.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace keyfleet::controller {
namespace {

const std::string kFingerprint = "SHA256:" + std::string(43, 'A');

TEST(PageToken, AuditTokensRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseAuditPageToken(""), 0u);
  EXPECT_EQ(*ParseAuditPageToken(AuditPageToken(1)), 1u);
  EXPECT_EQ(*ParseAuditPageToken(AuditPageToken(18446744073709551615u)), 18446744073709551615u);
  for (const char* bad : {"a", "a0", "a-1", "a+1", "1", "a1x", "a 1", "b1", "a18446744073709551616",
                          "a000000000000000000001", "k:1"}) {
    EXPECT_EQ(ParseAuditPageToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PageToken, KeyTokensRoundTripAndBadOnesAreRefused) {
  EXPECT_EQ(*ParseKeyPageToken(""), "");
  EXPECT_EQ(*ParseKeyPageToken(KeyPageToken(kFingerprint)), kFingerprint);
  const std::vector<std::string> bad_tokens = {
      "k:", "k:SHA256:", "k:" + kFingerprint + "A", "k:" + kFingerprint.substr(1), kFingerprint,
      "a1", "k:MD5:" + std::string(43, 'A'), "k:SHA256:" + std::string(42, 'A') + "=",
      "k:SHA256:" + std::string(42, 'A') + "\n"};
  for (const std::string& bad : bad_tokens) {
    EXPECT_EQ(ParseKeyPageToken(bad).status().code(), absl::StatusCode::kInvalidArgument) << bad;
  }
}

TEST(PageToken, SizesDefaultAndHaveACeiling) {
  EXPECT_EQ(*PageSize(0, 1000), 1000u);
  EXPECT_EQ(*PageSize(1, 1000), 1u);
  EXPECT_EQ(*PageSize(kMaxPageSize, 1000), kMaxPageSize);
  EXPECT_EQ(PageSize(kMaxPageSize + 1, 1000).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace keyfleet::controller
