#include "cli/key_commands.h"

#include <iostream>

#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/online_command.h"
#include "cli/rollout_commands.h"
#include "cli/table.h"
#include "cli/text_input.h"
#include "common/authorized_keys_line.h"
#include "common/duration_text.h"

namespace keyfleet::cli {
namespace {

std::string StateName(v1::KeyState state) {
  switch (state) {
    case v1::KEY_STATE_ACTIVE:
      return "active";
    case v1::KEY_STATE_SUPERSEDED:
      return "superseded";
    case v1::KEY_STATE_EXPIRED:
      return "expired";
    case v1::KEY_STATE_REVOKED:
      return "revoked";
    default:
      return "?";
  }
}

void PrintKeyTable(const google::protobuf::RepeatedPtrField<v1::Key>& keys) {
  Table table({"FINGERPRINT", "PRINCIPAL", "TYPE", "BITS", "LABEL", "STATE", "EXPIRES"});
  for (const auto& k : keys) {
    table.Add({k.fingerprint(), k.principal(), k.type(), std::to_string(k.bits()), k.label(),
               StateName(k.state()), FormatTimestamp(k.expires_at().seconds())});
  }
  std::cout << table.Render();
}

void PrintKey(const v1::Key& k) {
  Table table({"FIELD", "VALUE"});
  table.Add({"fingerprint", k.fingerprint()});
  table.Add({"principal", k.principal()});
  table.Add({"type", k.type()});
  table.Add({"bits", std::to_string(k.bits())});
  table.Add({"label", k.label()});
  table.Add({"comment", k.comment()});
  table.Add({"state", StateName(k.state())});
  table.Add({"created", FormatTimestamp(k.created_at().seconds())});
  table.Add({"expires", FormatTimestamp(k.expires_at().seconds())});
  if (k.state() == v1::KEY_STATE_REVOKED) {
    table.Add({"revoked", FormatTimestamp(k.revoked_at().seconds())});
    table.Add({"reason", k.revocation_reason()});
  }
  if (!k.predecessor_fingerprint().empty()) table.Add({"replaces", k.predecessor_fingerprint()});
  if (!k.successor_fingerprint().empty()) {
    table.Add({"replaced by", k.successor_fingerprint()});
  }
  table.Add({"public key", k.public_key()});
  std::cout << table.Render();
}

}  // namespace

void AddKeyCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* group =
      app.add_subcommand("key", "Public keys: add, list, show, label, remove, revoke");
  group->require_subcommand(1);

  struct AddArgs {
    std::string principal, file, label;
  };
  auto add_args = std::make_shared<AddArgs>();
  CLI::App* add = group->add_subcommand(
      "add", "Add the public keys in FILE (one per line; - for stdin) to PRINCIPAL, all or none");
  add->add_option("PRINCIPAL", add_args->principal, "The owner")->required();
  add->add_option("FILE", add_args->file, "A .pub file, or - for standard input")->required();
  add->add_option("--label", add_args->label, "A label for the keys, e.g. laptop");
  OnRun(add, globals, exit_code, [add_args, &globals](ControllerClient& client) {
    absl::StatusOr<std::string> text = ReadTextInput(add_args->file);
    if (!text.ok()) return UsageError(std::string(text.status().message()));
    v1::AddKeysRequest req;
    req.set_principal(add_args->principal);
    req.set_label(add_args->label);
    ForEachLine(*text, [&](size_t, absl::string_view line) {
      if (!IsBlankOrCommentLine(line)) req.add_public_keys(std::string(line));
    });
    if (req.public_keys_size() == 0) {
      return UsageError("no public keys in " + DisplayName(add_args->file));
    }
    v1::AddKeysResponse resp;
    grpc::Status s = client.admin().AddKeys(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    PrintKeyTable(resp.keys());
    std::cout << resp.keys_size() << " key(s) added to " << add_args->principal << " (change "
              << resp.change() << ")\n";
    return kExitOk;
  });

  struct ListArgs {
    std::string principal, state, expiring_within;
  };
  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = group->add_subcommand("list", "List keys");
  list->add_option("--principal", list_args->principal, "Only this principal's keys");
  list->add_option("--state", list_args->state, "active, superseded, expired or revoked")
      ->check(CLI::IsMember({"active", "superseded", "expired", "revoked"}));
  list->add_option("--expiring-within", list_args->expiring_within,
                   "Only keys expiring within this long, e.g. 30d");
  OnRun(list, globals, exit_code, [list_args, &globals](ControllerClient& client) {
    v1::ListKeysRequest req;
    req.set_principal(list_args->principal);
    const std::map<std::string, v1::KeyState> states = {{"active", v1::KEY_STATE_ACTIVE},
                                                        {"superseded", v1::KEY_STATE_SUPERSEDED},
                                                        {"expired", v1::KEY_STATE_EXPIRED},
                                                        {"revoked", v1::KEY_STATE_REVOKED}};
    if (!list_args->state.empty()) req.set_state(states.at(list_args->state));
    if (!list_args->expiring_within.empty()) {
      absl::StatusOr<absl::Duration> d = ParseDurationText(list_args->expiring_within);
      if (!d.ok()) return UsageError("--expiring-within: " + std::string(d.status().message()));
      req.mutable_expiring_within()->set_seconds(absl::ToInt64Seconds(*d));
    }
    v1::ListKeysResponse resp;
    grpc::Status s = client.admin().ListKeys(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
    } else {
      PrintKeyTable(resp.keys());
    }
    return kExitOk;
  });

  auto show_fp = std::make_shared<std::string>();
  CLI::App* show = group->add_subcommand("show", "Show one key");
  show->add_option("FINGERPRINT", *show_fp, "SHA256:…")->required();
  OnRun(show, globals, exit_code, [show_fp, &globals](ControllerClient& client) {
    v1::GetKeyRequest req;
    req.set_fingerprint(*show_fp);
    v1::Key key;
    grpc::Status s = client.admin().GetKey(client.Context().get(), req, &key);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(key) << "\n";
    } else {
      PrintKey(key);
    }
    return kExitOk;
  });

  struct LabelArgs {
    std::string fingerprint, label;
  };
  auto label_args = std::make_shared<LabelArgs>();
  CLI::App* label =
      group->add_subcommand("label", "Change a key's label (key material never changes)");
  label->add_option("FINGERPRINT", label_args->fingerprint, "SHA256:…")->required();
  label->add_option("LABEL", label_args->label, "The new label")->required();
  OnRun(label, globals, exit_code, [label_args, &globals](ControllerClient& client) {
    v1::LabelKeyRequest req;
    req.set_fingerprint(label_args->fingerprint);
    req.set_label(label_args->label);
    v1::MutationResponse resp;
    grpc::Status s = client.admin().LabelKey(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    return PrintMutation(globals, "key " + label_args->fingerprint + " labelled", resp);
  });

  auto remove_fp = std::make_shared<std::string>();
  auto remove_wait = std::make_shared<WaitOptions>();
  CLI::App* remove = group->add_subcommand(
      "remove", "Remove a key (it leaves every host; use revoke for a compromised key)");
  remove->add_option("FINGERPRINT", *remove_fp, "SHA256:…")->required();
  AddWaitOptions(remove, remove_wait.get());
  OnRun(remove, globals, exit_code, [remove_fp, remove_wait, &globals](ControllerClient& client) {
    v1::RemoveKeyRequest req;
    req.set_fingerprint(*remove_fp);
    v1::MutationResponse resp;
    grpc::Status s = client.admin().RemoveKey(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    return FinishMutation(client, globals, "key " + *remove_fp + " removed", resp.change(),
                          *remove_wait);
  });

  struct RevokeArgs {
    std::string fingerprint, reason;
    WaitOptions wait;
  };
  auto revoke_args = std::make_shared<RevokeArgs>();
  CLI::App* revoke = group->add_subcommand(
      "revoke",
      "Revoke a key: it leaves every host and can never be added again. With --wait, waits "
      "until every targeted host has applied it (exit 4 if some did not within --timeout).");
  revoke->add_option("FINGERPRINT", revoke_args->fingerprint, "SHA256:…")->required();
  revoke->add_option("--reason", revoke_args->reason, "Why (kept with the revocation)")->required();
  AddWaitOptions(revoke, &revoke_args->wait);
  OnRun(revoke, globals, exit_code, [revoke_args, &globals](ControllerClient& client) {
    v1::RevokeKeyRequest req;
    req.set_fingerprint(revoke_args->fingerprint);
    req.set_reason(revoke_args->reason);
    v1::MutationResponse resp;
    grpc::Status s = client.admin().RevokeKey(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    return FinishMutation(client, globals, "key " + revoke_args->fingerprint + " revoked",
                          resp.change(), revoke_args->wait);
  });

  struct RotateArgs {
    std::string fingerprint, file, label, overlap;
    bool now = false;
    WaitOptions wait;
  };
  auto rotate_args = std::make_shared<RotateArgs>();
  CLI::App* rotate = group->add_subcommand(
      "rotate",
      "Replace a key with its successor: NEW_FILE's key joins the same principal with every "
      "grant the old key had, and the old key (superseded) logs in until the overlap ends "
      "(--overlap, default the policy's; --now for none) — sshd itself enforces that end. For a "
      "compromised key use `key revoke`.");
  rotate->add_option("OLD_FINGERPRINT", rotate_args->fingerprint, "SHA256:… of the key to replace")
      ->required();
  rotate->add_option("NEW_FILE", rotate_args->file, "The successor's .pub file (- for stdin)")
      ->required();
  rotate->add_option("--label", rotate_args->label, "The new key's label (default: the old one's)");
  rotate->add_option("--overlap", rotate_args->overlap,
                     "How long the old key keeps working, e.g. 14d (default: the policy's)");
  rotate->add_flag("--now", rotate_args->now, "End the old key at once (a replaced laptop)");
  AddWaitOptions(rotate, &rotate_args->wait);
  OnRun(rotate, globals, exit_code, [rotate_args, &globals](ControllerClient& client) {
    if (rotate_args->now && !rotate_args->overlap.empty()) {
      return UsageError("give --overlap or --now, not both");
    }
    absl::StatusOr<std::string> text = ReadTextInput(rotate_args->file);
    if (!text.ok()) return UsageError(std::string(text.status().message()));
    std::vector<std::string> keys;
    ForEachLine(*text, [&](size_t, absl::string_view line) {
      if (!IsBlankOrCommentLine(line)) keys.emplace_back(line);
    });
    if (keys.size() != 1) {
      return UsageError(DisplayName(rotate_args->file) + " must hold exactly one public key (it " +
                        "holds " + std::to_string(keys.size()) + ")");
    }
    v1::RotateKeyRequest req;
    req.set_old_fingerprint(rotate_args->fingerprint);
    req.set_public_key(keys[0]);
    req.set_label(rotate_args->label);
    req.set_now(rotate_args->now);
    if (!rotate_args->overlap.empty()) {
      absl::StatusOr<absl::Duration> d = ParseDurationText(rotate_args->overlap);
      if (!d.ok()) return UsageError("--overlap: " + std::string(d.status().message()));
      req.mutable_overlap()->set_seconds(absl::ToInt64Seconds(*d));
    }
    v1::RotateKeyResponse resp;
    grpc::Status s = client.admin().RotateKey(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      if (!rotate_args->wait.wait) return kExitOk;
    }
    const std::string summary = absl::StrCat(
        "key ", resp.old_key().fingerprint(), " rotated to ", resp.new_key().fingerprint(),
        "; the old key works until ", FormatTimestamp(resp.old_key().expires_at().seconds()),
        resp.carried_grants_size() > 0
            ? absl::StrCat(" (", resp.carried_grants_size(), " grant(s) by fingerprint carried)")
            : "");
    return FinishMutation(client, globals, summary, resp.change(), rotate_args->wait);
  });
}

}  // namespace keyfleet::cli
