#include "common/ssh_public_key.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64.h"
#include "common/fingerprint.h"
#include "common/ssh_wire.h"
#include "tests/support/test_keys.h"

namespace keyfleet {
namespace {

using ::keyfleet::testing::KeyVectors;
using ::keyfleet::testing::Vector;
using ::testing::HasSubstr;

std::string BlobOf(absl::string_view vector_name) {
  std::vector<std::string> fields = absl::StrSplit(Vector(vector_name).line, ' ');
  return *Base64DecodeStrict(fields[1]);
}

std::string Line(absl::string_view type, absl::string_view blob) {
  return absl::StrCat(type, " ", Base64Encode(blob));
}

// The RSA modulus and exponent of the rsa2048 vector.
struct RsaParts {
  std::string e, n;
};
RsaParts Rsa2048() {
  const std::string blob = BlobOf("rsa2048");
  WireReader r(blob);
  (void)r.ReadString("type");
  RsaParts p;
  p.e = std::string(*r.ReadPositiveMpint("e"));
  p.n = std::string(*r.ReadPositiveMpint("n"));
  return p;
}

// The uncompressed point of the ecdsa256 vector.
std::string P256Point() {
  const std::string blob = BlobOf("ecdsa256");
  WireReader r(blob);
  (void)r.ReadString("type");
  (void)r.ReadString("curve");
  return std::string(*r.ReadString("point"));
}

TEST(ParsePublicKeyTest, EveryVectorParsesAndMatchesSshKeygen) {
  for (const auto& v : KeyVectors()) {
    SCOPED_TRACE(v.name);
    auto key = ParsePublicKey(v.line);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(key->bits, v.bits);
    EXPECT_EQ(KeyTypeShortName(key->type), v.short_type);
    EXPECT_EQ(Fingerprint(*key), v.sha256);
    EXPECT_EQ(Fingerprint(*key, FingerprintHash::kMd5), v.md5);
    EXPECT_EQ(RenderPublicKey(*key), v.line);
    EXPECT_EQ(*ParsePublicKey(RenderPublicKey(*key)), *key);
  }
}

TEST(ParsePublicKeyTest, CertificateFieldsAndPlainFingerprint) {
  auto cert = ParsePublicKey(Vector("u_ed-cert").line);
  ASSERT_TRUE(cert.ok()) << cert.status();
  ASSERT_TRUE(cert->certificate.has_value());
  EXPECT_EQ(cert->certificate->cert_type, 1u);
  EXPECT_EQ(cert->certificate->key_id, "id-ed");
  EXPECT_THAT(cert->certificate->principals, ::testing::ElementsAre("alice", "bob"));
  EXPECT_EQ(cert->certificate->signature_key_type, KeyType::kEd25519);
  // OpenSSH fingerprints a certificate by its certified key.
  EXPECT_EQ(Fingerprint(*cert), Fingerprint(*ParsePublicKey(Vector("ed25519").line)));
}

TEST(ParsePublicKeyTest, SecurityKeyTypes) {
  const std::string ed = WireWriter()
                             .String("sk-ssh-ed25519@openssh.com")
                             .String(std::string(32, '\x07'))
                             .String("ssh:")
                             .Take();
  auto sk_ed = ParsePublicKey(Line("sk-ssh-ed25519@openssh.com", ed) + " yubikey");
  ASSERT_TRUE(sk_ed.ok()) << sk_ed.status();
  EXPECT_EQ(sk_ed->bits, 256u);
  EXPECT_EQ(KeyTypeShortName(sk_ed->type), "ED25519-SK");

  const std::string ec = WireWriter()
                             .String("sk-ecdsa-sha2-nistp256@openssh.com")
                             .String("nistp256")
                             .String(P256Point())
                             .String("ssh:")
                             .Take();
  auto sk_ec = ParsePublicKey(Line("sk-ecdsa-sha2-nistp256@openssh.com", ec));
  ASSERT_TRUE(sk_ec.ok()) << sk_ec.status();
  EXPECT_EQ(KeyTypeShortName(sk_ec->type), "ECDSA-SK");
}

TEST(ParsePublicKeyTest, RsaModulusAtTheMinimumIsAccepted) {
  const std::string n = "\x80" + std::string(126, '\x5a') + "\x01";  // 1024 bits, odd
  const std::string blob =
      WireWriter().String("ssh-rsa").Mpint(std::string("\x01\x00\x01", 3)).Mpint(n).Take();
  auto key = ParsePublicKey(Line("ssh-rsa", blob));
  ASSERT_TRUE(key.ok()) << key.status();
  EXPECT_EQ(key->bits, kMinRsaModulusBits);
}

TEST(ParsePublicKeyTest, CommentIsKeptVerbatim) {
  const std::string line = Vector("ed25519").line.substr(0, Vector("ed25519").line.rfind(' '));
  auto key = ParsePublicKey(line + " \t two  words\t");
  ASSERT_TRUE(key.ok());
  EXPECT_EQ(key->comment, "two  words\t");
  EXPECT_EQ(ParsePublicKey(line)->comment, "");
}

struct BadKey {
  std::string name;
  std::string text;
  std::string reason;
};

std::vector<BadKey> BadKeys() {
  const RsaParts rsa = Rsa2048();
  std::string even_n = rsa.n;
  even_n.back() = static_cast<char>(even_n.back() & ~1);
  const std::string point = P256Point();
  std::string off_curve = point;
  off_curve.back() = static_cast<char>(off_curve.back() ^ 1);
  std::string cert = BlobOf("u_ed-cert");
  std::string bad_sig_cert = cert;
  bad_sig_cert.back() = static_cast<char>(bad_sig_cert.back() ^ 1);
  const std::string ed25519_b64 = absl::StrSplit(Vector("ed25519").line, ' ').begin()->data();
  const std::string ed_blob = BlobOf("ed25519");
  const std::string n1023 = "\x7f" + std::string(126, '\x5a') + "\x01";
  return {
      {"empty", "", "empty"},
      {"leading space", " " + Vector("ed25519").line, "starts with whitespace"},
      {"type only", "ssh-ed25519", "no key data after key type ssh-ed25519"},
      {"unknown text type", "ssh-foo AAAA", "unknown key type \"ssh-foo\""},
      {"signature algorithm is not a key type", Line("rsa-sha2-256", BlobOf("rsa2048")),
       "unknown key type \"rsa-sha2-256\""},
      {"text and blob types differ", Line("ssh-rsa", ed_blob),
       "key type on the line is ssh-rsa but the key data is ssh-ed25519"},
      {"base64 length", "ssh-ed25519 AAAAC3NzaC1", "not a multiple of 4"},
      {"base64 bad character", "ssh-ed25519 AAAA*AAA", "outside A-Z"},
      {"base64 padding bits", "ssh-ed25519 AAB=", "non-zero bits in its padding"},
      {"base64 url-safe", "ssh-ed25519 AA-_", "outside A-Z"},
      {"carriage return", Vector("ed25519").line + "\r", "carriage return"},
      {"line feed", "ssh-ed25519 AAAA\nssh-rsa AAAA", "line feed"},
      {"NUL", std::string("ssh-ed25519 AAAA\0x", 18), "NUL"},
      {"unknown blob type", Line("ssh-ed25519", WireWriter().String("ssh-foo").Take()),
       "unknown key type \"ssh-foo\""},
      {"truncated blob", Line("ssh-ed25519", ed_blob.substr(0, 20)), "truncated"},
      {"ed25519 31 bytes",
       Line("ssh-ed25519", WireWriter().String("ssh-ed25519").String(std::string(31, 'a')).Take()),
       "31 bytes, expected 32"},
      {"ed25519 33 bytes",
       Line("ssh-ed25519", WireWriter().String("ssh-ed25519").String(std::string(33, 'a')).Take()),
       "33 bytes, expected 32"},
      {"trailing bytes", Line("ssh-ed25519", ed_blob + "x"), "1 unexpected trailing bytes"},
      {"rsa even modulus",
       Line("ssh-rsa", WireWriter().String("ssh-rsa").Mpint(rsa.e).Mpint(even_n).Take()),
       "RSA modulus is even"},
      {"rsa exponent 1",
       Line("ssh-rsa", WireWriter().String("ssh-rsa").Mpint("\x01").Mpint(rsa.n).Take()),
       "odd and at least 3"},
      {"rsa even exponent",
       Line("ssh-rsa", WireWriter()
                           .String("ssh-rsa")
                           .Mpint(std::string("\x01\x00\x00", 3))
                           .Mpint(rsa.n)
                           .Take()),
       "odd and at least 3"},
      {"rsa exponent not below modulus",
       Line("ssh-rsa", WireWriter().String("ssh-rsa").Mpint(rsa.n).Mpint(rsa.n).Take()),
       "not smaller than the modulus"},
      {"rsa 1023 bits",
       Line("ssh-rsa", WireWriter()
                           .String("ssh-rsa")
                           .Mpint(std::string("\x01\x00\x01", 3))
                           .Mpint(n1023)
                           .Take()),
       "1023 bits; OpenSSH refuses keys below 1024"},
      {"rsa non-canonical mpint",
       Line("ssh-rsa", WireWriter()
                           .String("ssh-rsa")
                           .String(std::string("\x00\x01\x00\x01", 4))
                           .Mpint(rsa.n)
                           .Take()),
       "superfluous leading zero"},
      {"rsa negative mpint",
       Line("ssh-rsa", WireWriter().String("ssh-rsa").Mpint(rsa.e).String(rsa.n).Take()),
       "RSA modulus is negative"},
      {"rsa zero mpint",
       Line("ssh-rsa", WireWriter().String("ssh-rsa").String("").Mpint(rsa.n).Take()),
       "RSA public exponent is zero"},
      {"ecdsa curve mismatch",
       Line("ecdsa-sha2-nistp256",
            WireWriter().String("ecdsa-sha2-nistp256").String("nistp384").String(point).Take()),
       "curve in the blob is \"nistp384\""},
      {"ecdsa point off the curve",
       Line("ecdsa-sha2-nistp256",
            WireWriter().String("ecdsa-sha2-nistp256").String("nistp256").String(off_curve).Take()),
       "not on the curve"},
      {"ecdsa compressed point",
       Line("ecdsa-sha2-nistp256", WireWriter()
                                       .String("ecdsa-sha2-nistp256")
                                       .String("nistp256")
                                       .String("\x02" + point.substr(1, 32))
                                       .Take()),
       "not in uncompressed form"},
      {"ecdsa point too short",
       Line("ecdsa-sha2-nistp256", WireWriter()
                                       .String("ecdsa-sha2-nistp256")
                                       .String("nistp256")
                                       .String(point.substr(0, 64))
                                       .Take()),
       "64 bytes, expected 65"},
      {"ecdsa small coordinate",
       Line("ecdsa-sha2-nistp256", WireWriter()
                                       .String("ecdsa-sha2-nistp256")
                                       .String("nistp256")
                                       .String("\x04" + std::string(63, '\0') + "\x01")
                                       .Take()),
       "outside the accepted range"},
      {"sk application with NUL",
       Line("sk-ssh-ed25519@openssh.com", WireWriter()
                                              .String("sk-ssh-ed25519@openssh.com")
                                              .String(std::string(32, 'k'))
                                              .String(std::string("ssh:\0x", 6))
                                              .Take()),
       "security key application contains a NUL"},
      {"sk-ecdsa on the wrong curve",
       Line("sk-ecdsa-sha2-nistp256@openssh.com", WireWriter()
                                                      .String("sk-ecdsa-sha2-nistp256@openssh.com")
                                                      .String("nistp521")
                                                      .String(point)
                                                      .String("ssh:")
                                                      .Take()),
       "curve in the blob is \"nistp521\""},
      {"certificate with a bad signature", Line("ssh-ed25519-cert-v01@openssh.com", bad_sig_cert),
       "signature does not verify"},
      {"certificate with trailing bytes", Line("ssh-ed25519-cert-v01@openssh.com", cert + "x"),
       "trailing"},
      {"blob over the size limit",
       Line("ssh-ed25519",
            WireWriter().String("ssh-ed25519").String(std::string(16400, 'a')).Take()),
       "at most"},
  };
}

TEST(ParsePublicKeyTest, BadKeysAreRefusedWithTheirReason) {
  for (const auto& row : BadKeys()) {
    SCOPED_TRACE(row.name);
    auto key = ParsePublicKey(row.text);
    ASSERT_FALSE(key.ok());
    EXPECT_EQ(key.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(key.status().message()), HasSubstr(row.reason));
  }
}

TEST(ValidateKeyCommentTest, RefusesWhatWouldNotRoundTrip) {
  EXPECT_TRUE(ValidateKeyComment("alice@laptop").ok());
  EXPECT_TRUE(ValidateKeyComment("").ok());
  EXPECT_FALSE(ValidateKeyComment(" leading").ok());
  EXPECT_FALSE(ValidateKeyComment("a\nb").ok());
  EXPECT_FALSE(ValidateKeyComment("a\rb").ok());
  EXPECT_FALSE(ValidateKeyComment(std::string("a\0b", 3)).ok());
}

}  // namespace
}  // namespace keyfleet
