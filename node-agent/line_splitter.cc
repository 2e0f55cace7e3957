#include "node-agent/line_splitter.h"

namespace keyfleet::agent {

void LineSplitter::Reset() {
  partial_.clear();
  skipping_ = false;
}

uint64_t LineSplitter::Feed(absl::string_view data,
                            const std::function<void(absl::string_view)>& on_line) {
  uint64_t overlong = 0;
  while (!data.empty()) {
    const size_t newline = data.find('\n');
    const absl::string_view piece = data.substr(0, newline);
    if (!skipping_ && partial_.size() + piece.size() > max_line_bytes_) {
      partial_.clear();
      skipping_ = true;
    }
    if (!skipping_) partial_.append(piece.data(), piece.size());
    if (newline == absl::string_view::npos) return overlong;
    if (skipping_) {
      ++overlong;
    } else {
      on_line(partial_);
    }
    Reset();
    data.remove_prefix(newline + 1);
  }
  return overlong;
}

}  // namespace keyfleet::agent
