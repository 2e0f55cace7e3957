// Cuts a byte stream into lines of bounded length: bytes go in as they are read, complete
// lines (without their newline) come out; a line longer than the limit is dropped whole.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace keyfleet::agent {

class LineSplitter {
 public:
  explicit LineSplitter(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}

  // Calls `on_line` for each line `data` completes. Returns how many overlong lines it dropped.
  uint64_t Feed(absl::string_view data, const std::function<void(absl::string_view)>& on_line);
  // Forgets the unfinished line (its file was replaced or truncated).
  void Reset();
  // Bytes held for the unfinished line (0 while dropping an overlong one).
  size_t pending_bytes() const { return partial_.size(); }
  bool skipping() const { return skipping_; }

 private:
  const size_t max_line_bytes_;
  std::string partial_;
  bool skipping_ = false;
};

}  // namespace keyfleet::agent
