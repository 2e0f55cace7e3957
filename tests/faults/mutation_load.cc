#include "tests/faults/mutation_load.h"

#include <fstream>
#include <pqxx/pqxx>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "tests/support/test_keys.h"

namespace keyfleet::faults {
namespace {

// The number of problems listed one by one; the rest are counted.
constexpr size_t kProblemsListed = 10;

std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  return line.size() > 160 ? line.substr(0, 160) + "…" : line;
}

// The CLI's final word on stderr: its last "keyfleet: " line that is not a notice that it asks
// again (those come first).
std::string FinalError(const std::string& err) {
  std::string last;
  for (absl::string_view line : absl::StrSplit(err, '\n', absl::SkipEmpty())) {
    if (absl::StartsWith(line, "keyfleet: ") && !absl::StrContains(line, "asking again")) {
      last = std::string(line);
    }
  }
  return FirstLine(last.empty() ? err : last);
}

}  // namespace

bool LoadOp::outcome_unknown() const {
  return absl::StrContains(err, "unknown whether");
}
bool LoadOp::asked_again() const {
  return absl::StrContains(err, "asking again");
}

void MutationLoad::Start() {
  for (int w = 0; w < options_.writers; ++w) threads_.emplace_back([this, w] { Write(w); });
}

void MutationLoad::Stop() {
  stop_ = true;
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void MutationLoad::Write(int writer) {
  for (int i = 0; i < options_.max_iterations && !stop_; ++i) {
    const std::string principal = absl::StrCat(options_.prefix, "-w", writer, "-", i);
    const std::string key_file = options_.dir + "/" + principal + ".pub";
    {
      std::ofstream out(key_file);
      out << testing::SyntheticEd25519Line(options_.key_base + 100000 * writer + i, principal)
          << "\n";
    }
    const std::vector<std::pair<std::string, std::string>> steps = {
        {"principal", "principal add " + principal},
        {"key", "key add " + principal + " " + key_file},
        {"grant", "grant add " + principal + " --hosts env=prod --account alice"}};
    for (const auto& [kind, command] : steps) {
      while (paused_ && !stop_) std::this_thread::sleep_for(milliseconds(10));
      if (stop_) return;
      ++in_flight_;
      LoadOp op;
      op.kind = kind;
      op.principal = principal;
      op.request_id = absl::StrCat(principal, "-", kind);
      op.address = options_.addresses[next_address_++ % options_.addresses.size()];
      op.start = Clock::now();
      const absl::Time wall_start = absl::Now();
      CliResult r =
          RunCli(options_.cli_binary, op.address, options_.site,
                 absl::StrCat("-o json --request-id ", op.request_id, " ", command), options_.dir);
      op.end = Clock::now();
      op.exit_code = r.exit_code;
      op.err = std::move(r.err);
      const bool acknowledged = op.acknowledged();
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!acknowledged) {
          // Every failure in full, for reading afterwards (the logs are kept when one broke).
          std::ofstream(options_.dir + "/failures.log", std::ios::app)
              << op.request_id << " to " << op.address << ": started "
              << absl::FormatTime("%H:%M:%E3S", wall_start, absl::LocalTimeZone()) << ", exit "
              << op.exit_code << " after " << SecondsBetween(op.start, op.end) << " s\n"
              << op.err << "\n";
        }
        ops_.push_back(std::move(op));
      }
      --in_flight_;
      // The rest of this principal's steps would be refused (no such principal, no key).
      if (!acknowledged) break;
    }
  }
}

size_t MutationLoad::Sent() {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_.size();
}

size_t MutationLoad::Acknowledged() {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (const LoadOp& op : ops_) n += op.acknowledged() ? 1 : 0;
  return n;
}

std::optional<Clock::time_point> MutationLoad::FirstAcknowledgedStartedAfter(Clock::time_point t) {
  std::lock_guard<std::mutex> lock(mu_);
  std::optional<Clock::time_point> first;
  for (const LoadOp& op : ops_) {
    if (op.acknowledged() && op.start > t && (!first || op.end < *first)) first = op.end;
  }
  return first;
}

std::vector<LoadOp> MutationLoad::ops() {
  std::lock_guard<std::mutex> lock(mu_);
  return ops_;
}

LoadFigures VerifyLoad(const std::vector<LoadOp>& ops, const std::string& database_url) {
  std::set<std::string> principals, request_ids;
  std::map<std::string, int> keys_of, grants_of;
  LoadFigures f;
  {
    pqxx::connection conn(database_url);
    pqxx::nontransaction txn(conn);
    for (const pqxx::row& r : txn.exec("SELECT name FROM principals")) {
      principals.insert(r[0].as<std::string>());
    }
    for (const pqxx::row& r : txn.exec("SELECT p.name, count(*) FROM keys k JOIN principals p "
                                       "ON p.id = k.principal_id GROUP BY p.name")) {
      keys_of[r[0].as<std::string>()] = r[1].as<int>();
    }
    for (const pqxx::row& r : txn.exec("SELECT p.name, count(*) FROM grants g JOIN principals p "
                                       "ON p.id = g.principal_id GROUP BY p.name")) {
      grants_of[r[0].as<std::string>()] = r[1].as<int>();
    }
    for (const pqxx::row& r : txn.exec("SELECT request_id FROM request_outcomes")) {
      request_ids.insert(r[0].as<std::string>());
    }
    // A mutation done twice is audited twice.
    for (const pqxx::row& r :
         txn.exec("SELECT action, target, count(*) FROM audit_events WHERE action IN "
                  "('principal.add', 'key.add', 'keys.add') GROUP BY action, target "
                  "HAVING count(*) > 1")) {
      ++f.duplicates;
      f.problems.push_back(absl::StrCat("audited ", r[2].as<int>(), " times: ",
                                        r[0].as<std::string>(), " ", r[1].as<std::string>()));
    }
  }
  auto problem = [&](const std::string& text) {
    if (f.problems.size() < kProblemsListed) f.problems.push_back(text);
  };
  std::set<std::string> load_principals;
  for (const LoadOp& op : ops) {
    ++f.sent;
    load_principals.insert(op.principal);
    bool present = false;
    if (op.kind == "principal") {
      present = principals.count(op.principal) > 0;
    } else if (op.kind == "key") {
      present = keys_of[op.principal] > 0;
    } else {
      present = grants_of[op.principal] > 0;
    }
    f.asked_again += op.asked_again() ? 1 : 0;
    if (op.acknowledged()) {
      ++f.acknowledged;
      if (present) {
        ++f.acknowledged_found;
      } else {
        problem(
            absl::StrCat("acknowledged but lost: ", op.request_id, " (sent to ", op.address, ")"));
      }
      if (request_ids.count(op.request_id) == 0) {
        ++f.acknowledged_without_ledger;
        problem("acknowledged, but its request id is not in the ledger: " + op.request_id);
      }
      continue;
    }
    ++f.failed;
    ++f.failure_messages[op.exit_code == 124 ? "(killed: ran past its time bound)"
                                             : FinalError(op.err)];
    if (op.exit_code == 124) problem("a CLI call ran past its time bound: " + op.request_id);
    if (op.outcome_unknown()) {
      ++f.unknown;
      f.unknown_present += present ? 1 : 0;
    } else if (present) {
      ++f.failed_present;
      problem(absl::StrCat("failed without saying the outcome is unknown, yet applied: ",
                           op.request_id, " (exit ", op.exit_code, "): ", FinalError(op.err)));
    } else {
      ++f.failed_absent;
    }
  }
  for (const std::string& p : load_principals) {
    if (keys_of[p] > 1 || grants_of[p] > 1) {
      ++f.duplicates;
      problem(absl::StrCat("there twice: ", p, " has ", keys_of[p], " keys and ", grants_of[p],
                           " grants"));
    }
  }
  return f;
}

std::string LoadFigures::Figure() const {
  return absl::StrCat("mutations sent ", sent, ", acknowledged ", acknowledged,
                      ", acknowledged found ", acknowledged_found, "/", acknowledged, ", failed ",
                      failed, " (absent ", failed_absent, ", present ", failed_present,
                      ", outcome unknown ", unknown, " of which applied ", unknown_present,
                      "), asked again ", asked_again, ", duplicates ", duplicates);
}

void LoadFigures::Add(const LoadFigures& o) {
  sent += o.sent;
  acknowledged += o.acknowledged;
  acknowledged_found += o.acknowledged_found;
  acknowledged_without_ledger += o.acknowledged_without_ledger;
  failed += o.failed;
  failed_absent += o.failed_absent;
  failed_present += o.failed_present;
  unknown += o.unknown;
  unknown_present += o.unknown_present;
  asked_again += o.asked_again;
  duplicates += o.duplicates;
  for (const auto& [message, count] : o.failure_messages) failure_messages[message] += count;
  for (const std::string& p : o.problems) {
    if (problems.size() < kProblemsListed) problems.push_back(p);
  }
}

bool LoadFigures::ok() const {
  return acknowledged_found == acknowledged && acknowledged_without_ledger == 0 &&
         failed_present == 0 && duplicates == 0 &&
         failure_messages.count("(killed: ran past its time bound)") == 0;
}

void ReportLoad(const LoadFigures& figures, Report& report) {
  report.Figure(figures.Figure());
  report.Check(figures.acknowledged > 0, "no mutation was acknowledged at all");
  report.Check(figures.acknowledged_found == figures.acknowledged,
               absl::StrCat(figures.acknowledged - figures.acknowledged_found,
                            " acknowledged mutations are not in the database"));
  report.Check(figures.acknowledged_without_ledger == 0,
               absl::StrCat(figures.acknowledged_without_ledger,
                            " acknowledged mutations have no request-id ledger entry"));
  report.Check(figures.failed_present == 0,
               absl::StrCat(figures.failed_present,
                            " mutations failed without saying the outcome is unknown, yet were "
                            "applied"));
  report.Check(figures.duplicates == 0,
               absl::StrCat(figures.duplicates, " mutations were applied twice"));
  report.Check(figures.failure_messages.count("(killed: ran past its time bound)") == 0,
               "a CLI call ran past its time bound");
  for (const std::string& p : figures.problems) report.Note("problem: " + p);
  for (const auto& [message, count] : figures.failure_messages) {
    report.Note(absl::StrCat("failed ", count, "x: ", message));
  }
}

AuditCheck VerifyAudit(const std::string& cli_binary, const std::string& address,
                       const ControllerSite& site, const std::string& err_dir) {
  CliResult r = RunCli(cli_binary, address, site, "audit verify", err_dir, 60);
  const std::string first = FirstLine(r.out);
  absl::string_view out = first;
  AuditCheck check;
  check.intact = r.exit_code == 0 && absl::ConsumePrefix(&out, "audit log intact: ");
  check.detail = check.intact ? std::string(out)
                              : absl::StrCat("`keyfleet audit verify` exit ", r.exit_code, ": ",
                                             first, FinalError(r.err));
  return check;
}

void CheckAudit(const std::string& cli_binary, const std::string& address,
                const ControllerSite& site, const std::string& err_dir, Report& report) {
  const AuditCheck check = VerifyAudit(cli_binary, address, site, err_dir);
  if (report.Check(check.intact, check.detail)) {
    report.Figure("audit chain intact (" + check.detail + ")");
  } else {
    report.Figure("audit chain BROKEN");
  }
}

}  // namespace keyfleet::faults
