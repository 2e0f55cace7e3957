// Validation of ECDSA public points, at least as strict as OpenSSH's
// sshkey_ec_validate_public().
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/ssh_key_type.h"

namespace keyfleet {

// Accepts `point` only if it is an uncompressed SEC1 point (0x04 || X || Y, each exactly the
// field size) that lies on `curve`, is not the point at infinity, has X and Y each longer than
// half the group order's bit length and below order-1 (OpenSSH's extra checks).
absl::Status ValidateEcPublicPoint(EcCurve curve, absl::string_view point);

}  // namespace keyfleet
