// How the daemons (keyfleet-controller, keyfleet-agent) write their logs: spdlog's text lines,
// or one JSON object per line for log collectors (`log_format: json`).
//
// A JSON line is {"time":"2026-11-30T10:00:00.123Z","level":"info","logger":"keyfleet-agent",
// "msg":"…"}: time in RFC 3339 UTC with milliseconds, spdlog's level name, the logger's name (the
// program's for the default logger) and the message. Every string is escaped as JSON requires
// (quotes, backslashes, control characters), and bytes that are not UTF-8 become U+FFFD: a line
// always parses, whatever a message quotes (a hostname, a file's line, an error from a library).
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "spdlog/formatter.h"

namespace keyfleet {

enum class LogFormat { kText, kJson };

// "text" or "json"; INVALID_ARGUMENT naming both otherwise.
absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text);

// The JSON formatter; `program` names messages of loggers without a name (the default logger).
std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter(std::string program);

// One JSON log line (with its newline) as the formatter writes it, for messages that do not go
// through spdlog (the controller's one-time bootstrap token banner).
std::string JsonLogLine(absl::string_view level, absl::string_view logger, absl::string_view msg);

// Makes every logger use `format`. With kJson, gRPC's own log lines (gpr_log: errors by default,
// more with GRPC_VERBOSITY) go through spdlog too, as logger "grpc", so stderr and stdout carry
// nothing but JSON lines.
void SetLogFormat(LogFormat format, const std::string& program);

}  // namespace keyfleet
