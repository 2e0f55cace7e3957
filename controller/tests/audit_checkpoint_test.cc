// Signed audit checkpoints: the payload encoding, the events column parser, the audit key file,
// and VerifyAuditLog against every way of tampering with the log that it must catch.
#include "controller/audit_checkpoint.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/base64.h"
#include "common/tls/secure_file.h"
#include "common/tls/tests/openssl_cli.h"
#include "common/tls/x509.h"
#include "controller/audit_chain.h"
#include "controller/audit_signer.h"
#include "controller/store/mutation_log.h"
#include "tests/support/scoped_temp_dir.h"

namespace keyfleet::controller {
namespace {

namespace fs = std::filesystem;
using ::keyfleet::testing::ScopedTempDir;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::StartsWith;
using tls::testing::Openssl;
using tls::testing::ReadTextFile;
using tls::testing::WriteTextFile;

// Distinct, valid event hashes.
std::string Hash(char c) {
  return std::string(kCheckpointHashHexDigits, c);
}

mode_t ModeOf(const fs::path& path) {
  struct stat st;
  EXPECT_EQ(stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

void ExpectStatus(const absl::Status& status, absl::StatusCode code, const std::string& text) {
  EXPECT_EQ(status.code(), code) << status;
  EXPECT_THAT(status.message(), HasSubstr(text)) << status;
}

absl::Time At(const char* rfc3339) {
  absl::Time t;
  std::string error;
  EXPECT_TRUE(absl::ParseTime(absl::RFC3339_full, rfc3339, &t, &error)) << error;
  return t;
}

// `cp.signature` with one byte of the DER signature changed: still base64, no longer valid.
std::string FlipSignatureByte(const std::string& signature, size_t index) {
  std::string der = *Base64DecodeStrict(signature);
  der[index % der.size()] ^= 0x01;
  return Base64Encode(der);
}

std::unique_ptr<AuditSigner> NewSigner(const ScopedTempDir& dir) {
  auto signer = AuditSigner::LoadOrCreate(dir.path().string(), absl::Now());
  EXPECT_TRUE(signer.ok()) << signer.status();
  return signer.ok() ? *std::move(signer) : nullptr;
}

// ---- Payload ---------------------------------------------------------------------------------

std::string Field(absl::string_view bytes) {
  std::string out(8, '\0');
  out[7] = static_cast<char>(bytes.size());  // every field in these tests is < 256 bytes
  return absl::StrCat(out, bytes);
}

TEST(CheckpointPayloadTest, IsTheDocumentedFramingOfEachField) {
  AuditCheckpoint cp;
  cp.id = 99;
  cp.signed_at = absl::FromUnixMicros(1796040000123456);
  cp.key_id = absl::StrCat("sha256:", Hash('k'));
  cp.events = {{7, Hash('a')}, {12, Hash('b')}};
  cp.signature = "ignored";
  const std::string expected = absl::StrCat(
      Field("keyfleet-audit-checkpoint-v1"), Field("1796040000123456"), Field(cp.key_id),
      Field("2"), Field("7"), Field(Hash('a')), Field("12"), Field(Hash('b')));
  EXPECT_EQ(CheckpointPayload(cp), expected);
}

TEST(CheckpointPayloadTest, CoversEverySignedFieldAndNothingElse) {
  AuditCheckpoint base;
  base.signed_at = absl::FromUnixMicros(1796040000000000);
  base.key_id = absl::StrCat("sha256:", Hash('1'));
  base.events = {{1, Hash('a')}, {2, Hash('b')}};
  const std::string payload = CheckpointPayload(base);

  const std::vector<std::pair<std::string, std::function<void(AuditCheckpoint&)>>> changes = {
      {"signed_at", [](AuditCheckpoint& cp) { cp.signed_at += absl::Microseconds(1); }},
      {"key_id", [](AuditCheckpoint& cp) { cp.key_id.back() = '2'; }},
      {"a sequence", [](AuditCheckpoint& cp) { cp.events[1].first = 3; }},
      {"a hash", [](AuditCheckpoint& cp) { cp.events[0].second = Hash('c'); }},
      {"an event dropped", [](AuditCheckpoint& cp) { cp.events.pop_back(); }},
      {"an event added",
       [](AuditCheckpoint& cp) {
         cp.events.push_back({3, Hash('c')});
       }},
      // The same characters split differently must not encode alike.
      {"sequence digits moved into the key id",
       [](AuditCheckpoint& cp) {
         cp.key_id += "1";
         cp.events = {{2, Hash('a')}, {2, Hash('b')}};
       }},
  };
  for (const auto& [what, change] : changes) {
    AuditCheckpoint changed = base;
    change(changed);
    EXPECT_NE(CheckpointPayload(changed), payload) << what;
  }
  AuditCheckpoint unsigned_fields = base;
  unsigned_fields.id = 5;
  unsigned_fields.signature = "xyz";
  EXPECT_EQ(CheckpointPayload(unsigned_fields), payload);
}

// ---- Events column ---------------------------------------------------------------------------

TEST(CheckpointEventsTest, GoodTextParsesAndFormatsBackIdentically) {
  const std::vector<std::pair<std::string, CheckpointEvents>> good = {
      {absl::StrCat("1:", Hash('a')), {{1, Hash('a')}}},
      {absl::StrCat("1:", Hash('a'), ",2:", Hash('b')), {{1, Hash('a')}, {2, Hash('b')}}},
      {absl::StrCat("3:", Hash('0'), ",10:", Hash('f')), {{3, Hash('0')}, {10, Hash('f')}}},
      {absl::StrCat("18446744073709551615:", Hash('9')), {{18446744073709551615u, Hash('9')}}},
      {absl::StrCat("42:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"),
       {{42, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}}},
  };
  for (const auto& [text, events] : good) {
    absl::StatusOr<CheckpointEvents> parsed = ParseCheckpointEvents(text);
    ASSERT_TRUE(parsed.ok()) << text << ": " << parsed.status();
    EXPECT_EQ(*parsed, events) << text;
    EXPECT_EQ(FormatCheckpointEvents(events), text);
    EXPECT_TRUE(ValidateCheckpointEvents(events).ok()) << text;
  }
}

TEST(CheckpointEventsTest, BadTextIsRefusedNamingTheEntry) {
  const std::string h = Hash('a');
  struct Bad {
    const char* why;
    std::string text;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {"empty", "", "lists 0 events"},
      {"leading zeros", absl::StrCat("01:", h), "entry 1 \"01:"},
      {"zero sequence", absl::StrCat("0:", h), "decimal sequence > 0"},
      {"plus sign", absl::StrCat("+1:", h), "decimal sequence > 0"},
      {"minus sign", absl::StrCat("-1:", h), "decimal sequence > 0"},
      {"sequence overflows", absl::StrCat("18446744073709551616:", h), "decimal sequence > 0"},
      {"no sequence", absl::StrCat(":", h), "decimal sequence > 0"},
      {"no colon", absl::StrCat("1", h), "has no ':'"},
      {"uppercase hex", absl::StrCat("1:", std::string(64, 'A')), "not lower-case hex"},
      {"non-hex letter", absl::StrCat("1:", std::string(63, 'a'), "g"), "not lower-case hex"},
      {"short hash", absl::StrCat("1:", std::string(63, 'a')), "hash has 63 characters"},
      {"long hash", absl::StrCat("1:", std::string(65, 'a')), "hash has 65 characters"},
      {"empty hash", "1:", "hash has 0 characters"},
      {"second colon", absl::StrCat("1:", h, ":"), "hash has 65 characters"},
      {"not ascending", absl::StrCat("2:", h, ",1:", h), "entry 2 \"1:aaaa"},
      {"duplicate sequence", absl::StrCat("2:", h, ",2:", h), "not above the previous entry's"},
      {"trailing comma", absl::StrCat("1:", h, ","), "entry 2 \"\" is empty"},
      {"leading comma", absl::StrCat(",1:", h), "entry 1 \"\" is empty"},
      {"double comma", absl::StrCat("1:", h, ",,2:", h), "entry 2 \"\" is empty"},
      {"space before", absl::StrCat(" 1:", h), "decimal sequence > 0"},
      {"space after comma", absl::StrCat("1:", h, ", 2:", h), "entry 2 \" 2:"},
      {"trailing newline", absl::StrCat("1:", h, "\n"), "\\n\""},
      {"space inside", absl::StrCat("1: ", h), "hash has 65 characters"},
      {"NUL byte", absl::StrCat("1:", h, std::string(1, '\0')), "\\x00\""},
  };
  for (const Bad& row : bad) {
    absl::StatusOr<CheckpointEvents> parsed = ParseCheckpointEvents(row.text);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument) << row.why;
    EXPECT_THAT(parsed.status().message(), HasSubstr(row.message)) << row.why;
  }
  // The message says what is allowed.
  EXPECT_THAT(ParseCheckpointEvents("x").status().message(),
              HasSubstr("allowed: \"SEQ:HASH\" entries joined by ','"));
  EXPECT_THAT(ParseCheckpointEvents(absl::StrCat("2:", h, ",1:", h)).status().message(),
              HasSubstr("not above the previous entry's sequence 2"));
}

TEST(CheckpointEventsTest, AtMostTheLimitOfEntries) {
  CheckpointEvents events;
  for (uint64_t seq = 1; seq <= kMaxCheckpointEvents; ++seq) events.emplace_back(seq, Hash('e'));
  const std::string at_limit = FormatCheckpointEvents(events);
  absl::StatusOr<CheckpointEvents> parsed = ParseCheckpointEvents(at_limit);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(parsed->size(), kMaxCheckpointEvents);
  EXPECT_TRUE(ValidateCheckpointEvents(events).ok());

  events.emplace_back(kMaxCheckpointEvents + 1, Hash('e'));
  ExpectStatus(ParseCheckpointEvents(FormatCheckpointEvents(events)).status(),
               absl::StatusCode::kInvalidArgument, "lists 100001 events (allowed: 1 to 100000)");
  ExpectStatus(ValidateCheckpointEvents(events), absl::StatusCode::kInvalidArgument,
               "lists 100001 events (allowed: 1 to 100000)");
  // Counted before parsing: even empty entries past the limit are refused as too many.
  ExpectStatus(ParseCheckpointEvents(std::string(kMaxCheckpointEvents, ',')).status(),
               absl::StatusCode::kInvalidArgument, "lists 100001 events");
}

TEST(CheckpointEventsTest, ValidateRefusesWhatTheParserRefuses) {
  const std::vector<std::pair<CheckpointEvents, std::string>> bad = {
      {{}, "lists 0 events"},
      {{{0, Hash('a')}}, "entry 1 (sequence 0): its sequence is 0"},
      {{{2, Hash('a')}, {2, Hash('b')}}, "entry 2 (sequence 2): its sequence is not above"},
      {{{2, Hash('a')}, {1, Hash('b')}}, "entry 2 (sequence 1): its sequence is not above"},
      {{{1, std::string(64, 'A')}}, "not lower-case hex"},
      {{{1, "abc"}}, "hash has 3 characters"},
  };
  for (const auto& [events, message] : bad) {
    ExpectStatus(ValidateCheckpointEvents(events), absl::StatusCode::kInvalidArgument, message);
  }
}

// ---- The audit key ---------------------------------------------------------------------------

TEST(AuditSignerTest, LoadOrCreateCreatesOnceAndReloadsTheSameKey) {
  ScopedTempDir temp("audit_signer");
  const fs::path dir = temp.path() / "ca" / "nested";  // does not exist yet
  const absl::Time created = At("2026-11-30T12:00:00Z");
  auto first = AuditSigner::LoadOrCreate(dir.string(), created);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_THAT((*first)->key_id(), MatchesRegex("sha256:[0-9a-f]{64}"));
  EXPECT_EQ(ModeOf(dir), 0700u);
  EXPECT_EQ(ModeOf(dir / kAuditKeyFile), 0600u);
  const std::string content = ReadTextFile(dir / kAuditKeyFile);
  EXPECT_THAT(content,
              StartsWith(absl::StrCat("# keyfleet audit checkpoint signing key ",
                                      (*first)->key_id(), ", created 2026-11-30T12:00:00Z")));
  EXPECT_THAT(content, HasSubstr("-----BEGIN PRIVATE KEY-----"));

  auto again = AuditSigner::LoadOrCreate(dir.string(), created + absl::Hours(1));
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ((*again)->key_id(), (*first)->key_id());
  EXPECT_EQ(ReadTextFile(dir / kAuditKeyFile), content) << "the key file was rewritten";
  auto loaded = AuditSigner::Load(dir.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ((*loaded)->key_id(), (*first)->key_id());
  EXPECT_EQ((*loaded)->public_key_pem(), (*first)->public_key_pem());

  // A checkpoint signed before a restart verifies after it.
  auto cp = (*first)->Sign({{1, Hash('a')}}, created);
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_TRUE((*loaded)->VerifySignature(*cp).ok());
}

TEST(AuditSignerTest, KeyIdAndSignatureAgreeWithTheOpensslTool) {
  ScopedTempDir temp("audit_signer");
  std::unique_ptr<AuditSigner> signer = NewSigner(temp);
  ASSERT_NE(signer, nullptr);
  const fs::path key = temp.path() / kAuditKeyFile;
  const std::string pub = (temp.path() / "audit.pub").string();
  Openssl(absl::StrCat("pkey -in ", key.string(), " -pubout -out ", pub));
  EXPECT_EQ(ReadTextFile(pub), signer->public_key_pem());
  const std::string digest =
      Openssl(absl::StrCat("pkey -pubin -in ", pub, " -outform der | sha256sum"));
  EXPECT_EQ(absl::StrCat("sha256:", digest.substr(0, 64)), signer->key_id());

  auto cp = signer->Sign({{3, Hash('a')}, {4, Hash('b')}}, absl::Now());
  ASSERT_TRUE(cp.ok()) << cp.status();
  const fs::path payload = temp.path() / "payload";
  const fs::path signature = temp.path() / "signature";
  WriteTextFile(payload, CheckpointPayload(*cp));
  WriteTextFile(signature, *Base64DecodeStrict(cp->signature));
  EXPECT_THAT(Openssl(absl::StrCat("dgst -sha256 -verify ", pub, " -signature ", signature.string(),
                                   " ", payload.string())),
              HasSubstr("Verified OK"));
}

TEST(AuditSignerTest, LoadRefusesAnUnsafeOrMissingKeyFile) {
  ScopedTempDir temp("audit_signer");
  const std::string dir = temp.path().string();
  const std::string path = absl::StrCat(dir, "/", kAuditKeyFile);
  ExpectStatus(AuditSigner::Load(dir).status(), absl::StatusCode::kNotFound, path);
  ExpectStatus(AuditSigner::Load(dir + "/missing").status(), absl::StatusCode::kNotFound,
               "missing");

  ASSERT_NE(NewSigner(temp), nullptr);
  ASSERT_EQ(chmod(path.c_str(), 0644), 0);
  ExpectStatus(AuditSigner::Load(dir).status(), absl::StatusCode::kFailedPrecondition,
               absl::StrCat(path, " is readable by group or others (mode 0644); chmod 600 ", path));
  ExpectStatus(AuditSigner::LoadOrCreate(dir, absl::Now()).status(),
               absl::StatusCode::kFailedPrecondition, absl::StrCat("chmod 600 ", path));
  ASSERT_EQ(chmod(path.c_str(), 0600), 0);
  EXPECT_TRUE(AuditSigner::Load(dir).ok());

  // A symlink in place of the key is not followed, even to a good key.
  const std::string elsewhere = absl::StrCat(dir, "/elsewhere.key");
  ASSERT_EQ(rename(path.c_str(), elsewhere.c_str()), 0);
  ASSERT_EQ(symlink(elsewhere.c_str(), path.c_str()), 0);
  ExpectStatus(AuditSigner::Load(dir).status(), absl::StatusCode::kFailedPrecondition,
               "symbolic link");
}

TEST(AuditSignerTest, LoadRefusesAFileWithoutAP256Key) {
  ScopedTempDir temp("audit_signer");
  const std::string dir = temp.path().string();
  const std::string path = absl::StrCat(dir, "/", kAuditKeyFile);
  tls::EvpPkeyPtr p384(EVP_EC_gen("P-384"));
  ASSERT_NE(p384, nullptr);
  const std::string p384_pem = *tls::PrivateKeyToPem(p384.get());
  const std::string p384_body = p384_pem.substr(p384_pem.find('\n') + 1, 40);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {p384_pem, "EC secp384r1, which is not allowed (allowed: EC P-256)"},
      {"not a key\n", "no usable private key"},
      {"", "no usable private key"},
  };
  for (const auto& [content, message] : bad) {
    ASSERT_TRUE(tls::WriteFileAtomically(dir, kAuditKeyFile, content, 0600).ok());
    absl::Status status = AuditSigner::Load(dir).status();
    ExpectStatus(status, absl::StatusCode::kFailedPrecondition, message);
    EXPECT_THAT(status.message(), StartsWith(path));
    EXPECT_THAT(status.message(), Not(HasSubstr(p384_body))) << "key material in a message";
  }
}

TEST(AuditSignerTest, SignRefusesMalformedEvents) {
  ScopedTempDir temp("audit_signer");
  std::unique_ptr<AuditSigner> signer = NewSigner(temp);
  ASSERT_NE(signer, nullptr);
  ExpectStatus(signer->Sign({}, absl::Now()).status(), absl::StatusCode::kInvalidArgument,
               "lists 0 events");
  ExpectStatus(signer->Sign({{2, Hash('a')}, {1, Hash('b')}}, absl::Now()).status(),
               absl::StatusCode::kInvalidArgument, "strictly ascending");
  ExpectStatus(signer->Sign({{1, "ABC"}}, absl::Now()).status(), absl::StatusCode::kInvalidArgument,
               "hash has 3 characters");
}

TEST(AuditSignerTest, SignatureRoundTripsAndTamperingIsRefused) {
  ScopedTempDir temp("audit_signer");
  std::unique_ptr<AuditSigner> signer = NewSigner(temp);
  ASSERT_NE(signer, nullptr);
  const absl::Time at = At("2026-11-30T12:00:00.123456789Z");
  auto signed_cp = signer->Sign({{5, Hash('a')}, {6, Hash('b')}}, at);
  ASSERT_TRUE(signed_cp.ok()) << signed_cp.status();
  const AuditCheckpoint cp = *signed_cp;
  EXPECT_EQ(cp.id, 0);
  EXPECT_EQ(cp.key_id, signer->key_id());
  EXPECT_EQ(cp.signed_at, At("2026-11-30T12:00:00.123456Z")) << "not truncated to microseconds";
  EXPECT_TRUE(signer->VerifySignature(cp).ok());
  AuditCheckpoint stored = cp;
  stored.id = 17;  // the row id is not signed
  EXPECT_TRUE(signer->VerifySignature(stored).ok());

  struct Tamper {
    const char* what;
    std::function<void(AuditCheckpoint&)> change;
  };
  const std::vector<Tamper> altered = {
      {"first signature byte",
       [](AuditCheckpoint& c) { c.signature = FlipSignatureByte(c.signature, 0); }},
      {"last signature byte",
       [](AuditCheckpoint& c) { c.signature = FlipSignatureByte(c.signature, 1000); }},
      {"signature not base64", [](AuditCheckpoint& c) { c.signature = "not base64!"; }},
      {"signature empty", [](AuditCheckpoint& c) { c.signature.clear(); }},
      {"signed_at", [](AuditCheckpoint& c) { c.signed_at += absl::Seconds(1); }},
      {"a hash", [](AuditCheckpoint& c) { c.events[1].second = Hash('c'); }},
      {"a sequence", [](AuditCheckpoint& c) { c.events[1].first = 7; }},
      {"an event dropped", [](AuditCheckpoint& c) { c.events.pop_back(); }},
      {"an event added",
       [](AuditCheckpoint& c) {
         c.events.push_back({9, Hash('d')});
       }},
      {"events out of order", [](AuditCheckpoint& c) { std::swap(c.events[0], c.events[1]); }},
  };
  for (const Tamper& tamper : altered) {
    AuditCheckpoint changed = stored;
    tamper.change(changed);
    absl::Status status = signer->VerifySignature(changed);
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << tamper.what << ": " << status;
    EXPECT_THAT(status.message(), HasSubstr("audit checkpoint #17")) << tamper.what;
    EXPECT_THAT(status.message(), HasSubstr("altered")) << tamper.what;
  }

  // Another key's id: the message says which key signed it and which one this is.
  ScopedTempDir other_dir("audit_signer_other");
  std::unique_ptr<AuditSigner> other = NewSigner(other_dir);
  ASSERT_NE(other, nullptr);
  AuditCheckpoint relabeled = stored;
  relabeled.key_id = other->key_id();
  ExpectStatus(
      signer->VerifySignature(relabeled), absl::StatusCode::kFailedPrecondition,
      absl::StrCat("was signed by key ", other->key_id(), ", not by this key ", signer->key_id()));
  // Relabeled as the other key's, it does not verify under that key either.
  EXPECT_EQ(other->VerifySignature(relabeled).code(), absl::StatusCode::kDataLoss);
}

TEST(AuditVerifierTest, FromPublicKeyPemVerifiesTheSignersCheckpoints) {
  ScopedTempDir temp("audit_signer");
  std::unique_ptr<AuditSigner> signer = NewSigner(temp);
  ASSERT_NE(signer, nullptr);
  absl::StatusOr<AuditVerifier> verifier =
      AuditVerifier::FromPublicKeyPem(signer->public_key_pem());
  ASSERT_TRUE(verifier.ok()) << verifier.status();
  EXPECT_EQ(verifier->key_id(), signer->key_id());
  EXPECT_EQ(verifier->public_key_pem(), signer->public_key_pem());
  auto cp = signer->Sign({{1, Hash('a')}}, absl::Now());
  ASSERT_TRUE(cp.ok()) << cp.status();
  EXPECT_TRUE(verifier->VerifySignature(*cp).ok());

  tls::EvpPkeyPtr p384(EVP_EC_gen("P-384"));
  ASSERT_NE(p384, nullptr);
  const fs::path p384_key = temp.path() / "p384.key";
  WriteTextFile(p384_key, *tls::PrivateKeyToPem(p384.get()));
  const std::string p384_pub = Openssl(absl::StrCat("pkey -in ", p384_key.string(), " -pubout"));
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "no public key in the PEM"},
      {"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", "no public key in the PEM"},
      {ReadTextFile(temp.path() / kAuditKeyFile), "no public key in the PEM"},
      {p384_pub, "EC secp384r1, which is not allowed (allowed: EC P-256)"},
  };
  for (const auto& [pem, message] : bad) {
    ExpectStatus(AuditVerifier::FromPublicKeyPem(pem).status(), absl::StatusCode::kInvalidArgument,
                 message);
  }
}

// ---- VerifyAuditLog --------------------------------------------------------------------------

// An audit log as a store writes it: batches of chained events, each batch signed as one
// checkpoint by a real AuditSigner, and sequences skipped where a transaction rolled back.
class AuditLogTest : public ::testing::Test {
 public:
  void SetUp() override {
    signer_ = NewSigner(key_dir_);
    ASSERT_NE(signer_, nullptr);
    // Checkpoints 1..4: events 1-3 | (4 rolled back) | 5-6 | 7 | 8-10.
    AppendBatch({{"principal.add", "alice"}, {"key.add", "alice"}, {"grant.add", "alice"}});
    next_sequence_ = 5;
    AppendBatch({{"key.add", "bob"}, {"grant.add", "bob"}});
    AppendBatch({{"key.revoke", "alice"}});
    AppendBatch({{"host.add", "web1"}, {"host.add", "web2"}, {"policy.set", "default"}});
  }

  // Appends one mutation's events, signed at kStart + one minute per earlier batch.
  void AppendBatch(const std::vector<std::pair<std::string, std::string>>& actions,
                   const AuditSigner* signer = nullptr) {
    const absl::Time at = kStart + absl::Minutes(static_cast<int64_t>(checkpoints_.size()));
    CheckpointEvents batch;
    for (const auto& [action, target] : actions) {
      const std::string prev = events_.empty() ? "" : events_.back().hash;
      events_.push_back(ChainAuditEvent(next_sequence_++, {"admin@example.com", at},
                                        {action, target, "", "{\"n\":1}"}, prev));
      batch.emplace_back(events_.back().sequence, events_.back().hash);
    }
    auto cp = (signer != nullptr ? signer : signer_.get())->Sign(batch, at);
    ASSERT_TRUE(cp.ok()) << cp.status();
    cp->id = static_cast<int64_t>(checkpoints_.size()) + 1;
    checkpoints_.push_back(*cp);
    signed_head_ = events_.back().sequence;
  }

  size_t IndexOf(uint64_t sequence) const {
    auto it = std::find_if(events_.begin(), events_.end(),
                           [&](const AuditEvent& e) { return e.sequence == sequence; });
    EXPECT_NE(it, events_.end()) << sequence;
    return static_cast<size_t>(it - events_.begin());
  }
  AuditEvent& Event(uint64_t sequence) { return events_[IndexOf(sequence)]; }

  // What someone with write access does to hide an edit: recompute every link from `sequence`.
  void RehashFrom(uint64_t sequence) {
    for (size_t i = IndexOf(sequence); i < events_.size(); ++i) {
      events_[i].prev_hash = i == 0 ? "" : events_[i - 1].hash;
      events_[i].hash = AuditEventHash(events_[i]);
    }
  }
  void DeleteEventsFrom(uint64_t sequence) { events_.resize(IndexOf(sequence)); }
  void DeleteCheckpoint(int64_t id) {
    checkpoints_.erase(std::remove_if(checkpoints_.begin(), checkpoints_.end(),
                                      [&](const AuditCheckpoint& cp) { return cp.id == id; }),
                       checkpoints_.end());
  }
  AuditCheckpoint& Checkpoint(int64_t id) { return checkpoints_[static_cast<size_t>(id - 1)]; }

  AuditVerification Verify() const {
    return VerifyAuditLog(events_, checkpoints_, {&signer_->verifier()}, signed_head_);
  }

  static inline const absl::Time kStart = absl::FromUnixSeconds(1796040000);  // 2026-11-30 12:00Z
  ScopedTempDir key_dir_{"audit_log_key"};
  ScopedTempDir other_key_dir_{"audit_log_other_key"};
  std::unique_ptr<AuditSigner> signer_;
  std::vector<AuditEvent> events_;
  std::vector<AuditCheckpoint> checkpoints_;
  uint64_t next_sequence_ = 1;
  uint64_t signed_head_ = 0;
};

TEST_F(AuditLogTest, AnUntamperedLogWithGapsVerifies) {
  const AuditVerification result = Verify();
  EXPECT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(result.events_checked, 9u);
  EXPECT_EQ(result.checkpoints_checked, 4u);
  EXPECT_EQ(result.first_bad_sequence, 0u);
  EXPECT_EQ(result.detail, "");
  // The controller not knowing its head (after a restart) is fine too.
  signed_head_ = 0;
  EXPECT_TRUE(Verify().ok);
}

TEST_F(AuditLogTest, AnEmptyLogVerifies) {
  const AuditVerification result = VerifyAuditLog({}, {}, {&signer_->verifier()}, 0);
  EXPECT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(result.events_checked, 0u);
  EXPECT_EQ(result.checkpoints_checked, 0u);
  const AuditVerification untrusted = VerifyAuditLog({}, {}, {}, 0);
  EXPECT_TRUE(untrusted.ok) << untrusted.detail;
}

struct TamperCase {
  const char* name;
  std::function<void(AuditLogTest&)> tamper;
  uint64_t first_bad_sequence;
  std::vector<std::string> detail;  // substrings of the operator's message
};

class AuditLogTamperTest : public AuditLogTest, public ::testing::WithParamInterface<TamperCase> {};

const TamperCase kTamperCases[] = {
    {"EditedWithoutRehash",
     [](AuditLogTest& log) { log.Event(6).after_json = "{\"n\":2}"; },
     6,
     {"audit event 6 (grant.add bob)", "does not match its hash: the event was edited"}},
    {"EditedAndRehashed",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.Event(6).target = "mallory";
       t.RehashFrom(6);
     },
     6,
     {"audit event 6 (grant.add mallory) differs from what the controller signed at "
      "2026-11-30T12:01:00Z (checkpoint #2): the log was rewritten"}},
    {"EditedAndRehashedFromTheFirstEvent",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.Event(1).actor = "someone-else";
       t.RehashFrom(1);
     },
     1,
     {"audit event 1 (principal.add alice) differs", "the log was rewritten"}},
    {"LastEventsDeletedCheckpointKept",
     [](AuditLogTest& log) { log.DeleteEventsFrom(9); },
     9,
     {"audit event 9, signed by the controller at 2026-11-30T12:03:00Z (checkpoint #4), is "
      "missing from the log: events were deleted"}},
    {"LastBatchesDeletedAcrossAGapCheckpointsKept",
     [](AuditLogTest& log) { log.DeleteEventsFrom(5); },
     5,  // 4 was never written: the first missing signed event is 5
     {"audit event 5", "is missing from the log: events were deleted"}},
    {"LastBatchesDeletedAcrossAGapCheckpointsKeptHeadUnknown",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.DeleteEventsFrom(5);
       t.signed_head_ = 0;
     },
     5,
     {"audit event 5", "events were deleted"}},
    {"EventDeletedFromTheMiddle",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.events_.erase(t.events_.begin() + static_cast<std::ptrdiff_t>(t.IndexOf(6)));
       t.RehashFrom(7);
     },
     6,
     {"audit event 6, signed by the controller", "events were deleted"}},
    {"LastEventsAndTheirCheckpointDeleted",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.DeleteEventsFrom(8);
       t.DeleteCheckpoint(4);
     },
     8,
     {"the log ends at event 7, before what this controller signed (up to event 10): events "
      "after 7 were deleted together with their checkpoints"}},
    {"LastBatchesAcrossAGapAndTheirCheckpointsDeleted",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.DeleteEventsFrom(5);
       for (int64_t id : {2, 3, 4}) t.DeleteCheckpoint(id);
     },
     4,  // the first sequence after the last event: 4 itself is unknowable as a gap
     {"the log ends at event 3", "up to event 10"}},
    {"EverythingDeleted",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.events_.clear();
       t.checkpoints_.clear();
     },
     1,
     {"the log is empty, but this controller signed events up to 10: they were deleted"}},
    {"PartOfTheLastBatchAndItsCheckpointDeleted",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.DeleteEventsFrom(9);
       t.DeleteCheckpoint(4);
     },
     8,  // event 8 is left without its checkpoint
     {"audit event 8 (host.add web1)", "is not covered by any valid signed checkpoint"}},
    {"AppendedWithACorrectChainLink",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.events_.push_back(ChainAuditEvent(11, {"admin@example.com", absl::Now()},
                                           {"key.add", "mallory", "", "{}"},
                                           t.events_.back().hash));
     },
     11,
     {"audit event 11 (key.add mallory)", "by admin@example.com at ",
      "is not covered by any valid signed checkpoint: it was added without the controller"}},
    {"InsertedIntoAGapAndRehashed",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       AuditEvent inserted = t.Event(3);
       inserted.sequence = 4;
       inserted.target = "mallory";
       t.events_.insert(t.events_.begin() + static_cast<std::ptrdiff_t>(t.IndexOf(5)), inserted);
       t.RehashFrom(4);
     },
     4,
     {"audit event 4 (grant.add mallory)", "not covered by any valid signed checkpoint"}},
    {"InsertedInTheMiddleRenumberedAndRehashed",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       const size_t at = t.IndexOf(6);
       for (size_t i = at; i < t.events_.size(); ++i) ++t.events_[i].sequence;
       AuditEvent inserted = t.events_[at];
       inserted.sequence = 6;
       inserted.target = "mallory";
       t.events_.insert(t.events_.begin() + static_cast<std::ptrdiff_t>(at), inserted);
       t.RehashFrom(6);
     },
     6,
     {"audit event 6 (grant.add mallory) differs from what the controller signed"}},
    {"CheckpointSignatureEdited",
     [](AuditLogTest& log) {
       auto& cp = log.Checkpoint(3);
       cp.signature = FlipSignatureByte(cp.signature, 10);
     },
     7,
     {"audit checkpoint #3", "does not verify", "altered after it was signed",
      "lists events from 7, which no valid signature now vouches for"}},
    {"CheckpointEventsEditedToMatchARewrite",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.Event(6).target = "mallory";
       t.RehashFrom(6);
       for (int64_t id : {2, 3, 4}) {
         for (auto& [sequence, hash] : t.Checkpoint(id).events) hash = t.Event(sequence).hash;
       }
     },
     5,  // checkpoint #2 no longer verifies; it is reported at the first event it lists
     {"audit checkpoint #2", "its signature does not match its content"}},
    {"CheckpointTimeEdited",
     [](AuditLogTest& log) { log.Checkpoint(4).signed_at -= absl::Hours(1); },
     8,
     {"audit checkpoint #4 (signed at 2026-11-30T11:03:00Z", "does not verify"}},
    {"CheckpointSignedByAnUnknownKey",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       std::unique_ptr<AuditSigner> forger = NewSigner(t.other_key_dir_);
       AuditCheckpoint& cp = t.Checkpoint(2);
       auto forged = forger->Sign(cp.events, cp.signed_at);
       ASSERT_TRUE(forged.ok()) << forged.status();
       forged->id = cp.id;
       cp = *forged;
     },
     5,
     {"audit checkpoint #2",
      "is signed by a key this controller does not trust (trusted: "
      "sha256:",
      "it was forged"}},
    {"CheckpointDeletedFromTheMiddle",
     [](AuditLogTest& log) { log.DeleteCheckpoint(2); },
     5,
     {"audit event 5 (key.add bob)", "its checkpoint was deleted"}},
    {"SeveralProblemsReportTheEarliest",
     [](AuditLogTest& log) {
       AuditLogTest& t = log;
       t.Event(6).target = "mallory";  // signed hash differs at 6
       t.RehashFrom(6);
       t.Event(9).after_json = "{}";        // chain break at 9
       t.Checkpoint(4).signature = "AAAA";  // bad checkpoint at 8
       t.DeleteEventsFrom(10);              // missing at 10
     },
     6,
     {"audit event 6 (grant.add mallory) differs"}},
};

TEST_P(AuditLogTamperTest, IsReportedAtTheFirstBadEvent) {
  const TamperCase& c = GetParam();
  c.tamper(*this);
  const AuditVerification result = Verify();
  EXPECT_FALSE(result.ok);
  EXPECT_EQ(result.first_bad_sequence, c.first_bad_sequence) << result.detail;
  for (const std::string& text : c.detail) EXPECT_THAT(result.detail, HasSubstr(text));
  uint64_t before = 0;
  for (const AuditEvent& e : events_) before += e.sequence < c.first_bad_sequence ? 1 : 0;
  EXPECT_EQ(result.events_checked, before);
}

INSTANTIATE_TEST_SUITE_P(Tampering, AuditLogTamperTest, ::testing::ValuesIn(kTamperCases),
                         [](const ::testing::TestParamInfo<TamperCase>& info) {
                           return std::string(info.param.name);
                         });

TEST_F(AuditLogTest, DeletingTheEndWithItsCheckpointsNeedsTheSignedHead) {
  // What a chain and checkpoints alone cannot see: the controller's own memory of its head.
  DeleteEventsFrom(8);
  DeleteCheckpoint(4);
  signed_head_ = 0;
  EXPECT_TRUE(Verify().ok);
  signed_head_ = 7;
  EXPECT_TRUE(Verify().ok);
  signed_head_ = 8;
  EXPECT_EQ(Verify().first_bad_sequence, 8u);
}

TEST_F(AuditLogTest, CheckpointsOfAnEarlierKeyVerifyWhenItIsStillTrusted) {
  // Rotation: checkpoints 1-4 were signed by the old key, 5 by the new one.
  ScopedTempDir new_dir("audit_log_new_key");
  std::unique_ptr<AuditSigner> new_signer = NewSigner(new_dir);
  ASSERT_NE(new_signer, nullptr);
  AppendBatch({{"key.add", "carol"}}, new_signer.get());
  absl::StatusOr<AuditVerifier> old_key =
      AuditVerifier::FromPublicKeyPem(signer_->public_key_pem());
  ASSERT_TRUE(old_key.ok()) << old_key.status();

  const AuditVerification both =
      VerifyAuditLog(events_, checkpoints_, {&new_signer->verifier(), &*old_key}, signed_head_);
  EXPECT_TRUE(both.ok) << both.detail;
  EXPECT_EQ(both.checkpoints_checked, 5u);

  const AuditVerification new_only =
      VerifyAuditLog(events_, checkpoints_, {&new_signer->verifier()}, signed_head_);
  EXPECT_FALSE(new_only.ok);
  EXPECT_EQ(new_only.first_bad_sequence, 1u);
  EXPECT_THAT(new_only.detail, HasSubstr("audit checkpoint #1"));
  EXPECT_THAT(new_only.detail, HasSubstr(absl::StrCat("(trusted: ", new_signer->key_id(), ")")));
  EXPECT_EQ(new_only.checkpoints_checked, 1u);
}

TEST_F(AuditLogTest, ALargeLogVerifiesInOnePass) {
  // 200 batches of 100 events: the 20000 lookups of listed events are one pass.
  for (int i = 0; i < 200; ++i) {
    std::vector<std::pair<std::string, std::string>> batch(100, {"key.add", "bulk"});
    AppendBatch(batch);
  }
  const AuditVerification result = Verify();
  EXPECT_TRUE(result.ok) << result.detail;
  EXPECT_EQ(result.events_checked, 9u + 20000u);
}

}  // namespace
}  // namespace keyfleet::controller
