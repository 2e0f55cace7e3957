// The group file parser (a table of good lines and one of bad lines with the reason each is
// refused), its size limit at and one past the limit, and the passwd lookups sshd's StrictModes
// needs (getpwuid's first entry, getpwent's every entry).
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "node-agent/accounts.h"
#include "node-agent/posix/unique_fd.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

TEST(GroupFile, ParsesGoodLines) {
  struct Good {
    const char* line;
    gid_t gid;
    std::vector<std::string> members;
  };
  const Good good[] = {
      {"users:x:100:", 100, {}},
      {"users:x:100:alice", 100, {"alice"}},
      {"users:x:100:alice,bob", 100, {"alice", "bob"}},
      {"users:*:100:alice", 100, {"alice"}},
      {"users::100:", 100, {}},
      {"nogroup:x:65534:", 65534, {}},
      {"Domain.Admins$:x:4000:svc-backup", 4000, {"svc-backup"}},
  };
  for (const Good& g : good) {
    GroupFile file = GroupFile::Parse(g.line);
    EXPECT_EQ(file.malformed_lines(), 0) << g.line;
    std::optional<Group> group = file.FindByGid(g.gid);
    ASSERT_TRUE(group.has_value()) << g.line;
    EXPECT_EQ(group->members, g.members) << g.line;
  }
}

TEST(GroupFile, CountsBadLinesWithoutHidingTheRest) {
  const std::pair<const char*, const char*> bad[] = {
      {"users:x:100", "three fields"},
      {"users:x:100:alice:bob", "five fields"},
      {":x:100:", "empty name"},
      {"..:x:100:", "name is a path component"},
      {"us ers:x:100:", "name with a space"},
      {"users:x::", "empty gid"},
      {"users:x:abc:", "gid not a number"},
      {"users:x:-1:", "negative gid"},
      {"users:x:99999999999:", "gid past gid_t"},
      {"users:x:100:alice,", "trailing comma"},
      {"users:x:100:,alice", "leading comma"},
      {"users:x:100:alice,,bob", "empty member"},
      {"users:x:100:alice bob", "member with a space"},
      {"users:x:100:a/b", "member with a slash"},
      {"+:::", "NIS compat entry"},
  };
  for (const auto& [line, why] : bad) {
    GroupFile file = GroupFile::Parse(std::string(line) + "\nstaff:x:50:carol\n");
    EXPECT_EQ(file.malformed_lines(), 1) << why << ": " << line;
    EXPECT_FALSE(file.FindByGid(100).has_value()) << why << ": " << line;
    ASSERT_TRUE(file.FindByGid(50).has_value()) << why;
    EXPECT_THAT(file.FindByGid(50)->members, ElementsAre("carol")) << why;
  }
}

TEST(GroupFile, SkipsCommentsAndBlankLinesAndTheFirstEntryWins) {
  GroupFile file = GroupFile::Parse("# comment\n\nfirst:x:7:a\nsecond:x:7:b\n");
  EXPECT_EQ(file.malformed_lines(), 0);
  ASSERT_TRUE(file.FindByGid(7).has_value());
  EXPECT_EQ(file.FindByGid(7)->name, "first") << "as getgrgid returns it";
  EXPECT_FALSE(file.FindByGid(8).has_value());
}

TEST(GroupFile, LoadsUpToTheLimitAndRefusesOnePast) {
  ::keyfleet::testing::ScopedTempDir dir("keyfleet-group");
  const std::string path = dir.path().string() + "/group";
  const std::string line = "users:x:100:alice\n";
  for (size_t size : {kMaxGroupBytes, kMaxGroupBytes + 1}) {
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      out << line << "#" << std::string(size - line.size() - 2, 'x') << "\n";
    }
    absl::StatusOr<GroupFile> file = GroupFile::Load(path);
    if (size == kMaxGroupBytes) {
      ASSERT_TRUE(file.ok()) << file.status();
      EXPECT_TRUE(file->FindByGid(100).has_value());
    } else {
      EXPECT_FALSE(file.ok());
      EXPECT_THAT(file.status().message(), HasSubstr("larger than"));
    }
  }
}

TEST(GroupFile, LoadAtReadsRelativeToTheHeldRootAndNamesTheShownPath) {
  ::keyfleet::testing::ScopedTempDir dir("keyfleet-group");
  std::filesystem::create_directory(dir.path() / "etc");
  std::ofstream(dir.path() / "etc/group") << "users:x:100:\n";
  UniqueFd root(open(dir.path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  ASSERT_TRUE(root.valid());
  absl::StatusOr<GroupFile> file = GroupFile::LoadAt(root.get(), "etc/group", "ROOT/etc/group");
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_TRUE(file->FindByGid(100).has_value());
  absl::StatusOr<GroupFile> missing = GroupFile::LoadAt(root.get(), "etc/nope", "ROOT/etc/nope");
  EXPECT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("ROOT/etc/nope"));
  std::filesystem::create_directory(dir.path() / "etc/dir");
  absl::StatusOr<GroupFile> not_regular = GroupFile::LoadAt(root.get(), "etc/dir", "ROOT/etc/dir");
  EXPECT_FALSE(not_regular.ok());
  EXPECT_THAT(not_regular.status().message(), HasSubstr("not a regular file"));
}

TEST(PasswdFile, LookupsByUidAndEveryEntryAsSshdSeesThem) {
  PasswdFile file = PasswdFile::Parse(
      "alice:x:2001:2001::/home/alice:/bin/sh\n"
      "bad line\n"
      "alias:x:2001:3000::/home/alice:/bin/sh\n"
      "alice:x:2999:2999::/elsewhere:/bin/sh\n");
  EXPECT_EQ(file.malformed_lines(), 1);
  ASSERT_TRUE(file.Find("alice").has_value());
  EXPECT_EQ(file.Find("alice")->uid, 2001u) << "the first entry wins, as getpwnam";
  ASSERT_TRUE(file.FindByUid(2001).has_value());
  EXPECT_EQ(file.FindByUid(2001)->name, "alice") << "the first entry wins, as getpwuid";
  EXPECT_EQ(file.FindByUid(2999)->home, "/elsewhere");
  EXPECT_FALSE(file.FindByUid(1).has_value());
  std::vector<std::string> names;
  for (const Account& a : file.entries()) names.push_back(a.name);
  EXPECT_THAT(names, ElementsAre("alice", "alias", "alice")) << "duplicates too, as getpwent";
  EXPECT_THAT(PasswdFile::Parse("").entries(), IsEmpty());
}

}  // namespace
}  // namespace keyfleet::agent
