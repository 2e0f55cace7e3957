// The order in which an agent tries its controllers (watch_client.h): shuffled per agent, round
// robin, a round complete once every address failed since the last working stream.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "node-agent/watch_client.h"

namespace keyfleet::agent {
namespace {

const std::vector<std::string> kThree = {"a:7443", "b:7443", "c:7443"};

TEST(ControllerRotation, OneRoundTriesEveryAddressOnceThenStartsOver) {
  for (uint64_t seed = 0; seed < 20; ++seed) {
    ControllerRotation rotation(kThree, seed);
    std::vector<std::string> first_round;
    for (size_t i = 0; i < kThree.size(); ++i) {
      first_round.push_back(rotation.current());
      EXPECT_EQ(rotation.Failed(), i + 1 == kThree.size()) << "round complete only at the end";
    }
    EXPECT_THAT(first_round, ::testing::UnorderedElementsAreArray(kThree));
    // The next round goes through the same order.
    for (size_t i = 0; i < kThree.size(); ++i) {
      EXPECT_EQ(rotation.current(), first_round[i]);
      EXPECT_EQ(rotation.Failed(), i + 1 == kThree.size());
    }
  }
}

TEST(ControllerRotation, AWorkingControllerIsAskedFirstAgainAndStartsANewRound) {
  ControllerRotation rotation(kThree, 7);
  rotation.Failed();  // the first one was down
  const std::string working = rotation.current();
  rotation.Succeeded();  // its stream worked, then ended
  EXPECT_EQ(rotation.current(), working);
  // A full round from here: this one and both others may fail before the backoff grows.
  EXPECT_FALSE(rotation.Failed());
  EXPECT_NE(rotation.current(), working);
  EXPECT_FALSE(rotation.Failed());
  EXPECT_TRUE(rotation.Failed());
  EXPECT_EQ(rotation.current(), working) << "round robin: back to the start";
}

TEST(ControllerRotation, OneAddressIsARoundOfOne) {
  ControllerRotation rotation({"a:7443"}, 1);
  EXPECT_TRUE(rotation.Failed());
  EXPECT_TRUE(rotation.Failed());
  EXPECT_EQ(rotation.current(), "a:7443");
}

// A fleet spreads over the replicas, and the agents of one replica spread over the others when
// it dies (the order is a random permutation, not the list rotated).
TEST(ControllerRotation, AFleetSpreadsOverTheReplicasAndSoDoesAFailover) {
  std::map<std::string, int> first;
  std::map<std::string, int> after_a;  // where agents that started on a go next
  for (uint64_t seed = 0; seed < 3000; ++seed) {
    ControllerRotation rotation(kThree, seed);
    ++first[rotation.current()];
    if (rotation.current() == "a:7443") {
      rotation.Failed();
      ++after_a[rotation.current()];
    }
  }
  for (const std::string& address : kThree) EXPECT_GT(first[address], 800) << address;
  EXPECT_GT(after_a["b:7443"], 350);
  EXPECT_GT(after_a["c:7443"], 350);
}

}  // namespace
}  // namespace keyfleet::agent
