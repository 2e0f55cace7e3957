// Tampering with the audit log in PostgreSQL, as someone with write access to the database would
// (label postgres): each attempt is caught by `audit verify` (the VerifyAudit RPC), which names
// the first bad sequence, because the controller signs every batch of events with a key the
// database does not hold.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <pqxx/pqxx>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/clock.h"
#include "controller/audit_chain.h"
#include "controller/controller_server.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "tests/support/admin_token.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;

class AuditTamperTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { postgres_ = new testing::TempPostgres(); }
  static void TearDownTestSuite() {
    delete postgres_;
    postgres_ = nullptr;
  }

  void SetUp() override {
    database_ = postgres_->Url(postgres_->CreateDatabase());
    Start();
    for (int i = 0; i < 6; ++i) AddPrincipal(absl::StrCat("p", i));
  }

  void Start() {
    controller_.reset();
    ControllerConfig config;
    config.database = database_;
    config.listen = "127.0.0.1:0";
    config.ca_dir = (dir_.path() / "ca").string();
    config.tls_names = {"127.0.0.1"};
    config.bootstrap_token_file = (dir_.path() / "bootstrap.token").string();
    controller_ = std::make_unique<ControllerServer>(config, clock_);
    absl::Status started = controller_->Start();
    ASSERT_TRUE(started.ok()) << started;
    absl::StatusOr<std::string> token = testing::ReadTokenFile(config.bootstrap_token_file);
    ASSERT_TRUE(token.ok()) << token.status();
    admin_ = v1::AdminService::NewStub(
        controller_->InProcessChannel(testing::TokenInterceptors(*token)));
  }

  void AddPrincipal(const std::string& name) {
    grpc::ClientContext ctx;
    v1::AddPrincipalRequest req;
    req.set_name(name);
    v1::MutationResponse resp;
    ASSERT_TRUE(admin_->AddPrincipal(&ctx, req, &resp).ok());
  }

  v1::VerifyAuditResponse Verify() {
    grpc::ClientContext ctx;
    v1::VerifyAuditResponse resp;
    grpc::Status s = admin_->VerifyAudit(&ctx, v1::VerifyAuditRequest(), &resp);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return resp;
  }

  // The events as stored, in order.
  std::vector<AuditEvent> Events(pqxx::work& txn) {
    std::vector<AuditEvent> out;
    for (const pqxx::row& r :
         txn.exec("SELECT seq, kf_us(at), actor, action, target, "
                  "before_json, after_json, prev_hash, hash FROM audit_events ORDER BY seq")) {
      AuditEvent e;
      e.sequence = r[0].as<uint64_t>();
      e.at = absl::FromUnixMicros(r[1].as<int64_t>());
      e.actor = r[2].as<std::string>();
      e.action = r[3].as<std::string>();
      e.target = r[4].as<std::string>();
      e.before_json = r[5].as<std::string>();
      e.after_json = r[6].as<std::string>();
      e.prev_hash = r[7].as<std::string>();
      e.hash = r[8].as<std::string>();
      out.push_back(e);
    }
    return out;
  }

  // What an attacker with the database would do after editing: recompute every hash from
  // `from` on so that the chain verifies again.
  void Rehash(pqxx::work& txn, uint64_t from) {
    std::vector<AuditEvent> events = Events(txn);
    std::string prev;
    for (AuditEvent& e : events) {
      if (e.sequence >= from) {
        e.prev_hash = prev;
        e.hash = AuditEventHash(e);
        txn.exec_params("UPDATE audit_events SET prev_hash = $2, hash = $3 WHERE seq = $1",
                        static_cast<int64_t>(e.sequence), e.prev_hash, e.hash);
      }
      prev = e.hash;
    }
  }

  uint64_t Sequence(pqxx::work& txn, int nth_from_end) {
    std::vector<AuditEvent> events = Events(txn);
    return events[events.size() - 1 - nth_from_end].sequence;
  }

  static testing::TempPostgres* postgres_;
  testing::ScopedTempDir dir_{"audit-tamper"};
  std::string database_;
  SystemClock clock_;
  std::unique_ptr<ControllerServer> controller_;
  std::unique_ptr<v1::AdminService::Stub> admin_;
};

testing::TempPostgres* AuditTamperTest::postgres_ = nullptr;

TEST_F(AuditTamperTest, AnUntouchedLogVerifiesWithItsSignatures) {
  v1::VerifyAuditResponse r = Verify();
  EXPECT_TRUE(r.ok()) << r.detail();
  EXPECT_GE(r.events_checked(), 7u);  // the bootstrap token and six principals
  EXPECT_GE(r.checkpoints_checked(), 7u);
}

TEST_F(AuditTamperTest, AnEditedRowWithTheChainRehashedIsNamed) {
  pqxx::connection conn(database_);
  pqxx::work txn(conn);
  const uint64_t target = Sequence(txn, 3);
  txn.exec_params("UPDATE audit_events SET actor = 'token:someone-else' WHERE seq = $1",
                  static_cast<int64_t>(target));
  Rehash(txn, target);
  ASSERT_TRUE(VerifyAuditChain(Events(txn)).ok);  // the chain alone no longer notices
  txn.commit();
  v1::VerifyAuditResponse r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence(), target) << r.detail();
}

TEST_F(AuditTamperTest, AnEditedRowWithoutRehashIsNamed) {
  pqxx::connection conn(database_);
  pqxx::work txn(conn);
  const uint64_t target = Sequence(txn, 2);
  txn.exec_params("UPDATE audit_events SET target = 'nobody' WHERE seq = $1",
                  static_cast<int64_t>(target));
  txn.commit();
  v1::VerifyAuditResponse r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence(), target) << r.detail();
}

TEST_F(AuditTamperTest, DeletingTheLastEventsIsNamed) {
  pqxx::connection conn(database_);
  pqxx::work txn(conn);
  const uint64_t first_deleted = Sequence(txn, 2);
  txn.exec_params("DELETE FROM audit_events WHERE seq >= $1", static_cast<int64_t>(first_deleted));
  txn.commit();
  v1::VerifyAuditResponse r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence(), first_deleted) << r.detail();
  EXPECT_THAT(r.detail(), HasSubstr("delet"));
}

TEST_F(AuditTamperTest, DeletingTheLastEventsWithTheirCheckpointsIsCaughtByTheRunningController) {
  pqxx::connection conn(database_);
  pqxx::work txn(conn);
  const uint64_t first_deleted = Sequence(txn, 2);
  txn.exec_params("DELETE FROM audit_events WHERE seq >= $1", static_cast<int64_t>(first_deleted));
  txn.exec_params("DELETE FROM audit_checkpoints WHERE last_seq >= $1",
                  static_cast<int64_t>(first_deleted));
  txn.commit();
  v1::VerifyAuditResponse r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence(), first_deleted) << r.detail();
}

TEST_F(AuditTamperTest, ACutTailWithItsCheckpointsIsCaughtAfterARestartToo) {
  // The controller records the highest sequence it signed beside its key (within a moment).
  pqxx::connection conn(database_);
  uint64_t last = 0;
  {
    pqxx::work txn(conn);
    last = Sequence(txn, 0);
  }
  bool recorded = false;
  for (int i = 0; i < 50 && !recorded; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (const auto& entry : std::filesystem::directory_iterator(dir_.path() / "ca")) {
      if (entry.path().filename().string().rfind("audit-head.", 0) != 0) continue;
      std::ifstream in(entry.path());
      uint64_t seq = 0;
      in >> seq;
      recorded = recorded || seq >= last;
    }
  }
  ASSERT_TRUE(recorded);
  controller_.reset();
  uint64_t first_deleted = 0;
  {
    pqxx::work txn(conn);
    first_deleted = Sequence(txn, 2);
    txn.exec_params("DELETE FROM audit_events WHERE seq >= $1",
                    static_cast<int64_t>(first_deleted));
    txn.exec_params("DELETE FROM audit_checkpoints WHERE last_seq >= $1",
                    static_cast<int64_t>(first_deleted));
    txn.commit();
  }
  Start();
  v1::VerifyAuditResponse r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence(), first_deleted) << r.detail();
}

TEST_F(AuditTamperTest, AnInsertedEventIsNamed) {
  pqxx::connection conn(database_);
  pqxx::work txn(conn);
  std::vector<AuditEvent> events = Events(txn);
  AuditEvent forged;
  forged.sequence = events.back().sequence + 1;
  forged.at = absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  forged.actor = "token:bootstrap";
  forged.action = "principal.add";
  forged.target = "mallory";
  forged.after_json = "{}";
  forged.prev_hash = events.back().hash;
  forged.hash = AuditEventHash(forged);
  txn.exec_params(
      "INSERT INTO audit_events (seq, at, actor, action, target, before_json, after_json, "
      "prev_hash, hash) VALUES ($1, kf_ts($2), $3, $4, $5, "
      "$6, $7, $8, $9)",
      static_cast<int64_t>(forged.sequence), absl::ToUnixMicros(forged.at), forged.actor,
      forged.action, forged.target, forged.before_json, forged.after_json, forged.prev_hash,
      forged.hash);
  ASSERT_TRUE(VerifyAuditChain(Events(txn)).ok);
  txn.commit();
  v1::VerifyAuditResponse r = Verify();
  EXPECT_FALSE(r.ok());
  EXPECT_EQ(r.first_bad_sequence(), forged.sequence) << r.detail();
}

TEST_F(AuditTamperTest, DeletedCheckpointsAreNotSignedAgainAfterARestart) {
  pqxx::connection conn(database_);
  {
    pqxx::work txn(conn);
    const uint64_t target = Sequence(txn, 1);
    txn.exec_params("UPDATE audit_events SET target = 'nobody' WHERE seq = $1",
                    static_cast<int64_t>(target));
    Rehash(txn, target);
    txn.exec("DELETE FROM audit_checkpoints");
    txn.commit();
  }
  Start();  // the audit key exists: the unsigned events are not adopted
  v1::VerifyAuditResponse r = Verify();
  EXPECT_FALSE(r.ok());
  pqxx::work txn(conn);
  EXPECT_EQ(r.first_bad_sequence(), Events(txn).front().sequence) << r.detail();
}

TEST_F(AuditTamperTest, ALogFromBeforeCheckpointsIsSignedOnceWhenTheKeyIsNew) {
  {
    pqxx::connection conn(database_);
    pqxx::work txn(conn);
    txn.exec("DELETE FROM audit_checkpoints");
    txn.commit();
  }
  std::filesystem::remove(dir_.path() / "ca" / "audit.key");
  Start();
  v1::VerifyAuditResponse r = Verify();
  EXPECT_TRUE(r.ok()) << r.detail();
  EXPECT_GE(r.checkpoints_checked(), 1u);
}

TEST_F(AuditTamperTest, ExportWritesEachEventWithItsCheckpointAndFollowsNewOnes) {
  std::vector<v1::ExportedAuditEvent> all;
  {
    grpc::ClientContext ctx;
    auto reader = admin_->ExportAudit(&ctx, v1::ExportAuditRequest());
    v1::ExportedAuditEvent e;
    while (reader->Read(&e)) all.push_back(e);
    ASSERT_TRUE(reader->Finish().ok());
  }
  ASSERT_GE(all.size(), 7u);
  EXPECT_THAT(all.back().checkpoint_events(),
              HasSubstr(absl::StrCat(all.back().event().sequence(), ":",
                                     all.back().event().hash())));
  std::string prev;
  for (const v1::ExportedAuditEvent& e : all) {
    EXPECT_EQ(e.prev_hash(), prev);
    EXPECT_NE(e.checkpoint_id(), 0) << e.event().sequence();
    EXPECT_EQ(e.checkpoint_key_id().rfind("sha256:", 0), 0u);
    EXPECT_FALSE(e.checkpoint_signature().empty());
    prev = e.event().hash();
  }

  grpc::ClientContext follow_ctx;
  v1::ExportAuditRequest follow;
  follow.set_follow(true);
  auto reader = admin_->ExportAudit(&follow_ctx, follow);
  v1::ExportedAuditEvent e;
  for (size_t i = 0; i < all.size(); ++i) ASSERT_TRUE(reader->Read(&e));
  AddPrincipal("late");
  ASSERT_TRUE(reader->Read(&e));  // streamed as it commits
  EXPECT_EQ(e.event().action(), "principal.add");
  EXPECT_EQ(e.event().target(), "late");
  EXPECT_EQ(e.prev_hash(), all.back().event().hash());
  follow_ctx.TryCancel();
  while (reader->Read(&e)) {
  }
  reader->Finish();
}

}  // namespace
}  // namespace keyfleet::controller
