#include "cli/token_commands.h"

#include <iostream>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "cli/exit_codes.h"
#include "cli/label_text.h"
#include "cli/online_command.h"
#include "cli/table.h"
#include "common/duration_text.h"
#include "common/tls/secure_file.h"
#include "common/tls/x509.h"

namespace keyfleet::cli {
namespace {

struct SpecArgs {
  std::string name;
  std::string role;
  std::string principal;
  std::string hosts;
  std::string expires;
  CLI::Option* hosts_option = nullptr;  // given at all (an empty value is an error, not "all")
};

void AddSpecOptions(CLI::App* cmd, SpecArgs& args, const char* default_expiry) {
  cmd->add_option("--name", args.name,
                  "Who or what holds it: letters, digits and . _ @ - (e.g. ci-deploy, "
                  "alice@example.com); the audit log names the caller by it")
      ->required();
  cmd->add_option("--role", args.role,
                  "admin (everything), operator (principals, keys, grants, revoke, host tokens "
                  "and labels), auditor (read everything, change nothing) or owner (one "
                  "principal's own keys; needs --principal)")
      ->required()
      ->check(CLI::IsMember({"admin", "operator", "auditor", "owner"}));
  cmd->add_option("--principal", args.principal, "With --role owner: the principal it acts for");
  args.hosts_option =
      cmd->add_option("--hosts", args.hosts,
                      "With --role operator: limit it to hosts carrying these labels "
                      "(KEY=VALUE[,…]); it may then only grant to selectors requiring them");
  cmd->add_option(
      "--expires", args.expires,
      std::string("How long it is valid, e.g. 90d, 12h (default ") + default_expiry + ")");
}

v1::Role RoleOf(const std::string& name) {
  if (name == "admin") return v1::ROLE_ADMIN;
  if (name == "operator") return v1::ROLE_OPERATOR;
  if (name == "auditor") return v1::ROLE_AUDITOR;
  if (name == "owner") return v1::ROLE_OWNER;
  return v1::ROLE_UNSPECIFIED;
}

std::string RoleText(v1::Role role) {
  std::string name = v1::Role_Name(role);  // "ROLE_ADMIN"
  return absl::AsciiStrToLower(name.substr(5));
}

// Fills `spec`; a usage error message otherwise.
std::string BuildSpec(const SpecArgs& args, v1::CredentialSpec* spec) {
  spec->set_name(args.name);
  spec->set_role(RoleOf(args.role));
  spec->set_principal(args.principal);
  std::string error;
  if (args.hosts_option != nullptr && args.hosts_option->count() > 0 && args.hosts.empty()) {
    return "--hosts is empty (an unset variable?); leave it out for a credential without a "
           "host scope";
  }
  if (!args.hosts.empty() && !ParseLabelList(args.hosts, spec->mutable_host_scope(), &error)) {
    return absl::StrCat("--hosts: ", error);
  }
  if (args.expires == "never") {
    spec->set_never_expires(true);
  } else if (!args.expires.empty()) {
    absl::StatusOr<absl::Duration> d = ParseDurationText(args.expires);
    if (!d.ok()) return absl::StrCat("--expires: ", d.status().message(), " (or \"never\")");
    spec->mutable_expires()->set_seconds(absl::ToInt64Seconds(*d));
  }
  return "";
}

std::string ScopeText(const v1::Credential& c) {
  if (c.role() == v1::ROLE_OWNER) return "principal " + c.principal();
  if (c.host_scope().empty()) return "all hosts";
  return "hosts " + LabelText(c.host_scope());
}

std::string StateText(const v1::Credential& c) {
  if (c.has_revoked_at()) return "revoked";
  if (c.has_expires_at() && c.expires_at().seconds() <= absl::ToUnixSeconds(absl::Now())) {
    return "expired";
  }
  return "active";
}

int Create(ControllerClient& client, const GlobalOptions& globals, const SpecArgs& args) {
  v1::CreateTokenRequest req;
  if (std::string error = BuildSpec(args, req.mutable_spec()); !error.empty()) {
    return UsageError(error);
  }
  v1::CreateTokenResponse resp;
  grpc::Status s = client.Mutate(&v1::AdminService::Stub::CreateToken, req, &resp);
  if (!s.ok()) return client.Fail(s);
  if (globals.output == OutputFormat::kJson) {
    std::cout << ToJson(resp) << "\n";
    return kExitOk;
  }
  const v1::Credential& c = resp.credential();
  std::cout << resp.token() << "\n";
  std::cerr << "token \"" << c.name() << "\": role " << RoleText(c.role()) << ", " << ScopeText(c)
            << ", expires "
            << (c.has_expires_at() ? FormatTimestamp(c.expires_at().seconds()) : "never")
            << ".\nIt is shown only this once; the controller keeps only its hash. Use it with "
               "`keyfleet --token-file FILE` or $KEYFLEET_TOKEN.\n";
  return kExitOk;
}

int List(ControllerClient& client, const GlobalOptions& globals) {
  v1::ListTokensResponse resp;
  grpc::Status s =
      client.ListAll(&v1::AdminService::Stub::ListTokens, v1::ListTokensRequest(), &resp);
  if (!s.ok()) return client.Fail(s);
  if (globals.output == OutputFormat::kJson) {
    std::cout << ToJson(resp) << "\n";
    return kExitOk;
  }
  Table table(
      {"NAME", "KIND", "ROLE", "SCOPE", "STATE", "EXPIRES", "LAST USED", "CREATED BY", "ID"});
  for (const v1::Credential& c : resp.credentials()) {
    table.Add({c.name(), c.kind(), RoleText(c.role()), ScopeText(c), StateText(c),
               c.has_expires_at() ? FormatTimestamp(c.expires_at().seconds()) : "never",
               FormatTimestamp(c.last_used_at().seconds()), c.created_by(), c.id()});
  }
  std::cout << table.Render();
  return kExitOk;
}

struct CertArgs {
  SpecArgs spec;
  std::string key_out;
  std::string cert_out;
};

int IssueCertificate(ControllerClient& client, const GlobalOptions& globals, const CertArgs& args) {
  v1::IssueAdminCertificateRequest req;
  if (std::string error = BuildSpec(args.spec, req.mutable_spec()); !error.empty()) {
    return UsageError(error);
  }
  // Both places must be writable before anything is issued (else a live credential would have
  // no key), and a key is never overwritten.
  auto [key_dir, key_name] = tls::SplitDirAndName(args.key_out);
  absl::StatusOr<bool> key_exists = tls::FileExists(key_dir, key_name);
  if (!key_exists.ok())
    return UsageError("--key-out: " + std::string(key_exists.status().message()));
  if (*key_exists) {
    return UsageError("--key-out " + args.key_out +
                      " exists; give a new path (a private key is never overwritten)");
  }
  auto [cert_dir, cert_name] = tls::SplitDirAndName(args.cert_out);
  absl::StatusOr<bool> cert_exists = tls::FileExists(cert_dir, cert_name);
  if (!cert_exists.ok()) {
    return UsageError("--cert-out: " + std::string(cert_exists.status().message()));
  }
  // The key is made here and never leaves this machine; the controller sees only the CSR.
  absl::StatusOr<std::string> key = tls::GenerateKeyPem();
  if (!key.ok()) return UsageError(std::string(key.status().message()));
  absl::StatusOr<std::string> csr = tls::MakeCsrPem(*key, args.spec.name);
  if (!csr.ok()) return UsageError(std::string(csr.status().message()));
  req.set_csr_pem(*csr);
  v1::IssueAdminCertificateResponse resp;
  grpc::Status s = client.Mutate(&v1::AdminService::Stub::IssueAdminCertificate, req, &resp);
  if (!s.ok()) return client.Fail(s);
  if (absl::Status w = tls::WriteFileAtomically(key_dir, key_name, *key, 0600); !w.ok()) {
    std::cerr << "keyfleet: the certificate was issued (credential \"" << resp.credential().name()
              << "\") but its key could not be written: " << w.message()
              << "\n  revoke it with `keyfleet token revoke " << resp.credential().name()
              << "` and try again\n";
    return kExitRefused;
  }
  if (absl::Status w = tls::WriteFileAtomically(cert_dir, cert_name, resp.certificate_pem(), 0644);
      !w.ok()) {
    std::cerr << "keyfleet: cannot write the certificate: " << w.message() << "\n";
    return kExitRefused;
  }
  if (globals.output == OutputFormat::kJson) {
    std::cout << ToJson(resp.credential()) << "\n";
    return kExitOk;
  }
  const v1::Credential& c = resp.credential();
  std::cout << "admin certificate \"" << c.name() << "\": role " << RoleText(c.role()) << ", "
            << ScopeText(c) << ", serial " << c.certificate_serial() << ", expires "
            << FormatTimestamp(c.expires_at().seconds()) << "\n  key  " << args.key_out
            << " (0600, made here; never sent)\n  cert " << args.cert_out
            << "\nUse it with: keyfleet --cert " << args.cert_out << " --key " << args.key_out
            << " …\n";
  return kExitOk;
}

}  // namespace

void AddTokenCommands(CLI::App& app, const GlobalOptions& globals, int& exit_code) {
  CLI::App* token = app.add_subcommand(
      "token", "API tokens (and admin certificates): who may use the admin API, with which role");
  token->require_subcommand(1);

  auto create_args = std::make_shared<SpecArgs>();
  CLI::App* create = token->add_subcommand(
      "create",
      "Create an API token and print it (once: the controller keeps only its hash). Needs the "
      "admin role.");
  AddSpecOptions(create, *create_args, "90d; \"never\" for no expiry");
  OnRun(create, globals, exit_code, [create_args, &globals](ControllerClient& client) {
    return Create(client, globals, *create_args);
  });

  CLI::App* list = token->add_subcommand(
      "list",
      "List tokens and admin certificates: role, scope, state, expiry, last use (never "
      "a secret)");
  OnRun(list, globals, exit_code,
        [&globals](ControllerClient& client) { return List(client, globals); });

  auto revoke_name = std::make_shared<std::string>();
  CLI::App* revoke = token->add_subcommand(
      "revoke", "Revoke a token or admin certificate by name (or id): refused from its next call");
  revoke->add_option("NAME", *revoke_name, "Its name or id (from `token list`)")->required();
  OnRun(revoke, globals, exit_code, [revoke_name](ControllerClient& client) {
    v1::RevokeTokenRequest req;
    req.set_name(*revoke_name);
    v1::MutationResponse resp;
    grpc::Status s = client.Mutate(&v1::AdminService::Stub::RevokeToken, req, &resp);
    if (!s.ok()) return client.Fail(s);
    std::cout << "revoked " << *revoke_name << "\n";
    return kExitOk;
  });

  CLI::App* admin = app.add_subcommand("admin", "Admin client certificates");
  admin->require_subcommand(1);
  CLI::App* cert =
      admin->add_subcommand("cert", "Admin client certificates from the controller's CA");
  cert->require_subcommand(1);
  auto cert_args = std::make_shared<CertArgs>();
  CLI::App* issue = cert->add_subcommand(
      "issue",
      "Make a key here, have the controller's CA certify it for a role, and write both; then "
      "authenticate with --cert and --key instead of a token. Revoke with `token revoke NAME`.");
  AddSpecOptions(issue, cert_args->spec, "90d");
  issue->add_option("--key-out", cert_args->key_out, "Where to write the private key (0600)")
      ->required();
  issue->add_option("--cert-out", cert_args->cert_out, "Where to write the certificate")
      ->required();
  OnRun(issue, globals, exit_code, [cert_args, &globals](ControllerClient& client) {
    return IssueCertificate(client, globals, *cert_args);
  });

  CLI::App* whoami =
      app.add_subcommand("whoami", "Show the credential you are calling with, and its role");
  OnRun(whoami, globals, exit_code, [&globals](ControllerClient& client) {
    v1::WhoAmIResponse resp;
    grpc::Status s = client.admin().WhoAmI(client.Context().get(), v1::WhoAmIRequest(), &resp);
    if (!s.ok()) return client.Fail(s);
    if (globals.output == OutputFormat::kJson) {
      std::cout << ToJson(resp) << "\n";
      return kExitOk;
    }
    const v1::Credential& c = resp.credential();
    std::cout << resp.actor() << ": role " << RoleText(c.role()) << ", " << ScopeText(c)
              << ", expires "
              << (c.has_expires_at() ? FormatTimestamp(c.expires_at().seconds()) : "never") << "\n";
    return kExitOk;
  });
}

}  // namespace keyfleet::cli
