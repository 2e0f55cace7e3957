#include "cli/key_commands.h"

#include <iostream>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "cli/exit_codes.h"
#include "cli/key_argument.h"
#include "cli/key_usage_text.h"
#include "cli/online_command.h"
#include "cli/private_key_file.h"
#include "cli/rollout_commands.h"
#include "cli/table.h"
#include "cli/text_input.h"
#include "common/authorized_keys_line.h"
#include "common/duration_text.h"
#include "common/report_limits.h"

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
  Table table(
      {"FINGERPRINT", "PRINCIPAL", "TYPE", "BITS", "LABEL", "STATE", "EXPIRES", "LAST USED"});
  for (const auto& k : keys) {
    table.Add({k.fingerprint(), k.principal(), k.type(), std::to_string(k.bits()), k.label(),
               StateName(k.state()), FormatTimestamp(k.expires_at().seconds()), LastUsedText(k)});
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
    table.Add({"ends sessions", k.revocation_ends_sessions() ? "yes" : "no"});
  }
  if (!k.predecessor_fingerprint().empty()) table.Add({"replaces", k.predecessor_fingerprint()});
  if (!k.successor_fingerprint().empty()) {
    table.Add({"replaced by", k.successor_fingerprint()});
  }
  table.Add({"public key", k.public_key()});
  table.Add({"last used", LastUsedText(k)});
  std::cout << table.Render() << KeyUsesText(k);
}

// After `key revoke --wait` with sessions to end: the agents report the sessions they ended
// with the report that applies the revocation, which the controller records within a second.
// Asks a few times, `key` (just read) being the first answer, until the counts hold still,
// and says what it found.
int ReportSessionsEnded(ControllerClient& client, v1::Key key) {
  constexpr int kPolls = 6;
  constexpr absl::Duration kInterval = absl::Milliseconds(500);
  v1::GetKeyRequest req;
  req.set_fingerprint(key.fingerprint());
  std::string previous;
  for (int i = 0; i < kPolls; ++i) {
    if (i > 0) {
      absl::SleepFor(kInterval);
      grpc::Status s = client.admin().GetKey(client.Context().get(), req, &key);
      if (!s.ok()) return client.Fail(s);
    }
    std::string counts = SessionsEndedSummary(key);
    if (!key.sessions_ended().empty() && counts == previous) break;
    previous = std::move(counts);
  }
  std::cout << SessionsEndedSummary(key) << "\n";
  return kExitOk;
}

// KeyReachRequest.limit's cap (admin.proto): entries in one answer.
constexpr uint32_t kMaxReachLimit = 10000;

// "1 account on 1 host", "12 accounts on 3 hosts".
std::string ReachSummary(const v1::KeyReachResponse& resp) {
  return absl::StrCat(resp.accounts(), resp.accounts() == 1 ? " account" : " accounts", " on ",
                      resp.hosts(), resp.hosts() == 1 ? " host" : " hosts");
}

// `key reach`: one row per host, account (and key, for a principal's keys).
void PrintReach(const v1::KeyReachResponse& resp, bool by_principal) {
  std::vector<std::string> headers = {"HOST", "ACCOUNT"};
  if (by_principal) headers.push_back("FINGERPRINT");
  for (const char* h : {"GRANT", "OPTIONS", "EXPIRES", "APPLIED"}) headers.push_back(h);
  Table table(std::move(headers));
  for (const v1::ReachEntry& e : resp.entries()) {
    std::vector<std::string> row = {e.hostname(), e.account()};
    if (by_principal) row.push_back(e.fingerprint());
    row.push_back(e.grant_id());
    row.push_back(e.options().empty() ? "-" : e.options());
    row.push_back(e.has_expires_at() ? FormatTimestamp(e.expires_at().seconds()) : "never");
    // "no": not applied yet, or the host could not write that account (`host status` says).
    row.push_back(e.applied() ? "yes" : "no");
    table.Add(std::move(row));
  }
  std::cout << table.Render() << ReachSummary(resp) << "\n";
  if (resp.truncated()) {
    std::cout << "only the first " << resp.entries_size()
              << " entries are listed (the counts are whole; --limit lists up to " << kMaxReachLimit
              << ")\n";
  }
}

// --generate [--type T] --out FILE [--passphrase-file F], for `key generate` and `key rotate`.
struct GeneratedKeyOutput {
  bool generate = false;
  std::string type = "ed25519";
  std::string out;
  std::string passphrase_file;
};

void AddGeneratedKeyOptions(CLI::App* cmd, GeneratedKeyOutput* o, bool optional) {
  if (optional) {
    cmd->add_flag("--generate", o->generate,
                  "The controller makes the successor's key pair (see key generate)");
  } else {
    o->generate = true;
  }
  cmd->add_option("--type", o->type, "ed25519 (default), ecdsa-p256 or rsa-3072")
      ->check(CLI::IsMember({"ed25519", "ecdsa-p256", "rsa-3072"}));
  cmd->add_option("--out", o->out,
                  "Where to write the private key (created 0600, never overwritten); the public "
                  "key goes to OUT.pub");
  cmd->add_option("--passphrase-file", o->passphrase_file,
                  "Encrypt the private key with the passphrase in this file (one line), as "
                  "ssh-keygen does; it never leaves this machine");
}

// Before the controller is asked (see PrivateKeyOutput).
absl::StatusOr<PrivateKeyOutput> PrepareKeyOutput(const GeneratedKeyOutput& o) {
  if (o.out.empty()) {
    return absl::InvalidArgumentError("--out FILE is required with a generated key");
  }
  return PrivateKeyOutput::Prepare(o.out, o.passphrase_file);
}

absl::Status SaveGeneratedKey(const PrivateKeyOutput& out, const std::string& private_key,
                              const v1::Key& key) {
  std::string public_line = key.public_key();
  if (!key.comment().empty()) public_line += " " + key.comment();
  return out.Save(private_key, public_line);
}

int SaveFailed(const absl::Status& s, const std::string& fingerprint) {
  std::cerr << "keyfleet: error: the key " << fingerprint
            << " was registered but its private key could not be saved: " << s.message()
            << "\n  remove it (keyfleet key remove " << fingerprint << ") and generate again\n";
  return kExitRefused;
}

}  // namespace

void AddKeyCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* group = app.add_subcommand(
      "key", "Public keys: add, generate, list, show, reach, label, rotate, remove, revoke");
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
    if (absl::Status utf8 = CheckUtf8Lines(add_args->file, *text); !utf8.ok()) {
      return UsageError(std::string(utf8.message()));
    }
    v1::AddKeysRequest req;
    req.set_principal(add_args->principal);
    req.set_label(add_args->label);
    ForEachLine(*text, [&](size_t, absl::string_view line) {
      if (!IsBlankOrCommentLine(line)) req.add_public_keys(std::string(line));
    });
    if (req.public_keys_size() == 0) {
      return UsageError("no public keys in " + DisplayName(add_args->file));
    }
    // The controller receives at most kMaxReportMessageBytes in one message; gRPC's own refusal
    // ("Received message larger than max") would not say what to do.
    if (const size_t bytes = req.ByteSizeLong(); bytes > kMaxReportMessageBytes) {
      const size_t per_request =
          static_cast<size_t>(req.public_keys_size()) * kMaxReportMessageBytes / bytes;
      return UsageError(absl::StrCat(
          DisplayName(add_args->file), " holds ", req.public_keys_size(), " keys (", bytes / 1024,
          " KiB): one request carries at most ", kMaxReportMessageBytes / 1024, " KiB, about ",
          per_request, " such keys; split the file and add each part (each part is all or none)"));
    }
    v1::AddKeysResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::AddKeys, req, &resp);
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
    std::string principal, state, expiring_within, unused_for;
  };
  auto list_args = std::make_shared<ListArgs>();
  CLI::App* list = group->add_subcommand("list", "List keys");
  list->add_option("--principal", list_args->principal, "Only this principal's keys");
  list->add_option("--state", list_args->state, "active, superseded, expired or revoked")
      ->check(CLI::IsMember({"active", "superseded", "expired", "revoked"}));
  list->add_option("--expiring-within", list_args->expiring_within,
                   "Only keys expiring within this long, e.g. 30d");
  list->add_option("--unused-for", list_args->unused_for,
                   "Only keys with no login recorded within this long, e.g. 90d (a key never "
                   "used counts once older than that)");
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
    if (!list_args->unused_for.empty()) {
      absl::StatusOr<absl::Duration> d = ParseDurationText(list_args->unused_for);
      if (!d.ok()) return UsageError("--unused-for: " + std::string(d.status().message()));
      req.mutable_unused_for()->set_seconds(absl::ToInt64Seconds(*d));
    }
    v1::ListKeysResponse resp;
    grpc::Status s = client.ListAll(&v1::AdminService::Stub::ListKeys, req, &resp);
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

  struct ReachArgs {
    std::string key, principal;
    uint32_t limit = 0;
  };
  auto reach_args = std::make_shared<ReachArgs>();
  CLI::App* reach = group->add_subcommand(
      "reach",
      "Where a key, or each key of --principal, logs in now: every host and account whose "
      "desired state holds a line for it, with the grant, its options, the expiry, and whether "
      "the host has applied it (lines users added themselves are not included: see `access`)");
  reach->add_option("KEY", reach_args->key,
                    "A public key file (- for stdin) or a key's SHA256:… fingerprint");
  reach->add_option("--principal", reach_args->principal,
                    "Each key of this principal, instead of one KEY");
  reach
      ->add_option("--limit", reach_args->limit,
                   absl::StrCat("Entries listed (default 1000, at most ", kMaxReachLimit,
                                "); the counts are always whole"))
      ->check(CLI::Range(uint32_t{1}, kMaxReachLimit));
  OnRun(reach, globals, exit_code, [reach_args, &globals](ControllerClient& client) {
    const ReachArgs& a = *reach_args;
    if (a.key.empty() == a.principal.empty()) {
      return UsageError(
          "give a KEY (a public key file or its SHA256: fingerprint) or --principal NAME, one "
          "of them");
    }
    v1::KeyReachRequest req;
    if (!a.key.empty()) {
      absl::StatusOr<std::string> fingerprint = FingerprintArgument(a.key);
      if (!fingerprint.ok()) return UsageError(std::string(fingerprint.status().message()));
      req.set_fingerprint(*fingerprint);
    } else {
      req.set_principal(a.principal);
    }
    req.set_limit(a.limit);
    v1::KeyReachResponse resp;
    grpc::Status s = client.admin().KeyReach(client.Context().get(), req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
    } else {
      PrintReach(resp, /*by_principal=*/!a.principal.empty());
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
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::LabelKey, req, &resp);
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
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::RemoveKey, req, &resp);
    if (!s.ok()) return client.Fail(s);
    return FinishMutation(client, globals, "key " + *remove_fp + " removed", resp.change(),
                          *remove_wait);
  });

  struct RevokeArgs {
    std::string fingerprint, reason;
    bool kill_sessions = false, no_kill_sessions = false;
    WaitOptions wait;
  };
  auto revoke_args = std::make_shared<RevokeArgs>();
  CLI::App* revoke = group->add_subcommand(
      "revoke",
      "Revoke a key: it leaves every host and can never be added again. With --wait, waits "
      "until every targeted host has applied it (exit 4 if some did not within --timeout), "
      "then says how many live sessions were ended.");
  revoke->add_option("FINGERPRINT", revoke_args->fingerprint, "SHA256:…")->required();
  revoke->add_option("--reason", revoke_args->reason, "Why (kept with the revocation)")->required();
  CLI::Option* kill = revoke->add_flag(
      "--kill-sessions", revoke_args->kill_sessions,
      "Also end the live sshd sessions that logged in with the key, on every host (default: "
      "the policy's end_sessions_on_revoke)");
  revoke
      ->add_flag("--no-kill-sessions", revoke_args->no_kill_sessions,
                 "Leave live sessions running, whatever the policy's default")
      ->excludes(kill);
  AddWaitOptions(revoke, &revoke_args->wait);
  OnRun(revoke, globals, exit_code, [revoke_args, &globals](ControllerClient& client) {
    v1::RevokeKeyRequest req;
    req.set_fingerprint(revoke_args->fingerprint);
    req.set_reason(revoke_args->reason);
    if (revoke_args->kill_sessions) req.set_kill_sessions(true);
    if (revoke_args->no_kill_sessions) req.set_kill_sessions(false);
    v1::MutationResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::RevokeKey, req, &resp);
    if (!s.ok()) return client.Fail(s);
    const int finished =
        FinishMutation(client, globals, "key " + revoke_args->fingerprint + " revoked",
                       resp.change(), revoke_args->wait);
    if (!revoke_args->wait.wait || globals.output != OutputFormat::kTable || finished != kExitOk) {
      return finished;
    }
    // Whether sessions were to end: asked, or the policy's default (the key says which).
    v1::GetKeyRequest get;
    get.set_fingerprint(revoke_args->fingerprint);
    v1::Key key;
    if (!client.admin().GetKey(client.Context().get(), get, &key).ok() ||
        !key.revocation_ends_sessions()) {
      return finished;
    }
    return ReportSessionsEnded(client, std::move(key));
  });

  struct RotateArgs {
    std::string fingerprint, file, label, overlap;
    bool now = false;
    GeneratedKeyOutput generated;
    WaitOptions wait;
  };
  auto rotate_args = std::make_shared<RotateArgs>();
  CLI::App* rotate = group->add_subcommand(
      "rotate",
      "Replace a key with its successor: NEW_FILE's key (or one the controller generates, "
      "--generate) joins the same principal with every grant the old key had, and the old key "
      "(superseded) logs in until the overlap ends (--overlap, default the policy's; --now for "
      "none) — sshd itself enforces that end. For a compromised key use `key revoke`.");
  rotate->add_option("OLD_FINGERPRINT", rotate_args->fingerprint, "SHA256:… of the key to replace")
      ->required();
  rotate->add_option("NEW_FILE", rotate_args->file, "The successor's .pub file (- for stdin)");
  rotate->add_option("--label", rotate_args->label, "The new key's label (default: the old one's)");
  rotate->add_option("--overlap", rotate_args->overlap,
                     "How long the old key keeps working, e.g. 14d (default: the policy's)");
  rotate->add_flag("--now", rotate_args->now, "End the old key at once (a replaced laptop)");
  AddGeneratedKeyOptions(rotate, &rotate_args->generated, /*optional=*/true);
  AddWaitOptions(rotate, &rotate_args->wait);
  OnRun(rotate, globals, exit_code, [rotate_args, &globals](ControllerClient& client) {
    const RotateArgs& a = *rotate_args;
    if (a.now && !a.overlap.empty()) return UsageError("give --overlap or --now, not both");
    if (a.generated.generate == !a.file.empty()) {
      return UsageError("give the successor's NEW_FILE or --generate (with --out), one of them");
    }
    v1::RotateKeyRequest req;
    req.set_old_fingerprint(a.fingerprint);
    req.set_label(a.label);
    req.set_now(a.now);
    if (!a.overlap.empty()) {
      absl::StatusOr<absl::Duration> d = ParseDurationText(a.overlap);
      if (!d.ok()) return UsageError("--overlap: " + std::string(d.status().message()));
      req.mutable_overlap()->set_seconds(absl::ToInt64Seconds(*d));
    }
    std::optional<PrivateKeyOutput> out;
    if (a.generated.generate) {
      absl::StatusOr<PrivateKeyOutput> prepared = PrepareKeyOutput(a.generated);
      if (!prepared.ok()) return UsageError(std::string(prepared.status().message()));
      out.emplace(std::move(*prepared));
      req.set_generate_type(a.generated.type);
    } else {
      absl::StatusOr<std::string> text = ReadTextInput(a.file);
      if (!text.ok()) return UsageError(std::string(text.status().message()));
      if (absl::Status utf8 = CheckUtf8Lines(a.file, *text); !utf8.ok()) {
        return UsageError(std::string(utf8.message()));
      }
      std::vector<std::string> keys;
      ForEachLine(*text, [&](size_t, absl::string_view line) {
        if (!IsBlankOrCommentLine(line)) keys.emplace_back(line);
      });
      if (keys.size() != 1) {
        return UsageError(DisplayName(a.file) + " must hold exactly one public key (it " +
                          "holds " + std::to_string(keys.size()) + ")");
      }
      req.set_public_key(keys[0]);
    }
    v1::RotateKeyResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::RotateKey, req, &resp);
    if (!s.ok()) return client.Fail(s);
    if (out) {
      absl::Status saved = SaveGeneratedKey(*out, resp.private_key(), resp.new_key());
      if (!saved.ok()) return SaveFailed(saved, resp.new_key().fingerprint());
    }
    resp.clear_private_key();  // never printed
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      if (!a.wait.wait) return kExitOk;
    }
    const std::string summary = absl::StrCat(
        "key ", resp.old_key().fingerprint(), " rotated to ", resp.new_key().fingerprint(),
        out ? absl::StrCat(" (generated: ", a.generated.out, ")") : "",
        "; the old key works until ", FormatTimestamp(resp.old_key().expires_at().seconds()),
        resp.carried_grants_size() > 0
            ? absl::StrCat(" (", resp.carried_grants_size(), " grant(s) by fingerprint carried)")
            : "");
    return FinishMutation(client, globals, summary, resp.change(), a.wait);
  });

  struct GenerateArgs {
    std::string principal, label;
    GeneratedKeyOutput generated;
  };
  auto generate_args = std::make_shared<GenerateArgs>();
  CLI::App* generate = group->add_subcommand(
      "generate",
      "Have the controller make a key pair for PRINCIPAL (a CI pipeline's key): only the public "
      "half is kept; the private key comes back once, over TLS, and is written to --out (0600, "
      "OpenSSH format, with --passphrase-file's passphrase) and --out.pub");
  generate->add_option("PRINCIPAL", generate_args->principal, "Whose key it is")->required();
  generate->add_option("--label", generate_args->label, "A label, e.g. ci");
  AddGeneratedKeyOptions(generate, &generate_args->generated, /*optional=*/false);
  OnRun(generate, globals, exit_code, [generate_args, &globals](ControllerClient& client) {
    const GenerateArgs& a = *generate_args;
    absl::StatusOr<PrivateKeyOutput> out = PrepareKeyOutput(a.generated);
    if (!out.ok()) return UsageError(std::string(out.status().message()));
    v1::GenerateKeyRequest req;
    req.set_principal(a.principal);
    req.set_type(a.generated.type);
    req.set_label(a.label);
    v1::GenerateKeyResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::GenerateKey, req, &resp);
    if (!s.ok()) return client.Fail(s);
    absl::Status saved = SaveGeneratedKey(*out, resp.private_key(), resp.key());
    if (!saved.ok()) return SaveFailed(saved, resp.key().fingerprint());
    resp.clear_private_key();  // never printed
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    std::cout << "generated " << resp.key().type() << " key " << resp.key().fingerprint() << " for "
              << a.principal << " (change " << resp.change() << "): private key in "
              << a.generated.out << (out->encrypted() ? " (passphrase-protected)" : "")
              << ", public key in " << a.generated.out << ".pub; the controller keeps no copy\n";
    return kExitOk;
  });
}

}  // namespace keyfleet::cli
