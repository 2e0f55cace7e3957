// Fuzzes the keys index readers (node-agent/keys_index.h). Checks, for every input:
//  - what they refuse is INVALID_ARGUMENT with a message of bounded size;
//  - an index the full check accepts is rebuilt byte for byte from its lines, and a lookup of
//    each line's key returns that line (among its key's);
//  - whatever the input, a lookup returns only lines whose key has the digest asked for.
#include <cstdint>
#include <string>

#include "common/sha256.h"
#include "node-agent/keys_index.h"
#include "tests/fuzz/fuzz_require.h"

namespace {

using keyfleet::fuzz::Require;

void RequireRefusal(const absl::Status& status) {
  Require(status.code() == absl::StatusCode::kInvalidArgument);
  Require(!status.message().empty() && status.message().size() < 1024);
}

std::string DigestOfLine(absl::string_view line) {
  absl::StatusOr<keyfleet::AuthorizedKeysLine> parsed = keyfleet::ParseAuthorizedKeysLine(line);
  Require(parsed.ok());
  return keyfleet::Sha256Digest(parsed->key.FingerprintBlob());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const keyfleet::agent::KeysIndexBytes source(input);
  // A digest taken from the input when it has an entry, so lookups reach the lines.
  std::string probe(32, '\0');
  if (size >= keyfleet::agent::kKeysIndexHeaderBytes + 32) {
    probe = std::string(input.substr(keyfleet::agent::kKeysIndexHeaderBytes, 32));
  }
  absl::StatusOr<std::string> found = keyfleet::agent::LookupKeysIndex(source, probe);
  if (!found.ok()) {
    RequireRefusal(found.status());
  } else {
    size_t start = 0;
    while (start < found->size()) {
      const size_t end = found->find('\n', start);
      Require(end != std::string::npos);
      Require(DigestOfLine(absl::string_view(*found).substr(start, end - start)) == probe);
      start = end + 1;
    }
  }
  absl::StatusOr<std::vector<std::string>> lines = keyfleet::agent::ValidateKeysIndex(source);
  if (!lines.ok()) {
    RequireRefusal(lines.status());
    return 0;
  }
  absl::StatusOr<std::string> again = keyfleet::agent::BuildKeysIndex(*lines);
  Require(again.ok() && *again == input);
  for (const std::string& line : *lines) {
    absl::StatusOr<std::string> hit = keyfleet::agent::LookupKeysIndex(source, DigestOfLine(line));
    Require(hit.ok() && hit->find(line + "\n") != std::string::npos);
  }
  return 0;
}
