#include "cli/principal_commands.h"

#include <iostream>

#include "cli/exit_codes.h"
#include "cli/online_command.h"
#include "cli/rollout_commands.h"
#include "cli/table.h"

namespace keyfleet::cli {

void AddPrincipalCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* group = app.add_subcommand("principal", "People and services that own keys");
  group->require_subcommand(1);

  struct AddArgs {
    std::string name, kind = "person", email;
  };
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* add = group->add_subcommand("add", "Add a principal");
  add->add_option("NAME", add_args->name, "Lower-case name, e.g. alice or deploy-bot")->required();
  add->add_option("--kind", add_args->kind, "person (default) or service")
      ->check(CLI::IsMember({"person", "service"}));
  add->add_option("--email", add_args->email, "Contact address");
  OnRun(add, globals, exit_code, [add_args, &globals](ControllerClient& client) {
    v1::AddPrincipalRequest req;
    req.set_name(add_args->name);
    req.set_kind(add_args->kind == "service" ? v1::PRINCIPAL_KIND_SERVICE
                                             : v1::PRINCIPAL_KIND_PERSON);
    req.set_email(add_args->email);
    v1::MutationResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::AddPrincipal, req, &resp);
    if (!s.ok()) return client.Fail(s);
    return PrintMutation(globals, "principal " + add_args->name + " added", resp);
  });

  CLI::App* list = group->add_subcommand("list", "List principals");
  OnRun(list, globals, exit_code, [&globals](ControllerClient& client) {
    v1::ListPrincipalsResponse resp;
    grpc::Status s =
        client.ListAll(&v1::AdminService::Stub::ListPrincipals, v1::ListPrincipalsRequest(), &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    Table table({"NAME", "KIND", "EMAIL", "DISABLED", "CREATED"});
    for (const auto& p : resp.principals()) {
      table.Add({p.name(), p.kind() == v1::PRINCIPAL_KIND_SERVICE ? "service" : "person", p.email(),
                 p.disabled() ? "yes" : "no", FormatTimestamp(p.created_at().seconds())});
    }
    std::cout << table.Render();
    return kExitOk;
  });

  auto disable_name = std::make_shared<std::string>();
  auto disable_wait = std::make_shared<WaitOptions>();
  CLI::App* disable =
      group->add_subcommand("disable", "Disable a principal: its keys leave every host at once");
  disable->add_option("NAME", *disable_name, "The principal")->required();
  AddWaitOptions(disable, disable_wait.get());
  OnRun(disable, globals, exit_code,
        [disable_name, disable_wait, &globals](ControllerClient& client) {
          v1::DisablePrincipalRequest req;
          req.set_name(*disable_name);
          v1::MutationResponse resp;
          grpc::Status s = client.Mutate(&v1::AdminService::Stub::DisablePrincipal, req, &resp);
          if (!s.ok()) return client.Fail(s);
          return FinishMutation(client, globals, "principal " + *disable_name + " disabled",
                                resp.change(), *disable_wait);
        });
}

}  // namespace keyfleet::cli
