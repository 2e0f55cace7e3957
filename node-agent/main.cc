// keyfleet-agent: the node agent that reconciles ~/.ssh/authorized_keys.
//   keyfleet-agent apply --desired FILE.json [--root DIR] [--min-uid N] [--allow-root]
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <iostream>
#include <sstream>

#include "CLI/CLI.hpp"
#include "node-agent/apply.h"

namespace {

constexpr int kExitOk = 0;
constexpr int kExitDrift = 1;  // applied, but something was refused or failed
constexpr int kExitUsage = 2;

int Fail(const std::string& message) {
  std::cerr << "keyfleet-agent: " << message << "\n";
  return kExitUsage;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app(
      "keyfleet-agent: keeps each local account's ~/.ssh/authorized_keys equal to its desired "
      "state, safely (held directory descriptors, no symlinks, atomic replace).\n"
      "This build offers `apply` (one desired state from a JSON file, offline); watching the "
      "controller arrives later.",
      "keyfleet-agent");
  app.set_version_flag("--version", KEYFLEET_VERSION);
  app.require_subcommand(1, 1);

  std::string desired_path;
  keyfleet::agent::ApplySettings settings;
  CLI::App* apply = app.add_subcommand(
      "apply",
      "Apply a desired state given as JSON (the protobuf JSON form of keyfleet.v1.DesiredState, "
      "e.g. {\"generation\": \"7\", \"accounts\": [{\"account\": \"alice\", \"keys\": "
      "[\"ssh-ed25519 "
      "AAAA… alice\"], \"exclusive\": false}]}) once, and print what was done and the drift as "
      "JSON. Exit 0 when every account was applied, 1 when one was refused or failed.");
  apply->add_option("--desired", desired_path, "Desired state JSON file, or - for stdin")
      ->required();
  apply->add_option("--root", settings.root,
                    "Treat DIR as / (accounts from DIR/etc/passwd, homes inside DIR)");
  apply->add_option("--min-uid", settings.accounts.min_uid,
                    "Refuse accounts below this uid (default 1000)");
  apply->add_flag("--allow-root", settings.accounts.allow_root,
                  "Allow uid 0 and accounts below --min-uid");
  CLI11_PARSE(app, argc, argv);

  std::stringstream text;
  if (desired_path == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream in(desired_path);
    if (!in) return Fail("cannot read " + desired_path);
    text << in.rdbuf();
  }
  keyfleet::v1::DesiredState desired;
  auto parsed = google::protobuf::util::JsonStringToMessage(text.str(), &desired);
  if (!parsed.ok()) {
    return Fail(desired_path + " is not a desired state: " + parsed.ToString());
  }
  const std::string passwd_path =
      (settings.root == "/" ? std::string() : settings.root) + "/etc/passwd";
  auto passwd = keyfleet::agent::PasswdFile::Load(passwd_path);
  if (!passwd.ok()) return Fail(std::string(passwd.status().message()));
  keyfleet::agent::ApplyReport report =
      keyfleet::agent::ApplyDesiredState(desired, settings, *passwd);
  std::cout << keyfleet::agent::ApplyReportToJson(report) << "\n";
  for (const auto& a : report.accounts) {
    if (a.outcome == keyfleet::agent::AccountOutcome::kRefused ||
        a.outcome == keyfleet::agent::AccountOutcome::kFailed) {
      return kExitDrift;
    }
  }
  return kExitOk;
}
