// The admin gRPC service: authorizes each call (admin_auth.h), converts protos, calls the
// handlers, maps statuses. No other logic here.
#pragma once

#include <atomic>

#include "common/clock.h"
#include "controller/handlers/credential_handlers.h"
#include "controller/handlers/host_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/notify_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/service/admin_auth.h"
#include "controller/service/request_ledger.h"
#include "keyfleet/v1/admin.grpc.pb.h"

namespace keyfleet::controller {

class AdminServiceImpl final : public v1::AdminService::Service {
 public:
  static constexpr int kMaxAuditFollowers = 16;

  AdminServiceImpl(const AdminAuthorizer& auth, InventoryHandlers& inventory,
                   ReportHandlers& reports, HostHandlers& hosts, CredentialHandlers& credentials,
                   const NotifyHandlers& notify, RequestLedger& requests, const Clock& clock)
      : auth_(auth),
        inventory_(inventory),
        reports_(reports),
        hosts_(hosts),
        credentials_(credentials),
        notify_(notify),
        requests_(requests),
        clock_(clock) {}

  grpc::Status AddPrincipal(grpc::ServerContext* ctx, const v1::AddPrincipalRequest* req,
                            v1::MutationResponse* resp) override;
  grpc::Status ListPrincipals(grpc::ServerContext* ctx, const v1::ListPrincipalsRequest* req,
                              v1::ListPrincipalsResponse* resp) override;
  grpc::Status DisablePrincipal(grpc::ServerContext* ctx, const v1::DisablePrincipalRequest* req,
                                v1::MutationResponse* resp) override;
  grpc::Status AddKeys(grpc::ServerContext* ctx, const v1::AddKeysRequest* req,
                       v1::AddKeysResponse* resp) override;
  grpc::Status ListKeys(grpc::ServerContext* ctx, const v1::ListKeysRequest* req,
                        v1::ListKeysResponse* resp) override;
  grpc::Status GetKey(grpc::ServerContext* ctx, const v1::GetKeyRequest* req,
                      v1::Key* resp) override;
  grpc::Status LabelKey(grpc::ServerContext* ctx, const v1::LabelKeyRequest* req,
                        v1::MutationResponse* resp) override;
  grpc::Status RemoveKey(grpc::ServerContext* ctx, const v1::RemoveKeyRequest* req,
                         v1::MutationResponse* resp) override;
  grpc::Status RotateKey(grpc::ServerContext* ctx, const v1::RotateKeyRequest* req,
                         v1::RotateKeyResponse* resp) override;
  grpc::Status RevokeKey(grpc::ServerContext* ctx, const v1::RevokeKeyRequest* req,
                         v1::MutationResponse* resp) override;
  grpc::Status AddGrant(grpc::ServerContext* ctx, const v1::AddGrantRequest* req,
                        v1::AddGrantResponse* resp) override;
  grpc::Status ListGrants(grpc::ServerContext* ctx, const v1::ListGrantsRequest* req,
                          v1::ListGrantsResponse* resp) override;
  grpc::Status RemoveGrant(grpc::ServerContext* ctx, const v1::RemoveGrantRequest* req,
                           v1::MutationResponse* resp) override;
  grpc::Status ListHosts(grpc::ServerContext* ctx, const v1::ListHostsRequest* req,
                         v1::ListHostsResponse* resp) override;
  grpc::Status GetHost(grpc::ServerContext* ctx, const v1::GetHostRequest* req,
                       v1::Host* resp) override;
  grpc::Status KnownHosts(grpc::ServerContext* ctx, const v1::KnownHostsRequest* req,
                          v1::KnownHostsResponse* resp) override;
  grpc::Status LabelHost(grpc::ServerContext* ctx, const v1::LabelHostRequest* req,
                         v1::MutationResponse* resp) override;
  grpc::Status RemoveHost(grpc::ServerContext* ctx, const v1::RemoveHostRequest* req,
                          v1::MutationResponse* resp) override;
  grpc::Status CreateHostToken(grpc::ServerContext* ctx, const v1::CreateHostTokenRequest* req,
                               v1::CreateHostTokenResponse* resp) override;
  grpc::Status ListHostTokens(grpc::ServerContext* ctx, const v1::ListHostTokensRequest* req,
                              v1::ListHostTokensResponse* resp) override;
  grpc::Status RevokeHostToken(grpc::ServerContext* ctx, const v1::RevokeHostTokenRequest* req,
                               v1::MutationResponse* resp) override;
  grpc::Status GetPolicy(grpc::ServerContext* ctx, const v1::GetPolicyRequest* req,
                         v1::Policy* resp) override;
  grpc::Status GenerateKey(grpc::ServerContext* ctx, const v1::GenerateKeyRequest* req,
                           v1::GenerateKeyResponse* resp) override;
  grpc::Status NotifyStatus(grpc::ServerContext* ctx, const v1::NotifyStatusRequest* req,
                            v1::NotifyStatusResponse* resp) override;
  grpc::Status NotifyRetry(grpc::ServerContext* ctx, const v1::NotifyRetryRequest* req,
                           v1::MutationResponse* resp) override;
  grpc::Status SetPolicy(grpc::ServerContext* ctx, const v1::SetPolicyRequest* req,
                         v1::SetPolicyResponse* resp) override;
  grpc::Status AccessReview(grpc::ServerContext* ctx, const v1::AccessReviewRequest* req,
                            v1::AccessReviewResponse* resp) override;
  grpc::Status VerifyAccess(grpc::ServerContext* ctx, const v1::VerifyAccessRequest* req,
                            v1::VerifyAccessResponse* resp) override;
  grpc::Status ComplianceReport(grpc::ServerContext* ctx, const v1::ComplianceReportRequest* req,
                                v1::ComplianceReportResponse* resp) override;
  grpc::Status RotationReport(grpc::ServerContext* ctx, const v1::RotationReportRequest* req,
                              v1::RotationReportResponse* resp) override;
  grpc::Status FleetStatus(grpc::ServerContext* ctx, const v1::FleetStatusRequest* req,
                           v1::FleetStatusResponse* resp) override;
  grpc::Status KeyReach(grpc::ServerContext* ctx, const v1::KeyReachRequest* req,
                        v1::KeyReachResponse* resp) override;
  grpc::Status ListAudit(grpc::ServerContext* ctx, const v1::ListAuditRequest* req,
                         v1::ListAuditResponse* resp) override;
  grpc::Status VerifyAudit(grpc::ServerContext* ctx, const v1::VerifyAuditRequest* req,
                           v1::VerifyAuditResponse* resp) override;
  // Pages through the log; with follow, keeps polling for new events (at most
  // kMaxAuditFollowers at once, each holding one server thread).
  grpc::Status ExportAudit(grpc::ServerContext* ctx, const v1::ExportAuditRequest* req,
                           grpc::ServerWriter<v1::ExportedAuditEvent>* writer) override;
  grpc::Status RolloutStatus(grpc::ServerContext* ctx, const v1::RolloutStatusRequest* req,
                             v1::RolloutStatusResponse* resp) override;
  grpc::Status CreateToken(grpc::ServerContext* ctx, const v1::CreateTokenRequest* req,
                           v1::CreateTokenResponse* resp) override;
  grpc::Status IssueAdminCertificate(grpc::ServerContext* ctx,
                                     const v1::IssueAdminCertificateRequest* req,
                                     v1::IssueAdminCertificateResponse* resp) override;
  grpc::Status ListTokens(grpc::ServerContext* ctx, const v1::ListTokensRequest* req,
                          v1::ListTokensResponse* resp) override;
  grpc::Status RevokeToken(grpc::ServerContext* ctx, const v1::RevokeTokenRequest* req,
                           v1::MutationResponse* resp) override;
  grpc::Status WhoAmI(grpc::ServerContext* ctx, const v1::WhoAmIRequest* req,
                      v1::WhoAmIResponse* resp) override;

 private:
  void KeyToProto(const KeyRecord& key, v1::Key* out) const;
  void AccessToProto(const AccessVerdict& v, const std::map<std::string, KeyRecord>& keys,
                     v1::AccessEntry* out) const;

  const AdminAuthorizer& auth_;
  InventoryHandlers& inventory_;
  ReportHandlers& reports_;
  HostHandlers& hosts_;
  CredentialHandlers& credentials_;
  const NotifyHandlers& notify_;
  RequestLedger& requests_;
  const Clock& clock_;
  std::atomic<int> audit_followers_{0};
};

}  // namespace keyfleet::controller
