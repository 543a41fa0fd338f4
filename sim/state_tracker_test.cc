// File: sim/state_tracker_test.cc
//
// StateTracker: the reference last writer per key, conflicting keys counted
// once, convergence transitions as nodes change, join and leave, and
// reconciliation bytes counted only while diverged.
#include "sim/state_tracker.h"

#include <vector>

#include "gtest/gtest.h"

namespace elara::sim {
namespace {

StateVersion Version(uint64_t wall, uint32_t logical, uint64_t origin) {
  return StateVersion{wall, logical, NodeId(origin)};
}

TEST(StateTrackerTest, WinnerIsTheGreatestVersionWhateverTheOrder) {
  StateTracker t(/*keys=*/4, /*partitions=*/0);
  EXPECT_FALSE(t.winner(0).has_value());
  t.RecordWrite(0, Version(100, 0, 7), 0);
  t.RecordWrite(0, Version(90, 5, 9), 1);   // older wall time
  t.RecordWrite(0, Version(100, 0, 8), 2);  // same HLC, larger origin wins
  t.RecordWrite(1, Version(5, 1, 1), 3);
  t.RecordWrite(1, Version(5, 0, 2), 4);  // smaller logical counter
  ASSERT_TRUE(t.winner(0).has_value());
  EXPECT_EQ(t.winner(0)->write_index, 2u);
  EXPECT_EQ(t.winner(0)->version, Version(100, 0, 8));
  EXPECT_EQ(t.winner(1)->write_index, 3u);
  EXPECT_FALSE(t.winner(2).has_value());
  EXPECT_FALSE(t.winner(4).has_value());  // out of range
}

TEST(StateTrackerTest, ConflictingKeysNeedBothSidesOfOnePartition) {
  StateTracker t(/*keys=*/3, /*partitions=*/2);
  t.RecordSide(0, 0, /*side_a=*/true);
  t.RecordSide(0, 0, true);
  EXPECT_EQ(t.conflicting_keys(), 0u);
  t.RecordSide(1, 0, false);  // side B of another partition: not a conflict
  EXPECT_EQ(t.conflicting_keys(), 0u);
  t.RecordSide(0, 0, false);
  EXPECT_EQ(t.conflicting_keys(), 1u);
  t.RecordSide(1, 0, true);  // conflicting in partition 1 too: counted once
  EXPECT_EQ(t.conflicting_keys(), 1u);
  t.RecordSide(1, 2, true);
  t.RecordSide(1, 2, false);
  EXPECT_EQ(t.conflicting_keys(), 2u);
}

TEST(StateTrackerTest, ConvergesWhenTheLastNodeCatchesUp) {
  StateTracker t(1, 0);
  const std::vector<StateTracker::NodeState> nodes = {
      {0, 0xa, 0}, {1, 0xa, 0}, {2, 0xb, 0}};
  t.Begin(1000, nodes);
  EXPECT_TRUE(t.begun());
  EXPECT_FALSE(t.converged());
  EXPECT_FALSE(t.converged_since_us().has_value());
  EXPECT_EQ(t.tracked_nodes(), 3u);
  EXPECT_EQ(t.MajorityDigest().digest, 0xau);
  EXPECT_EQ(t.MajorityDigest().nodes, 2u);
  t.Observe(1500, {0, 0xc, 0});  // a third state
  EXPECT_FALSE(t.converged());
  t.Observe(1600, {0, 0xb, 0});
  t.Observe(1700, {1, 0xb, 0});
  ASSERT_TRUE(t.converged());
  EXPECT_EQ(t.converged_since_us(), 1700);
  t.Observe(1800, {1, 0xb, 0});  // unchanged: still since 1700
  EXPECT_EQ(t.converged_since_us(), 1700);
  // A fresh node with an empty store diverges the swarm; catching up
  // converges it again, later.
  t.Add(2000, {5, 0x0, 0});
  EXPECT_FALSE(t.converged());
  EXPECT_EQ(t.tracked_nodes(), 4u);
  t.Observe(2500, {5, 0xb, 0});
  EXPECT_EQ(t.converged_since_us(), 2500);
}

TEST(StateTrackerTest, ConvergedAtBeginAndWhenTheOddNodeLeaves) {
  StateTracker t(1, 0);
  const std::vector<StateTracker::NodeState> same = {{0, 7, 0}, {1, 7, 0}};
  t.Begin(100, same);
  EXPECT_EQ(t.converged_since_us(), 100);

  StateTracker u(1, 0);
  const std::vector<StateTracker::NodeState> split = {
      {0, 7, 0}, {1, 7, 0}, {2, 8, 0}};
  u.Begin(100, split);
  EXPECT_FALSE(u.converged());
  u.Remove(300, 2);  // the odd one crashes
  EXPECT_EQ(u.converged_since_us(), 300);
  EXPECT_EQ(u.tracked_nodes(), 2u);
  EXPECT_EQ(u.MajorityDigest().nodes, 2u);

  StateTracker empty(1, 0);
  empty.Begin(5, {});
  EXPECT_TRUE(empty.converged());  // vacuously
  EXPECT_EQ(empty.MajorityDigest().nodes, 0u);
}

TEST(StateTrackerTest, MajorityTieTakesTheSmallestDigest) {
  StateTracker t(1, 0);
  const std::vector<StateTracker::NodeState> nodes = {
      {0, 9, 0}, {1, 3, 0}, {2, 9, 0}, {3, 3, 0}};
  t.Begin(0, nodes);
  EXPECT_EQ(t.MajorityDigest().digest, 3u);
  EXPECT_EQ(t.MajorityDigest().nodes, 2u);
}

TEST(StateTrackerTest, ReconciliationBytesCountOnlyWhileDiverged) {
  StateTracker t(1, 0);
  const std::vector<StateTracker::NodeState> nodes = {{0, 1, 1000}, {1, 2, 50}};
  t.Begin(0, nodes);
  EXPECT_EQ(t.reconciliation_bytes(), 0u);  // bytes before Begin: not counted
  t.Observe(10, {0, 1, 1100});              // +100, diverged
  EXPECT_EQ(t.reconciliation_bytes(), 100u);
  t.Observe(20, {1, 1, 80});  // +30 in the call that converges
  EXPECT_EQ(t.reconciliation_bytes(), 130u);
  ASSERT_TRUE(t.converged());
  t.Observe(30, {0, 1, 1125});  // in-sync digests after convergence
  t.Observe(40, {1, 1, 105});
  EXPECT_EQ(t.reconciliation_bytes(), 130u);
  // A fresh node: bytes count again until it catches up, from its own
  // counter's value when it was added.
  t.Add(50, {2, 0, 0});
  t.Observe(60, {2, 0, 40});
  t.Observe(70, {0, 1, 1145});
  EXPECT_EQ(t.reconciliation_bytes(), 130u + 40 + 20);
}

}  // namespace
}  // namespace elara::sim
