// SHA256 fingerprint text <-> raw digest (sha256_fingerprint.h): round trips against what
// Fingerprint() prints, and a table of texts that are not fingerprints.
#include "common/sha256_fingerprint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/fingerprint.h"
#include "common/sha256.h"
#include "common/ssh_public_key.h"
#include "tests/support/test_keys.h"

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

TEST(Sha256FingerprintTest, RoundTripsWhatFingerprintPrints) {
  for (uint64_t n = 0; n < 50; ++n) {
    absl::StatusOr<PublicKey> key = ParsePublicKey(testing::SyntheticEd25519Line(n));
    ASSERT_TRUE(key.ok());
    const std::string text = Fingerprint(*key);
    absl::StatusOr<std::string> digest = Sha256FingerprintDigest(text);
    ASSERT_TRUE(digest.ok()) << digest.status();
    EXPECT_EQ(*digest, Sha256Digest(key->blob));
    EXPECT_EQ(Sha256FingerprintText(*digest), text);
  }
}

TEST(Sha256FingerprintTest, RefusesWhatIsNotOne) {
  const std::string good = Sha256FingerprintText(std::string(32, '\x01'));
  ASSERT_TRUE(Sha256FingerprintDigest(good).ok());
  struct Case {
    std::string text;
    std::string why;
  };
  const Case cases[] = {
      {"", "43 base64 symbols"},
      {"SHA256:", "43 base64 symbols"},
      {"sha256:" + good.substr(7), "43 base64 symbols"},
      {"MD5:" + good.substr(7), "43 base64 symbols"},
      {good + "=", "43 base64 symbols"},
      {good.substr(0, good.size() - 1), "43 base64 symbols"},
      {good.substr(0, good.size() - 1) + "-", "standard base64"},  // URL-safe alphabet
      {good.substr(0, good.size() - 1) + "B", "standard base64"},  // unused bits set
      {"SHA256:" + std::string(43, ' '), "standard base64"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<std::string> digest = Sha256FingerprintDigest(c.text);
    EXPECT_FALSE(digest.ok()) << c.text;
    EXPECT_THAT(std::string(digest.status().message()), HasSubstr(c.why)) << c.text;
  }
}

}  // namespace
}  // namespace keyfleet
