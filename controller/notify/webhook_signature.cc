#include "controller/notify/webhook_signature.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <memory>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/tls/openssl_util.h"

namespace keyfleet::controller::notify {
namespace {

struct EvpMacFree {
  void operator()(EVP_MAC* mac) const { EVP_MAC_free(mac); }
};
struct EvpMacCtxFree {
  void operator()(EVP_MAC_CTX* ctx) const { EVP_MAC_CTX_free(ctx); }
};

bool Update(EVP_MAC_CTX* ctx, absl::string_view bytes) {
  return EVP_MAC_update(ctx, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size()) ==
         1;
}

absl::StatusOr<std::string> HmacSha256(absl::string_view key, absl::string_view timestamp,
                                       absl::string_view body) {
  ERR_clear_error();
  std::unique_ptr<EVP_MAC, EvpMacFree> mac(EVP_MAC_fetch(nullptr, OSSL_MAC_NAME_HMAC, nullptr));
  std::unique_ptr<EVP_MAC_CTX, EvpMacCtxFree> ctx(mac ? EVP_MAC_CTX_new(mac.get()) : nullptr);
  char digest_name[] = "SHA256";
  const OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest_name, 0),
      OSSL_PARAM_construct_end()};
  // OpenSSL refuses a null key pointer, which an empty string_view may have.
  static const unsigned char kEmptyKey = 0;
  const unsigned char* key_bytes =
      key.empty() ? &kEmptyKey : reinterpret_cast<const unsigned char*>(key.data());
  unsigned char out[EVP_MAX_MD_SIZE];
  size_t out_len = 0;
  if (!ctx || EVP_MAC_init(ctx.get(), key_bytes, key.size(), params) != 1 ||
      !Update(ctx.get(), timestamp) || !Update(ctx.get(), ".") || !Update(ctx.get(), body) ||
      EVP_MAC_final(ctx.get(), out, &out_len, sizeof(out)) != 1) {
    return absl::InternalError(absl::StrCat("cannot compute HMAC-SHA256: ", tls::OpenSslErrors()));
  }
  return std::string(reinterpret_cast<const char*>(out), out_len);
}

}  // namespace

absl::StatusOr<std::string> WebhookSignature(absl::string_view secret, absl::string_view timestamp,
                                             absl::string_view body) {
  absl::StatusOr<std::string> mac = HmacSha256(secret, timestamp, body);
  if (!mac.ok()) return mac.status();
  return absl::StrCat(kWebhookSignaturePrefix, absl::BytesToHexString(*mac));
}

bool VerifyWebhookSignature(absl::string_view secret, absl::string_view timestamp,
                            absl::string_view body, absl::string_view header) {
  absl::StatusOr<std::string> expected = WebhookSignature(secret, timestamp, body);
  if (!expected.ok()) return false;
  // The length is public (the same for every well-formed header), so checking it first
  // reveals nothing.
  if (header.size() != expected->size()) return false;
  return CRYPTO_memcmp(header.data(), expected->data(), expected->size()) == 0;
}

}  // namespace keyfleet::controller::notify
