// The controller's YAML config: good files, and one bad file per mistake with the reason.
#include "controller/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;

TEST(ControllerConfig, ReadsEverySetting) {
  auto config = ParseControllerConfig(R"(
database: postgresql://keyfleet@localhost/keyfleet
listen: 0.0.0.0:7443
db_pool_size: 16
db_retry_budget: 30s
migrate_on_start: false
heartbeat_interval: 10s
feed_poll_interval: 2s
host_stale_after: 1h
log_level: debug
log_format: json
metrics_listen: 0.0.0.0:9464
policy:
  max_key_age: 180d
  warning_window: 14d
  rotation_overlap: 7d
  allowed_key_types: [ssh-ed25519, ecdsa-sha2-nistp256]
  min_rsa_bits: 3072
  unmanaged_keys: report
)",
                                      ControllerConfig{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->database, "postgresql://keyfleet@localhost/keyfleet");
  EXPECT_EQ(config->listen, "0.0.0.0:7443");
  EXPECT_EQ(config->db_pool_size, 16u);
  EXPECT_EQ(config->db_retry_budget, absl::Seconds(30));
  EXPECT_FALSE(config->migrate_on_start);
  EXPECT_EQ(config->host_stale_after, absl::Hours(1));
  EXPECT_EQ(config->log_format, LogFormat::kJson);
  EXPECT_EQ(config->metrics_listen, "0.0.0.0:9464");
  EXPECT_EQ(config->default_policy.max_key_age, absl::Hours(24 * 180));
  EXPECT_EQ(config->default_policy.key_policy.allowed_types.size(), 2u);
  EXPECT_EQ(config->default_policy.key_policy.min_rsa_bits, 3072u);
  EXPECT_EQ(config->default_policy.unmanaged_keys, UnmanagedKeysMode::kReport);
}

TEST(ControllerConfig, TheShippedExampleParses) {
  auto config =
      LoadControllerConfigFile(KEYFLEET_SOURCE_DIR "/deploy/controller.yaml", ControllerConfig{});
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->default_policy, PolicyRecord{});
  EXPECT_EQ(config->ca_dir, "/var/lib/keyfleet/ca");
  EXPECT_EQ(config->tls_names, (std::vector<std::string>{"localhost", "127.0.0.1", "::1"}));
  EXPECT_FALSE(config->insecure_dev);
  EXPECT_EQ(config->host_certificate_lifetime, absl::Hours(24 * 30));
  EXPECT_EQ(config->metrics_listen, "127.0.0.1:9464");
  EXPECT_EQ(config->log_format, LogFormat::kText);
}

TEST(ControllerConfig, MetricsListenOffOrUnset) {
  // Unset: the built-in default, served when free; set to nothing or "off": no port.
  EXPECT_EQ(ParseControllerConfig("", {})->metrics_listen, std::nullopt);
  EXPECT_EQ(ParseControllerConfig("metrics_listen: off", {})->metrics_listen, "");
  EXPECT_EQ(ParseControllerConfig("metrics_listen: \"\"", {})->metrics_listen, "");
  EXPECT_EQ(ParseControllerConfig("metrics_listen:", {})->metrics_listen, "");
  EXPECT_EQ(ParseControllerConfig("metrics_listen: \"[::1]:0\"", {})->metrics_listen, "[::1]:0");
}

TEST(ControllerConfig, HostCertificateLifetimeLimitsAreInclusive) {
  EXPECT_EQ(ParseControllerConfig("host_certificate_lifetime: 10m", {})->host_certificate_lifetime,
            absl::Minutes(10));
  EXPECT_EQ(ParseControllerConfig("host_certificate_lifetime: 365d", {})->host_certificate_lifetime,
            absl::Hours(24 * 365));
}

TEST(ControllerConfig, EmptyFileKeepsDefaults) {
  auto config = ParseControllerConfig("", ControllerConfig{});
  ASSERT_TRUE(config.ok());
  EXPECT_EQ(config->listen, "127.0.0.1:7443");
  EXPECT_EQ(config->default_policy.max_key_age, absl::Hours(24 * 365));
}

TEST(ControllerConfig, RefusesMistakesWithTheReason) {
  const std::pair<const char*, const char*> bad[] = {
      {"databse: x", "unknown setting \"databse\""},
      {"policy:\n  max_age: 30d", "unknown setting \"policy.max_age\""},
      {"heartbeat_interval: 10", "heartbeat_interval"},
      {"policy:\n  max_key_age: 1h", "max key age"},
      {"policy:\n  min_rsa_bits: 1024", "policy:"},
      {"policy:\n  allowed_key_types: [ssh-dss]", "policy:"},
      {"policy:\n  allowed_key_types: [ssh-foo]", "unknown key type \"ssh-foo\""},
      {"policy:\n  unmanaged_keys: delete", "keep, report or remove"},
      {"db_pool_size: many", "config:"},
      {"- a\n- b", "mapping"},
      {"listen: [", "config:"},
      {"tls_names: []", "tls_names must be a non-empty list"},
      {"tls_names: localhost", "tls_names must be a non-empty list"},
      {"insecure_dev: maybe", "config:"},
      {"host_certificate_lifetime: 9m", "between 10m and 365d"},
      {"host_certificate_lifetime: 366d", "between 10m and 365d"},
      {"log_format: yaml", "log_format must be text or json"},
      {"metrics_listen: 9464", "metrics_listen \"9464\": no port"},
      {"metrics_listen: 127.0.0.1:99999", "the port is not a number from 0 to 65535"},
      {"metrics_listen: [a]", "config:"},
  };
  for (const auto& [yaml, want] : bad) {
    auto config = ParseControllerConfig(yaml, ControllerConfig{});
    EXPECT_FALSE(config.ok()) << yaml;
    EXPECT_THAT(config.status().message(), HasSubstr(want)) << yaml;
  }
}

}  // namespace
}  // namespace keyfleet::controller
