// known_hosts lines as `keyfleet known-hosts` writes them (known_hosts_format.h), checked
// against OpenSSH itself: ssh-keygen -F finds our hashed names, and our hash of a name under
// the salt ssh-keygen -H chose is the hash ssh-keygen wrote.
#include "cli/known_hosts_format.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/test_keys.h"

namespace keyfleet::cli {
namespace {

using ::keyfleet::testing::RunCommand;
using ::keyfleet::testing::ScopedTempDir;
using ::keyfleet::testing::Vector;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// "TYPE BASE64" of a test vector, as agents report host keys.
std::string KeyText(const std::string& name) {
  std::vector<std::string> fields = absl::StrSplit(Vector(name).line, ' ');
  return fields[0] + " " + fields[1];
}

std::string Salt(char fill) {
  return std::string(kKnownHostsSaltBytes, fill);
}

TEST(KnownHostsFormat, NamesCarryThePortOnlyWhenItIsNot22) {
  EXPECT_EQ(KnownHostsName("web-1.example.com", 22), "web-1.example.com");
  EXPECT_EQ(KnownHostsName("web-1", 2222), "[web-1]:2222");
  EXPECT_EQ(KnownHostsName("127.0.0.1", 40022), "[127.0.0.1]:40022");
}

TEST(KnownHostsFormat, HashedNamesHaveOpenSshsShape) {
  const std::string hashed = HashKnownHostsName("web-1", Salt('s'));
  const std::vector<std::string> parts = absl::StrSplit(hashed, '|');
  ASSERT_EQ(parts.size(), 4u) << hashed;
  EXPECT_EQ(parts[0], "");
  EXPECT_EQ(parts[1], "1");
  EXPECT_EQ(*Base64DecodeStrict(parts[2]), Salt('s'));
  EXPECT_EQ(Base64DecodeStrict(parts[3])->size(), 20u) << "an HMAC-SHA1";
  EXPECT_NE(HashKnownHostsName("web-1", Salt('t')), hashed) << "the salt changes the hash";
  EXPECT_NE(HashKnownHostsName("web-2", Salt('s')), hashed);
}

TEST(KnownHostsFormat, RandomSaltsDiffer) {
  absl::StatusOr<std::string> a = RandomKnownHostsSalt();
  absl::StatusOr<std::string> b = RandomKnownHostsSalt();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->size(), kKnownHostsSaltBytes);
  EXPECT_NE(*a, *b);
}

TEST(KnownHostsFormat, LinesAreNameTypeAndKey) {
  EXPECT_EQ(*KnownHostsLine("web-1", KeyText("ed25519")), "web-1 " + KeyText("ed25519"));
  EXPECT_EQ(*KnownHostsLine("[web-1]:2222", KeyText("rsa2048")),
            "[web-1]:2222 " + KeyText("rsa2048"));
}

// What a host key must be to be written; each refusal says why.
TEST(KnownHostsFormat, BadKeysAreRefusedWithTheReason) {
  struct Bad {
    std::string key;
    const char* reason;
  };
  const std::vector<Bad> bad = {
      {"", "not a host public key"},
      {"ssh-ed25519", "not a host public key"},
      {"ssh-ed25519 AAAA", "not a host public key"},
      {Vector("ed25519").line.substr(0, Vector("ed25519").line.find(' ')) + " " +
           KeyText("rsa2048").substr(KeyText("rsa2048").find(' ') + 1),
       "not a host public key"},  // type and blob disagree
      {KeyText("ed25519") + " root@host", "without a comment"},
      {KeyText("u_ed-cert"), "a certificate"},
  };
  for (const Bad& b : bad) {
    absl::StatusOr<std::string> line = KnownHostsLine("web-1", b.key);
    EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument) << b.key;
    EXPECT_THAT(line.status().message(), HasSubstr(b.reason)) << b.key;
  }
}

class KnownHostsSshKeygenTest : public ::testing::Test {
 protected:
  KnownHostsSshKeygenTest() : dir_("known-hosts") {}
  std::string File(const std::string& name) const { return (dir_.path() / name).string(); }
  static void Write(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
  }
  // ssh-keygen -F NAME -f FILE: exit 0 and the matching lines when NAME is found.
  static ::keyfleet::testing::CommandResult Find(const std::string& name, const std::string& file) {
    return RunCommand(absl::StrCat("ssh-keygen -F '", name, "' -f '", file, "' 2>&1"));
  }

  ScopedTempDir dir_;
};

TEST_F(KnownHostsSshKeygenTest, SshKeygenFindsHashedNames) {
  const std::string file = File("known_hosts");
  std::string text;
  for (const std::string name : {"web-1.example.com", "[127.0.0.1]:2222"}) {
    absl::StatusOr<std::string> salt = RandomKnownHostsSalt();
    ASSERT_TRUE(salt.ok());
    text += *KnownHostsLine(HashKnownHostsName(name, *salt), KeyText("ed25519")) + "\n";
  }
  Write(file, text);
  const auto web = Find("web-1.example.com", file);
  EXPECT_EQ(web.exit_code, 0) << web.out;
  EXPECT_THAT(web.out, HasSubstr("found: line 1"));
  const auto port = Find("[127.0.0.1]:2222", file);
  EXPECT_EQ(port.exit_code, 0) << port.out;
  EXPECT_THAT(port.out, HasSubstr("found: line 2"));
  EXPECT_NE(Find("web-2.example.com", file).exit_code, 0);
  EXPECT_NE(Find("127.0.0.1", file).exit_code, 0) << "port 22 is another name";
}

// ssh-keygen -H hashes a plain file with salts of its choosing: under each, our hash of the
// name is the one it wrote.
TEST_F(KnownHostsSshKeygenTest, OurHashIsSshKeygensUnderTheSameSalt) {
  const std::string file = File("plain");
  const std::vector<std::string> names = {"web-1", "db-1.example.com", "[10.0.0.7]:2222"};
  std::string text;
  for (const std::string& name : names) {
    text += *KnownHostsLine(name, KeyText("ecdsa256")) + "\n";
  }
  Write(file, text);
  const auto hashed = RunCommand(absl::StrCat("ssh-keygen -H -f '", file, "' 2>&1"));
  ASSERT_EQ(hashed.exit_code, 0) << hashed.out;
  std::ifstream in(file);
  std::string line;
  size_t i = 0;
  while (std::getline(in, line)) {
    ASSERT_LT(i, names.size()) << line;
    ASSERT_THAT(line, StartsWith("|1|"));
    const std::string hashed_name = line.substr(0, line.find(' '));
    const std::vector<std::string> parts = absl::StrSplit(hashed_name, '|');
    ASSERT_EQ(parts.size(), 4u);
    absl::StatusOr<std::string> salt = Base64DecodeStrict(parts[2]);
    ASSERT_TRUE(salt.ok());
    EXPECT_EQ(HashKnownHostsName(names[i], *salt), hashed_name) << names[i];
    EXPECT_EQ(line.substr(line.find(' ') + 1), KeyText("ecdsa256"));
    ++i;
  }
  EXPECT_EQ(i, names.size());
}

}  // namespace
}  // namespace keyfleet::cli
