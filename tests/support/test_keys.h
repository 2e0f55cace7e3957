// Real keys and certificates for table-driven tests, with ssh-keygen's view of each.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace keyfleet::testing {

struct KeyVector {
  std::string name;
  std::string line;  // "TYPE BASE64 COMMENT" as ssh-keygen wrote it
  uint32_t bits;
  std::string sha256;
  std::string md5;
  std::string short_type;  // as ssh-keygen -l prints it in parentheses
};

const std::vector<KeyVector>& KeyVectors();
// The vector called `name` ("ed25519", "ecdsa256", "rsa2048", "u_ed-cert", …); aborts if none.
const KeyVector& Vector(absl::string_view name);

}  // namespace keyfleet::testing

namespace keyfleet::testing {

// "ssh-ed25519 BASE64 COMMENT" for a well-formed ed25519 public key derived from `n`: distinct
// for distinct n. Not a key anyone holds the private half of; for inventory tests that need
// many keys.
std::string SyntheticEd25519Line(uint64_t n, const std::string& comment = "synthetic");

}  // namespace keyfleet::testing
