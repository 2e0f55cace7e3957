#include "common/request_id.h"

#include <openssl/rand.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace keyfleet {

absl::Status ValidateRequestId(absl::string_view id) {
  bool valid = id.size() >= kMinRequestIdLength && id.size() <= kMaxRequestIdLength;
  for (char c : id) {
    if (!valid) break;
    valid = absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  }
  if (valid) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("request id \"", absl::CHexEscape(id.substr(0, 16)), id.size() > 16 ? "…" : "",
                   "\" (", id.size(), " bytes) is not valid: use ", kMinRequestIdLength, " to ",
                   kMaxRequestIdLength, " characters among A-Z a-z 0-9 . _ -"));
}

absl::StatusOr<std::string> NewRequestId() {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    return absl::InternalError("the system's random generator failed");
  }
  return absl::BytesToHexString(
      absl::string_view(reinterpret_cast<const char*>(bytes), sizeof bytes));
}

}  // namespace keyfleet
