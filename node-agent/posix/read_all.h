// Reading a whole file from a descriptor the caller opened (and checked) itself.
#pragma once

#include <cstddef>
#include <string>

namespace keyfleet::agent {

enum class ReadAllResult { kOk, kError, kTooLarge };

// Appends everything up to EOF to `out`, retrying on EINTR. kTooLarge as soon as `out` would
// exceed `limit` bytes (the file grew, or lied about its size); kError with errno set.
ReadAllResult ReadAll(int fd, size_t limit, std::string* out);

}  // namespace keyfleet::agent
