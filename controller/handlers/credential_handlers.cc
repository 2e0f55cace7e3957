#include "controller/handlers/credential_handlers.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "common/tls/secure_file.h"
#include "controller/credential_rules.h"
#include "controller/secret_token.h"
#include "spdlog/spdlog.h"

namespace keyfleet::controller {
namespace {

// A token file holds one token and perhaps a newline.
constexpr size_t kMaxTokenFileBytes = 4096;

absl::Status UnknownTokenError() {
  return absl::UnauthenticatedError(
      "the API token is not valid (unknown, or its secret does not match)");
}

}  // namespace

absl::StatusOr<ApiCredentialRecord> CredentialHandlers::NewRecord(const Actor& actor,
                                                                  const CredentialSpec& spec) {
  ApiCredentialRecord c;
  c.name = spec.name;
  c.role = spec.role;
  c.principal = spec.principal;
  c.host_scope = spec.host_scope;
  KF_RETURN_IF_ERROR(ValidateCredentialSpec(c));
  if (!c.principal.empty() && !ctx_.view.FindPrincipal(c.principal)) {
    return absl::NotFoundError(absl::StrCat("principal \"", c.principal,
                                            "\" does not exist (see `keyfleet principal list`)"));
  }
  c.created_at = ctx_.Now();
  c.created_by = actor.name;
  KF_ASSIGN_OR_RETURN(c.expires_at,
                      CredentialExpiry(c.created_at, spec.lifetime, spec.never_expires));
  return c;
}

absl::StatusOr<NewApiToken> CredentialHandlers::CreateToken(const Actor& actor,
                                                            const CredentialSpec& spec) {
  KF_ASSIGN_OR_RETURN(ApiCredentialRecord c, NewRecord(actor, spec));
  KF_ASSIGN_OR_RETURN(SecretTokenParts parts, GenerateSecretToken(kApiTokenFormat));
  c.id = parts.id;
  c.kind = CredentialKind::kToken;
  c.secret_hash = parts.secret_hash;
  KF_RETURN_IF_ERROR(ctx_.store.CreateApiCredential(actor.At(c.created_at), c));
  CatchUp();
  spdlog::info("{} created token \"{}\" (role {})", actor.name, c.name, RoleName(c.role));
  return NewApiToken{parts.text, c};
}

absl::StatusOr<NewAdminCertificate> CredentialHandlers::IssueCertificate(
    const Actor& actor, const CredentialSpec& spec, const std::string& csr_pem) {
  if (ca_ == nullptr) {
    return absl::FailedPreconditionError(
        "this controller runs with --insecure-dev (no TLS, no CA): it cannot issue admin "
        "certificates; use a token");
  }
  if (spec.never_expires) {
    return absl::InvalidArgumentError(
        "an admin certificate always expires: give --expires DURATION (default 90 days)");
  }
  KF_ASSIGN_OR_RETURN(ApiCredentialRecord c, NewRecord(actor, spec));
  KF_ASSIGN_OR_RETURN(SecretTokenParts id, GenerateSecretToken(kApiTokenFormat));
  c.id = id.id;
  c.kind = CredentialKind::kCertificate;
  KF_ASSIGN_OR_RETURN(
      std::string pem,
      ca_->SignAdminCertificate(csr_pem, c.name, c.id, c.created_at, *c.expires_at - c.created_at));
  KF_ASSIGN_OR_RETURN(tls::CertificateInfo info, tls::InspectCertificate(pem));
  c.certificate_serial = info.serial_hex;
  KF_RETURN_IF_ERROR(ctx_.store.CreateApiCredential(actor.At(c.created_at), c));
  CatchUp();
  spdlog::info("{} issued admin certificate \"{}\" (role {}, serial {})", actor.name, c.name,
               RoleName(c.role), c.certificate_serial);
  return NewAdminCertificate{pem, ca_->trust_bundle_pem(), c};
}

absl::StatusOr<std::vector<ApiCredentialRecord>> CredentialHandlers::List() const {
  return ctx_.store.ListApiCredentials();
}

absl::StatusOr<ApiCredentialRecord> CredentialHandlers::Revoke(const Actor& actor,
                                                               const std::string& name_or_id) {
  // Revoking the last usable admin credential would lock everyone out for good (the bootstrap
  // token is never made again).
  KF_ASSIGN_OR_RETURN(std::vector<ApiCredentialRecord> all, ctx_.store.ListApiCredentials());
  const absl::Time now = ctx_.Now();
  auto usable_admin = [&](const ApiCredentialRecord& c) {
    return c.role == Role::kAdmin && CheckCredentialUsable(c, now).ok();
  };
  const ApiCredentialRecord* target = nullptr;
  int admins = 0;
  for (const ApiCredentialRecord& c : all) {
    if (usable_admin(c)) ++admins;
    if (!c.revoked_at && (c.name == name_or_id || c.id == name_or_id)) target = &c;
  }
  if (target != nullptr && usable_admin(*target) && admins == 1) {
    return absl::FailedPreconditionError(
        absl::StrCat("\"", target->name,
                     "\" is the last usable admin credential; revoking it would leave "
                     "nobody able to manage tokens or policy (create another admin token first)"));
  }
  KF_ASSIGN_OR_RETURN(ApiCredentialRecord c,
                      ctx_.store.RevokeApiCredential(actor.At(ctx_.Now()), name_or_id));
  CatchUp();
  spdlog::info("{} revoked {} \"{}\"", actor.name, CredentialKindName(c.kind), c.name);
  return c;
}

void CredentialHandlers::CatchUp() const {
  // This replica's view has the change before the answer: the caller's next call, or the
  // revoked credential's, is judged by it. (Other replicas follow the feed within moments.)
  if (absl::Status s = ctx_.follower.CatchUp(); !s.ok()) {
    spdlog::warn("following the change feed after a credential change: {}", s.ToString());
  }
}

absl::StatusOr<std::optional<ApiCredentialRecord>> CredentialHandlers::Lookup(
    const std::string& id) const {
  if (std::optional<ApiCredentialRecord> c = ctx_.view.FindCredential(id)) return c;
  // Not in memory: made on another replica a moment ago (the feed brings it within moments),
  // or unknown. Only then is the database asked.
  return ctx_.store.GetApiCredential(id);
}

absl::StatusOr<ApiCredentialRecord> CredentialHandlers::AuthenticateToken(
    const std::string& token) const {
  KF_ASSIGN_OR_RETURN(SecretTokenParts parts, ParseSecretToken(kApiTokenFormat, token));
  KF_ASSIGN_OR_RETURN(std::optional<ApiCredentialRecord> c, Lookup(parts.id));
  if (!c || c->kind != CredentialKind::kToken ||
      !SecretHashEquals(parts.secret_hash, c->secret_hash)) {
    return UnknownTokenError();
  }
  KF_RETURN_IF_ERROR(CheckCredentialUsable(*c, ctx_.Now()));
  NoteUse(*c);
  return *std::move(c);
}

absl::StatusOr<ApiCredentialRecord> CredentialHandlers::AuthenticateCertificate(
    const std::string& leaf_pem) const {
  if (ca_ == nullptr) {
    return absl::UnauthenticatedError(
        "this controller runs with --insecure-dev: use a token (--token), not a certificate");
  }
  KF_ASSIGN_OR_RETURN(AdminIdentity identity, ca_->VerifyAdminCertificate(leaf_pem, ctx_.Now()));
  KF_ASSIGN_OR_RETURN(std::optional<ApiCredentialRecord> c, Lookup(identity.credential_id));
  if (!c || c->kind != CredentialKind::kCertificate || c->name != identity.name ||
      c->certificate_serial != identity.serial_hex) {
    return absl::UnauthenticatedError(absl::StrCat(
        "admin certificate \"", identity.name, "\" (serial ", identity.serial_hex,
        ") is not one this controller issued and still knows (see `keyfleet token list`)"));
  }
  KF_RETURN_IF_ERROR(CheckCredentialUsable(*c, ctx_.Now()));
  NoteUse(*c);
  return *std::move(c);
}

void CredentialHandlers::NoteUse(const ApiCredentialRecord& c) const {
  const absl::Time now = ctx_.Now();
  std::lock_guard<std::mutex> lock(usage_mu_);
  absl::Time& noted = noted_use_[c.id];
  if (now - noted < kLastUsedResolution) return;
  noted = now;
  pending_use_[c.id] = now;
}

absl::Status CredentialHandlers::FlushUses() {
  std::map<std::string, absl::Time> batch;
  {
    std::lock_guard<std::mutex> lock(usage_mu_);
    batch.swap(pending_use_);
  }
  absl::Status first;
  for (const auto& [id, at] : batch) {
    absl::Status s = ctx_.store.TouchApiCredential(id, at);
    if (!s.ok()) {
      if (first.ok()) first = s;
      std::lock_guard<std::mutex> lock(usage_mu_);
      pending_use_.try_emplace(id, at);  // kept for the next flush
    }
  }
  return first;
}

absl::StatusOr<std::optional<std::string>> CredentialHandlers::EnsureBootstrapToken(
    const std::string& token_file, const std::string& given_token) {
  // Made once per database: a restart (or another replica) has nothing to do, and needs
  // neither the file nor its directory.
  KF_ASSIGN_OR_RETURN(std::vector<ApiCredentialRecord> all, ctx_.store.ListApiCredentials());
  for (const ApiCredentialRecord& c : all) {
    if (c.name != kBootstrapCredentialName) continue;
    if (absl::StatusOr<SecretTokenParts> given =
            ParseSecretToken(kApiTokenFormat, absl::StripAsciiWhitespace(given_token));
        !given_token.empty() && given.ok() && given->id != c.id) {
      spdlog::warn(
          "$KEYFLEET_BOOTSTRAP_TOKEN is not this database's bootstrap token (that was "
          "made before); it is ignored");
    }
    return std::optional<std::string>();
  }
  SecretTokenParts parts;
  bool wrote_file = false;
  std::string source;
  if (!given_token.empty()) {
    absl::StatusOr<SecretTokenParts> parsed =
        ParseSecretToken(kApiTokenFormat, absl::StripAsciiWhitespace(given_token));
    if (!parsed.ok()) {
      return absl::FailedPreconditionError(
          absl::StrCat("$KEYFLEET_BOOTSTRAP_TOKEN: ", parsed.status().message(),
                       " (generate one with `keyfleet-controller bootstrap-token`)"));
    }
    parts = *std::move(parsed);
    source = "$KEYFLEET_BOOTSTRAP_TOKEN";
  } else if (!token_file.empty()) {
    absl::StatusOr<std::string> text = tls::ReadSecretFile(token_file, kMaxTokenFileBytes);
    if (text.ok()) {
      absl::StatusOr<SecretTokenParts> parsed =
          ParseSecretToken(kApiTokenFormat, absl::StripAsciiWhitespace(*text));
      if (!parsed.ok()) {
        return absl::FailedPreconditionError(
            absl::StrCat("--bootstrap-token-file ", token_file, ": ", parsed.status().message(),
                         " (generate one with `keyfleet-controller bootstrap-token`)"));
      }
      parts = *std::move(parsed);
      source = token_file;
    } else if (absl::IsNotFound(text.status())) {
      KF_ASSIGN_OR_RETURN(parts, GenerateSecretToken(kApiTokenFormat));
      auto [dir, name] = tls::SplitDirAndName(token_file);
      absl::Status written = tls::CreateFileExclusively(dir, name, parts.text + "\n", 0600);
      if (absl::IsAlreadyExists(written)) {
        // Another replica sharing the file wrote it first: use its token.
        return EnsureBootstrapToken(token_file, given_token);
      }
      KF_RETURN_IF_ERROR(written);
      wrote_file = true;
    } else {
      return text.status();
    }
  } else {
    KF_ASSIGN_OR_RETURN(parts, GenerateSecretToken(kApiTokenFormat));
  }
  ApiCredentialRecord c;
  c.id = parts.id;
  c.name = kBootstrapCredentialName;
  c.kind = CredentialKind::kToken;
  c.role = Role::kAdmin;
  c.secret_hash = parts.secret_hash;
  c.created_at = ctx_.Now();
  c.created_by = "controller";
  KF_ASSIGN_OR_RETURN(bool created,
                      ctx_.store.CreateApiCredentialOnce({"controller", c.created_at}, c));
  if (!created) {  // another replica made it meanwhile
    if (wrote_file) {
      auto [dir, name] = tls::SplitDirAndName(token_file);
      (void)tls::RemoveFileIfExists(dir, name);
    }
    return std::optional<std::string>();
  }
  if (wrote_file) {
    spdlog::warn(
        "created the bootstrap admin token and wrote it to {} (0600); revoke it with "
        "`keyfleet token revoke bootstrap` once you have named tokens",
        token_file);
    return std::optional<std::string>();
  }
  if (!source.empty()) {
    spdlog::warn("registered the bootstrap admin token from {}", source);
    return std::optional<std::string>();
  }
  return std::optional<std::string>(parts.text);
}

}  // namespace keyfleet::controller
