// SHA-256 over a sequence of length-prefixed fields, so no choice of field contents can make
// two different sequences hash alike. Used by the audit chain and desired-state digests.
#pragma once

#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::controller {

class FieldHasher {
 public:
  // `domain` separates uses: "keyfleet-audit-v1", "keyfleet-desired-v1".
  explicit FieldHasher(absl::string_view domain) { Add(domain); }
  void Add(absl::string_view field);
  std::string HexDigest() const;  // lower-case hex

 private:
  std::string buffer_;
};

}  // namespace keyfleet::controller
