#include "controller/field_hasher.h"

#include <cstdint>

#include "common/sha256.h"

namespace keyfleet::controller {

void FieldHasher::Add(absl::string_view field) {
  uint64_t n = field.size();
  for (int shift = 56; shift >= 0; shift -= 8) buffer_.push_back(static_cast<char>(n >> shift));
  buffer_.append(field.data(), field.size());
}

std::string FieldHasher::HexDigest() const {
  return Sha256Hex(buffer_);
}

}  // namespace keyfleet::controller
