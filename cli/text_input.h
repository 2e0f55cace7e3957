// Reading a whole input file (or stdin) and walking its lines, for the offline commands.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace keyfleet::cli {

// Reads `path` whole; "-" reads standard input. The error names the path and the reason.
absl::StatusOr<std::string> ReadTextInput(const std::string& path);

// The name to print for `path` in messages: "(stdin)" for "-".
std::string DisplayName(const std::string& path);

// Calls `fn(line_number, line)` for each line of `content` (numbered from 1), without its "\n"
// or "\r\n" terminator. A last line without a terminator is still a line.
void ForEachLine(absl::string_view content,
                 const std::function<void(size_t, absl::string_view)>& fn);

// OK, or INVALID_ARGUMENT naming the first line of `text` that is not UTF-8: what is sent to the
// controller must be (protobuf strings), and its parser refuses anything else without a reason.
absl::Status CheckUtf8Lines(const std::string& path, absl::string_view text);

// Makes `text` safe to print on a terminal: bytes below 0x20 and 0x7f become \ooo.
std::string SanitizeForTerminal(absl::string_view text);

}  // namespace keyfleet::cli
