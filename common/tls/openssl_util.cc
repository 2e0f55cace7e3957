#include "common/tls/openssl_util.h"

#include <openssl/err.h>

#include <climits>

#include "absl/strings/str_cat.h"

namespace keyfleet::tls {
namespace {

// Enough to say what went wrong; deeper entries repeat the same failure from outer layers.
constexpr int kMaxReportedErrors = 4;

}  // namespace

BioPtr ReadOnlyBio(absl::string_view data) {
  if (data.size() > static_cast<size_t>(INT_MAX)) return nullptr;
  return BioPtr(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioContents(BIO* bio) {
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio, &data);
  if (size <= 0 || data == nullptr) return "";
  return std::string(data, static_cast<size_t>(size));
}

std::string OpenSslErrors() {
  std::string text;
  int reported = 0;
  while (unsigned long code = ERR_get_error()) {
    if (reported == kMaxReportedErrors) continue;  // drain the rest of the queue
    ++reported;
    const char* library = ERR_lib_error_string(code);
    const char* reason = ERR_reason_error_string(code);
    absl::StrAppend(&text, text.empty() ? "" : "; ", library != nullptr ? library : "OpenSSL", ": ",
                    reason != nullptr ? reason : absl::StrCat("error ", code));
  }
  return text.empty() ? "no details from OpenSSL" : text;
}

}  // namespace keyfleet::tls
