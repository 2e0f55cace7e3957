// The KRL writer and its strict reader (krl.h): round trips, what sshd requires of the bytes
// (fingerprints in order, the header), and a table of malformed KRLs each refused with its
// reason. tests/integration/ssh_keygen_compat_test.cc checks the files against ssh-keygen -Q.
#include "common/krl.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/sha256.h"
#include "common/ssh_public_key.h"
#include "common/ssh_wire.h"
#include "tests/support/test_keys.h"

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

std::string Blob(uint64_t n) {
  absl::StatusOr<PublicKey> key = ParsePublicKey(testing::SyntheticEd25519Line(n));
  EXPECT_TRUE(key.ok());
  return key->blob;
}

// A KRL header (as BuildKrl writes it) followed by `sections`.
std::string Header(uint64_t magic = kKrlMagic, uint32_t format = kKrlFormatVersion,
                   uint64_t flags = 0) {
  WireWriter w;
  w.U64(magic).U32(format).U64(7).U64(1700000000).U64(flags).String("").String("c");
  return w.Take();
}

std::string Section(uint8_t type, const std::vector<std::string>& entries) {
  WireWriter data;
  for (const std::string& e : entries) data.String(e);
  WireWriter w;
  w.U8(type).String(data.bytes());
  return w.Take();
}

TEST(Krl, RoundTripsAndRevokesByFingerprintOrBlob) {
  Krl krl;
  krl.version = 42;
  krl.generated_at = 1764547200;
  krl.comment = "keyfleet";
  krl.key_blobs = {Blob(1), Blob(2)};
  krl.sha256 = {Sha256Digest(Blob(3))};
  absl::StatusOr<std::string> bytes = BuildKrl(krl);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  absl::StatusOr<Krl> back = ParseKrl(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->version, 42u);
  EXPECT_EQ(back->comment, "keyfleet");
  EXPECT_EQ(back->key_blobs, krl.key_blobs);
  // The fingerprint section holds every key's SHA-256, the explicit ones' too.
  EXPECT_EQ(back->sha256.size(), 3u);
  for (uint64_t n : {1, 2, 3}) EXPECT_TRUE(KrlRevokes(*back, Blob(n))) << n;
  EXPECT_FALSE(KrlRevokes(*back, Blob(4)));
  // Written again from what was read: the same bytes.
  EXPECT_EQ(BuildKrl(*back).value(), *bytes);
}

TEST(Krl, AnEmptyListIsAHeaderOnly) {
  absl::StatusOr<std::string> bytes = BuildKrl(Krl{});
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(bytes->substr(0, 8), std::string("SSHKRL\n\0", 8));
  absl::StatusOr<Krl> back = ParseKrl(*bytes);
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_TRUE(back->sha256.empty() && back->key_blobs.empty());
}

TEST(Krl, FingerprintsAreWrittenInAscendingOrder) {
  Krl krl;
  for (uint64_t n = 1; n <= 50; ++n) krl.key_blobs.insert(Blob(n));
  std::string bytes = BuildKrl(krl).value();
  // The fingerprint section follows the header: each digest greater than the one before.
  WireReader r(bytes);
  r.ReadU64("").value();
  r.ReadU32("").value();
  for (int i = 0; i < 3; ++i) r.ReadU64("").value();
  r.ReadString("").value();
  r.ReadString("").value();
  ASSERT_EQ(r.ReadU8("").value(), kKrlSectionFingerprintSha256);
  WireReader section(r.ReadString("").value());
  std::string previous;
  int count = 0;
  while (!section.AtEnd()) {
    std::string d(section.ReadString("").value());
    EXPECT_GT(d, previous);
    previous = d;
    ++count;
  }
  EXPECT_EQ(count, 50);
}

TEST(Krl, BuildRefusesWhatIsNotAPlainKeyOrADigest) {
  Krl short_digest;
  short_digest.sha256 = {"abc"};
  EXPECT_THAT(BuildKrl(short_digest).status().message(), HasSubstr("32-byte"));
  Krl not_a_key;
  not_a_key.key_blobs = {"not a key blob"};
  EXPECT_THAT(BuildKrl(not_a_key).status().message(), HasSubstr("plain public keys"));
}

TEST(Krl, ParseRefusesMalformedKrlsSayingWhy) {
  const std::string d1 = Sha256Digest(Blob(1)), d2 = Sha256Digest(Blob(2));
  const std::string lo = std::min(d1, d2), hi = std::max(d1, d2);
  WireWriter critical_ext;
  critical_ext.String("bloom-x@example.org").U8(1).String("");
  WireWriter quiet_ext;
  quiet_ext.String("bloom-key-hash-sha256").U8(0).String("");
  const struct {
    std::string name;
    std::string bytes;
    std::string says;  // "" : accepted
  } cases[] = {
      {"header only", Header(), ""},
      {"non-critical extension",
       Header() + std::string(1, '\xff') + WireWriter().String(quiet_ext.bytes()).bytes(), ""},
      {"empty", "", "the KRL magic"},
      {"wrong magic", Header(0x5353484b524c0a01ULL), "magic"},
      {"format 2", Header(kKrlMagic, 2), "format version 2"},
      {"flags", Header(kKrlMagic, 1, 1), "flags 1"},
      {"truncated header", Header().substr(0, 30), "truncated"},
      {"unsorted fingerprints", Header() + Section(5, {hi, lo}), "out of order"},
      {"duplicate fingerprints", Header() + Section(5, {lo, lo}), "out of order"},
      {"short fingerprint", Header() + Section(5, {"0123456789"}), "of 10 bytes"},
      {"empty fingerprint section", Header() + Section(5, {}), "empty SHA256"},
      {"empty explicit section", Header() + Section(2, {}), "empty explicit"},
      {"explicit non-key", Header() + Section(2, {"garbage"}), "an explicit key"},
      {"certificate section", Header() + Section(1, {"x"}), "section type 1"},
      {"SHA-1 section", Header() + Section(3, {"x"}), "section type 3"},
      {"signature section", Header() + Section(4, {"x"}), "section type 4"},
      {"critical extension",
       Header() + std::string(1, '\xff') + WireWriter().String(critical_ext.bytes()).bytes(),
       "critical extension"},
      {"trailing byte", Header() + Section(5, {lo}) + "x", "truncated"},
      {"section longer than the file", Header() + std::string("\x05\x00\x00\x01\x00", 5),
       "truncated"},
  };
  for (const auto& c : cases) {
    absl::StatusOr<Krl> parsed = ParseKrl(c.bytes);
    if (c.says.empty()) {
      EXPECT_TRUE(parsed.ok()) << c.name << ": " << parsed.status();
    } else {
      ASSERT_FALSE(parsed.ok()) << c.name;
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << c.name;
      EXPECT_THAT(parsed.status().message(), HasSubstr(c.says)) << c.name;
    }
  }
}

}  // namespace
}  // namespace keyfleet
