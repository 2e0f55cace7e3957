// The webhook signature against an independent HMAC (Python's hmac module), and what
// VerifyWebhookSignature must refuse.
#include "controller/notify/webhook_signature.h"

#include <gtest/gtest.h>

namespace keyfleet::controller::notify {
namespace {

// python3 -c 'import hmac, hashlib;
//   print(hmac.new(b"s3cret", b"1700000000.{\"id\":1}", hashlib.sha256).hexdigest())'
constexpr char kKnownSignature[] =
    "sha256=ee0658aa4e37018df69c24227df01e0f680eb3b87c7f1f9bd936e283cfe01d9b";

TEST(WebhookSignature, MatchesAnIndependentHmac) {
  absl::StatusOr<std::string> signature = WebhookSignature("s3cret", "1700000000", R"({"id":1})");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(*signature, kKnownSignature);
  EXPECT_TRUE(VerifyWebhookSignature("s3cret", "1700000000", R"({"id":1})", kKnownSignature));
}

TEST(WebhookSignature, VerifyRefusesAnythingElse) {
  const std::string good = kKnownSignature;
  const struct {
    const char* what;
    std::string secret, timestamp, body, header;
  } bad[] = {
      {"wrong secret", "s3cret!", "1700000000", R"({"id":1})", good},
      {"altered body", "s3cret", "1700000000", R"({"id":2})", good},
      {"altered timestamp", "s3cret", "1700000001", R"({"id":1})", good},
      {"timestamp moved into the body", "s3cret", "170000000", R"(0.{"id":1})", good},
      {"no prefix", "s3cret", "1700000000", R"({"id":1})", good.substr(7)},
      {"upper-case hex", "s3cret", "1700000000", R"({"id":1})",
       "sha256=EE0658AA4E37018DF69C24227DF01E0F680EB3B87C7F1F9BD936E283CFE01D9B"},
      {"truncated", "s3cret", "1700000000", R"({"id":1})", good.substr(0, good.size() - 1)},
      {"extra character", "s3cret", "1700000000", R"({"id":1})", good + "0"},
      {"empty header", "s3cret", "1700000000", R"({"id":1})", ""},
      {"last digit changed", "s3cret", "1700000000", R"({"id":1})",
       good.substr(0, good.size() - 1) + "c"},
  };
  for (const auto& c : bad) {
    EXPECT_FALSE(VerifyWebhookSignature(c.secret, c.timestamp, c.body, c.header)) << c.what;
  }
}

TEST(WebhookSignature, EmptySecretAndBodyStillSign) {
  absl::StatusOr<std::string> signature = WebhookSignature("", "0", "");
  ASSERT_TRUE(signature.ok()) << signature.status();
  EXPECT_EQ(signature->size(), 7u + 64u);
  EXPECT_TRUE(VerifyWebhookSignature("", "0", "", *signature));
}

}  // namespace
}  // namespace keyfleet::controller::notify
