#include "controller/host_selector.h"

#include <fnmatch.h>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace keyfleet::controller {
namespace {

bool IsHostnameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}

}  // namespace

absl::Status ValidateHostSelector(const HostSelector& selector) {
  if (auto s = ValidateLabels(selector.labels); !s.ok()) return s;
  if (selector.labels.empty() && selector.hostname_glob.empty()) {
    return absl::InvalidArgumentError(
        "the host selector is empty; give labels (env=prod,role=web), a hostname glob "
        "(web-*), or \"*\" to mean every host");
  }
  if (selector.hostname_glob.size() > kMaxHostnameBytes) {
    return absl::InvalidArgumentError("hostname glob is longer than 253 characters");
  }
  for (char c : selector.hostname_glob) {
    if (!IsHostnameChar(c) && c != '*' && c != '?' && c != '[' && c != ']' && c != '!') {
      return absl::InvalidArgumentError(absl::StrCat(
          "hostname glob \"", absl::CHexEscape(selector.hostname_glob),
          "\" may contain only hostname characters (letters, digits, '.', '-') and * ? [ ] !"));
    }
  }
  return absl::OkStatus();
}

bool SelectorMatches(const HostSelector& selector, const std::string& hostname,
                     const Labels& host_labels) {
  for (const auto& [key, value] : selector.labels) {
    auto it = host_labels.find(key);
    if (it == host_labels.end() || it->second != value) return false;
  }
  return selector.hostname_glob.empty() ||
         fnmatch(selector.hostname_glob.c_str(), hostname.c_str(), 0) == 0;
}

absl::StatusOr<HostSelector> ParseHostSelector(absl::string_view text) {
  HostSelector selector;
  if (text.empty()) return absl::InvalidArgumentError("the host selector is empty");
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    if (part.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("empty part in host selector \"", text, "\" (stray comma?)"));
    }
    size_t eq = part.find('=');
    if (eq == absl::string_view::npos) {
      if (!selector.hostname_glob.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("host selector \"", text, "\" has two hostname globs; give at most one"));
      }
      selector.hostname_glob = std::string(part);
      continue;
    }
    std::string key(part.substr(0, eq));
    if (selector.labels.count(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat("label \"", key, "\" appears twice in host selector \"", text, "\""));
    }
    selector.labels[key] = std::string(part.substr(eq + 1));
  }
  if (auto s = ValidateHostSelector(selector); !s.ok()) return s;
  return selector;
}

std::string FormatHostSelector(const HostSelector& selector) {
  std::vector<std::string> parts;
  for (const auto& [key, value] : selector.labels) parts.push_back(absl::StrCat(key, "=", value));
  if (!selector.hostname_glob.empty()) parts.push_back(selector.hostname_glob);
  return absl::StrJoin(parts, ",");
}

}  // namespace keyfleet::controller
