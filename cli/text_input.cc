#include "cli/text_input.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/utf8.h"

namespace keyfleet::cli {

absl::StatusOr<std::string> ReadTextInput(const std::string& path) {
  if (path == "-") {
    std::ostringstream ss;
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return absl::DataLossError(absl::StrCat(path, ": read error"));
  return ss.str();
}

absl::Status CheckUtf8Lines(const std::string& path, absl::string_view text) {
  std::optional<size_t> bad = FindInvalidUtf8(text);
  if (!bad) return absl::OkStatus();
  const size_t line = 1 + static_cast<size_t>(std::count(text.begin(), text.begin() + *bad, '\n'));
  return absl::InvalidArgumentError(
      absl::StrCat(DisplayName(path), " line ", line,
                   " is not valid UTF-8; keys and their comments are sent as UTF-8 text"));
}

std::string DisplayName(const std::string& path) {
  return path == "-" ? "(stdin)" : path;
}

void ForEachLine(absl::string_view content,
                 const std::function<void(size_t, absl::string_view)>& fn) {
  size_t number = 0;
  while (!content.empty()) {
    const size_t nl = content.find('\n');
    absl::string_view line = content.substr(0, nl);
    content = nl == absl::string_view::npos ? absl::string_view() : content.substr(nl + 1);
    if (nl != absl::string_view::npos && !line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    fn(++number, line);
  }
}

std::string SanitizeForTerminal(absl::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) {
      absl::StrAppendFormat(&out, "\\%03o", u);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace keyfleet::cli
