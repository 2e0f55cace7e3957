#include "common/tls/https_server_context.h"

#include <vector>

#include "absl/strings/str_cat.h"
#include "common/tls/openssl_util.h"
#include "common/tls/x509.h"

namespace keyfleet::tls {

absl::Status ConfigureHttpsServerContext(SSL_CTX& ctx, const std::string& key_pem,
                                         const std::string& chain_pem) {
  absl::StatusOr<std::vector<std::string>> chain = SplitCertificatesPem(chain_pem);
  if (!chain.ok()) return chain.status();
  absl::StatusOr<EvpPkeyPtr> key = ParsePrivateKeyPem(key_pem);
  if (!key.ok()) return key.status();
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1) {
    return absl::InternalError(absl::StrCat("TLS 1.2 minimum: ", OpenSslErrors()));
  }
  // TLS 1.2: forward-secret AEAD suites only (OpenSSL's default also offers CBC with SHA-1);
  // TLS 1.3's suites are all of that kind.
  if (SSL_CTX_set_cipher_list(&ctx, "ECDHE+AESGCM:ECDHE+CHACHA20") != 1) {
    return absl::InternalError(absl::StrCat("TLS 1.2 cipher suites: ", OpenSslErrors()));
  }
  // Renegotiation and compression are off, the server's cipher order wins.
  SSL_CTX_set_options(
      &ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  for (size_t i = 0; i < chain->size(); ++i) {
    absl::StatusOr<X509Ptr> cert = ParseCertificatePem((*chain)[i]);
    if (!cert.ok()) return cert.status();
    if (i == 0) {
      if (SSL_CTX_use_certificate(&ctx, cert->get()) != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("the server certificate: ", OpenSslErrors()));
      }
    } else if (SSL_CTX_add1_chain_cert(&ctx, cert->get()) != 1) {
      return absl::InvalidArgumentError(absl::StrCat("the certificate chain: ", OpenSslErrors()));
    }
  }
  if (SSL_CTX_use_PrivateKey(&ctx, key->get()) != 1 || SSL_CTX_check_private_key(&ctx) != 1) {
    OpenSslErrors();  // cleared: it may describe the key
    return absl::InvalidArgumentError("the server's private key does not match its certificate");
  }
  SSL_CTX_set_verify(&ctx, SSL_VERIFY_NONE, nullptr);
  return absl::OkStatus();
}

}  // namespace keyfleet::tls
