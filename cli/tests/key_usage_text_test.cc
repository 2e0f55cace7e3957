// How the CLI words a key's use: last use, logins per host, and the sessions a revocation ended.
#include "cli/key_usage_text.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace keyfleet::cli {
namespace {

using ::testing::HasSubstr;

TEST(KeyUsageTextTest, LastUseIsATimeOrNever) {
  v1::Key key;
  EXPECT_EQ(LastUsedText(key), "never");
  key.mutable_last_used()->set_seconds(1795000000);
  EXPECT_EQ(LastUsedText(key), FormatTimestamp(1795000000));
}

// While the controller's database is unavailable a key's use is unknown, never "never".
TEST(KeyUsageTextTest, UnknownUseIsNotNeverUsed) {
  v1::Key key;
  key.set_usage_unknown(true);
  EXPECT_EQ(LastUsedText(key), "unknown");
  EXPECT_THAT(KeyUsesText(key), HasSubstr("database is unavailable"));
}

TEST(KeyUsageTextTest, UsesPerHostAndSessionsEnded) {
  v1::Key key;
  EXPECT_THAT(KeyUsesText(key), HasSubstr("no recorded use"));
  v1::KeyUseOnHost* use = key.add_uses();
  use->set_hostname("web-1");
  use->set_account("deploy");
  use->mutable_last_used()->set_seconds(1795000000);
  use->set_from_address("192.0.2.7");
  std::string text = KeyUsesText(key);
  EXPECT_THAT(text, HasSubstr("web-1"));
  EXPECT_THAT(text, HasSubstr("192.0.2.7"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("SESSIONS ENDED")));
  v1::SessionsEndedOnHost* ended = key.add_sessions_ended();
  ended->set_hostname("web-2");
  ended->set_count(3);
  EXPECT_THAT(KeyUsesText(key), HasSubstr("SESSIONS ENDED"));
}

TEST(KeyUsageTextTest, SessionsEndedSummarySaysWhenNoneWereFound) {
  v1::Key key;
  EXPECT_THAT(SessionsEndedSummary(key), HasSubstr("no live sessions of this key were found"));
  for (const auto& [host, count] : {std::pair{"web-1", 2}, {"web-2", 1}, {"web-3", 0}}) {
    v1::SessionsEndedOnHost* e = key.add_sessions_ended();
    e->set_hostname(host);
    e->set_count(count);
  }
  EXPECT_EQ(SessionsEndedSummary(key), "ended 3 live sessions on 2 hosts");
}

}  // namespace
}  // namespace keyfleet::cli
