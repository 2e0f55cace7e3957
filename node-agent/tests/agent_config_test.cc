#include "node-agent/agent_config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyfleet::agent {
namespace {

using ::testing::HasSubstr;

TEST(AgentConfig, TheShippedExampleParses) {
  auto config = LoadAgentConfigFile(KEYFLEET_SOURCE_DIR "/deploy/agent.yaml", AgentConfig{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->tls_dir, "/var/lib/keyfleet/tls");
  EXPECT_FALSE(config->insecure_dev);
  EXPECT_TRUE(config->labels.empty()) << "labels come from join tokens, not the agent";
  EXPECT_EQ(config->recheck_interval, absl::Minutes(5));
  EXPECT_FALSE(config->accounts.allow_root);
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
  };
  for (const auto& [yaml, want] : bad) {
    auto config = ParseAgentConfig(yaml, AgentConfig{});
    EXPECT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(want)) << yaml;
  }
}

}  // namespace
}  // namespace keyfleet::agent
