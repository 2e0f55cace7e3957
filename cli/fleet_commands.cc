#include "cli/fleet_commands.h"

#include <algorithm>
#include <iostream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/exit_codes.h"
#include "cli/key_argument.h"
#include "cli/key_usage_text.h"
#include "cli/online_command.h"
#include "cli/table.h"
#include "cli/text_input.h"
#include "common/duration_text.h"

namespace keyfleet::cli {
namespace {

std::string Labels(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) parts.push_back(k + "=" + v);
  return absl::StrJoin(parts, ",");
}

// A protobuf enum value's name as a word: DRIFT_KIND_NO_SUCH_ACCOUNT -> "no-such-account".
std::string EnumWord(std::string name, absl::string_view prefix) {
  if (absl::StartsWith(name, prefix)) name = name.substr(prefix.size());
  for (char& c : name) c = c == '_' ? '-' : static_cast<char>(std::tolower(c));
  return name;
}

std::string DriftKind(v1::DriftKind kind) {
  return EnumWord(v1::DriftKind_Name(kind), "DRIFT_KIND_");
}

std::string AccessStateText(v1::AccessState state) {
  return EnumWord(v1::AccessState_Name(state), "ACCESS_STATE_");
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

// Where the host's agent writes managed keys (Host.key_files), with the path sshd reads:
// "central (/etc/ssh/keyfleet/authorized_keys/%u)". "" from a controller before the setting.
std::string KeyFilesText(const std::string& mode) {
  if (mode == "home") return "home (~/.ssh/authorized_keys)";
  if (mode == "central") return "central (/etc/ssh/keyfleet/authorized_keys/%u)";
  if (mode == "both")
    return "both (~/.ssh/authorized_keys and /etc/ssh/keyfleet/authorized_keys/%u)";
  return SanitizeForTerminal(mode);
}

// The drift items the host found: a report that could not hold them all ends in a LEFT_OUT
// item counting the rest (shown as a row of its own: "… and N more").
uint64_t DriftCount(const v1::Host& h) {
  uint64_t count = 0;
  for (const v1::DriftItem& d : h.last_drift()) {
    count += d.kind() == v1::DRIFT_KIND_LEFT_OUT ? d.left_out() : 1;
  }
  return count;
}

void AddHostRows(Table& table, const v1::Host& h) {
  table.Add({h.hostname(), Labels(h.labels()), FormatTimestamp(h.last_seen().seconds()),
             std::to_string(h.applied_generation()), ConvergedText(h),
             std::to_string(DriftCount(h))});
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

// FleetStatusRequest.list_limit's cap (admin.proto): hosts listed per state.
constexpr uint32_t kMaxFleetListLimit = 1000;

// "1 host", "3 hosts".
std::string Hosts(uint32_t n) {
  return absl::StrCat(n, n == 1 ? " host" : " hosts");
}

// A list's title: "pending (connected, not yet applied): 3 hosts", and which of them are listed
// when the controller cut the list at the limit.
void PrintListTitle(const char* title, uint32_t count, int listed) {
  std::cout << "\n" << title << ": " << Hosts(count);
  if (static_cast<uint32_t>(listed) < count) std::cout << ", the first " << listed << " listed";
  std::cout << "\n";
}

// `host status`: the counts, then the failed, pending and offline hosts and drift by kind.
void PrintFleetStatus(const v1::FleetStatusResponse& resp) {
  std::cout << Hosts(resp.hosts()) << ": " << resp.converged() << " converged, " << resp.pending()
            << " pending, " << resp.failed() << " failed, " << resp.offline() << " offline";
  if (resp.offline() > 0) {
    std::cout << " (" << resp.not_seen() << " not seen for over "
              << FormatDurationText(absl::Seconds(resp.stale_after().seconds())) << ")";
  }
  std::cout << "\n";
  if (resp.failed() > 0) {
    PrintListTitle("failed (applied, but these accounts are not as desired)", resp.failed(),
                   resp.failed_hosts_size());
    Table t({"  HOST", "ACCOUNT", "REASON"});
    for (const v1::FailedHost& h : resp.failed_hosts()) {
      for (const v1::AccountFailure& a : h.accounts()) {
        t.Add({"  " + h.hostname(), a.account().empty() ? "*" : a.account(), a.reason()});
      }
      if (h.accounts_size() == 0) t.Add({"  " + h.hostname(), "-", "-"});
    }
    std::cout << t.Render();
  }
  if (resp.pending() > 0) {
    PrintListTitle("pending (connected, not yet applied)", resp.pending(),
                   resp.pending_hosts_size());
    Table t({"  HOST", "LAST SEEN", "APPLIED", "DESIRED"});
    for (const v1::Host& h : resp.pending_hosts()) {
      t.Add({"  " + h.hostname(), FormatTimestamp(h.last_seen().seconds()),
             std::to_string(h.applied_generation()), std::to_string(h.desired_generation())});
    }
    std::cout << t.Render();
  }
  if (resp.offline() > 0) {
    PrintListTitle("offline (not connected; they apply changes when they reconnect)",
                   resp.offline(), resp.offline_hosts_size());
    Table t({"  HOST", "LAST SEEN"});
    for (const v1::Host& h : resp.offline_hosts()) {
      t.Add({"  " + h.hostname(), FormatTimestamp(h.last_seen().seconds())});
    }
    std::cout << t.Render();
  }
  if (resp.drift_size() > 0) {
    std::cout << "\ndrift in the hosts' last reports:\n";
    Table t({"  DRIFT", "HOSTS", "ITEMS"});
    for (const v1::DriftCount& d : resp.drift()) {
      t.Add({"  " + DriftKind(d.kind()), std::to_string(d.hosts()), std::to_string(d.items())});
    }
    std::cout << t.Render();
  }
  if (resp.lists_truncated()) {
    const int limit =
        std::max({resp.failed_hosts_size(), resp.pending_hosts_size(), resp.offline_hosts_size()});
    std::cout << "\nlists cut at " << Hosts(static_cast<uint32_t>(limit))
              << " per state (the counts are whole; --limit lists up to " << kMaxFleetListLimit
              << ")\n";
  }
}

}  // namespace

void AddFleetCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* host = app.add_subcommand("host", "Hosts whose agents have connected");
  host->require_subcommand(1);
  CLI::App* list = host->add_subcommand("list", "List hosts");
  OnRun(list, globals, exit_code, [&globals](ControllerClient& client) {
    // Page by page: the table keeps its cells, not the hosts; JSON is one answer, as before.
    const bool json = globals.output == OutputFormat::kJson;
    v1::ListHostsResponse all;
    Table table = HostTable();
    auto add_page = [&](const v1::ListHostsResponse& page) {
      if (json) {
        all.MergeFrom(page);
        return;
      }
      for (const auto& h : page.hosts()) AddHostRows(table, h);
    };
    grpc::Status s =
        client.ForEachPage(&v1::AdminService::Stub::ListHosts, v1::ListHostsRequest(), add_page);
    if (!s.ok()) return client.Fail(s);
    std::cout << (json ? ToJson(all) + "\n" : table.Render());
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
    if (!h.key_files().empty()) table.Add({"key files", KeyFilesText(h.key_files())});
    table.Add({"revocations (KRL)", h.revocations_error().empty()
                                        ? "as desired"
                                        : "FAILED: " + SanitizeForTerminal(h.revocations_error())});
    std::cout << table.Render();
    if (h.host_public_keys_size() > 0) {
      std::cout << "\nhost public keys (`keyfleet known-hosts` writes them):\n";
      for (const std::string& key : h.host_public_keys()) {
        std::cout << "  " << SanitizeForTerminal(key) << "\n";
      }
    }
    if (h.last_drift_size() > 0) {
      Table drift({"HOST", "ACCOUNT", "DRIFT", "REPAIRED", "DETAIL"});
      AddDriftRows(drift, h);
      std::cout << "\n" << drift.Render();
    }
    return kExitOk;
  });

  auto status_limit = std::make_shared<uint32_t>(0);
  CLI::App* status = host->add_subcommand(
      "status",
      "The fleet at a glance: how many hosts are converged, pending (connected, not yet "
      "applied), failed (could not write some accounts) or offline (not connected), each host in "
      "exactly one; then the failed hosts with each account and reason, the pending and offline "
      "hosts, and drift by kind. Exit 5 when some host failed, else 0.");
  status
      ->add_option("--limit", *status_limit,
                   absl::StrCat("Hosts listed per state (default 100, at most ", kMaxFleetListLimit,
                                "); the counts are always whole"))
      ->check(CLI::Range(uint32_t{1}, kMaxFleetListLimit));
  OnRun(status, globals, exit_code, [status_limit, &globals](ControllerClient& client) {
    v1::FleetStatusRequest req;
    req.set_list_limit(*status_limit);
    v1::FleetStatusResponse resp;
    grpc::Status s = client.admin().FleetStatus(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
    } else {
      PrintFleetStatus(resp);
    }
    // As `rollout status`: hosts that could not write some accounts need someone; pending and
    // offline hosts catch up by themselves.
    return resp.failed() > 0 ? kExitRolloutFailed : kExitOk;
  });

  struct AccessArgs {
    std::string host, account;
  };
  auto access_args = std::make_shared<AccessArgs>();
  CLI::App* access = app.add_subcommand(
      "access",
      "Who can log into HOST (as ACCOUNT) now: each key line sshd reads there — keyfleet's, "
      "pending ones, and keys users added themselves — whether it logs in, why, until when, and "
      "with which restrictions");
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
    if (!resp.key_files().empty()) {
      std::cout << "key files: " << KeyFilesText(resp.key_files()) << "\n";
    }
    if (!resp.files_reported()) {
      std::cout << "note: " << access_args->host
                << " has not reported its files; lines below are keyfleet's desired state only\n";
    }
    if (resp.change_pending()) {
      std::cout << "note: a change is pending: " << access_args->host << " applied generation "
                << resp.applied_generation() << ", desired is " << resp.desired_generation()
                << "; lines in the file still log in until it applies\n";
    }
    for (const v1::AccountAccess& a : resp.accounts()) {
      for (const std::string& fact : a.facts()) {
        std::cout << (a.sshd_refuses() ? "NO LOGIN " : "note: ") << a.account() << ": "
                  << SanitizeForTerminal(fact) << "\n";
      }
    }
    Table table({"ACCOUNT", "LOGS IN", "STATE", "PRINCIPAL", "FINGERPRINT", "GRANT", "EXPIRES",
                 "OPTIONS", "WHY"});
    for (const auto& e : resp.entries()) {
      std::string owner = e.has_key() ? e.key().principal() : "-";
      if (e.has_key() && !e.key().label().empty()) owner += "/" + e.key().label();
      if (!e.has_key() && !e.comment().empty()) owner = "(" + e.comment() + ")";
      table.Add({e.account(), e.logs_in() ? "yes" : "no", AccessStateText(e.state()),
                 SanitizeForTerminal(owner), e.fingerprint(),
                 e.grant_id().empty() ? "-" : e.grant_id(),
                 e.has_expires_at() ? FormatTimestamp(e.expires_at().seconds()) : "never",
                 e.options().empty() ? "-" : SanitizeForTerminal(e.options()),
                 SanitizeForTerminal(e.why())});
    }
    std::cout << table.Render();
    return kExitOk;
  });

  struct VerifyArgs {
    std::string key, host, account, from;
  };
  auto verify_args = std::make_shared<VerifyArgs>();
  CLI::App* verify = app.add_subcommand(
      "verify",
      "Would this key log into HOST as ACCOUNT now, and why or why not (what sshd there will "
      "do, from the host's last report; nothing logs in). Exit 0: yes, 1: no");
  verify
      ->add_option("KEY", verify_args->key,
                   "A public key file (- for stdin) or a key's SHA256:… fingerprint")
      ->required();
  verify->add_option("HOST", verify_args->host, "Hostname")->required();
  verify->add_option("ACCOUNT", verify_args->account, "Local account to log in as")->required();
  verify->add_option("--from", verify_args->from,
                     "The client's IP address, checked against from= restrictions");
  OnRun(verify, globals, exit_code, [verify_args, &globals](ControllerClient& client) {
    absl::StatusOr<std::string> fingerprint = FingerprintArgument(verify_args->key);
    if (!fingerprint.ok()) return UsageError(std::string(fingerprint.status().message()));
    v1::VerifyAccessRequest req;
    req.set_hostname(verify_args->host);
    req.set_account(verify_args->account);
    req.set_fingerprint(*fingerprint);
    req.set_from_address(verify_args->from);
    v1::VerifyAccessResponse resp;
    grpc::Status s = client.admin().VerifyAccess(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
    } else {
      std::cout << (resp.allowed()      ? "yes"
                    : resp.determined() ? "no"
                                        : "cannot tell")
                << ": " << *fingerprint << " as " << verify_args->account << "@"
                << verify_args->host
                << (verify_args->from.empty() ? "" : " from " + verify_args->from) << "\n  "
                << SanitizeForTerminal(resp.reason()) << "\n";
      if (!resp.key_files().empty()) {
        std::cout << "  key files: " << KeyFilesText(resp.key_files()) << "\n";
      }
      for (const auto& e : resp.lines()) {
        std::cout << "  line: " << AccessStateText(e.state()) << " in " << e.file()
                  << (e.logs_in() ? ", logs in" : ", does not log in")
                  << (e.options().empty() ? "" : ", options " + SanitizeForTerminal(e.options()))
                  << (e.why().empty() ? "" : " — " + SanitizeForTerminal(e.why())) << "\n";
      }
    }
    return resp.allowed() ? kExitOk : kExitRefused;
  });

  CLI::App* report = app.add_subcommand("report", "Compliance and drift across the fleet");
  report->require_subcommand(1);
  CLI::App* compliance = report->add_subcommand(
      "compliance",
      "Keys past or near max age, weak key types, stale keys (active, no login recorded "
      "within --stale-after), hosts not converged or not seen. Exit 1 when anything is listed.");
  auto stale_after = std::make_shared<std::string>();
  compliance->add_option("--stale-after", *stale_after,
                         "A key with no login recorded for this long is stale (default 90d)");
  OnRun(compliance, globals, exit_code, [&globals, stale_after](ControllerClient& client) {
    v1::ComplianceReportRequest req;
    if (!stale_after->empty()) {
      absl::StatusOr<absl::Duration> d = ParseDurationText(*stale_after);
      if (!d.ok()) return UsageError("--stale-after: " + std::string(d.status().message()));
      req.mutable_stale_after()->set_seconds(absl::ToInt64Seconds(*d));
    }
    v1::ComplianceReportResponse resp;
    grpc::Status s = client.admin().ComplianceReport(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    const bool clean = resp.expired_or_overdue_size() == 0 && resp.expiring_soon_size() == 0 &&
                       resp.weak_type_size() == 0 && resp.not_converged_size() == 0 &&
                       resp.not_seen_size() == 0 && resp.stale_size() == 0;
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
    std::cout << "keys unused for "
              << FormatDurationText(absl::Seconds(resp.stale_after().seconds()))
              << " (stale): " << resp.stale_size() << "\n";
    if (!resp.stale().empty()) {
      Table t({"  FINGERPRINT", "PRINCIPAL", "LABEL", "CREATED", "LAST USED"});
      for (const v1::Key& k : resp.stale()) {
        t.Add({"  " + k.fingerprint(), k.principal(), k.label(),
               FormatTimestamp(k.created_at().seconds()), LastUsedText(k)});
      }
      std::cout << t.Render();
    }
    hosts("hosts not converged", resp.not_converged());
    hosts("hosts not seen recently", resp.not_seen());
    return clean ? kExitOk : kExitRefused;
  });
  CLI::App* rotation = report->add_subcommand(
      "rotation",
      "The rotation campaign for the current policy cycle (the last max key age): per owner and "
      "overall, current keys rotated (or added) this cycle, due within the warning window, and "
      "overdue. Exit 1 when any key is overdue.");
  OnRun(rotation, globals, exit_code, [&globals](ControllerClient& client) {
    v1::RotationReportResponse resp;
    grpc::Status s =
        client.admin().RotationReport(client.Context().get(), v1::RotationReportRequest(), &resp);
    if (!s.ok()) return client.Fail(s);
    const int code = resp.overall().overdue() > 0 ? kExitRefused : kExitOk;
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return code;
    }
    Table table({"PRINCIPAL", "KEYS", "ROTATED", "DUE", "OVERDUE", "OVERDUE KEYS"});
    for (const v1::OwnerRotation& o : resp.owners()) {
      table.Add({o.principal(), std::to_string(o.keys()), std::to_string(o.rotated()),
                 std::to_string(o.due()), std::to_string(o.overdue()),
                 absl::StrJoin(o.overdue_fingerprints(), " ")});
    }
    std::cout << table.Render();
    const v1::OwnerRotation& all = resp.overall();
    std::cout << all.rotated() << "/" << all.keys() << " keys rotated this cycle (since "
              << FormatTimestamp(resp.cycle_start().seconds()) << "), " << all.due()
              << " due within "
              << FormatDurationText(absl::Seconds(resp.warning_window().seconds())) << ", "
              << all.overdue() << " overdue\n";
    return code;
  });
  CLI::App* drift = report->add_subcommand("drift", "Drift the agents last reported, per host");
  OnRun(drift, globals, exit_code, [&globals](ControllerClient& client) {
    // Page by page, keeping only the hosts with drift.
    const bool json = globals.output == OutputFormat::kJson;
    v1::ListHostsResponse with_drift;
    Table table({"HOST", "ACCOUNT", "DRIFT", "REPAIRED", "DETAIL"});
    auto add_page = [&](const v1::ListHostsResponse& page) {
      for (const auto& h : page.hosts()) {
        if (h.last_drift_size() == 0) continue;
        if (json) {
          *with_drift.add_hosts() = h;
        } else {
          AddDriftRows(table, h);
        }
      }
    };
    grpc::Status s =
        client.ForEachPage(&v1::AdminService::Stub::ListHosts, v1::ListHostsRequest(), add_page);
    if (!s.ok()) return client.Fail(s);
    std::cout << (json ? ToJson(with_drift) + "\n" : table.Render());
    return kExitOk;
  });
}

}  // namespace keyfleet::cli
