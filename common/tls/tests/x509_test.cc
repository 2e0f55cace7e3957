#include "common/tls/x509.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/pem.h>

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/tls/tests/openssl_cli.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::tls {
namespace {

using ::keyfleet::testing::ScopedTempDir;
using testing::CliCertificateSpec;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using testing::MakeCliCa;
using testing::MakeCliCertificate;
using ::testing::Not;

std::string Repeat(absl::string_view text, int times) {
  std::string out;
  for (int i = 0; i < times; ++i) absl::StrAppend(&out, text);
  return out;
}

// One CA certificate made by the openssl CLI, shared by the tests of this file.
class X509Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new ScopedTempDir("kf-x509-test");
    ca_ = new testing::CliCertificate(MakeCliCa(dir_->path(), "ca"));
  }
  static void TearDownTestSuite() {
    delete ca_;
    delete dir_;
  }
  static ScopedTempDir* dir_;
  static testing::CliCertificate* ca_;
};
ScopedTempDir* X509Test::dir_ = nullptr;
testing::CliCertificate* X509Test::ca_ = nullptr;

TEST_F(X509Test, PinEqualsOpensslCliComputationForEveryKeyType) {
  const struct {
    const char* stem;
    const char* new_key;
  } kKeys[] = {
      {"p256", "ec -pkeyopt ec_paramgen_curve:P-256"},
      {"p384", "ec -pkeyopt ec_paramgen_curve:P-384"},
      {"rsa", "rsa:2048"},
      {"ed25519", "ed25519"},
  };
  for (const auto& key : kKeys) {
    CliCertificateSpec spec;
    spec.common_name = key.stem;
    spec.new_key = key.new_key;
    spec.extensions = {"basicConstraints=critical,CA:TRUE"};
    const testing::CliCertificate cert = MakeCliCertificate(dir_->path(), key.stem, spec);
    const std::string expected = testing::CliPin(cert.cert_path);
    ASSERT_EQ(expected.size(), 7 + 64u) << key.stem;
    absl::StatusOr<std::string> pin = CertificatePin(cert.cert_pem);
    ASSERT_TRUE(pin.ok()) << key.stem << ": " << pin.status();
    EXPECT_EQ(*pin, expected) << key.stem;
    EXPECT_TRUE(ValidatePin(*pin).ok()) << key.stem;
    absl::StatusOr<CertificateInfo> info = InspectCertificate(cert.cert_pem);
    ASSERT_TRUE(info.ok()) << info.status();
    EXPECT_EQ(info->pin, expected) << key.stem;
  }
}

TEST(ValidatePinTest, Table) {
  const std::string hex64 = Repeat("0123456789abcdef", 4);
  const std::string good[] = {
      "sha256:" + hex64,
      "sha256:" + absl::AsciiStrToUpper(hex64),
      "sha256:" + Repeat("aBcDeF09", 8),
  };
  for (const std::string& pin : good) EXPECT_TRUE(ValidatePin(pin).ok()) << pin;

  const struct {
    const char* why;
    std::string pin;
  } kBad[] = {
      {"empty", ""},
      {"no prefix", hex64},
      {"prefix only", "sha256:"},
      {"upper-case prefix", "SHA256:" + hex64},
      {"other hash", "sha1:" + hex64.substr(0, 40)},
      {"63 digits", "sha256:" + hex64.substr(1)},
      {"65 digits", "sha256:" + hex64 + "0"},
      {"non-hex digit", "sha256:g" + hex64.substr(1)},
      {"colon-separated", "sha256:" + absl::StrReplaceAll(hex64.substr(0, 48), {{"ab", "a:b"}})},
      {"trailing newline", "sha256:" + hex64 + "\n"},
      {"leading space", " sha256:" + hex64},
  };
  for (const auto& row : kBad) {
    const absl::Status status = ValidatePin(row.pin);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << row.why;
    EXPECT_THAT(status.message(), HasSubstr("expected sha256: followed by 64 hex digits"))
        << row.why;
  }
}

TEST_F(X509Test, SplitCertificatesPemAcceptsBundles) {
  CliCertificateSpec spec;
  spec.common_name = "second";
  spec.extensions = {"basicConstraints=critical,CA:FALSE"};
  const std::string second = MakeCliCertificate(dir_->path(), "second", spec).cert_pem;
  const std::string first = ca_->cert_pem;
  const struct {
    const char* why;
    std::string pem;
    std::vector<std::string> expected;
  } kGood[] = {
      {"one", first, {first}},
      {"two", first + second, {first, second}},
      {"whitespace around", "\n \t" + first + "\n\n" + second + "\n  \n", {first, second}},
      {"CRLF line ends", absl::StrReplaceAll(first, {{"\n", "\r\n"}}), {first}},
      {"no final newline", first.substr(0, first.size() - 1), {first}},
      {"limit", Repeat(first, kMaxBundleCertificates),
       std::vector<std::string>(kMaxBundleCertificates, first)},
  };
  for (const auto& row : kGood) {
    absl::StatusOr<std::vector<std::string>> split = SplitCertificatesPem(row.pem);
    ASSERT_TRUE(split.ok()) << row.why << ": " << split.status();
    EXPECT_EQ(*split, row.expected) << row.why;
  }
}

TEST_F(X509Test, SplitCertificatesPemRefusesAnythingElse) {
  const std::string cert = ca_->cert_pem;
  const std::string body = cert.substr(cert.find('\n') + 1);  // without the BEGIN line
  const struct {
    const char* why;
    std::string pem;
    const char* message;
  } kBad[] = {
      {"empty", "", "bundle is empty"},
      {"whitespace only", " \n\t\n", "bundle is empty"},
      {"garbage", "hello world", "found other text"},
      {"trailing junk", cert + "junk\n", "at byte"},
      {"leading junk", "subject=CN = ca\n" + cert, "found other text"},
      {"END without newline then junk", cert.substr(0, cert.size() - 1) + "x", "found other text"},
      {"no END line", cert.substr(0, cert.find("-----END")),
       "has no \"-----END CERTIFICATE-----\""},
      {"private key", ca_->key_pem, "found a \"-----BEGIN PRIVATE KEY-----\" block"},
      {"certificate request", "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n", "found a"},
      {"corrupt base64", "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
       "not valid PEM"},
      {"not DER", "-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
       "not a DER X.509 certificate"},
      {"PEM headers",
       "-----BEGIN CERTIFICATE-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,"
       "00112233445566778899AABBCCDDEEFF\n\n" +
           body,
       "has PEM headers"},
      {"past the limit", Repeat(cert, kMaxBundleCertificates + 1), "more than 32 certificates"},
  };
  for (const auto& row : kBad) {
    absl::StatusOr<std::vector<std::string>> split = SplitCertificatesPem(row.pem);
    ASSERT_FALSE(split.ok()) << row.why;
    EXPECT_EQ(split.status().code(), absl::StatusCode::kInvalidArgument) << row.why;
    EXPECT_THAT(split.status().message(), HasSubstr(row.message)) << row.why;
  }
  // The refusal of a private key passed by mistake names it without echoing any of it.
  const std::string key_body = ca_->key_pem.substr(ca_->key_pem.find('\n') + 1, 20);
  EXPECT_THAT(std::string(SplitCertificatesPem(ca_->key_pem).status().message()),
              Not(HasSubstr(key_body)));
}

TEST_F(X509Test, InspectCertificateReadsWhatOpensslWrote) {
  CliCertificateSpec spec;
  spec.common_name = "web1.example.com";
  spec.extensions = {"basicConstraints=critical,CA:FALSE",
                     "subjectAltName=DNS:web1.example.com,IP:192.0.2.7,DNS:web1,IP:2001:db8::1,"
                     "URI:keyfleet://host/web1/abcdef0123"};
  spec.issuer_cert = ca_->cert_path;
  spec.issuer_key = ca_->key_path;
  spec.days = 3;
  const testing::CliCertificate leaf = MakeCliCertificate(dir_->path(), "inspect", spec);
  absl::StatusOr<CertificateInfo> info = InspectCertificate(leaf.cert_pem);
  ASSERT_TRUE(info.ok()) << info.status();
  EXPECT_EQ(info->common_name, "web1.example.com");
  EXPECT_THAT(info->dns_names, ElementsAre("web1.example.com", "web1"));
  EXPECT_THAT(info->ip_addresses, ElementsAre("192.0.2.7", "2001:db8::1"));
  EXPECT_THAT(info->uris, ElementsAre("keyfleet://host/web1/abcdef0123"));
  EXPECT_FALSE(info->is_ca);
  EXPECT_LT(absl::AbsDuration(info->not_after - (absl::Now() + absl::Hours(72))), absl::Minutes(5));
  EXPECT_LT(absl::AbsDuration(info->not_before - absl::Now()), absl::Minutes(5));
  // `openssl x509 -serial` prints "serial=HEX" in upper case.
  std::string serial =
      testing::Openssl(absl::StrCat("x509 -noout -serial -in ", leaf.cert_path.string()));
  serial = absl::AsciiStrToLower(absl::StripAsciiWhitespace(absl::StripPrefix(serial, "serial=")));
  EXPECT_EQ(info->serial_hex, serial);
  EXPECT_EQ(info->pin, testing::CliPin(leaf.cert_path));

  absl::StatusOr<CertificateInfo> ca_info = InspectCertificate(ca_->cert_pem);
  ASSERT_TRUE(ca_info.ok()) << ca_info.status();
  EXPECT_TRUE(ca_info->is_ca);
  EXPECT_EQ(ca_info->common_name, "ca");
  EXPECT_TRUE(ca_info->dns_names.empty() && ca_info->uris.empty());
}

TEST(GenerateKeyPemTest, IsPkcs8P256) {
  absl::StatusOr<std::string> pem = GenerateKeyPem();
  ASSERT_TRUE(pem.ok()) << pem.status();
  EXPECT_THAT(*pem, ::testing::StartsWith("-----BEGIN PRIVATE KEY-----\n"));
  absl::StatusOr<EvpPkeyPtr> key = ParsePrivateKeyPem(*pem);
  ASSERT_TRUE(key.ok()) << key.status();
  char group[64] = {};
  ASSERT_EQ(EVP_PKEY_get_group_name(key->get(), group, sizeof(group), nullptr), 1);
  EXPECT_STREQ(group, "prime256v1");
  EXPECT_NE(*pem, *GenerateKeyPem());
}

// Parses `pem` as a certificate request and checks it is signed by the key it carries.
void ExpectSelfSignedCsr(const std::string& pem, const std::string& common_name, EVP_PKEY* key) {
  BioPtr bio = ReadOnlyBio(pem);
  X509ReqPtr req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  ASSERT_NE(req, nullptr) << pem;
  EVP_PKEY* carried = X509_REQ_get0_pubkey(req.get());
  ASSERT_NE(carried, nullptr);
  EXPECT_EQ(X509_REQ_verify(req.get(), carried), 1);
  EXPECT_EQ(EVP_PKEY_eq(carried, key), 1);
  char cn[128] = {};
  X509_NAME_get_text_by_NID(X509_REQ_get_subject_name(req.get()), NID_commonName, cn, sizeof(cn));
  EXPECT_EQ(cn, common_name);
}

TEST(MakeCsrPemTest, RoundTripsForP256AndEd25519Keys) {
  absl::StatusOr<std::string> p256 = GenerateKeyPem();
  ASSERT_TRUE(p256.ok());
  EvpPkeyPtr ed25519(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  ASSERT_NE(ed25519, nullptr);
  absl::StatusOr<std::string> ed25519_pem = PrivateKeyToPem(ed25519.get());
  ASSERT_TRUE(ed25519_pem.ok());
  for (const std::string& key_pem : {*p256, *ed25519_pem}) {
    absl::StatusOr<std::string> csr = MakeCsrPem(key_pem, "web1.example.com");
    ASSERT_TRUE(csr.ok()) << csr.status();
    EXPECT_THAT(*csr, ::testing::StartsWith("-----BEGIN CERTIFICATE REQUEST-----\n"));
    ExpectSelfSignedCsr(*csr, "web1.example.com", ParsePrivateKeyPem(key_pem)->get());
  }
  // The openssl CLI agrees the signature is good.
  ScopedTempDir dir("kf-csr-test");
  testing::WriteTextFile(dir.path() / "req.csr", *MakeCsrPem(*p256, "web1"));
  EXPECT_THAT(
      testing::Openssl(absl::StrCat("req -verify -noout -in ", (dir.path() / "req.csr").string())),
      HasSubstr("verify OK"));
}

TEST(MakeCsrPemTest, RefusesBadInput) {
  const std::string key = *GenerateKeyPem();
  const struct {
    const char* why;
    std::string key_pem, common_name;
    const char* message;
  } kBad[] = {
      {"empty common name", key, "", "allowed: 1 to 64"},
      {"common name past the limit", key, std::string(kMaxCommonNameBytes + 1, 'a'),
       "allowed: 1 to 64"},
      {"no key", "not a key", "web1", "no usable private key"},
      {"certificate instead of key", "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
       "web1", "no usable private key"},
  };
  for (const auto& row : kBad) {
    absl::StatusOr<std::string> csr = MakeCsrPem(row.key_pem, row.common_name);
    ASSERT_FALSE(csr.ok()) << row.why;
    EXPECT_EQ(csr.status().code(), absl::StatusCode::kInvalidArgument) << row.why;
    EXPECT_THAT(csr.status().message(), HasSubstr(row.message)) << row.why;
  }
  EXPECT_TRUE(MakeCsrPem(key, std::string(kMaxCommonNameBytes, 'a')).ok());
}

}  // namespace
}  // namespace keyfleet::tls
