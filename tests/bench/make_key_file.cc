// Writes N distinct OpenSSH public keys, one per line, for the fingerprint benchmark.
// Mix: 55% ed25519, 20% ECDSA P-256, 5% P-384, 5% P-521, 15% RSA (2048/3072/4096). EC keys are
// real OpenSSL key pairs; ed25519 keys and RSA moduli are random bytes of the right shape, which
// neither ssh-keygen nor keyfleet can tell apart from real ones (neither tests RSA primality).
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/base64.h"
#include "common/ssh_wire.h"

namespace {

std::string RandomBytes(size_t n) {
  std::string s(n, '\0');
  RAND_bytes(reinterpret_cast<unsigned char*>(s.data()), static_cast<int>(n));
  return s;
}

std::string EcPoint(const char* group) {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", group);
  unsigned char buf[200];
  size_t len = 0;
  EVP_PKEY_get_octet_string_param(pkey, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof(buf), &len);
  EVP_PKEY_free(pkey);
  return std::string(reinterpret_cast<char*>(buf), len);
}

}  // namespace

int main(int argc, char** argv) {
  const long n = argc > 1 ? std::atol(argv[1]) : 100000;
  std::string out;
  for (long i = 0; i < n; ++i) {
    const int bucket = static_cast<int>(i % 20);
    keyfleet::WireWriter w;
    std::string type;
    if (bucket < 11) {
      type = "ssh-ed25519";
      w.String(type).String(RandomBytes(32));
    } else if (bucket < 15) {
      type = "ecdsa-sha2-nistp256";
      w.String(type).String("nistp256").String(EcPoint("P-256"));
    } else if (bucket < 16) {
      type = "ecdsa-sha2-nistp384";
      w.String(type).String("nistp384").String(EcPoint("P-384"));
    } else if (bucket < 17) {
      type = "ecdsa-sha2-nistp521";
      w.String(type).String("nistp521").String(EcPoint("P-521"));
    } else {
      const size_t bytes = bucket == 17 ? 256 : bucket == 18 ? 384 : 512;
      std::string modulus = RandomBytes(bytes);
      modulus.front() = static_cast<char>(modulus.front() | 0x80);
      modulus.back() = static_cast<char>(modulus.back() | 0x01);
      type = "ssh-rsa";
      w.String(type).Mpint(std::string("\x01\x00\x01", 3)).Mpint(modulus);
    }
    out +=
        type + " " + keyfleet::Base64Encode(w.bytes()) + " user" + std::to_string(i) + "@bench\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}
