// The daemons' JSON log lines: every message, whatever bytes it holds, is one line that parses
// as a JSON object with the time, level, logger and the message itself.
#include "common/logging.h"

#include <gmock/gmock.h>
#include <grpc/support/log.h>
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "nlohmann/json.hpp"
#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace keyfleet {
namespace {

using ::testing::HasSubstr;

TEST(ParseLogFormat, TextOrJson) {
  EXPECT_EQ(*ParseLogFormat("text"), LogFormat::kText);
  EXPECT_EQ(*ParseLogFormat("json"), LogFormat::kJson);
  for (const char* bad : {"", "JSON", "logfmt", "json ", "text\n"}) {
    absl::StatusOr<LogFormat> got = ParseLogFormat(bad);
    ASSERT_FALSE(got.ok()) << bad;
    EXPECT_THAT(got.status().message(), HasSubstr("log_format must be text or json")) << bad;
  }
}

// One logger writing into `out` with the JSON formatter.
std::shared_ptr<spdlog::logger> JsonLogger(std::ostringstream& out, const std::string& name) {
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(out);
  auto logger = std::make_shared<spdlog::logger>(name, sink);
  logger->set_formatter(MakeJsonLogFormatter("keyfleet-test"));
  logger->set_level(spdlog::level::trace);
  return logger;
}

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines = absl::StrSplit(text, '\n');
  EXPECT_EQ(lines.back(), "") << "every line ends with a newline";
  lines.pop_back();
  return lines;
}

TEST(JsonLogFormatter, EveryMessageIsOneParsableLine) {
  struct Case {
    std::string msg;
    std::string want;  // as the parsed JSON string
  };
  const Case kCases[] = {
      {"plain", "plain"},
      {"say \"hi\"", "say \"hi\""},
      {"C:\\path\\to", "C:\\path\\to"},
      {"two\nlines\r\nand\ttab", "two\nlines\r\nand\ttab"},
      {std::string("nul\0byte", 8), std::string("nul\0byte", 8)},
      {"bell\x07 esc\x1b del\x7f", "bell\x07 esc\x1b del\x7f"},
      {"bad utf-8 \xff\xfe end", "bad utf-8 \xEF\xBF\xBD\xEF\xBF\xBD end"},
      {"truncated \xe2\x9c", "truncated \xEF\xBF\xBD"},
      {"ümlaut ✓", "ümlaut ✓"},
      {"{\"looks\": \"like json\"}", "{\"looks\": \"like json\"}"},
  };
  std::ostringstream out;
  auto logger = JsonLogger(out, "");
  for (const Case& c : kCases) logger->info("{}", c.msg);
  const std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), std::size(kCases)) << out.str();
  static const std::regex kTime(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)");
  for (size_t i = 0; i < lines.size(); ++i) {
    nlohmann::json j = nlohmann::json::parse(lines[i], nullptr, /*allow_exceptions=*/false);
    ASSERT_TRUE(j.is_object()) << lines[i];
    EXPECT_EQ(j.size(), 4u) << lines[i];
    EXPECT_EQ(j["msg"], kCases[i].want) << lines[i];
    EXPECT_EQ(j["level"], "info");
    EXPECT_EQ(j["logger"], "keyfleet-test") << "an unnamed logger is the program";
    EXPECT_TRUE(std::regex_match(j["time"].get<std::string>(), kTime)) << lines[i];
  }
}

TEST(JsonLogFormatter, LevelsAndLoggerNames) {
  std::ostringstream out;
  auto logger = JsonLogger(out, "grpc");
  logger->warn("w");
  logger->error("e");
  logger->debug("d");
  const std::vector<std::string> lines = Lines(out.str());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(nlohmann::json::parse(lines[0])["level"], "warning");
  EXPECT_EQ(nlohmann::json::parse(lines[1])["level"], "error");
  EXPECT_EQ(nlohmann::json::parse(lines[2])["level"], "debug");
  EXPECT_EQ(nlohmann::json::parse(lines[0])["logger"], "grpc");
}

TEST(JsonLogLine, AsTheFormatterWritesIt) {
  const std::string line = JsonLogLine("warning", "keyfleet-controller", "token \"x\"\n");
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1);
  nlohmann::json j = nlohmann::json::parse(line);
  EXPECT_EQ(j["msg"], "token \"x\"\n");
  EXPECT_EQ(j["logger"], "keyfleet-controller");
}

TEST(SetLogFormat, GrpcLinesBecomeJsonToo) {
  std::ostringstream out;
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(JsonLogger(out, ""));
  SetLogFormat(LogFormat::kJson, "keyfleet-test");
  gpr_log_verbosity_init();  // as grpc_init does: gRPC logs nothing before (errors after)
  gpr_log(GPR_ERROR, "boom \"%s\"", "quoted");
  gpr_log(GPR_INFO, "not at the default verbosity");
  spdlog::default_logger()->flush();
  const std::vector<std::string> lines = Lines(out.str());
  spdlog::set_default_logger(previous);
  ASSERT_EQ(lines.size(), 1u) << out.str();
  nlohmann::json j = nlohmann::json::parse(lines[0], nullptr, false);
  ASSERT_TRUE(j.is_object()) << lines[0];
  EXPECT_EQ(j["logger"], "grpc");
  EXPECT_EQ(j["level"], "error");
  EXPECT_THAT(j["msg"].get<std::string>(), HasSubstr("boom \"quoted\""));
}

}  // namespace
}  // namespace keyfleet
