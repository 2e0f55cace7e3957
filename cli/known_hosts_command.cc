#include "cli/known_hosts_command.h"

#include <iostream>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/host_selector_text.h"
#include "cli/known_hosts_format.h"
#include "cli/online_command.h"
#include "cli/table.h"

namespace keyfleet::cli {
namespace {

struct KnownHostsArgs {
  std::string hosts;
  bool hash = false;
  uint16_t port = kDefaultSshPort;
};

// Writes `host`'s lines to stdout; false with `error` set when a key or the salt fails.
bool PrintHostLines(const v1::HostPublicKeys& host, const KnownHostsArgs& args,
                    std::string* error) {
  const std::string name = KnownHostsName(host.hostname(), args.port);
  for (const std::string& key : host.public_keys()) {
    std::string written = name;
    if (args.hash) {
      // A salt per line, as ssh-keygen -H does: equal names do not show as equal hashes.
      absl::StatusOr<std::string> salt = RandomKnownHostsSalt();
      if (!salt.ok()) {
        *error = std::string(salt.status().message());
        return false;
      }
      written = HashKnownHostsName(name, *salt);
    }
    absl::StatusOr<std::string> line = KnownHostsLine(written, key);
    if (!line.ok()) {
      *error = absl::StrCat("host ", host.hostname(), " reported a bad host key (",
                            line.status().message(), ")");
      return false;
    }
    std::cout << *line << "\n";
  }
  return true;
}

}  // namespace

void AddKnownHostsCommand(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  auto args = std::make_shared<KnownHostsArgs>();
  CLI::App* cmd = app.add_subcommand(
      "known-hosts",
      "Print a known_hosts file of the hosts' SSH host keys, as each host's agent last reported "
      "them (ROOT/etc/ssh/ssh_host_*_key.pub): one \"NAME KEYTYPE BASE64\" line per key. Hosts "
      "that reported no keys are named on stderr. Use it as ssh's UserKnownHostsFile (or "
      "GlobalKnownHostsFile) with StrictHostKeyChecking=yes. Only the hosts your credential may "
      "see are listed.");
  cmd->add_option("--hosts", args->hosts,
                  "Only the selected hosts: labels and/or one hostname glob, as grant add "
                  "--hosts (e.g. env=prod,role=web or web-*); default: every host");
  cmd->add_flag("--hash", args->hash,
                "Hash the names as ssh-keygen -H does (|1|SALT|HMAC-SHA1), so the file does not "
                "list the fleet's hostnames; ssh and ssh-keygen -F still find them");
  cmd->add_option("--port", args->port,
                  "The port sshd listens on: names are written [NAME]:PORT when it is not 22, as "
                  "ssh looks them up")
      ->check(CLI::Range(1, 65535));
  OnRun(cmd, globals, exit_code, [args, &globals](ControllerClient& client) {
    v1::KnownHostsRequest req;
    if (!args->hosts.empty()) {
      std::string error;
      if (!ParseSelector(args->hosts, req.mutable_hosts(), &error)) return UsageError(error);
    }
    if (globals.output == OutputFormat::kJson) {
      v1::KnownHostsResponse all;
      grpc::Status s = client.ListAll(&v1::AdminService::Stub::KnownHosts, req, &all);
      if (!s.ok()) return client.Fail(s);
      std::cout << ToJson(all) << "\n";
      return kExitOk;
    }
    std::string error;
    size_t without_keys = 0;
    grpc::Status s = client.ForEachPage(
        &v1::AdminService::Stub::KnownHosts, req, [&](const v1::KnownHostsResponse& page) {
          for (const v1::HostPublicKeys& host : page.hosts()) {
            if (host.public_keys_size() == 0) {
              ++without_keys;
              std::cerr << "keyfleet: host " << host.hostname()
                        << " has reported no host keys: not in the file\n";
              continue;
            }
            if (!PrintHostLines(host, *args, &error)) return false;
          }
          return true;
        });
    if (!s.ok()) return client.Fail(s);
    if (!error.empty()) {
      std::cerr << "keyfleet: " << error << "\n";
      return kExitRefused;
    }
    if (without_keys > 0) {
      std::cerr << "keyfleet: " << without_keys
                << " host(s) without reported host keys (agents report ROOT/etc/ssh/"
                   "ssh_host_*_key.pub after each apply)\n";
    }
    return kExitOk;
  });
}

}  // namespace keyfleet::cli
