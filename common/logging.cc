#include "common/logging.h"

#include <grpc/support/log.h>

#include <chrono>
#include <cstdio>
#include <ctime>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"
#include "spdlog/spdlog.h"

namespace keyfleet {
namespace {

// The JSON string for `text`, quotes included. nlohmann escapes quotes, backslashes and control
// characters, and with `replace` turns bytes that are not UTF-8 into U+FFFD instead of throwing.
void AppendJsonString(absl::string_view text, std::string* out) {
  *out += nlohmann::json(std::string(text))
              .dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

// "2026-11-30T10:00:00.123Z".
void AppendRfc3339Millis(std::chrono::system_clock::time_point t, std::string* out) {
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  const int ms = static_cast<int>(millis % 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buf[32];
  const int n =
      std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                    utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, ms);
  out->append(buf, n > 0 ? static_cast<size_t>(n) : 0);
}

std::string Line(std::chrono::system_clock::time_point time, absl::string_view level,
                 absl::string_view logger, absl::string_view msg) {
  std::string line = "{\"time\":\"";
  AppendRfc3339Millis(time, &line);
  line += "\",\"level\":";
  AppendJsonString(level, &line);
  line += ",\"logger\":";
  AppendJsonString(logger, &line);
  line += ",\"msg\":";
  AppendJsonString(msg, &line);
  line += "}\n";
  return line;
}

class JsonLogFormatter final : public spdlog::formatter {
 public:
  explicit JsonLogFormatter(std::string program) : program_(std::move(program)) {}

  void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
    const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
    const absl::string_view logger =
        msg.logger_name.size() == 0
            ? absl::string_view(program_)
            : absl::string_view(msg.logger_name.data(), msg.logger_name.size());
    const std::string line = Line(msg.time, absl::string_view(level.data(), level.size()), logger,
                                  absl::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(line.data(), line.data() + line.size());
  }

  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonLogFormatter>(program_);
  }

 private:
  const std::string program_;
};

spdlog::level::level_enum LevelOf(gpr_log_severity severity) {
  switch (severity) {
    case GPR_LOG_SEVERITY_DEBUG:
      return spdlog::level::debug;
    case GPR_LOG_SEVERITY_INFO:
      return spdlog::level::info;
    case GPR_LOG_SEVERITY_ERROR:
      break;
  }
  return spdlog::level::err;
}

// gRPC's lines as spdlog messages of the logger "grpc" (created on first use).
void GrpcLogToSpdlog(gpr_log_func_args* args) {
  static const std::shared_ptr<spdlog::logger> grpc_logger = [] {
    std::shared_ptr<spdlog::logger> logger = spdlog::default_logger()->clone("grpc");
    logger->set_level(spdlog::level::trace);  // gRPC filters by GRPC_VERBOSITY itself
    return logger;
  }();
  grpc_logger->log(LevelOf(args->severity), "{} ({}:{})", args->message, args->file, args->line);
}

}  // namespace

absl::StatusOr<LogFormat> ParseLogFormat(absl::string_view text) {
  if (text == "text") return LogFormat::kText;
  if (text == "json") return LogFormat::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("log_format must be text or json, not \"", text.substr(0, 32), "\""));
}

std::unique_ptr<spdlog::formatter> MakeJsonLogFormatter(std::string program) {
  return std::make_unique<JsonLogFormatter>(std::move(program));
}

std::string JsonLogLine(absl::string_view level, absl::string_view logger, absl::string_view msg) {
  return Line(std::chrono::system_clock::now(), level, logger, msg);
}

void SetLogFormat(LogFormat format, const std::string& program) {
  if (format == LogFormat::kText) return;  // spdlog's default pattern
  spdlog::set_formatter(MakeJsonLogFormatter(program));
  gpr_set_log_function(GrpcLogToSpdlog);
}

}  // namespace keyfleet
