#include "node-agent/agent_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace keyfleet::agent {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(AgentConfig, TheShippedExampleParses) {
  auto config = LoadAgentConfigFile(KEYFLEET_SOURCE_DIR "/deploy/agent.yaml", AgentConfig{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls_dir, "/var/lib/keyfleet/tls");
  EXPECT_FALSE(config->insecure_dev);
  EXPECT_TRUE(config->labels.empty()) << "labels come from join tokens, not the agent";
  EXPECT_EQ(config->recheck_interval, absl::Minutes(5));
  EXPECT_FALSE(config->accounts.allow_root);
  EXPECT_THAT(config->controllers, ElementsAre("127.0.0.1:7443"));
  EXPECT_EQ(config->metrics_textfile, kDefaultMetricsTextfile);
  EXPECT_EQ(config->log_format, LogFormat::kText);
}

TEST(AgentConfig, LogFormatAndMetricsTextfile) {
  auto config = ParseAgentConfig("log_format: json\nmetrics_textfile: /srv/prom/agent.prom", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->log_format, LogFormat::kJson);
  EXPECT_EQ(config->metrics_textfile, "/srv/prom/agent.prom");
  EXPECT_EQ(ParseAgentConfig("metrics_textfile: \"\"", {})->metrics_textfile, "");
  EXPECT_EQ(ParseAgentConfig("metrics_textfile:", {})->metrics_textfile, "");
  EXPECT_EQ(AgentConfig{}.metrics_textfile, kDefaultMetricsTextfile);
}

TEST(AgentConfig, RefusesMistakesWithTheReason) {
  const std::pair<const char*, const char*> bad[] = {
      {"controler: x", "unknown setting \"controler\""},
      {"recheck_interval: 5", "recheck_interval"},
      {"labels:\n  env: pr od", "labels:"},
      {"min_uid: -1", "config:"},
      {"allow_root: maybe", "config:"},
      {"insecure_dev: sometimes", "config:"},
      {"tls_dir: [a]", "config:"},
      {"[1, 2]", "mapping"},
      {"log_format: logfmt", "log_format must be text or json"},
      {"metrics_textfile: keyfleet-agent.prom", "must be an absolute path to a file named *.prom"},
      {"metrics_textfile: /var/lib/node-exporter/agent.txt", "*.prom"},
      {"metrics_textfile: /var/lib/node-exporter/", "*.prom"},
      {"metrics_textfile: /var/lib/node-exporter/.prom", "*.prom"},
      {"metrics_textfile: /var/lib/../etc/x.prom", "*.prom"},
  };
  for (const auto& [yaml, want] : bad) {
    auto config = ParseAgentConfig(yaml, AgentConfig{});
    EXPECT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(want)) << yaml;
  }
}

// `n` distinct addresses, a-0.example:7443 …
std::vector<std::string> Addresses(int n) {
  std::vector<std::string> out;
  for (int i = 0; i < n; ++i) out.push_back(absl::StrCat("a-", i, ".example:7443"));
  return out;
}

TEST(ControllerList, TheDefaultIsOneLocalController) {
  EXPECT_THAT(AgentConfig{}.controllers, ElementsAre("127.0.0.1:7443"));
  // A config without `controller:` keeps what it was given.
  AgentConfig base;
  base.controllers = {"a:1", "b:2"};
  auto config = ParseAgentConfig("log_level: info", base);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_THAT(config->controllers, ElementsAre("a:1", "b:2"));
}

TEST(ControllerList, GoodSpellings) {
  struct Case {
    std::string yaml;
    std::vector<std::string> want;
  };
  const Case good[] = {
      // One address, as every config before replicas had it.
      {"controller: 10.0.0.5:7443", {"10.0.0.5:7443"}},
      {"controller: keyfleet.example.com:7443", {"keyfleet.example.com:7443"}},
      {"controller: localhost:7443", {"localhost:7443"}},
      {"controller: \"[::1]:7443\"", {"[::1]:7443"}},
      {"controller: \"[2001:db8::7]:443\"", {"[2001:db8::7]:443"}},
      {"controller: kf.example.com.:7443", {"kf.example.com.:7443"}},
      {"controller: KF-1.Example.COM:1", {"KF-1.Example.COM:1"}},
      {"controller: a:65535", {"a:65535"}},
      // Comma-separated, blanks around the commas ignored.
      {"controller: a.example:7443,b.example:7443", {"a.example:7443", "b.example:7443"}},
      {"controller: \" a.example:7443 , b.example:7443 \"", {"a.example:7443", "b.example:7443"}},
      // YAML sequences, flow and block.
      {"controller: [a.example:7443, \"[::1]:7443\", 10.0.0.5:7443]",
       {"a.example:7443", "[::1]:7443", "10.0.0.5:7443"}},
      {"controller:\n  - a.example:7443\n  - b.example:7443\n",
       {"a.example:7443", "b.example:7443"}},
      // One name on two ports is two controllers.
      {"controller: [a:7443, a:7444]", {"a:7443", "a:7444"}},
      {"controller: [" + absl::StrJoin(Addresses(kMaxControllers), ", ") + "]",
       Addresses(kMaxControllers)},
  };
  for (const Case& c : good) {
    auto config = ParseAgentConfig(c.yaml, AgentConfig{});
    ASSERT_TRUE(config.ok()) << c.yaml << ": " << config.status();
    EXPECT_EQ(config->controllers, c.want) << c.yaml;
  }
}

TEST(ControllerList, BadSpellingsSayWhatIsWrong) {
  const std::string long_label(64, 'a');
  const std::pair<std::string, std::string> bad[] = {
      {"controller:", "give HOST:PORT, comma-separated addresses, or a YAML list"},
      {"controller: {a: 1}", "give HOST:PORT, comma-separated addresses, or a YAML list"},
      {"controller: \"\"", "address 1 is empty"},
      {"controller: \"a:1,\"", "address 2 is empty (a doubled or trailing comma?)"},
      {"controller: \"a:1,,b:2\"", "address 2 is empty"},
      {"controller: \",a:1\"", "address 1 is empty"},
      {"controller: []", "the list is empty"},
      {"controller: [a:1, \"\"]", "address 2 is empty"},
      {"controller: [a:1, [b:2]]", "item 2 is not an address"},
      {"controller: [a:1, {b: 2}]", "item 2 is not an address"},
      {"controller: [\"a:1,b:2\"]", "item 1 holds a comma; give one HOST:PORT per item"},
      {"controller: [a:1, a:1]", "\"a:1\" is listed twice"},
      {"controller: [Kf.Example:1, kf.example.:1]",
       "\"Kf.Example:1\" and \"kf.example.:1\" are the same controller"},
      {"controller: [\"[::1]:7443\", \"[0:0::1]:7443\"]", "are the same controller"},
      {"controller: [a:7443, a:07443]", "are the same controller"},
      {"controller: [" + absl::StrJoin(Addresses(kMaxControllers + 1), ", ") + "]",
       "more than 16 controller addresses"},
      {"controller: web", "\"web\" has no port; write HOST:PORT, e.g. web:7443"},
      {"controller: 7443", "has no port; write HOST:PORT, e.g. controller.example.com:7443"},
      {"controller: \"web:\"", "has no valid port"},
      {"controller: web:0", "has no valid port"},
      {"controller: web:65536", "has no valid port"},
      {"controller: web:123456", "has no valid port"},
      {"controller: web:+1", "has no valid port"},
      {"controller: web:https", "has no valid port"},
      {"controller: \":7443\"", "has no host"},
      {"controller: \"::1:7443\"", "IPv6 address without brackets; write [IPV6]:PORT"},
      {"controller: \"[::1:7443\"", "has no closing ']'"},
      {"controller: \"[::1]\"", "has no port; write [IPV6]:PORT"},
      {"controller: \"[::1]7443\"", "has no port"},
      {"controller: \"[]:7443\"", "has no host"},
      {"controller: \"[10.0.0.1]:7443\"", "holds no IPv6 address"},
      {"controller: \"[fe80::1%eth0]:7443\"", "holds no IPv6 address"},
      {"controller: 300.1.1.1:7443", "holds no valid IPv4 address"},
      {"controller: 10.0.0:7443", "holds no valid IPv4 address"},
      {"controller: web_1:7443", "holds no valid host name"},
      {"controller: -web:7443", "holds no valid host name"},
      {"controller: web-.example:7443", "holds no valid host name"},
      {"controller: web..example:7443", "holds no valid host name"},
      {"controller: " + long_label + ".example:7443", "holds no valid host name"},
      {"controller: https://web:7443", "is a URL or a path"},
      {"controller: dns:///web:7443", "is a URL or a path"},
      {"controller: unix:/run/keyfleet.sock", "is a URL or a path"},
      {"controller: \"web 1:7443\"", "contains a blank or control character"},
      {"controller: \"web\\t1:7443\"", "contains a blank or control character"},
  };
  for (const auto& [yaml, want] : bad) {
    auto config = ParseAgentConfig(yaml, AgentConfig{});
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(config.status().message(), HasSubstr("controller: ")) << yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(want)) << yaml;
  }
}

TEST(ControllerList, ErrorsQuoteOnlyAShortPrefixOfTheInput) {
  const std::string huge = std::string(100000, 'a') + ":7443";
  auto config = ParseAgentConfig("controller: " + huge, AgentConfig{});
  ASSERT_FALSE(config.ok());
  EXPECT_LT(config.status().message().size(), 600u);
  // A list of a million commas is refused after the 17th entry.
  auto many = ParseControllerList({std::string(1000000, ',')});
  ASSERT_FALSE(many.ok());
  EXPECT_THAT(many.status().message(), HasSubstr("address 1 is empty"));
  auto too_many = ParseControllerList({absl::StrJoin(Addresses(1000), ",")});
  ASSERT_FALSE(too_many.ok());
  EXPECT_THAT(too_many.status().message(), HasSubstr("more than 16"));
}

// `--controller` given more than once, each maybe with commas: one list, checked as a whole.
TEST(ControllerList, FlagValues) {
  auto both = ParseControllerList({"a:1", "b:2,c:3"});
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_THAT(*both, ElementsAre("a:1", "b:2", "c:3"));
  EXPECT_THAT(ParseControllerList({"a:1", "a:1"}).status().message(), HasSubstr("listed twice"));
  EXPECT_THAT(ParseControllerList({"a:1", ""}).status().message(), HasSubstr("address 2 is empty"));
  EXPECT_THAT(ParseControllerList({}).status().message(), HasSubstr("no controller address"));
  EXPECT_TRUE(ParseControllerList(Addresses(kMaxControllers)).ok());
  EXPECT_THAT(ParseControllerList(Addresses(kMaxControllers + 1)).status().message(),
              HasSubstr("more than 16"));
  EXPECT_TRUE(ValidateControllerAddress("[::ffff:10.0.0.1]:7443").ok());
}

}  // namespace
}  // namespace keyfleet::agent

namespace keyfleet::agent {
namespace {

TEST(AgentConfig, SshdLogSources) {
  EXPECT_EQ(AgentConfig{}.sshd_log, "auto");
  EXPECT_EQ(AgentConfig{}.sshd_log_format, "syslog");
  for (const char* source : {"auto", "journald", "off", "/var/log/auth.log"}) {
    auto config = ParseAgentConfig(absl::StrCat("sshd_log: ", source), {});
    ASSERT_TRUE(config.ok()) << source << ": " << config.status();
    EXPECT_EQ(config->sshd_log, source);
  }
  auto file = ParseAgentConfig("sshd_log: /srv/sshd.log\nsshd_log_format: sshd", {});
  ASSERT_TRUE(file.ok()) << file.status();
  EXPECT_EQ(file->sshd_log_format, "sshd");
  const std::pair<const char*, const char*> bad[] = {
      {"sshd_log: syslog", "use auto, journald, off or the absolute path"},
      {"sshd_log: var/log/auth.log", "use auto, journald, off or the absolute path"},
      {"sshd_log: /var/log/../auth.log", "sshd_log"},
      {"sshd_log_format: json", "use syslog (auth.log) or sshd (sshd -E FILE)"},
  };
  for (const auto& [yaml, why] : bad) {
    auto config = ParseAgentConfig(yaml, {});
    ASSERT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(std::string(config.status().message()), HasSubstr(why)) << yaml;
  }
}

TEST(AgentConfig, KeyFilesRevokedKeysFileAndKeysIndexDir) {
  AgentConfig defaults;
  EXPECT_EQ(defaults.key_files, v1::KEY_FILES_MODE_HOME);
  EXPECT_EQ(defaults.revoked_keys_file, "/etc/ssh/keyfleet/revoked.krl");
  EXPECT_EQ(defaults.keys_index_dir, "/var/lib/keyfleet/keys-index");
  auto config = ParseAgentConfig(
      "key_files: central\nrevoked_keys_file: /etc/ssh/krl\nkeys_index_dir: \"\"", {});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->key_files, v1::KEY_FILES_MODE_CENTRAL);
  EXPECT_EQ(config->revoked_keys_file, "/etc/ssh/krl");
  EXPECT_EQ(config->keys_index_dir, "");
  EXPECT_EQ(ParseAgentConfig("key_files: both", {})->key_files, v1::KEY_FILES_MODE_BOTH);
  EXPECT_EQ(ParseAgentConfig("revoked_keys_file:", {})->revoked_keys_file, "");
}

TEST(AgentConfig, RefusesBadKeyFilesAndPathsWithTheReason) {
  const std::pair<const char*, const char*> bad[] = {
      {"key_files: Central", "key_files must be home"},
      {"key_files: homes", "key_files must be home"},
      {"revoked_keys_file: revoked.krl", "revoked_keys_file \"revoked.krl\" must be an absolute"},
      {"revoked_keys_file: /etc/ssh/../krl", "without . or .."},
      {"revoked_keys_file: /etc/ssh/", "trailing '/'"},
      {"keys_index_dir: var/lib/x", "keys_index_dir \"var/lib/x\" must be an absolute"},
      {"keys_index_dir: [a]", "keys_index_dir: give a path"},
  };
  for (const auto& [yaml, want] : bad) {
    auto config = ParseAgentConfig(yaml, AgentConfig{});
    EXPECT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(config.status().message(), ::testing::HasSubstr(want)) << yaml;
  }
}

}  // namespace
}  // namespace keyfleet::agent
