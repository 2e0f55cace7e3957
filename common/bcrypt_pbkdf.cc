// OpenSSL has no bcrypt_pbkdf, and its Blowfish API cannot run the expensive key schedule
// (Eksblowfish's salted expandstate) that bcrypt needs, so both are implemented here, following
// OpenBSD's bcrypt_pbkdf.c and blowfish.c (also carried by OpenSSH as openbsd-compat).
#include "common/bcrypt_pbkdf.h"

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"

namespace keyfleet {
namespace {

constexpr size_t kBlowfishRounds = 16;
constexpr size_t kPWords = kBlowfishRounds + 2;
constexpr size_t kSBoxWords = 256;

struct BlowfishState {
  uint32_t p[kPWords];
  uint32_t s[4][kSBoxWords];
};

// ---- Blowfish's initial state: the hexadecimal fraction digits of pi ----------------------------

constexpr size_t kPiWords = kPWords + 4 * kSBoxWords;  // 1042
constexpr int kPiBits = static_cast<int>(kPiWords * 32);
// Two truncating divisions and the series' tail are each off by under one unit.
constexpr int kPiGuardBits = 64;

struct BnFree {
  void operator()(BIGNUM* bn) const { BN_free(bn); }
};
struct BnCtxFree {
  void operator()(BN_CTX* ctx) const { BN_CTX_free(ctx); }
};
using BnPtr = std::unique_ptr<BIGNUM, BnFree>;

// Runs of terms this short are summed directly rather than split further.
constexpr BN_ULONG kArctanLeafTerms = 32;

// Terms [lo, hi) of sum_k (-1)^k / ((2k+1) x^2k) as T / (B Q), with sign = (-1)^(terms after
// the first), by binary splitting (Haible and Papanikolaou): a few large multiplications instead
// of the thousands of long divisions term-by-term summing needs (about 50 ms here).
struct ArctanSplit {
  int sign = 1;
  BnPtr q, b, t;
};

bool SplitArctanSeries(BN_ULONG x, BN_ULONG lo, BN_ULONG hi, BN_CTX* ctx, ArctanSplit* out) {
  out->q.reset(BN_new());
  out->b.reset(BN_new());
  out->t.reset(BN_new());
  if (!out->q || !out->b || !out->t) return false;
  if (hi - lo <= kArctanLeafTerms) {
    // Few terms: append them one at a time with word operations (T = (2k+1) q_k T + P B p_k,
    // B *= 2k+1, Q *= q_k), which is cheaper than a node per term.
    out->sign = 1;
    BN_zero(out->t.get());
    if (!BN_one(out->q.get()) || !BN_one(out->b.get())) return false;
    for (BN_ULONG k = lo; k < hi; ++k) {
      const BN_ULONG q_k = k == 0 ? 1 : x * x;
      const int p_k = k == 0 ? 1 : -1;
      if (!BN_mul_word(out->t.get(), (2 * k + 1) * q_k)) return false;
      const bool add = out->sign * p_k > 0;
      if (!(add ? BN_add(out->t.get(), out->t.get(), out->b.get())
                : BN_sub(out->t.get(), out->t.get(), out->b.get())) ||
          !BN_mul_word(out->b.get(), 2 * k + 1) || !BN_mul_word(out->q.get(), q_k)) {
        return false;
      }
      out->sign *= p_k;
    }
    return true;
  }
  const BN_ULONG mid = lo + (hi - lo) / 2;
  ArctanSplit left, right;
  if (!SplitArctanSeries(x, lo, mid, ctx, &left) || !SplitArctanSeries(x, mid, hi, ctx, &right)) {
    return false;
  }
  // T = B_r Q_r T_l + P_l B_l T_r; B = B_l B_r; Q = Q_l Q_r.
  BnPtr rest(BN_new());
  if (!rest || !BN_mul(out->t.get(), right.b.get(), right.q.get(), ctx) ||
      !BN_mul(out->t.get(), out->t.get(), left.t.get(), ctx) ||
      !BN_mul(rest.get(), left.b.get(), right.t.get(), ctx)) {
    return false;
  }
  if (left.sign < 0) BN_set_negative(rest.get(), !BN_is_negative(rest.get()));
  out->sign = left.sign * right.sign;
  return BN_add(out->t.get(), out->t.get(), rest.get()) &&
         BN_mul(out->b.get(), left.b.get(), right.b.get(), ctx) &&
         BN_mul(out->q.get(), left.q.get(), right.q.get(), ctx);
}

// out = multiplier * arctan(1/x) * 2^scale_bits, truncated. False only when OpenSSL fails.
bool ScaledArctanOfInverse(BN_ULONG x, BN_ULONG multiplier, int scale_bits, BN_CTX* ctx,
                           BIGNUM* out) {
  // Enough terms that the first one left out is below 2^-scale_bits.
  const auto terms = static_cast<BN_ULONG>(scale_bits / (2 * std::log2(double(x)))) + 2;
  ArctanSplit sum;
  BnPtr denominator(BN_new());
  if (!denominator || !SplitArctanSeries(x, 0, terms, ctx, &sum)) return false;
  // arctan(1/x) = T / (B Q x)
  return BN_mul_word(sum.t.get(), multiplier) && BN_lshift(sum.t.get(), sum.t.get(), scale_bits) &&
         BN_mul(denominator.get(), sum.b.get(), sum.q.get(), ctx) &&
         BN_mul_word(denominator.get(), x) &&
         BN_div(out, nullptr, sum.t.get(), denominator.get(), ctx);
}

// Computed rather than pasted as a 4 KiB table: a table typo would silently give wrong keys,
// while a wrong computation fails the anchor check below. Machin's formula,
// pi = 16 arctan(1/5) - 4 arctan(1/239).
bool ComputePiState(BlowfishState* state) {
  std::unique_ptr<BN_CTX, BnCtxFree> ctx(BN_CTX_new());
  BnPtr pi(BN_new()), minus(BN_new());
  const int scale = kPiBits + kPiGuardBits;
  if (!ctx || !pi || !minus || !ScaledArctanOfInverse(5, 16, scale, ctx.get(), pi.get()) ||
      !ScaledArctanOfInverse(239, 4, scale, ctx.get(), minus.get()) ||
      !BN_sub(pi.get(), pi.get(), minus.get()) || !BN_rshift(pi.get(), pi.get(), kPiGuardBits) ||
      !BN_mask_bits(pi.get(), kPiBits)) {
    return false;
  }
  std::array<uint8_t, kPiWords * 4> bytes;
  if (BN_bn2binpad(pi.get(), bytes.data(), static_cast<int>(bytes.size())) < 0) return false;
  uint32_t words[kPiWords];
  for (size_t i = 0; i < kPiWords; ++i) {
    const uint8_t* b = &bytes[4 * i];
    words[i] = (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }
  std::memcpy(state->p, words, sizeof(state->p));
  std::memcpy(state->s, words + kPWords, sizeof(state->s));
  // Published values (Schneier's tables) at both ends and the P/S seam.
  return state->p[0] == 0x243F6A88 && state->p[17] == 0x8979FB1B && state->s[0][0] == 0xD1310BA6 &&
         state->s[3][255] == 0x3AC372E6;
}

// nullptr if the digits could not be computed (out of memory, or a broken computation).
const BlowfishState* InitialBlowfishState() {
  static const BlowfishState* const state = [] {
    auto* s = new BlowfishState;
    if (ComputePiState(s)) return static_cast<const BlowfishState*>(s);
    delete s;
    return static_cast<const BlowfishState*>(nullptr);
  }();
  return state;
}

// ---- Blowfish and its expensive key schedule ------------------------------------------------

inline uint32_t Feistel(const BlowfishState& c, uint32_t x) {
  return ((c.s[0][x >> 24] + c.s[1][(x >> 16) & 0xff]) ^ c.s[2][(x >> 8) & 0xff]) +
         c.s[3][x & 0xff];
}

void Encipher(const BlowfishState& c, uint32_t* left, uint32_t* right) {
  uint32_t l = *left ^ c.p[0];
  uint32_t r = *right;
  for (size_t i = 1; i <= kBlowfishRounds; i += 2) {
    r ^= Feistel(c, l) ^ c.p[i];
    l ^= Feistel(c, r) ^ c.p[i + 1];
  }
  *left = r ^ c.p[kBlowfishRounds + 1];
  *right = l;
}

// Big-endian 32-bit words taken cyclically from a byte string (Blowfish_stream2word).
class CyclicWords {
 public:
  CyclicWords(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  uint32_t Next() {
    uint32_t word = 0;
    for (int i = 0; i < 4; ++i) {
      if (pos_ >= size_) pos_ = 0;
      word = (word << 8) | data_[pos_++];
    }
    return word;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
};

// Blowfish_expandstate when `salt` is given, Blowfish_expand0state when it is null: mixes the
// key into P, then re-keys P and the S-boxes with the chained encryptions, each block first
// XORed with salt words.
void ExpandState(BlowfishState* c, const uint8_t* key, size_t key_size, const uint8_t* salt,
                 size_t salt_size) {
  CyclicWords key_words(key, key_size);
  for (uint32_t& p : c->p) p ^= key_words.Next();
  CyclicWords salt_words(salt, salt_size);
  uint32_t left = 0, right = 0;
  auto next_block = [&](uint32_t* out) {
    if (salt != nullptr) {
      left ^= salt_words.Next();
      right ^= salt_words.Next();
    }
    Encipher(*c, &left, &right);
    out[0] = left;
    out[1] = right;
  };
  for (size_t i = 0; i < kPWords; i += 2) next_block(&c->p[i]);
  for (auto& box : c->s) {
    for (size_t i = 0; i < kSBoxWords; i += 2) next_block(&box[i]);
  }
}

// ---- bcrypt_pbkdf ---------------------------------------------------------------------------

constexpr size_t kHashBytes = 32;  // BCRYPT_HASHSIZE
constexpr size_t kHashWords = kHashBytes / 4;
constexpr int kExpansionRounds = 64;
constexpr char kBcryptText[] = "OxychromaticBlowfishSwatDynamite";
static_assert(sizeof(kBcryptText) - 1 == kHashBytes);

// OpenBSD's bcrypt_hash: Eksblowfish keyed with the hashed passphrase and salt, then 64
// encryptions of a fixed text. Output words are little-endian, as there.
void BcryptHash(const BlowfishState& initial, const uint8_t* sha2pass, const uint8_t* sha2salt,
                uint8_t* out) {
  BlowfishState state = initial;
  ExpandState(&state, sha2pass, SHA512_DIGEST_LENGTH, sha2salt, SHA512_DIGEST_LENGTH);
  for (int i = 0; i < kExpansionRounds; ++i) {
    ExpandState(&state, sha2salt, SHA512_DIGEST_LENGTH, nullptr, 0);
    ExpandState(&state, sha2pass, SHA512_DIGEST_LENGTH, nullptr, 0);
  }
  uint32_t cdata[kHashWords];
  CyclicWords text(reinterpret_cast<const uint8_t*>(kBcryptText), kHashBytes);
  for (uint32_t& w : cdata) w = text.Next();
  for (int i = 0; i < kExpansionRounds; ++i) {
    for (size_t w = 0; w < kHashWords; w += 2) Encipher(state, &cdata[w], &cdata[w + 1]);
  }
  for (size_t i = 0; i < kHashWords; ++i) {
    out[4 * i + 0] = static_cast<uint8_t>(cdata[i]);
    out[4 * i + 1] = static_cast<uint8_t>(cdata[i] >> 8);
    out[4 * i + 2] = static_cast<uint8_t>(cdata[i] >> 16);
    out[4 * i + 3] = static_cast<uint8_t>(cdata[i] >> 24);
  }
  OPENSSL_cleanse(&state, sizeof(state));
  OPENSSL_cleanse(cdata, sizeof(cdata));
}

// SHA-512 of a || b. False only when OpenSSL fails.
bool Sha512(absl::string_view a, absl::string_view b, uint8_t* digest) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = ctx != nullptr && EVP_DigestInit_ex(ctx, EVP_sha512(), nullptr) == 1 &&
                  EVP_DigestUpdate(ctx, a.data(), a.size()) == 1 &&
                  EVP_DigestUpdate(ctx, b.data(), b.size()) == 1 &&
                  EVP_DigestFinal_ex(ctx, digest, nullptr) == 1;
  EVP_MD_CTX_free(ctx);  // also cleanses the context
  return ok;
}

absl::string_view View(const uint8_t* bytes, size_t size) {
  return absl::string_view(reinterpret_cast<const char*>(bytes), size);
}

// Wipes the intermediate secrets however BcryptPbkdf returns.
struct PbkdfScratch {
  uint8_t sha2pass[SHA512_DIGEST_LENGTH];
  uint8_t sha2salt[SHA512_DIGEST_LENGTH];
  uint8_t out[kHashBytes];
  uint8_t tmpout[kHashBytes];
  ~PbkdfScratch() { OPENSSL_cleanse(this, sizeof(*this)); }
};

}  // namespace

absl::Status BcryptPbkdf(absl::string_view passphrase, absl::string_view salt, uint32_t rounds,
                         absl::Span<uint8_t> out) {
  if (passphrase.empty()) return absl::InvalidArgumentError("bcrypt_pbkdf: passphrase is empty");
  if (salt.empty()) return absl::InvalidArgumentError("bcrypt_pbkdf: salt is empty");
  if (salt.size() > kBcryptPbkdfMaxSaltBytes) {
    return absl::InvalidArgumentError(absl::StrCat("bcrypt_pbkdf: salt is ", salt.size(),
                                                   " bytes, at most ", kBcryptPbkdfMaxSaltBytes,
                                                   " allowed"));
  }
  if (rounds == 0) return absl::InvalidArgumentError("bcrypt_pbkdf: rounds must be at least 1");
  if (out.empty() || out.size() > kBcryptPbkdfMaxOutputBytes) {
    return absl::InvalidArgumentError(absl::StrCat("bcrypt_pbkdf: output of ", out.size(),
                                                   " bytes requested; 1 to ",
                                                   kBcryptPbkdfMaxOutputBytes, " allowed"));
  }
  const BlowfishState* initial = InitialBlowfishState();
  if (initial == nullptr) {
    return absl::InternalError("bcrypt_pbkdf: could not compute Blowfish's initial state");
  }

  PbkdfScratch scratch;
  if (!Sha512(passphrase, "", scratch.sha2pass)) {
    return absl::InternalError("bcrypt_pbkdf: SHA-512 failed");
  }
  // Output bytes are spread over the blocks (key[i * stride + block]) rather than laid out one
  // block after another: OpenBSD's deliberate deviation from PBKDF2, so every block is needed
  // for any prefix of the key.
  const size_t key_size = out.size();
  const size_t stride = (key_size + kHashBytes - 1) / kHashBytes;
  size_t amount = (key_size + stride - 1) / stride;
  size_t remaining = key_size;
  for (uint32_t count = 1; remaining > 0; ++count) {
    const uint8_t count_bytes[4] = {static_cast<uint8_t>(count >> 24),
                                    static_cast<uint8_t>(count >> 16),
                                    static_cast<uint8_t>(count >> 8), static_cast<uint8_t>(count)};
    if (!Sha512(salt, View(count_bytes, 4), scratch.sha2salt)) {
      return absl::InternalError("bcrypt_pbkdf: SHA-512 failed");
    }
    BcryptHash(*initial, scratch.sha2pass, scratch.sha2salt, scratch.tmpout);
    std::memcpy(scratch.out, scratch.tmpout, kHashBytes);
    for (uint32_t round = 1; round < rounds; ++round) {
      if (!Sha512(View(scratch.tmpout, kHashBytes), "", scratch.sha2salt)) {
        return absl::InternalError("bcrypt_pbkdf: SHA-512 failed");
      }
      BcryptHash(*initial, scratch.sha2pass, scratch.sha2salt, scratch.tmpout);
      for (size_t j = 0; j < kHashBytes; ++j) scratch.out[j] ^= scratch.tmpout[j];
    }
    amount = std::min(amount, remaining);
    size_t i = 0;
    for (; i < amount; ++i) {
      const size_t dest = i * stride + (count - 1);
      if (dest >= key_size) break;
      out[dest] = scratch.out[i];
    }
    remaining -= i;
  }
  return absl::OkStatus();
}

}  // namespace keyfleet
