#include "common/openssh_private_key.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "common/base64.h"
#include "common/bcrypt_pbkdf.h"
#include "common/fingerprint.h"
#include "common/ssh_key_generation.h"
#include "common/ssh_public_key.h"
#include "common/ssh_wire.h"
#include "tests/support/run_command.h"
#include "tests/support/scoped_temp_dir.h"
#include "tests/support/test_keys.h"

namespace keyfleet {
namespace {

using ::keyfleet::testing::RunCommand;
using ::keyfleet::testing::ScopedTempDir;
using ::testing::HasSubstr;

constexpr absl::string_view kBegin = "-----BEGIN OPENSSH PRIVATE KEY-----\n";
constexpr absl::string_view kEnd = "-----END OPENSSH PRIVATE KEY-----\n";
const std::string kMagic("openssh-key-v1\0", 15);
constexpr absl::string_view kPassphrase = "correct horse battery staple";

// Bytes start, start+1, …: the first check integer drawn is 0x01020304 for start 1.
class CountingRandom : public RandomSource {
 public:
  explicit CountingRandom(uint8_t start = 1) : next_(start) {}
  absl::Status Fill(absl::Span<uint8_t> out) override {
    for (uint8_t& b : out) b = next_++;
    return absl::OkStatus();
  }

 private:
  uint8_t next_;
};

// Gives back fixed bytes, e.g. the check integer of a file ssh-keygen wrote.
class FixedRandom : public RandomSource {
 public:
  explicit FixedRandom(std::string bytes) : bytes_(std::move(bytes)) {}
  absl::Status Fill(absl::Span<uint8_t> out) override {
    if (out.size() > bytes_.size()) return absl::OutOfRangeError("fixed random bytes used up");
    std::memcpy(out.data(), bytes_.data(), out.size());
    bytes_.erase(0, out.size());
    return absl::OkStatus();
  }

 private:
  std::string bytes_;
};

const SshKeyPair& Generated(GeneratedKeyType type) {
  static auto* pairs = new std::map<GeneratedKeyType, SshKeyPair>;
  auto it = pairs->find(type);
  if (it == pairs->end()) {
    auto pair = GenerateSshKeyPair(type, absl::StrCat("keyfleet ", GeneratedKeyTypeName(type)));
    EXPECT_TRUE(pair.ok()) << pair.status();
    it = pairs->emplace(type, pair.ok() ? *std::move(pair) : SshKeyPair{}).first;
  }
  return it->second;
}

std::string Encode(const SshKeyPair& pair, std::optional<absl::string_view> passphrase = {},
                   uint8_t random_start = 1) {
  CountingRandom random(random_start);
  auto text = EncodeOpenSshPrivateKey(pair, passphrase, random);
  EXPECT_TRUE(text.ok()) << text.status();
  return text.ok() ? std::string(text->view()) : std::string();
}

std::string WriteKeyFile(const ScopedTempDir& dir, const std::string& name,
                         absl::string_view text) {
  const std::string path = (dir.path() / name).string();
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  EXPECT_GE(fd, 0) << path;
  if (fd < 0) return path;
  EXPECT_EQ(write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
  close(fd);
  return path;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The base64 body of a key file text, decoded.
std::string BinaryOf(absl::string_view text) {
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  std::string body;
  for (size_t i = 1; i + 1 < lines.size(); ++i) absl::StrAppend(&body, lines[i]);
  auto binary = Base64DecodeStrict(body);
  EXPECT_TRUE(binary.ok()) << binary.status();
  return binary.ok() ? *binary : std::string();
}

// Key file text for `binary`, base64 in lines of `width`.
std::string Armoured(absl::string_view binary, size_t width = 70) {
  const std::string base64 = Base64Encode(binary);
  std::string text(kBegin);
  for (size_t i = 0; i < base64.size(); i += width) {
    absl::StrAppend(&text, absl::string_view(base64).substr(i, width), "\n");
  }
  absl::StrAppend(&text, kEnd);
  return text;
}

std::string PublicLine(const SshKeyPair& pair) {
  auto key = SshKeyPairPublicKey(pair);
  EXPECT_TRUE(key.ok()) << key.status();
  return key.ok() ? RenderPublicKey(*key) : std::string();
}

// ---- Layout -----------------------------------------------------------------------------------

TEST(EncodeOpenSshPrivateKeyTest, UnencryptedLayout) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kEd25519);
  const std::string text = Encode(pair);
  ASSERT_TRUE(absl::StartsWith(text, kBegin));
  ASSERT_TRUE(absl::EndsWith(text, kEnd));
  std::vector<std::string> lines = absl::StrSplit(text, '\n', absl::SkipEmpty());
  for (size_t i = 1; i + 2 < lines.size(); ++i) EXPECT_EQ(lines[i].size(), 70u) << i;
  EXPECT_LE(lines[lines.size() - 2].size(), 70u);

  const std::string binary = BinaryOf(text);
  ASSERT_EQ(binary.substr(0, kMagic.size()), kMagic);
  WireReader r(absl::string_view(binary).substr(kMagic.size()));
  EXPECT_EQ(*r.ReadString("cipher"), "none");
  EXPECT_EQ(*r.ReadString("kdf"), "none");
  EXPECT_EQ(*r.ReadString("kdf options"), "");
  EXPECT_EQ(*r.ReadU32("nkeys"), 1u);
  EXPECT_EQ(*r.ReadString("public"), pair.public_blob);
  const absl::string_view section = *r.ReadString("private");
  EXPECT_TRUE(r.AtEnd());
  EXPECT_EQ(section.size() % 8, 0u);

  WireReader s(section);
  EXPECT_EQ(*s.ReadU32("check1"), 0x01020304u);
  EXPECT_EQ(*s.ReadU32("check2"), 0x01020304u);
  EXPECT_EQ(s.Remaining().substr(0, pair.private_fields.size()), pair.private_fields.view());
  WireReader rest(s.Remaining().substr(pair.private_fields.size()));
  EXPECT_EQ(*rest.ReadString("comment"), pair.comment);
  const absl::string_view padding = rest.Remaining();
  EXPECT_LT(padding.size(), 8u);
  for (size_t i = 0; i < padding.size(); ++i) EXPECT_EQ(padding[i], static_cast<char>(i + 1));
}

// Decrypts what the encoder wrote with an independent reading of PROTOCOL.key.
TEST(EncodeOpenSshPrivateKeyTest, EncryptedLayoutDecryptsWithBcryptPbkdfAndAes256Ctr) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kEcdsaP256);
  const std::string binary = BinaryOf(Encode(pair, kPassphrase));
  WireReader r(absl::string_view(binary).substr(kMagic.size()));
  EXPECT_EQ(*r.ReadString("cipher"), "aes256-ctr");
  EXPECT_EQ(*r.ReadString("kdf"), "bcrypt");
  WireReader options(*r.ReadString("kdf options"));
  // CountingRandom drew the check integer (1..4) first, then the salt (5..20).
  const std::string salt(*options.ReadString("salt"));
  EXPECT_EQ(absl::BytesToHexString(salt), "05060708090a0b0c0d0e0f1011121314");
  EXPECT_EQ(*options.ReadU32("rounds"), 16u);
  EXPECT_TRUE(options.AtEnd());
  EXPECT_EQ(*r.ReadU32("nkeys"), 1u);
  EXPECT_EQ(*r.ReadString("public"), pair.public_blob);
  std::string section(*r.ReadString("private"));
  EXPECT_TRUE(r.AtEnd());
  ASSERT_EQ(section.size() % 16, 0u);

  uint8_t key_iv[48];
  ASSERT_TRUE(BcryptPbkdf(kPassphrase, salt, 16, absl::MakeSpan(key_iv)).ok());
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int len = 0;
  ASSERT_EQ(EVP_DecryptInit_ex(ctx, EVP_aes_256_ctr(), nullptr, key_iv, key_iv + 32), 1);
  auto* bytes = reinterpret_cast<uint8_t*>(section.data());
  ASSERT_EQ(EVP_DecryptUpdate(ctx, bytes, &len, bytes, static_cast<int>(section.size())), 1);
  EVP_CIPHER_CTX_free(ctx);

  WireReader s(section);
  EXPECT_EQ(*s.ReadU32("check1"), 0x01020304u);
  EXPECT_EQ(*s.ReadU32("check2"), 0x01020304u);
  EXPECT_EQ(s.Remaining().substr(0, pair.private_fields.size()), pair.private_fields.view());
  WireReader rest(s.Remaining().substr(pair.private_fields.size()));
  EXPECT_EQ(*rest.ReadString("comment"), pair.comment);
  const absl::string_view padding = rest.Remaining();
  EXPECT_LT(padding.size(), 16u);
  for (size_t i = 0; i < padding.size(); ++i) EXPECT_EQ(padding[i], static_cast<char>(i + 1));
}

TEST(EncodeOpenSshPrivateKeyTest, RandomnessIsInjected) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kEd25519);
  EXPECT_EQ(Encode(pair), Encode(pair));
  EXPECT_NE(Encode(pair, std::nullopt, 1), Encode(pair, std::nullopt, 2));
  EXPECT_EQ(Encode(pair, kPassphrase), Encode(pair, kPassphrase));
  // The default source draws fresh check integers.
  auto a = EncodeOpenSshPrivateKey(pair, std::nullopt);
  auto b = EncodeOpenSshPrivateKey(pair, std::nullopt);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->view(), b->view());
}

TEST(EncodeOpenSshPrivateKeyTest, Refusals) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kEd25519);
  CountingRandom random;
  auto empty = EncodeOpenSshPrivateKey(pair, absl::string_view(""), random);
  EXPECT_EQ(empty.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(empty.status().message()), HasSubstr("passphrase is empty"));

  SshKeyPair broken = pair;
  broken.public_blob = Generated(GeneratedKeyType::kEcdsaP256).public_blob;
  auto mismatched = EncodeOpenSshPrivateKey(broken, std::nullopt, random);
  EXPECT_EQ(mismatched.status().code(), absl::StatusCode::kInvalidArgument);

  class FailingRandom : public RandomSource {
   public:
    absl::Status Fill(absl::Span<uint8_t>) override { return absl::UnavailableError("no entropy"); }
  } failing;
  auto no_random = EncodeOpenSshPrivateKey(pair, std::nullopt, failing);
  EXPECT_EQ(no_random.status().code(), absl::StatusCode::kUnavailable);
}

// ---- ssh-keygen reads what we write ------------------------------------------------------------

TEST(OpenSshPrivateKeyInteropTest, SshKeygenReadsGeneratedKeys) {
  ScopedTempDir dir("kf-private-key-test");
  const std::map<GeneratedKeyType, std::string> bits_and_type = {
      {GeneratedKeyType::kEd25519, "256 (ED25519)"},
      {GeneratedKeyType::kEcdsaP256, "256 (ECDSA)"},
      {GeneratedKeyType::kRsa3072, "3072 (RSA)"},
  };
  for (GeneratedKeyType type : AllGeneratedKeyTypes()) {
    const SshKeyPair& pair = Generated(type);
    auto public_key = SshKeyPairPublicKey(pair);
    ASSERT_TRUE(public_key.ok()) << public_key.status();
    const std::string fingerprint = Fingerprint(*public_key);
    const std::vector<std::string> bits_type = absl::StrSplit(bits_and_type.at(type), ' ');
    for (const bool encrypted : {false, true}) {
      const std::string name = absl::StrCat(GeneratedKeyTypeName(type), encrypted ? "-enc" : "");
      SCOPED_TRACE(name);
      const std::string text = encrypted ? Encode(pair, kPassphrase) : Encode(pair, std::nullopt);
      const std::string path = WriteKeyFile(dir, name, text);
      const std::string pass = encrypted ? absl::StrCat(" -P '", kPassphrase, "'") : "";

      const auto y = RunCommand(absl::StrCat("ssh-keygen -y", pass, " -f ", path, " 2>&1"));
      EXPECT_EQ(y.exit_code, 0) << y.out;
      // ssh-keygen prints the comment after "type base64".
      EXPECT_EQ(y.out, PublicLine(pair) + "\n");
      EXPECT_TRUE(absl::StartsWith(
          y.out, absl::StrCat(KeyTypeName(pair.type), " ", Base64Encode(pair.public_blob), " ")));

      // -l reads the public half without the passphrase; an encrypted file hides the comment.
      const auto l = RunCommand(absl::StrCat("ssh-keygen -l -f ", path, " 2>&1 </dev/null"));
      EXPECT_EQ(l.exit_code, 0) << l.out;
      EXPECT_EQ(l.out,
                absl::StrCat(bits_type[0], " ", fingerprint, " ",
                             encrypted ? "no comment" : pair.comment, " ", bits_type[1], "\n"));

      if (encrypted) {
        const auto wrong = RunCommand(absl::StrCat("ssh-keygen -y -P 'wrong' -f ", path, " 2>&1"));
        EXPECT_NE(wrong.exit_code, 0) << wrong.out;
        EXPECT_THAT(wrong.out, HasSubstr("incorrect passphrase"));
      }
    }
  }
}

TEST(OpenSshPrivateKeyInteropTest, DecodesKeysSshKeygenWroteAndReencodesThem) {
  ScopedTempDir dir("kf-private-key-test");
  const std::vector<std::pair<std::string, std::string>> rows = {
      {"ed25519", "-t ed25519"}, {"ecdsa", "-t ecdsa -b 256"}, {"rsa", "-t rsa -b 2048"}};
  for (const auto& [name, flags] : rows) {
    SCOPED_TRACE(name);
    const std::string path = (dir.path() / name).string();
    const auto made = RunCommand(
        absl::StrCat("ssh-keygen -q ", flags, " -N '' -C 'bob@", name, "' -f ", path, " 2>&1"));
    ASSERT_EQ(made.exit_code, 0) << made.out;
    const std::string text = ReadFile(path);
    const std::string pub_line = ReadFile(path + ".pub");

    auto pair = DecodeOpenSshPrivateKey(text);
    ASSERT_TRUE(pair.ok()) << pair.status();
    EXPECT_EQ(pair->comment, absl::StrCat("bob@", name));
    const std::vector<std::string> pub_fields = absl::StrSplit(pub_line, ' ');
    ASSERT_GE(pub_fields.size(), 2u);
    EXPECT_EQ(pair->public_blob, *Base64DecodeStrict(pub_fields[1]));
    EXPECT_EQ(KeyTypeName(pair->type), pub_fields[0]);
    EXPECT_EQ(PublicLine(*pair) + "\n", pub_line);

    // Fingerprint as ssh-keygen -lf prints it.
    const auto l = RunCommand(absl::StrCat("ssh-keygen -lf ", path, ".pub 2>&1"));
    const std::vector<std::string> l_fields = absl::StrSplit(l.out, ' ');
    ASSERT_GE(l_fields.size(), 2u) << l.out;
    EXPECT_EQ(Fingerprint(*SshKeyPairPublicKey(*pair)), l_fields[1]);

    // Re-encoded with ssh-keygen's own check integer, the file comes out byte for byte.
    const std::string binary = BinaryOf(text);
    WireReader r(absl::string_view(binary).substr(kMagic.size()));
    for (int i = 0; i < 3; ++i) (void)r.ReadString("header");
    (void)r.ReadU32("nkeys");
    (void)r.ReadString("public");
    FixedRandom same_check(std::string(r.Remaining().substr(4, 4)));
    auto again = EncodeOpenSshPrivateKey(*pair, std::nullopt, same_check);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_EQ(again->view(), text);

    // What `keyfleet key generate` does with a received key: add a passphrase.
    auto encrypted = EncodeOpenSshPrivateKey(*pair, kPassphrase);
    ASSERT_TRUE(encrypted.ok()) << encrypted.status();
    const std::string enc_path = WriteKeyFile(dir, name + "-enc", encrypted->view());
    const auto y =
        RunCommand(absl::StrCat("ssh-keygen -y -P '", kPassphrase, "' -f ", enc_path, " 2>&1"));
    EXPECT_EQ(y.exit_code, 0) << y.out;
    EXPECT_EQ(y.out, pub_line);
  }
}

// ---- Decoding -------------------------------------------------------------------------------

TEST(DecodeOpenSshPrivateKeyTest, RoundTripsEveryType) {
  for (GeneratedKeyType type : AllGeneratedKeyTypes()) {
    SCOPED_TRACE(GeneratedKeyTypeName(type));
    const SshKeyPair& pair = Generated(type);
    auto decoded = DecodeOpenSshPrivateKey(Encode(pair));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, pair);
  }
}

TEST(DecodeOpenSshPrivateKeyTest, OtherLineWidthsAndAMissingFinalNewline) {
  const SshKeyPair& pair = Generated(GeneratedKeyType::kRsa3072);
  const std::string binary = BinaryOf(Encode(pair));
  for (size_t width : {64, 70, 76}) {
    SCOPED_TRACE(width);
    auto decoded = DecodeOpenSshPrivateKey(Armoured(binary, width));
    ASSERT_TRUE(decoded.ok()) << decoded.status();
    EXPECT_EQ(*decoded, pair);
  }
  std::string no_final_newline = Encode(pair);
  no_final_newline.pop_back();
  EXPECT_TRUE(DecodeOpenSshPrivateKey(no_final_newline).ok());
}

TEST(DecodeOpenSshPrivateKeyTest, EncryptedKeysAreRefusedClearly) {
  auto decoded =
      DecodeOpenSshPrivateKey(Encode(Generated(GeneratedKeyType::kEd25519), kPassphrase));
  ASSERT_FALSE(decoded.ok());
  EXPECT_EQ(decoded.status().code(), absl::StatusCode::kUnimplemented);
  EXPECT_THAT(std::string(decoded.status().message()),
              HasSubstr("protected by a passphrase (cipher \"aes256-ctr\", KDF \"bcrypt\")"));
}

// A valid key file exactly at kMaxOpenSshPrivateKeyTextBytes decodes; the same file with its
// final newline, one byte more, does not. The comment length and line width are chosen so the
// sizes come out exactly.
TEST(DecodeOpenSshPrivateKeyTest, SizeLimitAtAndOnePast) {
  SshKeyPair pair = Generated(GeneratedKeyType::kEd25519);
  std::string past;
  for (size_t comment = 11600; comment < 12000 && past.empty(); comment += 8) {
    pair.comment = std::string(comment, 'c');
    const std::string binary = BinaryOf(Encode(pair));
    for (size_t width = 60; width <= kMaxOpenSshPrivateKeyLineChars; ++width) {
      const std::string text = Armoured(binary, width);
      if (text.size() == kMaxOpenSshPrivateKeyTextBytes + 1) {
        past = text;
        break;
      }
    }
  }
  ASSERT_FALSE(past.empty()) << "no comment length and width give a file of the limit's size";
  const std::string at_limit = past.substr(0, past.size() - 1);
  ASSERT_EQ(at_limit.size(), kMaxOpenSshPrivateKeyTextBytes);
  auto decoded = DecodeOpenSshPrivateKey(at_limit);
  ASSERT_TRUE(decoded.ok()) << decoded.status();
  EXPECT_EQ(*decoded, pair);
  auto too_big = DecodeOpenSshPrivateKey(past);
  ASSERT_FALSE(too_big.ok());
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_big.status().message()), HasSubstr("16385 bytes; at most 16384"));
}

// The parts of a key file's binary, to build damaged ones from a good one.
struct FileParts {
  std::string magic = kMagic;
  std::string cipher = "none", kdf = "none", kdf_options;
  uint32_t key_count = 1;
  std::string public_blob;
  uint32_t check1 = 0x01020304, check2 = 0x01020304;
  // With ed25519's 119 bytes of fields, this comment leaves 2 bytes of padding.
  std::string fields, comment = "car";
  std::optional<std::string> padding;  // default: 1, 2, 3, … to a multiple of 8
  std::string after_section;

  std::string Binary() const {
    std::string section = WireWriter().U32(check1).U32(check2).Raw(fields).String(comment).Take();
    if (padding) {
      section += *padding;
    } else {
      for (char pad = 1; section.size() % 8 != 0; ++pad) section.push_back(pad);
    }
    return WireWriter()
        .Raw(magic)
        .String(cipher)
        .String(kdf)
        .String(kdf_options)
        .U32(key_count)
        .String(public_blob)
        .String(section)
        .Raw(after_section)
        .Take();
  }
  std::string Text() const { return Armoured(Binary()); }
};

FileParts PartsOf(const SshKeyPair& pair) {
  FileParts parts;
  parts.public_blob = pair.public_blob;
  parts.fields = std::string(pair.private_fields.view());
  return parts;
}

// The fields of a pair's private section, each as read (strings and mpint magnitudes).
std::vector<std::string> FieldValues(const SshKeyPair& pair, size_t strings, size_t mpints) {
  WireReader r(pair.private_fields.view());
  std::vector<std::string> values;
  for (size_t i = 0; i < strings; ++i) values.emplace_back(*r.ReadString("s"));
  for (size_t i = 0; i < mpints; ++i) values.emplace_back(*r.ReadPositiveMpint("m"));
  return values;
}

std::string PlusOne(std::string magnitude) {
  for (size_t i = magnitude.size(); i-- > 0;) {
    if (++magnitude[i] != '\0') return magnitude;
  }
  return "\x01" + magnitude;
}

std::string Ed25519Fields(absl::string_view type, absl::string_view pub, absl::string_view priv) {
  return WireWriter().String(type).String(pub).String(priv).Take();
}

std::string EcdsaFields(absl::string_view curve, absl::string_view q, absl::string_view d_raw) {
  return WireWriter().String("ecdsa-sha2-nistp256").String(curve).String(q).String(d_raw).Take();
}

std::string RsaFields(std::vector<std::string> v) {  // type, n, e, d, iqmp, p, q
  WireWriter w;
  w.String(v[0]);
  for (size_t i = 1; i < v.size(); ++i) w.Mpint(v[i]);
  return w.Take();
}

std::string MpintBody(absl::string_view magnitude) {  // the string an mpint field holds
  const std::string field = WireWriter().Mpint(magnitude).Take();
  return field.substr(4);
}

// Base64 lines of one width with a last line wider than them (but within the limit).
std::string LastLineWider(absl::string_view binary) {
  const std::string base64 = Base64Encode(binary);
  for (size_t width = 40; width < kMaxOpenSshPrivateKeyLineChars; ++width) {
    const size_t rest = base64.size() % width;
    if (rest == 0 || width + rest > kMaxOpenSshPrivateKeyLineChars) continue;
    std::string text(kBegin);
    const size_t merged_from = base64.size() - width - rest;
    for (size_t i = 0; i < merged_from; i += width) {
      absl::StrAppend(&text, base64.substr(i, width), "\n");
    }
    absl::StrAppend(&text, base64.substr(merged_from), "\n", kEnd);
    return text;
  }
  ADD_FAILURE() << "no width leaves a last line that can be widened";
  return "";
}

struct BadRow {
  std::string name;
  std::string text;
  std::string reason;
  absl::StatusCode code = absl::StatusCode::kInvalidArgument;
};

std::vector<BadRow> BadRows() {
  const SshKeyPair& ed = Generated(GeneratedKeyType::kEd25519);
  const SshKeyPair& ec = Generated(GeneratedKeyType::kEcdsaP256);
  const SshKeyPair& rsa = Generated(GeneratedKeyType::kRsa3072);
  const std::string good = PartsOf(ed).Text();
  const std::vector<std::string> ed_v = FieldValues(ed, 3, 0);    // type, pub, priv
  const std::vector<std::string> ec_v = FieldValues(ec, 3, 1);    // type, curve, Q, d
  const std::vector<std::string> rsa_v = FieldValues(rsa, 1, 6);  // type, n, e, d, iqmp, p, q
  const std::string p256_order =
      absl::HexStringToBytes("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551");
  std::vector<BadRow> rows;
  auto add = [&rows](std::string name, std::string text, std::string reason) {
    rows.push_back({std::move(name), std::move(text), std::move(reason)});
  };
  auto with = [](const SshKeyPair& pair, auto change) {
    FileParts parts = PartsOf(pair);
    change(parts);
    return parts.Text();
  };
  auto replaced = [](std::string text, const std::string& from, const std::string& to) {
    const size_t at = text.find(from);
    return at == std::string::npos ? text : text.replace(at, from.size(), to);
  };
  std::string body_lines = good.substr(kBegin.size(), good.size() - kBegin.size() - kEnd.size());

  // Armour.
  add("empty", "", "first line must be exactly -----BEGIN OPENSSH PRIVATE KEY-----");
  add("PEM RSA label", replaced(replaced(good, "OPENSSH", "RSA"), "OPENSSH", "RSA"),
      "(for a key in another PEM format, ssh-keygen -p -f FILE rewrites it)");
  add("leading space", " " + good, "first line must be exactly");
  add("CRLF line ends", absl::StrReplaceAll(good, {{"\n", "\r\n"}}), "carriage return");
  add("no END line", good.substr(0, good.size() - kEnd.size()), "no line is exactly -----END");
  add("END line misspelt", replaced(good, "-----END OPENSSH", "-----END OPENSSL"),
      "no line is exactly -----END");
  add("text after END", good + "x\n", "text after the END line");
  add("blank line after END", good + "\n", "text after the END line");
  add("nothing between the lines", absl::StrCat(kBegin, kEnd), "no base64 between");
  add("blank line in the body", absl::StrCat(kBegin, "\n", body_lines, kEnd), "line 2 is empty");
  add("line over 76 characters", Armoured(BinaryOf(good), 80), "has 80 characters; at most 76");
  add("lines of two widths", replaced(good, "\n", "\nA\n"),
      "line 3 has 70 characters where line 2 has 1; base64 lines must be of one width");
  add("last line wider than the others", LastLineWider(BinaryOf(good)), "where line 2 has");
  add("character outside base64", replaced(good, "\nb3Bl", "\nb3B*"), "outside A-Z a-z 0-9");
  std::string short_base64 = good;
  short_base64.erase(good.size() - kEnd.size() - 2, 1);  // the last base64 character
  add("base64 not a multiple of 4", short_base64, "not a multiple of 4");

  // Header.
  add("wrong magic", with(ed, [](FileParts& p) { p.magic = std::string("openssh-key-v2\0", 15); }),
      "openssh-key-v1 magic");
  // The cipher name's first length byte then stands in for the NUL, and every field shifts.
  add("magic without its NUL", with(ed, [](FileParts& p) { p.magic = "openssh-key-v1"; }),
      "truncated in cipher name");
  add("only the magic", Armoured(kMagic), "truncated in cipher name");
  rows.push_back({"encrypted",
                  with(ed,
                       [](FileParts& p) {
                         p.cipher = "aes256-ctr";
                         p.kdf = "bcrypt";
                         p.kdf_options = WireWriter().String("saltsaltsaltsalt").U32(16).Take();
                       }),
                  "protected by a passphrase", absl::StatusCode::kUnimplemented});
  rows.push_back({"encrypted with another cipher",
                  with(ed,
                       [](FileParts& p) {
                         p.cipher = "chacha20-poly1305@openssh.com";
                         p.kdf = "bcrypt";
                       }),
                  "protected by a passphrase", absl::StatusCode::kUnimplemented});
  rows.push_back(
      {"cipher name with control bytes, quoted escaped and cut short",
       with(ed,
            [](FileParts& p) {
              p.cipher = "\x1b[31m" + std::string(100, 'x');
              p.kdf = "bcrypt";
            }),
       // 40 characters: the 5 of the escape sequence and 35 x.
       absl::StrCat("(cipher \"\\x1b[31m", std::string(35, 'x'), "...\", KDF \"bcrypt\")"),
       absl::StatusCode::kUnimplemented});
  add("KDF without cipher", with(ed, [](FileParts& p) { p.kdf = "bcrypt"; }),
      "cipher \"none\" with KDF \"bcrypt\" is inconsistent");
  add("cipher without KDF", with(ed, [](FileParts& p) { p.cipher = "aes256-ctr"; }),
      "cipher \"aes256-ctr\" with KDF \"none\" is inconsistent");
  add("KDF options without KDF", with(ed, [](FileParts& p) { p.kdf_options = "x"; }),
      "has KDF options but no KDF");
  add("no keys", with(ed, [](FileParts& p) { p.key_count = 0; }), "holds 0 keys");
  add("two keys", with(ed, [](FileParts& p) { p.key_count = 2; }), "holds 2 keys");
  add("bytes after the private section", with(ed, [](FileParts& p) { p.after_section = "x"; }),
      "1 unexpected trailing bytes");

  // Public key.
  add("unknown public key type",
      with(ed, [](FileParts& p) { p.public_blob = WireWriter().String("ssh-foo").Take(); }),
      "unknown key type \"ssh-foo\"");
  add("ECDSA P-384 key",
      with(ed,
           [](FileParts& p) {
             const std::vector<std::string> f =
                 absl::StrSplit(::keyfleet::testing::Vector("ecdsa384").line, ' ');
             p.public_blob = *Base64DecodeStrict(f[1]);
           }),
      "private keys of type ecdsa-sha2-nistp384 are not supported");
  add("certificate as public key",
      with(ed,
           [](FileParts& p) {
             const std::vector<std::string> f =
                 absl::StrSplit(::keyfleet::testing::Vector("u_ed-cert").line, ' ');
             p.public_blob = *Base64DecodeStrict(f[1]);
           }),
      "ssh-ed25519-cert-v01@openssh.com are not supported");

  // Private section framing.
  add("section not whole blocks", with(ed, [](FileParts& p) { p.padding = "\x01"; }),
      "not a multiple of the 8-byte block");
  add("check integers differ", with(ed, [](FileParts& p) { p.check2 ^= 1; }),
      "check integers differ");
  add("section ends inside the fields",
      with(ed, [](FileParts& p) { p.fields = WireWriter().String("ssh-ed25519").U32(200).Take(); }),
      "truncated in ed25519 public key");
  add("comment with NUL", with(ed, [](FileParts& p) { p.comment = std::string("a\0b", 3); }),
      "key comment contains a NUL byte");
  add("comment with line feed", with(ed, [](FileParts& p) { p.comment = "a\nb"; }),
      "key comment contains a line feed");
  add("comment starting with a space", with(ed, [](FileParts& p) { p.comment = " carol"; }),
      "key comment starts with whitespace");
  add("padding starting at 0",
      with(ed, [](FileParts& p) { p.padding = std::string("\x00\x01", 2); }),
      "padding byte 1 is 0, expected 1");
  add("padding with a stray byte",
      with(ed, [](FileParts& p) { p.padding = std::string("\x01\x07", 2); }),
      "padding byte 2 is 7, expected 2");
  add("a whole block of padding",
      with(ed,
           [](FileParts& p) {
             p.comment = "carol";  // needs no padding
             p.padding = std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8);
           }),
      "padding is 8 bytes; less than 8 expected");

  // ed25519 fields.
  add("private type differs",
      with(ed, [&](FileParts& p) { p.fields = Ed25519Fields("ssh-rsa", ed_v[1], ed_v[2]); }),
      "the key type in the private section differs from the public key type ssh-ed25519");
  add("ed25519 public key differs",
      with(ed, [&](FileParts& p) { p.fields = Ed25519Fields(ed_v[0], PlusOne(ed_v[1]), ed_v[2]); }),
      "differs from the file's public key");
  add("ed25519 private key 63 bytes",
      with(ed,
           [&](FileParts& p) { p.fields = Ed25519Fields(ed_v[0], ed_v[1], ed_v[2].substr(1)); }),
      "is 63 bytes, expected 64");
  add("ed25519 private key without its public key",
      with(ed, [&](FileParts& p) { p.fields = Ed25519Fields(ed_v[0], ed_v[1], PlusOne(ed_v[2])); }),
      "does not end with its public key");
  add("ed25519 seed of another key",
      with(ed,
           [&](FileParts& p) {
             std::string priv = ed_v[2];
             priv[0] ^= 1;
             p.fields = Ed25519Fields(ed_v[0], ed_v[1], priv);
           }),
      "seed does not belong to the public key");

  // ECDSA fields.
  add("ECDSA curve differs",
      with(ec,
           [&](FileParts& p) { p.fields = EcdsaFields("nistp384", ec_v[2], MpintBody(ec_v[3])); }),
      "differs from the file's public key");
  add("ECDSA scalar of another key",
      with(ec,
           [&](FileParts& p) {
             p.fields = EcdsaFields(ec_v[1], ec_v[2], MpintBody(PlusOne(ec_v[3])));
           }),
      "scalar does not belong to the public point");
  add("ECDSA scalar equal to the order",
      with(ec,
           [&](FileParts& p) { p.fields = EcdsaFields(ec_v[1], ec_v[2], MpintBody(p256_order)); }),
      "not below the group order");
  add("ECDSA scalar not canonical",
      with(ec,
           [&](FileParts& p) {
             p.fields = EcdsaFields(ec_v[1], ec_v[2], std::string(2, '\0') + ec_v[3]);
           }),
      "superfluous leading zero");
  add("ECDSA scalar zero",
      with(ec, [&](FileParts& p) { p.fields = EcdsaFields(ec_v[1], ec_v[2], ""); }),
      "ECDSA private scalar is zero");

  // RSA fields: type, n, e, d, iqmp, p, q.
  auto rsa_with = [&](size_t index, std::string value) {
    std::vector<std::string> v = rsa_v;
    v[index] = std::move(value);
    return with(rsa, [&](FileParts& p) { p.fields = RsaFields(v); });
  };
  add("RSA modulus differs", rsa_with(1, PlusOne(PlusOne(rsa_v[1]))),
      "differs from the file's public key");
  add("RSA exponent differs", rsa_with(2, "\x01\x00\x03"), "differs from the file's public key");
  add("RSA d of another key", rsa_with(3, PlusOne(PlusOne(rsa_v[3]))),
      "private exponent does not invert the public exponent");
  add("RSA d not below n", rsa_with(3, rsa_v[1]), "private exponent is not below the modulus");
  add("RSA iqmp wrong", rsa_with(4, PlusOne(rsa_v[4])), "iqmp is not the inverse of q modulo p");
  add("RSA iqmp not below p", rsa_with(4, rsa_v[5]), "iqmp is not below p");
  add("RSA p of another key", rsa_with(5, PlusOne(PlusOne(rsa_v[5]))),
      "p and q do not multiply to the modulus");
  add("RSA p is 1", rsa_with(5, "\x01"), "p or q is 1");
  add("RSA q cut short",
      with(rsa,
           [&](FileParts& p) {
             std::vector<std::string> v = rsa_v;
             v.pop_back();
             p.fields = RsaFields(v) + WireWriter().U32(100000).Take();
           }),
      "truncated in RSA prime q");
  return rows;
}

TEST(DecodeOpenSshPrivateKeyTest, BadInputsAreRefusedWithTheirReason) {
  // The base the rows damage decodes.
  auto base = DecodeOpenSshPrivateKey(PartsOf(Generated(GeneratedKeyType::kEd25519)).Text());
  ASSERT_TRUE(base.ok()) << base.status();
  for (const BadRow& row : BadRows()) {
    SCOPED_TRACE(row.name);
    auto decoded = DecodeOpenSshPrivateKey(row.text);
    ASSERT_FALSE(decoded.ok());
    EXPECT_EQ(decoded.status().code(), row.code) << decoded.status();
    EXPECT_THAT(std::string(decoded.status().message()), HasSubstr(row.reason));
  }
}

}  // namespace
}  // namespace keyfleet
