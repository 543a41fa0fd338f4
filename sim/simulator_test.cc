// File: sim/simulator_test.cc
//
// End-to-end runs of real engines in the simulator: delivery, determinism
// of the trace hash, partitions that heal, mass crashes, restarts, churn,
// the written trace. A failing check prints the command line that replays
// the scenario.
#include "sim/simulator.h"

#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "sim/scenario.h"
#include "sim/scenario_flags.h"

namespace elara::sim {
namespace {

Scenario SmallScenario(uint64_t seed = 1) {
  Scenario s;
  s.seed = seed;
  s.nodes = 200;
  s.latency_model = LatencyModel::kUniform;
  s.latency_min = Duration::Millis(5);
  s.latency_max = Duration::Millis(40);
  s.bootstrap = Bootstrap::kWarm;
  s.warmup = Duration::Seconds(2);
  s.broadcasts = 10;
  s.payload_bytes = 512;
  s.broadcast_interval = Duration::Millis(200);
  s.drain = Duration::Seconds(5);
  return s;
}

RunResult MustRun(const Scenario& s,
                  std::unique_ptr<Simulator>* out = nullptr) {
  absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
  EXPECT_TRUE(sim.ok()) << sim.status();
  if (!sim.ok()) return RunResult();
  RunResult r = (*sim)->Run();
  if (out != nullptr) *out = std::move(*sim);
  return r;
}

#define REPLAY(s) "replay: " << FailureReplay(s)

TEST(SimulatorTest, RejectsInvalidScenario) {
  Scenario s = SmallScenario();
  s.nodes = 1;
  absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
  EXPECT_EQ(sim.status().code(), absl::StatusCode::kInvalidArgument);
}

// Scenario::End() (used for the unexercised-fault warnings) is the end
// the simulator schedules, with either bootstrap and the state workload.
TEST(SimulatorTest, ScenarioEndIsTheRunsEnd) {
  Scenario warm = SmallScenario();
  Scenario protocol = SmallScenario();
  protocol.bootstrap = Bootstrap::kProtocol;
  protocol.join_spread = Duration::Seconds(3);
  Scenario state = SmallScenario();
  state.state_writes_per_s = 50;
  state.partitions.push_back({0.5, Duration::Seconds(4), Duration::Seconds(9)});
  for (const Scenario& s : {warm, protocol, state}) {
    absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
    ASSERT_TRUE(sim.ok()) << sim.status();
    EXPECT_EQ((*sim)->end(), (*sim)->origin() + s.End()) << REPLAY(s);
  }
}

TEST(SimulatorTest, WarmStartInstallsTheOverlay) {
  Scenario s = SmallScenario();
  absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
  ASSERT_TRUE(sim.ok()) << sim.status();
  const Simulator& simulator = **sim;
  // Both ends of every link install it.
  EXPECT_GE(simulator.counters().warm_active_links,
            static_cast<uint64_t>(s.nodes) * 5 - 20);
  EXPECT_EQ(simulator.counters().warm_active_links % 2, 0u);
  EXPECT_GE(simulator.counters().warm_passive_entries,
            static_cast<uint64_t>(s.nodes) * 30 - 20);
  size_t active = 0;
  for (uint32_t i = 0; i < simulator.node_slots(); ++i) {
    ASSERT_TRUE(simulator.live(i));
    const std::vector<PeerEntry> view = simulator.engine(i)->ActiveView();
    EXPECT_LE(view.size(), 5u);
    active += view.size();
    for (const PeerEntry& p : view) {
      ASSERT_EQ(p.address.kind(), Address::Kind::kSim);
      EXPECT_EQ(p.id, simulator.engine(p.address.sim_index())->id());
    }
  }
  EXPECT_EQ(active, simulator.counters().warm_active_links);
}

TEST(SimulatorTest, SmallRunDeliversEveryBroadcast) {
  const Scenario s = SmallScenario();
  std::unique_ptr<Simulator> sim;
  const RunResult r = MustRun(s, &sim);
  EXPECT_EQ(r.messages, 10u) << REPLAY(s);
  EXPECT_EQ(r.reliability, 1.0) << REPLAY(s);
  EXPECT_EQ(r.duplicate_deliveries, 0u) << REPLAY(s);
  EXPECT_EQ(r.broadcasts_failed, 0u);
  EXPECT_EQ(r.live_nodes, 200u);
  EXPECT_EQ(r.datagrams_lost, 0u);
  EXPECT_GE(r.ldh, 2u);  // 200 nodes with 5 links cannot be 1 hop away
  EXPECT_LE(r.ldh, 40u);
  EXPECT_GE(r.rmr, 0.0);  // every node received each payload at least once
  EXPECT_GT(r.byte_overhead, 0.0);
  EXPECT_GT(r.convergence_ms.p50, 0.0);
  EXPECT_LE(r.convergence_ms.p50, r.convergence_ms.p99);
  EXPECT_LE(r.convergence_ms.p99, r.convergence_ms.max);
  EXPECT_GT(r.events, 0u);
  EXPECT_EQ(r.timer_pops_skipped,
            sim->counters().stale_timers + sim->counters().postponed_timers);
  // Datagrams move keep-alive deadlines later, so some timer pops find
  // nothing to do.
  EXPECT_GT(sim->counters().postponed_timers, 0u);
  EXPECT_GT(r.state_bytes_per_node, 0.0);
  EXPECT_NE(r.trace_hash, 0u);
  for (size_t m = 0; m < sim->messages().size(); ++m) {
    EXPECT_EQ(sim->messages()[m].deliveries, 200u) << m;
    EXPECT_EQ(sim->MessageReliability(m), 1.0) << m;
  }
  EXPECT_EQ(sim->counters().unknown_deliveries, 0u);
}

// Joins over 4 s, then every broadcast reaches every node.
void ExpectProtocolBootstrapDeliversAll(Scenario s) {
  s.bootstrap = Bootstrap::kProtocol;
  s.join_spread = Duration::Seconds(4);
  s.warmup = Duration::Seconds(10);
  const RunResult r = MustRun(s);
  EXPECT_EQ(r.messages, 10u) << REPLAY(s);
  EXPECT_EQ(r.reliability, 1.0) << REPLAY(s);
  EXPECT_EQ(r.duplicate_deliveries, 0u) << REPLAY(s);
}

TEST(SimulatorTest, ProtocolBootstrapDeliversEveryBroadcast) {
  ExpectProtocolBootstrapDeliversAll(SmallScenario(3));
}

// With loss, some early joiner's JOIN is lost while later nodes already
// join through it; it must not count them as its way in (membership.cc,
// Join/MaybeRejoin), or it and everyone joining through it form an island
// that no broadcast from the rest reaches, whatever the warmup.
TEST(SimulatorTest, ProtocolBootstrapWithLossDeliversEveryBroadcast) {
  Scenario s = SmallScenario(4);
  s.nodes = 1000;
  s.loss = 0.01;
  ExpectProtocolBootstrapDeliversAll(s);
}

// Seeds on which, before link swaps, a few nodes of a 2,000-node protocol
// bootstrap with loss ended up in a small island (short views holding only
// each other, or full views that never ask anyone): reliability 0.986,
// 0.9999, 0.9965 (core/membership.h, "Link swaps").
TEST(SimulatorTest, ProtocolBootstrapWithLossLeavesNoIsland) {
  for (uint64_t seed : {3, 6, 9}) {
    Scenario s = SmallScenario(seed);
    s.nodes = 2000;
    s.loss = 0.01;
    ExpectProtocolBootstrapDeliversAll(s);
  }
}

// The overlay's shape at the end: one component after a warm start; two
// while a 50/50 partition is still cut at the end (every link across it
// timed out), one again after it heals.
TEST(SimulatorTest, OverlayComponentsShowACutThatHasNotHealed) {
  Scenario s = SmallScenario(12);
  RunResult r = MustRun(s);
  EXPECT_EQ(r.overlay_components, 1u) << REPLAY(s);
  EXPECT_LE(r.short_active_views, r.live_nodes);

  s.partitions.push_back({0.5, Duration::Seconds(1), Duration::Seconds(60)});
  r = MustRun(s);
  EXPECT_EQ(r.overlay_components, 2u) << REPLAY(s);

  s.partitions.back().end = Duration::Seconds(3);
  s.drain = Duration::Seconds(30);
  r = MustRun(s);
  EXPECT_EQ(r.overlay_components, 1u) << REPLAY(s);
}

// Bounds the engines hit are summed over every engine of the run,
// including ones that crashed before the end.
TEST(SimulatorTest, BoundsHitCountEveryEngine) {
  Scenario s = SmallScenario(4);
  RunResult r = MustRun(s);
  EXPECT_EQ(r.bounds_hit.Lossy(), 0u) << REPLAY(s);

  // A cache of two messages evicts eight of the ten at every node; 30 % of
  // the nodes crash after the last delivery and still count.
  s.engine.broadcast.message_cache_entries = 2;
  s.crashes.push_back(CrashSpec{0.3, Duration::Seconds(8)});
  r = MustRun(s);
  ASSERT_EQ(r.reliability, 1.0) << REPLAY(s);
  EXPECT_EQ(r.live_nodes, 140u);
  EXPECT_EQ(r.bounds_hit.cache_evictions, 8u * s.nodes) << REPLAY(s);
  EXPECT_EQ(r.bounds_hit.Lossy(),
            r.bounds_hit.cache_evictions + r.bounds_hit.missing_table_full)
      << REPLAY(s);
}

TEST(SimulatorTest, SameSeedSameTraceHashDifferentSeedDifferentHash) {
  Scenario s = SmallScenario(5);
  s.loss = 0.02;
  s.crashes.push_back(CrashSpec{0.1, Duration::Seconds(2)});
  const RunResult a = MustRun(s);
  const RunResult b = MustRun(s);
  EXPECT_EQ(a.trace_hash, b.trace_hash) << REPLAY(s);
  EXPECT_EQ(a.events, b.events);
  EXPECT_EQ(a.datagrams_sent, b.datagrams_sent);
  EXPECT_EQ(a.datagrams_lost, b.datagrams_lost);
  EXPECT_EQ(a.bytes_sent, b.bytes_sent);
  EXPECT_EQ(a.reliability, b.reliability);
  EXPECT_EQ(a.convergence_ms.p99, b.convergence_ms.p99);
  Scenario t = s;
  t.seed = 6;
  const RunResult c = MustRun(t);
  EXPECT_NE(a.trace_hash, c.trace_hash) << REPLAY(t);
}

// Determinism rule 1: same scenario, same hash in another process (fresh
// address-space layout and fresh per-process hash salts). The test re-runs
// its own binary with ELARA_SIM_CHILD_HASH_FILE set; the child writes its
// hash there.
Scenario CrossProcessScenario() {
  Scenario s = SmallScenario(31);
  s.loss = 0.02;
  s.burst_loss_enter = 0.01;
  s.burst_loss_exit = 0.3;
  s.latency_model = LatencyModel::kPareto;
  s.latency_max = Duration::Millis(400);
  s.crashes.push_back(
      CrashSpec{0.1, Duration::Seconds(2), Duration::Seconds(1)});
  s.churn_per_s = 1;
  return s;
}

TEST(SimulatorTest, TraceHashSameInSeparateProcess) {
  const Scenario s = CrossProcessScenario();
  const char* child_file = std::getenv("ELARA_SIM_CHILD_HASH_FILE");
  if (child_file != nullptr) {
    std::ofstream(child_file) << MustRun(s).trace_hash;
    return;
  }
  const uint64_t here = MustRun(s).trace_hash;
  const std::string file =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/child_hash.txt";
  std::remove(file.c_str());
  const std::string env_entry = "ELARA_SIM_CHILD_HASH_FILE=" + file;
  std::vector<std::string> env_strings = {env_entry};
  for (char** e = environ; *e != nullptr; ++e) env_strings.push_back(*e);
  std::vector<char*> envp;
  for (std::string& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::string self = "/proc/self/exe";
  std::string filter =
      "--gtest_filter=SimulatorTest.TraceHashSameInSeparateProcess";
  char* argv[] = {self.data(), filter.data(), nullptr};
  pid_t pid = 0;
  ASSERT_EQ(
      posix_spawn(&pid, "/proc/self/exe", nullptr, nullptr, argv, envp.data()),
      0);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  uint64_t there = 0;
  std::ifstream(file) >> there;
  EXPECT_EQ(here, there) << REPLAY(s);
  EXPECT_NE(there, 0u);
}

TEST(SimulatorTest, LossIsRepaired) {
  Scenario s = SmallScenario(9);
  s.nodes = 300;
  s.loss = 0.01;
  const RunResult r = MustRun(s);
  EXPECT_GT(r.datagrams_lost, 0u);
  EXPECT_EQ(r.reliability, 1.0) << REPLAY(s);
}

TEST(SimulatorTest, PartitionCutsThenHeals) {
  Scenario s = SmallScenario(11);
  // Partition for 2 s (shorter than the probe timeout, so links survive),
  // with broadcasts every 500 ms from 1 s before it to well after.
  s.warmup = Duration::Seconds(2);
  s.broadcast_interval = Duration::Millis(500);
  s.broadcasts = 16;
  s.partitions.push_back(
      PartitionSpec{0.5, Duration::Seconds(3), Duration::Seconds(5)});
  absl::StatusOr<std::unique_ptr<Simulator>> created = Simulator::Create(s);
  ASSERT_TRUE(created.ok()) << created.status();
  Simulator& sim = **created;
  // Just before the heal: a message published inside the window has not
  // crossed the cut.
  sim.RunUntil(Duration::Seconds(5) - Duration::Micros(1));
  EXPECT_GT(sim.counters().dropped_partition, 0u) << REPLAY(s);
  bool some_message_cut = false;
  for (size_t m = 0; m < sim.messages().size(); ++m) {
    const MessageRecord& rec = sim.messages()[m];
    const Duration published = rec.published - sim.origin();
    if (published >= Duration::Seconds(3) + Duration::Millis(100) &&
        published < Duration::Seconds(4)) {
      EXPECT_LT(sim.MessageReliability(m), 0.9) << m << " " << REPLAY(s);
      some_message_cut = true;
    }
  }
  EXPECT_TRUE(some_message_cut);
  const uint64_t cut_during = sim.counters().dropped_partition;
  const RunResult r = sim.Run();
  // After the heal nothing is cut any more...
  EXPECT_EQ(sim.counters().dropped_partition, cut_during);
  // ...and messages published after it reach everyone.
  for (size_t m = 0; m < sim.messages().size(); ++m) {
    const Duration published = sim.messages()[m].published - sim.origin();
    if (published >= Duration::Seconds(6)) {
      EXPECT_EQ(sim.MessageReliability(m), 1.0) << m << " " << REPLAY(s);
    }
  }
  EXPECT_EQ(r.duplicate_deliveries, 0u);
}

TEST(SimulatorTest, MassCrashLaterBroadcastsReachAllSurvivors) {
  Scenario s = SmallScenario(13);
  s.crashes.push_back(CrashSpec{0.5, Duration::Seconds(2)});
  s.warmup = Duration::Seconds(15);  // broadcasts start 13 s after the crash
  std::unique_ptr<Simulator> sim;
  const RunResult r = MustRun(s, &sim);
  EXPECT_EQ(sim->counters().crashes, 100u);
  EXPECT_EQ(r.live_nodes, 100u);
  EXPECT_GT(sim->counters().dropped_dead, 0u);
  EXPECT_EQ(r.messages, 10u);
  EXPECT_EQ(r.reliability, 1.0) << REPLAY(s);
  for (uint32_t i = 0; i < sim->node_slots(); ++i) {
    EXPECT_EQ(sim->live(i), sim->engine(i) != nullptr);
  }
}

// Gilbert-Elliott loss on every uplink (a third of all datagrams lost, in
// bursts that silence a node to all its peers at once) for a minute: a
// node dropped by its peers during a burst gets back once it ends, so the
// overlay stays whole but for the nodes in a burst right now, and
// broadcasts spread over the minute reach nearly everyone. (Before
// membership spared silent peers past kMaxUnprovenBlames, such nodes
// forgot every peer they knew and stayed out: 12 and 17 components,
// reliability 0.996 and 0.995 on these seeds; now 5 and 4, 0.9998 and
// 0.9995.)
TEST(SimulatorTest, BurstyLossForAMinuteKeepsNodesInTheOverlay) {
  for (uint64_t seed : {1, 2}) {
    Scenario s = SmallScenario(seed);
    s.nodes = 500;
    s.broadcasts = 12;
    s.broadcast_interval = Duration::Seconds(4);
    s.drain = Duration::Seconds(10);
    s.burst_loss_enter = 0.05;
    s.burst_loss_exit = 0.1;
    const RunResult r = MustRun(s);
    EXPECT_GE(r.reliability, 0.999) << REPLAY(s);
    EXPECT_LE(r.overlay_components, 8u) << REPLAY(s);
  }
}

TEST(SimulatorTest, RestartedNodesRejoinAndDeliver) {
  Scenario s = SmallScenario(17);
  s.crashes.push_back(
      CrashSpec{0.2, Duration::Seconds(2), Duration::Seconds(3)});
  s.warmup = Duration::Seconds(15);
  std::unique_ptr<Simulator> sim;
  const RunResult r = MustRun(s, &sim);
  EXPECT_EQ(sim->counters().crashes, 40u);
  EXPECT_EQ(sim->counters().restarts, 40u);
  EXPECT_EQ(r.live_nodes, 200u);
  EXPECT_EQ(r.reliability, 1.0) << REPLAY(s);
}

TEST(SimulatorTest, ChurnReplacesNodes) {
  Scenario s = SmallScenario(19);
  s.churn_per_s = 2;
  s.warmup = Duration::Seconds(5);
  s.broadcast_interval = Duration::Millis(500);
  std::unique_ptr<Simulator> sim;
  const RunResult r = MustRun(s, &sim);
  EXPECT_GT(sim->counters().churn_leaves, 20u);
  EXPECT_EQ(sim->counters().churn_leaves, sim->counters().churn_joins);
  EXPECT_EQ(sim->node_slots(), 200u + sim->counters().churn_joins);
  EXPECT_EQ(r.live_nodes, 200u);
  // Nodes come and go during the broadcasts: nearly everyone still gets
  // them.
  EXPECT_GT(r.reliability, 0.97) << REPLAY(s);
  // Churn runs up to the end: the last joiners are counted apart.
  EXPECT_GE(r.joining_nodes, 1u) << REPLAY(s);
  EXPECT_EQ(r.overlay_components, 1u) << REPLAY(s);
  EXPECT_EQ(r.duplicate_deliveries, 0u);
}

TEST(SimulatorTest, ProgressIsMonotonicAndEndsAtOne) {
  const Scenario s = SmallScenario(23);
  absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
  ASSERT_TRUE(sim.ok());
  std::vector<double> seen;
  (*sim)->Run([&seen](double f) { seen.push_back(f); });
  ASSERT_GE(seen.size(), 20u);  // about one report per 1 % of the run
  for (size_t i = 1; i < seen.size(); ++i) EXPECT_LE(seen[i - 1], seen[i]);
  EXPECT_GE(seen.front(), 0.0);
  EXPECT_EQ(seen.back(), 1.0);
}

TEST(SimulatorTest, TraceFileHasEverySendAndDelivery) {
  Scenario s = SmallScenario(29);
  s.nodes = 50;
  s.broadcasts = 3;
  s.loss = 0.05;
  s.drain = Duration::Seconds(2);
  s.trace_path =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/simulator_test_trace.jsonl";
  std::unique_ptr<Simulator> sim;
  const RunResult r = MustRun(s, &sim);
  ASSERT_TRUE(sim->trace_status().ok()) << sim->trace_status();
  std::ifstream in(s.trace_path);
  std::string line;
  uint64_t sends = 0, delivers = 0, lost = 0;
  int64_t last_us = 0;
  while (std::getline(in, line)) {
    // Lines in time order, though lookahead windows run node by node.
    const int64_t t_us = std::stoll(line.substr(line.find(':') + 1));
    EXPECT_LE(last_us, t_us) << line;
    last_us = t_us;
    if (line.find("\"ev\":\"send\"") != std::string::npos) ++sends;
    if (line.find("\"ev\":\"deliver\"") != std::string::npos) ++delivers;
    if (line.find("\"fate\":\"loss\"") != std::string::npos) ++lost;
  }
  EXPECT_EQ(sends, r.datagrams_sent);
  EXPECT_EQ(delivers, sim->counters().deliveries);
  EXPECT_EQ(lost, sim->network_counters().lost_random);
  EXPECT_GT(lost, 0u);
  // Same run without a trace: same hash (writing the trace changes nothing).
  Scenario quiet = s;
  quiet.trace_path.clear();
  EXPECT_EQ(MustRun(quiet).trace_hash, r.trace_hash);
}

// Both event orders run the same model: each is deterministic, each
// delivers everything through loss and a crash, and they spend about the
// same work; only the order of work inside lookahead windows (so the
// network's draws and the hash) differs.
TEST(SimulatorTest, EventOrdersRunTheSameModel) {
  Scenario s = SmallScenario(37);
  s.loss = 0.02;
  s.crashes.push_back(CrashSpec{0.2, Duration::Millis(2300)});
  Scenario exact = s;
  exact.event_order = EventOrder::kExact;
  const RunResult a = MustRun(s);
  const RunResult b = MustRun(exact);
  EXPECT_EQ(a.trace_hash, MustRun(s).trace_hash) << REPLAY(s);
  EXPECT_EQ(b.trace_hash, MustRun(exact).trace_hash) << REPLAY(exact);
  EXPECT_NE(a.trace_hash, b.trace_hash);
  EXPECT_EQ(a.reliability, 1.0) << REPLAY(s);
  EXPECT_EQ(b.reliability, 1.0) << REPLAY(exact);
  EXPECT_NEAR(static_cast<double>(a.events), static_cast<double>(b.events),
              0.1 * static_cast<double>(b.events));
  EXPECT_NEAR(static_cast<double>(a.datagrams_sent),
              static_cast<double>(b.datagrams_sent),
              0.1 * static_cast<double>(b.datagrams_sent));
}

// Without a minimum latency there is no lookahead: the default order is
// then exactly one event at a time.
TEST(SimulatorTest, ZeroMinimumLatencyRunsEventsOneAtATime) {
  Scenario s = SmallScenario(41);
  s.latency_min = Duration::Zero();
  s.loss = 0.01;
  Scenario exact = s;
  exact.event_order = EventOrder::kExact;
  const RunResult a = MustRun(s);
  EXPECT_EQ(a.reliability, 1.0) << REPLAY(s);
  EXPECT_EQ(a.trace_hash, MustRun(exact).trace_hash) << REPLAY(s);
}

// Threads change wall time only: the run, hash included, is the same with
// one, two or three threads, through loss, bursts, partitions, crashes
// with restarts and churn (which cut windows short), and the counters
// the lanes keep add up to the same totals.
TEST(SimulatorTest, ThreadsGiveTheSameRun) {
  Scenario s = SmallScenario(43);
  s.nodes = 3000;  // windows large enough to split
  s.loss = 0.02;
  s.burst_loss_enter = 0.01;
  s.burst_loss_exit = 0.3;
  s.partitions.push_back(
      PartitionSpec{0.5, Duration::Millis(2100), Duration::Millis(2600)});
  s.crashes.push_back(
      CrashSpec{0.1, Duration::Millis(2300), Duration::Millis(700)});
  s.churn_per_s = 20;
  std::unique_ptr<Simulator> one_sim;
  const RunResult one = MustRun(s, &one_sim);
  for (const uint32_t threads : {2u, 3u}) {
    Scenario t = s;
    t.threads = threads;
    std::unique_ptr<Simulator> sim;
    const RunResult r = MustRun(t, &sim);
    EXPECT_EQ(r.trace_hash, one.trace_hash) << threads << " threads";
    EXPECT_EQ(r.events, one.events);
    EXPECT_EQ(r.datagrams_sent, one.datagrams_sent);
    EXPECT_EQ(r.reliability, one.reliability);
    EXPECT_EQ(r.convergence_ms.max, one.convergence_ms.max);
    EXPECT_EQ(sim->counters().stale_timers, one_sim->counters().stale_timers);
    EXPECT_EQ(sim->counters().postponed_timers,
              one_sim->counters().postponed_timers);
    EXPECT_EQ(sim->counters().dropped_partition,
              one_sim->counters().dropped_partition);
    EXPECT_EQ(sim->counters().dropped_dead, one_sim->counters().dropped_dead);
    EXPECT_EQ(sim->counters().peer_down, one_sim->counters().peer_down);
    EXPECT_EQ(sim->counters().windows, one_sim->counters().windows);
    // Most of the broadcast's windows were split.
    EXPECT_GT(sim->counters().split_windows, 100u) << threads << " threads";
  }
  EXPECT_EQ(one_sim->counters().split_windows, 0u);
  EXPECT_GT(one_sim->counters().windows, 1000u);
  EXPECT_GT(one_sim->counters().dropped_partition, 0u);
  EXPECT_GT(one_sim->counters().dropped_dead, 0u);
}

// Stopping to look (RunUntil) does not change a lookahead run: windows
// never end at a RunUntil limit.
TEST(SimulatorTest, RunUntilThenRunGivesRunsHash) {
  Scenario s = SmallScenario(47);
  s.loss = 0.02;
  const RunResult whole = MustRun(s);
  absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
  ASSERT_TRUE(sim.ok());
  for (int64_t ms = 1500; ms < 6000; ms += 77) {
    (*sim)->RunUntil(Duration::Millis(ms) + Duration::Micros(ms % 13));
  }
  EXPECT_EQ((*sim)->Run().trace_hash, whole.trace_hash) << REPLAY(s);
}

// The thread test again over what it leaves out: an uplink bandwidth
// limit, Pareto latency and the protocol bootstrap (joins are barriers).
TEST(SimulatorTest, ThreadsGiveTheSameRunWithBandwidthParetoAndJoins) {
  Scenario s = SmallScenario(53);
  s.nodes = 2000;
  s.bootstrap = Bootstrap::kProtocol;
  s.join_spread = Duration::Seconds(2);
  s.latency_model = LatencyModel::kPareto;
  s.latency_max = Duration::Millis(300);
  s.bandwidth_bytes_per_s = 2'000'000;
  s.loss = 0.01;
  std::unique_ptr<Simulator> one_sim;
  const RunResult one = MustRun(s, &one_sim);
  Scenario t = s;
  t.threads = 2;
  std::unique_ptr<Simulator> sim;
  const RunResult r = MustRun(t, &sim);
  EXPECT_EQ(r.trace_hash, one.trace_hash) << REPLAY(t);
  EXPECT_EQ(r.events, one.events);
  EXPECT_EQ(r.reliability, one.reliability);
  EXPECT_GT(sim->counters().split_windows, 10u);
}

// The interner's memo per pool tail against what the table alone gives:
// datagrams of a few payloads under a few ids, delivered in random order
// while others are released (so tails are freed and their indexes reused
// for other bytes), with stale hints now and then. A payload may start in
// the pool's head (a short header) or in the tail. Id 4 carries three
// payloads, as a hostile origin might send: P, P with its first byte
// changed (in the head: the same tail as P) and P with its last byte
// changed. Every buffer returned must equal the bytes interned, and the
// memo must have answered many calls.
TEST(PooledPayloadInternerTest, MemoGivesExactlyTheBytesInterned) {
  PacketPool pool;
  PooledPayloadInterner interner(&pool, /*locked=*/false);
  Random rng(11);
  std::vector<uint32_t> held;
  std::vector<uint8_t> datagram;
  uint64_t calls = 0;
  constexpr size_t kHeaderBytes[3] = {22, 30, 48};
  for (int round = 0; round < 20000; ++round) {
    const uint32_t message = static_cast<uint32_t>(rng.UniformBelow(7));
    const uint32_t pattern = std::min<uint32_t>(message, 4);
    const size_t payload_bytes = 600 + 8 * (pattern % 3);
    const size_t header_bytes = message >= 4 ? 22 : kHeaderBytes[message % 3];
    datagram.resize(header_bytes + payload_bytes);
    // The header differs per datagram within the pool's head (as the hop
    // count does), and is fixed per message past it.
    for (size_t i = 0; i < header_bytes; ++i) {
      datagram[i] = i < PacketPool::kHeadBytes
                        ? static_cast<uint8_t>(rng.Next64())
                        : static_cast<uint8_t>(message);
    }
    for (size_t i = 0; i < payload_bytes; ++i) {
      datagram[header_bytes + i] = static_cast<uint8_t>(pattern * 131 + i);
    }
    if (message == 5) datagram[header_bytes] ^= 1;
    if (message == 6) datagram.back() ^= 1;
    const MessageId id{NodeId(pattern), 1};
    const uint32_t handle = pool.Put(message, datagram);
    held.push_back(handle);
    std::span<const uint8_t> payload = pool.Bytes(handle).subspan(header_bytes);
    if (rng.OneIn(8)) {
      // Another packet read since: if it joined a different tail in place,
      // this payload still stands, outside the tail the pool names now.
      const uint32_t other = held[rng.UniformBelow(held.size())];
      const uint32_t tail = pool.LastJoinedTail().index;
      pool.Bytes(other);
      if (pool.LastJoinedTail().index == tail) {
        payload = pool.Bytes(handle).subspan(header_bytes);
      }
    }
    const PayloadInterner::Payload got = interner.Intern(id, payload);
    ++calls;
    ASSERT_NE(got, nullptr);
    ASSERT_TRUE(
        std::equal(got->begin(), got->end(), payload.begin(), payload.end()))
        << "round " << round;
    // Release one held packet most rounds, and now and then all of them
    // (every tail freed, its index reused).
    if (rng.OneIn(300)) {
      for (uint32_t h : held) pool.Release(h);
      held.clear();
    } else if (held.size() > 20 || rng.OneIn(2)) {
      const size_t k = rng.UniformBelow(held.size());
      pool.Release(held[k]);
      held[k] = held.back();
      held.pop_back();
    }
  }
  EXPECT_GT(interner.memo_hits(), calls / 2);
  EXPECT_GT(interner.table().mismatches(), 0u);
}

// Bytes outside the tail last joined (an engine's own buffer) go to the
// table.
TEST(PooledPayloadInternerTest, BytesOutsideTheTailSkipTheMemo) {
  PacketPool pool;
  PooledPayloadInterner interner(&pool, /*locked=*/false);
  const std::vector<uint8_t> split(700, 7);
  const std::vector<uint8_t> own(600, 9);
  const MessageId id{NodeId(1), 1};
  pool.Bytes(pool.Put(0, split));
  ASSERT_NE(pool.LastJoinedTail().serial, 0u);
  const PayloadInterner::Payload a = interner.Intern(id, own);
  const PayloadInterner::Payload b = interner.Intern(id, own);
  EXPECT_EQ(a, b);  // shared by the table
  EXPECT_EQ(*a, own);
  EXPECT_EQ(interner.memo_hits(), 0u);
}

}  // namespace
}  // namespace elara::sim
