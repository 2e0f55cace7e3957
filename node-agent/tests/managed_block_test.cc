// The managed block: parsing good and damaged files, and merges that keep user lines byte for
// byte.
#include "node-agent/managed_block.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/support/test_keys.h"

namespace keyfleet::agent {
namespace {

using ::keyfleet::UnmanagedKeysMode;
using ::testing::HasSubstr;

std::string Key(int n) {
  return testing::SyntheticEd25519Line(n, "k" + std::to_string(n));
}

TEST(ManagedBlock, ParsesFilesWithAndWithoutABlock) {
  const std::string block = RenderManagedBlock({Key(1)}, 4);
  struct Case {
    std::string name;
    std::string content;
    BlockState state;
    size_t before, block, after;
  };
  const Case cases[] = {
      {"empty", "", BlockState::kNone, 0, 0, 0},
      {"user only", "# hi\n" + Key(9) + "\n", BlockState::kNone, 2, 0, 0},
      {"block only", block, BlockState::kIntact, 0, 1, 0},
      {"block in the middle", "# a\r\n" + block + Key(9), BlockState::kIntact, 1, 1, 1},
      {"two begins", block + block, BlockState::kDamaged, 0, 0, 0},
      {"begin without end", block.substr(0, block.find("# keyfleet:end")), BlockState::kDamaged, 0,
       0, 0},
      {"end without begin", "# keyfleet:end\n", BlockState::kDamaged, 0, 0, 0},
      {"unknown marker", "# keyfleet:something\n", BlockState::kDamaged, 0, 0, 0},
      {"begin with a bad hash", "# keyfleet:begin generation=1 sha256=xyz\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"begin with an upper-case hash",
       "# keyfleet:begin generation=1 sha256=" + std::string(64, 'A') + "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"begin with a hash too long",
       "# keyfleet:begin generation=1 sha256=" + std::string(65, 'a') + "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"generation past 64 bits",
       "# keyfleet:begin generation=99999999999999999999 sha256=" + std::string(64, 'a') +
           "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"generation missing",
       "# keyfleet:begin generation= sha256=" + std::string(64, 'a') + "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"trailing space after the hash",
       "# keyfleet:begin generation=1 sha256=" + std::string(64, 'a') + " \n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"epoch block", RenderManagedBlock({Key(1)}, StateVersion("0123456789abcdef", 4)),
       BlockState::kIntact, 0, 1, 0},
      {"epoch too short",
       "# keyfleet:begin epoch=0123456789abcde generation=1 sha256=" + std::string(64, 'a') +
           "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"epoch too long",
       "# keyfleet:begin epoch=0123456789abcdef0 generation=1 sha256=" + std::string(64, 'a') +
           "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"upper-case epoch",
       "# keyfleet:begin epoch=0123456789ABCDEF generation=1 sha256=" + std::string(64, 'a') +
           "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"empty epoch",
       "# keyfleet:begin epoch= generation=1 sha256=" + std::string(64, 'a') +
           "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"epoch after the generation",
       "# keyfleet:begin generation=1 epoch=0123456789abcdef sha256=" + std::string(64, 'a') +
           "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"two spaces after the epoch",
       "# keyfleet:begin epoch=0123456789abcdef  generation=1 sha256=" + std::string(64, 'a') +
           "\n# keyfleet:end\n",
       BlockState::kDamaged, 0, 0, 0},
      {"crlf block",
       "# keyfleet:begin generation=1 sha256=" + std::string(64, 'a') + "\r\n# keyfleet:end\r\n",
       BlockState::kIntact, 0, 0, 0},
  };
  for (const Case& c : cases) {
    ParsedAuthorizedKeys p = ParseAuthorizedKeysFile(c.content);
    EXPECT_EQ(p.state, c.state) << c.name;
    if (c.state == BlockState::kDamaged) {
      EXPECT_FALSE(p.damage.empty()) << c.name;
      continue;
    }
    EXPECT_EQ(p.before.size(), c.before) << c.name;
    EXPECT_EQ(p.block.size(), c.block) << c.name;
    EXPECT_EQ(p.after.size(), c.after) << c.name;
  }
  EXPECT_TRUE(ParseAuthorizedKeysFile(block).hash_matches);
  EXPECT_EQ(ParseAuthorizedKeysFile(block).version, StateVersion("", 4));
  const ParsedAuthorizedKeys with_epoch =
      ParseAuthorizedKeysFile(RenderManagedBlock({Key(1)}, StateVersion("0123456789abcdef", 7)));
  EXPECT_TRUE(with_epoch.hash_matches);
  EXPECT_EQ(with_epoch.version, StateVersion("0123456789abcdef", 7));
}

TEST(ManagedBlock, EpochsAreSixteenLowerCaseHexDigitsOrNone) {
  EXPECT_TRUE(IsValidEpoch(""));
  EXPECT_TRUE(IsValidEpoch("0123456789abcdef"));
  EXPECT_FALSE(IsValidEpoch("0123456789abcde"));
  EXPECT_FALSE(IsValidEpoch("0123456789abcdefa"));
  EXPECT_FALSE(IsValidEpoch("0123456789abcdeF"));
  EXPECT_FALSE(IsValidEpoch("0123456789abcde\n"));
  EXPECT_FALSE(IsValidEpoch("g123456789abcdef"));
}

// The same generation number in another epoch is another state: a hand-edited block is
// compared line by line only with the state it was written from.
TEST(ManagedBlock, VersionsCompareEpochAndGeneration) {
  const StateVersion a("aaaaaaaaaaaaaaaa", 5), b("bbbbbbbbbbbbbbbb", 5);
  std::string edited = RenderManagedBlock({Key(1), Key(2)}, a);
  edited.erase(edited.find(Key(2)), Key(2).size() + 1);
  const ParsedAuthorizedKeys parsed = ParseAuthorizedKeysFile(edited);
  ASSERT_FALSE(parsed.hash_matches);
  auto same = MergeAuthorizedKeys(parsed, {Key(1), Key(2)}, a, UnmanagedKeysMode::kKeep);
  ASSERT_TRUE(same.ok());
  ASSERT_EQ(same->drift.size(), 1u);
  EXPECT_EQ(same->drift[0].kind, v1::DRIFT_KIND_MANAGED_KEY_MISSING);
  auto other = MergeAuthorizedKeys(parsed, {Key(1), Key(2)}, b, UnmanagedKeysMode::kKeep);
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->drift.size(), 1u);
  EXPECT_EQ(other->drift[0].kind, v1::DRIFT_KIND_MANAGED_KEY_EDITED);
  EXPECT_EQ(other->content, RenderManagedBlock({Key(1), Key(2)}, b));
}

TEST(ManagedBlock, KeepsUserLinesByteForByte) {
  const std::string user = "# mine\r\n\r\n" + Key(9) + " with, comment\r\n#last, no newline";
  auto first =
      MergeAuthorizedKeys(ParseAuthorizedKeysFile(user), {Key(1)}, 1, UnmanagedKeysMode::kKeep);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(first->content, RenderManagedBlock({Key(1)}, 1) + user) << "new blocks go on top";
  EXPECT_TRUE(first->drift.empty());
  auto second = MergeAuthorizedKeys(ParseAuthorizedKeysFile(first->content), {Key(2), Key(3)}, 2,
                                    UnmanagedKeysMode::kKeep);
  ASSERT_TRUE(second.ok());
  EXPECT_EQ(second->content, RenderManagedBlock({Key(2), Key(3)}, 2) + user);
  // A block the user moved to the middle stays there.
  const std::string middle = "# top\n" + RenderManagedBlock({Key(1)}, 1) + "# bottom";
  auto third =
      MergeAuthorizedKeys(ParseAuthorizedKeysFile(middle), {}, 3, UnmanagedKeysMode::kKeep);
  EXPECT_EQ(third->content, "# top\n" + RenderManagedBlock({}, 3) + "# bottom");
}

TEST(ManagedBlock, UnmanagedModes) {
  const std::string user = "# keep me\n" + Key(9) + "\n";
  auto report =
      MergeAuthorizedKeys(ParseAuthorizedKeysFile(user), {Key(1)}, 1, UnmanagedKeysMode::kReport);
  ASSERT_EQ(report->drift.size(), 1u);
  EXPECT_EQ(report->drift[0].kind, v1::DRIFT_KIND_UNMANAGED_KEY);
  EXPECT_FALSE(report->drift[0].repaired);
  EXPECT_THAT(report->content, HasSubstr(Key(9)));
  auto remove =
      MergeAuthorizedKeys(ParseAuthorizedKeysFile(user), {Key(1)}, 1, UnmanagedKeysMode::kRemove);
  ASSERT_EQ(remove->drift.size(), 1u);
  EXPECT_TRUE(remove->drift[0].repaired);
  EXPECT_EQ(remove->content, RenderManagedBlock({Key(1)}, 1) + "# keep me\n")
      << "exclusive drops keys, keeps comments";
}

TEST(ManagedBlock, HandEditsAreReportedAndRepaired) {
  std::string file = RenderManagedBlock({Key(1), Key(2)}, 5);
  // Someone deletes key 2 and adds key 7 inside the block.
  std::string edited = file;
  edited.replace(edited.find(Key(2)), Key(2).size(), Key(7));
  auto merged = MergeAuthorizedKeys(ParseAuthorizedKeysFile(edited), {Key(1), Key(2)}, 5,
                                    UnmanagedKeysMode::kKeep);
  ASSERT_TRUE(merged.ok());
  EXPECT_EQ(merged->content, file);
  ASSERT_EQ(merged->drift.size(), 2u);
  EXPECT_EQ(merged->drift[0].kind, v1::DRIFT_KIND_MANAGED_KEY_MISSING);
  EXPECT_EQ(merged->drift[1].kind, v1::DRIFT_KIND_MANAGED_KEY_EDITED);
  // An update to a new generation is not drift.
  auto update =
      MergeAuthorizedKeys(ParseAuthorizedKeysFile(file), {Key(1)}, 6, UnmanagedKeysMode::kKeep);
  EXPECT_TRUE(update->drift.empty());
}

TEST(ManagedBlock, DamagedFilesAreNeverRewritten) {
  const std::string forged = Key(9) +
                             "\n# keyfleet:begin generation=1 sha256=" + std::string(64, 'a') +
                             "\n" + Key(8) + "\n";
  auto merged =
      MergeAuthorizedKeys(ParseAuthorizedKeysFile(forged), {Key(1)}, 2, UnmanagedKeysMode::kRemove);
  EXPECT_EQ(merged.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(merged.status().message(), HasSubstr("begin marker without an end"));
}

}  // namespace
}  // namespace keyfleet::agent
