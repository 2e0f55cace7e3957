// The host keys an agent reports (host_keys.h): ROOT/etc/ssh/ssh_host_*_key.pub, strictly parsed,
// each file checked on its descriptor; a bad file is skipped with its reason, never fatal.
#include "node-agent/host_keys.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "common/report_limits.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/test_keys.h"

namespace keyfleet::agent {
namespace {

using ::keyfleet::testing::ScopedTempDir;
using ::keyfleet::testing::Vector;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

// "TYPE BASE64" of a test vector: its line without the comment.
std::string KeyText(const std::string& name) {
  const std::string& line = Vector(name).line;
  return line.substr(0, line.find(' ', line.find(' ') + 1));
}

class HostKeysTest : public ::testing::Test {
 protected:
  HostKeysTest() : root_("host-keys") { std::filesystem::create_directories(SshDir()); }
  std::filesystem::path SshDir() const { return root_.path() / "etc" / "ssh"; }
  void Write(const std::string& name, const std::string& content) {
    std::ofstream(SshDir() / name, std::ios::binary) << content;
  }
  HostKeys Read() const { return ReadHostKeys(root_.path().string()); }

  ScopedTempDir root_;
};

TEST_F(HostKeysTest, ReadsEachHostKeyWithoutItsCommentInFileNameOrder) {
  Write("ssh_host_rsa_key.pub", Vector("rsa2048").line + "\n");
  Write("ssh_host_ed25519_key.pub", Vector("ed25519").line + "\n");
  Write("ssh_host_ecdsa_key.pub", Vector("ecdsa256").line);                // no final newline: fine
  Write("ssh_host_ed25519_key", "-----BEGIN OPENSSH PRIVATE KEY-----\n");  // never read
  Write("ssh_config", "Host *\n");
  const HostKeys keys = Read();
  EXPECT_THAT(keys.public_keys,
              ElementsAre(KeyText("ecdsa256"), KeyText("ed25519"), KeyText("rsa2048")));
  EXPECT_THAT(keys.fingerprints, ElementsAre(Vector("ecdsa256").sha256, Vector("ed25519").sha256,
                                             Vector("rsa2048").sha256));
  EXPECT_THAT(keys.skipped, IsEmpty());
}

TEST_F(HostKeysTest, NoSshDirectoryIsNothingToReport) {
  std::filesystem::remove_all(SshDir());
  const HostKeys keys = Read();
  EXPECT_THAT(keys.public_keys, IsEmpty());
  EXPECT_THAT(keys.skipped, IsEmpty());
}

// Each bad file: skipped with the reason it must give; the good key beside it still reported.
TEST_F(HostKeysTest, BadFilesAreSkippedWithTheirReason) {
  struct Bad {
    const char* name;
    std::string content;
    const char* reason;
  };
  const std::vector<Bad> bad = {
      {"empty", "", "is empty"},
      {"two lines", Vector("ed25519").line + "\n" + Vector("rsa2048").line + "\n",
       "does not hold one public key line"},
      {"not a key", "hello world\n", "does not hold one public key line"},
      {"leading space", " " + Vector("ed25519").line, "does not hold one public key line"},
      {"certificate", Vector("u_ed-cert").line + "\n", "holds a certificate"},
      {"too large", std::string(kMaxHostKeyFileBytes + 1, 'a'), "is larger than"},
  };
  for (const Bad& b : bad) {
    SCOPED_TRACE(b.name);
    std::filesystem::remove_all(SshDir());
    std::filesystem::create_directories(SshDir());
    Write("ssh_host_bad_key.pub", b.content);
    Write("ssh_host_ed25519_key.pub", Vector("ed25519").line + "\n");
    const HostKeys keys = Read();
    EXPECT_THAT(keys.public_keys, ElementsAre(KeyText("ed25519")));
    ASSERT_THAT(keys.skipped, SizeIs(1));
    EXPECT_THAT(keys.skipped[0], HasSubstr("ssh_host_bad_key.pub: "));
    EXPECT_THAT(keys.skipped[0], HasSubstr(b.reason));
  }
}

TEST_F(HostKeysTest, SymlinksAndNonRegularFilesAreNotFollowed) {
  const std::filesystem::path elsewhere = root_.path() / "elsewhere.pub";
  std::ofstream(elsewhere) << Vector("rsa2048").line << "\n";
  std::filesystem::create_symlink(elsewhere, SshDir() / "ssh_host_rsa_key.pub");
  ASSERT_EQ(mkfifo((SshDir() / "ssh_host_fifo_key.pub").c_str(), 0644), 0);
  std::filesystem::create_directory(SshDir() / "ssh_host_dir_key.pub");
  Write("ssh_host_ed25519_key.pub", Vector("ed25519").line + "\n");
  const HostKeys keys = Read();  // a FIFO never hangs it: opened O_NONBLOCK
  EXPECT_THAT(keys.public_keys, ElementsAre(KeyText("ed25519")));
  ASSERT_THAT(keys.skipped, SizeIs(3));
  EXPECT_THAT(keys.skipped[0], HasSubstr("ssh_host_dir_key.pub: is not a regular file"));
  EXPECT_THAT(keys.skipped[1], HasSubstr("ssh_host_fifo_key.pub: is not a regular file"));
  EXPECT_THAT(keys.skipped[2], HasSubstr("ssh_host_rsa_key.pub: is a symlink"));
}

TEST_F(HostKeysTest, AnSshDirectoryThatIsASymlinkIsNotFollowed) {
  std::filesystem::remove_all(SshDir());
  const std::filesystem::path real = root_.path() / "real-ssh";
  std::filesystem::create_directories(real);
  std::ofstream(real / "ssh_host_ed25519_key.pub") << Vector("ed25519").line << "\n";
  std::filesystem::create_directory_symlink(real, SshDir());
  const HostKeys keys = Read();
  EXPECT_THAT(keys.public_keys, IsEmpty());
  ASSERT_THAT(keys.skipped, SizeIs(1));
  EXPECT_THAT(keys.skipped[0], HasSubstr("etc/ssh: is a symlink"));
}

// At the count limit every key is reported; past it the rest are skipped, saying why.
TEST_F(HostKeysTest, KeysPastTheCountLimitAreSkipped) {
  for (size_t i = 0; i <= kMaxReportHostPublicKeys; ++i) {
    Write(absl::StrCat("ssh_host_", 100 + i, "_key.pub"), Vector("ed25519").line + "\n");
  }
  const HostKeys keys = Read();
  EXPECT_THAT(keys.public_keys, SizeIs(kMaxReportHostPublicKeys));
  EXPECT_THAT(keys.fingerprints, SizeIs(kMaxReportHostPublicKeys));
  ASSERT_THAT(keys.skipped, SizeIs(1));
  EXPECT_THAT(keys.skipped[0],
              HasSubstr(absl::StrCat("ssh_host_", 100 + kMaxReportHostPublicKeys, "_key.pub")));
  EXPECT_THAT(keys.skipped[0], HasSubstr("at most"));
}

}  // namespace
}  // namespace keyfleet::agent
