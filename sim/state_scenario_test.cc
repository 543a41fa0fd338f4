// File: sim/state_scenario_test.cc
//
// The state workload end to end (issue #6): both halves of a 50/50
// partition write overlapping keys, the partition heals, and every live
// node ends with the same state, holding for every key the write the
// last-writer-wins order picks, whatever side made it. A partition that
// never heals leaves the halves apart (the check can fail). Restarted
// nodes with empty stores diverge the swarm again and catch up. State
// convergence after the heal grows slower than the swarm. A failing check
// prints the command line that replays the scenario.
#include <cmath>
#include <set>
#include <vector>

#include "gtest/gtest.h"
#include "sim/network.h"
#include "sim/scenario.h"
#include "sim/scenario_flags.h"
#include "sim/simulator.h"

namespace elara::sim {
namespace {

#define REPLAY(s) "replay: " << FailureReplay(s)

// Writes only while cut (from 2 s to the heal), 40 a second over 40 keys,
// so many keys are written on both sides. Anti-entropy runs every 250 ms
// (4x the default) so that convergence, counted in rounds, takes a quarter
// of the virtual time and the tests stay quick.
Scenario PartitionScenario(uint32_t nodes, uint64_t seed, Duration heal) {
  Scenario s;
  s.seed = seed;
  s.nodes = nodes;
  s.latency_min = Duration::Millis(5);
  s.latency_max = Duration::Millis(40);
  s.warmup = Duration::Seconds(2);
  s.broadcasts = 0;
  s.state_writes_per_s = 40;
  s.state_keys = 40;
  s.state_value_bytes = 48;
  s.engine.state.anti_entropy_period = Duration::Millis(250);
  s.partitions.push_back(PartitionSpec{0.5, Duration::Seconds(2), heal});
  s.drain = Duration::Seconds(10);
  return s;
}

std::unique_ptr<Simulator> MustCreate(const Scenario& s) {
  absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
  EXPECT_TRUE(sim.ok()) << sim.status();
  return sim.ok() ? std::move(*sim) : nullptr;
}

std::set<uint64_t> LiveDigests(const Simulator& sim) {
  std::set<uint64_t> digests;
  for (uint32_t n = 0; n < sim.node_slots(); ++n) {
    if (sim.live(n)) digests.insert(sim.engine(n)->StateDigest());
  }
  return digests;
}

// Every live node holds, for every key written, exactly the greatest
// version written (by any side) and that write's value.
void ExpectEveryNodeHoldsTheLastWriter(const Simulator& sim,
                                       const Scenario& s) {
  const StateTracker& tracker = *sim.state_tracker();
  std::vector<uint8_t> expected;
  int written = 0;
  for (uint32_t k = 0; k < s.state_keys; ++k) {
    const std::optional<StateTracker::Winner> winner = tracker.winner(k);
    if (!winner) continue;
    ++written;
    Simulator::StateValue(winner->write_index, s.state_value_bytes, &expected);
    for (uint32_t n = 0; n < sim.node_slots(); ++n) {
      if (!sim.live(n)) continue;
      const std::optional<StateValue> held =
          sim.engine(n)->GetState(Simulator::StateKey(k));
      ASSERT_TRUE(held.has_value()) << "key " << k << " node " << n;
      ASSERT_EQ(held->version, winner->version)
          << "key " << k << " node " << n << " " << REPLAY(s);
      ASSERT_EQ(*held->value, expected) << "key " << k << " node " << n;
    }
  }
  EXPECT_GT(written, static_cast<int>(s.state_keys) / 2);
}

TEST(StateScenarioTest, HealedPartitionConvergesToTheLastWriterEverywhere) {
  // 2 s cut: shorter than the probe timeout, so the overlay's links survive.
  const Scenario s = PartitionScenario(300, 21, Duration::Seconds(4));
  std::unique_ptr<Simulator> sim = MustCreate(s);
  ASSERT_NE(sim, nullptr);
  // Just before the heal the halves hold different states.
  sim->RunUntil(Duration::Seconds(4) - Duration::Micros(1));
  EXPECT_GT(LiveDigests(*sim).size(), 1u) << REPLAY(s);
  EXPECT_GT(sim->counters().dropped_partition, 0u);
  const RunResult r = sim->Run();
  EXPECT_TRUE(r.state_workload);
  EXPECT_EQ(r.state_writes, 80u);
  EXPECT_EQ(r.state_writes_failed, 0u);
  // Overlapping keys: some were written on both sides while cut.
  EXPECT_GT(r.state_conflicting_keys, 5u) << REPLAY(s);
  EXPECT_EQ(r.state_settle_ms, 4000.0);
  ASSERT_TRUE(r.state_convergence_ms.has_value()) << REPLAY(s);
  EXPECT_GT(*r.state_convergence_ms, 0.0);  // reconciling took time
  EXPECT_EQ(r.state_divergent_nodes, 0u) << REPLAY(s);
  EXPECT_GT(r.reconciliation_bytes, 0u);
  EXPECT_EQ(LiveDigests(*sim).size(), 1u) << REPLAY(s);
  ExpectEveryNodeHoldsTheLastWriter(*sim, s);
  EXPECT_EQ(r.state_keys_held, sim->engine(0)->StateKeyCount());
  EXPECT_EQ(r.reliability, 1.0);  // no broadcasts: nothing missed
  EXPECT_GT(sim->counters().state_changes, 0u);
}

TEST(StateScenarioTest, LongPartitionWithSkewedClocksStillConverges) {
  // A 6 s cut outlives the probe timeout: links across it die and the
  // overlay must reconnect. Clocks skewed by up to 3 s make virtual time
  // and HLC order disagree.
  Scenario s = PartitionScenario(200, 22, Duration::Seconds(8));
  s.state_writes_per_s = 15;
  s.state_clock_skew = Duration::Seconds(3);
  s.drain = Duration::Seconds(20);
  std::unique_ptr<Simulator> sim = MustCreate(s);
  ASSERT_NE(sim, nullptr);
  const RunResult r = sim->Run();
  EXPECT_GT(r.state_conflicting_keys, 5u) << REPLAY(s);
  ASSERT_TRUE(r.state_convergence_ms.has_value()) << REPLAY(s);
  EXPECT_EQ(r.state_divergent_nodes, 0u) << REPLAY(s);
  EXPECT_EQ(LiveDigests(*sim).size(), 1u) << REPLAY(s);
  ExpectEveryNodeHoldsTheLastWriter(*sim, s);
}

TEST(StateScenarioTest, RestartedNodesWithEmptyStoresCatchUp) {
  // 10 % crash 1 s after the heal and restart 1 s later on fresh engines
  // (empty stores): the swarm diverges again at 6 s and converges once they
  // have caught up, so convergence counts from the settle point past 6 s.
  Scenario s = PartitionScenario(200, 24, Duration::Seconds(4));
  s.crashes.push_back(
      CrashSpec{0.1, Duration::Seconds(5), Duration::Seconds(1)});
  std::unique_ptr<Simulator> sim = MustCreate(s);
  ASSERT_NE(sim, nullptr);
  sim->RunUntil(Duration::Seconds(6));
  EXPECT_EQ(sim->counters().restarts, 20u);
  ASSERT_NE(sim->state_tracker(), nullptr);
  EXPECT_FALSE(sim->state_tracker()->converged());  // 20 empty stores
  EXPECT_EQ(sim->state_tracker()->tracked_nodes(), 200u);
  const RunResult r = sim->Run();
  EXPECT_EQ(r.live_nodes, 200u);
  ASSERT_TRUE(r.state_convergence_ms.has_value()) << REPLAY(s);
  EXPECT_GT(*r.state_convergence_ms, 2000.0) << REPLAY(s);
  EXPECT_EQ(r.state_divergent_nodes, 0u);
  ExpectEveryNodeHoldsTheLastWriter(*sim, s);
}

TEST(StateScenarioTest, PartitionThatNeverHealsDoesNotConverge) {
  Scenario s = PartitionScenario(300, 21, Duration::Infinite());
  s.state_writes_until = Duration::Seconds(4);
  std::unique_ptr<Simulator> sim = MustCreate(s);
  ASSERT_NE(sim, nullptr);
  const RunResult r = sim->Run();
  EXPECT_FALSE(r.state_convergence_ms.has_value()) << REPLAY(s);
  // Roughly one half differs from the other.
  EXPECT_GT(r.state_divergent_nodes, 100u) << REPLAY(s);
  EXPECT_LT(r.state_divergent_nodes, 200u) << REPLAY(s);
  EXPECT_GE(LiveDigests(*sim).size(), 2u);
  // Every node agrees with its own side.
  NetworkModel network(s, sim->origin(), s.nodes);
  std::set<uint64_t> side_a, side_b;
  for (uint32_t n = 0; n < sim->node_slots(); ++n) {
    (network.OnSideA(0, n) ? side_a : side_b)
        .insert(sim->engine(n)->StateDigest());
  }
  EXPECT_EQ(side_a.size(), 1u);
  EXPECT_EQ(side_b.size(), 1u);
}

TEST(StateScenarioTest, SameSeedSameRunAndOffIsOff) {
  const Scenario s = PartitionScenario(120, 23, Duration::Seconds(3));
  std::unique_ptr<Simulator> a = MustCreate(s);
  std::unique_ptr<Simulator> b = MustCreate(s);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  const RunResult ra = a->Run();
  const RunResult rb = b->Run();
  EXPECT_EQ(ra.trace_hash, rb.trace_hash);
  EXPECT_EQ(ra.state_convergence_ms, rb.state_convergence_ms);
  EXPECT_EQ(ra.reconciliation_bytes, rb.reconciliation_bytes);
  EXPECT_EQ(ra.state_conflicting_keys, rb.state_conflicting_keys);
  // Rate 0: the other state fields change nothing.
  Scenario off;
  off.nodes = 120;
  off.broadcasts = 3;
  off.drain = Duration::Seconds(3);
  Scenario off_tuned = off;
  off_tuned.state_keys = 7;
  off_tuned.state_value_bytes = 9;
  off_tuned.state_clock_skew = Duration::Seconds(1);
  off_tuned.state_writes_until = Duration::Seconds(5);
  std::unique_ptr<Simulator> c = MustCreate(off);
  std::unique_ptr<Simulator> d = MustCreate(off_tuned);
  ASSERT_NE(c, nullptr);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(c->state_tracker(), nullptr);
  const RunResult rc = c->Run();
  EXPECT_EQ(rc.trace_hash, d->Run().trace_hash);
  EXPECT_FALSE(rc.state_workload);
  EXPECT_EQ(c->end(), d->end());
}

// Issue #6: convergence after the heal grows with log N, not linearly.
// Mean over 2 seeds per size; N grows 16x from 64 to 1024 (the writes, and
// so the difference to reconcile, stay the same). Pure log2 growth gives
// at most 10/6 = 1.7x, sqrt(N) 4x, linear 16x; the bound 3x leaves room for
// a log curve with a negative intercept and still fails sqrt(N) and
// faster. Measured (2026-11, this scenario): 4297, 4270, 4881 ms.
TEST(StateScenarioTest, ConvergenceAfterHealGrowsSubLinearly) {
  std::vector<double> mean_ms;
  for (uint32_t nodes : {64u, 256u, 1024u}) {
    double sum = 0;
    for (uint64_t seed : {31u, 32u}) {
      const Scenario s = PartitionScenario(nodes, seed, Duration::Seconds(4));
      std::unique_ptr<Simulator> sim = MustCreate(s);
      ASSERT_NE(sim, nullptr);
      const RunResult r = sim->Run();
      ASSERT_TRUE(r.state_convergence_ms.has_value()) << REPLAY(s);
      EXPECT_GT(r.state_conflicting_keys, 0u) << REPLAY(s);
      sum += *r.state_convergence_ms;
    }
    mean_ms.push_back(sum / 2);
  }
  ASSERT_GT(mean_ms[0], 0.0);
  EXPECT_LT(mean_ms[2] / mean_ms[0], 3.0)
      << mean_ms[0] << " ms at 64, " << mean_ms[1] << " ms at 256, "
      << mean_ms[2] << " ms at 1024";
  // Each 4x step costs less than 2x more (sqrt(N) would double).
  EXPECT_LT(mean_ms[1], 2 * mean_ms[0]);
  EXPECT_LT(mean_ms[2], 2 * mean_ms[1]);
}

}  // namespace
}  // namespace elara::sim
