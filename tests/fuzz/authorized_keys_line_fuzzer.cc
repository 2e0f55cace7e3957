// Fuzzes the authorized_keys line and options parsers. Every accepted line must render to text
// within the size limit that parses back to the same line (Parse(Render(x)) == x).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/authorized_keys_line.h"
#include "common/authorized_keys_options.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (auto line = keyfleet::ParseAuthorizedKeysLine(input); line.ok()) {
    const std::string text = keyfleet::RenderAuthorizedKeysLine(*line);
    if (text.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) std::abort();
    auto again = keyfleet::ParseAuthorizedKeysLine(text);
    if (!again.ok() || *again != *line) std::abort();
    if (!keyfleet::ValidateAuthorizedKeysLine(*line).ok() &&
        text.size() <= keyfleet::kMaxAuthorizedKeysLineBytes) {
      std::abort();
    }
  }
  if (auto options = keyfleet::ParseAuthorizedKeysOptions(input); options.ok()) {
    auto again =
        keyfleet::ParseAuthorizedKeysOptions(keyfleet::RenderAuthorizedKeysOptions(*options));
    if (!again.ok() || *again != *options) std::abort();
  }
  return 0;
}
