// The one table from absl::Status to grpc::Status, and the bound on what an error may echo.
#include "controller/service/status_mapping.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace keyfleet::controller {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

TEST(StatusMappingTest, CodesMapOneToOne) {
  EXPECT_TRUE(ToGrpcStatus(absl::OkStatus()).ok());
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError("x")).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(ToGrpcStatus(absl::UnavailableError("x")).error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_EQ(ToGrpcStatus(absl::FailedPreconditionError("x")).error_message(), "x");
}

TEST(StatusMappingTest, AHugeMessageIsCutAtTheLimitAndOnePastIt) {
  const std::string at_limit(kMaxErrorMessageBytes, 'a');
  EXPECT_EQ(ToGrpcStatus(absl::InvalidArgumentError(at_limit)).error_message(), at_limit);
  const std::string one_past(kMaxErrorMessageBytes + 1, 'a');
  const std::string cut = ToGrpcStatus(absl::InvalidArgumentError(one_past)).error_message();
  EXPECT_THAT(cut, EndsWith("(1 more bytes cut)"));
  const std::string megabyte = "principal name \"" + std::string(1 << 20, 'x') + "\" is invalid";
  const std::string bounded = ToGrpcStatus(absl::InvalidArgumentError(megabyte)).error_message();
  EXPECT_LT(bounded.size(), kMaxErrorMessageBytes + 64);
  EXPECT_THAT(bounded, HasSubstr("principal name \"xxx"));
  // Never in the middle of a UTF-8 sequence: "é" is two bytes, the cut falls between them.
  std::string accents(kMaxErrorMessageBytes - 1, 'a');
  accents += "\xC3\xA9\xC3\xA9";
  const std::string whole_chars = ToGrpcStatus(absl::InvalidArgumentError(accents)).error_message();
  EXPECT_EQ(whole_chars.substr(0, kMaxErrorMessageBytes - 1),
            std::string(kMaxErrorMessageBytes - 1, 'a'));
  EXPECT_EQ(whole_chars[kMaxErrorMessageBytes - 1], '\xE2')
      << "the ellipsis follows the last whole character";
}

}  // namespace
}  // namespace keyfleet::controller
