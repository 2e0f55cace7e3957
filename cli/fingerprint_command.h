// `keyfleet fingerprint`: fingerprints of public keys, printed as `ssh-keygen -l` prints them.
#pragma once

#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/string_view.h"
#include "cli/global_options.h"
#include "common/fingerprint.h"

namespace keyfleet::cli {

struct FingerprintEntry {
  size_t line = 0;
  uint32_t bits = 0;
  std::string fingerprint;
  std::string comment;  // empty when the line has none
  KeyType type = KeyType::kEd25519;
};

struct LineError {
  size_t line = 0;
  std::string reason;
};

struct FingerprintResult {
  std::vector<FingerprintEntry> keys;
  std::vector<LineError> errors;
};

// Fingerprints every key line of `content`: plain public keys or authorized_keys lines (with
// options). Blank lines and '#' comments are skipped; every other line is a key or an error.
// A private key on line 1 is one error for the whole input.
FingerprintResult FingerprintKeys(absl::string_view content, FingerprintHash hash);

// "BITS FINGERPRINT COMMENT (TYPE)\n" per key, as `ssh-keygen -l`, "no comment" when empty.
std::string FormatFingerprintLines(const std::vector<FingerprintEntry>& keys);
// A JSON array of {line, bits, fingerprint, comment, type, key_type}.
std::string FormatFingerprintJson(const std::vector<FingerprintEntry>& keys);

void AddFingerprintCommand(CLI::App& app, const GlobalOptions& globals, int& exit_code);

}  // namespace keyfleet::cli
