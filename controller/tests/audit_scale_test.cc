// A large audit log on a real PostgreSQL (label postgres; issue 15): 100,000 events of realistic
// size, verified page by page in one snapshot with memory that does not grow with the events, a
// tampered event or deleted checkpoint in the middle named at its sequence, and a large unsigned
// log adopted in pages. tests/bench/audit_scale is the 1,000,000-event measurement.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <pqxx/pqxx>

#include "absl/strings/str_cat.h"
#include "controller/audit_chain.h"
#include "controller/audit_signer.h"
#include "controller/handlers/report_handlers.h"
#include "controller/store/migrations.h"
#include "controller/store/postgres_store.h"
#include "tests/support/audit_log_fill.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kEvents = 100000;
constexpr size_t kEventsPerCheckpoint = 10;

class AuditScaleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    postgres_ = new testing::TempPostgres();
    key_dir_ = new testing::ScopedTempDir("audit-scale-key");
    auto signer = AuditSigner::LoadOrCreate(key_dir_->path().string(), absl::Now());
    ASSERT_TRUE(signer.ok()) << signer.status();
    signer_ = signer->release();
    url_ = new std::string(postgres_->Url(postgres_->CreateDatabase()));
    PostgresStore store(PgOptions{*url_, 2, absl::Seconds(20)});
    auto migrated = store.Migrate();
    ASSERT_TRUE(migrated.ok()) << migrated.status();
    testing::AuditFillOptions fill;
    fill.events = kEvents;
    fill.events_per_checkpoint = kEventsPerCheckpoint;
    fill.signer = signer_;
    auto filled = testing::FillAuditLog(*url_, fill);
    ASSERT_TRUE(filled.ok()) << filled.status();
    filled_ = *filled;
  }
  static void TearDownTestSuite() {
    delete postgres_;
    delete signer_;
    delete key_dir_;
    delete url_;
  }

  void SetUp() override {
    // A failed SetUpTestSuite must not leave the tests to run against nothing.
    ASSERT_EQ(filled_.events, kEvents);
    store_ = std::make_unique<PostgresStore>(PgOptions{*url_, 2, absl::Seconds(20)});
  }

  AuditVerification Verify(PostgresStore& store, uint64_t signed_head) {
    absl::StatusOr<AuditVerification> v =
        VerifyStoredAuditLog(store, {&signer_->verifier()}, signed_head);
    EXPECT_TRUE(v.ok()) << v.status();
    return v.ok() ? *v : AuditVerification{};
  }

  // The sequence of the n-th event (from 1).
  uint64_t NthSequence(uint64_t n) {
    pqxx::connection conn(*url_);
    pqxx::nontransaction q(conn);
    const std::string query =
        absl::StrCat("SELECT seq FROM audit_events ORDER BY seq OFFSET ", n - 1, " LIMIT 1");
    return q.exec1(query)[0].as<uint64_t>();
  }

  void Exec(const std::string& sql) {
    pqxx::connection conn(*url_);
    pqxx::work txn(conn);
    txn.exec0(sql);
    txn.commit();
  }

  static testing::TempPostgres* postgres_;
  static testing::ScopedTempDir* key_dir_;
  static AuditSigner* signer_;
  static std::string* url_;
  static testing::AuditFillResult filled_;
  std::unique_ptr<PostgresStore> store_;
};

testing::TempPostgres* AuditScaleTest::postgres_ = nullptr;
testing::ScopedTempDir* AuditScaleTest::key_dir_ = nullptr;
AuditSigner* AuditScaleTest::signer_ = nullptr;
std::string* AuditScaleTest::url_ = nullptr;
testing::AuditFillResult AuditScaleTest::filled_;

TEST_F(AuditScaleTest, AHundredThousandEventsVerifyWithoutHoldingThem) {
  // Warm the store's connection, so that the measurement is the verification's own.
  ASSERT_TRUE(store_->ListAudit(0, absl::InfinitePast(), 1).ok());
  const long before = testing::CurrentRssKiB();
  ASSERT_TRUE(testing::ResetPeakRss()) << "cannot reset VmHWM through /proc/self/clear_refs";
  const AuditVerification v = Verify(*store_, filled_.last_sequence);
  const long growth_kib = testing::PeakRssKiB() - before;

  EXPECT_TRUE(v.ok) << v.detail;
  EXPECT_EQ(v.events_checked, kEvents);
  EXPECT_EQ(v.checkpoints_checked, kEvents / kEventsPerCheckpoint);
  // Holding the events would take at least their text (about 45 MB here); the verifier keeps
  // 48 bytes per signed event (4.8 MB) and one page of rows at a time.
  const long payload_kib = static_cast<long>(filled_.payload_bytes / 1024);
  std::printf("payload_kib=%ld verify_peak_growth_kib=%ld\n", payload_kib, growth_kib);
  EXPECT_LT(growth_kib, payload_kib / 2) << "the verification holds the events";
}

TEST_F(AuditScaleTest, TheChainAloneStreamsToo) {
  absl::StatusOr<AuditVerification> v = VerifyStoredAuditLog(*store_, {}, 0);
  ASSERT_TRUE(v.ok()) << v.status();
  EXPECT_TRUE(v->ok) << v->detail;
  EXPECT_EQ(v->events_checked, kEvents);
  EXPECT_EQ(v->checkpoints_checked, 0u);
}

TEST_F(AuditScaleTest, AnEditedEventInTheMiddleIsNamedAtItsSequence) {
  const uint64_t target = NthSequence(kEvents / 2);
  Exec(absl::StrCat("UPDATE audit_events SET after_json = after_json || ' ' WHERE seq = ", target));
  const AuditVerification v = Verify(*store_, filled_.last_sequence);
  Exec(absl::StrCat("UPDATE audit_events SET after_json = rtrim(after_json, ' ') WHERE seq = ",
                    target));
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_sequence, target) << v.detail;
  EXPECT_THAT(v.detail, HasSubstr(absl::StrCat("audit event ", target, " (")));
  EXPECT_THAT(v.detail, HasSubstr("does not match its hash: the event was edited"));
  EXPECT_EQ(v.events_checked, kEvents / 2 - 1);
  EXPECT_TRUE(Verify(*store_, filled_.last_sequence).ok);
}

TEST_F(AuditScaleTest, ACheckpointDeletedFromTheMiddleLeavesItsFirstEventUncovered) {
  const uint64_t first = NthSequence(kEvents / 2 + 1);  // checkpoints hold events 1-10, 11-20…
  pqxx::connection conn(*url_);
  {
    pqxx::work txn(conn);
    txn.exec0(
        absl::StrCat("CREATE TEMP TABLE kept AS SELECT * FROM audit_checkpoints "
                     "WHERE first_seq = ",
                     first));
    EXPECT_EQ(txn.exec0(absl::StrCat("DELETE FROM audit_checkpoints WHERE first_seq = ", first))
                  .affected_rows(),
              1u);
    txn.commit();
  }
  const AuditVerification v = Verify(*store_, filled_.last_sequence);
  {
    pqxx::work txn(conn);
    txn.exec0("INSERT INTO audit_checkpoints SELECT * FROM kept");
    txn.commit();
  }
  EXPECT_FALSE(v.ok);
  EXPECT_EQ(v.first_bad_sequence, first) << v.detail;
  EXPECT_THAT(v.detail, HasSubstr("is not covered by any valid signed checkpoint"));
  EXPECT_EQ(v.events_checked, kEvents / 2);
  EXPECT_EQ(v.checkpoints_checked, kEvents / kEventsPerCheckpoint - 1);
}

TEST_F(AuditScaleTest, ALargeUnsignedLogIsAdoptedPageByPage) {
  const std::string url = postgres_->Url(postgres_->CreateDatabase());
  PostgresStore store(PgOptions{url, 2, absl::Seconds(20)});
  auto migrated = store.Migrate();
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  testing::AuditFillOptions fill;
  fill.events = kEvents + 1;  // one more than a checkpoint may list
  fill.events_per_checkpoint = 0;
  auto filled = testing::FillAuditLog(url, fill);
  ASSERT_TRUE(filled.ok()) << filled.status();

  store.SetAuditSigner(signer_);
  absl::StatusOr<uint64_t> adopted = store.AdoptUnsignedAudit();
  ASSERT_TRUE(adopted.ok()) << adopted.status();
  EXPECT_EQ(*adopted, kEvents + 1);
  const AuditVerification v = Verify(store, 0);
  EXPECT_TRUE(v.ok) << v.detail;
  EXPECT_EQ(v.events_checked, kEvents + 2);  // with the adoption's own event
  EXPECT_EQ(v.checkpoints_checked, 3u);      // 100,000 + 1, then the adoption's
}

TEST_F(AuditScaleTest, ABrokenChainIsNotAdopted) {
  const std::string url = postgres_->Url(postgres_->CreateDatabase());
  PostgresStore store(PgOptions{url, 2, absl::Seconds(20)});
  auto migrated = store.Migrate();
  ASSERT_TRUE(migrated.ok()) << migrated.status();
  testing::AuditFillOptions fill;
  fill.events = 25000;
  fill.events_per_checkpoint = 0;
  fill.gap_every = 0;
  ASSERT_TRUE(testing::FillAuditLog(url, fill).ok());
  {
    pqxx::connection conn(url);
    pqxx::work txn(conn);
    txn.exec0("UPDATE audit_events SET target = 'edited' WHERE seq = 20000");
    txn.commit();
  }
  store.SetAuditSigner(signer_);
  absl::StatusOr<uint64_t> adopted = store.AdoptUnsignedAudit();
  ASSERT_FALSE(adopted.ok());
  EXPECT_EQ(adopted.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(adopted.status().message(), HasSubstr("audit event 20000 (key.add edited)"));
  pqxx::connection conn(url);
  pqxx::nontransaction q(conn);
  EXPECT_EQ(q.exec1("SELECT count(*) FROM audit_checkpoints")[0].as<int>(), 0);
}

}  // namespace
}  // namespace keyfleet::controller
