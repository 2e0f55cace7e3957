#include "common/host_names.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace keyfleet {
namespace {

bool IsLabelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool IsHostnameChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-';
}

absl::Status ValidateLabelPart(absl::string_view what, absl::string_view text) {
  if (text.empty() || text.size() > kMaxLabelBytes) {
    return absl::InvalidArgumentError(absl::StrCat("label ", what, " \"", text, "\" must be 1 to ",
                                                   kMaxLabelBytes, " characters"));
  }
  for (char c : text) {
    if (!IsLabelChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("label ", what, " \"", PrintableName(text),
                       "\" may contain only letters, digits, '.', '_' and '-'"));
    }
  }
  if (!absl::ascii_isalnum(static_cast<unsigned char>(text[0]))) {
    return absl::InvalidArgumentError(
        absl::StrCat("label ", what, " \"", text, "\" must start with a letter or digit"));
  }
  return absl::OkStatus();
}

}  // namespace

bool LabelsCover(const Labels& labels, const Labels& required) {
  for (const auto& [key, value] : required) {
    auto it = labels.find(key);
    if (it == labels.end() || it->second != value) return false;
  }
  return true;
}

absl::Status ValidateLabels(const Labels& labels) {
  if (labels.size() > kMaxLabels) {
    return absl::InvalidArgumentError(
        absl::StrCat(labels.size(), " labels given; at most ", kMaxLabels, " are allowed"));
  }
  for (const auto& [key, value] : labels) {
    if (auto s = ValidateLabelPart("key", key); !s.ok()) return s;
    if (auto s = ValidateLabelPart("value", value); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ValidateHostname(absl::string_view hostname) {
  if (hostname.empty() || hostname.size() > kMaxHostnameBytes) {
    return absl::InvalidArgumentError(absl::StrCat("hostname must be 1 to ", kMaxHostnameBytes,
                                                   " characters, got ", hostname.size()));
  }
  for (char c : hostname) {
    if (!IsHostnameChar(c)) {
      return absl::InvalidArgumentError(
          absl::StrCat("hostname \"", PrintableName(hostname),
                       "\" may contain only letters, digits, '.' and '-'"));
    }
  }
  if (hostname[0] == '-' || hostname[0] == '.') {
    return absl::InvalidArgumentError(
        absl::StrCat("hostname \"", hostname, "\" must start with a letter or digit"));
  }
  return absl::OkStatus();
}

std::string PrintableName(absl::string_view name) {
  if (name.size() <= kMaxHostnameBytes) return absl::CHexEscape(name);
  return absl::StrCat(absl::CHexEscape(name.substr(0, kMaxHostnameBytes)), "…");
}

}  // namespace keyfleet
