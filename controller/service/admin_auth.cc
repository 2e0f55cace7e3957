#include "controller/service/admin_auth.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/host_names.h"
#include "common/status_macros.h"
#include "controller/credential_rules.h"
#include "controller/host_selector.h"
#include "controller/service/agent_auth.h"

namespace keyfleet::controller {
namespace {

constexpr absl::string_view kBearer = "bearer ";
// Longer than any token; a bigger header is refused before it is looked at.
constexpr size_t kMaxAuthorizationBytes = 1024;

std::string RolesText(uint8_t roles) {
  std::vector<std::string> names;
  if (roles & kAdminRole) names.emplace_back("admin");
  if (roles & kOperatorRole) names.emplace_back("operator");
  if (roles & kAuditorRole) names.emplace_back("auditor");
  if (roles & kOwnerRole) names.emplace_back("owner");
  return absl::StrJoin(names, " or ");
}

uint8_t BitOf(Role role) {
  switch (role) {
    case Role::kAdmin:
      return kAdminRole;
    case Role::kOperator:
      return kOperatorRole;
    case Role::kAuditor:
      return kAuditorRole;
    case Role::kOwner:
      return kOwnerRole;
  }
  return 0;
}

std::string ScopeText(const Labels& scope) {
  return absl::StrJoin(scope, ",", absl::PairFormatter("="));
}

std::string TargetText(const AccessTarget& t) {
  if (!t.hostname.empty()) return t.hostname;
  if (!t.fingerprint.empty()) return t.fingerprint;
  if (!t.principal.empty()) return t.principal;
  if (t.grant_id != 0) return absl::StrCat("grant ", t.grant_id);
  if (!t.join_token_id.empty()) return t.join_token_id;
  if (t.selector) return FormatHostSelector(*t.selector);
  return "";
}

}  // namespace

const AdminRpcRule* FindAdminRpcRule(absl::string_view rpc) {
  for (const AdminRpcRule& rule : kAdminRpcRules) {
    if (rpc == rule.rpc) return &rule;
  }
  return nullptr;
}

std::string Caller::actor() const {
  return CredentialActor(credential_);
}

bool Caller::SeesPrincipal(const std::string& principal) const {
  return !is_owner() || principal == credential_.principal;
}

bool Caller::SeesKey(const KeyRecord& key) const {
  return SeesPrincipal(key.principal);
}

bool Caller::SeesHostLabels(const Labels& labels) const {
  return LabelsCover(labels, credential_.host_scope);
}

bool Caller::SeesHost(const std::string& hostname) const {
  if (!is_scoped()) return true;
  std::optional<HostRecord> host = view_->FindHost(hostname);
  return host && SeesHostLabels(host->labels);
}

bool Caller::SeesGrant(const GrantRecord& grant) const {
  if (is_owner()) {
    if (!grant.principal.empty()) return grant.principal == credential_.principal;
    std::optional<KeyRecord> key = view_->FindKey(grant.key_fingerprint);
    return key && key->principal == credential_.principal;
  }
  return LabelsCover(grant.hosts.labels, credential_.host_scope);
}

bool Caller::SeesJoinToken(const JoinTokenRecord& token) const {
  return LabelsCover(token.labels, credential_.host_scope);
}

absl::StatusOr<ApiCredentialRecord> AdminAuthorizer::Authenticate(
    const grpc::ServerContextBase& ctx) const {
  const auto& metadata = ctx.client_metadata();
  auto it = metadata.find(kAuthorizationMetadata);
  if (it != metadata.end()) {
    if (metadata.count(kAuthorizationMetadata) > 1 || it->second.size() > kMaxAuthorizationBytes) {
      return absl::UnauthenticatedError("send one authorization header holding one token");
    }
    const std::string value(it->second.data(), it->second.size());
    if (value.size() <= kBearer.size() ||
        !absl::EqualsIgnoreCase(absl::string_view(value).substr(0, kBearer.size()), kBearer)) {
      return absl::UnauthenticatedError(
          "the authorization header must be \"Bearer kfat_…\" (an API token)");
    }
    return credentials_.AuthenticateToken(value.substr(kBearer.size()));
  }
  const std::string pem = PeerCertificatePem(ctx);
  if (!pem.empty()) return credentials_.AuthenticateCertificate(pem);
  return absl::UnauthenticatedError(
      "no credentials: pass an API token (--token, $KEYFLEET_TOKEN or `token:` in the config "
      "file) or an admin certificate (--cert and --key)");
}

absl::StatusOr<Caller> AdminAuthorizer::Authorize(const grpc::ServerContextBase& ctx,
                                                  absl::string_view rpc,
                                                  const AccessTarget& target) const {
  const AdminRpcRule* rule = FindAdminRpcRule(rpc);
  if (rule == nullptr) {
    return absl::InternalError(absl::StrCat(rpc, " has no entry in the authorization table"));
  }
  absl::StatusOr<ApiCredentialRecord> credential = Authenticate(ctx);
  if (!credential.ok()) {
    if (!absl::IsUnavailable(credential.status())) {
      Deny(absl::StrCat("unauthenticated:", ctx.peer()), rpc, target, credential.status());
    }
    return credential.status();
  }
  Caller caller(*std::move(credential), view_);
  if (absl::Status s = CheckRule(*rule, caller, target); !s.ok()) {
    if (!absl::IsUnavailable(s)) Deny(caller.actor(), rpc, target, s);
    return s;
  }
  return caller;
}

absl::Status AdminAuthorizer::CheckRule(const AdminRpcRule& rule, const Caller& caller,
                                        const AccessTarget& target) const {
  const ApiCredentialRecord& c = caller.credential();
  if ((rule.roles & BitOf(c.role)) == 0) {
    return absl::PermissionDeniedError(absl::StrCat(rule.rpc, " needs role ", RolesText(rule.roles),
                                                    "; ", CredentialDescription(c), " has role ",
                                                    RoleName(c.role)));
  }
  if (caller.is_owner()) {
    std::optional<PrincipalRecord> principal = view_.FindPrincipal(c.principal);
    if (!principal || principal->disabled) {
      return absl::PermissionDeniedError(
          absl::StrCat(CredentialDescription(c), " acts for principal \"", c.principal,
                       "\", which is ", principal ? "disabled" : "gone"));
    }
    return CheckNarrowing(rule.owner, rule, caller, target);
  }
  if (caller.is_scoped()) return CheckNarrowing(rule.scoped, rule, caller, target);
  return absl::OkStatus();
}

absl::Status AdminAuthorizer::CheckNarrowing(Narrowing narrowing, const AdminRpcRule& rule,
                                             const Caller& caller,
                                             const AccessTarget& target) const {
  const ApiCredentialRecord& c = caller.credential();
  const std::string scope = ScopeText(c.host_scope);
  auto outside = [&](const std::string& what) {
    return absl::PermissionDeniedError(
        absl::StrCat(CredentialDescription(c), " is limited to hosts ", scope, "; ", what));
  };
  auto not_own = [&](const std::string& what) {
    return absl::PermissionDeniedError(absl::StrCat(
        CredentialDescription(c), " is the owner of principal \"", c.principal, "\" only; ", what));
  };
  switch (narrowing) {
    case Narrowing::kAny:
    case Narrowing::kFiltered:
      return absl::OkStatus();
    case Narrowing::kRefused:
      if (caller.is_owner()) {
        return not_own(absl::StrCat(rule.rpc, " needs role ", RolesText(rule.roles & ~kOwnerRole)));
      }
      return outside(absl::StrCat(rule.rpc,
                                  " reaches beyond a host scope and needs a credential "
                                  "without one"));
    case Narrowing::kOwnPrincipal:
      if (target.principal == c.principal) return absl::OkStatus();
      return not_own(absl::StrCat("the request names principal \"", target.principal, "\""));
    case Narrowing::kOwnKey: {
      std::optional<KeyRecord> key = view_.FindKey(target.fingerprint);
      if (key && key->principal == c.principal) return absl::OkStatus();
      return not_own(absl::StrCat("key ", target.fingerprint, " is not one of its keys"));
    }
    case Narrowing::kHostInScope:
      if (caller.SeesHost(target.hostname)) return absl::OkStatus();
      return outside(absl::StrCat("host \"", target.hostname, "\" is outside it"));
    case Narrowing::kSelectorInScope:
      if (target.selector && LabelsCover(target.selector->labels, c.host_scope)) {
        return absl::OkStatus();
      }
      return outside(absl::StrCat("the grant's host selector \"",
                                  target.selector ? FormatHostSelector(*target.selector) : "",
                                  "\" does not require ", scope, " (add those labels to --hosts)"));
    case Narrowing::kGrantInScope: {
      std::optional<GrantRecord> grant = view_.FindGrant(target.grant_id);
      if (grant && LabelsCover(grant->hosts.labels, c.host_scope)) return absl::OkStatus();
      return outside(absl::StrCat("grant ", target.grant_id, " is not inside it"));
    }
    case Narrowing::kNewJoinToken: {
      if (!LabelsCover(target.labels, c.host_scope)) {
        return outside(
            absl::StrCat("a join token it creates must give the labels ", scope, " (--labels)"));
      }
      // Early word only: the enrollment transaction refuses a host outside the scope.
      if (!target.hostname.empty() && view_.FindHost(target.hostname) &&
          !caller.SeesHost(target.hostname)) {
        return outside(absl::StrCat("host \"", target.hostname, "\" is outside it"));
      }
      std::vector<std::string> keys;
      for (const auto& [key, value] : target.labels) {
        if (c.host_scope.count(key) == 0) keys.push_back(key);
      }
      return CheckScopeDefiningKeys(keys, c);
    }
    case Narrowing::kJoinTokenInScope: {
      KF_ASSIGN_OR_RETURN(std::optional<JoinTokenRecord> token,
                          store_.GetJoinToken(target.join_token_id));
      if (token && caller.SeesJoinToken(*token)) return absl::OkStatus();
      return outside(absl::StrCat("join token ", target.join_token_id, " is not inside it"));
    }
    case Narrowing::kHostLabels:
      if (!caller.SeesHost(target.hostname)) {
        return outside(absl::StrCat("host \"", target.hostname, "\" is outside it"));
      }
      return CheckScopeDefiningKeys(target.label_keys, c);
  }
  return absl::InternalError("unknown narrowing");
}

absl::Status AdminAuthorizer::CheckScopeDefiningKeys(const std::vector<std::string>& keys,
                                                     const ApiCredentialRecord& c) const {
  if (keys.empty()) return absl::OkStatus();
  const std::vector<ApiCredentialRecord> all = view_.Credentials();
  for (const std::string& key : keys) {
    for (const ApiCredentialRecord& other : all) {
      if (!other.revoked_at && other.host_scope.count(key) != 0) {
        return absl::PermissionDeniedError(absl::StrCat(
            CredentialDescription(c), " is limited to hosts ", ScopeText(c.host_scope),
            "; label \"", key,
            "\" defines a host scope: only an unscoped operator or admin may set or remove it"));
      }
    }
  }
  return absl::OkStatus();
}

void AdminAuthorizer::Deny(const std::string& actor, absl::string_view rpc,
                           const AccessTarget& target, const absl::Status& status) const {
  events_.AddDenial(actor, absl::StrCat("admin.", rpc, ".denied"), TargetText(target), status,
                    absl::FromUnixMicros(absl::ToUnixMicros(clock_.Now())));
}

}  // namespace keyfleet::controller
