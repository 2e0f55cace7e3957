#include "cli/admin_commands.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <limits>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/exit_codes.h"
#include "cli/online_command.h"
#include "cli/table.h"
#include "common/duration_text.h"

namespace keyfleet::cli {
namespace {

// ListAuditRequest.page_size's cap (admin.proto): events in one page.
constexpr uint32_t kMaxAuditPageSize = 10000;

std::string UnmanagedName(v1::UnmanagedKeys mode) {
  switch (mode) {
    case v1::UNMANAGED_KEYS_REPORT:
      return "report";
    case v1::UNMANAGED_KEYS_REMOVE:
      return "remove";
    default:
      return "keep";
  }
}

}  // namespace

namespace {

std::string DurationOf(const google::protobuf::Duration& d) {
  return FormatDurationText(absl::Seconds(d.seconds()));
}

void AddRuleRows(Table& table, const std::string& who, const v1::RotationRule& r) {
  table.Add({who + "max key age", DurationOf(r.max_key_age())});
  table.Add({who + "warning window", DurationOf(r.warning_window())});
  table.Add({who + "rotation overlap", DurationOf(r.rotation_overlap())});
}

void PrintShortened(const v1::SetPolicyResponse& resp) {
  Table table({"KEY", "PRINCIPAL", "CREATED", "EXPIRES NOW", "EXPIRES AFTER"});
  for (const v1::ShortenedKey& k : resp.shortened()) {
    table.Add({k.fingerprint(), k.principal(), FormatTimestamp(k.created_at().seconds()),
               FormatTimestamp(k.expires_before().seconds()),
               FormatTimestamp(k.expires_after().seconds())});
  }
  std::cout << table.Render();
}

}  // namespace

void AddPolicyCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* group = app.add_subcommand("policy", "Rotation and key-type policy");
  group->require_subcommand(1);
  CLI::App* show = group->add_subcommand("show", "Show the policy in force");
  OnRun(show, globals, exit_code, [&globals](ControllerClient& client) {
    v1::Policy p;
    grpc::Status s = client.admin().GetPolicy(client.Context().get(), v1::GetPolicyRequest(), &p);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(p) << "\n";
      return kExitOk;
    }
    Table table({"SETTING", "VALUE"});
    table.Add({"max key age", DurationOf(p.max_key_age())});
    table.Add({"warning window", DurationOf(p.warning_window())});
    table.Add({"rotation overlap", DurationOf(p.rotation_overlap())});
    if (p.has_person()) AddRuleRows(table, "people: ", p.person());
    if (p.has_service()) AddRuleRows(table, "services: ", p.service());
    table.Add({"allowed key types", absl::StrJoin(p.allowed_key_types(), ",")});
    table.Add({"min RSA bits", std::to_string(p.min_rsa_bits())});
    table.Add({"unmanaged keys", UnmanagedName(p.unmanaged_keys())});
    table.Add({"revoke ends sessions", p.end_sessions_on_revoke() ? "yes" : "no"});
    std::cout << table.Render();
    if (!p.has_person() || !p.has_service()) {
      std::cout << "("
                << (!p.has_person() && !p.has_service() ? "people and services"
                    : !p.has_person()                   ? "people"
                                                        : "services")
                << " follow the max key age, warning window and overlap above)\n";
    }
    return kExitOk;
  });

  struct SetArgs {
    std::string kind, max_age, warn, overlap, allow_types, unmanaged;
    uint32_t min_rsa_bits = 0;
    bool inherit = false, apply_to_existing = false, dry_run = false;
    std::string end_sessions;  // "yes", "no" or "" (unchanged)
  };
  auto set_args = std::make_shared<SetArgs>();
  CLI::App* set = group->add_subcommand(
      "set",
      "Change the policy; unset options keep their value. A shorter max age applies to new keys; "
      "existing keys keep their expiry (and are reported overdue once older) unless "
      "--apply-to-existing shortens them (see who first with --dry-run)");
  set->add_option("--kind", set_args->kind,
                  "Set the rotation rule (--max-age, --warn, --overlap) of one principal kind "
                  "only: person or service; without it, the rule of every kind without its own")
      ->check(CLI::IsMember({"person", "service"}));
  set->add_option("--max-age", set_args->max_age, "Max key age, e.g. 365d");
  set->add_option("--warn", set_args->warn, "Warning window before expiry, e.g. 30d");
  set->add_option("--overlap", set_args->overlap, "Rotation overlap, e.g. 14d");
  set->add_flag("--inherit", set_args->inherit,
                "With --kind: drop that kind's own rule; it follows the default again");
  set->add_flag("--apply-to-existing", set_args->apply_to_existing,
                "Shorten existing keys' lives to the new rule; a key already past it keeps the "
                "warning window from now, so nobody is locked out without notice");
  set->add_flag("--dry-run", set_args->dry_run,
                "With --apply-to-existing: list the keys it would shorten and change nothing");
  set->add_option("--min-rsa-bits", set_args->min_rsa_bits, "Minimum RSA size (at least 2048)");
  set->add_option("--allow-types", set_args->allow_types,
                  "Comma-separated key types, e.g. ssh-ed25519,ecdsa-sha2-nistp256");
  set->add_option("--unmanaged", set_args->unmanaged,
                  "What agents do with keys keyfleet did not write: keep, report or remove")
      ->check(CLI::IsMember({"keep", "report", "remove"}));
  set->add_option("--end-sessions-on-revoke", set_args->end_sessions,
                  "Whether `key revoke` ends the key's live sshd sessions when it does not say "
                  "(--kill-sessions / --no-kill-sessions): yes or no")
      ->check(CLI::IsMember({"yes", "no"}));
  OnRun(set, globals, exit_code, [set_args, &globals](ControllerClient& client) {
    const SetArgs& a = *set_args;
    if (a.inherit && a.kind.empty()) return UsageError("--inherit needs --kind person|service");
    if (a.inherit && (!a.max_age.empty() || !a.warn.empty() || !a.overlap.empty())) {
      return UsageError(
          "--inherit drops the kind's own rule; do not give --max-age/--warn/--overlap");
    }
    if (a.dry_run && !a.apply_to_existing) {
      return UsageError("--dry-run shows what --apply-to-existing would shorten; give both");
    }
    v1::SetPolicyRequest req;
    v1::Policy* p = req.mutable_policy();
    v1::RotationRule rule;
    auto duration = [](const std::string& flag, const std::string& text,
                       google::protobuf::Duration* out) -> bool {
      absl::StatusOr<absl::Duration> d = ParseDurationText(text);
      if (!d.ok()) {
        UsageError(flag + ": " + std::string(d.status().message()));
        return false;
      }
      out->set_seconds(absl::ToInt64Seconds(*d));
      return true;
    };
    if ((!a.max_age.empty() && !duration("--max-age", a.max_age, rule.mutable_max_key_age())) ||
        (!a.warn.empty() && !duration("--warn", a.warn, rule.mutable_warning_window())) ||
        (!a.overlap.empty() &&
         !duration("--overlap", a.overlap, rule.mutable_rotation_overlap()))) {
      return kExitUsage;
    }
    const v1::PrincipalKind kind = a.kind == "person"    ? v1::PRINCIPAL_KIND_PERSON
                                   : a.kind == "service" ? v1::PRINCIPAL_KIND_SERVICE
                                                         : v1::PRINCIPAL_KIND_UNSPECIFIED;
    if (a.inherit) {
      req.add_inherit(kind);
    } else if (kind == v1::PRINCIPAL_KIND_PERSON) {
      *p->mutable_person() = rule;
    } else if (kind == v1::PRINCIPAL_KIND_SERVICE) {
      *p->mutable_service() = rule;
    } else {
      if (rule.has_max_key_age()) *p->mutable_max_key_age() = rule.max_key_age();
      if (rule.has_warning_window()) *p->mutable_warning_window() = rule.warning_window();
      if (rule.has_rotation_overlap()) *p->mutable_rotation_overlap() = rule.rotation_overlap();
    }
    p->set_min_rsa_bits(a.min_rsa_bits);
    for (absl::string_view t : absl::StrSplit(a.allow_types, ',', absl::SkipEmpty())) {
      p->add_allowed_key_types(std::string(t));
    }
    if (a.unmanaged == "keep") p->set_unmanaged_keys(v1::UNMANAGED_KEYS_KEEP);
    if (a.unmanaged == "report") p->set_unmanaged_keys(v1::UNMANAGED_KEYS_REPORT);
    if (a.unmanaged == "remove") p->set_unmanaged_keys(v1::UNMANAGED_KEYS_REMOVE);
    if (!a.end_sessions.empty()) p->set_end_sessions_on_revoke(a.end_sessions == "yes");
    req.set_apply_to_existing(a.apply_to_existing);
    req.set_dry_run(a.dry_run);
    v1::SetPolicyResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::SetPolicy, req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    const int n = resp.shortened_size();
    if (a.dry_run) {
      std::cout << "dry run, nothing changed: the new policy would shorten " << n
                << (n == 1 ? " key" : " keys") << (n > 0 ? ":" : "") << "\n";
      if (n > 0) PrintShortened(resp);
      return kExitOk;
    }
    std::cout << (resp.change() == 0
                      ? "policy unchanged"
                      : "policy updated (change " + std::to_string(resp.change()) + ")")
              << "\n";
    if (resp.applied() && n > 0) {
      std::cout << "shortened the lives of " << n << (n == 1 ? " key" : " keys") << ":\n";
      PrintShortened(resp);
    } else if (n > 0) {
      std::cout << n << (n == 1 ? " existing key outlives" : " existing keys outlive")
                << " the new rule; they keep their expiry and 'keyfleet report rotation' lists "
                   "them overdue once older (shorten them with --apply-to-existing; see which "
                   "with --dry-run)\n";
    }
    return kExitOk;
  });
}

void AddAuditCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  struct ListArgs {
    std::string since;
    bool newest_first = false;
    uint32_t latest = 0;  // 0: every event
    // Newest first: only the listing itself; `audit export` and `audit verify` refuse it.
    bool ordered() const { return newest_first || latest > 0; }
  };
  auto args = std::make_shared<ListArgs>();
  CLI::App* audit = app.add_subcommand(
      "audit",
      "The audit log (every mutation: who, what, when, before/after), oldest first unless "
      "--newest-first or --latest N");
  audit->add_option("--since", args->since,
                    "Only events since: 2026-11-01, 2026-11-01T09:00Z or 24h");
  audit->add_flag("--newest-first", args->newest_first, "List the newest events first");
  audit
      ->add_option("--latest", args->latest,
                   "Only the N newest events, newest first (with --since: the N newest of those)")
      ->check(CLI::Range(uint32_t{1}, std::numeric_limits<uint32_t>::max()));
  CLI::App* verify = audit->add_subcommand(
      "verify", "Recompute the audit hash chain; exit 1 and name the first bad event if broken");
  OnRun(verify, globals, exit_code, [args, &globals](ControllerClient& client) {
    if (args->ordered()) {
      return UsageError(
          "`audit verify` checks the whole log: --newest-first and --latest are for listing it "
          "(keyfleet audit --latest N)");
    }
    v1::VerifyAuditResponse resp;
    std::unique_ptr<grpc::ClientContext> ctx = client.Context();
    // A million signed events take minutes to check (every checkpoint's signature).
    ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::minutes(30));
    grpc::Status s = client.admin().VerifyAudit(ctx.get(), v1::VerifyAuditRequest(), &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
    } else if (resp.ok()) {
      std::cout << "audit log intact: " << resp.events_checked() << " events chained, "
                << resp.checkpoints_checked() << " signed checkpoints verified\n";
      if (!resp.detail().empty()) std::cout << "  note: " << resp.detail() << "\n";
    } else {
      std::cout << "audit log BROKEN at sequence " << resp.first_bad_sequence() << ": "
                << resp.detail() << "\n";
    }
    return resp.ok() ? kExitOk : kExitRefused;
  });
  auto follow = std::make_shared<bool>(false);
  CLI::App* exporter = audit->add_subcommand(
      "export",
      "Write the audit log as JSON lines for a SIEM: one event per line with its hash, the "
      "previous hash and the signed checkpoint covering it (id, key, time, signature); --follow "
      "keeps streaming new events as they commit");
  exporter->add_flag("--follow", *follow, "Keep running and write new events as they commit");
  OnRun(exporter, globals, exit_code, [args, follow](ControllerClient& client) {
    if (args->ordered()) {
      return UsageError(
          "`audit export` writes the log oldest first, as it was chained; --newest-first and "
          "--latest are for listing it");
    }
    v1::ExportAuditRequest req;
    if (!args->since.empty()) {
      absl::StatusOr<absl::Time> when = ParseWhen(args->since, absl::Now(), /*past=*/true);
      if (!when.ok()) return UsageError("--since: " + std::string(when.status().message()));
      req.mutable_since()->set_seconds(absl::ToUnixSeconds(*when));
    }
    req.set_follow(*follow);
    std::unique_ptr<grpc::ClientContext> ctx = client.Context();
    // An export of a long log takes a while; a follower runs until interrupted.
    ctx->set_deadline(*follow ? std::chrono::system_clock::time_point::max()
                              : std::chrono::system_clock::now() + std::chrono::minutes(30));
    std::unique_ptr<grpc::ClientReader<v1::ExportedAuditEvent>> reader =
        client.admin().ExportAudit(ctx.get(), req);
    v1::ExportedAuditEvent event;
    while (reader->Read(&event)) std::cout << ToJsonLine(event) << std::endl;
    grpc::Status s = reader->Finish();
    if (!s.ok()) return client.Fail(s);
    return kExitOk;
  });
  audit->callback([verify, exporter, args, &globals, &exit_code] {
    if (verify->parsed() || exporter->parsed()) return;
    exit_code = WithClient(globals, [&](ControllerClient& client) {
      v1::ListAuditRequest req;
      if (!args->since.empty()) {
        absl::StatusOr<absl::Time> when = ParseWhen(args->since, absl::Now(), /*past=*/true);
        if (!when.ok()) return UsageError("--since: " + std::string(when.status().message()));
        req.mutable_since()->set_seconds(absl::ToUnixSeconds(*when));
      }
      // Newest first, the controller's page tokens are its newest-first ones: ForEachPage gives
      // each answer's back unchanged.
      req.set_newest_first(args->ordered());
      if (args->latest > 0) req.set_page_size(std::min(args->latest, kMaxAuditPageSize));
      // Page by page: JSON is written as each page arrives (one event per line inside the
      // {"events": [...]} answer); the table keeps only its five columns.
      const bool json = globals.output == OutputFormat::kJson;
      Table table({"SEQ", "AT", "ACTOR", "ACTION", "TARGET"});
      bool first = true;
      bool opened = false;
      uint64_t listed = 0;
      auto wanted = [&] { return args->latest == 0 || listed < args->latest; };
      grpc::Status s = client.ForEachPage(
          &v1::AdminService::Stub::ListAudit, req, [&](const v1::ListAuditResponse& page) {
            if (json && !opened) std::cout << "{\"events\": [";
            opened = true;
            for (const auto& e : page.events()) {
              if (!wanted()) break;
              ++listed;
              if (json) {
                std::cout << (first ? "\n" : ",\n") << ToJsonLine(e);
                first = false;
                continue;
              }
              table.Add({std::to_string(e.sequence()), FormatTimestamp(e.at().seconds()), e.actor(),
                         e.action(), e.target()});
            }
            return wanted();
          });
      // A failure part way leaves the JSON unfinished on purpose; the exit code says why.
      if (!s.ok()) return client.Fail(s);
      if (json) std::cout << (first ? "" : "\n") << "]}" << std::endl;
      if (!json) std::cout << table.Render();
      return kExitOk;
    });
  });
}

}  // namespace keyfleet::cli
