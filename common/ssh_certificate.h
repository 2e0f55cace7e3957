// The certificate part of *-cert-v01@openssh.com blobs (OpenSSH PROTOCOL.certkeys).
#pragma once

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "common/ssh_public_key.h"
#include "common/ssh_wire.h"

namespace keyfleet {

// Reads the fields that follow the certified key (serial … signature) from `reader`, checks
// them as OpenSSH's cert_parse does (user or host type, at most kMaxCertificatePrincipals
// principals without NUL, well-formed critical options and extensions, a plain CA key) and
// verifies the CA's signature over `whole_blob` up to the signature. Fills `info`.
absl::Status ParseCertificateBody(WireReader& reader, absl::string_view whole_blob,
                                  CertificateInfo* info);

}  // namespace keyfleet
