#include "controller/service/admin_service.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "controller/fleet_view.h"
#include "controller/service/proto_convert.h"
#include "controller/service/status_mapping.h"

namespace keyfleet::controller {
namespace {

std::string Actor(grpc::ServerContext* ctx) {
  const auto& metadata = ctx->client_metadata();
  auto it = metadata.find(kActorMetadata);
  std::string claimed =
      it == metadata.end() ? "admin" : std::string(it->second.data(), it->second.size());
  return absl::StrCat("unverified:", claimed.substr(0, 64));
}

grpc::Status Mutation(const absl::StatusOr<uint64_t>& change, v1::MutationResponse* resp) {
  if (!change.ok()) return ToGrpcStatus(change.status());
  resp->set_change(*change);
  return grpc::Status::OK;
}

}  // namespace

void AdminServiceImpl::KeyToProto(const KeyRecord& key, v1::Key* out) const {
  ToProto(key, FleetView::EffectiveKeyState(key, clock_.Now()), out);
}

grpc::Status AdminServiceImpl::AddPrincipal(grpc::ServerContext* ctx,
                                            const v1::AddPrincipalRequest* req,
                                            v1::MutationResponse* resp) {
  absl::StatusOr<PrincipalKind> kind = FromProto(req->kind());
  if (!kind.ok()) return ToGrpcStatus(kind.status());
  return Mutation(inventory_.AddPrincipal(Actor(ctx), req->name(), *kind, req->email()), resp);
}

grpc::Status AdminServiceImpl::ListPrincipals(grpc::ServerContext*,
                                              const v1::ListPrincipalsRequest*,
                                              v1::ListPrincipalsResponse* resp) {
  for (const PrincipalRecord& p : inventory_.ListPrincipals()) ToProto(p, resp->add_principals());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::DisablePrincipal(grpc::ServerContext* ctx,
                                                const v1::DisablePrincipalRequest* req,
                                                v1::MutationResponse* resp) {
  return Mutation(inventory_.DisablePrincipal(Actor(ctx), req->name()), resp);
}

grpc::Status AdminServiceImpl::AddKeys(grpc::ServerContext* ctx, const v1::AddKeysRequest* req,
                                       v1::AddKeysResponse* resp) {
  std::vector<std::string> lines(req->public_keys().begin(), req->public_keys().end());
  absl::StatusOr<AddKeysResult> result =
      inventory_.AddKeys(Actor(ctx), req->principal(), lines, req->label());
  if (!result.ok()) return ToGrpcStatus(result.status());
  for (const KeyRecord& key : result->keys) KeyToProto(key, resp->add_keys());
  resp->set_change(result->change);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListKeys(grpc::ServerContext*, const v1::ListKeysRequest* req,
                                        v1::ListKeysResponse* resp) {
  KeyFilter filter;
  filter.principal = req->principal();
  filter.state = FromProto(req->state());
  if (req->has_expiring_within()) filter.expiring_within = FromProto(req->expiring_within());
  absl::StatusOr<std::vector<KeyRecord>> keys = inventory_.ListKeys(filter);
  if (!keys.ok()) return ToGrpcStatus(keys.status());
  for (const KeyRecord& key : *keys) KeyToProto(key, resp->add_keys());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetKey(grpc::ServerContext*, const v1::GetKeyRequest* req,
                                      v1::Key* resp) {
  absl::StatusOr<KeyRecord> key = inventory_.GetKey(req->fingerprint());
  if (!key.ok()) return ToGrpcStatus(key.status());
  KeyToProto(*key, resp);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::LabelKey(grpc::ServerContext* ctx, const v1::LabelKeyRequest* req,
                                        v1::MutationResponse* resp) {
  return Mutation(inventory_.LabelKey(Actor(ctx), req->fingerprint(), req->label()), resp);
}

grpc::Status AdminServiceImpl::RemoveKey(grpc::ServerContext* ctx, const v1::RemoveKeyRequest* req,
                                         v1::MutationResponse* resp) {
  return Mutation(inventory_.RemoveKey(Actor(ctx), req->fingerprint()), resp);
}

grpc::Status AdminServiceImpl::RevokeKey(grpc::ServerContext* ctx, const v1::RevokeKeyRequest* req,
                                         v1::MutationResponse* resp) {
  return Mutation(inventory_.RevokeKey(Actor(ctx), req->fingerprint(), req->reason()), resp);
}

grpc::Status AdminServiceImpl::AddGrant(grpc::ServerContext* ctx, const v1::AddGrantRequest* req,
                                        v1::AddGrantResponse* resp) {
  absl::StatusOr<AddGrantResult> result = inventory_.AddGrant(Actor(ctx), FromProto(req->grant()));
  if (!result.ok()) return ToGrpcStatus(result.status());
  ToProto(result->grant, resp->mutable_grant());
  resp->set_change(result->change);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListGrants(grpc::ServerContext*, const v1::ListGrantsRequest* req,
                                          v1::ListGrantsResponse* resp) {
  absl::StatusOr<std::vector<GrantRecord>> grants =
      inventory_.ListGrants(req->host(), req->principal());
  if (!grants.ok()) return ToGrpcStatus(grants.status());
  for (const GrantRecord& g : *grants) ToProto(g, resp->add_grants());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RemoveGrant(grpc::ServerContext* ctx,
                                           const v1::RemoveGrantRequest* req,
                                           v1::MutationResponse* resp) {
  int64_t id = 0;
  if (!absl::SimpleAtoi(req->id(), &id)) {
    return ToGrpcStatus(absl::InvalidArgumentError(
        absl::StrCat("grant id \"", req->id(), "\" is not a number (see `keyfleet grant list`)")));
  }
  return Mutation(inventory_.RemoveGrant(Actor(ctx), id), resp);
}

grpc::Status AdminServiceImpl::ListHosts(grpc::ServerContext*, const v1::ListHostsRequest*,
                                         v1::ListHostsResponse* resp) {
  absl::StatusOr<std::vector<HostStatus>> hosts = reports_.ListHosts();
  if (!hosts.ok()) return ToGrpcStatus(hosts.status());
  for (const HostStatus& h : *hosts) ToProto(h, resp->add_hosts());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::LabelHost(grpc::ServerContext* ctx, const v1::LabelHostRequest* req,
                                         v1::MutationResponse* resp) {
  Labels set(req->set().begin(), req->set().end());
  std::vector<std::string> remove(req->remove().begin(), req->remove().end());
  return Mutation(hosts_.LabelHost(Actor(ctx), req->hostname(), set, remove), resp);
}

grpc::Status AdminServiceImpl::RemoveHost(grpc::ServerContext* ctx,
                                          const v1::RemoveHostRequest* req,
                                          v1::MutationResponse* resp) {
  return Mutation(hosts_.RemoveHost(Actor(ctx), req->hostname()), resp);
}

grpc::Status AdminServiceImpl::CreateHostToken(grpc::ServerContext* ctx,
                                               const v1::CreateHostTokenRequest* req,
                                               v1::CreateHostTokenResponse* resp) {
  Labels labels(req->labels().begin(), req->labels().end());
  std::optional<absl::Duration> ttl;
  if (req->has_ttl()) ttl = FromProto(req->ttl());
  absl::StatusOr<NewJoinToken> token =
      hosts_.CreateJoinToken(Actor(ctx), req->hostname(), labels, ttl, req->uses());
  if (!token.ok()) return ToGrpcStatus(token.status());
  resp->set_token(token->text);
  resp->set_ca_pin(token->ca_pin);
  ToProto(token->record, clock_.Now(), resp->mutable_info());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListHostTokens(grpc::ServerContext*,
                                              const v1::ListHostTokensRequest*,
                                              v1::ListHostTokensResponse* resp) {
  absl::StatusOr<std::vector<JoinTokenRecord>> tokens = hosts_.ListJoinTokens();
  if (!tokens.ok()) return ToGrpcStatus(tokens.status());
  const absl::Time now = clock_.Now();
  for (const JoinTokenRecord& t : *tokens) ToProto(t, now, resp->add_tokens());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RevokeHostToken(grpc::ServerContext* ctx,
                                               const v1::RevokeHostTokenRequest* req,
                                               v1::MutationResponse*) {
  return ToGrpcStatus(hosts_.RevokeJoinToken(Actor(ctx), req->id()));
}

grpc::Status AdminServiceImpl::GetHost(grpc::ServerContext*, const v1::GetHostRequest* req,
                                       v1::Host* resp) {
  absl::StatusOr<HostStatus> host = reports_.GetHost(req->hostname());
  if (!host.ok()) return ToGrpcStatus(host.status());
  ToProto(*host, resp);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetPolicy(grpc::ServerContext*, const v1::GetPolicyRequest*,
                                         v1::Policy* resp) {
  ToProto(inventory_.GetPolicy(), resp);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetPolicy(grpc::ServerContext* ctx, const v1::SetPolicyRequest* req,
                                         v1::MutationResponse* resp) {
  absl::StatusOr<PolicyRecord> policy = FromProto(req->policy(), inventory_.GetPolicy());
  if (!policy.ok()) return ToGrpcStatus(policy.status());
  return Mutation(inventory_.SetPolicy(Actor(ctx), *policy), resp);
}

grpc::Status AdminServiceImpl::AccessReview(grpc::ServerContext*,
                                            const v1::AccessReviewRequest* req,
                                            v1::AccessReviewResponse* resp) {
  absl::StatusOr<std::vector<AccessEntry>> entries =
      reports_.AccessReview(req->hostname(), req->account());
  if (!entries.ok()) return ToGrpcStatus(entries.status());
  for (const AccessEntry& e : *entries) {
    v1::AccessEntry* out = resp->add_entries();
    out->set_account(e.line.account);
    KeyToProto(e.key, out->mutable_key());
    out->set_grant_id(std::to_string(e.line.grant_id));
    out->set_authorized_keys_line(e.line.line->text);
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ComplianceReport(grpc::ServerContext*,
                                                const v1::ComplianceReportRequest*,
                                                v1::ComplianceReportResponse* resp) {
  absl::StatusOr<controller::ComplianceReport> report = reports_.Compliance();
  if (!report.ok()) return ToGrpcStatus(report.status());
  for (const KeyRecord& k : report->expired_or_overdue)
    KeyToProto(k, resp->add_expired_or_overdue());
  for (const KeyRecord& k : report->expiring_soon) KeyToProto(k, resp->add_expiring_soon());
  for (const KeyRecord& k : report->weak_type) KeyToProto(k, resp->add_weak_type());
  for (const HostStatus& h : report->not_converged) ToProto(h, resp->add_not_converged());
  for (const HostStatus& h : report->not_seen) ToProto(h, resp->add_not_seen());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ListAudit(grpc::ServerContext*, const v1::ListAuditRequest* req,
                                         v1::ListAuditResponse* resp) {
  absl::Time since = req->has_since() ? FromProto(req->since()) : absl::InfinitePast();
  absl::StatusOr<std::vector<AuditEvent>> events = reports_.ListAudit(since);
  if (!events.ok()) return ToGrpcStatus(events.status());
  for (const AuditEvent& e : *events) ToProto(e, resp->add_events());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::VerifyAudit(grpc::ServerContext*, const v1::VerifyAuditRequest*,
                                           v1::VerifyAuditResponse* resp) {
  absl::StatusOr<AuditVerification> result = reports_.VerifyAudit();
  if (!result.ok()) return ToGrpcStatus(result.status());
  resp->set_ok(result->ok);
  resp->set_events_checked(result->events_checked);
  resp->set_first_bad_sequence(result->first_bad_sequence);
  resp->set_detail(result->detail);
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::RolloutStatus(grpc::ServerContext*,
                                             const v1::RolloutStatusRequest* req,
                                             v1::RolloutStatusResponse* resp) {
  absl::StatusOr<controller::RolloutStatus> status = reports_.Rollout(req->change());
  if (!status.ok()) return ToGrpcStatus(status.status());
  resp->set_change(status->change);
  resp->set_targeted_hosts(status->targeted);
  resp->set_converged_hosts(status->converged);
  for (const std::string& h : status->pending) resp->add_pending_hosts(h);
  for (const std::string& h : status->offline) resp->add_offline_hosts(h);
  return grpc::Status::OK;
}

}  // namespace keyfleet::controller
