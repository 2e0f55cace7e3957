#include "cli/admin_commands.h"

#include <iostream>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/exit_codes.h"
#include "cli/online_command.h"
#include "cli/table.h"
#include "common/duration_text.h"

namespace keyfleet::cli {
namespace {

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
    table.Add({"max key age", FormatDurationText(absl::Seconds(p.max_key_age().seconds()))});
    table.Add({"warning window", FormatDurationText(absl::Seconds(p.warning_window().seconds()))});
    table.Add(
        {"rotation overlap", FormatDurationText(absl::Seconds(p.rotation_overlap().seconds()))});
    table.Add({"allowed key types", absl::StrJoin(p.allowed_key_types(), ",")});
    table.Add({"min RSA bits", std::to_string(p.min_rsa_bits())});
    table.Add({"unmanaged keys", UnmanagedName(p.unmanaged_keys())});
    std::cout << table.Render();
    return kExitOk;
  });

  struct SetArgs {
    std::string max_age, warn, overlap, allow_types, unmanaged;
    uint32_t min_rsa_bits = 0;
  };
  auto set_args = std::make_shared<SetArgs>();
  CLI::App* set = group->add_subcommand("set", "Change the policy; unset options keep their value");
  set->add_option("--max-age", set_args->max_age, "Max key age, e.g. 365d");
  set->add_option("--warn", set_args->warn, "Warning window before expiry, e.g. 30d");
  set->add_option("--overlap", set_args->overlap, "Rotation overlap, e.g. 14d");
  set->add_option("--min-rsa-bits", set_args->min_rsa_bits, "Minimum RSA size (at least 2048)");
  set->add_option("--allow-types", set_args->allow_types,
                  "Comma-separated key types, e.g. ssh-ed25519,ecdsa-sha2-nistp256");
  set->add_option("--unmanaged", set_args->unmanaged,
                  "What agents do with keys keyfleet did not write: keep, report or remove")
      ->check(CLI::IsMember({"keep", "report", "remove"}));
  OnRun(set, globals, exit_code, [set_args, &globals](ControllerClient& client) {
    v1::SetPolicyRequest req;
    v1::Policy* p = req.mutable_policy();
    auto duration = [](const std::string& flag, const std::string& text,
                       google::protobuf::Duration* out) -> bool {
      if (text.empty()) return true;
      absl::StatusOr<absl::Duration> d = ParseDurationText(text);
      if (!d.ok()) {
        UsageError(flag + ": " + std::string(d.status().message()));
        return false;
      }
      out->set_seconds(absl::ToInt64Seconds(*d));
      return true;
    };
    if (!duration("--max-age", set_args->max_age, p->mutable_max_key_age()) ||
        !duration("--warn", set_args->warn, p->mutable_warning_window()) ||
        !duration("--overlap", set_args->overlap, p->mutable_rotation_overlap())) {
      return kExitUsage;
    }
    if (set_args->max_age.empty()) p->clear_max_key_age();
    if (set_args->warn.empty()) p->clear_warning_window();
    if (set_args->overlap.empty()) p->clear_rotation_overlap();
    p->set_min_rsa_bits(set_args->min_rsa_bits);
    for (absl::string_view t : absl::StrSplit(set_args->allow_types, ',', absl::SkipEmpty())) {
      p->add_allowed_key_types(std::string(t));
    }
    if (set_args->unmanaged == "keep") p->set_unmanaged_keys(v1::UNMANAGED_KEYS_KEEP);
    if (set_args->unmanaged == "report") p->set_unmanaged_keys(v1::UNMANAGED_KEYS_REPORT);
    if (set_args->unmanaged == "remove") p->set_unmanaged_keys(v1::UNMANAGED_KEYS_REMOVE);
    v1::MutationResponse resp;
    grpc::Status s = client.admin().SetPolicy(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    return PrintMutation(globals, "policy updated", resp);
  });
}

void AddAuditCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  auto since = std::make_shared<std::string>();
  CLI::App* audit =
      app.add_subcommand("audit", "The audit log (every mutation: who, what, when, before/after)");
  audit->add_option("--since", *since, "Only events since: 2026-11-01, 2026-11-01T09:00Z or 24h");
  CLI::App* verify = audit->add_subcommand(
      "verify", "Recompute the audit hash chain; exit 1 and name the first bad event if broken");
  OnRun(verify, globals, exit_code, [&globals](ControllerClient& client) {
    v1::VerifyAuditResponse resp;
    grpc::Status s =
        client.admin().VerifyAudit(client.Context().get(), v1::VerifyAuditRequest(), &resp);
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
  OnRun(exporter, globals, exit_code, [since, follow](ControllerClient& client) {
    v1::ExportAuditRequest req;
    if (!since->empty()) {
      absl::StatusOr<absl::Time> when = ParseWhen(*since, absl::Now(), /*past=*/true);
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
  audit->callback([verify, exporter, since, &globals, &exit_code] {
    if (verify->parsed() || exporter->parsed()) return;
    exit_code = WithClient(globals, [&](ControllerClient& client) {
      v1::ListAuditRequest req;
      if (!since->empty()) {
        absl::StatusOr<absl::Time> when = ParseWhen(*since, absl::Now(), /*past=*/true);
        if (!when.ok()) return UsageError("--since: " + std::string(when.status().message()));
        req.mutable_since()->set_seconds(absl::ToUnixSeconds(*when));
      }
      v1::ListAuditResponse resp;
      grpc::Status s = client.admin().ListAudit(client.Context().get(), req, &resp);
      if (!s.ok()) return client.Fail(s);
      if (globals.output == OutputFormat::kJson) {
        std::cout << ToJson(resp) << "\n";
        return kExitOk;
      }
      Table table({"SEQ", "AT", "ACTOR", "ACTION", "TARGET"});
      for (const auto& e : resp.events()) {
        table.Add({std::to_string(e.sequence()), FormatTimestamp(e.at().seconds()), e.actor(),
                   e.action(), e.target()});
      }
      std::cout << table.Render();
      return kExitOk;
    });
  });
}

}  // namespace keyfleet::cli
