// Who is calling the admin API and what they may do, decided in one place.
//
// Authentication: a bearer token ("authorization: Bearer kfat_…" metadata) or an admin client
// certificate from the controller's CA; the identity is the credential it belongs to, never
// anything the request says. No credential, or a malformed, unknown, revoked or expired one:
// UNAUTHENTICATED.
//
// Authorization: kAdminRpcRules is the one table saying which roles may call each RPC and how
// owners (one principal) and host-scoped operators are narrowed; AdminAuthorizer::Authorize
// consults it and nothing else does. A refusal is PERMISSION_DENIED naming the roles that would
// be needed, or the owner's principal, or the scope. Every refusal is audited with the actor.
#pragma once

#include <grpcpp/grpcpp.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "controller/fleet_view.h"
#include "controller/handlers/credential_handlers.h"
#include "controller/handlers/enrollment_handlers.h"

namespace keyfleet::controller {

inline constexpr char kAuthorizationMetadata[] = "authorization";

enum RoleBit : uint8_t {
  kAdminRole = 1 << 0,
  kOperatorRole = 1 << 1,
  kAuditorRole = 1 << 2,
  kOwnerRole = 1 << 3,
};
inline constexpr uint8_t kEveryRole = kAdminRole | kOperatorRole | kAuditorRole | kOwnerRole;
inline constexpr uint8_t kReaders = kAdminRole | kOperatorRole | kAuditorRole;
inline constexpr uint8_t kWriters = kAdminRole | kOperatorRole;

// How an owner, or an operator limited to a host scope, is narrowed on one RPC.
enum class Narrowing {
  kRefused,           // may not call it at all
  kAny,               // may call it as anyone with the role
  kFiltered,          // may call it; the answer holds only what the caller may see
  kOwnPrincipal,      // owner: the request's principal is its own
  kOwnKey,            // owner: the request's key belongs to its principal
  kHostInScope,       // scoped: the request's host carries the scope's labels
  kSelectorInScope,   // scoped: the grant's selector requires the scope's labels
  kGrantInScope,      // scoped: the named grant's selector does
  kNewJoinToken,      // scoped: the join token gives the scope's labels and no other label
                      // defining a scope; a host it re-enrolls must be inside the scope
                      // (checked again, in the transaction, when it is used)
  kJoinTokenInScope,  // scoped: the named join token gives the scope's labels
  kHostLabels,        // scoped: host in scope, and no label that defines any scope is touched
};

struct AdminRpcRule {
  const char* rpc;   // method of keyfleet.v1.AdminService
  uint8_t roles;     // RoleBit set
  Narrowing owner;   // kRefused unless roles has kOwnerRole
  Narrowing scoped;  // for an operator with a host scope
};

// clang-format off
inline constexpr AdminRpcRule kAdminRpcRules[] = {
    // rpc                     roles                   owner                    scoped operator
    {"AddPrincipal",           kWriters,               Narrowing::kRefused,     Narrowing::kRefused},
    {"ListPrincipals",         kEveryRole,             Narrowing::kFiltered,    Narrowing::kAny},
    {"DisablePrincipal",       kWriters,               Narrowing::kRefused,     Narrowing::kRefused},
    {"AddKeys",                kWriters | kOwnerRole,  Narrowing::kOwnPrincipal, Narrowing::kRefused},
    {"ListKeys",               kEveryRole,             Narrowing::kFiltered,    Narrowing::kAny},
    {"GetKey",                 kEveryRole,             Narrowing::kOwnKey,      Narrowing::kAny},
    {"LabelKey",               kWriters | kOwnerRole,  Narrowing::kOwnKey,      Narrowing::kRefused},
    {"RemoveKey",              kWriters | kOwnerRole,  Narrowing::kOwnKey,      Narrowing::kRefused},
    {"RotateKey",              kWriters | kOwnerRole,  Narrowing::kOwnKey,      Narrowing::kRefused},
    {"GenerateKey",            kWriters | kOwnerRole,  Narrowing::kOwnPrincipal, Narrowing::kRefused},
    {"RevokeKey",              kWriters,               Narrowing::kRefused,     Narrowing::kRefused},
    {"AddGrant",               kWriters,               Narrowing::kRefused,     Narrowing::kSelectorInScope},
    {"ListGrants",             kEveryRole,             Narrowing::kFiltered,    Narrowing::kFiltered},
    {"RemoveGrant",            kWriters,               Narrowing::kRefused,     Narrowing::kGrantInScope},
    {"ListHosts",              kReaders,               Narrowing::kRefused,     Narrowing::kFiltered},
    {"GetHost",                kReaders,               Narrowing::kRefused,     Narrowing::kHostInScope},
    {"KnownHosts",             kReaders,               Narrowing::kRefused,     Narrowing::kFiltered},
    {"LabelHost",              kWriters,               Narrowing::kRefused,     Narrowing::kHostLabels},
    {"RemoveHost",             kWriters,               Narrowing::kRefused,     Narrowing::kHostInScope},
    {"CreateHostToken",        kWriters,               Narrowing::kRefused,     Narrowing::kNewJoinToken},
    {"ListHostTokens",         kReaders,               Narrowing::kRefused,     Narrowing::kFiltered},
    {"RevokeHostToken",        kWriters,               Narrowing::kRefused,     Narrowing::kJoinTokenInScope},
    {"GetPolicy",              kReaders,               Narrowing::kRefused,     Narrowing::kAny},
    {"SetPolicy",              kAdminRole,             Narrowing::kRefused,     Narrowing::kRefused},
    {"AccessReview",           kReaders,               Narrowing::kRefused,     Narrowing::kHostInScope},
    {"VerifyAccess",           kReaders,               Narrowing::kRefused,     Narrowing::kHostInScope},
    {"ComplianceReport",       kReaders,               Narrowing::kRefused,     Narrowing::kRefused},
    {"RotationReport",         kReaders,               Narrowing::kRefused,     Narrowing::kRefused},
    {"FleetStatus",            kReaders,               Narrowing::kRefused,     Narrowing::kFiltered},
    {"KeyReach",               kReaders,               Narrowing::kRefused,     Narrowing::kFiltered},
    {"ListAudit",              kAdminRole | kAuditorRole, Narrowing::kRefused,  Narrowing::kRefused},
    {"VerifyAudit",            kAdminRole | kAuditorRole, Narrowing::kRefused,  Narrowing::kRefused},
    {"ExportAudit",            kAdminRole | kAuditorRole, Narrowing::kRefused,  Narrowing::kRefused},
    {"RolloutStatus",          kEveryRole,             Narrowing::kFiltered,    Narrowing::kFiltered},
    {"NotifyStatus",           kReaders,               Narrowing::kRefused,     Narrowing::kRefused},
    {"NotifyRetry",            kWriters,               Narrowing::kRefused,     Narrowing::kRefused},
    {"CreateToken",            kAdminRole,             Narrowing::kRefused,     Narrowing::kRefused},
    {"IssueAdminCertificate",  kAdminRole,             Narrowing::kRefused,     Narrowing::kRefused},
    {"ListTokens",             kAdminRole | kAuditorRole, Narrowing::kRefused,  Narrowing::kRefused},
    {"RevokeToken",            kAdminRole,             Narrowing::kRefused,     Narrowing::kRefused},
    {"WhoAmI",                 kEveryRole,             Narrowing::kAny,         Narrowing::kAny},
};
// clang-format on

// The rule for `rpc`, or null.
const AdminRpcRule* FindAdminRpcRule(absl::string_view rpc);

// What a request touches, for the owner and scope narrowings that need it.
struct AccessTarget {
  std::string principal;                 // kOwnPrincipal
  std::string fingerprint;               // kOwnKey
  std::string hostname;                  // kHostInScope, kHostLabels, kNewJoinToken
  std::optional<HostSelector> selector;  // kSelectorInScope
  int64_t grant_id = 0;                  // kGrantInScope
  Labels labels;                         // kNewJoinToken: the labels it gives
  std::vector<std::string> label_keys;   // kHostLabels: keys set or removed
  std::string join_token_id;             // kJoinTokenInScope
};

// An authenticated, authorized caller, and what it may see of list answers.
class Caller {
 public:
  Caller(ApiCredentialRecord credential, const FleetView& view)
      : credential_(std::move(credential)), view_(&view) {}

  const ApiCredentialRecord& credential() const { return credential_; }
  // How the audit log names the caller: "token:NAME" or "cert:NAME".
  std::string actor() const;
  bool is_owner() const { return credential_.role == Role::kOwner; }
  bool is_scoped() const { return !credential_.host_scope.empty(); }

  bool SeesPrincipal(const std::string& principal) const;
  bool SeesKey(const KeyRecord& key) const;
  bool SeesHost(const std::string& hostname) const;
  bool SeesHostLabels(const Labels& labels) const;
  bool SeesGrant(const GrantRecord& grant) const;
  bool SeesJoinToken(const JoinTokenRecord& token) const;
  // Owners see rollout counts but no host names.
  bool SeesRolloutHosts() const { return !is_owner(); }

 private:
  ApiCredentialRecord credential_;
  const FleetView* view_;
};

class AdminAuthorizer {
 public:
  AdminAuthorizer(CredentialHandlers& credentials, const FleetView& view, Store& store,
                  SecurityEventBuffer& events, const Clock& clock)
      : credentials_(credentials), view_(view), store_(store), events_(events), clock_(clock) {}

  // Authenticates the caller and checks kAdminRpcRules for `rpc` with `target`.
  // UNAUTHENTICATED / PERMISSION_DENIED (audited); UNAVAILABLE when the database cannot be
  // asked; INTERNAL for an RPC missing from the table (a programming error: refused).
  absl::StatusOr<Caller> Authorize(const grpc::ServerContextBase& ctx, absl::string_view rpc,
                                   const AccessTarget& target = {}) const;

 private:
  absl::StatusOr<ApiCredentialRecord> Authenticate(const grpc::ServerContextBase& ctx) const;
  absl::Status CheckRule(const AdminRpcRule& rule, const Caller& caller,
                         const AccessTarget& target) const;
  absl::Status CheckNarrowing(Narrowing narrowing, const AdminRpcRule& rule, const Caller& caller,
                              const AccessTarget& target) const;
  // PERMISSION_DENIED when a label key in `keys` defines some live credential's host scope.
  absl::Status CheckScopeDefiningKeys(const std::vector<std::string>& keys,
                                      const ApiCredentialRecord& c) const;
  void Deny(const std::string& actor, absl::string_view rpc, const AccessTarget& target,
            const absl::Status& status) const;

  CredentialHandlers& credentials_;
  const FleetView& view_;
  Store& store_;
  SecurityEventBuffer& events_;
  const Clock& clock_;
};

}  // namespace keyfleet::controller
