// The PostgreSQL store against a real server started by the test (label: postgres).
#include "controller/store/postgres_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <pqxx/pqxx>
#include <set>
#include <thread>

#include "common/fingerprint.h"
#include "common/ssh_public_key.h"
#include "controller/audit_chain.h"
#include "controller/record_json.h"
#include "controller/store/inventory_errors.h"
#include "controller/store/migrations.h"
#include "tests/support/temp_postgres.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;

const absl::Time kT0 = absl::FromUnixSeconds(1795000000);  // 2026-11-18

class PostgresStoreTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { server_ = new testing::TempPostgres(); }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
  }

  void SetUp() override {
    database_ = server_->CreateDatabase();
    url_ = server_->Url(database_);
    store_ = std::make_unique<PostgresStore>(PgOptions{url_, 4, absl::Seconds(20)});
    auto migrated = store_->Migrate();
    ASSERT_TRUE(migrated.ok()) << migrated.status();
  }

  MutationContext Ctx(absl::Duration after = absl::ZeroDuration()) {
    return {"tester", kT0 + after};
  }

  PrincipalRecord Person(const std::string& name) {
    PrincipalRecord p;
    p.name = name;
    p.email = name + "@example.com";
    p.created_at = kT0;
    return p;
  }

  KeyRecord Key(const std::string& owner, uint64_t n) {
    auto parsed = ParsePublicKey(testing::SyntheticEd25519Line(n, "k" + std::to_string(n)));
    EXPECT_TRUE(parsed.ok()) << parsed.status();
    KeyRecord k;
    k.fingerprint = Fingerprint(*parsed);
    k.principal = owner;
    k.type = "ssh-ed25519";
    k.bits = 256;
    k.comment = parsed->comment;
    PublicKey plain = *parsed;
    plain.comment.clear();
    k.public_key = RenderPublicKey(plain);
    k.created_at = kT0;
    k.expires_at = kT0 + absl::Hours(24 * 365);
    return k;
  }

  void Exec(const std::string& sql) {
    pqxx::connection conn(url_);
    pqxx::work txn(conn);
    txn.exec0(sql);
    txn.commit();
  }

  static testing::TempPostgres* server_;
  std::string database_;
  std::string url_;
  std::unique_ptr<PostgresStore> store_;
};

testing::TempPostgres* PostgresStoreTest::server_ = nullptr;

TEST_F(PostgresStoreTest, MigrationsAreRecordedAndIdempotent) {
  auto again = store_->Migrate();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->applied.empty());
  EXPECT_EQ(again->to_version, EmbeddedMigrations().back().version);
  EXPECT_TRUE(store_->CheckSchema().ok());
}

TEST_F(PostgresStoreTest, RefusesASchemaNewerThanItKnows) {
  Exec("INSERT INTO schema_migrations (version, name) VALUES (999, '0999_future')");
  absl::Status check = store_->CheckSchema();
  EXPECT_EQ(check.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(check.message(), HasSubstr("version 999"));
  auto migrate = store_->Migrate();
  EXPECT_EQ(migrate.status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(PostgresStoreTest, UnmigratedDatabaseIsReportedWithTheFix) {
  PostgresStore fresh(PgOptions{server_->Url(server_->CreateDatabase()), 1, absl::Seconds(5)});
  absl::Status check = fresh.CheckSchema();
  EXPECT_EQ(check.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(check.message(), HasSubstr("keyfleet-controller migrate"));
}

// The epoch names a database's history: stable while it lives; another after a restore from a
// dump (whose change numbers are lower); renewed on demand for a file-level copy, audited.
TEST_F(PostgresStoreTest, TheEpochNamesTheDatabasesHistory) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  auto first = store_->LoadSnapshot();
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT(first->epoch, ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_EQ(store_->LoadSnapshot()->epoch, first->epoch) << "stable";
  const std::string backup = server_->RestoreCopy(database_);
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("bob")).ok());  // lost with the restore
  PostgresStore restored(PgOptions{server_->Url(backup), 1, absl::Seconds(20)});
  ASSERT_TRUE(restored.CheckSchema().ok());
  auto back = restored.LoadSnapshot();
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_THAT(back->epoch, ::testing::MatchesRegex("[0-9a-f]{16}"));
  EXPECT_NE(back->epoch, first->epoch) << "a restored database starts another history";
  EXPECT_LT(back->sequence, store_->LoadSnapshot()->sequence);

  auto renewed = store_->RenewDatabaseEpoch(Ctx());
  ASSERT_TRUE(renewed.ok()) << renewed.status();
  EXPECT_NE(*renewed, first->epoch);
  EXPECT_EQ(store_->LoadSnapshot()->epoch, *renewed);
  auto events = store_->ListAudit(0, absl::InfinitePast(), 100);
  ASSERT_TRUE(events.ok());
  ASSERT_FALSE(events->empty());
  EXPECT_EQ(events->back().action, "database.epoch");
  EXPECT_THAT(events->back().before_json, HasSubstr(first->epoch));
  EXPECT_THAT(events->back().after_json, HasSubstr(*renewed));
}

// The dashboard's "latest events": newest first, a page before a sequence, and `since` too.
TEST_F(PostgresStoreTest, AuditListsNewestFirst) {
  for (const char* name : {"alice", "bob", "carol", "dave"}) {
    MutationContext ctx("tester", kT0 + absl::Minutes(name[0] - 'a'));
    ASSERT_TRUE(store_->AddPrincipal(ctx, Person(name)).ok());
  }
  auto all = store_->ListAudit(0, absl::InfinitePast(), 100);
  ASSERT_TRUE(all.ok() && all->size() >= 4);
  const uint64_t newest = all->back().sequence;
  auto page = store_->ListAuditNewest(0, absl::InfinitePast(), 2);
  ASSERT_TRUE(page.ok()) << page.status();
  ASSERT_EQ(page->size(), 2u);
  EXPECT_EQ((*page)[0].sequence, newest);
  EXPECT_EQ((*page)[1].sequence, newest - 1);
  EXPECT_EQ((*page)[0].target, "dave");
  auto next = store_->ListAuditNewest((*page)[1].sequence, absl::InfinitePast(), 2);
  ASSERT_TRUE(next.ok());
  ASSERT_EQ(next->size(), 2u);
  EXPECT_EQ((*next)[0].sequence, newest - 2);
  auto recent = store_->ListAuditNewest(0, kT0 + absl::Minutes(2), 100);
  ASSERT_TRUE(recent.ok());
  ASSERT_EQ(recent->size(), 2u);  // carol and dave
  EXPECT_EQ((*recent)[1].target, "carol");
}

// A tagged mutation records its request id in its own transaction: a second attempt (even
// for different content, even concurrent) changes nothing; a refused one records nothing.
TEST_F(PostgresStoreTest, RequestIdsAreRecordedWithTheirMutation) {
  MutationContext tagged("tester", kT0, RequestTag{"req-0001", "AddPrincipal", "d1"});
  auto first = store_->AddPrincipal(tagged, Person("alice"));
  ASSERT_TRUE(first.ok()) << first.status();
  auto outcome = store_->FindRequestOutcome("req-0001");
  ASSERT_TRUE(outcome.ok() && outcome->has_value());
  EXPECT_EQ((*outcome)->change, *first);
  EXPECT_EQ((*outcome)->method, "AddPrincipal");
  EXPECT_EQ((*outcome)->digest, "d1");
  EXPECT_FALSE((*outcome)->response.has_value());
  auto again = store_->AddPrincipal(tagged, Person("bob"));
  EXPECT_TRUE(IsRequestAlreadyDone(again.status())) << again.status();
  EXPECT_EQ(store_->LoadSnapshot()->principals.size(), 1u) << "bob was not added";

  const std::string answer("\x08\x2a\x00binary", 9);
  ASSERT_TRUE(store_->RecordRequestResponse("req-0001", answer, false).ok());
  ASSERT_TRUE(store_->RecordRequestResponse("req-0001", "later", false).ok());
  outcome = store_->FindRequestOutcome("req-0001");
  ASSERT_TRUE(outcome.ok() && outcome->has_value() && (*outcome)->response);
  EXPECT_EQ(*(*outcome)->response, answer) << "byte for byte, the first answer only";

  MutationContext refused("tester", kT0, RequestTag{"req-0002", "AddPrincipal", "d2"});
  EXPECT_FALSE(store_->AddPrincipal(refused, Person("alice")).ok()) << "exists";
  EXPECT_FALSE(store_->FindRequestOutcome("req-0002")->has_value()) << "nothing committed";

  // Eight attempts of one request at once: one commits.
  std::vector<std::thread> threads;
  std::atomic<int> committed{0}, already{0};
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&, i] {
      MutationContext ctx("tester", kT0, RequestTag{"req-0003", "AddPrincipal", "d3"});
      auto r = store_->AddPrincipal(ctx, Person("racer-" + std::to_string(i)));
      if (r.ok()) ++committed;
      if (IsRequestAlreadyDone(r.status())) ++already;
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(committed.load(), 1);
  EXPECT_EQ(already.load(), 7);
  EXPECT_EQ(store_->LoadSnapshot()->principals.size(), 2u);
}

// Nothing is committed after the caller's deadline, and no wait outlives it.
TEST_F(PostgresStoreTest, NothingIsCommittedPastTheCallersDeadline) {
  MutationContext late("tester", kT0, {}, absl::Now() - absl::Seconds(1));
  auto r = store_->AddPrincipal(late, Person("late"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_THAT(std::string(r.status().message()), HasSubstr("nothing was changed"));
  EXPECT_TRUE(store_->LoadSnapshot()->principals.empty());

  // A lock held elsewhere: the wait ends at the deadline, not at the retry budget (20 s).
  pqxx::connection holder(url_);
  pqxx::work hold(holder);
  hold.exec("SELECT pg_advisory_xact_lock(118086592720502)");  // inventory_lock
  const absl::Time start = absl::Now();
  MutationContext soon("tester", kT0, {}, absl::Now() + absl::Milliseconds(800));
  r = store_->AddPrincipal(soon, Person("blocked"));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(took, absl::Seconds(3)) << took;
  hold.abort();
  EXPECT_TRUE(store_->LoadSnapshot()->principals.empty());

  // The database down: the same.
  server_->Stop(/*immediate=*/false);
  MutationContext down("tester", kT0, {}, absl::Now() + absl::Seconds(1));
  const absl::Time down_start = absl::Now();
  r = store_->AddPrincipal(down, Person("down"));
  EXPECT_EQ(r.status().code(), absl::StatusCode::kDeadlineExceeded) << r.status();
  EXPECT_LT(absl::Now() - down_start, absl::Seconds(4));
  server_->Start();
  EXPECT_TRUE(store_->LoadSnapshot()->principals.empty());
}

TEST_F(PostgresStoreTest, RecordsRoundTripThroughSnapshotAndFeed) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  KeyRecord key = Key("alice", 1);
  auto change = store_->AddKeys(Ctx(), {key});
  ASSERT_TRUE(change.ok()) << change.status();
  GrantRecord grant;
  grant.principal = "alice";
  grant.hosts.labels = {{"env", "prod"}, {"role", "web"}};
  grant.hosts.hostname_glob = "web-*";
  grant.account = "deploy";
  grant.options = "restrict";
  grant.expires_at = kT0 + absl::Hours(48);
  grant.created_at = kT0;
  auto added = store_->AddGrant(Ctx(), grant);
  ASSERT_TRUE(added.ok()) << added.status();
  EXPECT_GT(added->second.id, 0);
  EXPECT_GT(added->first, *change);

  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->sequence, added->first);
  ASSERT_EQ(snap->keys.size(), 1u);
  EXPECT_EQ(snap->keys[0], key);
  ASSERT_EQ(snap->grants.size(), 1u);
  EXPECT_EQ(snap->grants[0], added->second);
  EXPECT_FALSE(snap->policy.has_value());

  auto feed = store_->ChangesSince(0, 100);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_EQ(feed->size(), 3u);
  EXPECT_EQ((*feed)[1].entity, EntityKind::kKey);
  EXPECT_EQ(*KeyFromJson((*feed)[1].after_json), key);
  EXPECT_EQ(*GrantFromJson((*feed)[2].after_json), added->second);
}

TEST_F(PostgresStoreTest, AKeyBelongsToOnePrincipal) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("bob")).ok());
  ASSERT_TRUE(store_->AddKeys(Ctx(), {Key("alice", 7)}).ok());
  auto again = store_->AddKeys(Ctx(), {Key("bob", 8), Key("bob", 7)});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kAlreadyExists);
  EXPECT_THAT(again.status().message(), HasSubstr("principal \"alice\""));
  // All or nothing: key 8 was not added either.
  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok());
  EXPECT_EQ(snap->keys.size(), 1u);
}

TEST_F(PostgresStoreTest, ARevokedKeyCanNeverBeAddedAgain) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("bob")).ok());
  KeyRecord key = Key("alice", 3);
  ASSERT_TRUE(store_->AddKeys(Ctx(), {key}).ok());
  ASSERT_TRUE(store_->RevokeKey(Ctx(absl::Hours(1)), key.fingerprint, "laptop stolen", false).ok());
  ASSERT_TRUE(store_->RemoveKey(Ctx(absl::Hours(2)), key.fingerprint).ok());
  // The fleet's KRL keeps it (FleetView loads it from the snapshot), also without its record.
  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->revoked_fingerprints,
            (std::vector<SnapshotRevocation>{{key.fingerprint, false}}));
  key.principal = "bob";
  auto again = store_->AddKeys(Ctx(absl::Hours(3)), {key});
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(again.status().message(), HasSubstr("laptop stolen"));
  EXPECT_THAT(again.status().message(), HasSubstr("2026-11-18"));
}

// A rotation is one transaction: the successor, the superseded old key and the grants carried
// from its fingerprint, all in the feed and the audit log, or nothing.
TEST_F(PostgresStoreTest, RotationSupersedesLinksAndCarriesFingerprintGrants) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  KeyRecord old_key = Key("alice", 1);
  ASSERT_TRUE(store_->AddKeys(Ctx(), {old_key}).ok());
  GrantRecord by_fp;
  by_fp.key_fingerprint = old_key.fingerprint;
  by_fp.hosts.hostname_glob = "db-*";
  by_fp.account = "deploy";
  by_fp.options = "restrict";
  by_fp.created_at = kT0;
  ASSERT_TRUE(store_->AddGrant(Ctx(), by_fp).ok());
  KeyRecord next = Key("alice", 2);
  std::vector<GrantRecord> carried;
  auto change = store_->RotateKey(
      Ctx(absl::Hours(1)), {old_key.fingerprint, kT0 + absl::Hours(1) + absl::Hours(24 * 14), next},
      &carried);
  ASSERT_TRUE(change.ok()) << change.status();
  ASSERT_EQ(carried.size(), 1u);
  EXPECT_EQ(carried[0].key_fingerprint, next.fingerprint);
  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok());
  ASSERT_EQ(snap->keys.size(), 2u);
  for (const KeyRecord& k : snap->keys) {
    if (k.fingerprint == old_key.fingerprint) {
      EXPECT_EQ(k.state, KeyState::kSuperseded);
      EXPECT_EQ(k.successor_fingerprint, next.fingerprint);
      EXPECT_EQ(k.expires_at, kT0 + absl::Hours(1) + absl::Hours(24 * 14));
    } else {
      EXPECT_EQ(k, next);
    }
  }
  EXPECT_EQ(snap->grants.size(), 2u);
  auto events = store_->ListAudit(0, absl::InfinitePast(), 100);
  ASSERT_TRUE(events.ok());
  EXPECT_EQ(events->back().action, "grant.add");
  EXPECT_EQ((*events)[events->size() - 2].action, "key.rotate");
  // Once superseded it is not rotated again, and nothing of a refused rotation stays.
  auto again =
      store_->RotateKey(Ctx(absl::Hours(2)), {old_key.fingerprint, kT0, Key("alice", 3)}, &carried);
  EXPECT_EQ(again.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->LoadSnapshot()->keys.size(), 2u);
}

// A policy with --apply-to-existing: the policy and the shortened lives are one change; a key
// that ended sooner meanwhile is left as it is; per-kind rules survive the round trip.
TEST_F(PostgresStoreTest, PolicyShortensKeyLivesInOneChange) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  KeyRecord a = Key("alice", 1), b = Key("alice", 2);
  ASSERT_TRUE(store_->AddKeys(Ctx(), {a, b}).ok());
  PolicyRecord policy;
  policy.person_rule = RotationRule{absl::Hours(24 * 30), absl::Hours(24 * 7), absl::Hours(24)};
  const absl::Time end = kT0 + absl::Hours(24 * 30);
  std::vector<KeyLifeChange> shorten = {
      {a.fingerprint, "alice", PrincipalKind::kPerson, a.created_at, a.expires_at, end},
      {b.fingerprint, "alice", PrincipalKind::kPerson, b.created_at, b.expires_at,
       b.expires_at + absl::Hours(1)}};  // would lengthen: left alone
  auto change = store_->SetPolicy(Ctx(absl::Hours(1)), policy, shorten);
  ASSERT_TRUE(change.ok()) << change.status();
  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok());
  ASSERT_TRUE(snap->policy.has_value());
  EXPECT_EQ(*snap->policy, policy);
  for (const KeyRecord& k : snap->keys) {
    EXPECT_EQ(k.expires_at, k.fingerprint == a.fingerprint ? end : b.expires_at) << k.fingerprint;
  }
  auto events = store_->ListAudit(0, absl::InfinitePast(), 100);
  ASSERT_TRUE(events.ok());
  ASSERT_GE(events->size(), 2u);
  EXPECT_EQ((*events)[events->size() - 2].action, "policy.set");
  EXPECT_EQ(events->back().action, "key.shorten");
  auto feed = store_->ChangesSince(0, 100);
  ASSERT_TRUE(feed.ok()) << feed.status();
  ASSERT_GE(feed->size(), 2u);
  EXPECT_EQ(feed->back().sequence, *change);
  EXPECT_EQ(feed->back().entity_key, a.fingerprint);
  EXPECT_EQ((*feed)[feed->size() - 2].entity, EntityKind::kPolicy);
}

TEST_F(PostgresStoreTest, MutationErrorsAreActionable) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  EXPECT_EQ(store_->AddPrincipal(Ctx(), Person("alice")).status().code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->AddKeys(Ctx(), {Key("nobody", 1)}).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->LabelKey(Ctx(), "SHA256:nope", "x").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(store_->RemoveGrant(Ctx(), 42).status().code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->DisablePrincipal(Ctx(), "alice").ok());
  auto disabled = store_->AddKeys(Ctx(), {Key("alice", 1)});
  EXPECT_EQ(disabled.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(disabled.status().message(), HasSubstr("disabled"));
}

TEST_F(PostgresStoreTest, HostsRegisterAndReport) {
  auto first = store_->RegisterHost({"host:web-1", kT0}, "web-1", {{"env", "prod"}});
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_GT(*first, 0u);
  auto same =
      store_->RegisterHost({"host:web-1", kT0 + absl::Minutes(1)}, "web-1", {{"env", "prod"}});
  ASSERT_TRUE(same.ok());
  EXPECT_EQ(*same, 0u) << "unchanged labels are not a change";
  HostReport report;
  report.hostname = "web-1";
  report.at = kT0 + absl::Minutes(2);
  report.applied_generation = 9;
  report.applied_digest = "abc";
  report.host_key_fingerprints = {"SHA256:hostkey"};
  ASSERT_TRUE(store_->RecordHostReports({report}).ok());
  report.applied_generation = 5;  // an older report arriving late never moves backwards
  ASSERT_TRUE(store_->RecordHostReports({report}).ok());
  auto hosts = store_->ListHosts();
  ASSERT_TRUE(hosts.ok());
  ASSERT_EQ(hosts->size(), 1u);
  EXPECT_EQ((*hosts)[0].applied_generation, 9u);
  EXPECT_EQ((*hosts)[0].last_seen, kT0 + absl::Minutes(2));
  EXPECT_EQ((*hosts)[0].host_key_fingerprints, std::vector<std::string>{"SHA256:hostkey"});
  // A batch goes as one statement of arrays: awkward text survives it.
  HostReport awkward = report;
  awkward.applied_generation = 10;
  awkward.drift_json = R"([{"detail":"a \"quoted\", {braced} back\\slash"}])";
  ASSERT_TRUE(store_->RecordHostReports({awkward}).ok());
  EXPECT_EQ((*store_->ListHosts())[0].drift_json, awkward.drift_json);
  // Streams held open mark hosts as seen, never backwards, and unknown names are ignored.
  ASSERT_TRUE(store_->TouchHosts({"web-1", "ghost"}, kT0 + absl::Minutes(5)).ok());
  ASSERT_TRUE(store_->TouchHosts({"web-1"}, kT0 + absl::Minutes(3)).ok());
  EXPECT_EQ((*store_->ListHosts())[0].last_seen, kT0 + absl::Minutes(5));
}

// Migration 0010: each report's host keys, KRL error and key files mode are stored per host and
// read back by every host read; a late, older report changes none of them.
TEST_F(PostgresStoreTest, ReportsStoreHostKeysRevocationsErrorAndKeyFiles) {
  ASSERT_TRUE(store_->RegisterHost({"host:web-1", kT0}, "web-1", {}).ok());
  auto fresh = store_->FindHost("web-1");
  ASSERT_TRUE(fresh.ok() && fresh->has_value());
  EXPECT_TRUE((*fresh)->host_public_keys.empty());
  EXPECT_EQ((*fresh)->revocations_error, "");
  EXPECT_EQ((*fresh)->key_files, KeyFilesMode::kHome) << "agents before the setting: home";

  const std::vector<std::string> keys = {"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
                                         "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ"};
  HostReport report;
  report.hostname = "web-1";
  report.at = kT0 + absl::Minutes(1);
  report.applied_generation = 7;
  report.host_public_keys = keys;
  report.revocations_error = "cannot write /etc/ssh/keyfleet/revoked.krl: \"disk\" {full}, é";
  report.key_files = KeyFilesMode::kCentral;
  ASSERT_TRUE(store_->RecordHostReports({report}).ok());
  auto check = [&](const HostRecord& h, const std::string& how) {
    EXPECT_EQ(h.host_public_keys, keys) << how;
    EXPECT_EQ(h.revocations_error, report.revocations_error) << how;
    EXPECT_EQ(h.key_files, KeyFilesMode::kCentral) << how;
  };
  auto found = store_->FindHost("web-1");
  ASSERT_TRUE(found.ok() && found->has_value());
  check(**found, "FindHost");
  auto listed = store_->ListHosts();
  ASSERT_TRUE(listed.ok());
  check(listed->at(0), "ListHosts");
  auto page = store_->ListHostsAfter("", 10);
  ASSERT_TRUE(page.ok());
  check(page->at(0), "ListHostsAfter");
  auto named = store_->FindHostsWithoutDrift({"web-1"});
  ASSERT_TRUE(named.ok());
  check(named->at(0), "FindHostsWithoutDrift");

  HostReport late = report;  // an older generation arriving late never overwrites
  late.applied_generation = 6;
  late.revocations_error = "";
  late.key_files = KeyFilesMode::kBoth;
  late.host_public_keys.clear();
  ASSERT_TRUE(store_->RecordHostReports({late}).ok());
  check(**store_->FindHost("web-1"), "after a late report");

  HostReport next = late;
  next.applied_generation = 8;
  ASSERT_TRUE(store_->RecordHostReports({next}).ok());
  const HostRecord now = **store_->FindHost("web-1");
  EXPECT_TRUE(now.host_public_keys.empty());
  EXPECT_EQ(now.revocations_error, "") << "the next report clears the error";
  EXPECT_EQ(now.key_files, KeyFilesMode::kBoth);
}

// ListHosts and ListHostTokens page with these: each read continues after a key, so rows added
// or deleted between reads move nothing else.
// Last use: one row per (key, host, account), an upsert keeping the newest time and its
// address; sessions ended summed per (key, host) and audited once per report; the kill flag
// kept with the revocation, in the key, its change and the blocklist.
TEST_F(PostgresStoreTest, KeyUsesKeepTheNewestAndSessionsEndedAddUp) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  const KeyRecord a = Key("alice", 1), b = Key("alice", 2);
  ASSERT_TRUE(store_->AddKeys(Ctx(), {a, b}).ok());
  ASSERT_TRUE(store_->RegisterHost({"host:web-1", kT0}, "web-1", {}).ok());
  ASSERT_TRUE(store_->RegisterHost({"host:web-2", kT0}, "web-2", {}).ok());
  auto use = [](const KeyRecord& k, const std::string& host, const std::string& account,
                absl::Duration after, const std::string& from) {
    return KeyUseRecord{k.fingerprint, host, account, kT0 + after, from};
  };
  // Duplicates in one batch: the newest wins (one statement may touch a row once).
  ASSERT_TRUE(store_
                  ->RecordKeyUses({use(a, "web-1", "deploy", absl::Hours(2), "192.0.2.2"),
                                   use(a, "web-1", "deploy", absl::Hours(1), "192.0.2.1"),
                                   use(a, "web-2", "root", absl::Hours(3), "2001:db8::3")})
                  .ok());
  // An older use later is ignored, a newer one replaces time and address.
  ASSERT_TRUE(store_->RecordKeyUses({use(a, "web-2", "root", absl::Hours(1), "192.0.2.9")}).ok());
  ASSERT_TRUE(store_->RecordKeyUses({use(a, "web-1", "deploy", absl::Hours(5), "192.0.2.5")}).ok());

  auto usage = store_->KeyUsageOf(a.fingerprint, 10);
  ASSERT_TRUE(usage.ok()) << usage.status();
  ASSERT_EQ(usage->uses.size(), 2u);
  EXPECT_EQ(usage->uses[0].hostname, "web-1");  // newest first
  EXPECT_EQ(usage->uses[0].last_used, kT0 + absl::Hours(5));
  EXPECT_EQ(usage->uses[0].from_address, "192.0.2.5");
  EXPECT_EQ(usage->uses[1].hostname, "web-2");
  EXPECT_EQ(usage->uses[1].last_used, kT0 + absl::Hours(3));
  EXPECT_EQ(usage->uses[1].from_address, "2001:db8::3");
  EXPECT_EQ(store_->KeyUsageOf(a.fingerprint, 1)->uses.size(), 1u);

  // b never used: absent; a: its newest use over both hosts. The snapshot carries the same.
  auto all = store_->AllLastKeyUses();
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ(*all, (std::map<std::string, absl::Time>{{a.fingerprint, kT0 + absl::Hours(5)}}));
  EXPECT_EQ(store_->LoadSnapshot()->last_uses, *all);

  // Revoked with kill_sessions: the flag is in the key, its change and the blocklist.
  ASSERT_TRUE(store_->RevokeKey(Ctx(absl::Hours(6)), b.fingerprint, "stolen", true).ok());
  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  EXPECT_EQ(snap->revoked_fingerprints, (std::vector<SnapshotRevocation>{{b.fingerprint, true}}));
  for (const KeyRecord& k : snap->keys) {
    EXPECT_EQ(k.revocation_ends_sessions, k.fingerprint == b.fingerprint) << k.fingerprint;
  }
  auto changes = store_->ChangesSince(0, 100);
  ASSERT_TRUE(changes.ok());
  auto revoked = KeyFromJson(changes->back().after_json);
  ASSERT_TRUE(revoked.ok()) << revoked.status();
  EXPECT_TRUE(revoked->revocation_ends_sessions);

  // Sessions ended: summed per host whatever the report's generation; one audit event each.
  auto report = [&](const std::string& host, uint64_t generation, uint32_t count,
                    absl::Duration after) {
    HostReport r;
    r.hostname = host;
    r.at = kT0 + after;
    r.applied_generation = generation;
    r.sessions_ended = {{b.fingerprint, count}};
    return r;
  };
  ASSERT_TRUE(store_
                  ->RecordHostReports({report("web-1", 9, 2, absl::Hours(7)),
                                       report("web-2", 9, 1, absl::Hours(7)),
                                       report("gone", 9, 5, absl::Hours(7))})
                  .ok());
  ASSERT_TRUE(store_->RecordHostReports({report("web-1", 3, 3, absl::Hours(8))}).ok());
  usage = store_->KeyUsageOf(b.fingerprint, 10);
  ASSERT_TRUE(usage.ok()) << usage.status();
  ASSERT_EQ(usage->sessions_ended.size(), 2u) << "a host that does not exist is ignored";
  EXPECT_EQ(usage->sessions_ended[0].hostname, "web-1");
  EXPECT_EQ(usage->sessions_ended[0].count, 5u);
  EXPECT_EQ(usage->sessions_ended[0].last_at, kT0 + absl::Hours(8));
  EXPECT_EQ(usage->sessions_ended[1].count, 1u);
  auto audit = store_->ListAuditNewest(0, absl::InfinitePast(), 10);
  ASSERT_TRUE(audit.ok());
  int ended = 0;
  for (const AuditEvent& e : *audit) {
    if (e.action != "host.sessions.end") continue;
    ++ended;
    EXPECT_EQ(e.actor, "host:" + e.target);
    EXPECT_THAT(e.after_json, HasSubstr(b.fingerprint));
  }
  EXPECT_EQ(ended, 4) << "one per report, the unknown host's too";
}

TEST_F(PostgresStoreTest, HostsAndJoinTokensAreReadAPageAfterAKey) {
  for (const char* name : {"web-3", "db-1", "web-1", "web-10", "web-2"}) {
    ASSERT_TRUE(store_->RegisterHost({"tester", kT0}, name, {}).ok()) << name;
  }
  auto names = [](const absl::StatusOr<std::vector<HostRecord>>& hosts) {
    std::vector<std::string> out;
    if (hosts.ok()) {
      for (const HostRecord& h : *hosts) out.push_back(h.hostname);
    }
    return out;
  };
  using V = std::vector<std::string>;
  EXPECT_EQ(names(store_->ListHostsAfter("", 2)), (V{"db-1", "web-1"}));
  EXPECT_EQ(names(store_->ListHostsAfter("web-1", 2)), (V{"web-10", "web-2"}));
  ASSERT_TRUE(store_->RemoveHost({"tester", kT0}, "web-2").ok());
  ASSERT_TRUE(store_->RegisterHost({"tester", kT0}, "web-11", {}).ok());
  EXPECT_EQ(names(store_->ListHostsAfter("web-10", 2)), (V{"web-11", "web-3"}));
  EXPECT_EQ(names(store_->ListHostsAfter("web-2", 5)), (V{"web-3"})) << "after a deleted host";
  EXPECT_EQ(names(store_->ListHostsAfter("web-3", 5)), V{});
  // One host by name, without reading the fleet.
  absl::StatusOr<std::optional<HostRecord>> found = store_->FindHost("web-11");
  ASSERT_TRUE(found.ok()) << found.status();
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->hostname, "web-11");
  EXPECT_FALSE(store_->FindHost("web-2")->has_value()) << "removed";
  EXPECT_FALSE(store_->FindHost("nope")->has_value());
  // Several by name in one query (a rollout's targets), without their drift; unknown names
  // (and names with commas, quotes or braces) are simply not found.
  HostReport report;
  report.hostname = "web-3";
  report.at = kT0;
  report.applied_generation = 7;
  report.applied_digest = "d7";
  report.drift_json = R"([{"kind":"DRIFT_KIND_UNMANAGED_KEY"}])";
  ASSERT_TRUE(store_->RecordHostReports({report}).ok());
  absl::StatusOr<std::vector<HostRecord>> some =
      store_->FindHostsWithoutDrift({"web-3", "nope", "db-1", "a,b", "\"{x}\""});
  ASSERT_TRUE(some.ok()) << some.status();
  EXPECT_EQ(names(some), (V{"db-1", "web-3"}));
  EXPECT_EQ((*some)[1].applied_generation, 7u);
  EXPECT_EQ((*some)[1].applied_digest, "d7");
  EXPECT_EQ((*some)[1].drift_json, "[]");
  EXPECT_EQ(names(store_->FindHostsWithoutDrift({})), V{});

  // Join tokens: oldest first, ties on the time (to the microsecond) by id.
  auto token = [&](const std::string& id, absl::Time created) {
    JoinTokenRecord t;
    t.id = id;
    t.secret_hash = std::string(64, 'a');
    t.created_at = created;
    t.expires_at = created + absl::Hours(1);
    t.created_by = "tester";
    ASSERT_TRUE(store_->CreateJoinToken({"tester", created}, t).ok()) << id;
  };
  const absl::Time t1 = kT0 + absl::Microseconds(1);
  token("00000000000000bb", t1);
  token("00000000000000aa", t1);
  token("00000000000000ff", kT0);
  token("0000000000000001", kT0 + absl::Seconds(1));
  auto ids = [](const absl::StatusOr<std::vector<JoinTokenRecord>>& tokens) {
    std::vector<std::string> out;
    if (tokens.ok()) {
      for (const JoinTokenRecord& t : *tokens) out.push_back(t.id);
    }
    return out;
  };
  EXPECT_EQ(ids(store_->ListJoinTokensAfter(absl::InfinitePast(), "", 2)),
            (V{"00000000000000ff", "00000000000000aa"}));
  EXPECT_EQ(ids(store_->ListJoinTokensAfter(t1, "00000000000000aa", 2)),
            (V{"00000000000000bb", "0000000000000001"}));
  EXPECT_EQ(ids(store_->ListJoinTokensAfter(t1, "00000000000000bb", 2)), (V{"0000000000000001"}));
  EXPECT_EQ(ids(store_->ListJoinTokensAfter(kT0 + absl::Seconds(1), "0000000000000001", 2)), V{});
  auto all = store_->ListJoinTokensAfter(absl::InfinitePast(), "", 10);
  ASSERT_TRUE(all.ok()) << all.status();
  EXPECT_EQ((*all)[1].created_at, t1) << "times kept to the microsecond";
}

TEST_F(PostgresStoreTest, AuditChainVerifiesAndDetectsAnEditedRow) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  ASSERT_TRUE(store_->AddKeys(Ctx(), {Key("alice", 1), Key("alice", 2)}).ok());
  ASSERT_TRUE(store_->LabelKey(Ctx(), Key("alice", 1).fingerprint, "laptop").ok());
  auto events = store_->ListAudit(0, absl::InfinitePast(), 1000);
  ASSERT_TRUE(events.ok()) << events.status();
  ASSERT_EQ(events->size(), 3u) << "two keys added together are one event";
  EXPECT_EQ((*events)[0].action, "principal.add");
  EXPECT_EQ((*events)[1].action, "keys.add");
  EXPECT_THAT((*events)[1].after_json, HasSubstr(Key("alice", 2).fingerprint));
  EXPECT_EQ((*events)[2].action, "key.label");
  EXPECT_EQ((*events)[0].actor, "tester");
  AuditVerification ok = VerifyAuditChain(*events);
  EXPECT_TRUE(ok.ok) << ok.detail;
  EXPECT_EQ(ok.events_checked, 3u);

  Exec("UPDATE audit_events SET actor = 'mallory' WHERE action = 'key.label'");
  auto edited = store_->ListAudit(0, absl::InfinitePast(), 1000);
  AuditVerification bad = VerifyAuditChain(*edited);
  EXPECT_FALSE(bad.ok);
  EXPECT_EQ(bad.first_bad_sequence, (*events)[2].sequence);
  EXPECT_THAT(bad.detail, HasSubstr("edited"));

  Exec("DELETE FROM audit_events WHERE action = 'principal.add'");
  auto deleted = store_->ListAudit(0, absl::InfinitePast(), 1000);
  EXPECT_FALSE(VerifyAuditChain(*deleted).ok);
}

TEST_F(PostgresStoreTest, ConcurrentMutationsKeepTheFeedAndChainInOrder) {
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 25; ++i) {
        if (!store_->AddPrincipal(Ctx(), Person("p" + std::to_string(t) + "_" + std::to_string(i)))
                 .ok()) {
          ++failures;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  auto feed = store_->ChangesSince(0, 1000);
  ASSERT_TRUE(feed.ok());
  EXPECT_EQ(feed->size(), 100u);
  auto events = store_->ListAudit(0, absl::InfinitePast(), 1000);
  ASSERT_TRUE(events.ok());
  AuditVerification v = VerifyAuditChain(*events);
  EXPECT_TRUE(v.ok) << v.detail;
  EXPECT_EQ(v.events_checked, 100u);
}

TEST_F(PostgresStoreTest, APostgresRestartLosesNoAcknowledgedMutation) {
  std::atomic<bool> stop{false};
  std::vector<std::string> acknowledged;
  int refused = 0;
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      std::string name = "r" + std::to_string(i);
      auto r = store_->AddPrincipal(Ctx(), Person(name));
      if (r.ok()) {
        acknowledged.push_back(name);
      } else {
        ++refused;  // UNAVAILABLE is allowed; a lie is not
        EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable) << r.status();
      }
    }
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  server_->Stop(/*immediate=*/true);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  server_->Start();
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  stop = true;
  writer.join();

  auto snap = store_->LoadSnapshot();
  ASSERT_TRUE(snap.ok()) << snap.status();
  std::set<std::string> stored;
  for (const auto& p : snap->principals) stored.insert(p.name);
  for (const auto& name : acknowledged) EXPECT_TRUE(stored.count(name)) << name << " was lost";
  EXPECT_GT(acknowledged.size(), 10u);
  // The store works again after the restart without being recreated.
  EXPECT_TRUE(store_->AddPrincipal(Ctx(), Person("after-restart")).ok());
  auto events = store_->ListAudit(0, absl::InfinitePast(), 100000);
  ASSERT_TRUE(events.ok());
  EXPECT_TRUE(VerifyAuditChain(*events).ok);
}

}  // namespace
}  // namespace keyfleet::controller

namespace keyfleet::controller {
namespace {

std::vector<std::string> TwoSinks(const notify::Notification&) {
  return {"webhook:a", "smtp"};
}

// The outbox: written in the mutation's transaction (a refused mutation writes nothing), fanned
// out per sink, each delivery leased by one claimer, retried, dead-lettered and retried by hand.
TEST_F(PostgresStoreTest, TheOutboxIsWrittenWithItsMutationAndDeliveredOncePerSink) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  EXPECT_FALSE(store_->AddKeys(Ctx(), {Key("nobody", 9)}).ok());
  KeyRecord old_key = Key("alice", 1);
  ASSERT_TRUE(store_->AddKeys(Ctx(), {old_key}).ok());
  std::vector<GrantRecord> carried;
  ASSERT_TRUE(store_
                  ->RotateKey(Ctx(absl::Hours(1)),
                              {old_key.fingerprint, kT0 + absl::Hours(2), Key("alice", 2)},
                              &carried)
                  .ok());
  auto counts = store_->CountDeliveries();
  ASSERT_TRUE(counts.ok()) << counts.status();
  EXPECT_EQ(counts->not_fanned_out, 2u) << "key.added and key.rotated; not the refused add, and "
                                           "not the successor's add";

  auto fanned = store_->FanOut(TwoSinks, kT0, 100);
  ASSERT_TRUE(fanned.ok()) << fanned.status();
  EXPECT_EQ(*fanned, 2u);
  EXPECT_EQ(*store_->FanOut(TwoSinks, kT0, 100), 0u) << "fanned out once";
  EXPECT_EQ(store_->CountDeliveries()->pending, 4u);

  const absl::Duration lease = absl::Minutes(2);
  std::vector<ClaimedDelivery> claimed;
  for (int i = 0; i < 4; ++i) {
    auto c = store_->ClaimDue(kT0, lease);
    ASSERT_TRUE(c.ok() && c->has_value()) << i;
    claimed.push_back(**c);
  }
  EXPECT_FALSE(store_->ClaimDue(kT0, lease)->has_value()) << "all four are leased";
  EXPECT_EQ(claimed[0].notification.event, "key.added");
  EXPECT_EQ(claimed[0].notification.email_to, "alice@example.com");
  EXPECT_EQ(claimed[0].attempts, 1);
  EXPECT_THAT(claimed[0].notification.payload_json, HasSubstr(old_key.fingerprint));
  bool saw_rotated = false;
  for (const ClaimedDelivery& c : claimed) saw_rotated |= c.notification.event == "key.rotated";
  EXPECT_TRUE(saw_rotated);

  // A claimer that died: its lease runs out and the delivery is due again.
  auto again = store_->ClaimDue(kT0 + lease + absl::Seconds(1), lease);
  ASSERT_TRUE(again.ok() && again->has_value());
  EXPECT_EQ((*again)->attempts, 2);

  ASSERT_TRUE(store_->MarkDelivered(claimed[1].delivery_id, kT0).ok());
  ASSERT_TRUE(store_->MarkRetry(claimed[2].delivery_id, kT0 + absl::Hours(1), "HTTP 500").ok());
  ASSERT_TRUE(store_->MarkDead(claimed[3].delivery_id, "HTTP 404").ok());
  counts = store_->CountDeliveries();
  EXPECT_EQ(counts->delivered, 1u);
  EXPECT_EQ(counts->dead, 1u);
  EXPECT_EQ(counts->pending, 2u);
  auto dead = store_->ListDeliveries("dead", 10);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->size(), 1u);
  EXPECT_EQ((*dead)[0].last_error, "HTTP 404");

  EXPECT_EQ(store_->RetryDelivery(claimed[1].delivery_id, kT0).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->RetryDelivery(987654, kT0).code(), absl::StatusCode::kNotFound);
  ASSERT_TRUE(store_->RetryDelivery(claimed[3].delivery_id, kT0).ok());
  auto retried = store_->ClaimDue(kT0 + absl::Seconds(1), lease);
  ASSERT_TRUE(retried.ok() && retried->has_value());
  EXPECT_EQ((*retried)->delivery_id, claimed[3].delivery_id);
  EXPECT_EQ((*retried)->attempts, 1) << "attempts start over";
}

TEST_F(PostgresStoreTest, ScanEventsAreWrittenOncePerDedupeKey) {
  OutboxEntry e;
  e.event = "key.overdue";
  e.at = kT0;
  e.subject = "s";
  e.text = "t";
  e.payload_json = "{}";
  e.dedupe_key = "key.overdue:SHA256:x";
  ASSERT_TRUE(store_->Enqueue({e}).ok());
  ASSERT_TRUE(store_->Enqueue({e, e}).ok());
  EXPECT_EQ(store_->CountDeliveries()->not_fanned_out, 1u);
}

// Two replicas claiming at once: each due delivery goes to exactly one of them.
TEST_F(PostgresStoreTest, TwoReplicasNeverClaimTheSameDelivery) {
  ASSERT_TRUE(store_->AddPrincipal(Ctx(), Person("alice")).ok());
  for (uint64_t i = 1; i <= 40; ++i) ASSERT_TRUE(store_->AddKeys(Ctx(), {Key("alice", i)}).ok());
  ASSERT_EQ(*store_->FanOut(TwoSinks, kT0, 100), 40u);
  PostgresStore other(PgOptions{url_, 4, absl::Seconds(20)});
  std::vector<int64_t> mine, theirs;
  auto drain = [](PostgresStore& s, std::vector<int64_t>& out) {
    for (int i = 0; i < 200; ++i) {
      auto c = s.ClaimDue(kT0, absl::Minutes(2));
      if (!c.ok() || !c->has_value()) return;
      out.push_back((*c)->delivery_id);
    }
  };
  std::thread a([&] { drain(*store_, mine); });
  std::thread b([&] { drain(other, theirs); });
  a.join();
  b.join();
  std::set<int64_t> all(mine.begin(), mine.end());
  for (int64_t id : theirs) EXPECT_TRUE(all.insert(id).second) << "claimed twice: " << id;
  EXPECT_EQ(all.size(), 80u);
}

}  // namespace
}  // namespace keyfleet::controller

namespace keyfleet::controller {
namespace {

// A call waiting for a connection is bounded by the same budget as its retries: with every
// connection busy it gives up in time, says the database is unavailable, and changes nothing.
TEST_F(PostgresStoreTest, WaitingForABusyPoolIsBoundedAndChangesNothing) {
  PgPool pool(PgOptions{url_, 1, absl::Seconds(1)}, [](pqxx::connection&) {});
  std::atomic<bool> holding{false};
  std::thread holder([&] {
    absl::Status s = pool.Transact("hold", [&](pqxx::dbtransaction&) {
      holding = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2500));
      return absl::OkStatus();
    });
    EXPECT_TRUE(s.ok()) << s;
  });
  while (!holding) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  bool ran = false;
  const absl::Time start = absl::Now();
  absl::Status waited = pool.Transact("wait", [&](pqxx::dbtransaction&) {
    ran = true;
    return absl::OkStatus();
  });
  const absl::Duration took = absl::Now() - start;
  holder.join();
  EXPECT_TRUE(IsDatabaseUnavailable(waited)) << waited;
  EXPECT_THAT(std::string(waited.message()), HasSubstr("every database connection stayed busy"));
  EXPECT_FALSE(ran) << "nothing runs after the budget";
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_LT(took, absl::Milliseconds(2000)) << "gave up within the budget, not after the holder";
}

}  // namespace
}  // namespace keyfleet::controller
