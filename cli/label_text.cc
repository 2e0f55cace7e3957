#include "cli/label_text.h"

#include <map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace keyfleet::cli {

bool ParseLabelList(const std::string& text, google::protobuf::Map<std::string, std::string>* out,
                    std::string* error) {
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    size_t eq = part.find('=');
    if (eq == absl::string_view::npos || eq == 0) {
      *error = absl::StrCat("labels are KEY=VALUE[,KEY=VALUE…]; \"", part, "\" is not");
      return false;
    }
    (*out)[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
  }
  return true;
}

std::string LabelText(const google::protobuf::Map<std::string, std::string>& labels) {
  std::map<std::string, std::string> sorted(labels.begin(), labels.end());
  std::vector<std::string> parts;
  for (const auto& [k, v] : sorted) parts.push_back(k + "=" + v);
  return absl::StrJoin(parts, ",");
}

}  // namespace keyfleet::cli
