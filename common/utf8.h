// Strict UTF-8 checking, as protobuf requires of every `string` field: a request holding
// anything else is refused by the server's parser without a useful message, so inputs are
// checked before they are sent, naming where the bad byte is.
#pragma once

#include <cstddef>
#include <optional>

#include "absl/strings/string_view.h"

namespace keyfleet {

// The offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlong forms, no surrogates, nothing above U+10FFFF, no truncated sequence); nullopt when
// all of `text` is valid.
std::optional<size_t> FindInvalidUtf8(absl::string_view text);

}  // namespace keyfleet
