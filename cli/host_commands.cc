#include "cli/host_commands.h"

#include <iostream>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/exit_codes.h"
#include "cli/label_text.h"
#include "cli/online_command.h"
#include "cli/table.h"
#include "common/duration_text.h"

namespace keyfleet::cli {
namespace {

struct TokenCreateArgs {
  std::string hostname;
  std::string labels;
  std::string ttl;
  uint32_t uses = 1;
};

int CreateToken(ControllerClient& client, const GlobalOptions& globals,
                const TokenCreateArgs& args) {
  v1::CreateHostTokenRequest req;
  req.set_hostname(args.hostname);
  std::string error;
  if (!args.labels.empty() && !ParseLabelList(args.labels, req.mutable_labels(), &error)) {
    return UsageError(error);
  }
  if (!args.ttl.empty()) {
    absl::StatusOr<absl::Duration> ttl = ParseDurationText(args.ttl);
    if (!ttl.ok()) return UsageError(absl::StrCat("--ttl: ", ttl.status().message()));
    req.mutable_ttl()->set_seconds(absl::ToInt64Seconds(*ttl));
  }
  req.set_uses(args.uses);
  v1::CreateHostTokenResponse resp;
  grpc::Status s = client.Mutate(&v1::AdminService::Stub::CreateHostToken, req, &resp);
  if (!s.ok()) return client.Fail(s);
  if (globals.output == OutputFormat::kJson) {
    std::cout << ToJson(resp) << "\n";
    return kExitOk;
  }
  const v1::HostToken& info = resp.info();
  std::cout << resp.token() << "\n";
  std::cerr << "join token " << info.id() << ": "
            << (info.hostname().empty() ? std::string("a new host named by the agent")
                                        : "host " + info.hostname())
            << (info.labels().empty() ? "" : ", labels " + LabelText(info.labels())) << ", "
            << info.uses_allowed() << " use(s), expires "
            << FormatTimestamp(info.expires_at().seconds())
            << ".\nIt is shown only this once. On the host, as root:\n"
            << "  keyfleet-agent enroll --controller " << client.address() << " --token "
            << resp.token() << " --ca-hash " << resp.ca_pin() << "\n";
  return kExitOk;
}

int ListTokens(ControllerClient& client, const GlobalOptions& globals) {
  v1::ListHostTokensResponse resp;
  grpc::Status s =
      client.ListAll(&v1::AdminService::Stub::ListHostTokens, v1::ListHostTokensRequest(), &resp);
  if (!s.ok()) return client.Fail(s);
  if (globals.output == OutputFormat::kJson) {
    std::cout << ToJson(resp) << "\n";
    return kExitOk;
  }
  Table table({"ID", "STATE", "HOSTNAME", "LABELS", "USES", "EXPIRES", "CREATED BY"});
  for (const v1::HostToken& t : resp.tokens()) {
    table.Add({t.id(), t.state(), t.hostname().empty() ? "(any new)" : t.hostname(),
               LabelText(t.labels()), absl::StrCat(t.uses(), "/", t.uses_allowed()),
               FormatTimestamp(t.expires_at().seconds()), t.created_by()});
  }
  std::cout << table.Render();
  return kExitOk;
}

}  // namespace

void AddHostAdminCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* host = app.get_subcommand("host");

  struct LabelArgs {
    std::string hostname, labels;
    std::vector<std::string> remove;
  };
  auto label_args = std::make_shared<LabelArgs>();
  CLI::App* label =
      host->add_subcommand("label", "Set or remove a host's labels (agents cannot set their own)");
  label->add_option("HOST", label_args->hostname, "Hostname")->required();
  label->add_option("LABELS", label_args->labels, "KEY=VALUE[,KEY=VALUE…] to set");
  label->add_option("--remove", label_args->remove, "A label KEY to remove (repeatable)");
  OnRun(label, globals, exit_code, [label_args, &globals](ControllerClient& client) {
    v1::LabelHostRequest req;
    req.set_hostname(label_args->hostname);
    std::string error;
    if (!label_args->labels.empty() &&
        !ParseLabelList(label_args->labels, req.mutable_set(), &error)) {
      return UsageError(error);
    }
    for (const std::string& key : label_args->remove) req.add_remove(key);
    if (req.set().empty() && req.remove().empty()) {
      return UsageError("give LABELS to set (KEY=VALUE,…) or --remove KEY");
    }
    v1::MutationResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::LabelHost, req, &resp);
    if (!s.ok()) return client.Fail(s);
    return PrintMutation(globals, "labelled host " + label_args->hostname, resp);
  });

  auto remove_name = std::make_shared<std::string>();
  CLI::App* remove = host->add_subcommand(
      "remove",
      "Delete a host: its agent's stream closes and its certificate stops working at once "
      "(its files keep their last state; it needs a new join token to come back)");
  remove->add_option("HOST", *remove_name, "Hostname")->required();
  OnRun(remove, globals, exit_code, [remove_name, &globals](ControllerClient& client) {
    v1::RemoveHostRequest req;
    req.set_hostname(*remove_name);
    v1::MutationResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::RemoveHost, req, &resp);
    if (!s.ok()) return client.Fail(s);
    return PrintMutation(globals, "removed host " + *remove_name, resp);
  });

  CLI::App* token = host->add_subcommand("token", "Join tokens agents enroll with");
  token->require_subcommand(1);
  auto create_args = std::make_shared<TokenCreateArgs>();
  CLI::App* create = token->add_subcommand(
      "create",
      "Create a join token and print it (once; the controller keeps only its hash). The agent "
      "enrolls with `keyfleet-agent enroll --token TOKEN --ca-hash PIN`.");
  create->add_option("--hostname", create_args->hostname,
                     "The host it enrolls (also an existing host, which is then enrolled "
                     "again); default: a new host the agent names");
  create->add_option("--labels", create_args->labels, "KEY=VALUE[,…] given to the host");
  create->add_option("--ttl", create_args->ttl, "How long it can be used (default 1h, max 7d)");
  create->add_option("--uses", create_args->uses, "How many hosts it enrolls (default 1)");
  OnRun(create, globals, exit_code, [create_args, &globals](ControllerClient& client) {
    return CreateToken(client, globals, *create_args);
  });

  CLI::App* list = token->add_subcommand("list", "List join tokens (never their secrets)");
  OnRun(list, globals, exit_code,
        [&globals](ControllerClient& client) { return ListTokens(client, globals); });

  auto revoke_id = std::make_shared<std::string>();
  CLI::App* revoke = token->add_subcommand("revoke", "Revoke a join token by its ID");
  revoke->add_option("ID", *revoke_id, "Token ID (from `host token list`)")->required();
  OnRun(revoke, globals, exit_code, [revoke_id](ControllerClient& client) {
    v1::RevokeHostTokenRequest req;
    req.set_id(*revoke_id);
    v1::MutationResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::RevokeHostToken, req, &resp);
    if (!s.ok()) return client.Fail(s);
    std::cout << "revoked join token " << *revoke_id << "\n";
    return kExitOk;
  });
}

}  // namespace keyfleet::cli
