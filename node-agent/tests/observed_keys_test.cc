// What the agent reports of an account's key lines: managed or the user's own, options,
// expiry as sshd reads it, and the report's size budget.
#include "node-agent/observed_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/authorized_keys_options.h"
#include "common/delivery_limits.h"
#include "node-agent/managed_block.h"
#include "tests/support/test_keys.h"

namespace keyfleet::agent {
namespace {

using ::testing::SizeIs;

std::string Key(uint64_t n, const std::string& comment = "c") {
  return testing::SyntheticEd25519Line(n, comment);
}

v1::ObservedAccount Observe(const std::string& content, const std::string& file = "authorized_keys",
                            size_t budget = kMaxObservedReportBytes,
                            absl::TimeZone zone = absl::UTCTimeZone()) {
  ObservedBudget b{budget};
  v1::ObservedAccount out;
  ObserveKeyLines(content, file, zone, &b, &out);
  return out;
}

TEST(ObservedKeys, ManagedLinesAreThoseInAnIntactBlock) {
  const std::string block =
      RenderManagedBlock({"expiry-time=\"203001010000Z\" " + Key(1, "alice")}, 7);
  const std::string content =
      "# mine\n" + Key(2, "me@home") + "\n" + block + "restrict " + Key(3) + "\n\n";
  v1::ObservedAccount a = Observe(content);
  ASSERT_THAT(a.lines(), SizeIs(3));
  EXPECT_FALSE(a.lines(0).managed());
  EXPECT_EQ(a.lines(0).comment(), "me@home");
  EXPECT_TRUE(a.lines(1).managed());
  EXPECT_EQ(a.lines(1).options(), "expiry-time=\"203001010000Z\"");
  EXPECT_EQ(a.lines(1).expires_at().seconds(), 1893456000);
  EXPECT_EQ(a.lines(1).key_type(), "ssh-ed25519");
  EXPECT_FALSE(a.lines(2).managed());
  EXPECT_EQ(a.lines(2).options(), "restrict");
  EXPECT_EQ(a.lines_left_out(), 0u);
}

TEST(ObservedKeys, ADamagedBlockMakesEveryLineTheUsersAndAuthorizedKeys2IsNeverManaged) {
  const std::string content = "# keyfleet:begin generation=1 sha256=00\n" + Key(1) + "\n";
  v1::ObservedAccount a = Observe(content);
  ASSERT_THAT(a.lines(), SizeIs(1));
  EXPECT_FALSE(a.lines(0).managed());
  const std::string block = RenderManagedBlock({Key(1)}, 7);
  v1::ObservedAccount keys2 = Observe(block, "authorized_keys2");
  ASSERT_THAT(keys2.lines(), SizeIs(1));
  EXPECT_FALSE(keys2.lines(0).managed());
  EXPECT_EQ(keys2.lines(0).file(), "authorized_keys2");
}

TEST(ObservedKeys, ExpiryWithoutAZoneIsTheHostsLocalTime) {
  const absl::TimeZone paris = [] {
    absl::TimeZone z;
    EXPECT_TRUE(absl::LoadTimeZone("Europe/Paris", &z));
    return z;
  }();
  v1::ObservedAccount a = Observe("expiry-time=\"20300101\" " + Key(1) + "\n", "authorized_keys",
                                  kMaxObservedReportBytes, paris);
  ASSERT_THAT(a.lines(), SizeIs(1));
  EXPECT_EQ(a.lines(0).expires_at().seconds(), 1893456000 - 3600) << "midnight in Paris";
}

TEST(ObservedKeys, LinesSshdCannotReadAndLinesPastTheBudgetAreCountedNotReported) {
  v1::ObservedAccount a =
      Observe("ssh-ed25519 notbase64!\nnosuchoption " + Key(1) + "\n" + Key(2) + "\n");
  EXPECT_THAT(a.lines(), SizeIs(1));
  EXPECT_EQ(a.lines_left_out(), 2u);
  std::string many;
  for (int i = 0; i < 100; ++i) absl::StrAppend(&many, Key(i), "\n");
  v1::ObservedAccount cut = Observe(many, "authorized_keys", 1000);
  EXPECT_GT(cut.lines_size(), 0);
  EXPECT_LT(cut.lines_size(), 100);
  EXPECT_EQ(cut.lines_size() + static_cast<int>(cut.lines_left_out()), 100);
  EXPECT_LE(cut.ByteSizeLong(), 1000u);
}

TEST(ObservedKeys, LongCommentsAreCutAndMarked) {
  v1::ObservedAccount a = Observe(Key(1, std::string(1000, 'c')) + "\n");
  ASSERT_THAT(a.lines(), SizeIs(1));
  EXPECT_EQ(a.lines(0).comment(), std::string(kMaxObservedCommentBytes - 3, 'c') + "\xE2\x80\xA6");
}

// A user's comment or command in Latin-1 would make the whole report unparsable (protobuf
// refuses a string that is not UTF-8), so the host would never report again.
TEST(ObservedKeys, CommentsAndOptionsThatAreNotUtf8AreEscaped) {
  std::string three_hundred_bytes;  // 150 two-byte characters (é)
  for (int i = 0; i < 150; ++i) three_hundred_bytes += "\xC3\xA9";
  const std::string content = Key(1, "jos\xE9@caf\xE9") + "\n" + Key(2, three_hundred_bytes) +
                              "\n" + "command=\"echo caf\xE9\",restrict " + Key(3) + "\n";
  v1::ObservedAccount a = Observe(content);
  ASSERT_THAT(a.lines(), SizeIs(3));
  EXPECT_EQ(a.lines(0).comment(), "jos\\xe9@caf\\xe9");
  EXPECT_LE(a.lines(1).comment().size(), kMaxObservedCommentBytes);
  EXPECT_EQ(a.lines(1).comment().substr(0, 4), "\xC3\xA9\xC3\xA9");
  EXPECT_THAT(a.lines(1).comment(), ::testing::EndsWith("\xC3\xA9\xE2\x80\xA6"))
      << "cut after a whole character";
  EXPECT_EQ(a.lines(2).options(), "command=\"echo caf\\xe9\",restrict");
  EXPECT_TRUE(ParseAuthorizedKeysOptions(a.lines(2).options()).ok()) << "the controller parses it";
  std::string wire;
  ASSERT_TRUE(a.SerializeToString(&wire));
  v1::ObservedAccount parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire)) << "valid UTF-8 throughout";
}

// Options are never cut (a cut list is not what sshd reads): a line whose options no longer fit
// once escaped is counted, so `keyfleet access` says access may be wider than reported.
TEST(ObservedKeys, OptionsTooLongOnceEscapedLeaveTheLineOut) {
  const std::string command(3000, '\xE9');  // 3,000 bytes in the file, 12,000 escaped
  v1::ObservedAccount a = Observe("command=\"" + command + "\" " + Key(1) + "\n" + Key(2) + "\n");
  ASSERT_THAT(a.lines(), SizeIs(1));
  EXPECT_EQ(a.lines_left_out(), 1u);
}

}  // namespace
}  // namespace keyfleet::agent
