// File: sim/scenario_test.cc
//
// Scenario::Validate names the offending flag; the text forms round-trip;
// FailureReplay writes every flag.
#include "sim/scenario.h"

#include <string>

#include "core/config.h"
#include "gtest/gtest.h"
#include "sim/scenario_flags.h"

namespace elara::sim {
namespace {

void ExpectInvalid(const Scenario& s, const std::string& flag) {
  absl::Status status = s.Validate();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << flag;
  EXPECT_NE(std::string(status.message()).find(flag), std::string::npos)
      << status.message();
}

TEST(ScenarioTest, DefaultIsValid) { EXPECT_TRUE(Scenario().Validate().ok()); }

TEST(ScenarioTest, RejectsOutOfRangeFields) {
  Scenario s;
  s.nodes = 1;
  ExpectInvalid(s, "--nodes");
  s = Scenario();
  s.loss = 1.5;
  ExpectInvalid(s, "--loss");
  s = Scenario();
  s.burst_loss_exit = -0.1;
  ExpectInvalid(s, "--burst-exit");
  s = Scenario();
  s.burst_slot = Duration::Micros(-1);
  ExpectInvalid(s, "--burst-slot");
  s.burst_slot = kMaxBurstSlot + Duration::Micros(1);
  ExpectInvalid(s, "--burst-slot");
  s.burst_slot = kMaxBurstSlot;
  EXPECT_TRUE(s.Validate().ok());
  s = Scenario();
  s.latency_min = Duration::Millis(100);
  s.latency_max = Duration::Millis(10);
  ExpectInvalid(s, "--latency-max");
  s.latency_model = LatencyModel::kFixed;  // max is unused then
  EXPECT_TRUE(s.Validate().ok());
  s = Scenario();
  s.latency_min = Duration::Micros(-1);
  ExpectInvalid(s, "--latency-min");
  s = Scenario();
  s.partitions.push_back(
      PartitionSpec{0.5, Duration::Seconds(5), Duration::Seconds(5)});
  ExpectInvalid(s, "--partition");
  s = Scenario();
  s.partitions.push_back(
      PartitionSpec{1.5, Duration::Seconds(5), Duration::Seconds(6)});
  ExpectInvalid(s, "--partition");
  s = Scenario();
  s.crashes.push_back(CrashSpec{0.5, Duration::Seconds(1), Duration::Zero()});
  ExpectInvalid(s, "--crash");
  s = Scenario();
  s.churn_per_s = -1;
  ExpectInvalid(s, "--churn");
  s = Scenario();
  s.churn_per_s = 1e6;
  s.drain = Duration::Seconds(60);  // ~68 s x 1e6 joins: too many slots
  ExpectInvalid(s, "--churn");
  s = Scenario();
  s.payload_bytes = 0;
  ExpectInvalid(s, "--payload");
  s = Scenario();
  s.drain = Duration::Infinite();
  ExpectInvalid(s, "--drain");
  s = Scenario();
  s.loss = 1.0000001;
  ExpectInvalid(s, "--loss: allowed a probability in 0..1, got 1.0000001");
  s = Scenario();
  s.engine.membership.active_view_size = 0;
  ExpectInvalid(s, "engine config");
}

// The message shows the values exactly (not %g's 6 digits) and names both
// spellings of --payload-bytes.
TEST(ScenarioTest, MessagesShowExactValuesAndTheFlagsTyped) {
  Scenario s;
  s.churn_per_s = 1000001;
  ExpectInvalid(s, "--churn: allowed 0..1000000 per second, got 1000001");
  s = Scenario();
  s.churn_per_s = 1000000.5;
  ExpectInvalid(s, "got 1000000.5");
  s = Scenario();
  s.state_writes_per_s = 1000001;
  ExpectInvalid(s,
                "--state-writes-per-s: allowed 0..1000000 writes per second, "
                "got 1000001");
  s = Scenario();
  s.payload_bytes = 0;
  ExpectInvalid(s, "--payload-bytes (--payload): allowed 1..");
}

// Unset, the drain is 10 s, except in pull mode, where a message needs
// about log2 N + ln N pull periods: (2 ceil(log2 N) + 5) periods if longer.
// Set, it is what was set, in any mode; the replay flags carry the value.
TEST(ScenarioTest, DrainDefaultsByModeAndSize) {
  Scenario s;
  s.nodes = 2000;
  EXPECT_EQ(s.Drain(), Duration::Seconds(10));
  s.engine.broadcast.mode = BroadcastMode::kPush;
  EXPECT_EQ(s.Drain(), Duration::Seconds(10));
  s.engine.broadcast.mode = BroadcastMode::kPull;
  EXPECT_EQ(s.Drain(), Duration::Seconds(2 * 11 + 5));  // 2^11 >= 2000
  s.nodes = 2048;
  EXPECT_EQ(s.Drain(), Duration::Seconds(2 * 11 + 5));
  s.nodes = 2049;
  EXPECT_EQ(s.Drain(), Duration::Seconds(2 * 12 + 5));
  s.nodes = 1;
  EXPECT_EQ(s.Drain(), Duration::Seconds(10));  // 5 periods < 10 s
  s.nodes = 1000000;
  s.engine.broadcast.pull_period = Duration::Millis(2500);
  EXPECT_EQ(s.Drain(), Duration::Millis(2500 * (2 * 20 + 5)));
  EXPECT_EQ(s.End(), s.LastPublish() + s.Drain());
  EXPECT_NE(FailureReplay(s).find("--drain=112500ms"), std::string::npos)
      << FailureReplay(s);
  s.drain = Duration::Seconds(3);
  EXPECT_EQ(s.Drain(), Duration::Seconds(3));
  EXPECT_EQ(s.End(), s.LastPublish() + Duration::Seconds(3));
  // A default past the 30-day bound is refused, naming the period, and
  // never overflows on the way.
  s.drain.reset();
  s.engine.broadcast.pull_period = Duration::Seconds(24 * 3600);
  EXPECT_TRUE(s.Drain().IsInfinite());
  ExpectInvalid(s, "pull_period_ms");
  s.engine.broadcast.pull_period = Duration::Micros(INT64_MAX / 2);
  EXPECT_TRUE(s.Drain().IsInfinite());
}

// A valid state workload: writes until the partition heals.
Scenario StateScenario() {
  Scenario s;
  s.state_writes_per_s = 100;
  s.partitions.push_back(
      PartitionSpec{0.5, Duration::Seconds(5), Duration::Seconds(15)});
  return s;
}

TEST(ScenarioTest, StateWorkloadSettleIsTheLaterOfWritesEndAndHeal) {
  Scenario s = StateScenario();
  ASSERT_TRUE(s.Validate().ok()) << s.Validate();
  EXPECT_EQ(s.LastHeal(), Duration::Seconds(15));
  EXPECT_EQ(s.StateWritesEnd(), Duration::Seconds(15));  // "heal"
  EXPECT_EQ(s.StateSettle(), Duration::Seconds(15));
  s.state_writes_until = Duration::Seconds(20);
  EXPECT_EQ(s.StateSettle(), Duration::Seconds(20));
  s.state_writes_until = Duration::Seconds(8);
  EXPECT_EQ(s.StateSettle(), Duration::Seconds(15));
  // A partition that never heals has no heal time.
  s.partitions.push_back(
      PartitionSpec{0.2, Duration::Seconds(1), Duration::Infinite()});
  EXPECT_EQ(s.LastHeal(), Duration::Seconds(15));
  EXPECT_TRUE(s.Validate().ok());
}

TEST(ScenarioTest, RejectsBadStateWorkloads) {
  Scenario s = StateScenario();
  s.state_writes_per_s = -1;
  ExpectInvalid(s, "--state-writes-per-s");
  s = StateScenario();
  s.state_writes_per_s = 2e6;
  ExpectInvalid(s, "--state-writes-per-s");
  s = StateScenario();
  s.partitions.clear();  // "heal" without a partition that heals
  ExpectInvalid(s, "--state-writes-until");
  s.state_writes_until = Duration::Seconds(10);
  EXPECT_TRUE(s.Validate().ok());
  s.state_writes_until = Duration::Seconds(2);  // = warmup: no write
  ExpectInvalid(s, "--state-writes-until");
  s = StateScenario();
  s.state_keys = 0;
  ExpectInvalid(s, "--state-keys");
  s.state_keys = 65537;  // over max_state_entries
  ExpectInvalid(s, "--state-keys");
  s.engine.state.max_state_entries = 100000;
  EXPECT_TRUE(s.Validate().ok());
  s = StateScenario();
  s.state_value_bytes = 0;
  ExpectInvalid(s, "--state-value-bytes");
  s.state_value_bytes = 1025;  // over max_value_bytes
  ExpectInvalid(s, "--state-value-bytes");
  s.engine.state.max_value_bytes = 4096;
  EXPECT_TRUE(s.Validate().ok());
  s.state_value_bytes = 1452 - 63;  // the datagram still bounds it
  ExpectInvalid(s, "--state-value-bytes");
  s.state_value_bytes = 1452 - 64;
  EXPECT_TRUE(s.Validate().ok());
  s = StateScenario();
  s.state_clock_skew = Duration::Seconds(3601);
  ExpectInvalid(s, "--state-clock-skew");
  s = StateScenario();
  s.partitions[0].end = Duration::Seconds(29 * 24 * 3600);
  s.drain = Duration::Seconds(2 * 24 * 3600);  // settle + drain > 30 days
  ExpectInvalid(s, "--drain");
  s.state_writes_per_s = 0;  // off: the run ends after the broadcasts
  EXPECT_TRUE(s.Validate().ok());
  // Off: the workload's fields are still range-checked, but "heal" needs no
  // partition.
  s = Scenario();
  EXPECT_TRUE(s.Validate().ok());
  s.state_keys = 0;
  ExpectInvalid(s, "--state-keys");
}

TEST(ScenarioTest, TraceOnlyForSmallRuns) {
  Scenario s;
  s.trace_path = "/tmp/x.jsonl";
  s.nodes = Scenario::kMaxTraceNodes;
  EXPECT_TRUE(s.Validate().ok());
  s.nodes = Scenario::kMaxTraceNodes + 1;
  ExpectInvalid(s, "--trace");
}

TEST(ScenarioFlagsTest, DurationsRoundTrip) {
  for (Duration d :
       {Duration::Zero(), Duration::Micros(1500), Duration::Millis(250),
        Duration::Seconds(2), Duration::Infinite()}) {
    std::optional<Duration> back = ParseDuration(FormatDuration(d));
    ASSERT_TRUE(back.has_value()) << FormatDuration(d);
    EXPECT_EQ(*back, d);
  }
  EXPECT_EQ(FormatDuration(Duration::Millis(250)), "250ms");
  EXPECT_EQ(FormatDuration(Duration::Millis(2000)), "2s");
  EXPECT_EQ(FormatDuration(Duration::Micros(1500)), "1500us");
  EXPECT_FALSE(ParseDuration("").has_value());
  EXPECT_FALSE(ParseDuration("10").has_value());
  EXPECT_FALSE(ParseDuration("-5ms").has_value());
  EXPECT_FALSE(ParseDuration("1.5s").has_value());
  EXPECT_FALSE(ParseDuration("99999999999999999999s").has_value());
  EXPECT_FALSE(ParseDuration("ms").has_value());
}

TEST(ScenarioFlagsTest, PartitionsAndCrashesRoundTrip) {
  std::optional<PartitionSpec> p = ParsePartition("0.3@5s-15s");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->fraction, 0.3);
  EXPECT_EQ(p->start, Duration::Seconds(5));
  EXPECT_EQ(p->end, Duration::Seconds(15));
  EXPECT_EQ(FormatPartition(*p), "0.3@5s-15s");
  p = ParsePartition("0.5@100ms-inf");
  ASSERT_TRUE(p.has_value());
  EXPECT_TRUE(p->end.IsInfinite());
  EXPECT_FALSE(ParsePartition("0.5@5s").has_value());
  EXPECT_FALSE(ParsePartition("x@5s-6s").has_value());

  std::optional<CrashSpec> c = ParseCrash("0.5@10s");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->fraction, 0.5);
  EXPECT_EQ(c->at, Duration::Seconds(10));
  EXPECT_TRUE(c->restart_after.IsInfinite());
  EXPECT_EQ(FormatCrash(*c), "0.5@10s");
  c = ParseCrash("0.2@10s+500ms");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->restart_after, Duration::Millis(500));
  EXPECT_EQ(FormatCrash(*c), "0.2@10s+500ms");
  EXPECT_FALSE(ParseCrash("0.2@10s+inf").has_value());
  EXPECT_FALSE(ParseCrash("0.2").has_value());
}

TEST(ScenarioFlagsTest, StateWritesUntilRoundTrips) {
  EXPECT_EQ(FormatStateWritesUntil(std::nullopt), "heal");
  EXPECT_EQ(FormatStateWritesUntil(Duration::Seconds(30)), "30s");
  std::optional<std::optional<Duration>> until = ParseStateWritesUntil("heal");
  ASSERT_TRUE(until.has_value());
  EXPECT_FALSE(until->has_value());
  until = ParseStateWritesUntil("1500ms");
  ASSERT_TRUE(until.has_value());
  EXPECT_EQ(*until, Duration::Millis(1500));
  EXPECT_FALSE(ParseStateWritesUntil("inf").has_value());
  EXPECT_FALSE(ParseStateWritesUntil("soon").has_value());
  EXPECT_FALSE(ParseStateWritesUntil("").has_value());
}

TEST(ScenarioFlagsTest, NumbersAreShortestExact) {
  EXPECT_EQ(FormatNumber(0.01), "0.01");
  EXPECT_EQ(FormatNumber(0), "0");
  EXPECT_EQ(FormatNumber(1.0 / 3.0), "0.3333333333333333");
  EXPECT_EQ(FormatNumber(40), "40");
  EXPECT_EQ(FormatNumber(1e6), "1000000");
  EXPECT_EQ(FormatNumber(-0.0), "-0");
  EXPECT_EQ(FormatNumber(2.5e20), "2.5e+20");
}

TEST(ScenarioFlagsTest, FailureReplayWritesEveryFlag) {
  Scenario s;
  s.seed = 7;
  s.nodes = 200;
  s.loss = 0.01;
  s.partitions.push_back(
      PartitionSpec{0.5, Duration::Seconds(5), Duration::Seconds(7)});
  s.crashes.push_back(
      CrashSpec{0.25, Duration::Seconds(3), Duration::Seconds(2)});
  const std::string replay = FailureReplay(s);
  for (const char* flag : {"elara-sim run ",
                           "--seed=7 ",
                           "--nodes=200 ",
                           "--mode=hybrid ",
                           "--active-view=5 ",
                           "--passive-view=30 ",
                           "--fanout=4 ",
                           "--max-fanout=8 ",
                           "--redundancy=0 ",
                           "--latency=uniform ",
                           "--latency-min=10ms ",
                           "--latency-max=80ms ",
                           "--loss=0.01 ",
                           "--burst-enter=0 ",
                           "--burst-exit=0 ",
                           "--burst-bad=1 ",
                           "--burst-slot=0s ",
                           "--bandwidth=0 ",
                           "--partition=0.5@5s-7s ",
                           "--crash=0.25@3s+2s ",
                           "--churn=0 ",
                           "--event-order=lookahead ",
                           "--bootstrap=warm ",
                           "--join-spread=5s ",
                           "--warmup=2s ",
                           "--broadcasts=10 ",
                           "--payload=1024 ",
                           "--interval=100ms ",
                           "--drain=10s ",
                           "--state-writes-per-s=0 ",
                           "--state-writes-until=heal ",
                           "--state-keys=1000 ",
                           "--state-value-bytes=64 ",
                           "--state-clock-skew=0s"}) {
    EXPECT_NE(replay.find(flag), std::string::npos) << flag << " in " << replay;
  }
}

// The example faults (--partition 0.5@10s-30s --crash 0.2@5s) on
// the default timeline (warm start, 2 s warm-up, 20 broadcasts 100 ms
// apart, 10 s drain: the last publication at 3.9 s, the end at 13.9 s),
// with the last delivery at 5.4 s.
TEST(ScenarioTest, UnexercisedFaultsAreNamed) {
  Scenario s;
  s.broadcasts = 20;
  EXPECT_EQ(s.LastPublish(), Duration::Millis(3900));
  EXPECT_EQ(s.End(), Duration::Millis(13900));
  const std::optional<Duration> delivered = Duration::Millis(5400);
  EXPECT_TRUE(s.UnexercisedFaults(delivered).empty());
  s.partitions.push_back({0.5, Duration::Seconds(10), Duration::Seconds(30)});
  s.crashes.push_back({0.2, Duration::Seconds(5)});  // messages in flight
  s.crashes.push_back({0.2, Duration::Seconds(6)});
  s.crashes.push_back({0.1, Duration::Millis(13900)});  // at the end: happens
  s.crashes.push_back({0.1, Duration::Millis(13901)});
  s.partitions.push_back({0.5, Duration::Millis(13900), Duration::Infinite()});
  const std::vector<std::string> notes = s.UnexercisedFaults(delivered);
  ASSERT_EQ(notes.size(), 5u);
  EXPECT_EQ(notes[0],
            "partition at 10s comes after the last delivery (at 5400ms): "
            "reliability does not reflect it");
  EXPECT_EQ(notes[1],
            "partition at 13900ms never happens: the run ends at 13900ms");
  EXPECT_EQ(notes[2],
            "crash at 6s comes after the last delivery (at 5400ms): "
            "reliability does not reflect it");
  EXPECT_EQ(notes[3],
            "crash at 13900ms comes after the last delivery (at 5400ms): "
            "reliability does not reflect it");
  EXPECT_EQ(notes[4],
            "crash at 13901ms never happens: the run ends at 13900ms");
  // Nothing delivered: only what never happens is named.
  EXPECT_EQ(s.UnexercisedFaults(std::nullopt).size(), 2u);
  // With the state workload the writes run until the heal: only a fault
  // past the end is named.
  s.state_writes_per_s = 10;
  for (const std::string& note : s.UnexercisedFaults(delivered)) {
    EXPECT_NE(note.find("never happens"), std::string::npos) << note;
  }
}

}  // namespace
}  // namespace elara::sim
