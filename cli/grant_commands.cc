#include "cli/grant_commands.h"

#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/exit_codes.h"
#include "cli/host_selector_text.h"
#include "cli/online_command.h"
#include "cli/rollout_commands.h"
#include "cli/table.h"

namespace keyfleet::cli {

void AddGrantCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* group = app.add_subcommand("grant", "Who may log into which hosts, as which account");
  group->require_subcommand(1);

  struct AddArgs {
    std::string subject, hosts, account, options, expires;
    bool allow_root = false;
    WaitOptions wait;
  };
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* add = group->add_subcommand(
      "add",
      "Grant a principal's keys (or one key, by fingerprint) login to the selected hosts as "
      "ACCOUNT");
  add->add_option("SUBJECT", add_args->subject, "A principal name, or a key's SHA256:… fingerprint")
      ->required();
  add->add_option("--hosts", add_args->hosts,
                  "Host selector: labels and/or one hostname glob, e.g. env=prod,role=web or "
                  "web-* (\"*\" for every host)")
      ->required();
  add->add_option("--account", add_args->account, "The local account to log in as")->required();
  add->add_option("--options", add_args->options,
                  "authorized_keys options, e.g. restrict,command=\"uptime\"");
  add->add_option("--expires", add_args->expires,
                  "When the grant ends: 2026-12-31, 2026-12-31T18:00Z or a duration like 30d");
  add->add_flag("--allow-root", add_args->allow_root, "Required for --account root");
  AddWaitOptions(add, &add_args->wait);
  OnRun(add, globals, exit_code, [add_args, &globals](ControllerClient& client) {
    v1::AddGrantRequest req;
    v1::Grant* grant = req.mutable_grant();
    if (absl::StartsWith(add_args->subject, "SHA256:")) {
      grant->set_key_fingerprint(add_args->subject);
    } else {
      grant->set_principal(add_args->subject);
    }
    std::string error;
    if (!ParseSelector(add_args->hosts, grant->mutable_hosts(), &error)) return UsageError(error);
    grant->set_account(add_args->account);
    grant->set_options(add_args->options);
    grant->set_allow_root(add_args->allow_root);
    if (!add_args->expires.empty()) {
      absl::StatusOr<absl::Time> when = ParseWhen(add_args->expires, absl::Now(), false);
      if (!when.ok()) return UsageError("--expires: " + std::string(when.status().message()));
      grant->mutable_expires_at()->set_seconds(absl::ToUnixSeconds(*when));
    }
    v1::AddGrantResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::AddGrant, req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson && !add_args->wait.wait) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    return FinishMutation(client, globals,
                          "grant " + resp.grant().id() + " added: " + add_args->subject + " -> " +
                              add_args->account + "@" + SelectorText(resp.grant().hosts()),
                          resp.change(), add_args->wait);
  });

  struct ListArgs {
    std::string host, principal;
  };
  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = group->add_subcommand("list", "List grants");
  list->add_option("--host", list_args->host, "Only grants that select this host");
  list->add_option("--principal", list_args->principal, "Only this principal's grants");
  OnRun(list, globals, exit_code, [list_args, &globals](ControllerClient& client) {
    v1::ListGrantsRequest req;
    req.set_host(list_args->host);
    req.set_principal(list_args->principal);
    v1::ListGrantsResponse resp;
    grpc::Status s = client.ListAll(&v1::AdminService::Stub::ListGrants, req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    Table table({"ID", "SUBJECT", "HOSTS", "ACCOUNT", "OPTIONS", "EXPIRES"});
    for (const auto& g : resp.grants()) {
      table.Add({g.id(), g.principal().empty() ? g.key_fingerprint() : g.principal(),
                 SelectorText(g.hosts()), g.account(), g.options(),
                 FormatTimestamp(g.expires_at().seconds())});
    }
    std::cout << table.Render();
    return kExitOk;
  });

  auto remove_id = std::make_shared<std::string>();
  auto remove_wait = std::make_shared<WaitOptions>();
  CLI::App* remove = group->add_subcommand("remove", "Remove a grant by id");
  remove->add_option("ID", *remove_id, "As `grant list` shows it")->required();
  AddWaitOptions(remove, remove_wait.get());
  OnRun(remove, globals, exit_code, [remove_id, remove_wait, &globals](ControllerClient& client) {
    v1::RemoveGrantRequest req;
    req.set_id(*remove_id);
    v1::MutationResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::RemoveGrant, req, &resp);
    if (!s.ok()) return client.Fail(s);
    return FinishMutation(client, globals, "grant " + *remove_id + " removed", resp.change(),
                          *remove_wait);
  });
}

}  // namespace keyfleet::cli
