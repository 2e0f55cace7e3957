#include "cli/table.h"

#include <google/protobuf/util/json_util.h>

#include <algorithm>

#include "absl/time/time.h"
#include "cli/text_input.h"

namespace keyfleet::cli {

std::string Table::Render() const {
  std::vector<size_t> widths;
  for (const auto& h : headers_) widths.push_back(h.size());
  std::vector<std::vector<std::string>> cells;
  for (const auto& row : rows_) {
    std::vector<std::string> safe;
    for (size_t i = 0; i < row.size(); ++i) {
      safe.push_back(SanitizeForTerminal(row[i]));
      if (i < widths.size()) widths[i] = std::max(widths[i], safe.back().size());
    }
    cells.push_back(std::move(safe));
  }
  auto line = [&](const std::vector<std::string>& row) {
    std::string out;
    for (size_t i = 0; i < row.size(); ++i) {
      out += row[i];
      if (i + 1 < row.size()) out += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!out.empty() && out.back() == ' ') out.pop_back();
    return out + "\n";
  };
  std::string out = line(headers_);
  for (const auto& row : cells) out += line(row);
  return out;
}

namespace {

std::string Json(const google::protobuf::Message& message, bool pretty) {
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = pretty;
  options.preserve_proto_field_names = true;
  options.always_print_primitive_fields = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(message, &out, options);
  return out;
}

}  // namespace

std::string ToJson(const google::protobuf::Message& message) {
  return Json(message, true);
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  return Json(message, false);
}

std::string FormatTimestamp(int64_t seconds) {
  if (seconds == 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%MZ", absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
}

}  // namespace keyfleet::cli
