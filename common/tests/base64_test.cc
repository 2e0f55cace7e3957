#include "common/base64.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyfleet {
namespace {

TEST(Base64Test, GoodInputsDecodeAndReencode) {
  const std::vector<std::pair<std::string, std::string>> rows = {{"Zg==", "f"},
                                                                 {"Zm8=", "fo"},
                                                                 {"Zm9v", "foo"},
                                                                 {"Zm9vYg==", "foob"},
                                                                 {"+/+/", "\xfb\xff\xbf"}};
  for (const auto& [text, bytes] : rows) {
    SCOPED_TRACE(text);
    auto decoded = Base64DecodeStrict(text);
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, bytes);
    EXPECT_EQ(Base64Encode(bytes), text);
  }
  EXPECT_EQ(Base64EncodeUnpadded("f"), "Zg");
}

TEST(Base64Test, BadInputsAreRefused) {
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"", "empty"},
      {"Zg=", "not a multiple of 4"},
      {"Zg", "not a multiple of 4"},
      {"Zh==", "non-zero bits"},
      {"Zm9=", "non-zero bits"},
      {"Z===", "outside"},
      {"====", "outside"},
      {"Zg==Zg==", "outside"},
      {"Zm 9", "outside"},
      {"Zm-_", "outside"},
      {"Zm9\n", "outside"},
  };
  for (const auto& [text, reason] : rows) {
    SCOPED_TRACE(text);
    auto decoded = Base64DecodeStrict(text);
    ASSERT_FALSE(decoded.ok());
    EXPECT_THAT(std::string(decoded.status().message()), ::testing::HasSubstr(reason));
  }
}

}  // namespace
}  // namespace keyfleet
