// The agent's node_exporter textfile: what it says (checked by promtool), how it is written
// (whole, 0644, never through a planted symlink, not at all without its directory), and the
// writer thread that keeps it current.
#include "node-agent/metrics_textfile.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "tests/support/promtool_check.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(DriftKindLabels, NameEveryKindAsTheProtoDoes) {
  size_t valid = 0;
  for (int k = v1::DriftKind_MIN; k <= v1::DriftKind_MAX; ++k) {
    if (!v1::DriftKind_IsValid(k) || k == v1::DRIFT_KIND_UNSPECIFIED) continue;
    ++valid;
    const std::string want =
        absl::AsciiStrToLower(v1::DriftKind_Name(static_cast<v1::DriftKind>(k)).substr(11));
    bool found = false;
    for (const DriftKindLabel& label : kDriftKindLabels) {
      if (label.kind == k) {
        EXPECT_EQ(label.label, want);
        found = true;
      }
    }
    EXPECT_TRUE(found) << "no label for " << v1::DriftKind_Name(static_cast<v1::DriftKind>(k));
  }
  EXPECT_EQ(valid, kDriftKinds);
}

ApplyReport ReportWithDrift() {
  ApplyReport report;
  report.generation = 42;
  report.accounts = {{"alice", AccountOutcome::kWritten, ""},
                     {"bob", AccountOutcome::kRefused, "uid 0"},
                     {"carol", AccountOutcome::kFailed, "disk full"},
                     {"dave", AccountOutcome::kNoAccount, ""}};
  Drift unmanaged;
  unmanaged.kind = v1::DRIFT_KIND_UNMANAGED_KEY;
  Drift mode;
  mode.kind = v1::DRIFT_KIND_WRONG_MODE;
  report.drift = {unmanaged, unmanaged, mode};
  return report;
}

TEST(AgentMetricsText, PassesPromtoolWithEverythingAndWithNothing) {
  AgentMetrics full;
  full.last_apply = SummarizeApply(ReportWithDrift(), absl::FromUnixMillis(1800000000123));
  full.cache_age = absl::Seconds(95);
  full.certificate_expiry = absl::FromUnixSeconds(1802592000);
  full.connected = true;
  const std::string text = RenderAgentMetrics(full);
  EXPECT_EQ(::keyfleet::testing::PromtoolProblems(text), "") << text;
  for (const char* line : {
           "keyfleet_agent_last_apply_timestamp_seconds 1800000000.123",
           "keyfleet_agent_last_apply_success 0",
           "keyfleet_agent_last_apply_failed_accounts 2",
           "keyfleet_agent_applied_generation 42",
           "keyfleet_agent_drift_items{kind=\"unmanaged_key\"} 2",
           "keyfleet_agent_drift_items{kind=\"wrong_mode\"} 1",
           "keyfleet_agent_drift_items{kind=\"left_out\"} 0",
           "keyfleet_agent_cache_age_seconds 95",
           "keyfleet_agent_client_certificate_expiry_timestamp_seconds 1802592000.000",
           "keyfleet_agent_controller_connected 1",
       }) {
    EXPECT_THAT(text, HasSubstr(std::string(line) + "\n")) << text;
  }

  // Before any apply, without a cache or a certificate: only what is known.
  const std::string bare = RenderAgentMetrics(AgentMetrics());
  EXPECT_EQ(::keyfleet::testing::PromtoolProblems(bare), "") << bare;
  EXPECT_THAT(bare, HasSubstr("keyfleet_agent_controller_connected 0\n"));
  EXPECT_THAT(bare, Not(HasSubstr("last_apply")));
  EXPECT_THAT(bare, Not(HasSubstr("cache_age")));
  EXPECT_THAT(bare, Not(HasSubstr("certificate")));
}

class TextfileDir : public ::testing::Test {
 protected:
  std::string Dir() const { return dir_.path().string(); }
  std::string File() const { return Dir() + "/keyfleet-agent.prom"; }
  ::keyfleet::testing::ScopedTempDir dir_{"kf-textfile"};
};

TEST_F(TextfileDir, WritesTheWholeFileReadableByNodeExporter) {
  const mode_t old_umask = umask(077);
  const absl::Status written = WriteTextfile(File(), "a 1\n");
  umask(old_umask);
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(ReadFile(File()), "a 1\n");
  struct stat st {};
  ASSERT_EQ(stat(File().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0644u);
  ASSERT_TRUE(WriteTextfile(File(), "b 2\n").ok());
  EXPECT_EQ(ReadFile(File()), "b 2\n");
  // Nothing left beside it.
  EXPECT_NE(access((Dir() + "/.keyfleet-agent.prom.tmp").c_str(), F_OK), 0);
}

TEST_F(TextfileDir, NoDirectoryNoFile) {
  const absl::Status written = WriteTextfile(Dir() + "/absent/keyfleet-agent.prom", "a 1\n");
  EXPECT_TRUE(absl::IsNotFound(written)) << written;
  EXPECT_NE(access((Dir() + "/absent").c_str(), F_OK), 0);
}

TEST_F(TextfileDir, NeverWritesThroughAPlantedLink) {
  // A symlink where the file goes is replaced, its target untouched.
  const std::string target = Dir() + "/precious";
  std::ofstream(target) << "keep\n";
  ASSERT_EQ(symlink(target.c_str(), File().c_str()), 0);
  ASSERT_TRUE(WriteTextfile(File(), "a 1\n").ok());
  EXPECT_EQ(ReadFile(target), "keep\n");
  struct stat st {};
  ASSERT_EQ(lstat(File().c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));

  // A leftover temporary file of an interrupted write, or a link planted under its name, is
  // removed and never written through.
  std::ofstream(Dir() + "/.keyfleet-agent.prom.tmp") << "half";
  ASSERT_TRUE(WriteTextfile(File(), "b 2\n").ok());
  EXPECT_EQ(ReadFile(File()), "b 2\n");
  ASSERT_EQ(symlink(target.c_str(), (Dir() + "/.keyfleet-agent.prom.tmp").c_str()), 0);
  ASSERT_TRUE(WriteTextfile(File(), "c 3\n").ok());
  EXPECT_EQ(ReadFile(File()), "c 3\n");
  EXPECT_EQ(ReadFile(target), "keep\n");

  // A directory where the file goes: an error naming it, and no temporary file left.
  ASSERT_EQ(unlink(File().c_str()), 0);
  ASSERT_EQ(mkdir(File().c_str(), 0755), 0);
  const absl::Status refused = WriteTextfile(File(), "d 4\n");
  EXPECT_FALSE(refused.ok());
  EXPECT_THAT(refused.message(), HasSubstr(File()));
  EXPECT_NE(access((Dir() + "/.keyfleet-agent.prom.tmp").c_str(), F_OK), 0);
}

bool WaitForText(const std::string& path, const std::string& text) {
  for (int i = 0; i < 100; ++i) {
    if (absl::StrContains(ReadFile(path), text)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

TEST_F(TextfileDir, TheWriterFollowsAppliesAndTheConnection) {
  // A cache written 100 s ago, before any controller answered.
  const std::string cache = Dir() + "/agent-cache";
  std::ofstream(cache + ".1") << "x";
  const timespec old_time[2] = {{0, UTIME_OMIT}, {time(nullptr) - 100, 0}};
  ASSERT_EQ(utimensat(AT_FDCWD, (cache + ".1").c_str(), old_time, 0), 0);
  std::atomic<bool> connected{false};
  AgentTextfile writer({File(), cache, "", [&] { return connected.load(); }});
  writer.Start();
  ASSERT_TRUE(WaitForText(File(), "keyfleet_agent_controller_connected 0\n")) << ReadFile(File());
  const std::string first = ReadFile(File());
  EXPECT_THAT(first, Not(HasSubstr("last_apply")));
  EXPECT_THAT(first, Not(HasSubstr("certificate")));                     // no tls_dir: insecure_dev
  EXPECT_THAT(first, HasSubstr("keyfleet_agent_cache_age_seconds 10"));  // 100 or 101

  // An apply is written at once, with the connection as it is then.
  connected = true;
  writer.Applied(ReportWithDrift());
  ASSERT_TRUE(WaitForText(File(), "keyfleet_agent_last_apply_failed_accounts 2\n"))
      << ReadFile(File());
  const std::string applied = ReadFile(File());
  EXPECT_THAT(applied, HasSubstr("keyfleet_agent_controller_connected 1\n"));
  EXPECT_THAT(applied, HasSubstr("keyfleet_agent_cache_age_seconds 0\n"));
  EXPECT_EQ(::keyfleet::testing::PromtoolProblems(applied), "") << applied;

  // Stopping writes once more: no longer connected, the apply still known.
  writer.Stop();
  const std::string last = ReadFile(File());
  EXPECT_THAT(last, HasSubstr("keyfleet_agent_controller_connected 0\n"));
  EXPECT_THAT(last, HasSubstr("keyfleet_agent_applied_generation 42\n"));
  EXPECT_THAT(last, HasSubstr("keyfleet_agent_cache_age_seconds 0\n"));  // confirmed just now
}

}  // namespace
}  // namespace keyfleet::agent
