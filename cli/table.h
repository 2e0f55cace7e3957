// Plain-text tables for the CLI's default output: a header row, columns padded to the widest
// cell, cells made safe for a terminal.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <vector>

namespace keyfleet::cli {

class Table {
 public:
  explicit Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}
  void Add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string Render() const;  // "" for no rows is never returned: the header is always there
  bool empty() const { return rows_.empty(); }

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<std::string>> rows_;
};

// The protobuf JSON mapping of `message` (field names as in the .proto, defaults included),
// pretty-printed: the stable form for scripts.
std::string ToJson(const google::protobuf::Message& message);
// The same on one line (JSON lines).
std::string ToJsonLine(const google::protobuf::Message& message);

// "2026-11-21 10:00Z" (UTC), or "-" for an unset timestamp.
std::string FormatTimestamp(int64_t seconds);

}  // namespace keyfleet::cli
