// CheckSessionEndingCapabilities: what ending a session takes, read from a /proc/self/status
// (a fake proc root here; the packaging sandbox scenario drops the capabilities for real).
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "node-agent/ssh_sessions.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::agent {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::Not;

struct CapsCase {
  const char* name;
  const char* status;  // the file's text; nullptr: no file
  bool ok;
  const char* says;      // a part of the error ("" when ok)
  const char* not_says;  // what the error must not name
};

class SessionCapabilitiesTest : public ::testing::TestWithParam<CapsCase> {};

TEST_P(SessionCapabilitiesTest, ReadsTheEffectiveSet) {
  if (geteuid() != 0) GTEST_FAIL() << "runs as root (ctest runs the suite as root)";
  const CapsCase& c = GetParam();
  testing::ScopedTempDir proc("keyfleet-proc");
  std::filesystem::create_directories(proc.path() / "self");
  if (c.status != nullptr) std::ofstream(proc.path() / "self/status") << c.status;
  absl::Status s = CheckSessionEndingCapabilities(proc.path().string());
  EXPECT_EQ(s.ok(), c.ok) << s;
  if (!c.ok) {
    EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_THAT(std::string(s.message()), AllOf(HasSubstr(c.says), Not(HasSubstr(c.not_says))));
  }
}

// Bits: CAP_KILL 5, CAP_SYS_PTRACE 19 (0x80000).
INSTANTIATE_TEST_SUITE_P(
    Table, SessionCapabilitiesTest,
    ::testing::Values(
        CapsCase{"Full", "Name:\tx\nCapInh:\t0\nCapEff:\t000001ffffffffff\nCapBnd:\t0\n", true, "",
                 ""},
        CapsCase{"TheUnitsSet", "CapEff:\t000000000008002b\n", true, "", ""},
        CapsCase{"NoPtrace", "CapEff:\t000001fffff7ffff\n", false, "CAP_SYS_PTRACE", "CAP_KILL"},
        CapsCase{"NoKill", "CapEff:\t000001ffffffffdf\n", false, "CAP_KILL", "CAP_SYS_PTRACE"},
        CapsCase{"Neither", "CapEff:\t0000000000000000\n", false,
                 "CAP_SYS_PTRACE (to see sshd's processes and the sockets they hold) and CAP_KILL",
                 "cannot read"},
        CapsCase{"NoCapEffLine", "Name:\tx\nCapPrm:\tffff\n", false, "cannot read", "CAP_"},
        CapsCase{"NotHex", "CapEff:\tzz\n", false, "cannot read", "CAP_"},
        CapsCase{"Empty", "CapEff:\t\n", false, "cannot read", "CAP_"},
        CapsCase{"NoFile", nullptr, false, "cannot read", "CAP_"}),
    [](const auto& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace keyfleet::agent
