// The host's SSH host public keys, as its agent reports them: read from
// ROOT/etc/ssh/ssh_host_*_key.pub (the files sshd's default HostKey lines name, with ".pub"),
// so `keyfleet known-hosts` can vouch for them.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace keyfleet::agent {

// A host key file larger than this is skipped: a .pub file is one line, and OpenSSH reads at
// most SSH_MAX_PUBKEY_BYTES (16 KiB) of one.
inline constexpr size_t kMaxHostKeyFileBytes = 16 << 10;

struct HostKeys {
  // In file-name order, one entry per usable file, the two lists aligned.
  std::vector<std::string> public_keys;   // "TYPE BASE64", the file's comment dropped
  std::vector<std::string> fingerprints;  // "SHA256:…"
  // Files that were skipped, each with why ("ROOT/etc/ssh/x.pub: is a symlink").
  std::vector<std::string> skipped;
};

// Reads ROOT/etc/ssh/ssh_host_*_key.pub. Each file is opened with O_NOFOLLOW | O_NONBLOCK
// relative to the held ROOT/etc/ssh and checked on its descriptor: it must be a regular file of
// at most kMaxHostKeyFileBytes holding exactly one line (a final newline allowed) that
// ParsePublicKey accepts, a plain key (not a certificate) whose rendering fits
// kMaxReportHostPublicKeyBytes. Files past kMaxReportHostPublicKeys are skipped too. Skipped
// files are listed and logged (a warning each), never fatal; a missing ROOT/etc/ssh gives
// nothing at all.
HostKeys ReadHostKeys(const std::string& root);

}  // namespace keyfleet::agent
