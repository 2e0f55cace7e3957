// Reading or writing a whole file through a descriptor the caller opened (and checked) itself.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::agent {

enum class ReadAllResult { kOk, kError, kTooLarge };

// Appends everything up to EOF to `out`, retrying on EINTR. kTooLarge as soon as `out` would
// exceed `limit` bytes (the file grew, or lied about its size); kError with errno set.
ReadAllResult ReadAll(int fd, size_t limit, std::string* out);

// Writes all of `data` at the descriptor's offset, retrying on EINTR and short writes; false
// with errno set on failure.
bool WriteAll(int fd, absl::string_view data);

}  // namespace keyfleet::agent
