// Audit log scale benchmark (not a ctest test; issue 15). Starts a private PostgreSQL, fills it
// with EVENTS valid chained audit events (signed checkpoints of EVENTS_PER_CHECKPOINT events),
// then times verifying the whole log and listing it page by page, with this process's RSS
// before, at its peak during, and after each step:
//   verify_store   VerifyStoredAuditLog on the PostgresStore (what the VerifyAudit handler runs)
//   verify_rpc     the VerifyAudit RPC of a controller started in this process on that database
//   list_store     PostgresStore::ListAudit, 1,000 events a page (the RPC's default page)
//   list_rpc       the ListAudit RPC page by page, as `keyfleet audit` follows next_page_token
//   verify_whole_log (with `compare`) every event and checkpoint in memory, then VerifyAuditLog:
//                  what `audit verify` did before it streamed
//
//   audit_scale [EVENTS=1000000] [EVENTS_PER_CHECKPOINT=1] [compare]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <pqxx/pqxx>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/runtime_setup.h"
#include "controller/audit_chain.h"
#include "controller/audit_signer.h"
#include "controller/controller_server.h"
#include "controller/handlers/report_handlers.h"
#include "controller/store/migrations.h"
#include "controller/store/postgres_store.h"
#include "keyfleet/v1/admin.grpc.pb.h"
#include "tests/support/admin_token.h"
#include "tests/support/audit_log_fill.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/temp_postgres.h"

namespace kc = keyfleet::controller;
namespace kt = keyfleet::testing;
namespace v1 = keyfleet::v1;
using Clock = std::chrono::steady_clock;

namespace {

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "%s\n", what.c_str());
  std::exit(1);
}

// Runs `body` and prints its time and this process's RSS before, at its peak and after.
template <typename Body>
void Measure(const char* name, Body body) {
  const long before = kt::CurrentRssKiB();
  if (!kt::ResetPeakRss()) Die("cannot reset the peak RSS (/proc/self/clear_refs)");
  const auto t0 = Clock::now();
  body();
  const auto t1 = Clock::now();
  std::printf("%s_s=%.2f %s_rss_before_kib=%ld %s_rss_peak_kib=%ld %s_rss_after_kib=%ld\n", name,
              Seconds(t0, t1), name, before, name, kt::PeakRssKiB(), name, kt::CurrentRssKiB());
  std::fflush(stdout);
}

void PrintVerification(const char* name, const kc::AuditVerification& v) {
  std::printf("%s_ok=%d events_checked=%llu checkpoints_checked=%llu detail=%s\n", name,
              v.ok ? 1 : 0, static_cast<unsigned long long>(v.events_checked),
              static_cast<unsigned long long>(v.checkpoints_checked), v.detail.c_str());
  std::fflush(stdout);
}

void PrintTableSizes(const std::string& url) {
  pqxx::connection conn(url);
  pqxx::nontransaction q(conn);
  auto mib = [&](const char* table) {
    return q.exec1(std::string("SELECT pg_total_relation_size('") + table + "')")[0].as<double>() /
           1048576.0;
  };
  std::printf("audit_events_table_mib=%.1f audit_checkpoints_table_mib=%.1f\n", mib("audit_events"),
              mib("audit_checkpoints"));
}

// The controller, in this process, on the filled database and its audit key.
std::unique_ptr<kc::ControllerServer> StartController(
    const std::string& url, const kt::ScopedTempDir& dir, const keyfleet::Clock& clock,
    std::unique_ptr<v1::AdminService::Stub>* admin) {
  kc::ControllerConfig config;
  config.database = url;
  config.listen = "127.0.0.1:0";
  config.ca_dir = (dir.path() / "ca").string();
  config.tls_names = {"127.0.0.1"};
  config.bootstrap_token_file = (dir.path() / "bootstrap.token").string();
  auto controller = std::make_unique<kc::ControllerServer>(config, clock);
  if (absl::Status started = controller->Start(); !started.ok()) Die(started.ToString());
  absl::StatusOr<std::string> token = kt::ReadTokenFile(config.bootstrap_token_file);
  if (!token.ok()) Die(token.status().ToString());
  *admin = v1::AdminService::NewStub(controller->InProcessChannel(kt::TokenInterceptors(*token)));
  return controller;
}

}  // namespace

int main(int argc, char** argv) {
  keyfleet::DisableAbslDebugChecks();
  const uint64_t events = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  const size_t per_checkpoint = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;
  const bool compare = argc > 3 && std::string(argv[3]) == "compare";
  if (events == 0 || per_checkpoint == 0) Die("EVENTS and EVENTS_PER_CHECKPOINT must be > 0");

  kt::TempPostgres pg;
  kt::ScopedTempDir dir("keyfleet-audit-bench");
  const std::string url = pg.Url(pg.CreateDatabase());
  kc::PostgresStore store(kc::PgOptions{url, 4, absl::Seconds(20)});
  if (auto migrated = store.Migrate(); !migrated.ok()) Die(migrated.status().ToString());
  auto signer = kc::AuditSigner::LoadOrCreate((dir.path() / "ca").string(), absl::Now());
  if (!signer.ok()) Die(signer.status().ToString());
  const std::vector<const kc::AuditVerifier*> trusted = {&(*signer)->verifier()};
  std::printf("rss_start_kib=%ld\n", kt::CurrentRssKiB());

  kt::AuditFillOptions fill;
  fill.events = events;
  fill.events_per_checkpoint = per_checkpoint;
  fill.signer = signer->get();
  absl::StatusOr<kt::AuditFillResult> filled;
  Measure("fill", [&] { filled = kt::FillAuditLog(url, fill); });
  if (!filled.ok()) Die(filled.status().ToString());
  std::printf("events=%llu checkpoints=%llu last_sequence=%llu payload_mib=%.1f\n",
              static_cast<unsigned long long>(filled->events),
              static_cast<unsigned long long>(filled->checkpoints),
              static_cast<unsigned long long>(filled->last_sequence),
              static_cast<double>(filled->payload_bytes) / 1048576.0);
  PrintTableSizes(url);

  bool all_ok = true;
  kc::AuditVerification verified;
  Measure("verify_store", [&] {
    absl::StatusOr<kc::AuditVerification> v =
        kc::VerifyStoredAuditLog(store, trusted, filled->last_sequence);
    if (!v.ok()) Die(v.status().ToString());
    verified = *v;
  });
  PrintVerification("verify_store", verified);
  all_ok = all_ok && verified.ok && verified.events_checked == filled->events;

  uint64_t listed = 0;
  Measure("list_store", [&] {
    uint64_t after = 0;
    for (;;) {
      auto page = store.ListAudit(after, absl::InfinitePast(), 1000);
      if (!page.ok()) Die(page.status().ToString());
      if (page->empty()) break;
      listed += page->size();
      after = page->back().sequence;
    }
  });
  std::printf("list_store_events=%llu\n", static_cast<unsigned long long>(listed));
  all_ok = all_ok && listed == filled->events;

  {
    keyfleet::SystemClock clock;
    std::unique_ptr<v1::AdminService::Stub> admin;
    std::unique_ptr<kc::ControllerServer> controller;
    Measure("controller_start", [&] { controller = StartController(url, dir, clock, &admin); });

    v1::VerifyAuditResponse resp;
    Measure("verify_rpc", [&] {
      grpc::ClientContext ctx;
      grpc::Status s = admin->VerifyAudit(&ctx, v1::VerifyAuditRequest(), &resp);
      if (!s.ok()) Die("VerifyAudit: " + s.error_message());
    });
    std::printf("verify_rpc_ok=%d events_checked=%llu checkpoints_checked=%llu detail=%s\n",
                resp.ok() ? 1 : 0, static_cast<unsigned long long>(resp.events_checked()),
                static_cast<unsigned long long>(resp.checkpoints_checked()), resp.detail().c_str());
    // The controller appended its bootstrap token's event when it started.
    all_ok = all_ok && resp.ok() && resp.events_checked() > filled->events;

    uint64_t listed_rpc = 0;
    uint64_t pages = 0;
    Measure("list_rpc", [&] {
      v1::ListAuditRequest req;
      for (;;) {
        grpc::ClientContext ctx;
        v1::ListAuditResponse page;
        grpc::Status s = admin->ListAudit(&ctx, req, &page);
        if (!s.ok()) Die("ListAudit: " + s.error_message());
        listed_rpc += static_cast<uint64_t>(page.events_size());
        ++pages;
        if (page.next_page_token().empty()) break;
        req.set_page_token(page.next_page_token());
      }
    });
    std::printf("list_rpc_events=%llu list_rpc_pages=%llu\n",
                static_cast<unsigned long long>(listed_rpc),
                static_cast<unsigned long long>(pages));
    all_ok = all_ok && listed_rpc > filled->events;
  }

  if (compare) {
    kc::AuditVerification whole;
    Measure("verify_whole_log", [&] {
      std::vector<kc::AuditEvent> all_events;
      std::vector<kc::AuditCheckpoint> all_checkpoints;
      kc::AuditLogVisitor collect;
      collect.start = [&] {
        all_events.clear();
        all_checkpoints.clear();
      };
      collect.checkpoint = [&](const kc::AuditCheckpoint& cp) {
        all_checkpoints.push_back(cp);
        return absl::OkStatus();
      };
      collect.event = [&](const kc::AuditEvent& e) {
        all_events.push_back(e);
        return absl::OkStatus();
      };
      if (absl::Status s = store.VisitAuditLog(collect); !s.ok()) Die(s.ToString());
      whole = kc::VerifyAuditLog(all_events, all_checkpoints, trusted, 0);
    });
    PrintVerification("verify_whole_log", whole);
    all_ok = all_ok && whole.ok;
  }
  return all_ok ? 0 : 1;
}
