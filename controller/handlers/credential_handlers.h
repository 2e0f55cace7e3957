// Admin credentials without gRPC: API tokens and admin client certificates (created, listed,
// revoked), the bootstrap token, and authenticating whoever presents one. The service edge
// (controller/service/admin_auth.h) calls Authenticate*; nothing else decides who an admin is.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "controller/ca/certificate_authority.h"
#include "controller/handlers/handler_context.h"

namespace keyfleet::controller {

// What to create: name, role, principal (owner), host scope (operator), and expiry.
struct CredentialSpec {
  std::string name;
  Role role = Role::kAuditor;
  std::string principal;
  Labels host_scope;
  std::optional<absl::Duration> lifetime;  // default kDefaultCredentialLifetime
  bool never_expires = false;
};

struct NewApiToken {
  std::string text;  // the secret token: shown once, never stored
  ApiCredentialRecord record;
};

struct NewAdminCertificate {
  std::string certificate_pem;  // the leaf
  std::string ca_bundle_pem;    // the CAs a client should trust for the controller
  ApiCredentialRecord record;
};

class CredentialHandlers {
 public:
  // `ca` is null with --insecure-dev (no certificates then).
  CredentialHandlers(HandlerContext& ctx, const CertificateAuthority* ca) : ctx_(ctx), ca_(ca) {}

  // INVALID_ARGUMENT (spec), NOT_FOUND (an owner's principal), ALREADY_EXISTS (name).
  absl::StatusOr<NewApiToken> CreateToken(const Actor& actor, const CredentialSpec& spec);
  // Signs `csr_pem` (the key stays with the caller) for a new certificate credential; the
  // certificate expires with the credential (a spec that never expires is refused: certificates
  // always end).
  absl::StatusOr<NewAdminCertificate> IssueCertificate(const Actor& actor,
                                                       const CredentialSpec& spec,
                                                       const std::string& csr_pem);
  absl::StatusOr<std::vector<ApiCredentialRecord>> List() const;
  absl::StatusOr<ApiCredentialRecord> Revoke(const Actor& actor,
                                             const std::string& name_or_id);

  // The live credential a bearer token (the text after "Bearer ") belongs to, from the fleet
  // view's copy of the credentials (the change feed keeps it current on every replica), so no
  // database read is needed, during an outage too. UNAUTHENTICATED for a malformed, unknown or
  // forged token (one message for both: no oracle), a revoked or an expired one; UNAVAILABLE
  // when an id the view does not know cannot be looked up in the database.
  absl::StatusOr<ApiCredentialRecord> AuthenticateToken(const std::string& token) const;
  // The live credential an admin client certificate (leaf PEM) belongs to: verified against the
  // CA now, and naming a live certificate credential with that serial.
  absl::StatusOr<ApiCredentialRecord> AuthenticateCertificate(const std::string& leaf_pem) const;

  // Makes the bootstrap admin token on the first start of a database, and never again (not
  // after it is revoked either). `given_token` ($KEYFLEET_BOOTSTRAP_TOKEN, e.g. from a
  // Kubernetes Secret) is registered as it is; else with `token_file` (--bootstrap-token-file)
  // a token already there (0600/0400) is registered, or a new one written there (0600) first;
  // else a new one is returned for the caller to print once. Returns the token text only when
  // the caller should print it.
  absl::StatusOr<std::optional<std::string>> EnsureBootstrapToken(
      const std::string& token_file, const std::string& given_token = "");

  // Writes the last-used times noted since the previous flush (the writer thread calls it: a
  // call never waits for the database to record its use). Failed ones are kept.
  absl::Status FlushUses();

 private:
  absl::StatusOr<ApiCredentialRecord> NewRecord(const Actor& actor,
                                                const CredentialSpec& spec);
  // Queues last_used_at for FlushUses, at most once per kLastUsedResolution per credential.
  void NoteUse(const ApiCredentialRecord& credential) const;
  absl::StatusOr<std::optional<ApiCredentialRecord>> Lookup(const std::string& id) const;
  void CatchUp() const;

  HandlerContext& ctx_;
  const CertificateAuthority* ca_;
  mutable std::mutex usage_mu_;
  mutable std::map<std::string, absl::Time> noted_use_;    // id → last time noted
  mutable std::map<std::string, absl::Time> pending_use_;  // id → time, not yet written
};

}  // namespace keyfleet::controller
