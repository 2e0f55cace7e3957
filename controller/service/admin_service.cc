#include "controller/service/admin_service.h"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "controller/audit_checkpoint.h"
#include "controller/fleet_view.h"
#include "controller/service/field_limits.h"
#include "controller/service/list_page.h"
#include "controller/service/page_token.h"
#include "controller/service/proto_convert.h"
#include "controller/service/status_mapping.h"

namespace keyfleet::controller {
namespace {

absl::StatusOr<CredentialSpec> SpecFromProto(const v1::CredentialSpec& p) {
  CredentialSpec spec;
  spec.name = p.name();
  absl::StatusOr<Role> role = FromProto(p.role());
  if (!role.ok()) return role.status();
  spec.role = *role;
  spec.principal = p.principal();
  spec.host_scope = Labels(p.host_scope().begin(), p.host_scope().end());
  if (p.has_expires()) {
    KF_RETURN_IF_ERROR(CheckRequestDuration("expires", p.expires()));
    spec.lifetime = FromProto(p.expires());
  }
  spec.never_expires = p.never_expires();
  return spec;
}

grpc::Status Mutation(const absl::StatusOr<uint64_t>& change, v1::MutationResponse* resp) {
  if (!change.ok()) return ToGrpcStatus(change.status());
  resp->set_change(*change);
  return grpc::Status::OK;
}

}  // namespace

// Checks the request `req` against the field limits (field_limits.h), so nothing reads a
// request over them (a refusal's audit event neither), then authorizes the call (admin_auth.h)
// as RPC with TARGET, binding the Caller to `caller`.
#define KF_AUTHORIZE(rpc, target)                                        \
  if (absl::Status limits = CheckFieldLimits(*req); !limits.ok()) {      \
    return ToGrpcStatus(limits);                                         \
  }                                                                      \
  absl::StatusOr<Caller> caller_or = auth_.Authorize(*ctx, rpc, target); \
  if (!caller_or.ok()) return ToGrpcStatus(caller_or.status());          \
  const Caller& caller = *caller_or;                                     \
  (void)caller

// For a mutation: authorizes, then makes the handlers' Actor (the request id and the caller's
// deadline); the method runs the rest through requests_.Run, once per request id.
#define KF_AUTHORIZE_MUTATION(rpc, target)                                                   \
  KF_AUTHORIZE(rpc, target);                                                                 \
  absl::StatusOr<Actor> actor_or = RequestLedger::ActorFor(*ctx, rpc, *req, caller.actor()); \
  if (!actor_or.ok()) return ToGrpcStatus(actor_or.status());                                \
  const Actor& actor = *actor_or

void AdminServiceImpl::KeyToProto(const KeyRecord& key, v1::Key* out) const {
  ToProto(key, FleetView::EffectiveKeyState(key, clock_.Now()), out);
}

namespace {

// A private key leaves the controller only inside TLS (never over --insecure-dev plaintext).
grpc::Status RequireTls(const grpc::ServerContext& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth != nullptr) {
    for (const grpc::string_ref& type : auth->FindPropertyValues("transport_security_type")) {
      if (std::string(type.data(), type.size()) == "ssl") return grpc::Status::OK;
    }
  }
  return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION,
                      "keys are generated only over TLS (the private key travels in the answer); "
                      "this connection is plaintext (--insecure-dev)");
}

AccessTarget PrincipalTarget(const std::string& principal) {
  AccessTarget t;
  t.principal = principal;
  return t;
}
AccessTarget KeyTarget(const std::string& fingerprint) {
  AccessTarget t;
  t.fingerprint = fingerprint;
  return t;
}
AccessTarget HostTarget(const std::string& hostname) {
  AccessTarget t;
  t.hostname = hostname;
  return t;
}

}  // namespace

grpc::Status AdminServiceImpl::AddPrincipal(grpc::ServerContext* ctx,
                                            const v1::AddPrincipalRequest* req,
                                            v1::MutationResponse* resp) {
  KF_AUTHORIZE_MUTATION("AddPrincipal", PrincipalTarget(req->name()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    absl::StatusOr<PrincipalKind> kind = FromProto(req->kind());
    if (!kind.ok()) return ToGrpcStatus(kind.status());
    return Mutation(inventory_.AddPrincipal(actor, req->name(), *kind, req->email()), resp);
  });
}

grpc::Status AdminServiceImpl::ListPrincipals(grpc::ServerContext* ctx,
                                              const v1::ListPrincipalsRequest* req,
                                              v1::ListPrincipalsResponse* resp) {
  KF_AUTHORIZE("ListPrincipals", {});
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kPrincipalPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  absl::StatusOr<std::string> after = ParsePrincipalPageToken(req->page_token());
  if (!after.ok()) return ToGrpcStatus(after.status());
  const std::vector<PrincipalRecord> principals = inventory_.ListPrincipals();  // in name order
  const ListPage<PrincipalRecord> page = PageAfter(
      principals, *after, *size,
      [](const PrincipalRecord& p) -> const std::string& { return p.name; },
      [&caller](const PrincipalRecord& p) { return caller.SeesPrincipal(p.name); });
  for (const PrincipalRecord* p : page.items) ToProto(*p, resp->add_principals());
  if (page.more) resp->set_next_page_token(PrincipalPageToken(page.items.back()->name));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DisablePrincipal(grpc::ServerContext* ctx,
                                                const v1::DisablePrincipalRequest* req,
                                                v1::MutationResponse* resp) {
  KF_AUTHORIZE_MUTATION("DisablePrincipal", PrincipalTarget(req->name()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    return Mutation(inventory_.DisablePrincipal(actor, req->name()), resp);
  });
}

grpc::Status AdminServiceImpl::AddKeys(grpc::ServerContext* ctx, const v1::AddKeysRequest* req,
                                       v1::AddKeysResponse* resp) {
  KF_AUTHORIZE_MUTATION("AddKeys", PrincipalTarget(req->principal()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    std::vector<std::string> lines(req->public_keys().begin(), req->public_keys().end());
    absl::StatusOr<AddKeysResult> result =
        inventory_.AddKeys(actor, req->principal(), lines, req->label());
    if (!result.ok()) return ToGrpcStatus(result.status());
    for (const KeyRecord& key : result->keys) KeyToProto(key, resp->add_keys());
    resp->set_change(result->change);
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::GenerateKey(grpc::ServerContext* ctx,
                                           const v1::GenerateKeyRequest* req,
                                           v1::GenerateKeyResponse* resp) {
  KF_AUTHORIZE_MUTATION("GenerateKey", PrincipalTarget(req->principal()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    if (grpc::Status tls = RequireTls(*ctx); !tls.ok()) return tls;
    absl::StatusOr<GeneratedKeyResult> result =
        inventory_.GenerateKey(actor, req->principal(), req->type(), req->label());
    if (!result.ok()) return ToGrpcStatus(result.status());
    resp->set_change(result->change);
    KeyToProto(result->key, resp->mutable_key());
    resp->set_private_key(std::string(result->private_key.view()));
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::ListKeys(grpc::ServerContext* ctx, const v1::ListKeysRequest* req,
                                        v1::ListKeysResponse* resp) {
  KF_AUTHORIZE("ListKeys", PrincipalTarget(req->principal()));
  KeyFilter filter;
  filter.principal = req->principal();
  filter.state = FromProto(req->state());
  if (req->has_expiring_within()) {
    if (absl::Status s = CheckRequestDuration("expiring_within", req->expiring_within()); !s.ok()) {
      return ToGrpcStatus(s);
    }
    filter.expiring_within = FromProto(req->expiring_within());
  }
  if (req->has_unused_for()) {
    if (absl::Status s = CheckRequestDuration("unused_for", req->unused_for()); !s.ok()) {
      return ToGrpcStatus(s);
    }
    filter.unused_for = FromProto(req->unused_for());
  }
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kKeyPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  absl::StatusOr<std::string> after = ParseKeyPageToken(req->page_token());
  if (!after.ok()) return ToGrpcStatus(after.status());
  absl::StatusOr<std::vector<KeyRecord>> keys = inventory_.ListKeys(filter);  // fingerprint order
  if (!keys.ok()) return ToGrpcStatus(keys.status());
  const ListPage<KeyRecord> page = PageAfter(
      *keys, *after, *size, [](const KeyRecord& k) -> const std::string& { return k.fingerprint; },
      [&caller](const KeyRecord& k) { return caller.SeesKey(k); });
  std::vector<std::string> fingerprints;
  for (const KeyRecord* key : page.items) fingerprints.push_back(key->fingerprint);
  // Last use is the one thing here that lives in the database: while it is unavailable the keys
  // are still listed from memory, marked usage_unknown (never shown as "never used").
  absl::StatusOr<std::map<std::string, absl::Time>> last_uses = inventory_.LastUses(fingerprints);
  if (!last_uses.ok() && !absl::IsUnavailable(last_uses.status())) {
    return ToGrpcStatus(last_uses.status());
  }
  for (const KeyRecord* key : page.items) {
    v1::Key* out = resp->add_keys();
    KeyToProto(*key, out);
    if (!last_uses.ok()) {
      out->set_usage_unknown(true);
    } else if (auto used = last_uses->find(key->fingerprint); used != last_uses->end()) {
      ToProto(used->second, out->mutable_last_used());
    }
  }
  if (page.more) resp->set_next_page_token(KeyPageToken(page.items.back()->fingerprint));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetKey(grpc::ServerContext* ctx, const v1::GetKeyRequest* req,
                                      v1::Key* resp) {
  KF_AUTHORIZE("GetKey", KeyTarget(req->fingerprint()));
  absl::StatusOr<KeyRecord> key = inventory_.GetKey(req->fingerprint());
  if (!key.ok()) return ToGrpcStatus(key.status());
  absl::StatusOr<KeyUsage> usage = inventory_.Usage(key->fingerprint);
  if (!usage.ok() && !absl::IsUnavailable(usage.status())) return ToGrpcStatus(usage.status());
  KeyToProto(*key, resp);
  resp->set_predecessor_fingerprint(inventory_.PredecessorOf(key->fingerprint));
  if (!usage.ok()) {
    resp->set_usage_unknown(true);  // the database is unavailable; the rest is from memory
    return grpc::Status::OK;
  }
  ToProto(*usage, resp);
  // The newest use comes first.
  if (!usage->uses.empty()) ToProto(usage->uses.front().last_used, resp->mutable_last_used());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RotateKey(grpc::ServerContext* ctx, const v1::RotateKeyRequest* req,
                                         v1::RotateKeyResponse* resp) {
  KF_AUTHORIZE_MUTATION("RotateKey", KeyTarget(req->old_fingerprint()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    if (req->now() && req->has_overlap()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "give an overlap or --now, not both");
    }
    std::optional<absl::Duration> overlap;
    if (req->has_overlap()) {
      if (absl::Status s = CheckRequestDuration("overlap", req->overlap()); !s.ok()) {
        return ToGrpcStatus(s);
      }
      overlap = FromProto(req->overlap());
    }
    if (req->now()) overlap = absl::ZeroDuration();
    absl::StatusOr<RotateKeyResult> result;
    if (!req->generate_type().empty()) {
      if (!req->public_key().empty()) {
        return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "give the new public key or a type to generate, not both");
      }
      if (grpc::Status tls = RequireTls(*ctx); !tls.ok()) return tls;
      absl::StatusOr<GeneratedRotationResult> generated = inventory_.RotateToGeneratedKey(
          actor, req->old_fingerprint(), req->generate_type(), req->label(), overlap);
      if (!generated.ok()) return ToGrpcStatus(generated.status());
      resp->set_private_key(std::string(generated->private_key.view()));
      result = std::move(generated->rotation);
    } else {
      result = inventory_.RotateKey(actor, req->old_fingerprint(), req->public_key(), req->label(),
                                    overlap);
    }
    if (!result.ok()) return ToGrpcStatus(result.status());
    resp->set_change(result->change);
    KeyToProto(result->old_key, resp->mutable_old_key());
    KeyToProto(result->new_key, resp->mutable_new_key());
    resp->mutable_new_key()->set_predecessor_fingerprint(result->old_key.fingerprint);
    for (const GrantRecord& g : result->carried) ToProto(g, resp->add_carried_grants());
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::LabelKey(grpc::ServerContext* ctx, const v1::LabelKeyRequest* req,
                                        v1::MutationResponse* resp) {
  KF_AUTHORIZE_MUTATION("LabelKey", KeyTarget(req->fingerprint()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    return Mutation(inventory_.LabelKey(actor, req->fingerprint(), req->label()), resp);
  });
}

grpc::Status AdminServiceImpl::RemoveKey(grpc::ServerContext* ctx, const v1::RemoveKeyRequest* req,
                                         v1::MutationResponse* resp) {
  KF_AUTHORIZE_MUTATION("RemoveKey", KeyTarget(req->fingerprint()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    return Mutation(inventory_.RemoveKey(actor, req->fingerprint()), resp);
  });
}

grpc::Status AdminServiceImpl::RevokeKey(grpc::ServerContext* ctx, const v1::RevokeKeyRequest* req,
                                         v1::MutationResponse* resp) {
  KF_AUTHORIZE_MUTATION("RevokeKey", KeyTarget(req->fingerprint()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    std::optional<bool> kill_sessions;
    if (req->has_kill_sessions()) kill_sessions = req->kill_sessions();
    return Mutation(inventory_.RevokeKey(actor, req->fingerprint(), req->reason(), kill_sessions),
                    resp);
  });
}

grpc::Status AdminServiceImpl::AddGrant(grpc::ServerContext* ctx, const v1::AddGrantRequest* req,
                                        v1::AddGrantResponse* resp) {
  if (req->grant().has_expires_at()) {
    if (absl::Status s = CheckRequestTime("grant.expires_at", req->grant().expires_at()); !s.ok()) {
      return ToGrpcStatus(s);
    }
  }
  GrantRecord grant = FromProto(req->grant());
  AccessTarget target;
  target.principal = grant.principal;
  target.fingerprint = grant.key_fingerprint;
  target.selector = grant.hosts;
  KF_AUTHORIZE_MUTATION("AddGrant", target);
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    absl::StatusOr<AddGrantResult> result = inventory_.AddGrant(actor, grant);
    if (!result.ok()) return ToGrpcStatus(result.status());
    ToProto(result->grant, resp->mutable_grant());
    resp->set_change(result->change);
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::ListGrants(grpc::ServerContext* ctx,
                                          const v1::ListGrantsRequest* req,
                                          v1::ListGrantsResponse* resp) {
  KF_AUTHORIZE("ListGrants", {});
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kGrantPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  absl::StatusOr<int64_t> after = ParseGrantPageToken(req->page_token());
  if (!after.ok()) return ToGrpcStatus(after.status());
  absl::StatusOr<std::vector<GrantRecord>> grants =
      inventory_.ListGrants(req->host(), req->principal());  // in id order
  if (!grants.ok()) return ToGrpcStatus(grants.status());
  const ListPage<GrantRecord> page = PageAfter(
      *grants, *after, *size, [](const GrantRecord& g) { return g.id; },
      [&caller](const GrantRecord& g) { return caller.SeesGrant(g); });
  for (const GrantRecord* g : page.items) ToProto(*g, resp->add_grants());
  if (page.more) resp->set_next_page_token(GrantPageToken(page.items.back()->id));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RemoveGrant(grpc::ServerContext* ctx,
                                           const v1::RemoveGrantRequest* req,
                                           v1::MutationResponse* resp) {
  int64_t id = 0;
  const bool numeric = absl::SimpleAtoi(req->id(), &id);
  AccessTarget target;
  target.grant_id = numeric ? id : 0;
  KF_AUTHORIZE_MUTATION("RemoveGrant", target);
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    if (!numeric) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "grant id \"", req->id(), "\" is not a number (see `keyfleet grant list`)")));
    }
    return Mutation(inventory_.RemoveGrant(actor, id), resp);
  });
}

grpc::Status AdminServiceImpl::ListHosts(grpc::ServerContext* ctx, const v1::ListHostsRequest* req,
                                         v1::ListHostsResponse* resp) {
  KF_AUTHORIZE("ListHosts", {});
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kHostPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  absl::StatusOr<std::string> after = ParseHostPageToken(req->page_token());
  if (!after.ok()) return ToGrpcStatus(after.status());
  // One more than the page: whether another follows.
  absl::StatusOr<std::vector<HostStatus>> hosts = reports_.ListHostsAfter(
      *after, static_cast<size_t>(*size) + 1,
      [&caller](const HostRecord& h) { return caller.SeesHostLabels(h.labels); });
  if (!hosts.ok()) return ToGrpcStatus(hosts.status());
  const bool more = hosts->size() > *size;
  if (more) hosts->pop_back();
  for (const HostStatus& h : *hosts) ToProto(h, resp->add_hosts());
  if (more) resp->set_next_page_token(HostPageToken(hosts->back().host.hostname));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetHost(grpc::ServerContext* ctx, const v1::GetHostRequest* req,
                                       v1::Host* resp) {
  KF_AUTHORIZE("GetHost", HostTarget(req->hostname()));
  absl::StatusOr<HostStatus> host = reports_.GetHost(req->hostname());
  if (!host.ok()) return ToGrpcStatus(host.status());
  ToProto(*host, resp);
  return grpc::Status::OK;
}

// Pages as ListHosts: hosts without keys are listed too (with none), never left out.
grpc::Status AdminServiceImpl::KnownHosts(grpc::ServerContext* ctx,
                                          const v1::KnownHostsRequest* req,
                                          v1::KnownHostsResponse* resp) {
  KF_AUTHORIZE("KnownHosts", {});
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kHostPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  absl::StatusOr<std::string> after = ParseHostPageToken(req->page_token());
  if (!after.ok()) return ToGrpcStatus(after.status());
  // One more than the page: whether another follows.
  absl::StatusOr<std::vector<HostKnownKeys>> hosts = hosts_.KnownHostsAfter(
      FromProto(req->hosts()), *after, static_cast<size_t>(*size) + 1,
      [&caller](const HostRecord& h) { return caller.SeesHostLabels(h.labels); });
  if (!hosts.ok()) return ToGrpcStatus(hosts.status());
  const bool more = hosts->size() > *size;
  if (more) hosts->pop_back();
  for (const HostKnownKeys& h : *hosts) {
    v1::HostPublicKeys* out = resp->add_hosts();
    out->set_hostname(h.hostname);
    for (const std::string& key : h.public_keys) out->add_public_keys(key);
  }
  if (more) resp->set_next_page_token(HostPageToken(hosts->back().hostname));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::LabelHost(grpc::ServerContext* ctx, const v1::LabelHostRequest* req,
                                         v1::MutationResponse* resp) {
  Labels set(req->set().begin(), req->set().end());
  std::vector<std::string> remove(req->remove().begin(), req->remove().end());
  AccessTarget target = HostTarget(req->hostname());
  for (const auto& [key, value] : set) target.label_keys.push_back(key);
  target.label_keys.insert(target.label_keys.end(), remove.begin(), remove.end());
  KF_AUTHORIZE_MUTATION("LabelHost", target);
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    return Mutation(hosts_.LabelHost(actor, req->hostname(), set, remove), resp);
  });
}

grpc::Status AdminServiceImpl::RemoveHost(grpc::ServerContext* ctx,
                                          const v1::RemoveHostRequest* req,
                                          v1::MutationResponse* resp) {
  KF_AUTHORIZE_MUTATION("RemoveHost", HostTarget(req->hostname()));
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    return Mutation(hosts_.RemoveHost(actor, req->hostname()), resp);
  });
}

grpc::Status AdminServiceImpl::CreateHostToken(grpc::ServerContext* ctx,
                                               const v1::CreateHostTokenRequest* req,
                                               v1::CreateHostTokenResponse* resp) {
  Labels labels(req->labels().begin(), req->labels().end());
  AccessTarget target = HostTarget(req->hostname());
  target.labels = labels;
  KF_AUTHORIZE_MUTATION("CreateHostToken", target);
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    std::optional<absl::Duration> ttl;
    if (req->has_ttl()) {
      if (absl::Status s = CheckRequestDuration("ttl", req->ttl()); !s.ok()) return ToGrpcStatus(s);
      ttl = FromProto(req->ttl());
    }
    absl::StatusOr<NewJoinToken> token = hosts_.CreateJoinToken(
        actor, req->hostname(), labels, ttl, req->uses(), caller.credential().host_scope);
    if (!token.ok()) return ToGrpcStatus(token.status());
    resp->set_token(token->text);
    resp->set_ca_pin(token->ca_pin);
    ToProto(token->record, clock_.Now(), resp->mutable_info());
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::ListHostTokens(grpc::ServerContext* ctx,
                                              const v1::ListHostTokensRequest* req,
                                              v1::ListHostTokensResponse* resp) {
  KF_AUTHORIZE("ListHostTokens", {});
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kJoinTokenPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  absl::StatusOr<CreationCursor> after = ParseJoinTokenPageToken(req->page_token());
  if (!after.ok()) return ToGrpcStatus(after.status());
  // One more than the page: whether another follows.
  absl::StatusOr<std::vector<JoinTokenRecord>> tokens = hosts_.ListJoinTokensAfter(
      after->first() ? absl::InfinitePast() : absl::FromUnixMicros(after->created_us), after->id,
      static_cast<size_t>(*size) + 1,
      [&caller](const JoinTokenRecord& t) { return caller.SeesJoinToken(t); });
  if (!tokens.ok()) return ToGrpcStatus(tokens.status());
  const bool more = tokens->size() > *size;
  if (more) tokens->pop_back();
  const absl::Time now = clock_.Now();
  for (const JoinTokenRecord& t : *tokens) ToProto(t, now, resp->add_tokens());
  if (more) {
    const JoinTokenRecord& last = tokens->back();
    resp->set_next_page_token(JoinTokenPageToken(CreationCursor::Of(last.created_at, last.id)));
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeHostToken(grpc::ServerContext* ctx,
                                               const v1::RevokeHostTokenRequest* req,
                                               v1::MutationResponse* resp) {
  AccessTarget target;
  target.join_token_id = req->id();
  KF_AUTHORIZE_MUTATION("RevokeHostToken", target);
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    return ToGrpcStatus(hosts_.RevokeJoinToken(actor, req->id()));
  });
}

grpc::Status AdminServiceImpl::GetPolicy(grpc::ServerContext* ctx, const v1::GetPolicyRequest* req,
                                         v1::Policy* resp) {
  KF_AUTHORIZE("GetPolicy", {});
  ToProto(inventory_.GetPolicy(), resp);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetPolicy(grpc::ServerContext* ctx, const v1::SetPolicyRequest* req,
                                         v1::SetPolicyResponse* resp) {
  KF_AUTHORIZE_MUTATION("SetPolicy", {});
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    PolicyRecord base = inventory_.GetPolicy();
    for (int kind : req->inherit()) {
      absl::StatusOr<PrincipalKind> k = FromProto(static_cast<v1::PrincipalKind>(kind));
      if (!k.ok()) return ToGrpcStatus(k.status());
      base.OwnRule(*k).reset();
    }
    absl::StatusOr<PolicyRecord> policy = FromProto(req->policy(), base);
    if (!policy.ok()) return ToGrpcStatus(policy.status());
    if (req->dry_run() && !req->apply_to_existing()) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          "dry_run answers what apply_to_existing would shorten; set both"));
    }
    using Existing = InventoryHandlers::ExistingKeys;
    const Existing existing = req->dry_run()             ? Existing::kDryRun
                              : req->apply_to_existing() ? Existing::kShorten
                                                         : Existing::kKeep;
    absl::StatusOr<InventoryHandlers::SetPolicyResult> result =
        inventory_.SetPolicy(actor, *policy, existing);
    if (!result.ok()) return ToGrpcStatus(result.status());
    resp->set_change(result->change);
    resp->set_applied(existing == Existing::kShorten);
    for (const KeyLifeChange& k : result->shortened) {
      v1::ShortenedKey* out = resp->add_shortened();
      out->set_fingerprint(k.fingerprint);
      out->set_principal(k.principal);
      out->set_kind(k.kind == PrincipalKind::kService ? v1::PRINCIPAL_KIND_SERVICE
                                                      : v1::PRINCIPAL_KIND_PERSON);
      ToProto(k.created_at, out->mutable_created_at());
      ToProto(k.expires_before, out->mutable_expires_before());
      ToProto(k.expires_after, out->mutable_expires_after());
    }
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::AccessReview(grpc::ServerContext* ctx,
                                            const v1::AccessReviewRequest* req,
                                            v1::AccessReviewResponse* resp) {
  KF_AUTHORIZE("AccessReview", HostTarget(req->hostname()));
  absl::StatusOr<AccessReviewResult> access =
      reports_.AccessReview(req->hostname(), req->account());
  if (!access.ok()) return ToGrpcStatus(access.status());
  const AccessAnswer& a = access->answer;
  for (const AccessVerdict& v : a.entries) AccessToProto(v, access->keys, resp->add_entries());
  for (const AccountAccessFacts& f : a.accounts) ToProto(f, resp->add_accounts());
  resp->set_files_reported(a.files_reported);
  resp->set_change_pending(a.change_pending);
  resp->set_desired_generation(a.desired_generation);
  resp->set_applied_generation(a.applied_generation);
  resp->set_key_files(KeyFilesModeName(a.key_files));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::VerifyAccess(grpc::ServerContext* ctx,
                                            const v1::VerifyAccessRequest* req,
                                            v1::VerifyAccessResponse* resp) {
  KF_AUTHORIZE("VerifyAccess", HostTarget(req->hostname()));
  absl::StatusOr<VerifyAccessResult> result = reports_.VerifyAccess(
      req->hostname(), req->account(), req->fingerprint(), req->from_address());
  if (!result.ok()) return ToGrpcStatus(result.status());
  const VerifyResult& v = result->verdict;
  resp->set_allowed(v.allowed);
  resp->set_determined(v.determined);
  resp->set_reason(v.reason);
  for (const AccessVerdict& line : v.lines) AccessToProto(line, result->keys, resp->add_lines());
  ToProto(v.account, resp->mutable_account());
  resp->set_key_files(KeyFilesModeName(result->key_files));
  return grpc::Status::OK;
}

void AdminServiceImpl::AccessToProto(const AccessVerdict& v,
                                     const std::map<std::string, KeyRecord>& keys,
                                     v1::AccessEntry* out) const {
  out->set_account(v.account);
  if (auto key = keys.find(v.fingerprint); key != keys.end()) {
    KeyToProto(key->second, out->mutable_key());
  }
  if (v.grant_id != 0) out->set_grant_id(std::to_string(v.grant_id));
  out->set_authorized_keys_line(v.desired_line);
  out->set_fingerprint(v.fingerprint);
  out->set_state(ToProto(v.state));
  out->set_logs_in(v.logs_in);
  out->set_why(v.why);
  if (v.expires_at) ToProto(*v.expires_at, out->mutable_expires_at());
  out->set_options(v.options);
  out->set_file(v.file);
  out->set_comment(v.comment);
}

grpc::Status AdminServiceImpl::ComplianceReport(grpc::ServerContext* ctx,
                                                const v1::ComplianceReportRequest* req,
                                                v1::ComplianceReportResponse* resp) {
  KF_AUTHORIZE("ComplianceReport", {});
  std::optional<absl::Duration> stale_after;
  if (req->has_stale_after()) {
    if (absl::Status s = CheckRequestDuration("stale_after", req->stale_after()); !s.ok()) {
      return ToGrpcStatus(s);
    }
    stale_after = FromProto(req->stale_after());
  }
  absl::StatusOr<controller::ComplianceReport> report = reports_.Compliance(stale_after);
  if (!report.ok()) return ToGrpcStatus(report.status());
  for (const KeyRecord& k : report->stale) {
    v1::Key* out = resp->add_stale();
    KeyToProto(k, out);
    if (auto used = report->last_used.find(k.fingerprint); used != report->last_used.end()) {
      ToProto(used->second, out->mutable_last_used());
    }
  }
  ToProto(report->stale_after, resp->mutable_stale_after());
  for (const KeyRecord& k : report->expired_or_overdue)
    KeyToProto(k, resp->add_expired_or_overdue());
  for (const KeyRecord& k : report->expiring_soon) KeyToProto(k, resp->add_expiring_soon());
  for (const KeyRecord& k : report->weak_type) KeyToProto(k, resp->add_weak_type());
  for (const HostStatus& h : report->not_converged) ToProto(h, resp->add_not_converged());
  for (const HostStatus& h : report->not_seen) ToProto(h, resp->add_not_seen());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RotationReport(grpc::ServerContext* ctx,
                                              const v1::RotationReportRequest* req,
                                              v1::RotationReportResponse* resp) {
  KF_AUTHORIZE("RotationReport", {});
  const controller::RotationReport report = reports_.Rotation();
  ToProto(report.cycle_start, resp->mutable_cycle_start());
  ToProto(report.policy.max_key_age, resp->mutable_max_key_age());
  ToProto(report.policy.warning_window, resp->mutable_warning_window());
  auto owner = [](const OwnerRotation& o, v1::OwnerRotation* out) {
    out->set_principal(o.principal);
    out->set_keys(o.keys);
    out->set_rotated(o.rotated);
    out->set_due(o.due);
    out->set_overdue(o.overdue);
    for (const std::string& fp : o.overdue_fingerprints) out->add_overdue_fingerprints(fp);
    for (const std::string& fp : o.due_fingerprints) out->add_due_fingerprints(fp);
  };
  owner(report.overall, resp->mutable_overall());
  for (const OwnerRotation& o : report.owners) owner(o, resp->add_owners());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::FleetStatus(grpc::ServerContext* ctx,
                                           const v1::FleetStatusRequest* req,
                                           v1::FleetStatusResponse* resp) {
  KF_AUTHORIZE("FleetStatus", {});
  constexpr uint32_t kDefaultListLimit = 100;
  const uint32_t limit = req->list_limit() == 0 ? kDefaultListLimit : req->list_limit();
  absl::StatusOr<controller::FleetStatus> fleet = reports_.Fleet(
      limit, [&caller](const HostRecord& h) { return caller.SeesHostLabels(h.labels); },
      [ctx] { return ctx->IsCancelled(); });
  if (!fleet.ok()) return ToGrpcStatus(fleet.status());
  resp->set_hosts(fleet->hosts);
  resp->set_converged(fleet->converged);
  resp->set_pending(fleet->pending);
  resp->set_failed(fleet->failed);
  resp->set_offline(fleet->offline);
  resp->set_not_seen(fleet->not_seen);
  for (const HostStatus& h : fleet->failed_hosts) {
    v1::FailedHost* failed = resp->add_failed_hosts();
    failed->set_hostname(h.host.hostname);
    for (const AccountFailureRecord& a : h.failed_accounts) ToProto(a, failed->add_accounts());
  }
  for (const HostStatus& h : fleet->pending_hosts) ToProto(h, resp->add_pending_hosts());
  for (const HostStatus& h : fleet->offline_hosts) ToProto(h, resp->add_offline_hosts());
  // In the enum's order; a kind this controller does not know (a newer agent's) as unspecified.
  std::map<int, controller::FleetStatus::Drift> by_kind;
  for (const auto& [name, drift] : fleet->drift) {
    v1::DriftKind kind = v1::DRIFT_KIND_UNSPECIFIED;
    (void)v1::DriftKind_Parse(name, &kind);
    by_kind[kind].hosts += drift.hosts;
    by_kind[kind].items += drift.items;
  }
  for (const auto& [kind, drift] : by_kind) {
    v1::DriftCount* count = resp->add_drift();
    count->set_kind(static_cast<v1::DriftKind>(kind));
    count->set_hosts(drift.hosts);
    count->set_items(drift.items);
  }
  resp->set_lists_truncated(fleet->lists_truncated);
  ToProto(fleet->stale_after, resp->mutable_stale_after());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::KeyReach(grpc::ServerContext* ctx, const v1::KeyReachRequest* req,
                                        v1::KeyReachResponse* resp) {
  KF_AUTHORIZE("KeyReach", {});
  constexpr uint32_t kDefaultLimit = 1000;
  const uint32_t limit = req->limit() == 0 ? kDefaultLimit : req->limit();
  absl::StatusOr<controller::KeyReach> reach =
      reports_.Reach(req->principal(), req->fingerprint(), limit,
                     [&caller](const Labels& labels) { return caller.SeesHostLabels(labels); });
  if (!reach.ok()) return ToGrpcStatus(reach.status());
  for (const ReachLine& l : reach->reach.lines) {
    v1::ReachEntry* e = resp->add_entries();
    e->set_hostname(l.hostname);
    e->set_account(l.line.account);
    e->set_fingerprint(l.line.fingerprint);
    e->set_principal(l.line.principal);
    e->set_grant_id(absl::StrCat(l.line.grant_id));
    if (auto options = reach->grant_options.find(l.line.grant_id);
        options != reach->grant_options.end()) {
      e->set_options(options->second);
    }
    if (l.line.expires_at != absl::InfiniteFuture()) {
      ToProto(l.line.expires_at, e->mutable_expires_at());
    }
    e->set_applied(reach->applied.count(l.hostname) > 0);
  }
  resp->set_hosts(static_cast<uint32_t>(reach->reach.hosts));
  resp->set_accounts(static_cast<uint32_t>(reach->reach.accounts));
  resp->set_truncated(reach->reach.total > reach->reach.lines.size());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListAudit(grpc::ServerContext* ctx, const v1::ListAuditRequest* req,
                                         v1::ListAuditResponse* resp) {
  KF_AUTHORIZE("ListAudit", {});
  if (req->has_since()) {
    if (absl::Status s = CheckRequestTime("since", req->since()); !s.ok()) return ToGrpcStatus(s);
  }
  absl::Time since = req->has_since() ? FromProto(req->since()) : absl::InfinitePast();
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kAuditPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  const bool newest_first = req->newest_first();
  absl::StatusOr<uint64_t> bound = newest_first ? ParseNewestAuditPageToken(req->page_token())
                                                : ParseAuditPageToken(req->page_token());
  if (!bound.ok()) return ToGrpcStatus(bound.status());
  absl::StatusOr<std::vector<AuditEvent>> events =
      newest_first ? reports_.ListAuditNewestPage(*bound, since, static_cast<size_t>(*size) + 1)
                   : reports_.ListAuditPage(*bound, since, static_cast<size_t>(*size) + 1);
  if (!events.ok()) return ToGrpcStatus(events.status());
  const bool more = events->size() > *size;
  if (more) events->resize(*size);
  for (const AuditEvent& e : *events) ToProto(e, resp->add_events());
  if (more) {
    resp->set_next_page_token(newest_first ? NewestAuditPageToken(events->back().sequence)
                                           : AuditPageToken(events->back().sequence));
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::VerifyAudit(grpc::ServerContext* ctx,
                                           const v1::VerifyAuditRequest* req,
                                           v1::VerifyAuditResponse* resp) {
  KF_AUTHORIZE("VerifyAudit", {});
  absl::StatusOr<AuditVerification> result =
      reports_.VerifyAudit([ctx] { return ctx->IsCancelled(); });
  if (!result.ok()) return ToGrpcStatus(result.status());
  resp->set_ok(result->ok);
  resp->set_events_checked(result->events_checked);
  resp->set_first_bad_sequence(result->first_bad_sequence);
  resp->set_detail(result->detail);
  resp->set_checkpoints_checked(result->checkpoints_checked);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ExportAudit(grpc::ServerContext* ctx,
                                           const v1::ExportAuditRequest* req,
                                           grpc::ServerWriter<v1::ExportedAuditEvent>* writer) {
  KF_AUTHORIZE("ExportAudit", {});
  constexpr size_t kPage = 1000;
  constexpr absl::Duration kFollowPoll = absl::Milliseconds(500);
  struct Slot {
    std::atomic<int>& n;
    ~Slot() { --n; }
  };
  if (req->follow() && ++audit_followers_ > kMaxAuditFollowers) {
    --audit_followers_;
    return ToGrpcStatus(absl::ResourceExhaustedError(
        absl::StrCat("already ", kMaxAuditFollowers,
                     " audit exports are following; try again later or export without --follow")));
  }
  std::optional<Slot> slot;
  if (req->follow()) slot.emplace(Slot{audit_followers_});
  if (req->has_since()) {
    if (absl::Status s = CheckRequestTime("since", req->since()); !s.ok()) return ToGrpcStatus(s);
  }
  const absl::Time since = req->has_since() ? FromProto(req->since()) : absl::InfinitePast();
  uint64_t after = 0;
  while (!ctx->IsCancelled()) {
    absl::StatusOr<std::vector<ExportedAuditEvent>> page =
        reports_.ExportAudit(after, since, kPage);
    if (!page.ok()) return ToGrpcStatus(page.status());
    for (const ExportedAuditEvent& x : *page) {
      v1::ExportedAuditEvent out;
      ToProto(x.event, out.mutable_event());
      out.set_prev_hash(x.event.prev_hash);
      if (x.checkpoint) {
        out.set_checkpoint_id(x.checkpoint->id);
        out.set_checkpoint_key_id(x.checkpoint->key_id);
        ToProto(x.checkpoint->signed_at, out.mutable_checkpoint_signed_at());
        out.set_checkpoint_signature(x.checkpoint->signature);
        if (x.checkpoint->events.back().first == x.event.sequence) {
          out.set_checkpoint_events(FormatCheckpointEvents(x.checkpoint->events));
        }
      }
      if (!writer->Write(out)) return grpc::Status::CANCELLED;
      after = x.event.sequence;
    }
    if (page->size() == kPage) continue;
    if (!req->follow()) return grpc::Status::OK;
    absl::SleepFor(kFollowPoll);
    // A follower is asked again each time: a revoked or expired credential stops the stream.
    if (absl::StatusOr<Caller> again = auth_.Authorize(*ctx, "ExportAudit"); !again.ok()) {
      return ToGrpcStatus(again.status());
    }
  }
  return grpc::Status::CANCELLED;
}

grpc::Status AdminServiceImpl::RolloutStatus(grpc::ServerContext* ctx,
                                             const v1::RolloutStatusRequest* req,
                                             v1::RolloutStatusResponse* resp) {
  KF_AUTHORIZE("RolloutStatus", {});
  // A scoped operator's counts are of its hosts, as its lists are (and as FleetStatus counts).
  absl::StatusOr<controller::RolloutStatus> status = reports_.Rollout(
      req->change(), caller.is_scoped()
                         ? std::function<bool(const std::string&)>(
                               [&caller](const std::string& h) { return caller.SeesHost(h); })
                         : nullptr);
  if (!status.ok()) return ToGrpcStatus(status.status());
  resp->set_change(status->change);
  resp->set_targeted_hosts(status->targeted);
  resp->set_converged_hosts(status->converged);
  if (!caller.SeesRolloutHosts()) return grpc::Status::OK;
  for (const std::string& h : status->pending) {
    if (caller.SeesHost(h)) resp->add_pending_hosts(h);
  }
  for (const std::string& h : status->offline) {
    if (caller.SeesHost(h)) resp->add_offline_hosts(h);
  }
  for (const auto& [hostname, accounts] : status->failed) {
    if (!caller.SeesHost(hostname)) continue;
    v1::FailedHost* failed = resp->add_failed_hosts();
    failed->set_hostname(hostname);
    for (const AccountFailureRecord& a : accounts) ToProto(a, failed->add_accounts());
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::NotifyStatus(grpc::ServerContext* ctx,
                                            const v1::NotifyStatusRequest* req,
                                            v1::NotifyStatusResponse* resp) {
  KF_AUTHORIZE("NotifyStatus", {});
  absl::StatusOr<controller::NotifyStatus> status = notify_.Status(req->state(), req->limit());
  if (!status.ok()) return ToGrpcStatus(status.status());
  resp->set_not_fanned_out(status->counts.not_fanned_out);
  resp->set_pending(status->counts.pending);
  resp->set_delivered(status->counts.delivered);
  resp->set_dead(status->counts.dead);
  for (const std::string& sink : status->sinks) resp->add_sinks(sink);
  for (const DeliveryRow& d : status->deliveries) {
    v1::NotificationDelivery* out = resp->add_deliveries();
    out->set_id(d.id);
    out->set_event_id(d.outbox_id);
    out->set_event(d.event);
    out->set_sink(d.sink);
    out->set_state(d.state);
    out->set_attempts(static_cast<uint32_t>(d.attempts));
    ToProto(d.at, out->mutable_at());
    if (d.state == "pending") ToProto(d.next_attempt_at, out->mutable_next_attempt_at());
    if (d.delivered_at) ToProto(*d.delivered_at, out->mutable_delivered_at());
    out->set_last_error(d.last_error);
    out->set_subject(d.subject);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::NotifyRetry(grpc::ServerContext* ctx,
                                           const v1::NotifyRetryRequest* req,
                                           v1::MutationResponse*) {
  KF_AUTHORIZE("NotifyRetry", {});
  return ToGrpcStatus(notify_.Retry(req->id()));
}

grpc::Status AdminServiceImpl::CreateToken(grpc::ServerContext* ctx,
                                           const v1::CreateTokenRequest* req,
                                           v1::CreateTokenResponse* resp) {
  KF_AUTHORIZE_MUTATION("CreateToken", {});
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    absl::StatusOr<CredentialSpec> spec = SpecFromProto(req->spec());
    if (!spec.ok()) return ToGrpcStatus(spec.status());
    absl::StatusOr<NewApiToken> token = credentials_.CreateToken(actor, *spec);
    if (!token.ok()) return ToGrpcStatus(token.status());
    resp->set_token(token->text);
    ToProto(token->record, resp->mutable_credential());
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::IssueAdminCertificate(grpc::ServerContext* ctx,
                                                     const v1::IssueAdminCertificateRequest* req,
                                                     v1::IssueAdminCertificateResponse* resp) {
  KF_AUTHORIZE_MUTATION("IssueAdminCertificate", {});
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    absl::StatusOr<CredentialSpec> spec = SpecFromProto(req->spec());
    if (!spec.ok()) return ToGrpcStatus(spec.status());
    absl::StatusOr<NewAdminCertificate> cert =
        credentials_.IssueCertificate(actor, *spec, req->csr_pem());
    if (!cert.ok()) return ToGrpcStatus(cert.status());
    resp->set_certificate_pem(cert->certificate_pem);
    resp->set_ca_bundle_pem(cert->ca_bundle_pem);
    ToProto(cert->record, resp->mutable_credential());
    return grpc::Status::OK;
  });
}

grpc::Status AdminServiceImpl::ListTokens(grpc::ServerContext* ctx,
                                          const v1::ListTokensRequest* req,
                                          v1::ListTokensResponse* resp) {
  KF_AUTHORIZE("ListTokens", {});
  absl::StatusOr<uint32_t> size = PageSize(req->page_size(), kCredentialPageSize);
  if (!size.ok()) return ToGrpcStatus(size.status());
  absl::StatusOr<CreationCursor> after = ParseCredentialPageToken(req->page_token());
  if (!after.ok()) return ToGrpcStatus(after.status());
  // Credentials are few (people and pipelines, not hosts): read whole, paged here.
  absl::StatusOr<std::vector<ApiCredentialRecord>> all = credentials_.List();
  if (!all.ok()) return ToGrpcStatus(all.status());
  auto cursor_of = [](const ApiCredentialRecord& c) {
    return CreationCursor::Of(c.created_at, c.id);
  };
  // Oldest first, as the store lists them, by exactly the key the page token holds.
  std::sort(all->begin(), all->end(),
            [&](const ApiCredentialRecord& a, const ApiCredentialRecord& b) {
              return cursor_of(a) < cursor_of(b);
            });
  const ListPage<ApiCredentialRecord> page =
      PageAfter(*all, *after, *size, cursor_of, [](const ApiCredentialRecord&) { return true; });
  for (const ApiCredentialRecord* c : page.items) ToProto(*c, resp->add_credentials());
  if (page.more) resp->set_next_page_token(CredentialPageToken(cursor_of(*page.items.back())));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeToken(grpc::ServerContext* ctx,
                                           const v1::RevokeTokenRequest* req,
                                           v1::MutationResponse* resp) {
  KF_AUTHORIZE_MUTATION("RevokeToken", {});
  return requests_.Run(*ctx, actor, resp, [&]() -> grpc::Status {
    return ToGrpcStatus(credentials_.Revoke(actor, req->name()).status());
  });
}

grpc::Status AdminServiceImpl::WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                                      v1::WhoAmIResponse* resp) {
  KF_AUTHORIZE("WhoAmI", {});
  ToProto(caller.credential(), resp->mutable_credential());
  resp->set_actor(caller.actor());
  return grpc::Status::OK;
}

}  // namespace keyfleet::controller
