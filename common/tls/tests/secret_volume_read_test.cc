// Reading secrets from a Kubernetes secret volume as kubelet lays it out (secure_file.h): each
// key a link NAME -> ..data/NAME, ..data a link to a "..TIMESTAMP" directory, on a read-only
// tmpfs whose root is 1777 (3777 root:FSGROUP with an fsGroup), files root-owned with mode
// defaultMode | 0440 when there is an fsGroup. And what stays refused: links that leave the
// directory or pass through links below it, directories others can change, group read on a
// writable mount or by a group this process is not in.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/tls/secure_file.h"
#include "common/tls/tests/openssl_cli.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::tls {
namespace {

namespace fs = std::filesystem;
using ::keyfleet::testing::ScopedTempDir;
using ::testing::HasSubstr;
using testing::WriteTextFile;

constexpr char kTimestampDir[] = "..2024_05_01_10_00_00.123456789";
// A group this process is not in (needs root to chown to).
constexpr gid_t kOtherGid = 54321;

void ExpectRefused(const absl::Status& status, const std::string& text) {
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_THAT(status.message(), HasSubstr(text)) << status;
}

// Lays `files` (name, content) out in `dir` as kubelet's AtomicWriter does, with `file_mode`.
void LayOutSecretVolume(const fs::path& dir,
                        const std::vector<std::pair<std::string, std::string>>& files,
                        mode_t file_mode) {
  fs::create_directory(dir / kTimestampDir);
  ASSERT_EQ(chmod((dir / kTimestampDir).c_str(), 0755), 0);
  for (const auto& [name, content] : files) {
    WriteTextFile(dir / kTimestampDir / name, content);
    ASSERT_EQ(chmod((dir / kTimestampDir / name).c_str(), file_mode), 0);
    fs::create_symlink(absl::StrCat("..data/", name), dir / name);
  }
  fs::create_directory_symlink(kTimestampDir, dir / "..data");
}

class SecretVolumeReadTest : public ::testing::Test {
 protected:
  ScopedTempDir temp_{"kf-secret-volume-test"};
  const fs::path root_ = temp_.path();
  const std::string dir_ = root_.string();
};

TEST_F(SecretVolumeReadTest, FollowsTheLayoutInAPrivateDirectory) {
  LayOutSecretVolume(root_, {{"ca.key", "key\n"}, {"ca.crt", "cert\n"}}, 0600);
  absl::StatusOr<std::string> key = ReadSecretFile(dir_ + "/ca.key", 100);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "key\n");
  absl::StatusOr<std::string> cert = ReadPublicFile(dir_ + "/ca.crt", 100);
  ASSERT_TRUE(cert.ok()) << cert.status();
  EXPECT_EQ(*cert, "cert\n");
  EXPECT_TRUE(*FileExists(dir_, "ca.key"));
  EXPECT_EQ(ReadSecretFile(dir_ + "/absent.key", 100).status().code(), absl::StatusCode::kNotFound);
}

TEST_F(SecretVolumeReadTest, TheFileReachedIsCheckedAsAnyOther) {
  LayOutSecretVolume(root_, {{"ca.key", "key\n"}}, 0640);
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 100).status(),
                "is readable by group or others (mode 0640)");
  ASSERT_EQ(chmod((root_ / kTimestampDir / "ca.key").c_str(), 0600), 0);
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 3).status(), "is 4 bytes (at most 3 allowed)");
}

TEST_F(SecretVolumeReadTest, RefusesLinksThatLeaveTheDirectory) {
  fs::create_directory(root_ / "inside");
  WriteTextFile(root_ / "inside" / "secret", "x");
  ASSERT_EQ(chmod((root_ / "inside" / "secret").c_str(), 0600), 0);
  fs::create_directory_symlink("inside", root_ / "inside-link");
  fs::create_symlink("secret", root_ / "inside" / "deep-link");
  fs::create_symlink("loop-b", root_ / "loop-a");
  fs::create_symlink("loop-a", root_ / "loop-b");
  const struct {
    const char* name;
    std::string target;  // empty: made above
    std::string message;
  } kRows[] = {
      {"absolute", (root_ / "inside" / "secret").string(), "which is not a path inside"},
      {"parent", "../outside", "which is not a path inside"},
      {"dot-dot-inside", "inside/../inside/secret", "which is not a path inside"},
      {"dot", "./inside/secret", "which is not a path inside"},
      {"double-slash", "inside//secret", "which is not a path inside"},
      {"through-a-link-below", "inside/deep-link", "inside/deep-link is a symbolic link"},
      {"loop-a", "", "leads through more than 8 symbolic links"},
  };
  for (const auto& row : kRows) {
    if (!row.target.empty()) fs::create_symlink(row.target, root_ / row.name);
    ExpectRefused(ReadSecretFile(absl::StrCat(dir_, "/", row.name), 100).status(), row.message);
  }
  // Links among the directory's own entries, to a plain path inside it, are followed.
  fs::create_symlink("inside-link/secret", root_ / "via-entry-link");
  absl::StatusOr<std::string> via = ReadSecretFile(dir_ + "/via-entry-link", 100);
  ASSERT_TRUE(via.ok()) << via.status();
  EXPECT_EQ(*via, "x");
}

TEST_F(SecretVolumeReadTest, RefusesLinksInOrThroughDirectoriesOthersCanChange) {
  LayOutSecretVolume(root_, {{"ca.key", "key\n"}}, 0600);
  ASSERT_EQ(chmod(dir_.c_str(), 01777), 0);  // kubelet's mode, but on a writable mount
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 100).status(),
                "ca.key is a symbolic link; refusing to follow it (" + dir_ +
                    " is writable by group or others (mode 1777)");
  ExpectRefused(EnsurePrivateDirectory(dir_, 0700), "is writable by group or others");
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  ASSERT_EQ(chmod((root_ / kTimestampDir).c_str(), 0777), 0);
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 100).status(),
                absl::StrCat(kTimestampDir, " is writable by group or others (mode 0777)"));
}

// The real thing: a read-only tmpfs, laid out and then remounted read-only as kubelet does.
// Mounting needs root (CAP_SYS_ADMIN); the mounts live in this test process's own mount
// namespace, gone with it.
class ReadOnlySecretVolumeTest : public SecretVolumeReadTest {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "mounting a read-only tmpfs needs root";
    static const bool unshared = unshare(CLONE_NEWNS) == 0 &&
                                 mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) == 0;
    ASSERT_TRUE(unshared) << "cannot make a private mount namespace: " << strerror(errno);
    ASSERT_EQ(mount("tmpfs", dir_.c_str(), "tmpfs", 0, "size=1m,mode=1777"), 0) << strerror(errno);
    mounted_ = true;
  }
  void TearDown() override {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
  }
  // kubelet with an fsGroup: group `gid` on everything, setgid directories, group read added.
  void LayOut(gid_t gid, mode_t file_mode) {
    LayOutSecretVolume(root_, {{"ca.key", "key\n"}, {"ca.crt", "cert\n"}}, file_mode);
    for (const auto& entry : fs::recursive_directory_iterator(root_)) {
      ASSERT_EQ(lchown(entry.path().c_str(), 0, gid), 0) << entry.path();
    }
    ASSERT_EQ(lchown(dir_.c_str(), 0, gid), 0);
    ASSERT_EQ(chmod((root_ / kTimestampDir).c_str(), 02755), 0);
    ASSERT_EQ(chmod(dir_.c_str(), 03777), 0);
  }
  void RemountReadOnly() {
    ASSERT_EQ(mount(nullptr, dir_.c_str(), nullptr, MS_REMOUNT | MS_BIND | MS_RDONLY, nullptr), 0)
        << strerror(errno);
  }
  bool mounted_ = false;
};

TEST_F(ReadOnlySecretVolumeTest, ReadsTheKeyWithTheGroupReadFsGroupAdds) {
  LayOut(getegid(), 0440);
  RemountReadOnly();
  absl::StatusOr<std::string> key = ReadSecretFile(dir_ + "/ca.key", 100);
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(*key, "key\n");
  EXPECT_EQ(*ReadPublicFile(dir_ + "/ca.crt", 100), "cert\n");
  EXPECT_TRUE(*FileExists(dir_, "ca.key"));
  EXPECT_FALSE(*FileExists(dir_, "next.crt"));
  EXPECT_TRUE(EnsurePrivateDirectory(dir_, 0700).ok()) << "read-only: nobody can write to it";
  EXPECT_THAT(WriteFileAtomically(dir_, "audit-head.x", "1\n", 0600).message(),
              HasSubstr("Read-only file system"))
      << "a write fails on the mount, not on the directory's mode";
}

TEST_F(ReadOnlySecretVolumeTest, GroupReadIsRefusedForAGroupNotOurs) {
  LayOut(kOtherGid, 0440);
  RemountReadOnly();
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 100).status(),
                "is readable by group or others (mode 0440)");
  EXPECT_EQ(*ReadPublicFile(dir_ + "/ca.crt", 100), "cert\n");
}

TEST_F(ReadOnlySecretVolumeTest, OthersMayNeverReadASecret) {
  LayOut(getegid(), 0444);
  RemountReadOnly();
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 100).status(),
                "is readable by group or others (mode 0444)");
}

TEST_F(ReadOnlySecretVolumeTest, TheSameLayoutOnAWritableMountIsRefused) {
  LayOut(getegid(), 0440);
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 100).status(),
                "is writable by group or others (mode 3777)");
  ExpectRefused(EnsurePrivateDirectory(dir_, 0700), "is writable by group or others");
}

// A read-only view may be this process's alone (systemd's ProtectSystem=strict): without the
// sticky bit others could replace the files through a writable view of the same directory.
TEST_F(ReadOnlySecretVolumeTest, AWritableDirectoryWithoutTheStickyBitIsRefusedEvenReadOnly) {
  LayOut(getegid(), 0440);
  ASSERT_EQ(chmod(dir_.c_str(), 02777), 0);
  RemountReadOnly();
  ExpectRefused(ReadSecretFile(dir_ + "/ca.key", 100).status(),
                "is writable by group or others (mode 2777)");
}

}  // namespace
}  // namespace keyfleet::tls
