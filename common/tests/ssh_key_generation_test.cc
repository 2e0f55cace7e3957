#include "common/ssh_key_generation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "common/fingerprint.h"
#include "common/ssh_public_key.h"
#include "common/ssh_wire.h"

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

// One key of each type per test binary: RSA generation takes a noticeable fraction of a second.
const SshKeyPair& Generated(GeneratedKeyType type) {
  static auto* pairs = new std::map<GeneratedKeyType, SshKeyPair>;
  auto it = pairs->find(type);
  if (it == pairs->end()) {
    auto pair = GenerateSshKeyPair(type, "alice@example.org");
    EXPECT_TRUE(pair.ok()) << pair.status();
    it = pairs->emplace(type, pair.ok() ? *std::move(pair) : SshKeyPair{}).first;
  }
  return it->second;
}

TEST(GeneratedKeyTypeTest, CliNamesParse) {
  const std::vector<std::pair<std::string, GeneratedKeyType>> rows = {
      {"ed25519", GeneratedKeyType::kEd25519},
      {"ecdsa-p256", GeneratedKeyType::kEcdsaP256},
      {"rsa-3072", GeneratedKeyType::kRsa3072},
  };
  for (const auto& [name, type] : rows) {
    SCOPED_TRACE(name);
    auto parsed = ParseGeneratedKeyType(name);
    ASSERT_TRUE(parsed.ok()) << parsed.status();
    EXPECT_EQ(*parsed, type);
    EXPECT_EQ(GeneratedKeyTypeName(type), name);
  }
  EXPECT_EQ(AllGeneratedKeyTypes().size(), rows.size());
  EXPECT_EQ(SshKeyTypeOf(GeneratedKeyType::kEd25519), KeyType::kEd25519);
  EXPECT_EQ(SshKeyTypeOf(GeneratedKeyType::kEcdsaP256), KeyType::kEcdsaP256);
  EXPECT_EQ(SshKeyTypeOf(GeneratedKeyType::kRsa3072), KeyType::kRsa);
}

TEST(GeneratedKeyTypeTest, OtherNamesAreRefusedWithTheAllowedList) {
  for (const std::string name : {"", "ED25519", "ssh-ed25519", "rsa", "rsa-2048", "rsa-4096",
                                 "ecdsa", "ecdsa-p384", "dsa", "ed25519 ", " ed25519"}) {
    SCOPED_TRACE(name);
    auto parsed = ParseGeneratedKeyType(name);
    ASSERT_FALSE(parsed.ok());
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr("(allowed: ed25519, ecdsa-p256, rsa-3072)"));
  }
}

TEST(GenerateSshKeyPairTest, PublicBlobParsesWithThePublicKeyParser) {
  const std::map<GeneratedKeyType, std::pair<std::string, uint32_t>> expected = {
      {GeneratedKeyType::kEd25519, {"ssh-ed25519", 256}},
      {GeneratedKeyType::kEcdsaP256, {"ecdsa-sha2-nistp256", 256}},
      {GeneratedKeyType::kRsa3072, {"ssh-rsa", 3072}},
  };
  for (GeneratedKeyType type : AllGeneratedKeyTypes()) {
    SCOPED_TRACE(GeneratedKeyTypeName(type));
    const SshKeyPair& pair = Generated(type);
    EXPECT_EQ(pair.type, SshKeyTypeOf(type));
    EXPECT_EQ(pair.comment, "alice@example.org");
    auto key = ParsePublicKeyBlob(pair.public_blob);
    ASSERT_TRUE(key.ok()) << key.status();
    EXPECT_EQ(KeyTypeName(key->type), expected.at(type).first);
    EXPECT_EQ(key->bits, expected.at(type).second);
    auto with_comment = SshKeyPairPublicKey(pair);
    ASSERT_TRUE(with_comment.ok()) << with_comment.status();
    EXPECT_EQ(with_comment->comment, "alice@example.org");
    EXPECT_EQ(*ParsePublicKey(RenderPublicKey(*with_comment)), *with_comment);
    EXPECT_EQ(Fingerprint(*with_comment), Fingerprint(*key));
    EXPECT_TRUE(ValidateSshKeyPair(pair).ok()) << ValidateSshKeyPair(pair);
  }
}

TEST(GenerateSshKeyPairTest, Ed25519PrivateFieldsLayout) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kEd25519);
  WireReader pub(pair.public_blob);
  ASSERT_EQ(*pub.ReadString("type"), "ssh-ed25519");
  const absl::string_view public_key = *pub.ReadString("pk");

  WireReader r(pair.private_fields.view());
  EXPECT_EQ(*r.ReadString("type"), "ssh-ed25519");
  EXPECT_EQ(*r.ReadString("pub"), public_key);
  const absl::string_view priv = *r.ReadString("priv");
  ASSERT_EQ(priv.size(), 64u);
  EXPECT_EQ(priv.substr(32), public_key);  // seed || pub
  EXPECT_TRUE(r.AtEnd());
}

TEST(GenerateSshKeyPairTest, EcdsaP256PrivateFieldsLayout) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kEcdsaP256);
  WireReader pub(pair.public_blob);
  ASSERT_EQ(*pub.ReadString("type"), "ecdsa-sha2-nistp256");
  ASSERT_EQ(*pub.ReadString("curve"), "nistp256");
  const absl::string_view point = *pub.ReadString("Q");

  WireReader r(pair.private_fields.view());
  EXPECT_EQ(*r.ReadString("type"), "ecdsa-sha2-nistp256");
  EXPECT_EQ(*r.ReadString("curve"), "nistp256");
  const absl::string_view q = *r.ReadString("Q");
  EXPECT_EQ(q, point);
  ASSERT_EQ(q.size(), 65u);
  EXPECT_EQ(q[0], '\x04');  // uncompressed
  auto d = r.ReadPositiveMpint("d");
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_LE(d->size(), 32u);
  EXPECT_TRUE(r.AtEnd());
}

TEST(GenerateSshKeyPairTest, RsaPrivateFieldsLayoutAndMpintSignByte) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kRsa3072);
  WireReader pub(pair.public_blob);
  ASSERT_EQ(*pub.ReadString("type"), "ssh-rsa");
  EXPECT_EQ(*pub.ReadPositiveMpint("e"), absl::string_view("\x01\x00\x01", 3));
  const absl::string_view n = *pub.ReadPositiveMpint("n");
  EXPECT_EQ(BigEndianBitLength(n), 3072u);

  WireReader r(pair.private_fields.view());
  EXPECT_EQ(*r.ReadString("type"), "ssh-rsa");
  // A 3072-bit modulus has its top bit set, so its mpint carries a leading zero byte.
  WireReader raw_n(r.Remaining());
  const absl::string_view n_field = *raw_n.ReadString("n");
  ASSERT_EQ(n_field.size(), 385u);
  EXPECT_EQ(n_field[0], '\0');
  EXPECT_EQ(*r.ReadPositiveMpint("n"), n);
  EXPECT_EQ(*r.ReadPositiveMpint("e"), absl::string_view("\x01\x00\x01", 3));
  for (const char* field : {"d", "iqmp", "p", "q"}) {
    auto value = r.ReadPositiveMpint(field);
    ASSERT_TRUE(value.ok()) << field << ": " << value.status();
  }
  EXPECT_TRUE(r.AtEnd());
}

TEST(GenerateSshKeyPairTest, EachCallMakesANewKey) {
  auto a = GenerateSshKeyPair(GeneratedKeyType::kEd25519, "");
  auto b = GenerateSshKeyPair(GeneratedKeyType::kEd25519, "");
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->public_blob, b->public_blob);
  EXPECT_NE(a->private_fields, b->private_fields);
  EXPECT_EQ(a->comment, "");
}

TEST(GenerateSshKeyPairTest, CommentMustSurviveAPubLine) {
  for (const std::string& comment :
       {std::string("a\nb"), std::string("a\rb"), std::string("a\0b", 3), std::string(" lead")}) {
    SCOPED_TRACE(comment);
    auto pair = GenerateSshKeyPair(GeneratedKeyType::kEd25519, comment);
    ASSERT_FALSE(pair.ok());
    EXPECT_EQ(pair.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(pair.status().message()), HasSubstr("key comment"));
  }
}

TEST(ValidateSshKeyPairTest, RefusesPairsThatDoNotHangTogether) {
  const SshKeyPair& ed = Generated(GeneratedKeyType::kEd25519);
  const SshKeyPair& ec = Generated(GeneratedKeyType::kEcdsaP256);
  struct Row {
    std::string name;
    SshKeyPair pair;
    std::string reason;
  };
  std::vector<Row> rows;
  {
    SshKeyPair p = ed;
    p.type = KeyType::kRsa;
    rows.push_back({"type differs from the key", p, "says type ssh-rsa"});
  }
  {
    SshKeyPair p = ed;
    p.private_fields.Append("x");
    rows.push_back({"bytes after the fields", p, "1 unexpected trailing bytes"});
  }
  {
    SshKeyPair p = ed;
    p.public_blob = ec.public_blob;
    rows.push_back({"public blob of another key", p, "differs from the public key type"});
  }
  {
    SshKeyPair p = ed;
    p.private_fields = ec.private_fields;
    rows.push_back({"private fields of another key", p, "differs from the public key type"});
  }
  {
    SshKeyPair p = ed;
    p.comment = "two\nlines";
    rows.push_back({"comment with a line break", p, "key comment contains a line feed"});
  }
  for (const Row& row : rows) {
    SCOPED_TRACE(row.name);
    const absl::Status status = ValidateSshKeyPair(row.pair);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(status.message()), HasSubstr(row.reason));
  }
}

TEST(SecretBytesTest, WireFieldsMatchWireWriter) {
  const std::string magnitude_high("\x80\x01", 2), magnitude_low("\x7f\x01", 2);
  SecretBytes secret;
  secret.AppendU32(7).AppendString("abc").AppendMpint(magnitude_high).AppendMpint(magnitude_low);
  const std::string expected =
      WireWriter().U32(7).String("abc").Mpint(magnitude_high).Mpint(magnitude_low).Take();
  EXPECT_EQ(secret.view(), expected);
  // Growth past the inline buffer and copies keep the bytes.
  for (int i = 0; i < 100; ++i) secret.Append("0123456789");
  SecretBytes copy = secret;
  EXPECT_EQ(copy, secret);
  SecretBytes moved = std::move(copy);
  EXPECT_EQ(moved.size(), expected.size() + 1000);
}

}  // namespace
}  // namespace keyfleet
