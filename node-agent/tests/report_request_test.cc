// The report an agent sends (report_request.h): whatever the host's files and passwd hold, it
// parses as protobuf (valid UTF-8) and keeps to the limits the controller checks, and what did
// not fit is counted, never silently dropped.
#include "node-agent/report_request.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/report_limits.h"
#include "common/utf8.h"
#include "nlohmann/json.hpp"
#include "node-agent/report_text.h"

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

// What the controller's parser does first: a string field that is not UTF-8 fails the parse.
v1::ReportRequest AsTheControllerParsesIt(const v1::ReportRequest& req) {
  v1::AgentMessage msg;
  *msg.mutable_report() = req;
  std::string wire;
  EXPECT_TRUE(msg.SerializeToString(&wire));
  EXPECT_LE(wire.size(), kMaxReportMessageBytes);
  v1::AgentMessage parsed;
  EXPECT_TRUE(parsed.ParseFromString(wire)) << "the controller could not parse the report";
  return parsed.report();
}

Drift UnmanagedLine(const std::string& account, int n) {
  return {account, v1::DRIFT_KIND_UNMANAGED_KEY, "/home/" + account + "/.ssh/authorized_keys",
          absl::StrCat("not managed by keyfleet: unparsable line: junk ", n), false};
}

size_t DriftBytes(const v1::ReportRequest& req) {
  size_t bytes = 0;
  for (const v1::DriftItem& d : req.drift()) bytes += d.ByteSizeLong() + 8;
  return bytes;
}

TEST(ReportRequest, TextFromTheHostIsValidUtf8WithinItsLimits) {
  ApplyReport report;
  report.drift.push_back({"alice", v1::DRIFT_KIND_SSHD_WILL_REFUSE, "/home/jos\xE9/.ssh",
                          "/home/jos\xE9 is group-writable", false});
  report.drift.push_back({"bob", v1::DRIFT_KIND_UNSAFE_PATH,
                          "/home/" + std::string(2 * kMaxReportPathBytes, 'b'),
                          std::string(kMaxReportTextBytes, '\xE9'), false});
  report.accounts.push_back({"carol", AccountOutcome::kFailed, "cannot read /home/\xE9\xE9"});
  const v1::ReportRequest req = AsTheControllerParsesIt(ReportRequestFor(report, {}));
  ASSERT_EQ(req.drift_size(), 2);
  EXPECT_EQ(req.drift(0).path(), "/home/jos\\xe9/.ssh");
  EXPECT_EQ(req.drift(0).detail(), "/home/jos\\xe9 is group-writable");
  EXPECT_EQ(req.drift(1).path().size(), kMaxReportPathBytes);
  EXPECT_THAT(req.drift(1).path(), testing::EndsWith(std::string(kReportCutMarker)));
  EXPECT_LE(req.drift(1).detail().size(), kMaxReportTextBytes);
  EXPECT_THAT(req.drift(1).detail(), StartsWith("\\xe9\\xe9"));
  ASSERT_EQ(req.failed_accounts_size(), 1);
  EXPECT_EQ(req.failed_accounts(0).reason(), "cannot read /home/\\xe9\\xe9");
  EXPECT_TRUE(req.observed_included());
}

TEST(ReportRequest, DriftWithinTheBudgetIsSentWhole) {
  ApplyReport report;
  for (int i = 0; i < 100; ++i) report.drift.push_back(UnmanagedLine("alice", i));
  const v1::ReportRequest req = AsTheControllerParsesIt(ReportRequestFor(report, {}));
  ASSERT_EQ(req.drift_size(), 100);
  EXPECT_EQ(req.drift(99).detail(), report.drift[99].detail);
}

// A user's file of junk lines under a "report" policy: one drift item per line, far more than a
// report holds. The report still fits, the accounts' own problems are all in it, key lines are
// the first ones found, and one last item says how many were left out.
TEST(ReportRequest, DriftPastTheBudgetIsCountedInALastItem) {
  ApplyReport report;
  report.drift.push_back({"alice", v1::DRIFT_KIND_AUTHORIZED_KEYS2,
                          "/home/alice/.ssh/authorized_keys2", "authorized_keys2 exists", false});
  constexpr int kLines = 20000;
  for (int i = 0; i < kLines; ++i) report.drift.push_back(UnmanagedLine("alice", i));
  report.drift.push_back(
      {"bob", v1::DRIFT_KIND_NO_SUCH_ACCOUNT, "", "no account named bob", false});
  const v1::ReportRequest req = AsTheControllerParsesIt(ReportRequestFor(report, {}));

  EXPECT_LE(DriftBytes(req), kMaxReportDriftBytes);
  EXPECT_LE(static_cast<size_t>(req.drift_size()), kMaxReportDriftItems);
  const v1::DriftItem& last = req.drift(req.drift_size() - 1);
  ASSERT_EQ(last.kind(), v1::DRIFT_KIND_LEFT_OUT);
  const int sent_lines = req.drift_size() - 3;  // without authorized_keys2, bob and the count
  EXPECT_GT(sent_lines, 1000);
  EXPECT_EQ(last.left_out(), static_cast<uint32_t>(kLines - sent_lines));
  EXPECT_THAT(last.detail(), HasSubstr(absl::StrCat(" and ", kLines - sent_lines, " more")));
  EXPECT_TRUE(last.account().empty());

  // In the order found: the account's own item, the first lines, and bob's item after them.
  EXPECT_EQ(req.drift(0).kind(), v1::DRIFT_KIND_AUTHORIZED_KEYS2);
  for (int i = 0; i < sent_lines; ++i) {
    ASSERT_EQ(req.drift(1 + i).detail(), report.drift[1 + i].detail) << i;
  }
  EXPECT_EQ(req.drift(req.drift_size() - 2).kind(), v1::DRIFT_KIND_NO_SUCH_ACCOUNT);
}

TEST(ReportRequest, FailedAccountsPastTheBudgetAreCountedInALastFailure) {
  ApplyReport report;
  constexpr int kAccounts = 400;
  const std::string reason(4000, 'r');  // 400 x 4 KB: over the 512 KiB of failures
  for (int i = 0; i < kAccounts; ++i) {
    report.accounts.push_back({absl::StrCat("user", i), AccountOutcome::kRefused, reason});
    report.accounts.push_back({absl::StrCat("fine", i), AccountOutcome::kUnchanged, ""});
  }
  const v1::ReportRequest req = AsTheControllerParsesIt(ReportRequestFor(report, {}));
  ASSERT_GT(req.failed_accounts_size(), 100);
  ASSERT_LT(req.failed_accounts_size(), kAccounts);
  const v1::AccountFailure& last = req.failed_accounts(req.failed_accounts_size() - 1);
  EXPECT_TRUE(last.account().empty());
  const int sent = req.failed_accounts_size() - 1;
  EXPECT_THAT(last.reason(), HasSubstr(absl::StrCat(" and ", kAccounts - sent, " more account")));
  EXPECT_EQ(req.failed_accounts(sent - 1).account(), absl::StrCat("user", sent - 1));
}

// The host's keys, the KRL's state and the key files mode go in as the agent found them; the
// revocations error is the agent's own words: valid UTF-8 and within kMaxReportTextBytes.
TEST(ReportRequest, CarriesHostKeysRevocationsErrorAndKeyFilesMode) {
  ApplyReport report;
  report.revocations_error =
      "cannot write /etc/ssh/keyfleet/revoked.\xE9" + std::string(2 * kMaxReportTextBytes, 'x');
  report.key_files = v1::KEY_FILES_MODE_CENTRAL;
  HostKeys keys;
  keys.public_keys = {"ssh-ed25519 AAAA", "ssh-rsa BBBB"};
  keys.fingerprints = {"SHA256:a", "SHA256:b"};
  keys.skipped = {"/etc/ssh/ssh_host_x_key.pub: is empty"};
  const v1::ReportRequest req = AsTheControllerParsesIt(ReportRequestFor(report, keys));
  EXPECT_THAT(req.host_public_keys(), testing::ElementsAre("ssh-ed25519 AAAA", "ssh-rsa BBBB"));
  EXPECT_THAT(req.host_key_fingerprints(), testing::ElementsAre("SHA256:a", "SHA256:b"));
  EXPECT_THAT(req.revocations_error(), StartsWith("cannot write /etc/ssh/keyfleet/revoked.\\xe9"));
  EXPECT_LE(req.revocations_error().size(), kMaxReportTextBytes);
  EXPECT_THAT(req.revocations_error(), testing::EndsWith(std::string(kReportCutMarker)));
  EXPECT_EQ(req.key_files(), v1::KEY_FILES_MODE_CENTRAL);
}

TEST(ReportRequest, AKrlInStepIsNoError) {
  ApplyReport report;
  const v1::ReportRequest req = AsTheControllerParsesIt(ReportRequestFor(report, {}));
  EXPECT_EQ(req.revocations_error(), "");
  EXPECT_EQ(req.key_files(), v1::KEY_FILES_MODE_HOME);
  EXPECT_EQ(req.host_public_keys_size(), 0);
}

TEST(ReportRequest, TheLocalJsonReportIsValidWhateverThePathsHold) {
  ApplyReport report;
  report.drift.push_back({"alice", v1::DRIFT_KIND_SSHD_WILL_REFUSE, "/home/jos\xE9",
                          "/home/jos\xE9 is group-writable", false});
  report.accounts.push_back({"alice", AccountOutcome::kRefused, "refused: /home/jos\xE9"});
  const nlohmann::json json = nlohmann::json::parse(ApplyReportToJson(report));
  EXPECT_EQ(json["drift"][0]["path"], "/home/jos\\xe9");
  EXPECT_EQ(json["accounts"][0]["detail"], "refused: /home/jos\\xe9");
}

}  // namespace
}  // namespace keyfleet::agent
