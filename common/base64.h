// Base64 (RFC 4648, standard alphabet) as OpenSSH writes it in public keys.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet {

// Decodes `text` strictly: only the standard alphabet, length a multiple of 4, '=' padding only
// at the end and only as much as needed, and the unused bits of the last symbol zero. Anything
// else (whitespace, URL-safe symbols, missing or extra padding) is INVALID_ARGUMENT. Strictness
// matters: a lenient decoder lets one key have many encodings.
absl::StatusOr<std::string> Base64DecodeStrict(absl::string_view text);

// Encodes with '=' padding.
std::string Base64Encode(absl::string_view bytes);

// Encodes without padding, as OpenSSH prints SHA256 fingerprints.
std::string Base64EncodeUnpadded(absl::string_view bytes);

}  // namespace keyfleet
