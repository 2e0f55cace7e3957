#include "tests/faults/fleet.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <fstream>
#include <pqxx/pqxx>
#include <regex>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "node-agent/managed_block.h"
#include "tests/support/admin_token.h"
#include "tests/support/child_process.h"
#include "tests/support/run_command.h"

namespace keyfleet::faults {
namespace {

std::atomic<int> next_cli{0};

}  // namespace

absl::StatusOr<double> Controller::Start(milliseconds limit) {
  if (pid_ > 0) return absl::FailedPreconditionError("already running");
  std::vector<std::string> argv;
  if (options_.open_file_limit > 0) {
    const std::string n = std::to_string(options_.open_file_limit);
    argv = {options_.prlimit_binary, "--nofile=" + n + ":" + n, "--"};
  }
  argv.insert(argv.end(), {options_.binary, "--db", options_.database, "--listen", options_.address,
                           "--ca-dir", options_.site.dir + "/ca", "--bootstrap-token-file",
                           options_.site.token_file(), "--log-level", "info"});
  for (const std::string& name : options_.tls_names) argv.insert(argv.end(), {"--tls-name", name});
  argv.insert(argv.end(), options_.extra_args.begin(), options_.extra_args.end());
  const auto start = Clock::now();
  pid_ = testing::SpawnProcess(argv, options_.log);
  if (pid_ < 0) return absl::InternalError("cannot start " + options_.binary);
  admin_.reset();
  channel_.reset();
  bool exited = false;
  const bool up = WaitFor(
      [&] {
        if (!Alive()) return exited = true;
        if (!admin_) {
          // Only once it listens: a channel refused early backs off for seconds.
          if (!Listening(options_.address)) return false;
          const std::string ca = ca_pem();
          absl::StatusOr<std::string> token = testing::ReadTokenFile(options_.site.token_file());
          if (ca.empty() || !token.ok()) return false;
          channel_ = testing::TokenTlsChannel(options_.address, ca, *token);
          admin_ = v1::AdminService::NewStub(channel_);
        }
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(1));
        v1::ListHostsResponse hosts;
        return admin_->ListHosts(&ctx, v1::ListHostsRequest(), &hosts).ok();
      },
      limit, milliseconds(10));
  if (exited) {
    return absl::UnavailableError(absl::StrCat("the controller at ", options_.address,
                                               " exited at start:\n", Tail(options_.log)));
  }
  if (!up) {
    return absl::UnavailableError(absl::StrCat("the controller at ", options_.address,
                                               " did not answer within ", limit.count(), " ms:\n",
                                               Tail(options_.log)));
  }
  return SecondsSince(start);
}

bool Controller::Alive() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    pid_ = -1;
    return false;
  }
  return true;
}

void Controller::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void Controller::Stop() {
  if (pid_ <= 0) return;
  testing::StopProcess(pid_);
  pid_ = -1;
}

std::string Controller::ca_pem() const {
  return ReadFile(options_.site.ca_file());
}

CliResult RunCli(const std::string& cli_binary, const std::string& address,
                 const ControllerSite& site, const std::string& args, const std::string& err_dir,
                 int limit_seconds) {
  const std::string err_file = absl::StrCat(err_dir, "/cli-", next_cli++, ".err");
  testing::CommandResult r = testing::RunCommand(absl::StrCat(
      "timeout -k 2 ", limit_seconds, " env -u KEYFLEET_TOKEN -u KEYFLEET_TOKEN_FILE ",
      "-u KEYFLEET_REQUEST_ID HOME=/nonexistent ", cli_binary, " --controller ", address, " --ca ",
      site.ca_file(), " --token-file ", site.token_file(), " ", args, " 2>", err_file));
  CliResult out;
  out.exit_code = r.exit_code;
  out.out = std::move(r.out);
  out.err = ReadFile(err_file);
  unlink(err_file.c_str());
  return out;
}

FleetAgent::FleetAgent(std::string hostname, std::string agent_binary, const std::string& log_dir)
    : hostname_(std::move(hostname)),
      binary_(std::move(agent_binary)),
      log_(log_dir + "/agent-" + hostname_ + ".log"),
      token_file_(log_dir + "/join-" + hostname_ + ".token") {}

absl::Status FleetAgent::Enroll(v1::AdminService::Stub& admin,
                                const std::vector<std::string>& controllers) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
  v1::CreateHostTokenRequest req;
  req.set_hostname(hostname_);
  (*req.mutable_labels())["env"] = "prod";
  v1::CreateHostTokenResponse resp;
  grpc::Status s = admin.CreateHostToken(&ctx, req, &resp);
  if (!s.ok()) return absl::UnavailableError("CreateHostToken: " + s.error_message());
  {
    std::ofstream out(token_file_);
    out << resp.token();
  }
  chmod(token_file_.c_str(), 0600);
  testing::CommandResult enrolled = testing::RunCommand(
      absl::StrCat("timeout -k 2 60 ", binary_, " enroll --controller ",
                   absl::StrJoin(controllers, ","), " --token-file ", token_file_, " --ca-hash ",
                   resp.ca_pin(), " --tls-dir ", sandbox_.Path("tls"), " --timeout 10s 2>&1"));
  if (enrolled.exit_code != 0) {
    return absl::UnavailableError(absl::StrCat("enrolling ", hostname_, ": ", enrolled.out));
  }
  return absl::OkStatus();
}

absl::Status FleetAgent::Start(const std::vector<std::string>& controllers) {
  if (pid_ > 0) return absl::FailedPreconditionError(hostname_ + " is already running");
  pid_ = testing::SpawnProcess(
      {binary_, "run", "--controller", absl::StrJoin(controllers, ","), "--tls-dir",
       sandbox_.Path("tls"), "--root", sandbox_.root(), "--cache", sandbox_.Path("agent-cache"),
       "--recheck-interval", "60s", "--log-level", "info"},
      log_);
  if (pid_ < 0) return absl::InternalError("cannot start " + binary_);
  return absl::OkStatus();
}

void FleetAgent::Kill9() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

void FleetAgent::Stop() {
  if (pid_ <= 0) return;
  testing::StopProcess(pid_);
  pid_ = -1;
}

std::string FleetAgent::FilePath(const std::string& account) const {
  return sandbox_.Path("home/" + account + "/.ssh/authorized_keys");
}

std::string FleetAgent::File(const std::string& account) const {
  return ReadFile(FilePath(account));
}

std::pair<std::string, int> FleetAgent::Watching() const {
  std::istringstream in(ReadFile(log_));
  std::string line, address;
  int count = 0;
  const std::string kWatching = "watching controller ";
  while (std::getline(in, line)) {
    const size_t at = line.find(kWatching);
    if (at == std::string::npos) continue;
    ++count;
    const size_t from = at + kWatching.size();
    address = line.substr(from, line.find(' ', from) - from);
  }
  return {address, count};
}

std::string BlobOf(const std::string& line) {
  // The token after the key type: options never contain an unquoted space in these files, and
  // the type is the first token that names one.
  const std::vector<std::string> tokens = absl::StrSplit(line, ' ', absl::SkipEmpty());
  for (size_t i = 0; i + 1 < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    if (absl::StartsWith(t, "ssh-") || absl::StartsWith(t, "ecdsa-sha2-") ||
        absl::StartsWith(t, "sk-")) {
      return tokens[i + 1];
    }
  }
  return "";
}

std::optional<std::set<std::string>> ManagedBlobs(const std::string& file_text) {
  const agent::ParsedAuthorizedKeys parsed = agent::ParseAuthorizedKeysFile(file_text);
  if (parsed.state != agent::BlockState::kIntact || !parsed.hash_matches) return std::nullopt;
  std::set<std::string> blobs;
  for (const std::string& line : parsed.block) blobs.insert(BlobOf(line));
  return blobs;
}

std::string MarkerEpoch(const std::string& file_text) {
  static const std::regex kMarker("# keyfleet:begin epoch=([0-9a-f]{16}) ");
  std::smatch m;
  return std::regex_search(file_text, m, kMarker) ? m[1].str() : "";
}

std::set<std::string> GrantedBlobs(const std::string& database_url, const std::string& account) {
  pqxx::connection conn(database_url);
  pqxx::nontransaction txn(conn);
  std::set<std::string> blobs;
  // Every grant these scenarios make selects every agent host (env=prod, or *).
  for (const pqxx::row& r : txn.exec_params(
           "SELECT DISTINCT k.public_key FROM keys k JOIN principals p ON p.id = k.principal_id "
           "JOIN grants g ON g.principal_id = p.id WHERE g.account = $1 AND k.state = 'active' "
           "AND NOT p.disabled AND (g.expires_at IS NULL OR g.expires_at > now()) "
           "AND k.expires_at > now()",
           account)) {
    const std::string key = r[0].as<std::string>();
    blobs.insert(absl::StrContains(key, ' ') ? BlobOf(key) : key);
  }
  return blobs;
}

std::vector<double> WaitConverged(const std::vector<FleetAgent*>& agents,
                                  const std::set<std::string>& expected, Clock::time_point since,
                                  milliseconds limit, const std::string& account) {
  std::vector<double> took(agents.size(), -1);
  WaitFor(
      [&] {
        bool all = true;
        for (size_t i = 0; i < agents.size(); ++i) {
          if (took[i] >= 0) continue;
          const std::optional<std::set<std::string>> blobs = ManagedBlobs(agents[i]->File(account));
          if (blobs && *blobs == expected) {
            took[i] = SecondsSince(since);
          } else {
            all = false;
          }
        }
        return all;
      },
      limit, milliseconds(10));
  return took;
}

bool AllConverged(const std::vector<double>& seconds_each) {
  return std::all_of(seconds_each.begin(), seconds_each.end(), [](double s) { return s >= 0; });
}

std::string ConvergedFigure(const std::vector<double>& seconds_each) {
  const size_t converged =
      std::count_if(seconds_each.begin(), seconds_each.end(), [](double s) { return s >= 0; });
  const double max =
      seconds_each.empty() ? 0 : *std::max_element(seconds_each.begin(), seconds_each.end());
  if (converged < seconds_each.size()) {
    return absl::StrCat("agents converged ", converged, "/", seconds_each.size());
  }
  return absl::StrCat("agents converged ", converged, "/", seconds_each.size(), " in ", Secs(max),
                      " (max)");
}

}  // namespace keyfleet::faults
