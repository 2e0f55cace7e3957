#include "controller/ca/certificate_authority.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/tls/secure_file.h"
#include "common/tls/tests/openssl_cli.h"
#include "common/tls/x509.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::controller {
namespace {

namespace fs = std::filesystem;
using ::keyfleet::testing::ScopedTempDir;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using tls::testing::Openssl;
using tls::testing::ReadTextFile;
using tls::testing::WriteTextFile;

constexpr char kEnrollmentId[] = "abcdef0123456789";
constexpr char kAdminName[] = "alice.smith@example.com";
constexpr char kCredentialId[] = "0123456789abcdef";

mode_t ModeOf(const fs::path& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void ExpectStatus(const absl::Status& status, absl::StatusCode code, const std::string& text,
                  const std::string& why = "") {
  EXPECT_EQ(status.code(), code) << why << ": " << status;
  EXPECT_THAT(status.message(), HasSubstr(text)) << why;
}

// `pem` (any one PEM block) with the last byte of its DER flipped: for a certificate or a
// request, a byte of the signature, so it still parses but no longer verifies.
std::string FlipLastDerByte(const std::string& pem) {
  tls::BioPtr in = tls::ReadOnlyBio(pem);
  char* name = nullptr;
  char* header = nullptr;
  unsigned char* der = nullptr;
  long size = 0;
  EXPECT_EQ(PEM_read_bio(in.get(), &name, &header, &der, &size), 1);
  der[size - 1] ^= 0x01;
  tls::BioPtr out(BIO_new(BIO_s_mem()));
  EXPECT_GT(PEM_write_bio(out.get(), name, header, der, size), 0);
  OPENSSL_free(name);
  OPENSSL_free(header);
  OPENSSL_free(der);
  return tls::BioContents(out.get());
}

std::string PemOfNewKey(const char* curve_or_type) {
  tls::EvpPkeyPtr key(absl::string_view(curve_or_type) == "ED25519"
                          ? EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519")
                          : EVP_EC_gen(curve_or_type));
  EXPECT_NE(key, nullptr) << curve_or_type;
  return *tls::PrivateKeyToPem(key.get());
}

std::string NewCsr(const char* key_type = "P-256", const std::string& common_name = "anything") {
  absl::StatusOr<std::string> csr = tls::MakeCsrPem(PemOfNewKey(key_type), common_name);
  EXPECT_TRUE(csr.ok()) << csr.status();
  return *csr;
}

class CertificateAuthorityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(CertificateAuthority::Create(dir_, now_).ok());
    ca_ = Load(dir_);
    ASSERT_NE(ca_, nullptr);
  }

  static std::unique_ptr<CertificateAuthority> Load(const std::string& dir) {
    absl::StatusOr<std::unique_ptr<CertificateAuthority>> ca = CertificateAuthority::Load(dir);
    EXPECT_TRUE(ca.ok()) << ca.status();
    return ca.ok() ? *std::move(ca) : nullptr;
  }

  std::string HostCert(const CertificateAuthority& ca, absl::Duration lifetime = absl::Hours(24),
                       const std::string& hostname = "web1.example.com") {
    absl::StatusOr<std::string> cert =
        ca.SignHostCertificate(NewCsr(), hostname, kEnrollmentId, now_, lifetime);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return cert.ok() ? *cert : "";
  }

  std::string AdminCert(const CertificateAuthority& ca, absl::Duration lifetime = absl::Hours(24)) {
    absl::StatusOr<std::string> cert =
        ca.SignAdminCertificate(NewCsr(), kAdminName, kCredentialId, now_, lifetime);
    EXPECT_TRUE(cert.ok()) << cert.status();
    return cert.ok() ? *cert : "";
  }

  // An RSA-2048 certificate request made with the openssl CLI.
  std::string RsaCsr() {
    const fs::path csr = work_.path() / "rsa.csr";
    const fs::path config = work_.path() / "rsa.cnf";
    WriteTextFile(config, "[req]\ndistinguished_name=dn\n[dn]\n");
    Openssl(absl::StrCat("req -new -config ", config.string(), " -newkey rsa:2048 -nodes -keyout ",
                         (work_.path() / "rsa.key").string(), " -subj /CN=x -out ", csr.string()));
    return ReadTextFile(csr);
  }

  // A client certificate issued by this CA with the openssl CLI, with `san` as subjectAltName.
  std::string CliClientCert(const std::string& stem, const std::string& san) {
    tls::testing::CliCertificateSpec spec;
    spec.common_name = "web1";
    spec.extensions = {"basicConstraints=critical,CA:FALSE", "keyUsage=critical,digitalSignature",
                       "extendedKeyUsage=clientAuth", "subjectKeyIdentifier=hash",
                       "authorityKeyIdentifier=keyid:always"};
    if (!san.empty()) spec.extensions.push_back("subjectAltName=" + san);
    spec.issuer_cert = fs::path(dir_) / kCaCertFile;
    spec.issuer_key = fs::path(dir_) / kCaKeyFile;
    return tls::testing::MakeCliCertificate(work_.path(), stem, spec).cert_pem;
  }

  ScopedTempDir temp_{"kf-ca-test"};
  ScopedTempDir work_{"kf-ca-work"};
  const std::string dir_ = (temp_.path() / "ca").string();
  const absl::Time now_ = absl::Now();
  std::unique_ptr<CertificateAuthority> ca_;
};

TEST_F(CertificateAuthorityTest, CreateThenLoadRoundTrips) {
  EXPECT_EQ(ModeOf(dir_), 0700u);
  EXPECT_EQ(ModeOf(fs::path(dir_) / kCaKeyFile), 0600u);
  const fs::path cert_path = fs::path(dir_) / kCaCertFile;
  EXPECT_EQ(ca_->signing_cert_pem(), ReadTextFile(cert_path));
  EXPECT_EQ(ca_->pin(), tls::testing::CliPin(cert_path));
  EXPECT_THAT(ca_->trusted_pins(), ElementsAre(ca_->pin()));
  EXPECT_EQ(ca_->trust_bundle_pem(), ca_->signing_cert_pem());

  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(ca_->signing_cert_pem());
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_TRUE(info->is_ca);
  EXPECT_THAT(info->common_name, MatchesRegex("keyfleet CA [0-9a-f]{8}"));
  EXPECT_EQ(info->not_before, absl::FromUnixSeconds(absl::ToUnixSeconds(now_ - absl::Hours(1))));
  EXPECT_EQ(info->not_after, absl::FromUnixSeconds(absl::ToUnixSeconds(now_ + kCaLifetime)));
  EXPECT_GE(info->serial_hex.size(), 30u) << "128 random bits";
  const std::string text = Openssl(absl::StrCat("x509 -noout -text -in ", cert_path.string()));
  EXPECT_THAT(text, HasSubstr("X509v3 Basic Constraints: critical\n                CA:TRUE, "
                              "pathlen:0"));
  EXPECT_THAT(text, HasSubstr("X509v3 Key Usage: critical\n                Certificate Sign, "
                              "CRL Sign"));
  EXPECT_THAT(text, HasSubstr("X509v3 Subject Key Identifier"));
  EXPECT_THAT(text, HasSubstr("ecdsa-with-SHA256"));
  EXPECT_THAT(text, HasSubstr("NIST CURVE: P-256"));

  // Two CAs never share a name or a key.
  ScopedTempDir other("kf-ca-other");
  ASSERT_TRUE(CertificateAuthority::Create(other.path().string(), now_).ok());
  EXPECT_NE(tls::InspectCertificate(Load(other.path().string())->signing_cert_pem())->common_name,
            info->common_name);
  EXPECT_NE(Load(other.path().string())->pin(), ca_->pin());
}

TEST_F(CertificateAuthorityTest, CreateNeverReplacesACa) {
  const std::string key_before = ReadTextFile(fs::path(dir_) / kCaKeyFile);
  ExpectStatus(CertificateAuthority::Create(dir_, now_), absl::StatusCode::kAlreadyExists,
               absl::StrCat(dir_, "/ca.key already exists"));
  EXPECT_EQ(ReadTextFile(fs::path(dir_) / kCaKeyFile), key_before);
  // Either file alone is enough to refuse.
  ASSERT_TRUE(tls::RemoveFileIfExists(dir_, kCaKeyFile).ok());
  ExpectStatus(CertificateAuthority::Create(dir_, now_), absl::StatusCode::kAlreadyExists,
               "ca.crt already exists");
}

TEST_F(CertificateAuthorityTest, LoadRefusesAWorldReadableKey) {
  const fs::path key = fs::path(dir_) / kCaKeyFile;
  ASSERT_EQ(chmod(key.c_str(), 0644), 0);
  ExpectStatus(CertificateAuthority::Load(dir_).status(), absl::StatusCode::kFailedPrecondition,
               absl::StrCat(key.string(), " is readable by group or others (mode 0644); chmod 600 ",
                            key.string()));
}

TEST_F(CertificateAuthorityTest, LoadRefusesMismatchedKeyAndCertificate) {
  ScopedTempDir other("kf-ca-other");
  ASSERT_TRUE(CertificateAuthority::Create(other.path().string(), now_).ok());
  ASSERT_TRUE(
      tls::WriteFileAtomically(dir_, kCaKeyFile, ReadTextFile(other.path() / kCaKeyFile), 0600)
          .ok());
  ExpectStatus(CertificateAuthority::Load(dir_).status(), absl::StatusCode::kFailedPrecondition,
               absl::StrCat(dir_, "/ca.key is not the key of ", dir_, "/ca.crt"));
}

TEST_F(CertificateAuthorityTest, LoadOfAMissingCaIsNotFound) {
  EXPECT_EQ(CertificateAuthority::Load((temp_.path() / "missing").string()).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CertificateAuthorityTest, ServerCertificateVerifiesWithOpensslAndHasTheNames) {
  absl::StatusOr<IssuedKeyPair> issued = ca_->IssueServerCertificate(
      {"controller.example.com", "10.0.0.5", "::1", "localhost"}, now_, absl::Hours(24));
  ASSERT_TRUE(issued.ok()) << issued.status();
  absl::StatusOr<std::vector<std::string>> chain = tls::SplitCertificatesPem(issued->chain_pem);
  ASSERT_TRUE(chain.ok()) << chain.status();
  ASSERT_EQ(chain->size(), 2u);
  EXPECT_EQ((*chain)[1], ca_->signing_cert_pem());
  const fs::path leaf = work_.path() / "server.crt";
  WriteTextFile(leaf, (*chain)[0]);
  const std::string ca_file = (fs::path(dir_) / kCaCertFile).string();
  EXPECT_EQ(
      Openssl(absl::StrCat("verify -purpose sslserver -CAfile ", ca_file, " ", leaf.string())),
      leaf.string() + ": OK\n");

  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(issued->chain_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "keyfleet-controller");
  EXPECT_THAT(info->dns_names, ElementsAre("controller.example.com", "localhost"));
  EXPECT_THAT(info->ip_addresses, ElementsAre("10.0.0.5", "::1"));
  EXPECT_TRUE(info->uris.empty());
  EXPECT_FALSE(info->is_ca);
  EXPECT_EQ(info->not_after, absl::FromUnixSeconds(absl::ToUnixSeconds(now_ + absl::Hours(24))));
  EXPECT_EQ(info->not_before, absl::FromUnixSeconds(absl::ToUnixSeconds(now_ - absl::Hours(1))));
  const std::string text = Openssl(absl::StrCat("x509 -noout -text -in ", leaf.string()));
  EXPECT_THAT(text, HasSubstr("TLS Web Server Authentication"));
  EXPECT_THAT(text, Not(HasSubstr("TLS Web Client Authentication")));
  EXPECT_THAT(text, HasSubstr("Digital Signature"));
  EXPECT_THAT(text, HasSubstr("X509v3 Authority Key Identifier"));

  absl::StatusOr<tls::EvpPkeyPtr> key = tls::ParsePrivateKeyPem(issued->key_pem);
  ASSERT_TRUE(key.ok()) << key.status();
  tls::X509Ptr cert = *tls::ParseCertificatePem(issued->chain_pem);
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(cert.get()), key->get()), 1);
  // A fresh key every time.
  EXPECT_NE(ca_->IssueServerCertificate({"localhost"}, now_, absl::Hours(1))->key_pem,
            issued->key_pem);
}

TEST_F(CertificateAuthorityTest, ServerCertificateRefusesBadNames) {
  const struct {
    const char* why;
    std::vector<std::string> names;
    absl::Duration lifetime;
    const char* message;
  } kBad[] = {
      {"no names", {}, absl::Hours(1), "at least one DNS name or IP address"},
      {"empty name", {""}, absl::Hours(1), "is neither an IP address nor a DNS name"},
      {"underscore", {"bad_name"}, absl::Hours(1), "is neither"},
      {"space", {"bad name"}, absl::Hours(1), "is neither"},
      {"leading hyphen", {"-x.example.com"}, absl::Hours(1), "is neither"},
      {"empty label", {"a..b"}, absl::Hours(1), "is neither"},
      {"trailing dot", {"example.com."}, absl::Hours(1), "is neither"},
      {"wildcard", {"*.example.com"}, absl::Hours(1), "is neither"},
      {"comma smuggling a SAN", {"a.com,IP:1.2.3.4"}, absl::Hours(1), "is neither"},
      {"label of 64", {std::string(64, 'a') + ".com"}, absl::Hours(1), "is neither"},
      {"one bad among good", {"localhost", "bad name"}, absl::Hours(1), "is neither"},
      {"zero lifetime", {"localhost"}, absl::ZeroDuration(), "must be > 0"},
  };
  for (const auto& row : kBad) {
    ExpectStatus(ca_->IssueServerCertificate(row.names, now_, row.lifetime).status(),
                 absl::StatusCode::kInvalidArgument, row.message, row.why);
  }
  EXPECT_TRUE(
      ca_->IssueServerCertificate({std::string(63, 'a') + ".com"}, now_, absl::Hours(1)).ok());
}

TEST_F(CertificateAuthorityTest, HostCertificateRoundTripsForEachAllowedKeyType) {
  for (const char* key_type : {"P-256", "P-384", "ED25519"}) {
    absl::StatusOr<std::string> leaf = ca_->SignHostCertificate(
        NewCsr(key_type), "web1.example.com", kEnrollmentId, now_, absl::Hours(24));
    ASSERT_TRUE(leaf.ok()) << key_type << ": " << leaf.status();
    absl::StatusOr<HostIdentity> identity =
        ca_->VerifyHostCertificate(*leaf, now_ + absl::Hours(1));
    ASSERT_TRUE(identity.ok()) << key_type << ": " << identity.status();
    EXPECT_EQ(identity->hostname, "web1.example.com");
    EXPECT_EQ(identity->enrollment_id, kEnrollmentId);
    EXPECT_EQ(identity->not_after,
              absl::FromUnixSeconds(absl::ToUnixSeconds(now_ + absl::Hours(24))));
    EXPECT_EQ(identity->issuer_pin, ca_->pin());
    absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(*leaf);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(identity->serial_hex, info->serial_hex);
    EXPECT_EQ(info->common_name, "web1.example.com");
    EXPECT_THAT(info->uris, ElementsAre("keyfleet://host/web1.example.com/abcdef0123456789"));
    EXPECT_EQ(info->not_before,
              absl::FromUnixSeconds(absl::ToUnixSeconds(now_ - absl::Minutes(5))));

    const fs::path path = work_.path() / "host.crt";
    WriteTextFile(path, *leaf);
    const std::string ca_file = (fs::path(dir_) / kCaCertFile).string();
    EXPECT_EQ(
        Openssl(absl::StrCat("verify -purpose sslclient -CAfile ", ca_file, " ", path.string())),
        path.string() + ": OK\n");
    const std::string text = Openssl(absl::StrCat("x509 -noout -text -in ", path.string()));
    EXPECT_THAT(text, HasSubstr("TLS Web Client Authentication"));
    EXPECT_THAT(text, Not(HasSubstr("TLS Web Server Authentication")));
    EXPECT_THAT(text, HasSubstr("CA:FALSE"));
  }
}

TEST_F(CertificateAuthorityTest, HostCertificateIgnoresTheRequestsSubjectAndExtensions) {
  // A request asking for a CA certificate for "admin" with extra names.
  const fs::path config = work_.path() / "req.cnf";
  WriteTextFile(config,
                "[req]\ndistinguished_name=dn\nreq_extensions=ext\n[dn]\n[ext]\n"
                "basicConstraints=critical,CA:TRUE\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:evil.example.com,URI:keyfleet://admin/root\n");
  const fs::path csr = work_.path() / "req.csr";
  Openssl(absl::StrCat("req -new -config ", config.string(),
                       " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ",
                       (work_.path() / "req.key").string(), " -subj /CN=admin -out ",
                       csr.string()));
  absl::StatusOr<std::string> leaf =
      ca_->SignHostCertificate(ReadTextFile(csr), "web1", kEnrollmentId, now_, absl::Hours(24));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(*leaf);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "web1");
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->dns_names.empty());
  EXPECT_THAT(info->uris, ElementsAre("keyfleet://host/web1/abcdef0123456789"));
  EXPECT_TRUE(ca_->VerifyHostCertificate(*leaf, now_).ok());
}

TEST_F(CertificateAuthorityTest, HostnameTooLongForACommonNameGetsNoSubject) {
  const std::string hostname = std::string(60, 'a') + "." + std::string(60, 'b') + ".example";
  const std::string leaf = HostCert(*ca_, absl::Hours(1), hostname);
  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(leaf);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "");
  absl::StatusOr<HostIdentity> identity = ca_->VerifyHostCertificate(leaf, now_);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->hostname, hostname);
  const fs::path path = work_.path() / "long.crt";
  WriteTextFile(path, leaf);
  EXPECT_THAT(Openssl(absl::StrCat("x509 -noout -text -in ", path.string())),
              HasSubstr("X509v3 Subject Alternative Name: critical"));
}

TEST_F(CertificateAuthorityTest, VerifyRefusesEveryCertificateThatIsNotAValidHostCertificate) {
  ScopedTempDir other_dir("kf-ca-other");
  ASSERT_TRUE(CertificateAuthority::Create(other_dir.path().string(), now_).ok());
  std::unique_ptr<CertificateAuthority> other = Load(other_dir.path().string());
  const std::string one_hour = HostCert(*ca_, absl::Hours(1));
  const std::string expired_at =
      absl::FormatTime(absl::RFC3339_sec, now_ + absl::Hours(1), absl::UTCTimeZone());
  const std::string valid_from =
      absl::FormatTime(absl::RFC3339_sec, now_ - absl::Minutes(5), absl::UTCTimeZone());
  const std::string server_chain =
      ca_->IssueServerCertificate({"localhost"}, now_, absl::Hours(1))->chain_pem;
  const std::string good = HostCert(*ca_);
  const std::string hostish = "keyfleet://host/web1/";
  // The openssl CLI dates its certificates from when it runs, which may be after now_.
  const absl::Time cli_at = now_ + absl::Minutes(30);
  const struct {
    const char* why;
    std::string pem;
    absl::Time at;
    absl::StatusCode code;
    std::string message;
  } kRefused[] = {
      {"none", "", now_, absl::StatusCode::kUnauthenticated, "no client certificate"},
      {"garbage", "garbage", now_, absl::StatusCode::kUnauthenticated, "cannot be parsed"},
      {"from another CA", HostCert(*other), now_, absl::StatusCode::kUnauthenticated,
       "was not issued by a trusted keyfleet CA"},
      {"signature tampered", FlipLastDerByte(good), now_, absl::StatusCode::kUnauthenticated,
       "was not issued by a trusted keyfleet CA"},
      {"expired", one_hour, now_ + absl::Hours(1) + absl::Seconds(1),
       absl::StatusCode::kUnauthenticated, "the client certificate expired at " + expired_at},
      {"not yet valid", one_hour, now_ - absl::Minutes(6), absl::StatusCode::kUnauthenticated,
       "the client certificate is not valid until " + valid_from + "; check the clocks"},
      {"server certificate", server_chain, now_, absl::StatusCode::kUnauthenticated,
       "is not a TLS client certificate"},
      {"the CA certificate", ca_->signing_cert_pem(), now_, absl::StatusCode::kUnauthenticated,
       "is a CA certificate"},
      {"another CA's certificate", other->signing_cert_pem(), now_,
       absl::StatusCode::kUnauthenticated, "is a CA certificate"},
      {"no URI", CliClientCert("no-uri", "DNS:web1"), cli_at, absl::StatusCode::kPermissionDenied,
       "it has 0 URI SANs"},
      {"no SAN at all", CliClientCert("no-san", ""), cli_at, absl::StatusCode::kPermissionDenied,
       "it has 0 URI SANs"},
      {"two URIs",
       CliClientCert("two-uris",
                     "URI:keyfleet://host/web1/abcdefgh1,URI:keyfleet://host/web2/"
                     "abcdefgh2"),
       cli_at, absl::StatusCode::kPermissionDenied, "it has 2 URI SANs"},
      {"admin certificate", AdminCert(*ca_), now_, absl::StatusCode::kPermissionDenied,
       "it is an admin certificate (URI SAN \"keyfleet://admin/alice.smith@example.com/"
       "0123456789abcdef\")"},
      {"malformed admin URI", CliClientCert("admin", "URI:keyfleet://admin/alice"), cli_at,
       absl::StatusCode::kPermissionDenied, "it is an admin certificate"},
      {"other scheme", CliClientCert("https", "URI:https://host/web1/abcdefgh1"), cli_at,
       absl::StatusCode::kPermissionDenied, "is not a host's"},
      {"no enrollment id", CliClientCert("no-id", "URI:keyfleet://host/web1"), cli_at,
       absl::StatusCode::kPermissionDenied, "is malformed"},
      {"empty enrollment id", CliClientCert("empty-id", "URI:" + hostish), cli_at,
       absl::StatusCode::kPermissionDenied, "enrollment id \"\" is not allowed"},
      {"upper-case enrollment id", CliClientCert("upper-id", "URI:" + hostish + "ABCDEFGH1"),
       cli_at, absl::StatusCode::kPermissionDenied, "lower-case letters and digits"},
      {"short enrollment id", CliClientCert("short-id", "URI:" + hostish + "abc"), cli_at,
       absl::StatusCode::kPermissionDenied, "8 to 64"},
      {"extra path", CliClientCert("extra", "URI:" + hostish + "abcdefgh1/more"), cli_at,
       absl::StatusCode::kPermissionDenied, "is malformed"},
      {"bad hostname", CliClientCert("bad-host", "URI:keyfleet://host/web_1/abcdefgh1"), cli_at,
       absl::StatusCode::kPermissionDenied, "hostname \"web_1\" may contain only letters, digits"},
  };
  for (const auto& row : kRefused) {
    ExpectStatus(ca_->VerifyHostCertificate(row.pem, row.at).status(), row.code, row.message,
                 row.why);
  }
  // The CLI-made certificates are refused for their URI alone: a good one is accepted.
  absl::StatusOr<HostIdentity> cli_good =
      ca_->VerifyHostCertificate(CliClientCert("good", "URI:" + hostish + "abcdefgh1"), cli_at);
  ASSERT_TRUE(cli_good.ok()) << cli_good.status();
  EXPECT_EQ(cli_good->enrollment_id, "abcdefgh1");
  EXPECT_TRUE(ca_->VerifyHostCertificate(one_hour, now_ + absl::Hours(1) - absl::Seconds(1)).ok())
      << "valid until it expires";
  EXPECT_TRUE(ca_->VerifyHostCertificate(one_hour, now_ - absl::Minutes(5)).ok())
      << "valid from 5 minutes before it was signed";
}

TEST_F(CertificateAuthorityTest, ShortLivedCertificatesAreBackdatedByATenthOfTheirLife) {
  // So that an agent's renewal at two thirds of the certificate's life comes after issuance.
  const std::string key = *tls::GenerateKeyPem();
  absl::StatusOr<std::string> leaf = ca_->SignHostCertificate(
      *tls::MakeCsrPem(key, "x"), "web-1", kEnrollmentId, now_, absl::Seconds(60));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(*leaf);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->not_before, absl::FromUnixSeconds(absl::ToUnixSeconds(now_ - absl::Seconds(6))));
}

TEST_F(CertificateAuthorityTest, SignRefusesBadRequestsAndNames) {
  const std::string csr = NewCsr();
  const struct {
    const char* why;
    std::string csr, hostname, enrollment_id;
    absl::Duration lifetime;
    const char* message;
  } kBad[] = {
      {"tampered signature", FlipLastDerByte(csr), "web1", kEnrollmentId, absl::Hours(1),
       "the certificate request's signature does not verify"},
      {"RSA key", RsaCsr(), "web1", kEnrollmentId, absl::Hours(1),
       "key is RSA-2048, which is not allowed (allowed: EC P-256, EC P-384, Ed25519)"},
      {"P-521 key", NewCsr("P-521"), "web1", kEnrollmentId, absl::Hours(1),
       "key is EC secp521r1, which is not allowed"},
      {"oversize", csr + std::string(kMaxCsrPemBytes + 1 - csr.size(), '\n'), "web1", kEnrollmentId,
       absl::Hours(1), "is 16385 bytes (at most 16384 allowed)"},
      {"not a request", "garbage", "web1", kEnrollmentId, absl::Hours(1),
       "is not a PEM \"CERTIFICATE REQUEST\""},
      {"a certificate", ca_->signing_cert_pem(), "web1", kEnrollmentId, absl::Hours(1),
       "is not a PEM \"CERTIFICATE REQUEST\""},
      {"empty hostname", csr, "", kEnrollmentId, absl::Hours(1), "hostname must be 1 to 253"},
      {"hostname with /", csr, "web1/x", kEnrollmentId, absl::Hours(1), "letters, digits"},
      {"hostname with _", csr, "web_1", kEnrollmentId, absl::Hours(1), "letters, digits"},
      {"hostname of 254", csr, std::string(254, 'h'), kEnrollmentId, absl::Hours(1), "1 to 253"},
      {"enrollment id of 7", csr, "web1", "abcdefg", absl::Hours(1), "8 to 64"},
      {"enrollment id of 65", csr, "web1", std::string(65, 'a'), absl::Hours(1), "8 to 64"},
      {"upper-case enrollment id", csr, "web1", "ABCDEFGH", absl::Hours(1), "lower-case"},
      {"enrollment id with -", csr, "web1", "abcd-efgh", absl::Hours(1), "lower-case"},
      {"zero lifetime", csr, "web1", kEnrollmentId, absl::ZeroDuration(), "must be > 0"},
  };
  for (const auto& row : kBad) {
    ExpectStatus(
        ca_->SignHostCertificate(row.csr, row.hostname, row.enrollment_id, now_, row.lifetime)
            .status(),
        absl::StatusCode::kInvalidArgument, row.message, row.why);
  }
  // At the limits.
  const std::string padded = csr + std::string(kMaxCsrPemBytes - csr.size(), '\n');
  EXPECT_TRUE(ca_->SignHostCertificate(padded, "web1", kEnrollmentId, now_, absl::Hours(1)).ok());
  EXPECT_TRUE(
      ca_->SignHostCertificate(csr, std::string(253, 'h'), "abcdefgh", now_, absl::Hours(1)).ok());
  EXPECT_TRUE(
      ca_->SignHostCertificate(csr, "web1", std::string(64, '0'), now_, absl::Hours(1)).ok());
}

TEST(CredentialNamesTest, ValidateAcceptsTheGrammarAndRefusesTheRest) {
  for (const std::string& good :
       {std::string("a"), std::string("alice"), std::string("alice.smith@example.com"),
        std::string("ops-team_2"), std::string("0admin"), std::string("A.B-C_D@E"),
        std::string(kMaxCredentialNameBytes, 'n')}) {
    EXPECT_TRUE(ValidateCredentialName(good).ok()) << good;
  }
  const struct {
    const char* why;
    std::string name;
    const char* message;
  } kBadNames[] = {
      {"empty", "",
       "credential name \"\" is not allowed (allowed: 1 to 64 letters, digits, "
       "'.', '_', '@' and '-', starting with a letter or digit)"},
      {"65 bytes", std::string(kMaxCredentialNameBytes + 1, 'n'), "1 to 64"},
      {"leading dot", ".alice", "starting with a letter or digit"},
      {"leading @", "@alice", "starting with a letter or digit"},
      {"leading hyphen", "-alice", "starting with a letter or digit"},
      {"slash splits the URI", "alice/0123456789abcdef", "is not allowed"},
      {"space", "alice smith", "is not allowed"},
      {"plus", "alice+ops@example.com", "is not allowed"},
      {"colon", "alice:x", "is not allowed"},
      {"NUL", std::string("alice\0", 6), "credential name \"alice\\x00\""},
      {"UTF-8", "\xc3\xa9mile", "is not allowed"},
  };
  for (const auto& row : kBadNames) {
    ExpectStatus(ValidateCredentialName(row.name), absl::StatusCode::kInvalidArgument, row.message,
                 row.why);
  }

  for (const char* good : {kCredentialId, "0000000000000000", "ffffffffffffffff"}) {
    EXPECT_TRUE(ValidateCredentialId(good).ok()) << good;
  }
  const struct {
    const char* why;
    std::string id;
  } kBadIds[] = {
      {"empty", ""},
      {"15 digits", "0123456789abcde"},
      {"17 digits", "0123456789abcdef0"},
      {"upper-case", "0123456789ABCDEF"},
      {"not hex", "0123456789abcdeg"},
      {"dashed", "01234567-9abcdef"},
      {"with a slash", "01234567/9abcdef"},
  };
  for (const auto& row : kBadIds) {
    ExpectStatus(ValidateCredentialId(row.id), absl::StatusCode::kInvalidArgument,
                 "is not allowed (allowed: exactly 16 lower-case hex digits)", row.why);
  }
}

TEST_F(CertificateAuthorityTest, AdminCertificateRoundTripsForEachAllowedKeyType) {
  for (const char* key_type : {"P-256", "P-384", "ED25519"}) {
    absl::StatusOr<std::string> leaf = ca_->SignAdminCertificate(
        NewCsr(key_type, "ignored"), kAdminName, kCredentialId, now_, absl::Hours(12));
    ASSERT_TRUE(leaf.ok()) << key_type << ": " << leaf.status();
    absl::StatusOr<AdminIdentity> identity =
        ca_->VerifyAdminCertificate(*leaf, now_ + absl::Hours(1));
    ASSERT_TRUE(identity.ok()) << key_type << ": " << identity.status();
    EXPECT_EQ(identity->name, kAdminName);
    EXPECT_EQ(identity->credential_id, kCredentialId);
    EXPECT_EQ(identity->not_after,
              absl::FromUnixSeconds(absl::ToUnixSeconds(now_ + absl::Hours(12))));
    EXPECT_EQ(identity->issuer_pin, ca_->pin());
    absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(*leaf);
    ASSERT_TRUE(info.ok());
    EXPECT_EQ(identity->serial_hex, info->serial_hex);
    EXPECT_GE(info->serial_hex.size(), 30u) << "128 random bits";
    EXPECT_EQ(info->common_name, kAdminName);
    EXPECT_THAT(info->uris,
                ElementsAre("keyfleet://admin/alice.smith@example.com/0123456789abcdef"));
    EXPECT_TRUE(info->dns_names.empty());
    EXPECT_FALSE(info->is_ca);
    EXPECT_EQ(info->not_before,
              absl::FromUnixSeconds(absl::ToUnixSeconds(now_ - absl::Minutes(5))));

    const fs::path path = work_.path() / "admin.crt";
    WriteTextFile(path, *leaf);
    const std::string ca_file = (fs::path(dir_) / kCaCertFile).string();
    EXPECT_EQ(
        Openssl(absl::StrCat("verify -purpose sslclient -CAfile ", ca_file, " ", path.string())),
        path.string() + ": OK\n");
    const std::string text = Openssl(absl::StrCat("x509 -noout -text -in ", path.string()));
    EXPECT_THAT(text, HasSubstr("X509v3 Extended Key Usage: \n                TLS Web Client "
                                "Authentication\n"));
    EXPECT_THAT(text, HasSubstr("X509v3 Key Usage: critical\n                Digital Signature\n"));
    EXPECT_THAT(text, HasSubstr("X509v3 Basic Constraints: critical\n                CA:FALSE"));
    EXPECT_THAT(text, HasSubstr("X509v3 Subject Key Identifier"));
    EXPECT_THAT(text, HasSubstr("X509v3 Authority Key Identifier"));
    EXPECT_THAT(text, Not(HasSubstr("Subject Alternative Name: critical")));
  }
  // A name at the limit still fits the CN; short lives are backdated by a tenth of their life.
  const std::string longest(kMaxCredentialNameBytes, 'n');
  absl::StatusOr<std::string> leaf =
      ca_->SignAdminCertificate(NewCsr(), longest, kCredentialId, now_, absl::Seconds(60));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(*leaf);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, longest);
  EXPECT_EQ(info->not_before, absl::FromUnixSeconds(absl::ToUnixSeconds(now_ - absl::Seconds(6))));
  EXPECT_EQ(ca_->VerifyAdminCertificate(*leaf, now_)->name, longest);
}

TEST_F(CertificateAuthorityTest, AdminCertificateIgnoresTheRequestsSubjectAndExtensions) {
  // A request asking for a CA certificate for another admin, with extra names.
  const fs::path config = work_.path() / "req.cnf";
  WriteTextFile(config,
                "[req]\ndistinguished_name=dn\nreq_extensions=ext\n[dn]\n[ext]\n"
                "basicConstraints=critical,CA:TRUE\nextendedKeyUsage=serverAuth\n"
                "subjectAltName=DNS:evil.example.com,URI:keyfleet://admin/root/ffffffffffffffff\n");
  const fs::path csr = work_.path() / "req.csr";
  Openssl(absl::StrCat("req -new -config ", config.string(),
                       " -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ",
                       (work_.path() / "req.key").string(), " -subj /CN=root -out ", csr.string()));
  absl::StatusOr<std::string> leaf =
      ca_->SignAdminCertificate(ReadTextFile(csr), kAdminName, kCredentialId, now_, absl::Hours(1));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  absl::StatusOr<tls::CertificateInfo> info = tls::InspectCertificate(*leaf);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, kAdminName);
  EXPECT_FALSE(info->is_ca);
  EXPECT_TRUE(info->dns_names.empty());
  EXPECT_THAT(info->uris,
              ElementsAre(absl::StrCat(kAdminUriPrefix, kAdminName, "/", kCredentialId)));
  absl::StatusOr<AdminIdentity> identity = ca_->VerifyAdminCertificate(*leaf, now_);
  ASSERT_TRUE(identity.ok()) << identity.status();
  EXPECT_EQ(identity->name, kAdminName);
}

TEST_F(CertificateAuthorityTest, SignAdminRefusesBadRequestsNamesAndIds) {
  const std::string csr = NewCsr();
  const struct {
    const char* why;
    std::string csr, name, credential_id;
    absl::Duration lifetime;
    const char* message;
  } kBad[] = {
      {"tampered signature", FlipLastDerByte(csr), kAdminName, kCredentialId, absl::Hours(1),
       "the certificate request's signature does not verify"},
      {"RSA key", RsaCsr(), kAdminName, kCredentialId, absl::Hours(1),
       "key is RSA-2048, which is not allowed (allowed: EC P-256, EC P-384, Ed25519)"},
      {"P-521 key", NewCsr("P-521"), kAdminName, kCredentialId, absl::Hours(1),
       "key is EC secp521r1, which is not allowed"},
      {"oversize", csr + std::string(kMaxCsrPemBytes + 1 - csr.size(), '\n'), kAdminName,
       kCredentialId, absl::Hours(1), "is 16385 bytes (at most 16384 allowed)"},
      {"not a request", "garbage", kAdminName, kCredentialId, absl::Hours(1),
       "is not a PEM \"CERTIFICATE REQUEST\""},
      {"truncated request", csr.substr(0, csr.size() / 2), kAdminName, kCredentialId,
       absl::Hours(1), "is not a PEM \"CERTIFICATE REQUEST\""},
      {"a certificate", ca_->signing_cert_pem(), kAdminName, kCredentialId, absl::Hours(1),
       "is not a PEM \"CERTIFICATE REQUEST\""},
      {"empty name", csr, "", kCredentialId, absl::Hours(1), "credential name \"\" is not allowed"},
      {"name with /", csr, "alice/x", kCredentialId, absl::Hours(1), "credential name"},
      {"name of 65", csr, std::string(65, 'n'), kCredentialId, absl::Hours(1), "1 to 64"},
      {"short id", csr, kAdminName, "0123", absl::Hours(1), "exactly 16 lower-case hex digits"},
      {"upper-case id", csr, kAdminName, "0123456789ABCDEF", absl::Hours(1), "credential id"},
      {"zero lifetime", csr, kAdminName, kCredentialId, absl::ZeroDuration(), "must be > 0"},
      {"negative lifetime", csr, kAdminName, kCredentialId, -absl::Hours(1), "must be > 0"},
  };
  for (const auto& row : kBad) {
    ExpectStatus(ca_->SignAdminCertificate(row.csr, row.name, row.credential_id, now_, row.lifetime)
                     .status(),
                 absl::StatusCode::kInvalidArgument, row.message, row.why);
  }
  const std::string padded = csr + std::string(kMaxCsrPemBytes - csr.size(), '\n');
  EXPECT_TRUE(
      ca_->SignAdminCertificate(padded, kAdminName, kCredentialId, now_, absl::Hours(1)).ok())
      << "a request of exactly kMaxCsrPemBytes";
}

TEST_F(CertificateAuthorityTest,
       VerifyAdminRefusesEveryCertificateThatIsNotAValidAdminCertificate) {
  ScopedTempDir other_dir("kf-ca-other");
  ASSERT_TRUE(CertificateAuthority::Create(other_dir.path().string(), now_).ok());
  std::unique_ptr<CertificateAuthority> other = Load(other_dir.path().string());
  const std::string one_hour = AdminCert(*ca_, absl::Hours(1));
  const std::string expired_at =
      absl::FormatTime(absl::RFC3339_sec, now_ + absl::Hours(1), absl::UTCTimeZone());
  const std::string valid_from =
      absl::FormatTime(absl::RFC3339_sec, now_ - absl::Minutes(5), absl::UTCTimeZone());
  const std::string adminish = "URI:keyfleet://admin/alice/";
  const absl::Time cli_at = now_ + absl::Minutes(30);  // see the host certificates' table
  const struct {
    const char* why;
    std::string pem;
    absl::Time at;
    absl::StatusCode code;
    std::string message;
  } kRefused[] = {
      {"none", " \n", now_, absl::StatusCode::kUnauthenticated,
       "no client certificate (admin calls need an admin certificate or a token)"},
      {"garbage", "garbage", now_, absl::StatusCode::kUnauthenticated, "cannot be parsed"},
      {"from another CA", AdminCert(*other), now_, absl::StatusCode::kUnauthenticated,
       "was not issued by a trusted keyfleet CA"},
      {"signature tampered", FlipLastDerByte(AdminCert(*ca_)), now_,
       absl::StatusCode::kUnauthenticated, "was not issued by a trusted keyfleet CA"},
      {"expired", one_hour, now_ + absl::Hours(1) + absl::Seconds(1),
       absl::StatusCode::kUnauthenticated, "the client certificate expired at " + expired_at},
      {"not yet valid", one_hour, now_ - absl::Minutes(6), absl::StatusCode::kUnauthenticated,
       "the client certificate is not valid until " + valid_from + "; check the clocks"},
      {"server certificate",
       ca_->IssueServerCertificate({"localhost"}, now_, absl::Hours(1))->chain_pem, now_,
       absl::StatusCode::kUnauthenticated, "is not a TLS client certificate"},
      {"the CA certificate", ca_->signing_cert_pem(), now_, absl::StatusCode::kUnauthenticated,
       "is a CA certificate, not an admin's client certificate"},
      {"a host certificate", HostCert(*ca_), now_, absl::StatusCode::kPermissionDenied,
       "this is host web1.example.com's certificate; admin calls need an admin certificate or a "
       "token"},
      {"no URI", CliClientCert("no-uri", "DNS:web1"), cli_at, absl::StatusCode::kPermissionDenied,
       "it has 0 URI SANs"},
      {"two URIs",
       CliClientCert("two-uris", adminish + "0123456789abcdef," + adminish + "fedcba9876543210"),
       cli_at, absl::StatusCode::kPermissionDenied, "it has 2 URI SANs"},
      {"other scheme", CliClientCert("https", "URI:https://admin/alice/0123456789abcdef"), cli_at,
       absl::StatusCode::kPermissionDenied, "is not an admin's"},
      {"malformed host URI", CliClientCert("bad-host", "URI:keyfleet://host/web_1/abcdefgh1"),
       cli_at, absl::StatusCode::kPermissionDenied, "is not an admin's"},
      {"no credential id", CliClientCert("no-id", "URI:keyfleet://admin/alice"), cli_at,
       absl::StatusCode::kPermissionDenied, "is malformed"},
      {"upper-case credential id", CliClientCert("upper-id", adminish + "0123456789ABCDEF"), cli_at,
       absl::StatusCode::kPermissionDenied, "exactly 16 lower-case hex digits"},
      {"short credential id", CliClientCert("short-id", adminish + "0123"), cli_at,
       absl::StatusCode::kPermissionDenied, "credential id \"0123\" is not allowed"},
      {"bad name", CliClientCert("bad-name", "URI:keyfleet://admin/.alice/0123456789abcdef"),
       cli_at, absl::StatusCode::kPermissionDenied, "starting with a letter or digit"},
      {"extra path", CliClientCert("extra", adminish + "0123456789abcdef/more"), cli_at,
       absl::StatusCode::kPermissionDenied, "is malformed"},
  };
  for (const auto& row : kRefused) {
    ExpectStatus(ca_->VerifyAdminCertificate(row.pem, row.at).status(), row.code, row.message,
                 row.why);
  }
  // The CLI-made certificates are refused for their URI alone: a good one is accepted.
  absl::StatusOr<AdminIdentity> cli_good =
      ca_->VerifyAdminCertificate(CliClientCert("good", adminish + "0123456789abcdef"), cli_at);
  ASSERT_TRUE(cli_good.ok()) << cli_good.status();
  EXPECT_EQ(cli_good->name, "alice");
  EXPECT_TRUE(ca_->VerifyAdminCertificate(one_hour, now_ + absl::Hours(1) - absl::Seconds(1)).ok())
      << "valid until it expires";
  EXPECT_TRUE(ca_->VerifyAdminCertificate(one_hour, now_ - absl::Minutes(5)).ok())
      << "valid from 5 minutes before it was signed";
}

TEST_F(CertificateAuthorityTest, RotationKeepsOldCertificatesValidUntilRetired) {
  const std::string old_cert = HostCert(*ca_, absl::Hours(24 * 30));
  const std::string old_admin = AdminCert(*ca_, absl::Hours(24 * 30));
  const std::string old_pin = ca_->pin();

  ASSERT_TRUE(CertificateAuthority::StageNext(dir_, now_).ok());
  std::unique_ptr<CertificateAuthority> staged = Load(dir_);
  ASSERT_NE(staged, nullptr);
  const std::string next_pin = *tls::CertificatePin(ReadTextFile(fs::path(dir_) / kNextCertFile));
  EXPECT_EQ(staged->pin(), old_pin) << "a staged CA does not sign yet";
  EXPECT_THAT(staged->trusted_pins(), ElementsAre(old_pin, next_pin));
  EXPECT_EQ(tls::SplitCertificatesPem(staged->trust_bundle_pem())->size(), 2u);
  EXPECT_EQ(ModeOf(fs::path(dir_) / kNextKeyFile), 0600u);
  EXPECT_EQ(staged->VerifyHostCertificate(old_cert, now_)->issuer_pin, old_pin);
  EXPECT_EQ(staged->VerifyAdminCertificate(old_admin, now_)->issuer_pin, old_pin);
  ExpectStatus(CertificateAuthority::StageNext(dir_, now_), absl::StatusCode::kFailedPrecondition,
               "a CA is already staged");

  ASSERT_TRUE(CertificateAuthority::ActivateNext(dir_).ok());
  std::unique_ptr<CertificateAuthority> active = Load(dir_);
  ASSERT_NE(active, nullptr);
  EXPECT_EQ(active->pin(), next_pin);
  EXPECT_THAT(active->trusted_pins(), ElementsAre(next_pin, old_pin));
  EXPECT_FALSE(fs::exists(fs::path(dir_) / kNextKeyFile));
  EXPECT_FALSE(fs::exists(fs::path(dir_) / kNextCertFile));
  EXPECT_EQ(ModeOf(fs::path(dir_) / kCaKeyFile), 0600u);
  EXPECT_EQ(*tls::CertificatePin(ReadTextFile(fs::path(dir_) / kPreviousCertFile)), old_pin);
  const std::string new_cert = HostCert(*active, absl::Hours(24 * 30));
  const std::string new_admin = AdminCert(*active, absl::Hours(24 * 30));
  EXPECT_EQ(active->VerifyHostCertificate(old_cert, now_)->issuer_pin, old_pin);
  EXPECT_EQ(active->VerifyHostCertificate(new_cert, now_)->issuer_pin, next_pin);
  absl::StatusOr<AdminIdentity> old_admin_identity =
      active->VerifyAdminCertificate(old_admin, now_);
  ASSERT_TRUE(old_admin_identity.ok()) << old_admin_identity.status();
  EXPECT_EQ(old_admin_identity->issuer_pin, old_pin);
  EXPECT_EQ(old_admin_identity->credential_id, kCredentialId);
  EXPECT_EQ(active->VerifyAdminCertificate(new_admin, now_)->issuer_pin, next_pin);
  ExpectStatus(CertificateAuthority::ActivateNext(dir_), absl::StatusCode::kFailedPrecondition,
               "nothing is staged");

  ASSERT_TRUE(CertificateAuthority::RetirePrevious(dir_).ok());
  std::unique_ptr<CertificateAuthority> retired = Load(dir_);
  ASSERT_NE(retired, nullptr);
  EXPECT_THAT(retired->trusted_pins(), ElementsAre(next_pin));
  ExpectStatus(retired->VerifyHostCertificate(old_cert, now_).status(),
               absl::StatusCode::kUnauthenticated, "was not issued by a trusted keyfleet CA");
  EXPECT_EQ(retired->VerifyHostCertificate(new_cert, now_)->issuer_pin, next_pin);
  ExpectStatus(retired->VerifyAdminCertificate(old_admin, now_).status(),
               absl::StatusCode::kUnauthenticated, "was not issued by a trusted keyfleet CA");
  EXPECT_EQ(retired->VerifyAdminCertificate(new_admin, now_)->issuer_pin, next_pin);
  ExpectStatus(CertificateAuthority::RetirePrevious(dir_), absl::StatusCode::kFailedPrecondition,
               "has no previous.crt");
}

TEST_F(CertificateAuthorityTest, ActivateRefusesToDropAnUnretiredPreviousCa) {
  ASSERT_TRUE(CertificateAuthority::StageNext(dir_, now_).ok());
  ASSERT_TRUE(CertificateAuthority::ActivateNext(dir_).ok());
  ASSERT_TRUE(CertificateAuthority::StageNext(dir_, now_).ok());
  ExpectStatus(CertificateAuthority::ActivateNext(dir_), absl::StatusCode::kFailedPrecondition,
               "still holds the CA of an earlier rotation; run RetirePrevious first");
  ASSERT_TRUE(CertificateAuthority::RetirePrevious(dir_).ok());
  EXPECT_TRUE(CertificateAuthority::ActivateNext(dir_).ok());
}

TEST_F(CertificateAuthorityTest, AnInterruptedActivationCompletesWhenRunAgain) {
  const std::string old_cert = HostCert(*ca_);
  const std::string old_pin = ca_->pin();
  ASSERT_TRUE(CertificateAuthority::StageNext(dir_, now_).ok());
  const fs::path dir(dir_);
  const std::string next_key = ReadTextFile(dir / kNextKeyFile);
  const std::string next_pin = *tls::CertificatePin(ReadTextFile(dir / kNextCertFile));
  // As if ActivateNext stopped after writing previous.crt and ca.key, before ca.crt.
  ASSERT_TRUE(
      tls::WriteFileAtomically(dir_, kPreviousCertFile, ReadTextFile(dir / kCaCertFile), 0644)
          .ok());
  ASSERT_TRUE(tls::WriteFileAtomically(dir_, kCaKeyFile, next_key, 0600).ok());
  ExpectStatus(CertificateAuthority::Load(dir_).status(), absl::StatusCode::kFailedPrecondition,
               "if an ActivateNext was interrupted, run it again");

  ASSERT_TRUE(CertificateAuthority::ActivateNext(dir_).ok());
  std::unique_ptr<CertificateAuthority> active = Load(dir_);
  ASSERT_NE(active, nullptr);
  EXPECT_THAT(active->trusted_pins(), ElementsAre(next_pin, old_pin));
  EXPECT_TRUE(active->VerifyHostCertificate(old_cert, now_).ok());

  // As if a run stopped between removing next.key and next.crt.
  ASSERT_TRUE(
      tls::WriteFileAtomically(dir_, kNextCertFile, ReadTextFile(dir / kCaCertFile), 0644).ok());
  EXPECT_THAT(Load(dir_)->trusted_pins(), ElementsAre(next_pin, old_pin)) << "trusted once";
  ASSERT_TRUE(CertificateAuthority::ActivateNext(dir_).ok());
  EXPECT_FALSE(fs::exists(dir / kNextCertFile));
}

}  // namespace
}  // namespace keyfleet::controller
