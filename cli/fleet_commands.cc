#include "cli/fleet_commands.h"

#include <iostream>

#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/online_command.h"
#include "cli/table.h"

namespace keyfleet::cli {
namespace {

std::string Labels(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) parts.push_back(k + "=" + v);
  return absl::StrJoin(parts, ",");
}

std::string DriftKind(v1::DriftKind kind) {
  std::string name = v1::DriftKind_Name(kind);
  const std::string prefix = "DRIFT_KIND_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return name;
}

// "yes", "no", or "FAILED (alice: reason; …)" when the agent could not write some accounts.
std::string ConvergedText(const v1::Host& h) {
  if (h.failed_accounts_size() == 0) return h.converged() ? "yes" : "no";
  std::vector<std::string> parts;
  for (const v1::AccountFailure& f : h.failed_accounts()) {
    parts.push_back((f.account().empty() ? std::string("*") : f.account()) + ": " + f.reason());
  }
  return "FAILED (" + absl::StrJoin(parts, "; ") + ")";
}

void AddHostRows(Table& table, const v1::Host& h) {
  table.Add({h.hostname(), Labels(h.labels()), FormatTimestamp(h.last_seen().seconds()),
             std::to_string(h.applied_generation()), ConvergedText(h),
             std::to_string(h.last_drift_size())});
}

Table HostTable() {
  return Table({"HOST", "LABELS", "LAST SEEN", "APPLIED", "CONVERGED", "DRIFT"});
}

void AddDriftRows(Table& table, const v1::Host& h) {
  for (const auto& d : h.last_drift()) {
    table.Add(
        {h.hostname(), d.account(), DriftKind(d.kind()), d.repaired() ? "yes" : "no", d.detail()});
  }
}

}  // namespace

void AddFleetCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* host = app.add_subcommand("host", "Hosts whose agents have connected");
  host->require_subcommand(1);
  CLI::App* list = host->add_subcommand("list", "List hosts");
  OnRun(list, globals, exit_code, [&globals](ControllerClient& client) {
    v1::ListHostsResponse resp;
    grpc::Status s =
        client.admin().ListHosts(client.Context().get(), v1::ListHostsRequest(), &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    Table table = HostTable();
    for (const auto& h : resp.hosts()) AddHostRows(table, h);
    std::cout << table.Render();
    return kExitOk;
  });
  auto show_name = std::make_shared<std::string>();
  CLI::App* show = host->add_subcommand("show", "One host: labels, convergence, drift");
  show->add_option("HOST", *show_name, "Hostname")->required();
  OnRun(show, globals, exit_code, [show_name, &globals](ControllerClient& client) {
    v1::GetHostRequest req;
    req.set_hostname(*show_name);
    v1::Host h;
    grpc::Status s = client.admin().GetHost(client.Context().get(), req, &h);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(h) << "\n";
      return kExitOk;
    }
    Table table({"FIELD", "VALUE"});
    table.Add({"hostname", h.hostname()});
    table.Add({"labels", Labels(h.labels())});
    table.Add({"first seen", FormatTimestamp(h.first_seen().seconds())});
    table.Add({"enrolled", h.has_enrolled_at() ? FormatTimestamp(h.enrolled_at().seconds())
                                               : "no (registered by an --insecure-dev hello)"});
    table.Add({"certificate expires", FormatTimestamp(h.certificate_expires().seconds())});
    table.Add({"last seen", FormatTimestamp(h.last_seen().seconds())});
    table.Add({"desired generation", std::to_string(h.desired_generation())});
    table.Add({"applied generation", std::to_string(h.applied_generation())});
    table.Add({"converged", ConvergedText(h)});
    table.Add({"host keys", absl::StrJoin(h.host_key_fingerprints(), " ")});
    std::cout << table.Render();
    if (h.last_drift_size() > 0) {
      Table drift({"HOST", "ACCOUNT", "DRIFT", "REPAIRED", "DETAIL"});
      AddDriftRows(drift, h);
      std::cout << "\n" << drift.Render();
    }
    return kExitOk;
  });

  struct AccessArgs {
    std::string host, account;
  };
  auto access_args = std::make_shared<AccessArgs>();
  CLI::App* access = app.add_subcommand(
      "access", "Who can log into HOST (as ACCOUNT), with which key, through which grant");
  access->add_option("HOST", access_args->host, "Hostname")->required();
  access->add_option("ACCOUNT", access_args->account, "Only this account");
  OnRun(access, globals, exit_code, [access_args, &globals](ControllerClient& client) {
    v1::AccessReviewRequest req;
    req.set_hostname(access_args->host);
    req.set_account(access_args->account);
    v1::AccessReviewResponse resp;
    grpc::Status s = client.admin().AccessReview(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    Table table({"ACCOUNT", "PRINCIPAL", "FINGERPRINT", "LABEL", "GRANT", "EXPIRES"});
    for (const auto& e : resp.entries()) {
      table.Add({e.account(), e.key().principal(), e.key().fingerprint(), e.key().label(),
                 e.grant_id(), FormatTimestamp(e.key().expires_at().seconds())});
    }
    std::cout << table.Render();
    return kExitOk;
  });

  CLI::App* report = app.add_subcommand("report", "Compliance and drift across the fleet");
  report->require_subcommand(1);
  CLI::App* compliance = report->add_subcommand(
      "compliance",
      "Keys past or near max age, weak key types, hosts not converged or not seen. Exit 1 when "
      "anything is listed.");
  OnRun(compliance, globals, exit_code, [&globals](ControllerClient& client) {
    v1::ComplianceReportResponse resp;
    grpc::Status s = client.admin().ComplianceReport(client.Context().get(),
                                                     v1::ComplianceReportRequest(), &resp);
    if (!s.ok()) return client.Fail(s);
    const bool clean = resp.expired_or_overdue_size() == 0 && resp.expiring_soon_size() == 0 &&
                       resp.weak_type_size() == 0 && resp.not_converged_size() == 0 &&
                       resp.not_seen_size() == 0;
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return clean ? kExitOk : kExitRefused;
    }
    auto keys = [](const char* title, const auto& list) {
      std::cout << title << ": " << list.size() << "\n";
      if (list.empty()) return;
      Table t({"  FINGERPRINT", "PRINCIPAL", "TYPE", "BITS", "EXPIRES"});
      for (const auto& k : list) {
        t.Add({"  " + k.fingerprint(), k.principal(), k.type(), std::to_string(k.bits()),
               FormatTimestamp(k.expires_at().seconds())});
      }
      std::cout << t.Render();
    };
    auto hosts = [](const char* title, const auto& list) {
      std::cout << title << ": " << list.size() << "\n";
      if (list.empty()) return;
      Table t({"  HOST", "LAST SEEN", "APPLIED", "DESIRED"});
      for (const auto& h : list) {
        t.Add({"  " + h.hostname(), FormatTimestamp(h.last_seen().seconds()),
               std::to_string(h.applied_generation()), std::to_string(h.desired_generation())});
      }
      std::cout << t.Render();
    };
    keys("keys expired or past max age", resp.expired_or_overdue());
    keys("keys expiring within the warning window", resp.expiring_soon());
    keys("keys of types the policy no longer allows", resp.weak_type());
    hosts("hosts not converged", resp.not_converged());
    hosts("hosts not seen recently", resp.not_seen());
    return clean ? kExitOk : kExitRefused;
  });
  CLI::App* drift = report->add_subcommand("drift", "Drift the agents last reported, per host");
  OnRun(drift, globals, exit_code, [&globals](ControllerClient& client) {
    v1::ListHostsResponse resp;
    grpc::Status s =
        client.admin().ListHosts(client.Context().get(), v1::ListHostsRequest(), &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      v1::ListHostsResponse with_drift;
      for (const auto& h : resp.hosts()) {
        if (h.last_drift_size() > 0) *with_drift.add_hosts() = h;
      }
      std::cout << ToJson(with_drift) << "\n";
      return kExitOk;
    }
    Table table({"HOST", "ACCOUNT", "DRIFT", "REPAIRED", "DETAIL"});
    for (const auto& h : resp.hosts()) AddDriftRows(table, h);
    std::cout << table.Render();
    return kExitOk;
  });
}

}  // namespace keyfleet::cli
