#include "cli/host_selector_text.h"

#include <map>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace keyfleet::cli {

bool ParseSelector(const std::string& text, v1::HostSelector* out, std::string* error) {
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      if (!out->hostname_glob().empty()) {
        *error = "--hosts has two hostname globs; give at most one";
        return false;
      }
      out->set_hostname_glob(std::string(part));
    } else {
      (*out->mutable_labels())[std::string(part.substr(0, eq))] = std::string(part.substr(eq + 1));
    }
  }
  return true;
}

std::string SelectorText(const v1::HostSelector& selector) {
  std::vector<std::string> parts;
  std::map<std::string, std::string> sorted(selector.labels().begin(), selector.labels().end());
  for (const auto& [k, v] : sorted) parts.push_back(k + "=" + v);
  if (!selector.hostname_glob().empty()) parts.push_back(selector.hostname_glob());
  return absl::StrJoin(parts, ",");
}

}  // namespace keyfleet::cli
