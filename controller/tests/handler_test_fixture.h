// The controller's handlers over a FakeStore and a fixed clock, as handler tests build them: the
// store, the fleet view following it (loaded), and the inventory, report and agent handlers.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "common/clock.h"
#include "controller/desired_state.h"
#include "controller/fleet_view.h"
#include "controller/handlers/agent_handlers.h"
#include "controller/handlers/inventory_handlers.h"
#include "controller/handlers/report_handlers.h"
#include "controller/model.h"
#include "controller/tests/fake_store.h"
#include "controller/view_follower.h"
#include "tests/support/test_keys.h"

namespace keyfleet::controller {

// The fixed clock's start: 2026-11-18 11:06:40 UTC.
inline const absl::Time kHandlerTestStart = absl::FromUnixSeconds(1795000000);

// What an agent reports after applying its current desired state, nothing failed.
inline HostReport AppliedReport(const HostDesiredState& state, const std::string& host,
                                absl::Time at) {
  HostReport r;
  r.hostname = host;
  r.at = at;
  r.applied_generation = state.generation;
  r.applied_digest = state.digest;
  r.applied_epoch = state.epoch;
  return r;
}

// Public members: table-driven tests reach them from outside the fixture.
class HandlerTest : public ::testing::Test {
 public:
  HandlerTest()
      : clock_(kHandlerTestStart),
        view_(PolicyRecord{}),
        follower_(store_, view_, clock_),
        ctx_{store_, view_, follower_, clock_, HandlerSettings{}},
        reports_(store_),
        inventory_(ctx_),
        report_handlers_(ctx_),
        agents_(ctx_, reports_) {
    EXPECT_TRUE(follower_.Load().ok());
  }

  // Adds `who`'s synthetic Ed25519 key number `n` with `comment` on its line; returns its
  // fingerprint ("" when refused, with a failure recorded).
  std::string AddKey(const std::string& who, uint64_t n,
                     const std::string& comment = "user@laptop") {
    auto r =
        inventory_.AddKeys("admin", who, {keyfleet::testing::SyntheticEd25519Line(n, comment)}, "");
    EXPECT_TRUE(r.ok()) << r.status();
    return r.ok() ? r->keys[0].fingerprint : "";
  }

  FakeClock clock_;
  FakeStore store_;
  FleetView view_;
  ViewFollower follower_;
  HandlerContext ctx_;
  ReportBuffer reports_;
  InventoryHandlers inventory_;
  ReportHandlers report_handlers_;
  AgentHandlers agents_;
};

}  // namespace keyfleet::controller
