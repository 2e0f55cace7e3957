// ComputeAccess and VerifyKeyAccess: what `keyfleet access` and `verify` say sshd will do, from
// the desired state and the host's last report, one row per situation.
#include "controller/access_truth.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "common/authorized_keys_line.h"
#include "common/authorized_keys_options.h"
#include "common/delivery_limits.h"
#include "common/fingerprint.h"
#include "common/ssh_public_key.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

const absl::Time kNow = absl::FromUnixSeconds(1800000000);  // 2027-01-15T08:00:00Z

struct Key {
  std::string public_key;  // "TYPE BASE64"
  std::string fingerprint;
};
Key MakeKey(uint64_t n) {
  const std::string line = testing::SyntheticEd25519Line(n, "");
  PublicKey key = *ParsePublicKey(line);
  key.comment.clear();
  return {RenderPublicKey(key), Fingerprint(key)};
}

// A desired line as the view renders it: options, expiry-time, key, "alice".
AccessLine Desired(const std::string& account, const Key& key, const std::string& options,
                   absl::Time expiry, int64_t grant = 1) {
  KeyRecord record;
  record.fingerprint = key.fingerprint;
  record.public_key = key.public_key;
  record.principal = "alice";
  AuthorizedKeysOptions parsed =
      options.empty() ? AuthorizedKeysOptions() : *ParseAuthorizedKeysOptions(options);
  std::string text = *RenderManagedLine(parsed, expiry, record);
  return {account, key.fingerprint, "alice", grant, expiry, MakeManagedLine(text)};
}

// The line the agent reports for `desired` once it is in the file.
ObservedLineRecord InFile(const AccessLine& desired) {
  AuthorizedKeysLine parsed = *ParseAuthorizedKeysLine(desired.line->text);
  ObservedLineRecord o;
  o.fingerprint = desired.fingerprint;
  o.managed = true;
  o.options = RenderAuthorizedKeysOptions(parsed.options);
  o.expires_at = parsed.options.EarliestExpiry(absl::UTCTimeZone());
  o.comment = parsed.key.comment;
  o.key_type = "ssh-ed25519";
  return o;
}

ObservedLineRecord UsersOwn(const Key& key, const std::string& options = "",
                            const std::string& file = "authorized_keys") {
  ObservedLineRecord o;
  o.fingerprint = key.fingerprint;
  o.managed = false;
  o.options = options;
  o.file = file;
  o.key_type = "ssh-ed25519";
  if (!options.empty()) {
    o.expires_at = ParseAuthorizedKeysOptions(options)->EarliestExpiry(absl::UTCTimeZone());
  }
  return o;
}

const AccessVerdict* Find(const AccessAnswer& a, const std::string& fp, AccessState state) {
  for (const AccessVerdict& v : a.entries) {
    if (v.fingerprint == fp && v.state == state) return &v;
  }
  return nullptr;
}

class AccessTruthTest : public ::testing::Test {
 protected:
  Key k1_ = MakeKey(1), k2_ = MakeKey(2), k3_ = MakeKey(3);
  absl::Time in_a_year_ = kNow + absl::Hours(24 * 365);
};

TEST_F(AccessTruthTest, ConvergedLinesAreActiveAndLogIn) {
  AccessInputs in;
  in.desired = {Desired("deploy", k1_, "", in_a_year_)};
  in.observed = std::vector<ObservedAccountRecord>{{"deploy", {InFile(in.desired[0])}, 0}};
  in.converged = true;
  AccessAnswer a = ComputeAccess(in, "", kNow);
  ASSERT_THAT(a.entries, SizeIs(1));
  EXPECT_EQ(a.entries[0].state, AccessState::kActive);
  EXPECT_TRUE(a.entries[0].logs_in);
  EXPECT_EQ(a.entries[0].grant_id, 1);
  // The expiry shown is the one in the file: the minute keyfleet wrote, not the exact second.
  ASSERT_TRUE(a.entries[0].expires_at);
  EXPECT_EQ(*a.entries[0].expires_at,
            absl::FromUnixSeconds(absl::ToUnixSeconds(in_a_year_) / 60 * 60));
}

TEST_F(AccessTruthTest, APendingChangeSaysWhatStillLogsInAndWhatDoesNotYet) {
  // k1 was revoked (no longer desired, still in the file); k2 was granted (not yet written).
  AccessLine old_line = Desired("deploy", k1_, "", in_a_year_);
  AccessInputs in;
  in.desired = {Desired("deploy", k2_, "", in_a_year_, 2)};
  in.observed = std::vector<ObservedAccountRecord>{{"deploy", {InFile(old_line)}, 0}};
  in.converged = false;
  in.desired_generation = 9;
  in.applied_generation = 7;
  AccessAnswer a = ComputeAccess(in, "deploy", kNow);
  EXPECT_TRUE(a.change_pending);
  const AccessVerdict* leaving = Find(a, k1_.fingerprint, AccessState::kPendingRemoval);
  ASSERT_NE(leaving, nullptr);
  EXPECT_TRUE(leaving->logs_in) << "it is in the file until the host applies";
  EXPECT_THAT(leaving->why, HasSubstr("generation 9"));
  const AccessVerdict* coming = Find(a, k2_.fingerprint, AccessState::kPendingAdd);
  ASSERT_NE(coming, nullptr);
  EXPECT_FALSE(coming->logs_in);
  auto v = VerifyKeyAccess(a, "deploy", k1_.fingerprint, "");
  ASSERT_TRUE(v.ok());
  EXPECT_TRUE(v->allowed);
  v = VerifyKeyAccess(a, "deploy", k2_.fingerprint, "");
  EXPECT_FALSE(v->allowed);
  EXPECT_TRUE(v->determined);
}

TEST_F(AccessTruthTest, ChangedOptionsAreOneLineLeavingAndOneComing) {
  AccessLine before = Desired("deploy", k1_, "", in_a_year_);
  AccessInputs in;
  in.desired = {Desired("deploy", k1_, "from=\"10.0.0.0/8\"", in_a_year_)};
  in.observed = std::vector<ObservedAccountRecord>{{"deploy", {InFile(before)}, 0}};
  AccessAnswer a = ComputeAccess(in, "deploy", kNow);
  EXPECT_NE(Find(a, k1_.fingerprint, AccessState::kPendingRemoval), nullptr);
  EXPECT_NE(Find(a, k1_.fingerprint, AccessState::kPendingAdd), nullptr);
  // From anywhere it logs in (through the old, unrestricted line) until the host applies.
  auto v = VerifyKeyAccess(a, "deploy", k1_.fingerprint, "192.0.2.1");
  EXPECT_TRUE(v->allowed);
}

TEST_F(AccessTruthTest, UsersOwnLinesAreUnmanagedAccess) {
  AccessInputs in;
  in.observed = std::vector<ObservedAccountRecord>{
      {"deploy",
       {UsersOwn(k1_), UsersOwn(k2_, "expiry-time=\"20200101Z\""),
        UsersOwn(k3_, "", "authorized_keys2")},
       0}};
  in.converged = true;
  AccessAnswer a = ComputeAccess(in, "", kNow);
  ASSERT_THAT(a.entries, SizeIs(3));
  const AccessVerdict* own = Find(a, k1_.fingerprint, AccessState::kUnmanaged);
  ASSERT_NE(own, nullptr);
  EXPECT_TRUE(own->logs_in);
  const AccessVerdict* expired = Find(a, k2_.fingerprint, AccessState::kUnmanaged);
  ASSERT_NE(expired, nullptr);
  EXPECT_FALSE(expired->logs_in);
  EXPECT_THAT(expired->why, HasSubstr("expired at 2020-01-01"));
  const AccessVerdict* keys2 = Find(a, k3_.fingerprint, AccessState::kUnmanaged);
  ASSERT_NE(keys2, nullptr);
  EXPECT_TRUE(keys2->logs_in);
  EXPECT_EQ(keys2->file, "authorized_keys2");
  EXPECT_TRUE(VerifyKeyAccess(a, "deploy", k3_.fingerprint, "")->allowed);
}

TEST_F(AccessTruthTest, HostFactsDecideBeforeLines) {
  struct Row {
    std::string name, kind, detail;
    bool refuses, unknown;
  };
  const std::vector<Row> rows = {
      {"no account", "DRIFT_KIND_NO_SUCH_ACCOUNT", "no account named deploy on this host", true,
       false},
      {"strict modes", "DRIFT_KIND_SSHD_WILL_REFUSE", "/home/deploy is world-writable", true,
       false},
      {"unsafe path", "DRIFT_KIND_UNSAFE_PATH", "authorized_keys is a symbolic link", false, true},
      {"refused account", "DRIFT_KIND_REFUSED_ACCOUNT", "uid 0", false, true},
  };
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    AccessInputs in;
    in.desired = {Desired("deploy", k1_, "", in_a_year_)};
    in.observed = std::vector<ObservedAccountRecord>{{"deploy", {InFile(in.desired[0])}, 0}};
    if (row.unknown) in.observed = std::vector<ObservedAccountRecord>{};
    in.problems = {{"deploy", row.kind, row.detail}};
    in.converged = true;
    AccessAnswer a = ComputeAccess(in, "deploy", kNow);
    ASSERT_THAT(a.accounts, SizeIs(1));
    EXPECT_EQ(a.accounts[0].sshd_refuses, row.refuses);
    EXPECT_THAT(a.accounts[0].facts, ::testing::Contains(row.detail));
    ASSERT_THAT(a.entries, SizeIs(1));
    if (row.refuses) {
      EXPECT_FALSE(a.entries[0].logs_in);
      EXPECT_EQ(a.entries[0].why, row.detail);
    }
    auto v = VerifyKeyAccess(a, "deploy", k1_.fingerprint, "");
    ASSERT_TRUE(v.ok());
    EXPECT_FALSE(v->allowed);
    EXPECT_EQ(v->determined, !row.unknown) << v->reason;
    EXPECT_THAT(v->reason, HasSubstr(row.detail));
  }
}

TEST_F(AccessTruthTest, VerifyChecksFromRestrictionsAgainstTheGivenAddress) {
  AccessInputs in;
  in.desired = {Desired("deploy", k1_, "from=\"10.0.0.0/8,!10.9.0.0/16\"", in_a_year_)};
  in.observed = std::vector<ObservedAccountRecord>{{"deploy", {InFile(in.desired[0])}, 0}};
  in.converged = true;
  AccessAnswer a = ComputeAccess(in, "deploy", kNow);
  ASSERT_THAT(a.entries, SizeIs(1));
  EXPECT_TRUE(a.entries[0].logs_in);
  EXPECT_THAT(a.entries[0].why, HasSubstr("only from 10.0.0.0/8,!10.9.0.0/16"));
  struct Row {
    std::string from;
    bool allowed;
  };
  for (const Row& row : std::vector<Row>{
           {"", true}, {"10.1.2.3", true}, {"10.9.1.1", false}, {"192.0.2.1", false}}) {
    SCOPED_TRACE(row.from);
    auto v = VerifyKeyAccess(a, "deploy", k1_.fingerprint, row.from);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->allowed, row.allowed) << v->reason;
  }
  EXPECT_EQ(VerifyKeyAccess(a, "deploy", k1_.fingerprint, "web-1").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(AccessTruthTest, LinesSshdWillNotUse) {
  AccessInputs in;
  in.observed = std::vector<ObservedAccountRecord>{{"deploy", {}, 0}};
  ObservedLineRecord ca = UsersOwn(k1_, "cert-authority");
  ObservedLineRecord dsa = UsersOwn(k2_);
  dsa.key_type = "ssh-dss";
  in.observed->at(0).lines = {ca, dsa};
  in.converged = true;
  AccessAnswer a = ComputeAccess(in, "deploy", kNow);
  ASSERT_THAT(a.entries, SizeIs(2));
  for (const AccessVerdict& v : a.entries) EXPECT_FALSE(v.logs_in) << v.fingerprint;
  EXPECT_THAT(Find(a, k1_.fingerprint, AccessState::kUnmanaged)->why, HasSubstr("cert-authority"));
  EXPECT_THAT(Find(a, k2_.fingerprint, AccessState::kUnmanaged)->why, HasSubstr("DSA"));
}

TEST_F(AccessTruthTest, WithoutAReportOfFilesTheAnswerComesFromTheDesiredState) {
  AccessInputs in;
  in.desired = {Desired("deploy", k1_, "", in_a_year_)};
  in.converged = true;
  AccessAnswer a = ComputeAccess(in, "", kNow);
  EXPECT_FALSE(a.files_reported);
  ASSERT_THAT(a.entries, SizeIs(1));
  EXPECT_EQ(a.entries[0].state, AccessState::kUnreported);
  EXPECT_TRUE(a.entries[0].logs_in);
  EXPECT_FALSE(a.entries[0].known);
  auto v = VerifyKeyAccess(a, "deploy", k1_.fingerprint, "");
  EXPECT_TRUE(v->allowed);
  EXPECT_FALSE(v->determined);
  v = VerifyKeyAccess(a, "deploy", k2_.fingerprint, "");
  EXPECT_FALSE(v->allowed);
  EXPECT_THAT(v->reason, HasSubstr("not reported its files"));
}

TEST_F(AccessTruthTest, LinesLeftOutOfTheReportMakeANoUncertain) {
  AccessInputs in;
  in.observed = std::vector<ObservedAccountRecord>{{"deploy", {}, 3}};
  in.converged = true;
  AccessAnswer a = ComputeAccess(in, "deploy", kNow);
  EXPECT_THAT(a.accounts[0].facts, ::testing::Contains(HasSubstr("3 key line(s) not reported")));
  auto v = VerifyKeyAccess(a, "deploy", k1_.fingerprint, "");
  EXPECT_FALSE(v->allowed);
  EXPECT_FALSE(v->determined);
}

// Where the host's reports cannot settle it, verify says so instead of a sure "no".
TEST_F(AccessTruthTest, WhatTheHostDidNotReportIsUnknownNotNo) {
  AccessInputs in;
  in.desired = {Desired("deploy", k1_, "", in_a_year_)};
  in.observed = std::vector<ObservedAccountRecord>{{"deploy", {InFile(in.desired[0])}, 0}};
  in.converged = true;
  // An account keyfleet does not manage there: the agent never reads it.
  AccessAnswer root = ComputeAccess(in, "root", kNow);
  ASSERT_THAT(root.accounts, SizeIs(1));
  EXPECT_FALSE(root.accounts[0].observed);
  auto v = VerifyKeyAccess(root, "root", k2_.fingerprint, "");
  EXPECT_FALSE(v->allowed);
  EXPECT_FALSE(v->determined);
  EXPECT_THAT(v->reason, HasSubstr("does not read the files of accounts"));
  // A desired line not among the reported ones while some lines were left out.
  AccessInputs cut = in;
  cut.observed = std::vector<ObservedAccountRecord>{{"deploy", {}, 1}};
  v = VerifyKeyAccess(ComputeAccess(cut, "deploy", kNow), "deploy", k1_.fingerprint, "");
  EXPECT_FALSE(v->allowed);
  EXPECT_FALSE(v->determined) << v->reason;
  // StrictModes the agent could not decide (a group only NSS knows).
  AccessInputs maybe = in;
  maybe.problems = {{"deploy", "DRIFT_KIND_SSHD_MAY_REFUSE", "/home/deploy is group-writable"}};
  AccessAnswer a = ComputeAccess(maybe, "deploy", kNow);
  EXPECT_FALSE(a.accounts[0].sshd_refuses);
  v = VerifyKeyAccess(a, "deploy", k1_.fingerprint, "");
  EXPECT_FALSE(v->determined);
  EXPECT_THAT(v->reason, HasSubstr("cannot tell"));
}

TEST_F(AccessTruthTest, ObservedJsonRoundTripsAndIsStrict) {
  std::vector<ObservedAccountRecord> accounts = {
      {"deploy", {UsersOwn(k1_, "expiry-time=\"20300101Z\""), UsersOwn(k2_)}, 2}};
  accounts[0].lines[1].comment = "bad\x1b[31m";
  auto back = ObservedFromJson(ObservedToJson(accounts));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_THAT(*back, SizeIs(1));
  EXPECT_EQ((*back)[0].lines_left_out, 2u);
  ASSERT_THAT((*back)[0].lines, SizeIs(2));
  EXPECT_EQ((*back)[0].lines[0].expires_at, accounts[0].lines[0].expires_at);
  EXPECT_EQ((*back)[0].lines[0].options, "expiry-time=\"20300101Z\"")
      << "options come back as the agent rendered them, to match the desired line's";
  EXPECT_EQ((*back)[0].lines[1].comment.find('\x1b'), std::string::npos)
      << "control characters from agents never reach a terminal";
  // Options up to their limit are kept whole; past it they are cut there.
  const std::string long_from = "from=\"" + std::string(kMaxObservedOptionsBytes - 8, '1') + "\"";
  accounts[0].lines[0].options = long_from;
  accounts[0].lines[1].options = long_from + ",restrict";
  back = ObservedFromJson(ObservedToJson(accounts));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)[0].lines[0].options, long_from);
  EXPECT_EQ((*back)[0].lines[1].options.size(), kMaxObservedOptionsBytes);
  for (const std::string bad : {"", "{", "[{}]", "[{\"account\":1}]", "{\"a\":1}"}) {
    EXPECT_EQ(ObservedFromJson(bad).status().code(), absl::StatusCode::kDataLoss) << bad;
  }
  EXPECT_THAT(*ObservedFromJson("[]"), IsEmpty());
}

}  // namespace
}  // namespace keyfleet::controller
