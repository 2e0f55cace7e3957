#include "tests/support/admin_setup.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace keyfleet::testing {
namespace {

absl::Status Failed(const char* call, const grpc::Status& status) {
  return absl::UnknownError(
      absl::StrCat(call, " failed: ", status.error_code(), " ", status.error_message()));
}

}  // namespace

absl::StatusOr<v1::AddKeysResponse> AddPrincipalWithGrant(v1::AdminService::Stub& admin,
                                                          const std::string& principal,
                                                          const std::vector<std::string>& key_lines,
                                                          const v1::HostSelector& hosts,
                                                          const std::string& account) {
  {
    grpc::ClientContext ctx;
    v1::AddPrincipalRequest req;
    req.set_name(principal);
    v1::MutationResponse resp;
    grpc::Status s = admin.AddPrincipal(&ctx, req, &resp);
    if (!s.ok()) return Failed("AddPrincipal", s);
  }
  v1::AddKeysResponse keys;
  {
    grpc::ClientContext ctx;
    v1::AddKeysRequest req;
    req.set_principal(principal);
    for (const std::string& line : key_lines) req.add_public_keys(line);
    grpc::Status s = admin.AddKeys(&ctx, req, &keys);
    if (!s.ok()) return Failed("AddKeys", s);
  }
  {
    grpc::ClientContext ctx;
    v1::AddGrantRequest req;
    req.mutable_grant()->set_principal(principal);
    *req.mutable_grant()->mutable_hosts() = hosts;
    req.mutable_grant()->set_account(account);
    v1::AddGrantResponse resp;
    grpc::Status s = admin.AddGrant(&ctx, req, &resp);
    if (!s.ok()) return Failed("AddGrant", s);
  }
  return keys;
}

v1::HostSelector LabelSelector(const std::string& key, const std::string& value) {
  v1::HostSelector selector;
  (*selector.mutable_labels())[key] = value;
  return selector;
}

}  // namespace keyfleet::testing
