#include "common/key_policy.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/test_keys.h"

namespace keyfleet {
namespace {

using ::keyfleet::testing::Vector;
using ::testing::HasSubstr;

PublicKey Key(const char* name) {
  return *ParsePublicKey(Vector(name).line);
}

TEST(KeyPolicyTest, DefaultPolicyDecisions) {
  const KeyPolicy policy = KeyPolicy::Default();
  ASSERT_TRUE(ValidateKeyPolicy(policy).ok());
  struct Row {
    const char* key;
    std::string reason;  // empty: allowed
  };
  const std::vector<Row> rows = {
      {"ed25519", ""},
      {"ecdsa256", ""},
      {"ecdsa384", ""},
      {"ecdsa521", ""},
      {"rsa2048", ""},
      {"rsa1024", "RSA keys below 2048 bits are never allowed (rule: rsa-floor)"},
      {"dsa", "key type ssh-dss is never allowed (rule: no-dsa)"},
      {"u_ed-cert",
       "key type ssh-ed25519-cert-v01@openssh.com is not allowed by policy "
       "(rule: allowed-types; allowed: ssh-ed25519, ecdsa-sha2-nistp256"},
  };
  for (const auto& row : rows) {
    SCOPED_TRACE(row.key);
    const absl::Status s = CheckKeyAgainstPolicy(Key(row.key), policy);
    if (row.reason.empty()) {
      EXPECT_TRUE(s.ok()) << s;
    } else {
      EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
      EXPECT_THAT(std::string(s.message()), HasSubstr(row.reason));
    }
  }
}

TEST(KeyPolicyTest, StricterPolicies) {
  KeyPolicy policy = KeyPolicy::Default();
  policy.min_rsa_bits = 3072;
  EXPECT_THAT(std::string(CheckKeyAgainstPolicy(Key("rsa2048"), policy).message()),
              HasSubstr("policy requires at least 3072 (rule: min-rsa-bits)"));
  policy.allowed_types = *ParseKeyTypeList("ssh-ed25519");
  EXPECT_THAT(std::string(CheckKeyAgainstPolicy(Key("ecdsa256"), policy).message()),
              HasSubstr("(rule: allowed-types; allowed: ssh-ed25519)"));
  EXPECT_TRUE(CheckKeyAgainstPolicy(Key("ed25519"), policy).ok());
}

TEST(KeyPolicyTest, InvalidPoliciesAreRefused) {
  KeyPolicy policy = KeyPolicy::Default();
  policy.min_rsa_bits = 1024;
  EXPECT_THAT(std::string(ValidateKeyPolicy(policy).message()), HasSubstr("below the floor"));
  policy.min_rsa_bits = kMaxRsaModulusBits;
  EXPECT_TRUE(ValidateKeyPolicy(policy).ok()) << "at the limit";
  policy.min_rsa_bits = kMaxRsaModulusBits + 1;
  EXPECT_THAT(std::string(ValidateKeyPolicy(policy).message()), HasSubstr("above 16384 bits"));
  policy.min_rsa_bits = 99999999;
  EXPECT_THAT(std::string(ValidateKeyPolicy(policy).message()),
              HasSubstr("allowed: 2048 to 16384"));
  policy.min_rsa_bits = kRsaBitsFloor;
  policy = KeyPolicy::Default();
  policy.allowed_types.push_back(KeyType::kDsa);
  EXPECT_THAT(std::string(ValidateKeyPolicy(policy).message()), HasSubstr("never allowed"));
  policy.allowed_types.clear();
  EXPECT_FALSE(ValidateKeyPolicy(policy).ok());
  EXPECT_FALSE(ParseKeyTypeList("ssh-ed25519,rsa-sha2-256").ok());
}

}  // namespace
}  // namespace keyfleet
