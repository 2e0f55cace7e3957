// Generates keys of every type ssh-keygen can make here (and certificates of them), then checks
// that `keyfleet fingerprint` prints exactly what `ssh-keygen -l` prints, SHA256 and MD5.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/fingerprint_command.h"
#include "common/krl.h"
#include "common/sha256.h"
#include "common/ssh_public_key.h"
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

// The KRL keyfleet writes (common/krl.h), as OpenSSH reads it: `ssh-keygen -Q` says REVOKED for
// a key revoked by its blob and for one revoked by its SHA256 fingerprint only, and ok for every
// other key, of each type.
TEST_F(SshKeygenCompatTest, SshKeygenReadsTheKrlKeyfleetWrites) {
  const fs::path ed = MakeKey("krl-ed25519", "ed25519", 0);
  const fs::path ec = MakeKey("krl-ecdsa", "ecdsa", 256);
  const fs::path rsa = MakeKey("krl-rsa", "rsa", 3072);
  const fs::path kept = MakeKey("krl-kept", "ed25519", 0);
  auto blob = [&](const fs::path& pub) {
    absl::StatusOr<PublicKey> key =
        ParsePublicKey(absl::StripTrailingAsciiWhitespace(ReadFile(pub)));
    EXPECT_TRUE(key.ok()) << pub << ": " << key.status();
    return key.ok() ? key->blob : std::string();
  };
  Krl krl;
  krl.version = 3;
  krl.generated_at = 1764547200;
  krl.comment = "keyfleet test";
  krl.key_blobs = {blob(ed), blob(ec)};
  krl.sha256 = {Sha256Digest(blob(rsa))};  // by fingerprint alone
  absl::StatusOr<std::string> bytes = BuildKrl(krl);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  const fs::path file = dir_ / "revoked.krl";
  std::ofstream(file, std::ios::binary) << *bytes;
  for (const fs::path& pub : {ed, ec, rsa, kept}) {
    CommandResult q = RunCommand("ssh-keygen -Q -f " + file.string() + " " + pub.string());
    const bool revoked = pub != kept;
    EXPECT_EQ(q.exit_code, revoked ? 1 : 0) << pub << ": " << q.out;
    EXPECT_NE(q.out.find(revoked ? ": REVOKED" : ": ok"), std::string::npos) << pub << q.out;
  }
  // An empty list revokes nothing and is still a KRL sshd accepts.
  const fs::path empty = dir_ / "empty.krl";
  std::ofstream(empty, std::ios::binary) << BuildKrl(Krl{}).value();
  CommandResult q = RunCommand("ssh-keygen -Q -f " + empty.string() + " " + ed.string());
  EXPECT_EQ(q.exit_code, 0) << q.out;
}

// And keyfleet reads what `ssh-keygen -k` writes for plain keys: an explicit key section, and a
// SHA256 fingerprint section from a "hash:" line.
TEST_F(SshKeygenCompatTest, KeyfleetReadsTheKrlSshKeygenWrites) {
  const fs::path a = MakeKey("gen-a", "ed25519", 0);
  const fs::path b = MakeKey("gen-b", "ecdsa", 256);
  const fs::path c = MakeKey("gen-c", "rsa", 2048);
  CommandResult fp = RunCommand("ssh-keygen -l -E sha256 -f " + b.string());
  ASSERT_EQ(fp.exit_code, 0);
  const std::string b_fingerprint = fp.out.substr(fp.out.find("SHA256:"), 50);
  std::ofstream(dir_ / "spec") << "hash: " << b_fingerprint << "\n";
  const fs::path file = dir_ / "theirs.krl";
  ASSERT_EQ(RunCommand("ssh-keygen -q -k -f " + file.string() + " " + a.string() + " " +
                       (dir_ / "spec").string() + " 2>&1")
                .exit_code,
            0);
  absl::StatusOr<Krl> krl = ParseKrl(ReadFile(file));
  ASSERT_TRUE(krl.ok()) << krl.status();
  auto blob = [&](const fs::path& pub) {
    absl::StatusOr<PublicKey> key =
        ParsePublicKey(absl::StripTrailingAsciiWhitespace(ReadFile(pub)));
    EXPECT_TRUE(key.ok()) << pub << ": " << key.status();
    return key.ok() ? key->blob : std::string();
  };
  EXPECT_TRUE(KrlRevokes(*krl, blob(a)));
  EXPECT_TRUE(KrlRevokes(*krl, blob(b)));
  EXPECT_FALSE(KrlRevokes(*krl, blob(c)));
}

}  // namespace
}  // namespace keyfleet
