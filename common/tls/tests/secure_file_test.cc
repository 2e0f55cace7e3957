#include "common/tls/secure_file.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/tls/tests/openssl_cli.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::tls {
namespace {

namespace fs = std::filesystem;
using ::keyfleet::testing::ScopedTempDir;
using ::testing::HasSubstr;
using testing::ReadTextFile;
using testing::WriteTextFile;

// A uid no test file belongs to, for the "owned by someone else" refusals (needs root to chown).
constexpr uid_t kOtherUid = 54321;

mode_t ModeOf(const fs::path& path) {
  struct stat st;
  EXPECT_EQ(lstat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

std::vector<std::string> Entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.push_back(entry.path().filename());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void ExpectRefused(const absl::Status& status, absl::StatusCode code, const std::string& text) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(status.message(), HasSubstr(text)) << status;
}

class SecureFileTest : public ::testing::Test {
 protected:
  ScopedTempDir temp_{"kf-secure-file-test"};
  const fs::path root_ = temp_.path();
  const std::string dir_ = root_.string();
};

TEST_F(SecureFileTest, WritesContentWithTheGivenMode) {
  for (mode_t mode : {0600, 0400, 0644}) {
    const std::string content = absl::StrCat("secret for mode ", mode, "\n");
    ASSERT_TRUE(WriteFileAtomically(dir_, "ca.key", content, mode).ok());
    EXPECT_EQ(ReadTextFile(root_ / "ca.key"), content);
    EXPECT_EQ(ModeOf(root_ / "ca.key"), mode);
    EXPECT_EQ(Entries(root_), std::vector<std::string>{"ca.key"}) << "no temporary file left";
  }
  ASSERT_TRUE(WriteFileAtomically(dir_, "empty", "", 0600).ok());
  EXPECT_EQ(ReadTextFile(root_ / "empty"), "");
}

TEST_F(SecureFileTest, AnExclusiveCreateNeverReplaces) {
  ASSERT_TRUE(CreateFileExclusively(dir_, "audit.key", "first\n", 0600).ok());
  ExpectRefused(CreateFileExclusively(dir_, "audit.key", "second\n", 0600),
                absl::StatusCode::kAlreadyExists, "exists already");
  EXPECT_EQ(ReadTextFile(root_ / "audit.key"), "first\n");
  EXPECT_EQ(ModeOf(root_ / "audit.key"), 0600u);
  EXPECT_EQ(Entries(root_), std::vector<std::string>{"audit.key"}) << "no temporary file left";
  fs::create_symlink("/etc/passwd", root_ / "link");
  ExpectRefused(CreateFileExclusively(dir_, "link", "x", 0600), absl::StatusCode::kAlreadyExists,
                "exists already");
  EXPECT_EQ(SplitDirAndName("/var/lib/keyfleet/bootstrap.token"),
            std::make_pair(std::string("/var/lib/keyfleet"), std::string("bootstrap.token")));
  EXPECT_EQ(SplitDirAndName("token"), std::make_pair(std::string("."), std::string("token")));
  EXPECT_EQ(SplitDirAndName("/token"), std::make_pair(std::string("/"), std::string("token")));
}

TEST_F(SecureFileTest, ResolvesARelativeDirectoryFromTheCurrentOne) {
  fs::create_directory(root_ / "sub");
  const fs::path saved = fs::current_path();
  fs::current_path(root_);
  const absl::Status status = WriteFileAtomically("sub", "file", "x", 0600);
  const absl::Status dotted = WriteFileAtomically("./sub/../sub", "other", "y", 0600);
  fs::current_path(saved);
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_TRUE(dotted.ok()) << dotted;
  EXPECT_EQ(ReadTextFile(root_ / "sub" / "file"), "x");
  EXPECT_EQ(ReadTextFile(root_ / "sub" / "other"), "y");
}

TEST_F(SecureFileTest, RefusesASymlinkedDirectoryComponent) {
  fs::create_directories(root_ / "real" / "inner");
  fs::create_directory_symlink(root_ / "real", root_ / "link");
  ExpectRefused(WriteFileAtomically(dir_ + "/link/inner", "f", "x", 0600),
                absl::StatusCode::kFailedPrecondition, dir_ + "/link is a symbolic link");
  ExpectRefused(WriteFileAtomically(dir_ + "/link", "f", "x", 0600),
                absl::StatusCode::kFailedPrecondition, "is a symbolic link");
  EXPECT_TRUE(fs::is_empty(root_ / "real" / "inner"));
}

TEST_F(SecureFileTest, RefusesToReplaceASymlinkAHardLinkOrADirectory) {
  fs::create_directory(root_ / "elsewhere");
  WriteTextFile(root_ / "elsewhere" / "target", "precious");
  chmod((root_ / "elsewhere" / "target").c_str(), 0644);
  fs::create_symlink(root_ / "elsewhere" / "target", root_ / "symlinked");
  fs::create_hard_link(root_ / "elsewhere" / "target", root_ / "hardlinked");
  fs::create_directory(root_ / "directory");
  const struct {
    const char* name;
    const char* message;
  } kRows[] = {
      {"symlinked", "is a symbolic link"},
      {"hardlinked", "has 2 hard links"},
      {"directory", "is not a regular file"},
  };
  for (const auto& row : kRows) {
    ExpectRefused(WriteFileAtomically(dir_, row.name, "new", 0600),
                  absl::StatusCode::kFailedPrecondition, row.message);
  }
  EXPECT_EQ(ReadTextFile(root_ / "elsewhere" / "target"), "precious");
  EXPECT_TRUE(fs::is_symlink(root_ / "symlinked"));
  EXPECT_EQ((std::vector<std::string>{"directory", "elsewhere", "hardlinked", "symlinked"}),
            Entries(root_))
      << "the temporary file is removed after a refusal";
}

TEST_F(SecureFileTest, RefusesADirectoryOthersCanWriteOrOwn) {
  ASSERT_EQ(chmod(dir_.c_str(), 0770), 0);
  ExpectRefused(
      WriteFileAtomically(dir_, "f", "x", 0600), absl::StatusCode::kFailedPrecondition,
      absl::StrCat(dir_, " is writable by group or others (mode 0770); chmod go-w ", dir_));
  ASSERT_EQ(chmod(dir_.c_str(), 0702), 0);
  ExpectRefused(WriteFileAtomically(dir_, "f", "x", 0600), absl::StatusCode::kFailedPrecondition,
                "(mode 0702)");
  ASSERT_EQ(chmod(dir_.c_str(), 0700), 0);
  if (geteuid() != 0) GTEST_SKIP() << "changing a directory's owner needs root";
  ASSERT_EQ(chown(dir_.c_str(), kOtherUid, kOtherUid), 0);
  ExpectRefused(WriteFileAtomically(dir_, "f", "x", 0600), absl::StatusCode::kFailedPrecondition,
                absl::StrCat("is owned by uid ", kOtherUid));
  EXPECT_TRUE(fs::is_empty(root_));
}

TEST_F(SecureFileTest, RefusesNamesThatAreNotPlainFileNames) {
  const std::string kBadNames[] = {"",
                                   ".",
                                   "..",
                                   "a/b",
                                   "/abs",
                                   "trailing/",
                                   std::string("nul\0byte", 8),
                                   std::string(kMaxSecureFileNameBytes + 1, 'n')};
  for (const std::string& name : kBadNames) {
    ExpectRefused(WriteFileAtomically(dir_, name, "x", 0600), absl::StatusCode::kInvalidArgument,
                  "is not a plain file name");
    ExpectRefused(FileExists(dir_, name).status(), absl::StatusCode::kInvalidArgument,
                  "is not a plain file name");
    ExpectRefused(RemoveFileIfExists(dir_, name).status(), absl::StatusCode::kInvalidArgument,
                  "is not a plain file name");
  }
  EXPECT_TRUE(WriteFileAtomically(dir_, std::string(kMaxSecureFileNameBytes, 'n'), "x", 0600).ok());
  EXPECT_TRUE(WriteFileAtomically(dir_, "..hidden", "x", 0600).ok());
}

TEST_F(SecureFileTest, RefusesModesBeyondPermissionBits) {
  for (mode_t mode : {04600, 02600, 01600, 0100600}) {
    ExpectRefused(WriteFileAtomically(dir_, "f", "x", mode), absl::StatusCode::kInvalidArgument,
                  "allowed: bits within 0777");
  }
}

TEST_F(SecureFileTest, MissingDirectoryIsNotFound) {
  EXPECT_EQ(WriteFileAtomically(dir_ + "/missing", "f", "x", 0600).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(SecureFileTest, EnsurePrivateDirectoryCreatesMissingComponents) {
  const std::string nested = dir_ + "/a/b/c";
  ASSERT_TRUE(EnsurePrivateDirectory(nested, 0700).ok());
  EXPECT_EQ(ModeOf(root_ / "a"), 0700u);
  EXPECT_EQ(ModeOf(root_ / "a" / "b" / "c"), 0700u);
  EXPECT_TRUE(EnsurePrivateDirectory(nested, 0700).ok()) << "an existing directory is fine";
  EXPECT_TRUE(WriteFileAtomically(nested, "f", "x", 0600).ok());
}

TEST_F(SecureFileTest, EnsurePrivateDirectoryRefusesSymlinksAndLooseDirectories) {
  fs::create_directory(root_ / "real");
  fs::create_directory_symlink(root_ / "real", root_ / "link");
  ExpectRefused(EnsurePrivateDirectory(dir_ + "/link/sub", 0700),
                absl::StatusCode::kFailedPrecondition, "is a symbolic link");
  EXPECT_TRUE(fs::is_empty(root_ / "real"));
  WriteTextFile(root_ / "file", "x");
  ExpectRefused(EnsurePrivateDirectory(dir_ + "/file/sub", 0700),
                absl::StatusCode::kFailedPrecondition, "is not a directory");
  fs::create_directory(root_ / "loose");
  ASSERT_EQ(chmod((root_ / "loose").c_str(), 0777), 0);
  ExpectRefused(EnsurePrivateDirectory(dir_ + "/loose", 0700),
                absl::StatusCode::kFailedPrecondition, "is writable by group or others");
}

TEST_F(SecureFileTest, FileExistsAndRemoveFileIfExistsNeverFollowSymlinks) {
  WriteTextFile(root_ / "target", "kept");
  fs::create_symlink(root_ / "target", root_ / "link");
  EXPECT_EQ(*FileExists(dir_, "link"), true);
  EXPECT_EQ(*FileExists(dir_, "absent"), false);
  EXPECT_EQ(*RemoveFileIfExists(dir_, "link"), true);
  EXPECT_EQ(*RemoveFileIfExists(dir_, "link"), false);
  EXPECT_EQ(ReadTextFile(root_ / "target"), "kept");
  fs::create_directory(root_ / "directory");
  ExpectRefused(RemoveFileIfExists(dir_, "directory").status(),
                absl::StatusCode::kFailedPrecondition, "is a directory");
}

class ReadFileTest : public SecureFileTest {
 protected:
  std::string Make(const std::string& name, const std::string& content, mode_t mode) {
    const fs::path path = root_ / name;
    WriteTextFile(path, content);
    EXPECT_EQ(chmod(path.c_str(), mode), 0);
    return path.string();
  }
};

TEST_F(ReadFileTest, SecretFileMustBePrivate) {
  for (mode_t mode : {0600, 0400}) {
    const std::string path = Make("key", "secret", mode);
    absl::StatusOr<std::string> content = ReadSecretFile(path, 100);
    ASSERT_TRUE(content.ok()) << content.status();
    EXPECT_EQ(*content, "secret");
  }
  const std::string path = Make("key", "secret", 0644);
  ExpectRefused(
      ReadSecretFile(path, 100).status(), absl::StatusCode::kFailedPrecondition,
      absl::StrCat(path, " is readable by group or others (mode 0644); chmod 600 ", path));
  const struct {
    mode_t mode;
    const char* message;
  } kRefused[] = {
      {0640, "is readable by group or others (mode 0640)"},
      {0604, "is readable by group or others (mode 0604)"},
      {0620, "is writable by group or others (mode 0620); chmod 600"},
      {0602, "is writable by group or others (mode 0602); chmod 600"},
  };
  for (const auto& row : kRefused) {
    ExpectRefused(ReadSecretFile(Make("key", "secret", row.mode), 100).status(),
                  absl::StatusCode::kFailedPrecondition, row.message);
  }
}

TEST_F(ReadFileTest, PublicFileMayBeReadableButNotWritableByOthers) {
  EXPECT_EQ(*ReadPublicFile(Make("ca.crt", "cert", 0644), 100), "cert");
  EXPECT_EQ(*ReadPublicFile(Make("ca.crt", "cert", 0600), 100), "cert");
  ExpectRefused(ReadPublicFile(Make("ca.crt", "cert", 0664), 100).status(),
                absl::StatusCode::kFailedPrecondition,
                "is writable by group or others (mode 0664); chmod go-w");
}

TEST_F(ReadFileTest, SizeLimitIsInclusive) {
  const std::string path = Make("key", std::string(64, 'k'), 0600);
  EXPECT_TRUE(ReadSecretFile(path, 64).ok());
  ExpectRefused(ReadSecretFile(path, 63).status(), absl::StatusCode::kFailedPrecondition,
                "is 64 bytes (at most 63 allowed)");
}

TEST_F(ReadFileTest, RefusesSymlinksNonRegularFilesAndStrangers) {
  const std::string real = Make("real", "secret", 0600);
  fs::create_symlink(real, root_ / "link");
  ExpectRefused(ReadSecretFile(dir_ + "/link", 100).status(), absl::StatusCode::kFailedPrecondition,
                "is a symbolic link");
  ASSERT_EQ(mkfifo((root_ / "fifo").c_str(), 0600), 0);
  ExpectRefused(ReadSecretFile(dir_ + "/fifo", 100).status(), absl::StatusCode::kFailedPrecondition,
                "is not a regular file");
  EXPECT_EQ(ReadSecretFile(dir_ + "/missing", 100).status().code(), absl::StatusCode::kNotFound);
  if (geteuid() != 0) GTEST_SKIP() << "changing a file's owner needs root";
  ASSERT_EQ(chown(real.c_str(), kOtherUid, kOtherUid), 0);
  ExpectRefused(ReadSecretFile(real, 100).status(), absl::StatusCode::kFailedPrecondition,
                absl::StrCat("is owned by uid ", kOtherUid));
}

}  // namespace
}  // namespace keyfleet::tls
