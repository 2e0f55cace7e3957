#include "cli/notify_commands.h"

#include <iostream>
#include <memory>

#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/online_command.h"
#include "cli/table.h"

namespace keyfleet::cli {

void AddNotifyCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* group = app.add_subcommand(
      "notify", "Notifications (webhooks, e-mail): what is pending, delivered, dead-lettered");
  group->require_subcommand(1);

  struct StatusArgs {
    std::string state;
    uint32_t limit = 0;
  };
  auto args = std::make_shared<StatusArgs>();
  CLI::App* status = group->add_subcommand(
      "status",
      "Counts of pending, delivered and dead-lettered deliveries (one per event and sink), then "
      "the newest deliveries; exit 1 when any is dead-lettered");
  status->add_option("--state", args->state, "Only deliveries in this state")
      ->check(CLI::IsMember({"pending", "delivered", "dead"}));
  status->add_option("--limit", args->limit, "How many deliveries to list (default 50, max 1000)");
  OnRun(status, globals, exit_code, [args, &globals](ControllerClient& client) {
    v1::NotifyStatusRequest req;
    req.set_state(args->state);
    req.set_limit(args->limit);
    v1::NotifyStatusResponse resp;
    grpc::Status s = client.admin().NotifyStatus(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    const int code = resp.dead() > 0 ? kExitRefused : kExitOk;
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return code;
    }
    std::cout << "sinks: "
              << (resp.sinks().empty() ? "none configured (notifications: in the controller's "
                                         "config)"
                                       : absl::StrJoin(resp.sinks(), ", "))
              << "\n";
    std::cout << resp.pending() << " pending, " << resp.delivered() << " delivered, " << resp.dead()
              << " dead-lettered";
    if (resp.not_fanned_out() > 0) std::cout << ", " << resp.not_fanned_out() << " new events";
    std::cout << "\n";
    if (resp.deliveries().empty()) return code;
    Table table({"ID", "EVENT", "SINK", "STATE", "TRIES", "AT", "NEXT/DELIVERED", "LAST ERROR"});
    for (const v1::NotificationDelivery& d : resp.deliveries()) {
      std::string when = d.state() == "pending" ? FormatTimestamp(d.next_attempt_at().seconds())
                         : d.has_delivered_at() ? FormatTimestamp(d.delivered_at().seconds())
                                                : "-";
      table.Add({std::to_string(d.id()), d.event(), d.sink(), d.state(),
                 std::to_string(d.attempts()), FormatTimestamp(d.at().seconds()), when,
                 d.last_error().empty() ? "-" : d.last_error()});
    }
    std::cout << table.Render();
    if (resp.dead() > 0) {
      std::cout << "dead-lettered deliveries are not tried again; after fixing the receiver: "
                   "keyfleet notify retry ID\n";
    }
    return code;
  });

  auto id = std::make_shared<int64_t>(0);
  CLI::App* retry = group->add_subcommand(
      "retry", "Send a dead-lettered delivery again (its attempts start over)");
  retry->add_option("ID", *id, "The delivery's id (keyfleet notify status --state dead)")
      ->required();
  OnRun(retry, globals, exit_code, [id](ControllerClient& client) {
    v1::NotifyRetryRequest req;
    req.set_id(*id);
    v1::MutationResponse resp;
    grpc::Status s = client.admin().NotifyRetry(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    std::cout << "delivery " << *id << " is pending again\n";
    return kExitOk;
  });
}

}  // namespace keyfleet::cli
