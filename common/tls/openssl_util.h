// Small helpers for code that calls OpenSSL directly: owners for the objects it allocates, memory
// BIOs, and OpenSSL's error queue as text.
#pragma once

#include <openssl/bio.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::tls {

struct BioFree {
  void operator()(BIO* bio) const { BIO_free_all(bio); }
};
struct X509StoreFree {
  void operator()(X509_STORE* store) const { X509_STORE_free(store); }
};
struct X509StoreCtxFree {
  void operator()(X509_STORE_CTX* ctx) const { X509_STORE_CTX_free(ctx); }
};
using BioPtr = std::unique_ptr<BIO, BioFree>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreFree>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree>;

// A read-only BIO over `data`, which must outlive it. nullptr only when out of memory.
BioPtr ReadOnlyBio(absl::string_view data);

// Everything written to the memory BIO `bio` so far.
std::string BioContents(BIO* bio);

// OpenSSL's queued error reasons joined with "; " ("no details from OpenSSL" when the queue is
// empty), and the queue cleared. Call right after the failing OpenSSL call.
std::string OpenSslErrors();

}  // namespace keyfleet::tls
