// Which events are notified, on a fixed clock: from a mutation's audit entries and from the scan.
#include "controller/notification_events.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "controller/record_json.h"
#include "controller/store/mutation_log.h"
#include "nlohmann/json.hpp"

namespace keyfleet::controller {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

const absl::Time kNow = absl::FromUnixSeconds(1795000000);
const absl::Duration kDay = absl::Hours(24);

KeyRecord Key(const std::string& fp, absl::Time created, absl::Time expires) {
  KeyRecord k;
  k.fingerprint = fp;
  k.principal = "alice";
  k.label = "laptop";
  k.created_at = created;
  k.expires_at = expires;
  return k;
}

std::vector<std::string> Events(const std::vector<OutboxEntry>& entries) {
  std::vector<std::string> out;
  for (const OutboxEntry& e : entries) out.push_back(e.event);
  return out;
}

// A bulk add is one notification, listing at most 100 keys; and its change round-trips.
TEST(NotificationEventsTest, ABulkAddIsOneNotification) {
  const MutationContext ctx{"token:ops", kNow};
  std::vector<KeyRecord> keys;
  for (int i = 0; i < 150; ++i) {
    keys.push_back(Key("SHA256:k" + std::to_string(i), kNow, kNow + 365 * kDay));
  }
  ASSERT_TRUE(IsKeyBatch(keys));
  const MutationLog log = KeyBatchLog(keys);
  ASSERT_EQ(log.audit.size(), 1u);
  ASSERT_EQ(log.changes.size(), 1u);
  std::vector<OutboxEntry> out = NotificationsForMutation(log.audit, ctx);
  ASSERT_EQ(Events(out), std::vector<std::string>{"keys.added"});
  EXPECT_EQ(out[0].principal, "alice");
  EXPECT_THAT(out[0].subject, HasSubstr("150 keys were added for alice"));
  EXPECT_THAT(out[0].payload_json, HasSubstr("\"keys_truncated\":true"));
  EXPECT_THAT(out[0].payload_json, HasSubstr("SHA256:k99\""));
  EXPECT_THAT(out[0].payload_json, Not(HasSubstr("SHA256:k100\"")));
  auto back = KeysFromJson(log.changes[0].after_json);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), keys.size());
  for (size_t i = 0; i < keys.size(); ++i) EXPECT_EQ((*back)[i], keys[i]) << i;
  EXPECT_FALSE(KeysFromJson("{\"principal\":\"a\"}").ok());
  EXPECT_FALSE(KeysFromJson("[]").ok());
  keys[3].label = "other";
  EXPECT_FALSE(IsKeyBatch(keys)) << "keys that differ in what a batch shares are not one";
}

TEST(NotificationEventsTest, ABatchsAuditEntryRecordsEveryKeysExpiry) {
  std::vector<KeyRecord> keys = {Key("SHA256:a", kNow, kNow + 365 * kDay),
                                 Key("SHA256:b", kNow, kNow + 365 * kDay)};
  nlohmann::json shared = nlohmann::json::parse(KeyBatchAuditJson(keys));
  EXPECT_TRUE(shared.contains("expires_at")) << "one shared expiry, written once";
  EXPECT_FALSE(shared["keys"][1].contains("expires_at"));
  keys[1].expires_at = kNow + 30 * kDay;
  ASSERT_TRUE(IsKeyBatch(keys)) << "keys of one batch may expire at different times";
  nlohmann::json each = nlohmann::json::parse(KeyBatchAuditJson(keys));
  EXPECT_FALSE(each.contains("expires_at"));
  EXPECT_NE(each["keys"][0]["expires_at"], each["keys"][1]["expires_at"]);
  auto back = KeysFromJson(KeysToJson(keys));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)[1].expires_at, kNow + 30 * kDay);
}

TEST(NotificationEventsTest, MutationsNotifyAddRotateRevokeOnceEach) {
  const MutationContext ctx{"token:ops", kNow};
  KeyRecord old_key = Key("SHA256:old", kNow, kNow + 365 * kDay);
  KeyRecord next = Key("SHA256:new", kNow, kNow + 365 * kDay);
  KeyRecord superseded = old_key;
  superseded.state = KeyState::kSuperseded;
  superseded.successor_fingerprint = next.fingerprint;
  KeyRecord revoked = next;
  revoked.state = KeyState::kRevoked;
  revoked.revocation_reason = "laptop stolen";
  const std::vector<AuditEntry> rotation = {
      {"key.add", next.fingerprint, "", KeyToJson(next)},
      {"key.rotate", old_key.fingerprint, KeyToJson(old_key), KeyToJson(superseded)},
      {"grant.add", "7", "", "{}"}};
  std::vector<OutboxEntry> rotated = NotificationsForMutation(rotation, ctx);
  EXPECT_EQ(Events(rotated), std::vector<std::string>{"key.rotated"})
      << "the successor's key.add is part of the rotation";
  EXPECT_EQ(rotated[0].principal, "alice");
  EXPECT_THAT(rotated[0].payload_json, HasSubstr("\"successor_fingerprint\":\"SHA256:new\""));
  EXPECT_THAT(rotated[0].text, HasSubstr("keeps working until"));
  EXPECT_TRUE(rotated[0].dedupe_key.empty());

  EXPECT_EQ(Events(NotificationsForMutation({{"key.add", "SHA256:new", "", KeyToJson(next)}}, ctx)),
            std::vector<std::string>{"key.added"});
  std::vector<OutboxEntry> gone = NotificationsForMutation(
      {{"key.revoke", next.fingerprint, KeyToJson(next), KeyToJson(revoked)}}, ctx);
  ASSERT_EQ(Events(gone), std::vector<std::string>{"key.revoked"});
  EXPECT_THAT(gone[0].text, HasSubstr("laptop stolen"));
  EXPECT_THAT(NotificationsForMutation({{"principal.add", "bob", "", "{}"},
                                        {"policy.set", "policy", "", "{}"},
                                        {"key.label", "x", "{}", "{}"}},
                                       ctx),
              IsEmpty());
}

TEST(NotificationEventsTest, TheScanFindsExpiringOverdueDriftSilenceAndStuckRollouts) {
  FleetScan scan;
  scan.now = kNow;
  scan.host_stale_after = absl::Minutes(15);
  scan.rollout_deadline = absl::Minutes(15);
  const RotationRule rule{365 * kDay, 30 * kDay, 14 * kDay};
  scan.keys = {
      {Key("SHA256:fresh", kNow - 10 * kDay, kNow + 355 * kDay), rule},
      {Key("SHA256:due", kNow - 340 * kDay, kNow + 25 * kDay), rule},
      {Key("SHA256:old", kNow - 400 * kDay, kNow + 5 * kDay), rule},  // past max age
      {Key("SHA256:long-gone", kNow - 800 * kDay, kNow - 60 * kDay), rule},
  };
  KeyRecord superseded = Key("SHA256:superseded", kNow - 340 * kDay, kNow + kDay);
  superseded.state = KeyState::kSuperseded;
  scan.keys.push_back({superseded, rule});
  scan.hosts = {{"web-1", kNow, {"{\"kind\":\"UNMANAGED_KEY\"}"}},
                {"web-2", kNow - absl::Hours(1), {}},
                {"web-3", kNow - absl::Minutes(1), {}}};
  scan.latest_rollout = ScannedRollout{42, kNow - absl::Minutes(20), {"web-2"}, {}};
  std::vector<OutboxEntry> found = NotificationsForScan(scan);
  EXPECT_EQ(Events(found),
            (std::vector<std::string>{"key.expiring", "key.overdue", "host.drift",
                                      "host.not_seen", "rollout.not_converged"}));
  EXPECT_EQ(found[0].dedupe_key,
            "key.expiring:SHA256:due:" + std::to_string(absl::ToUnixSeconds(kNow + 25 * kDay)));
  EXPECT_EQ(found[1].dedupe_key, "key.overdue:SHA256:old");
  EXPECT_THAT(found[1].text, HasSubstr("keyfleet key rotate SHA256:old"));
  EXPECT_THAT(found[2].dedupe_key, HasSubstr("host.drift:web-1:"));
  EXPECT_EQ(found[4].dedupe_key, "rollout.not_converged:42");
  EXPECT_THAT(found[4].payload_json, HasSubstr("web-2"));

  // A rollout younger than the deadline, or converged, is not reported.
  scan.latest_rollout->at = kNow - absl::Minutes(5);
  EXPECT_EQ(Events(NotificationsForScan(scan)).size(), 4u);
  scan.latest_rollout->at = kNow - absl::Hours(1);
  scan.latest_rollout->pending_hosts.clear();
  EXPECT_EQ(Events(NotificationsForScan(scan)).size(), 4u);
}

}  // namespace
}  // namespace keyfleet::controller
