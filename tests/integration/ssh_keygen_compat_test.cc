// Generates keys of every type ssh-keygen can make here (and certificates of them), then checks
// that `keyfleet fingerprint` prints exactly what `ssh-keygen -l` prints, SHA256 and MD5.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/fingerprint_command.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet {
namespace {

namespace fs = std::filesystem;
using ::keyfleet::testing::CommandResult;
using ::keyfleet::testing::RunCommand;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class SshKeygenCompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(RunCommand("command -v ssh-keygen >/dev/null").exit_code, 0)
        << "ssh-keygen is required (package openssh-client)";
  }

  // Makes a key with ssh-keygen and returns the path of its .pub file.
  fs::path MakeKey(const std::string& name, const std::string& type, int bits) {
    const fs::path path = dir_ / name;
    const std::string cmd =
        absl::StrCat("ssh-keygen -q -t ", type, bits ? absl::StrCat(" -b ", bits) : std::string(),
                     " -N '' -C '", name, "@compat test' -f ", path.string(), " </dev/null");
    EXPECT_EQ(RunCommand(cmd).exit_code, 0) << cmd;
    return path.string() + ".pub";
  }

  ::keyfleet::testing::ScopedTempDir temp_{"keyfleet-compat"};
  const fs::path dir_ = temp_.path();
};

TEST_F(SshKeygenCompatTest, FingerprintsMatchSshKeygenForEveryType) {
  const struct {
    const char* name;
    const char* type;
    int bits;
  } kinds[] = {{"ed25519", "ed25519", 0},  {"ecdsa256", "ecdsa", 256}, {"ecdsa384", "ecdsa", 384},
               {"ecdsa521", "ecdsa", 521}, {"rsa2048", "rsa", 2048},   {"rsa3072", "rsa", 3072},
               {"rsa4096", "rsa", 4096}};
  std::string all;
  for (const auto& k : kinds) all += ReadFile(MakeKey(k.name, k.type, k.bits));
  // Certificates of one key, signed by an ed25519, an ECDSA and an RSA CA.
  const fs::path user = MakeKey("certified", "ed25519", 0);
  for (const auto& ca : {std::make_pair("ca_ed", "ed25519"), std::make_pair("ca_ec", "ecdsa"),
                         std::make_pair("ca_rsa", "rsa")}) {
    MakeKey(ca.first, ca.second, 0);
    const fs::path copy = dir_ / absl::StrCat("user_", ca.first, ".pub");
    fs::copy_file(user, copy);
    ASSERT_EQ(RunCommand(absl::StrCat("ssh-keygen -q -s ", (dir_ / ca.first).string(),
                                      " -I id -n alice ", copy.string()))
                  .exit_code,
              0);
    all += ReadFile(dir_ / absl::StrCat("user_", ca.first, "-cert.pub"));
  }
  const fs::path file = dir_ / "all.pub";
  std::ofstream(file) << all;

  for (const char* hash : {"sha256", "md5"}) {
    SCOPED_TRACE(hash);
    const CommandResult theirs =
        RunCommand(absl::StrCat("ssh-keygen -E ", hash, " -lf ", file.string()));
    ASSERT_EQ(theirs.exit_code, 0);
    const CommandResult ours =
        RunCommand(absl::StrCat(KEYFLEET_CLI, " fingerprint -E ", hash, " ", file.string()));
    EXPECT_EQ(ours.exit_code, 0);
    EXPECT_EQ(ours.out, theirs.out);
    // The library agrees with the binary.
    const auto result = cli::FingerprintKeys(all, *ParseFingerprintHash(hash));
    EXPECT_TRUE(result.errors.empty());
    EXPECT_EQ(cli::FormatFingerprintLines(result.keys), theirs.out);
  }
}

TEST_F(SshKeygenCompatTest, AuthorizedKeysLinesWithOptionsFingerprintTheirKey) {
  const std::string key = ReadFile(MakeKey("ed", "ed25519", 0));
  const fs::path file = dir_ / "authorized_keys";
  std::ofstream(file) << "# comment\n\nrestrict,command=\"echo a b\" " << key;
  const CommandResult ours = RunCommand(absl::StrCat(KEYFLEET_CLI, " fingerprint ", file.string()));
  const CommandResult theirs =
      RunCommand(absl::StrCat("ssh-keygen -lf ", (dir_ / "ed.pub").string()));
  EXPECT_EQ(ours.exit_code, 0);
  EXPECT_EQ(ours.out, theirs.out);
}

}  // namespace
}  // namespace keyfleet
