#include "node-agent/report_text.h"

#include <algorithm>

#include "common/utf8.h"

namespace keyfleet::agent {
namespace {

// The length of the sequence a byte would start (0: it starts none). Whether the sequence is
// well-formed is FindInvalidUtf8's to say, so the agent and the controller agree on every byte.
size_t SequenceLength(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC0 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF7) return 4;
  return 0;
}

// Appends `text`, escaped, to `out` one unit at a time: a well-formed character, or one byte
// as \xHH. Stops before the first unit that would take `out` past `max_bytes` and returns
// false; `*boundary` is then the length of `out` after the last unit that ended within `room`.
bool AppendEscaped(absl::string_view text, size_t max_bytes, size_t room, std::string* out,
                   size_t* boundary) {
  static constexpr char kHex[] = "0123456789abcdef";
  size_t i = 0;
  while (i < text.size()) {
    const auto lead = static_cast<unsigned char>(text[i]);
    size_t length = SequenceLength(lead);
    if (length > 1 &&
        (i + length > text.size() || FindInvalidUtf8(text.substr(i, length)).has_value())) {
      length = 0;
    }
    const char escape[4] = {'\\', 'x', kHex[lead >> 4], kHex[lead & 0xF]};
    const absl::string_view unit =
        length == 0 ? absl::string_view(escape, sizeof(escape)) : text.substr(i, length);
    i += std::max<size_t>(length, 1);
    if (out->size() + unit.size() > max_bytes) return false;
    out->append(unit.data(), unit.size());
    if (out->size() <= room) *boundary = out->size();
  }
  return true;
}

}  // namespace

std::string ReportText(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes && !FindInvalidUtf8(text)) return std::string(text);
  const size_t marker = max_bytes >= kReportCutMarker.size() ? kReportCutMarker.size() : 0;
  std::string out;
  out.reserve(std::min(text.size(), max_bytes));
  size_t boundary = 0;
  if (AppendEscaped(text, max_bytes, max_bytes - marker, &out, &boundary)) return out;
  out.resize(boundary);
  out.append(kReportCutMarker.data(), marker);
  return out;
}

std::optional<std::string> ReportTextUncut(absl::string_view text, size_t max_bytes) {
  if (text.size() <= max_bytes && !FindInvalidUtf8(text)) return std::string(text);
  std::string out;
  size_t boundary = 0;
  if (!AppendEscaped(text, max_bytes, max_bytes, &out, &boundary)) return std::nullopt;
  return out;
}

}  // namespace keyfleet::agent
