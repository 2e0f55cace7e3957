// The controller-wide budget of unfinished writes to agents (WriteBudget) and the hub that
// applies it to Watch streams (WatchHub), without gRPC: fake subscribers and explicit times.
#include "controller/service/write_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <thread>

#include "absl/time/clock.h"
#include "controller/service/watch_hub.h"

namespace keyfleet::controller {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

const absl::Time kT0 = absl::FromUnixSeconds(1'800'000'000);

WriteBudgetLimits SmallLimits() {
  WriteBudgetLimits limits;
  limits.capacity_bytes = 1000;
  limits.acknowledged_reserve_bytes = 200;
  limits.stall_limit = absl::Seconds(60);
  limits.stall_limit_when_full = absl::Seconds(5);
  return limits;
}

// Distinct writer identities.
int a, b, c, d;
const WriteBudget::Writer A = &a, B = &b, C = &c, D = &d;

TEST(WriteBudget, AdmitsWhatFitsAndQueuesTheRest) {
  WriteBudget budget(SmallLimits());
  EXPECT_TRUE(budget.TryStart(A, 600, false, kT0));
  EXPECT_TRUE(budget.TryStart(B, 400, false, kT0));  // exactly the capacity
  EXPECT_FALSE(budget.TryStart(C, 1, false, kT0));
  EXPECT_EQ(budget.stats().charged_bytes, 1000u);
  EXPECT_EQ(budget.stats().waiting, 1u);
  EXPECT_THAT(budget.TakeWakeable(), IsEmpty());  // nothing freed yet

  budget.Finish(A);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(C));
  // C's room is reserved: its write goes even if it grew meanwhile.
  EXPECT_TRUE(budget.TryStart(C, 700, false, kT0));
  EXPECT_EQ(budget.stats().charged_bytes, 1100u);
  EXPECT_EQ(budget.stats().waiting, 0u);
  EXPECT_EQ(budget.stats().finished_bytes, 600u);
}

TEST(WriteBudget, OneStateLargerThanTheCapacityStillGoesAlone) {
  WriteBudget budget(SmallLimits());
  EXPECT_TRUE(budget.TryStart(A, 5000, false, kT0));
  EXPECT_FALSE(budget.TryStart(B, 10, false, kT0));
  budget.Finish(A);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(B));
}

TEST(WriteBudget, NewcomersWaitBehindTheQueue) {
  WriteBudget budget(SmallLimits());
  ASSERT_TRUE(budget.TryStart(A, 900, false, kT0));
  ASSERT_FALSE(budget.TryStart(B, 500, false, kT0));
  // 100 bytes would fit, but B came first.
  EXPECT_FALSE(budget.TryStart(C, 100, false, kT0));
  budget.Finish(A);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(B, C));
}

TEST(WriteBudget, AWriterThatDoesNotFitStopsItsClass) {
  WriteBudget budget(SmallLimits());
  ASSERT_TRUE(budget.TryStart(A, 600, false, kT0));
  ASSERT_TRUE(budget.TryStart(B, 300, false, kT0));
  ASSERT_FALSE(budget.TryStart(C, 800, false, kT0));
  ASSERT_FALSE(budget.TryStart(D, 50, false, kT0));
  budget.Finish(B);
  // D would fit now, but waits for C rather than overtaking it for ever.
  EXPECT_THAT(budget.TakeWakeable(), IsEmpty());
  budget.Finish(A);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(C, D));
}

TEST(WriteBudget, AcknowledgedStreamsUseTheReserveAndAreWokenFirst) {
  WriteBudget budget(SmallLimits());
  ASSERT_TRUE(budget.TryStart(A, 1000, false, kT0));
  EXPECT_FALSE(budget.TryStart(B, 100, false, kT0));  // not acknowledged: waits
  EXPECT_TRUE(budget.TryStart(C, 150, true, kT0));    // its agent reads: the reserve
  EXPECT_FALSE(budget.TryStart(D, 100, true, kT0));   // the reserve is used up
  budget.Finish(C);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(D));  // B still does not fit the capacity
  budget.Finish(A);
  budget.Finish(D);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(B));
}

TEST(WriteBudget, HeartbeatsAreNeverRefusedButCanStall) {
  WriteBudget budget(SmallLimits());
  ASSERT_TRUE(budget.TryStart(A, 1000, false, kT0));
  EXPECT_TRUE(budget.TryStart(B, 0, false, kT0));
  EXPECT_EQ(budget.stats().in_flight, 2u);
  EXPECT_THAT(budget.Stalled(kT0 + absl::Seconds(59)), IsEmpty());
  EXPECT_THAT(budget.Stalled(kT0 + absl::Seconds(60)), ElementsAre(A, B));
}

TEST(WriteBudget, UnderPressureChargedWritesStallSooner) {
  WriteBudget budget(SmallLimits());
  ASSERT_TRUE(budget.TryStart(A, 800, false, kT0));
  ASSERT_TRUE(budget.TryStart(B, 0, false, kT0));  // a heartbeat holds no room
  ASSERT_TRUE(budget.TryStart(C, 200, false, kT0 + absl::Seconds(3)));
  EXPECT_THAT(budget.Stalled(kT0 + absl::Seconds(10)), IsEmpty());  // nobody waits
  ASSERT_FALSE(budget.TryStart(D, 100, false, kT0 + absl::Seconds(10)));
  EXPECT_THAT(budget.Stalled(kT0 + absl::Seconds(7)), ElementsAre(A));
  EXPECT_THAT(budget.Stalled(kT0 + absl::Seconds(8)), ElementsAre(A, C));
  budget.Finish(A);
  budget.Finish(C);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(D));
}

TEST(WriteBudget, ForgetDropsChargeQueuePlaceAndReservation) {
  WriteBudget budget(SmallLimits());
  ASSERT_TRUE(budget.TryStart(A, 1000, false, kT0));
  ASSERT_FALSE(budget.TryStart(B, 500, false, kT0));
  ASSERT_FALSE(budget.TryStart(C, 500, false, kT0));
  budget.Forget(B);  // went while waiting
  budget.Forget(A);  // went while writing
  EXPECT_EQ(budget.stats().charged_bytes, 0u);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(C));
  budget.Forget(C);  // went holding a reservation
  EXPECT_EQ(budget.stats().charged_bytes, 0u);
  EXPECT_EQ(budget.stats().waiting, 0u);
}

TEST(WriteBudget, AReturnedReservationFreesItsRoom) {
  WriteBudget budget(SmallLimits());
  ASSERT_TRUE(budget.TryStart(A, 1000, false, kT0));
  ASSERT_FALSE(budget.TryStart(B, 1000, false, kT0));
  ASSERT_FALSE(budget.TryStart(C, 1000, false, kT0));
  budget.Finish(A);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(B));
  budget.ReturnReservation(B);  // its state had not changed after all
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(C));
}

// A subscriber that records what the hub asks of it.
class FakeSubscriber : public WatchHub::Subscriber {
 public:
  void Notify() override {}
  void Heartbeat() override {}
  void WriteRoomFreed() override { ++room_freed; }
  void AbortStalledWrite() override { ++aborted; }
  std::atomic<int> room_freed{0};
  std::atomic<int> aborted{0};
};

bool WaitFor(const std::function<bool()>& done) {
  for (int i = 0; i < 500 && !done(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return done();
}

TEST(WriteBudget, QueueIfFullWaitsWithoutCharging) {
  WriteBudget budget(SmallLimits());
  EXPECT_FALSE(budget.QueueIfFull(A, 600, false));  // would fit: not queued, nothing charged
  EXPECT_EQ(budget.stats().charged_bytes, 0u);
  ASSERT_TRUE(budget.TryStart(A, 600, false, kT0));
  EXPECT_TRUE(budget.QueueIfFull(B, 600, false));
  EXPECT_EQ(budget.stats().waiting, 1u);
  budget.Finish(A);
  EXPECT_THAT(budget.TakeWakeable(), ElementsAre(B));
  EXPECT_FALSE(budget.QueueIfFull(B, 600, false));  // it holds a reservation
}

TEST(WatchHub, WakesAWaitingStreamWhenAWriteEnds) {
  WatchHub hub(SmallLimits(), absl::Hours(1));  // no maintenance pass during the test
  auto first = std::make_shared<FakeSubscriber>();
  auto second = std::make_shared<FakeSubscriber>();
  hub.Add("h1", first);
  hub.Add("h2", second);
  ASSERT_TRUE(hub.BeginWrite(first.get(), 1000, false));
  ASSERT_FALSE(hub.BeginWrite(second.get(), 10, false));
  hub.EndWrite(first.get());
  EXPECT_TRUE(WaitFor([&] { return second->room_freed == 1; }));
  EXPECT_EQ(first->room_freed, 0);
  hub.Remove("h1", first.get());
  hub.Remove("h2", second.get());
  EXPECT_EQ(hub.write_stats().charged_bytes, 0u);  // second's reservation went with it
}

TEST(WatchHub, MaintenanceEndsStalledStreamsAndWakesWaitersAfterwards) {
  WriteBudgetLimits limits = SmallLimits();
  limits.stall_limit_when_full = absl::ZeroDuration();  // under pressure, at once
  WatchHub hub(limits, absl::Hours(1));
  auto stuck = std::make_shared<FakeSubscriber>();
  auto waiting = std::make_shared<FakeSubscriber>();
  hub.Add("stuck", stuck);
  hub.Add("waiting", waiting);
  ASSERT_TRUE(hub.BeginWrite(stuck.get(), 1000, false));
  ASSERT_FALSE(hub.BeginWrite(waiting.get(), 500, false));
  hub.Maintain(absl::Now() + absl::Seconds(1));
  EXPECT_EQ(stuck->aborted, 1);
  EXPECT_EQ(waiting->aborted, 0);
  hub.EndWrite(stuck.get());  // the cancelled write fails
  hub.Remove("stuck", stuck.get());
  // Woken by the next pass, once the stalled streams' memory was handed back, not at once.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  EXPECT_EQ(waiting->room_freed, 0);
  hub.Maintain(absl::Now() + absl::Seconds(2));
  EXPECT_EQ(waiting->room_freed, 1);
  hub.Remove("waiting", waiting.get());
}

TEST(WatchHub, ASubscriberThatWentIsNotWoken) {
  WatchHub hub(SmallLimits(), absl::Hours(1));
  auto writer = std::make_shared<FakeSubscriber>();
  auto gone = std::make_shared<FakeSubscriber>();
  hub.Add("writer", writer);
  hub.Add("gone", gone);
  ASSERT_TRUE(hub.BeginWrite(writer.get(), 1000, false));
  ASSERT_FALSE(hub.BeginWrite(gone.get(), 500, false));
  hub.Remove("gone", gone.get());
  hub.EndWrite(writer.get());
  hub.Maintain(absl::Now());
  EXPECT_EQ(gone->room_freed, 0);
  EXPECT_EQ(hub.write_stats().charged_bytes, 0u);
  EXPECT_EQ(hub.write_stats().waiting, 0u);
  hub.Remove("writer", writer.get());
}

}  // namespace
}  // namespace keyfleet::controller
