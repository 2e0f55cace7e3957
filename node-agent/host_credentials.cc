#include "node-agent/host_credentials.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/status_macros.h"
#include "common/tls/grpc_credentials.h"
#include "common/tls/pinned_fetch.h"
#include "common/tls/secure_file.h"
#include "common/tls/x509.h"
#include "keyfleet/v1/agent.grpc.pb.h"

namespace keyfleet::agent {
namespace {

constexpr char kHostFile[] = "host.pem";
constexpr char kCaFile[] = "ca.pem";
constexpr size_t kMaxPemBytes = 1 << 20;
constexpr char kCsrCommonName[] = "keyfleet-agent";

absl::Status Save(const std::string& tls_dir, const std::string& key_pem,
                  const std::string& cert_pem, const std::string& ca_bundle_pem) {
  KF_RETURN_IF_ERROR(tls::EnsurePrivateDirectory(tls_dir, 0700));
  // The trust bundle first: a crash between the two leaves the old identity with a bundle that
  // still holds the CA it chains to (bundles only grow during a rotation's overlap).
  KF_RETURN_IF_ERROR(tls::WriteFileAtomically(tls_dir, kCaFile, ca_bundle_pem, 0644));
  return tls::WriteFileAtomically(tls_dir, kHostFile, key_pem + cert_pem, 0600);
}

// The host a certificate names: its keyfleet://host/NAME/ENROLLMENT URI (the common name is
// informational, and absent for names longer than a CN allows).
absl::StatusOr<std::string> HostnameOf(const tls::CertificateInfo& info) {
  constexpr absl::string_view kPrefix = "keyfleet://host/";
  for (const std::string& uri : info.uris) {
    absl::string_view rest = uri;
    if (!absl::ConsumePrefix(&rest, kPrefix)) continue;
    const size_t slash = rest.find('/');
    if (slash == absl::string_view::npos || slash == 0) break;
    return std::string(rest.substr(0, slash));
  }
  return absl::InvalidArgumentError(
      "the certificate names no keyfleet host (no keyfleet://host/NAME/ID URI); enroll again");
}

// The credentials in these PEM texts, checked: the certificate names a host and is for `key_pem`.
absl::StatusOr<HostCredentials> Describe(std::string key_pem, std::string cert_pem,
                                         std::string ca_bundle_pem) {
  KF_ASSIGN_OR_RETURN(tls::CertificateInfo info, tls::InspectCertificate(cert_pem));
  KF_RETURN_IF_ERROR(tls::CheckKeyMatchesCertificate(key_pem, cert_pem));
  HostCredentials creds;
  KF_ASSIGN_OR_RETURN(creds.hostname, HostnameOf(info));
  creds.key_pem = std::move(key_pem);
  creds.cert_pem = std::move(cert_pem);
  creds.ca_bundle_pem = std::move(ca_bundle_pem);
  creds.not_before = info.not_before;
  creds.not_after = info.not_after;
  return creds;
}

std::chrono::system_clock::time_point Deadline(absl::Duration timeout) {
  return std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout);
}

absl::Status FromGrpc(const grpc::Status& s, const std::string& what) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      absl::StrCat(what, ": ", s.error_message()));
}

}  // namespace

namespace {

// Whether a failure to enroll at one controller leaves the next one worth asking: it could not
// be reached, so the token was not spent there (or, if an UNAVAILABLE call did reach it, the
// next controller says the token was used, which is the truth).
bool Unreachable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

// Enrollment at one controller, with the key and CSR made for this run.
absl::StatusOr<HostCredentials> EnrollAt(const std::string& address, const EnrollOptions& options,
                                         const std::string& key_pem, const std::string& csr_pem,
                                         bool* try_next) {
  *try_next = false;
  absl::StatusOr<std::string> ca_pem =
      tls::FetchPinnedCaBundle(address, options.ca_pin, options.timeout);
  if (!ca_pem.ok()) {
    *try_next = Unreachable(ca_pem.status());
    return ca_pem.status();
  }
  auto channel = grpc::CreateChannel(address, tls::ClientTlsCredentials(*ca_pem));
  auto stub = v1::EnrollmentService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(options.timeout));
  v1::EnrollRequest req;
  req.set_token(options.token);
  req.set_hostname(options.hostname);
  req.set_csr_pem(csr_pem);
  v1::EnrollResponse resp;
  grpc::Status s = stub->Enroll(&ctx, req, &resp);
  if (!s.ok()) {
    // A deadline that passed mid-call may have spent the token: final.
    *try_next = s.error_code() == grpc::StatusCode::UNAVAILABLE;
    return FromGrpc(s, absl::StrCat("enrollment refused by ", address));
  }
  KF_ASSIGN_OR_RETURN(HostCredentials creds,
                      Describe(key_pem, resp.certificate_pem(), resp.ca_bundle_pem()));
  if (creds.hostname != resp.hostname()) {
    return absl::InternalError(absl::StrCat("the controller issued a certificate for ",
                                            creds.hostname, " while enrolling ", resp.hostname()));
  }
  KF_RETURN_IF_ERROR(Save(options.tls_dir, creds.key_pem, creds.cert_pem, creds.ca_bundle_pem));
  return creds;
}

}  // namespace

absl::StatusOr<HostCredentials> Enroll(const EnrollOptions& options) {
  KF_RETURN_IF_ERROR(tls::ValidatePin(options.ca_pin));
  if (options.controllers.empty()) {
    return absl::InvalidArgumentError("no controller address to enroll with");
  }
  KF_ASSIGN_OR_RETURN(std::string key_pem, tls::GenerateKeyPem());
  KF_ASSIGN_OR_RETURN(
      std::string csr_pem,
      tls::MakeCsrPem(key_pem, kCsrCommonName));  // ignored: the token decides the host
  std::vector<std::string> unreachable;           // "ADDRESS: reason", in the order tried
  for (const std::string& address : options.controllers) {
    bool try_next = false;
    absl::StatusOr<HostCredentials> creds = EnrollAt(address, options, key_pem, csr_pem, &try_next);
    if (creds.ok()) return creds;
    if (!try_next) {
      if (unreachable.empty()) return creds.status();
      return absl::Status(creds.status().code(),
                          absl::StrCat(creds.status().message(), " (after ",
                                       absl::StrJoin(unreachable, "; "), ")"));
    }
    unreachable.push_back(std::string(creds.status().message()));
  }
  if (unreachable.size() == 1) return absl::UnavailableError(unreachable[0]);
  return absl::UnavailableError(
      absl::StrCat("no controller could be reached to enroll: ", absl::StrJoin(unreachable, "; ")));
}

absl::StatusOr<HostCredentials> LoadHostCredentials(const std::string& tls_dir) {
  const std::string host_path = absl::StrCat(tls_dir, "/", kHostFile);
  absl::StatusOr<std::string> host = tls::ReadSecretFile(host_path, kMaxPemBytes);
  if (absl::IsNotFound(host.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "not enrolled: ", host_path,
        " does not exist; run `keyfleet-agent enroll --controller ADDR --token TOKEN --ca-hash "
        "PIN` (tokens come from `keyfleet host token create`)"));
  }
  if (!host.ok()) return host.status();
  KF_ASSIGN_OR_RETURN(std::string ca,
                      tls::ReadPublicFile(absl::StrCat(tls_dir, "/", kCaFile), kMaxPemBytes));
  // host.pem is the key, then the certificate.
  const size_t cert_at = host->find("-----BEGIN CERTIFICATE-----");
  if (cert_at == std::string::npos || cert_at == 0) {
    return absl::DataLossError(absl::StrCat(host_path,
                                            " must hold the private key, then the certificate; "
                                            "enroll again"));
  }
  return Describe(host->substr(0, cert_at), host->substr(cert_at), std::move(ca));
}

std::shared_ptr<grpc::ChannelCredentials> MutualTlsCredentials(const HostCredentials& creds) {
  return tls::ClientTlsCredentials(creds.ca_bundle_pem, creds.key_pem, creds.cert_pem);
}

absl::Time RenewalTime(const HostCredentials& creds) {
  return creds.not_before + (creds.not_after - creds.not_before) * 2 / 3;
}

bool RenewalDue(const HostCredentials& creds, absl::Time now) {
  return now >= RenewalTime(creds);
}

absl::StatusOr<HostCredentials> Renew(const std::shared_ptr<grpc::Channel>& channel,
                                      const HostCredentials& current, const std::string& tls_dir,
                                      absl::Duration timeout) {
  KF_ASSIGN_OR_RETURN(std::string key_pem, tls::GenerateKeyPem());
  KF_ASSIGN_OR_RETURN(std::string csr_pem, tls::MakeCsrPem(key_pem, kCsrCommonName));
  auto stub = v1::AgentService::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_deadline(Deadline(timeout));
  v1::RenewRequest req;
  req.set_csr_pem(csr_pem);
  v1::RenewResponse resp;
  grpc::Status s = stub->Renew(&ctx, req, &resp);
  if (!s.ok()) return FromGrpc(s, "certificate renewal refused");
  KF_ASSIGN_OR_RETURN(HostCredentials renewed,
                      Describe(key_pem, resp.certificate_pem(), resp.ca_bundle_pem()));
  if (renewed.hostname != current.hostname) {
    return absl::InternalError(absl::StrCat("the controller renewed the certificate of ",
                                            current.hostname, " for ", renewed.hostname));
  }
  KF_RETURN_IF_ERROR(Save(tls_dir, renewed.key_pem, renewed.cert_pem, renewed.ca_bundle_pem));
  return renewed;
}

}  // namespace keyfleet::agent
