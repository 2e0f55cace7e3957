// SSH key pairs for `keyfleet key generate`: made with OpenSSL, held in the field layout of
// OpenSSH's private key format (PROTOCOL.key), and checked when they come from elsewhere.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/ssh_key_type.h"
#include "common/ssh_public_key.h"
#include "common/ssh_wire.h"

namespace keyfleet {

namespace internal {
// OPENSSL_cleanse, kept out of this header so callers need not include OpenSSL.
void CleanseMemory(void* p, size_t bytes);
}  // namespace internal

// An allocator that wipes memory before freeing it, so the buffers a growing string leaves
// behind are wiped too, not only the last one.
template <typename T>
struct CleansingAllocator {
  using value_type = T;
  using is_always_equal = std::true_type;
  CleansingAllocator() = default;
  template <typename U>
  CleansingAllocator(const CleansingAllocator<U>&) {}  // NOLINT: implicit, as allocators are
  T* allocate(size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, size_t n) {
    internal::CleanseMemory(p, n * sizeof(T));
    std::allocator<T>().deallocate(p, n);
  }
  template <typename U>
  bool operator==(const CleansingAllocator<U>&) const {
    return true;
  }
  template <typename U>
  bool operator!=(const CleansingAllocator<U>&) const {
    return false;
  }
};

// Private key material, or anything derived from a passphrase: wiped (OPENSSL_cleanse) when
// destroyed and whenever growth moves it. The Append* writers produce SSH wire fields as
// WireWriter does for public data.
class SecretBytes {
 public:
  SecretBytes() = default;
  explicit SecretBytes(absl::string_view bytes) : bytes_(bytes.data(), bytes.size()) {}
  SecretBytes(const SecretBytes&) = default;
  SecretBytes(SecretBytes&&) = default;
  SecretBytes& operator=(const SecretBytes&) = default;
  SecretBytes& operator=(SecretBytes&&) = default;
  // Wipes the whole capacity: a short string lives inside the object, not on the heap.
  ~SecretBytes() { internal::CleanseMemory(bytes_.data(), bytes_.capacity()); }

  absl::string_view view() const { return absl::string_view(bytes_.data(), bytes_.size()); }
  size_t size() const { return bytes_.size(); }
  bool empty() const { return bytes_.empty(); }
  uint8_t* data() { return reinterpret_cast<uint8_t*>(bytes_.data()); }
  // New bytes are zero.
  void resize(size_t size) { bytes_.resize(size); }

  SecretBytes& Append(absl::string_view bytes);
  SecretBytes& AppendU32(uint32_t v);
  // A length-prefixed string.
  SecretBytes& AppendString(absl::string_view s);
  // `magnitude` (big-endian, no leading zero bytes) as a positive mpint (RFC 4251).
  SecretBytes& AppendMpint(absl::string_view magnitude);

  friend bool operator==(const SecretBytes& a, const SecretBytes& b) {
    return a.view() == b.view();
  }
  friend bool operator!=(const SecretBytes& a, const SecretBytes& b) { return !(a == b); }

 private:
  std::basic_string<char, std::char_traits<char>, CleansingAllocator<char>> bytes_;
};

// The key types keyfleet generates, by the names the CLI takes.
enum class GeneratedKeyType : uint8_t { kEd25519, kEcdsaP256, kRsa3072 };

inline constexpr uint32_t kGeneratedRsaModulusBits = 3072;
inline constexpr uint32_t kGeneratedRsaPublicExponent = 65537;

// "ed25519", "ecdsa-p256" or "rsa-3072" (exact, case-sensitive); INVALID_ARGUMENT naming the
// allowed names for anything else.
absl::StatusOr<GeneratedKeyType> ParseGeneratedKeyType(absl::string_view name);
// The CLI name, e.g. "ecdsa-p256".
absl::string_view GeneratedKeyTypeName(GeneratedKeyType type);
// Every generated type, in enum order.
const std::vector<GeneratedKeyType>& AllGeneratedKeyTypes();
// The SSH key type it produces: kEd25519, kEcdsaP256 or kRsa.
KeyType SshKeyTypeOf(GeneratedKeyType type);

// A key pair as an OpenSSH private key file holds it.
struct SshKeyPair {
  KeyType type = KeyType::kEd25519;  // kEd25519, kEcdsaP256 or kRsa
  std::string public_blob;           // the wire blob, as a .pub line has it in base64
  // The key's fields in the file's private section, from the type string to the last key
  // field (no check integers, comment or padding), as PROTOCOL.key lays them out:
  //   ssh-ed25519:          string type, string pub (32), string seed (32) || pub (32)
  //   ecdsa-sha2-nistp256:  string type, string "nistp256", string Q (65, uncompressed), mpint d
  //   ssh-rsa:              string type, mpint n, mpint e, mpint d, mpint iqmp, mpint p, mpint q
  // where iqmp = q^-1 mod p and every mpint is RFC 4251's (a leading zero byte when the high
  // bit is set).
  SecretBytes private_fields;
  std::string comment;

  bool operator==(const SshKeyPair& other) const {
    return type == other.type && public_blob == other.public_blob &&
           private_fields == other.private_fields && comment == other.comment;
  }
  bool operator!=(const SshKeyPair& other) const { return !(*this == other); }
};

// A fresh key pair from OpenSSL's default random generator (rsa-3072: e = 65537). The comment
// must pass ValidateKeyComment (INVALID_ARGUMENT otherwise); INTERNAL if OpenSSL fails.
absl::StatusOr<SshKeyPair> GenerateSshKeyPair(GeneratedKeyType type, absl::string_view comment);

// The public half with the pair's comment, through ParsePublicKeyBlob: what RenderPublicKey
// writes to the .pub file and what Fingerprint hashes.
absl::StatusOr<PublicKey> SshKeyPairPublicKey(const SshKeyPair& pair);

// Reads one key's private fields (the layout above) from `reader` and checks them strictly:
// `public_blob` passes ParsePublicKeyBlob and is of one of the three types above; the type
// string equals its type; the public fields reproduce it byte for byte; every mpint is
// canonical; and the private half belongs to the public one (ed25519: the seed derives the
// public key, which also ends the 64-byte private key; ECDSA: 0 < d < order and d·G = Q; RSA:
// n = p·q, e·d ≡ 1 mod p-1 and mod q-1, d < n, iqmp < p and iqmp·q ≡ 1 mod p).
// INVALID_ARGUMENT with the reason otherwise (never quoting secret bytes); INTERNAL if OpenSSL
// fails. Returns the key type.
absl::StatusOr<KeyType> ReadPrivateKeyFields(WireReader& reader, absl::string_view public_blob);

// Checks a whole pair: its private fields as ReadPrivateKeyFields does, with nothing after
// them, its type equal to the blob's, its comment by ValidateKeyComment. For pairs that did not
// come from GenerateSshKeyPair.
absl::Status ValidateSshKeyPair(const SshKeyPair& pair);

}  // namespace keyfleet
