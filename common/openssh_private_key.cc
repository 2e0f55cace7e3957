#include "common/openssh_private_key.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <string>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/base64.h"
#include "common/bcrypt_pbkdf.h"
#include "common/ssh_wire.h"
#include "common/status_macros.h"

namespace keyfleet {
namespace {

constexpr absl::string_view kBeginLine = "-----BEGIN OPENSSH PRIVATE KEY-----";
constexpr absl::string_view kEndLine = "-----END OPENSSH PRIVATE KEY-----";
constexpr absl::string_view kMagic("openssh-key-v1\0", 15);  // AUTH_MAGIC, with its NUL
constexpr absl::string_view kNone = "none";
constexpr absl::string_view kCipherAes256Ctr = "aes256-ctr";
constexpr absl::string_view kKdfBcrypt = "bcrypt";
constexpr size_t kUnencryptedBlockBytes = 8;  // OpenSSH's block size for cipher "none"
constexpr size_t kAesBlockBytes = 16;
constexpr size_t kAes256KeyBytes = 32;
constexpr size_t kAesIvBytes = 16;

// ---- Writing ---------------------------------------------------------------------------------

absl::StatusOr<uint32_t> RandomU32(RandomSource& random) {
  uint8_t b[4];
  KF_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(b)));
  return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
}

absl::Status Aes256CtrInPlace(const SecretBytes& key_and_iv, SecretBytes* data) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int out_len = 0, final_len = 0;
  const bool ok = ctx != nullptr &&
                  EVP_EncryptInit_ex(ctx, EVP_aes_256_ctr(), nullptr,
                                     reinterpret_cast<const uint8_t*>(key_and_iv.view().data()),
                                     reinterpret_cast<const uint8_t*>(key_and_iv.view().data()) +
                                         kAes256KeyBytes) == 1 &&
                  EVP_EncryptUpdate(ctx, data->data(), &out_len, data->data(),
                                    static_cast<int>(data->size())) == 1 &&
                  EVP_EncryptFinal_ex(ctx, data->data() + out_len, &final_len) == 1 &&
                  static_cast<size_t>(out_len + final_len) == data->size();
  EVP_CIPHER_CTX_free(ctx);  // also wipes the key schedule
  if (ok) return absl::OkStatus();
  ERR_clear_error();
  return absl::InternalError("aes256-ctr encryption of the private key failed in OpenSSL");
}

// The key file text around `binary`: base64 in lines of kOpenSshPrivateKeyLineChars.
SecretBytes Armour(absl::string_view binary) {
  std::string base64 = Base64Encode(binary);
  SecretBytes text;
  text.Append(kBeginLine).Append("\n");
  for (size_t i = 0; i < base64.size(); i += kOpenSshPrivateKeyLineChars) {
    text.Append(absl::string_view(base64).substr(i, kOpenSshPrivateKeyLineChars)).Append("\n");
  }
  text.Append(kEndLine).Append("\n");
  OPENSSL_cleanse(base64.data(), base64.size());
  return text;
}

// ---- Reading ---------------------------------------------------------------------------------

absl::Status KeyFileError(absl::string_view reason) {
  return absl::InvalidArgumentError(absl::StrCat("OpenSSH private key: ", reason));
}

// A name from the file for an error message: escaped and cut short, since it is untrusted.
std::string Quoted(absl::string_view name) {
  constexpr size_t kMaxQuotedChars = 40;
  return absl::StrCat("\"", absl::CHexEscape(name.substr(0, kMaxQuotedChars)),
                      name.size() > kMaxQuotedChars ? "...\"" : "\"");
}

// The base64 body, joined, after checking the lines around and within it.
absl::StatusOr<SecretBytes> Unarmour(absl::string_view text) {
  if (text.find('\r') != absl::string_view::npos) {
    return KeyFileError("has a carriage return (CRLF line ends?); lines must end in LF only");
  }
  std::vector<absl::string_view> lines = absl::StrSplit(text, '\n');
  if (!lines.empty() && lines.back().empty()) lines.pop_back();  // the one final "\n"
  if (lines.empty() || lines.front() != kBeginLine) {
    const bool other_pem = !lines.empty() && absl::StartsWith(lines.front(), "-----BEGIN ");
    return KeyFileError(absl::StrCat(
        "the first line must be exactly ", kBeginLine,
        other_pem ? " (for a key in another PEM format, ssh-keygen -p -f FILE rewrites it)" : ""));
  }
  size_t end = 1;
  while (end < lines.size() && lines[end] != kEndLine) ++end;
  if (end == lines.size()) {
    return KeyFileError(absl::StrCat("no line is exactly ", kEndLine));
  }
  if (end + 1 != lines.size()) return KeyFileError("has text after the END line");
  if (end == 1) return KeyFileError("has no base64 between the BEGIN and END lines");
  const size_t width = lines[1].size();
  SecretBytes body;
  for (size_t i = 1; i < end; ++i) {
    const size_t size = lines[i].size();
    if (size == 0) return KeyFileError(absl::StrCat("line ", i + 1, " is empty"));
    if (size > kMaxOpenSshPrivateKeyLineChars) {
      return KeyFileError(absl::StrCat("line ", i + 1, " has ", size, " characters; at most ",
                                       kMaxOpenSshPrivateKeyLineChars, " allowed"));
    }
    const bool last = i + 1 == end;
    if (last ? size > width : size != width) {
      return KeyFileError(absl::StrCat("line ", i + 1, " has ", size,
                                       " characters where line 2 has ", width,
                                       "; base64 lines must be of one width"));
    }
    body.Append(lines[i]);
  }
  absl::StatusOr<std::string> binary = Base64DecodeStrict(body.view());
  if (!binary.ok()) return KeyFileError(binary.status().message());
  SecretBytes out(*binary);
  OPENSSL_cleanse(binary->data(), binary->size());
  return out;
}

absl::Status CheckPadding(absl::string_view padding) {
  if (padding.size() >= kUnencryptedBlockBytes) {
    return KeyFileError(absl::StrCat("padding is ", padding.size(), " bytes; less than ",
                                     kUnencryptedBlockBytes, " expected"));
  }
  for (size_t i = 0; i < padding.size(); ++i) {
    if (size_t{static_cast<uint8_t>(padding[i])} != i + 1) {
      return KeyFileError(absl::StrCat("padding byte ", i + 1, " is ",
                                       static_cast<int>(static_cast<uint8_t>(padding[i])),
                                       ", expected ", i + 1, " (bytes after the comment?)"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status OpenSslRandomSource::Fill(absl::Span<uint8_t> out) {
  if (out.empty()) return absl::OkStatus();
  if (RAND_bytes(out.data(), static_cast<int>(out.size())) == 1) return absl::OkStatus();
  ERR_clear_error();
  return absl::UnavailableError("OpenSSL's random generator (RAND_bytes) failed");
}

absl::StatusOr<SecretBytes> EncodeOpenSshPrivateKey(const SshKeyPair& pair,
                                                    std::optional<absl::string_view> passphrase,
                                                    RandomSource& random) {
  KF_RETURN_IF_ERROR(ValidateSshKeyPair(pair));
  if (passphrase.has_value() && passphrase->empty()) {
    return absl::InvalidArgumentError(
        "the passphrase is empty; give none to write the key unencrypted");
  }
  const bool encrypt = passphrase.has_value();
  KF_ASSIGN_OR_RETURN(const uint32_t check, RandomU32(random));

  // The two equal check integers let a reader tell a wrong passphrase from a damaged file.
  SecretBytes section;
  section.AppendU32(check)
      .AppendU32(check)
      .Append(pair.private_fields.view())
      .AppendString(pair.comment);
  const size_t block = encrypt ? kAesBlockBytes : kUnencryptedBlockBytes;
  for (uint8_t pad = 1; section.size() % block != 0; ++pad) {
    section.Append(absl::string_view(reinterpret_cast<const char*>(&pad), 1));
  }

  WireWriter header;
  header.Raw(kMagic);
  if (!encrypt) {
    header.String(kNone).String(kNone).String("");
  } else {
    uint8_t salt[kOpenSshKdfSaltBytes];
    KF_RETURN_IF_ERROR(random.Fill(absl::MakeSpan(salt)));
    const absl::string_view salt_view(reinterpret_cast<const char*>(salt), sizeof(salt));
    SecretBytes key_and_iv;
    key_and_iv.resize(kAes256KeyBytes + kAesIvBytes);
    KF_RETURN_IF_ERROR(BcryptPbkdf(*passphrase, salt_view, kOpenSshKdfRounds,
                                   absl::MakeSpan(key_and_iv.data(), key_and_iv.size())));
    KF_RETURN_IF_ERROR(Aes256CtrInPlace(key_and_iv, &section));
    header.String(kCipherAes256Ctr)
        .String(kKdfBcrypt)
        .String(WireWriter().String(salt_view).U32(kOpenSshKdfRounds).Take());
  }
  header.U32(1).String(pair.public_blob).U32(static_cast<uint32_t>(section.size()));
  SecretBytes binary(header.bytes());
  binary.Append(section.view());
  return Armour(binary.view());
}

absl::StatusOr<SecretBytes> EncodeOpenSshPrivateKey(const SshKeyPair& pair,
                                                    std::optional<absl::string_view> passphrase) {
  OpenSslRandomSource random;
  return EncodeOpenSshPrivateKey(pair, passphrase, random);
}

absl::StatusOr<SshKeyPair> DecodeOpenSshPrivateKey(absl::string_view text) {
  if (text.size() > kMaxOpenSshPrivateKeyTextBytes) {
    return KeyFileError(absl::StrCat("is ", text.size(), " bytes; at most ",
                                     kMaxOpenSshPrivateKeyTextBytes, " allowed"));
  }
  KF_ASSIGN_OR_RETURN(const SecretBytes binary, Unarmour(text));
  if (binary.view().substr(0, kMagic.size()) != kMagic) {
    return KeyFileError("does not start with the openssh-key-v1 magic");
  }
  WireReader r(binary.view().substr(kMagic.size()));
  KF_ASSIGN_OR_RETURN(absl::string_view cipher, r.ReadCString("cipher name"));
  KF_ASSIGN_OR_RETURN(absl::string_view kdf, r.ReadCString("KDF name"));
  KF_ASSIGN_OR_RETURN(absl::string_view kdf_options, r.ReadString("KDF options"));
  if (cipher != kNone && kdf != kNone) {
    return absl::UnimplementedError(absl::StrCat(
        "OpenSSH private key is protected by a passphrase (cipher ", Quoted(cipher), ", KDF ",
        Quoted(kdf),
        "); only unencrypted keys can be read: remove the passphrase with ssh-keygen -p first"));
  }
  if (cipher != kNone || kdf != kNone) {
    return KeyFileError(absl::StrCat("cipher ", Quoted(cipher), " with KDF ", Quoted(kdf),
                                     " is inconsistent: both or neither must be \"none\""));
  }
  if (!kdf_options.empty()) return KeyFileError("has KDF options but no KDF");
  KF_ASSIGN_OR_RETURN(const uint32_t key_count, r.ReadU32("number of keys"));
  if (key_count != 1) {
    return KeyFileError(absl::StrCat("holds ", key_count, " keys; exactly 1 is supported"));
  }
  KF_ASSIGN_OR_RETURN(absl::string_view public_blob, r.ReadString("public key"));
  KF_ASSIGN_OR_RETURN(absl::string_view section, r.ReadString("private section"));
  KF_RETURN_IF_ERROR(r.ExpectEnd("OpenSSH private key"));
  if (section.size() % kUnencryptedBlockBytes != 0) {
    return KeyFileError(absl::StrCat("private section is ", section.size(),
                                     " bytes, not a multiple of the ", kUnencryptedBlockBytes,
                                     "-byte block"));
  }

  WireReader s(section);
  KF_ASSIGN_OR_RETURN(const uint32_t check1, s.ReadU32("check integers"));
  KF_ASSIGN_OR_RETURN(const uint32_t check2, s.ReadU32("check integers"));
  if (check1 != check2) return KeyFileError("check integers differ (the key file is damaged)");
  const size_t fields_start = s.Position();
  KF_ASSIGN_OR_RETURN(const KeyType type, ReadPrivateKeyFields(s, public_blob));
  const absl::string_view fields = section.substr(fields_start, s.Position() - fields_start);
  KF_ASSIGN_OR_RETURN(absl::string_view comment, s.ReadCString("key comment"));
  KF_RETURN_IF_ERROR(ValidateKeyComment(comment));
  KF_RETURN_IF_ERROR(CheckPadding(s.Remaining()));

  SshKeyPair pair;
  pair.type = type;
  pair.public_blob = std::string(public_blob);
  pair.private_fields = SecretBytes(fields);
  pair.comment = std::string(comment);
  return pair;
}

}  // namespace keyfleet
