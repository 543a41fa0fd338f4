// Tests of the elara-sim command line (sim_cli.h, sim_cli_options.h,
// sim_cli_report.h): flag and config parsing, precedence, the exit code and
// message of every kind of bad input, the replay command round trip, and
// small real runs and sweeps with their JSON documents.
#include "tools/sim_cli.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <streambuf>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "sim/scenario_flags.h"
#include "tools/sim_cli_options.h"
#include "tools/sim_cli_report.h"

namespace elara::tools {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct Output {
  int code = -1;
  std::string out;
  std::string err;
};

std::vector<const char*> Argv(const std::vector<std::string>& args) {
  std::vector<const char*> argv = {"elara-sim"};
  for (const std::string& a : args) argv.push_back(a.c_str());
  return argv;
}

// Parses only; *plan is filled when the result's code is -1.
Output Parse(const std::vector<std::string>& args, CliPlan* plan) {
  std::ostringstream out, err;
  CliIo io{&out, &err, false};
  const std::vector<const char*> argv = Argv(args);
  std::optional<int> code =
      ParseCommandLine(static_cast<int>(argv.size()), argv.data(), io, plan);
  return {code.value_or(-1), out.str(), err.str()};
}

// Parses and runs.
Output Cli(const std::vector<std::string>& args) {
  std::ostringstream out, err;
  CliIo io{&out, &err, false};
  const std::vector<const char*> argv = Argv(args);
  const int code = SimCliMain(static_cast<int>(argv.size()), argv.data(), io);
  return {code, out.str(), err.str()};
}

std::string WriteFile(const std::string& name, const std::string& text) {
  const std::string path = ::testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

// `args` (subcommand first) on a small, quick workload.
std::vector<std::string> Small(std::vector<std::string> args) {
  args.insert(args.end(),
              {"--broadcasts", "3", "--warmup", "1s", "--drain", "3s"});
  return args;
}

TEST(ParseTest, IssueExampleVerbatim) {
  CliPlan plan;
  const Output o = Parse({"run", "--nodes", "100000", "--seed", "7", "--mode",
                          "hybrid", "--broadcasts", "20", "--payload-bytes",
                          "1024", "--loss", "0.01", "--latency-ms", "10:80",
                          "--partition", "0.5@10s-30s", "--crash", "0.2@5s"},
                         &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  const sim::Scenario& s = plan.scenario;
  EXPECT_EQ(plan.command, CliPlan::Command::kRun);
  EXPECT_EQ(s.nodes, 100000u);
  EXPECT_EQ(s.seed, 7u);
  EXPECT_EQ(s.engine.broadcast.mode, BroadcastMode::kHybrid);
  EXPECT_EQ(s.broadcasts, 20u);
  EXPECT_EQ(s.payload_bytes, 1024u);
  EXPECT_EQ(s.loss, 0.01);
  EXPECT_EQ(s.latency_model, sim::LatencyModel::kUniform);
  EXPECT_EQ(s.latency_min, Duration::Millis(10));
  EXPECT_EQ(s.latency_max, Duration::Millis(80));
  ASSERT_EQ(s.partitions.size(), 1u);
  EXPECT_EQ(s.partitions[0].fraction, 0.5);
  EXPECT_EQ(s.partitions[0].start, Duration::Seconds(10));
  EXPECT_EQ(s.partitions[0].end, Duration::Seconds(30));
  ASSERT_EQ(s.crashes.size(), 1u);
  EXPECT_EQ(s.crashes[0].fraction, 0.2);
  EXPECT_EQ(s.crashes[0].at, Duration::Seconds(5));
  EXPECT_TRUE(s.crashes[0].restart_after.IsInfinite());
}

// Only a flag whose first '=' ends it has an empty value: a value that
// itself ends in '=' is a value.
TEST(ParseTest, AValueEndingInEqualsIsAValue) {
  CliPlan plan;
  const Output o = Parse({"run", "--json=/tmp/out=", "--nodes", "50"}, &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  EXPECT_EQ(plan.json_path, "/tmp/out=");
}

TEST(ParseTest, ScenarioFlagsAliasesAndEqualsForm) {
  CliPlan plan;
  const Output o =
      Parse({"run", "--payload=512", "--latency-min=5ms", "--latency-max",
             "50ms", "--mode=push", "--fanout=3", "--partition=0.3@1s-2s",
             "--partition", "0.2@3s-inf", "--crash=0.1@4s+2s"},
            &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  const sim::Scenario& s = plan.scenario;
  EXPECT_EQ(s.payload_bytes, 512u);
  EXPECT_EQ(s.latency_min, Duration::Millis(5));
  EXPECT_EQ(s.latency_max, Duration::Millis(50));
  EXPECT_EQ(s.engine.broadcast.mode, BroadcastMode::kPush);
  EXPECT_EQ(s.engine.broadcast.initial_fanout, 3u);
  ASSERT_EQ(s.partitions.size(), 2u);
  EXPECT_TRUE(s.partitions[1].end.IsInfinite());
  ASSERT_EQ(s.crashes.size(), 1u);
  EXPECT_EQ(s.crashes[0].restart_after, Duration::Seconds(2));
}

TEST(ParseTest, SingleLatencyValueIsFixed) {
  CliPlan plan;
  ASSERT_EQ(Parse({"run", "--latency-ms", "25"}, &plan).code, -1);
  EXPECT_EQ(plan.scenario.latency_model, sim::LatencyModel::kFixed);
  EXPECT_EQ(plan.scenario.latency_min, Duration::Millis(25));
  EXPECT_EQ(plan.scenario.latency_max, Duration::Millis(25));
}

TEST(ParseTest, ReplayCommandParsesBackToTheSameScenario) {
  sim::Scenario s;
  s.seed = 99;
  s.nodes = 777;
  s.engine.broadcast.mode = BroadcastMode::kPull;
  s.engine.membership.active_view_size = 6;
  s.engine.broadcast.redundancy_factor = 1.5;
  s.latency_model = sim::LatencyModel::kPareto;
  s.latency_min = Duration::Micros(1500);
  s.latency_max = Duration::Millis(120);
  s.loss = 0.125;
  s.burst_loss_enter = 0.01;
  s.burst_loss_exit = 0.5;
  s.bandwidth_bytes_per_s = 1'000'000;
  s.partitions.push_back({0.25, Duration::Seconds(1), Duration::Infinite()});
  s.crashes.push_back({0.1, Duration::Seconds(2), Duration::Seconds(3)});
  s.churn_per_s = 2.5;
  s.bootstrap = sim::Bootstrap::kProtocol;
  s.event_order = sim::EventOrder::kExact;
  s.broadcasts = 7;
  s.payload_bytes = 300;
  s.broadcast_interval = Duration::Millis(250);
  s.drain = Duration::Seconds(4);
  s.state_writes_per_s = 12.5;
  s.state_writes_until = Duration::Seconds(30);  // after 5 s + 2 s
  s.state_keys = 77;
  s.state_value_bytes = 10;
  s.state_clock_skew = Duration::Millis(250);
  const std::string replay = sim::FailureReplay(s);
  std::vector<std::string> args = absl::StrSplit(replay, ' ');
  ASSERT_GE(args.size(), 2u);
  ASSERT_EQ(args[0], "elara-sim");
  args.erase(args.begin());
  CliPlan plan;
  const Output o = Parse(args, &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  EXPECT_EQ(sim::FailureReplay(plan.scenario), replay);
  EXPECT_EQ(ReplayCommand(plan, plan.scenario), replay);
}

TEST(ParseTest, HelpDescribesFlagsDefaultsAndExamples) {
  CliPlan plan;
  const Output o = Parse({"run", "--help"}, &plan);
  EXPECT_EQ(o.code, kExitOk);
  EXPECT_THAT(o.out, HasSubstr("--latency-ms"));
  EXPECT_THAT(o.out, HasSubstr("--payload-bytes"));
  EXPECT_THAT(o.out, HasSubstr("Default: 1000"));
  EXPECT_THAT(o.out, HasSubstr("Default: 10:80"));
  EXPECT_THAT(o.out, HasSubstr("0..1"));
  EXPECT_THAT(o.out, HasSubstr("Examples:"));
  const Output sweep = Parse({"sweep", "--help"}, &plan);
  EXPECT_EQ(sweep.code, kExitOk);
  EXPECT_THAT(sweep.out, HasSubstr("--seeds"));
  EXPECT_THAT(sweep.out, HasSubstr("--check"));
  const Output top = Parse({"--help"}, &plan);
  EXPECT_EQ(top.code, kExitOk);
  EXPECT_THAT(top.out, HasSubstr("sweep"));
}

struct BadInput {
  std::vector<std::string> args;
  std::string message;  // must appear on stderr
};

TEST(ParseTest, BadInputExitsTwoNamingTheFlag) {
  const std::vector<BadInput> cases = {
      {{"run", "--loss", "1.5"}, "--loss 1.5: expected a probability in 0..1"},
      {{"run", "--nodes", "0"}, "--nodes: allowed 2..50000000, got 0"},
      {{"run", "--nodes", "-3"}, "--nodes -3: expected an integer"},
      {{"run", "--mode", "flood"},
       "--mode flood: expected push, pull or "
       "hybrid"},
      {{"run", "--threads", "0"}, "--threads: allowed 1..64, got 0"},
      {{"run", "--burst-slot", "7200s"},
       "--burst-slot: allowed 0 (per datagram) .. 3600s"},
      {{"run", "--burst-slot", "-1s"}, "--burst-slot -1s: expected a duration"},
      {{"run", "--threads", "65"}, "--threads: allowed 1..64, got 65"},
      {{"run", "--event-order", "random"},
       "--event-order random: expected lookahead or exact"},
      {{"run", "--partition", "0.5@30s-10s"},
       "--partition 0.5@30s-10s: the window must end after it starts"},
      {{"run", "--partition", "half"},
       "--partition half: expected "
       "FRACTION@START-END"},
      {{"run", "--crash", "0.2"}, "--crash 0.2: expected FRACTION@AT"},
      {{"run", "--latency-ms", "80:10"}, "--latency-ms 80:10: MAX must be"},
      {{"run", "--warmup", "2"},
       "--warmup 2: expected a duration with a "
       "unit"},
      {{"run", "--bogus", "1"}, "--bogus"},
      {{"run", "--payload-bytes", "100000"},
       "--payload-bytes (--payload): allowed 1.."},
      {{"run", "--payload", "0"}, "--payload-bytes (--payload): allowed 1.."},
      // Values that do not parse name the allowed range, not the type's.
      {{"run", "--nodes", "abc"},
       "--nodes abc: expected an integer in 2..50000000"},
      {{"run", "--nodes", "99999999999"},
       "--nodes 99999999999: expected an integer in 2..50000000"},
      {{"run", "--nodes", "-5"}, "--nodes -5: expected an integer in 2.."},
      {{"run", "--nodes", "1e3"}, "--nodes 1e3: expected an integer in 2.."},
      {{"run", "--active-view", "x"},
       "--active-view x: expected an integer "
       "in 1..64"},
      {{"run", "--churn", "1000001"},
       "--churn: allowed 0..1000000 per second, got 1000001"},
      {{"run", "--state-writes-per-s", "1000001"},
       "--state-writes-per-s: allowed 0..1000000 writes per second, got "
       "1000001"},
      // Empty paths are refused, not taken as "none".
      {{"run", "--config", ""}, "--config: expected a file path, got ''"},
      {{"run", "--json", ""}, "--json: expected a file path or '-', got ''"},
      {{"run", "--trace", ""}, "--trace '': expected a file path, got ''"},
      {{"run", "--config", ::testing::TempDir()},
       "--config " + ::testing::TempDir() + ": cannot read: is a directory"},
      // Each run of a sweep would overwrite the trace.
      {{"sweep", "--nodes", "32,64", "--trace", "x.jsonl"},
       "--trace (config key trace): only for `run`"},
      {{"verify", "--trace", "x.jsonl"}, "--trace (config key trace): only"},
      {{"run", "--min-reliability", "2"}, "--min-reliability 2"},
      {{"run", "--loss"}, "--loss"},
      {{"frobnicate"}, "unknown command 'frobnicate': expected run, sweep"},
      {{}, "subcommand"},
      {{"sweep", "--nodes", "256,abc"}, "--nodes 256,abc: expected sizes"},
      {{"sweep", "--nodes", "256,1"}, "--nodes: allowed 2.."},
      {{"sweep", "--nodes", "256,256,4096"},
       "--nodes: each size at most "
       "once"},
      {{"sweep", "--seeds", "0"}, "--seeds 0: expected an integer in 1..1000"},
      {{"sweep", "--check", "--nodes", "256,512"},
       "--check: needs at least 3 "
       "sizes"},
      {{"verify", "--nodes", "1000,2000,3000"}, "spanning at least 4x"},
      {{"run", "--config", "/nonexistent/x.toml"},
       "--config /nonexistent/x.toml: cannot read"},
      {{"run", "--json=", "-q", "--nodes", "50"},
       "--json: empty value after '='"},
      {{"run", "--nodes=", "50"}, "--nodes: empty value after '='"},
      {{"sweep", "--loss=", "--nodes", "256,1024,4096"},
       "--loss: empty value after '='"},
  };
  for (const BadInput& c : cases) {
    CliPlan plan;
    const Output o = Parse(c.args, &plan);
    EXPECT_EQ(o.code, kExitBadInput) << c.message;
    EXPECT_THAT(o.err, HasSubstr(c.message));
    EXPECT_THAT(o.err, HasSubstr("--help"));
  }
}

TEST(ConfigTest, FileSetsScenarioAndFlagsOverride) {
  const std::string path = WriteFile("swarm.toml", R"(
nodes = 500
seed = 3
mode = "push"
loss = 0.02
latency_ms = "5:40"
partition = ["0.5@10s-30s", "0.25@40s-50s"]
crash = "0.1@5s"
warmup = "1s"
payload_bytes = 200

[engine]
active_view_size = 6
passive_view_size = 40
shuffle_period_ms = 2500
ihave_batch_delay_ms = 0.5
redundancy_factor = 1
)");
  CliPlan plan;
  Output o = Parse({"run", "--config", path}, &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  const sim::Scenario& s = plan.scenario;
  EXPECT_EQ(s.nodes, 500u);
  EXPECT_EQ(s.seed, 3u);
  EXPECT_EQ(s.engine.broadcast.mode, BroadcastMode::kPush);
  EXPECT_EQ(s.loss, 0.02);
  EXPECT_EQ(s.latency_min, Duration::Millis(5));
  EXPECT_EQ(s.latency_max, Duration::Millis(40));
  ASSERT_EQ(s.partitions.size(), 2u);
  EXPECT_EQ(s.partitions[1].fraction, 0.25);
  ASSERT_EQ(s.crashes.size(), 1u);
  EXPECT_EQ(s.warmup, Duration::Seconds(1));
  EXPECT_EQ(s.payload_bytes, 200u);
  EXPECT_EQ(s.engine.membership.active_view_size, 6u);
  EXPECT_EQ(s.engine.membership.passive_view_size, 40u);
  EXPECT_EQ(s.engine.membership.shuffle_period, Duration::Millis(2500));
  EXPECT_EQ(s.engine.broadcast.ihave_batch_delay, Duration::Micros(500));
  EXPECT_EQ(s.engine.broadcast.redundancy_factor, 1.0);
  EXPECT_EQ(plan.config_path, path);
  EXPECT_THAT(ReplayCommand(plan, s), HasSubstr("--config=" + path));

  CliPlan over;
  o = Parse({"run", "--config", path, "--nodes", "800", "--partition",
             "0.1@1s-2s", "--mode", "hybrid"},
            &over);
  ASSERT_EQ(o.code, -1) << o.err;
  EXPECT_EQ(over.scenario.nodes, 800u);
  EXPECT_EQ(over.scenario.seed, 3u);  // from the file
  EXPECT_EQ(over.scenario.engine.broadcast.mode, BroadcastMode::kHybrid);
  ASSERT_EQ(over.scenario.partitions.size(), 1u);  // replaced, not appended
  EXPECT_EQ(over.scenario.partitions[0].fraction, 0.1);
}

TEST(ConfigTest, LatencyMinInTheFileWinsOverLatencyMs) {
  sim::Scenario s;
  ConfigExtras extras;
  ASSERT_TRUE(ApplyConfigText("latency_min = \"1ms\"\nlatency_ms = \"5:40\"\n",
                              "x.toml", false, &s, &extras)
                  .ok());
  EXPECT_EQ(s.latency_min, Duration::Millis(1));
  EXPECT_EQ(s.latency_max, Duration::Millis(40));
}

TEST(ConfigTest, SweepTakesANodesList) {
  const std::string path =
      WriteFile("sweep.toml", "nodes = [4096, 256, 1024]\nloss = 0.01\n");
  CliPlan plan;
  const Output o = Parse({"sweep", "--config", path}, &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  EXPECT_EQ(plan.command, CliPlan::Command::kSweep);
  EXPECT_EQ(plan.sweep_nodes, (std::vector<uint32_t>{256, 1024, 4096}));
  CliPlan flagged;
  ASSERT_EQ(
      Parse({"sweep", "--config", path, "--nodes", "300,3000"}, &flagged).code,
      -1);
  EXPECT_EQ(flagged.sweep_nodes, (std::vector<uint32_t>{300, 3000}));
  CliPlan defaults;
  ASSERT_EQ(Parse({"sweep"}, &defaults).code, -1);
  EXPECT_EQ(defaults.sweep_nodes,
            (std::vector<uint32_t>{256, 1024, 4096, 16384}));
  EXPECT_FALSE(defaults.check);
  CliPlan verify;
  ASSERT_EQ(Parse({"verify", "--seeds", "2", "--check"}, &verify).code, -1);
  EXPECT_TRUE(verify.check);
  EXPECT_EQ(verify.seeds, 2u);
}

struct BadConfig {
  std::string text;
  std::string message;
};

// A failed sweep's replay is `run <every flag> --config=FILE`: with --nodes
// given, run takes a sweep file's list of sizes (the flag wins); without
// it the list is still refused (see BadFilesExitTwoWithPosition).
TEST(ConfigTest, RunTakesASweepFileWhenNodesIsGiven) {
  const std::string path =
      WriteFile("sweep_for_run.toml", "nodes = [64, 256, 1024]\nloss = 0.02\n");
  CliPlan plan;
  const Output o = Parse({"run", "--config", path, "--nodes", "256"}, &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  EXPECT_EQ(plan.scenario.nodes, 256u);
  EXPECT_EQ(plan.scenario.loss, 0.02);
  // The replay of such a run parses back to the same scenario.
  const std::string replay = ReplayCommand(plan, plan.scenario);
  EXPECT_THAT(replay, HasSubstr("--config=" + path));
  std::vector<std::string> args = absl::StrSplit(replay, ' ');
  ASSERT_EQ(args[0], "elara-sim");
  args.erase(args.begin());
  CliPlan again;
  ASSERT_EQ(Parse(args, &again).code, -1);
  EXPECT_EQ(sim::FailureReplay(again.scenario),
            sim::FailureReplay(plan.scenario));
  CliPlan refused;
  EXPECT_EQ(Parse({"run", "--config", path}, &refused).code, kExitBadInput);
}

TEST(ConfigTest, BadFilesExitTwoWithPosition) {
  const std::vector<BadConfig> cases = {
      {"nodes = 100\nfoo = 1\n", "bad.toml:2:1: unknown key 'foo'"},
      {"[engine]\nactive_view = 5\n",
       "bad.toml:2:1: unknown key 'engine.active_view'"},
      {"nodes = \n", "bad.toml:1:"},
      {"loss = 0.5\nloss = 0.1\n", "bad.toml:2:"},
      {"nodes = \"many\"\n",
       "bad.toml:1:9: nodes: expected an integer, got "
       "a string"},
      {"loss = 1.5\n", "bad.toml:1:8: loss: expected a probability in 0..1"},
      {"mode = 3\n", "bad.toml:1:8: mode: expected a string"},
      {"partition = [\"0.5@3s-1s\"]\n",
       "bad.toml:1:14: partition: the window must end after it starts"},
      {"nodes = [256, 1024]\n",
       "nodes: expected an integer (a list only for "
       "sweep)"},
      {"engine = 3\n", "engine: expected a table"},
      {"[engine]\nshuffle_period_ms = \"10s\"\n",
       "bad.toml:2:21: engine.shuffle_period_ms: expected a number"},
      {"trace = \"\"\n", "bad.toml:1:9: trace: expected a file path"},
      // Inputs that break toml++ 3.3.0's own asserts (third_party/BUILD.bazel).
      {"nodes = 10\n[[[\n", "bad.toml:2:3: TOML syntax error"},
      {"[[[1]]]\n", "bad.toml:1:3: TOML syntax error"},
      {"[&\n", "bad.toml:1:2: TOML syntax error"},
      {"[[=\n", "bad.toml:1:3: TOML syntax error"},
      {"partition =[}\"0.5@1s-2s\"]\n", "bad.toml:1:13: TOML syntax error"},
  };
  for (const BadConfig& c : cases) {
    const std::string path = WriteFile("bad.toml", c.text);
    CliPlan plan;
    const Output o = Parse({"run", "--config", path}, &plan);
    EXPECT_EQ(o.code, kExitBadInput) << c.text;
    EXPECT_THAT(o.err, HasSubstr(c.message)) << c.text;
  }
}

TEST(ConfigTest, SweepRefusesAnEmptyNodesListAndATrace) {
  CliPlan plan;
  const std::string empty = WriteFile("empty_nodes.toml", "nodes = []\n");
  Output o = Parse({"sweep", "--config", empty}, &plan);
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_THAT(o.err, HasSubstr(empty + ":1:9: nodes: expected at least one "
                                       "size"));
  const std::string traced =
      WriteFile("traced.toml", "nodes = [32, 64]\ntrace = \"t.jsonl\"\n");
  o = Parse({"sweep", "--config", traced}, &plan);
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_THAT(o.err, HasSubstr("--trace (config key trace): only for `run`"));
  // run takes the file's trace.
  CliPlan run;
  ASSERT_EQ(
      Parse({"run", "--config", WriteFile("t.toml", "trace = \"t\"\n")}, &run)
          .code,
      -1);
  EXPECT_EQ(run.scenario.trace_path, "t");
}

TEST(ParseTest, HelpGivesTheRangeOfEveryNumber) {
  CliPlan plan;
  const Output o = Parse({"run", "--help"}, &plan);
  EXPECT_EQ(o.code, kExitOk);
  EXPECT_THAT(o.out, HasSubstr("loss probability in the bad state, 0..1"));
  EXPECT_THAT(o.out, HasSubstr("bytes/s, 0..2^64-1"));
}

TEST(ParseTest, StateWorkloadFlagsAndConfigKeys) {
  CliPlan plan;
  Output o = Parse({"run", "--state-writes-per-s", "50", "--state-keys", "300",
                    "--state-value-bytes", "32", "--state-writes-until", "9s",
                    "--state-clock-skew", "100ms"},
                   &plan);
  ASSERT_EQ(o.code, -1) << o.err;
  EXPECT_EQ(plan.scenario.state_writes_per_s, 50.0);
  EXPECT_EQ(plan.scenario.state_keys, 300u);
  EXPECT_EQ(plan.scenario.state_value_bytes, 32u);
  EXPECT_EQ(plan.scenario.state_writes_until, Duration::Seconds(9));
  EXPECT_EQ(plan.scenario.state_clock_skew, Duration::Millis(100));

  const std::string path = WriteFile("state.toml", R"(
state_writes_per_s = 20
state_keys = 64
state_value_bytes = 16
state_writes_until = "heal"
state_clock_skew = "1s"
partition = "0.5@3s-9s"

[engine]
anti_entropy_period_ms = 250
anti_entropy_budget_bytes = 8192
max_state_entries = 1000
max_tombstones = 100
max_value_bytes = 512
tombstone_ttl_ms = 60000
max_clock_drift_ms = 5000
)");
  CliPlan file;
  o = Parse({"run", "--config", path}, &file);
  ASSERT_EQ(o.code, -1) << o.err;
  const sim::Scenario& s = file.scenario;
  EXPECT_EQ(s.state_writes_per_s, 20.0);
  EXPECT_EQ(s.state_keys, 64u);
  EXPECT_EQ(s.state_value_bytes, 16u);
  EXPECT_FALSE(s.state_writes_until.has_value());
  EXPECT_EQ(s.state_clock_skew, Duration::Seconds(1));
  EXPECT_EQ(s.StateSettle(), Duration::Seconds(9));
  EXPECT_EQ(s.engine.state.anti_entropy_period, Duration::Millis(250));
  EXPECT_EQ(s.engine.state.anti_entropy_budget_bytes, 8192u);
  EXPECT_EQ(s.engine.state.max_state_entries, 1000u);
  EXPECT_EQ(s.engine.state.max_tombstones, 100u);
  EXPECT_EQ(s.engine.state.max_value_bytes, 512u);
  EXPECT_EQ(s.engine.state.tombstone_ttl, Duration::Seconds(60));
  EXPECT_EQ(s.engine.state.max_clock_drift, Duration::Seconds(5));

  struct Bad {
    std::vector<std::string> args;
    std::string message;
  };
  const std::vector<Bad> bad = {
      {{"--state-writes-until", "soon"}, "--state-writes-until soon: expected"},
      {{"--state-writes-per-s", "-3"}, "--state-writes-per-s"},
      {{"--state-writes-per-s", "10"},
       "--state-writes-until: allowed a DUR; 'heal'"},
      {{"--state-keys", "0"}, "--state-keys: allowed 1..65536"},
      {{"--state-value-bytes", "5000"}, "--state-value-bytes: allowed 1..1024"},
      {{"--state-clock-skew", "2h"}, "--state-clock-skew 2h: expected"},
  };
  for (const Bad& b : bad) {
    std::vector<std::string> args = {"run"};
    args.insert(args.end(), b.args.begin(), b.args.end());
    CliPlan p;
    const Output out = Parse(args, &p);
    EXPECT_EQ(out.code, kExitBadInput) << b.message;
    EXPECT_THAT(out.err, HasSubstr(b.message));
  }
}

TEST(ConfigTest, EngineValuesAreValidated) {
  const std::string path =
      WriteFile("engine.toml", "[engine]\nactive_view_size = 0\n");
  CliPlan plan;
  const Output o = Parse({"run", "--config", path}, &plan);
  EXPECT_EQ(o.code, kExitBadInput);
  EXPECT_THAT(o.err, HasSubstr("active_view_size"));
}

TEST(ConfigTest, EveryEngineFieldHasAKey) {
  // A DiffusionConfig field missing here could not be set from a file.
  int engine_keys = 0;
  for (const Setting& s : Settings()) engine_keys += s.engine_table ? 1 : 0;
  EXPECT_EQ(engine_keys, 34);
}

nlohmann::json ParseJson(const std::string& text) {
  nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << text;
  return j;
}

// A bound the configuration makes tight shows in the table and the JSON.
TEST(RunTest, TightCacheShowsInBoundsHit) {
  const std::string path = WriteFile("tight.toml", R"(
nodes = 60
[engine]
message_cache_entries = 1
)");
  const Output o = Cli(Small({"run", "--config", path, "--json", "-"}));
  ASSERT_EQ(o.code, kExitOk) << o.err;
  const nlohmann::json j = ParseJson(o.out);
  // Three messages, one kept: two evictions at each of the 60 nodes.
  EXPECT_EQ(j["bounds_hit"]["cache_evictions"], 120) << o.out;
  EXPECT_THAT(o.err, HasSubstr("cache_evictions 120"));
}

TEST(RunTest, JsonHasEveryDocumentedField) {
  const Output o =
      Cli(Small({"run", "--nodes", "60", "--loss", "0.01", "--json", "-"}));
  ASSERT_EQ(o.code, kExitOk) << o.err;
  const nlohmann::json j = ParseJson(o.out);
  for (const char* field :
       {"nodes", "seed", "mode", "reliability", "ldh", "rmr", "byte_overhead",
        "convergence_ms", "events", "events_per_s", "wall_s", "peak_rss_bytes",
        "state_bytes_per_node", "trace_hash"}) {
    EXPECT_TRUE(j.contains(field)) << field;
  }
  EXPECT_EQ(j["nodes"], 60);
  EXPECT_EQ(j["seed"], 1);
  EXPECT_EQ(j["mode"], "hybrid");
  for (const char* p : {"p50", "p99", "max"}) {
    EXPECT_TRUE(j["convergence_ms"][p].is_number()) << p;
  }
  const std::string hash = j["trace_hash"];
  EXPECT_EQ(hash.size(), 16u);
  EXPECT_EQ(hash.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_GT(j["events"].get<uint64_t>(), 0u);
  for (const char* key : {"threads", "lookahead_windows", "split_windows",
                          "overlay_components", "short_active_views"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_TRUE(j[key].is_number_unsigned()) << key;
  }
  EXPECT_EQ(j["overlay_components"], 1);
  ASSERT_TRUE(j.contains("bounds_hit"));
  for (const char* key :
       {"cache_evictions", "origins_evicted", "missing_table_full",
        "digest_answers_capped", "transmits_dropped", "packet_pool_full",
        "burst_sojourns_capped", "passive_view_evictions"}) {
    ASSERT_TRUE(j["bounds_hit"].contains(key)) << key;
    EXPECT_TRUE(j["bounds_hit"][key].is_number_unsigned()) << key;
  }
  EXPECT_EQ(j["bounds_hit"]["cache_evictions"], 0);
  ASSERT_TRUE(j.contains("timer_pops_skipped"));
  EXPECT_TRUE(j["timer_pops_skipped"].is_number_unsigned());
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
  EXPECT_GE(j["reliability"].get<double>(), 0.0);
  EXPECT_LE(j["reliability"].get<double>(), 1.0);
  const double wall_s = j["wall_s"];
  if (wall_s > 0) {
    EXPECT_NEAR(j["events_per_s"].get<double>(),
                j["events"].get<double>() / wall_s,
                1e-6 * j["events_per_s"].get<double>());
  }
  EXPECT_THAT(j["replay"].get<std::string>(),
              HasSubstr("elara-sim run --seed=1 --nodes=60"));
  // With --json -, the table goes to stderr.
  EXPECT_THAT(o.err, HasSubstr("trace_hash"));
  EXPECT_THAT(o.err, HasSubstr("reliability"));
}

// A quick state workload: 40 nodes split 1 s..2 s while writing, anti-
// entropy every 250 ms. `extra` adds flags.
std::vector<std::string> StateRun(std::vector<std::string> args) {
  const std::string config =
      WriteFile("ae.toml", "[engine]\nanti_entropy_period_ms = 250\n");
  args.insert(args.end(), {"--nodes", "40", "--broadcasts", "0", "--warmup",
                           "1s", "--drain", "8s", "--state-writes-per-s", "20",
                           "--state-keys", "20", "--config", config});
  return args;
}

TEST(RunTest, StateWorkloadAddsItsJsonFieldsAndRows) {
  const Output o =
      Cli(StateRun({"run", "--partition", "0.5@1s-2s", "--json", "-"}));
  ASSERT_EQ(o.code, kExitOk) << o.err;
  const nlohmann::json j = ParseJson(o.out);
  ASSERT_TRUE(j["state_convergence_ms"].is_number()) << o.out;
  EXPECT_GE(j["state_convergence_ms"].get<double>(), 0.0);
  EXPECT_EQ(j["state_divergent_nodes"], 0);
  EXPECT_GT(j["reconciliation_bytes"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["state_settle_ms"], 2000.0);
  EXPECT_EQ(j["state_writes"], 20);
  EXPECT_EQ(j["state_writes_failed"], 0);
  EXPECT_TRUE(j["state_conflicting_keys"].is_number());
  EXPECT_GT(j["state_keys_held"].get<uint64_t>(), 0u);
  EXPECT_EQ(j["reliability"], 1.0);  // no broadcasts: nothing missed
  EXPECT_THAT(j["replay"].get<std::string>(),
              HasSubstr("--state-writes-per-s=20 --state-writes-until=heal"));
  for (const char* row : {"state: 20 writes/s over 20 keys x 64 B until 2s",
                          "state_convergence_ms", "state_divergent_nodes",
                          "reconciliation_bytes", "no broadcasts"}) {
    EXPECT_THAT(o.err, HasSubstr(row));  // the table, on stderr
  }
  // --check passes: converged, and no broadcasts to miss.
  EXPECT_EQ(
      Cli(StateRun({"run", "--partition", "0.5@1s-2s", "--check", "-q"})).code,
      kExitOk);
  // Without the workload: no state fields, no state rows.
  const Output off = Cli(Small({"run", "--nodes", "30", "--json", "-"}));
  ASSERT_EQ(off.code, kExitOk) << off.err;
  EXPECT_FALSE(ParseJson(off.out).contains("state_convergence_ms"));
  EXPECT_THAT(off.err, Not(HasSubstr("state_convergence_ms")));
}

TEST(RunTest, CheckFailsWhenTheStateDoesNotConverge) {
  const std::vector<std::string> args =
      StateRun({"run", "--partition", "0.5@1s-inf", "--state-writes-until",
                "2s", "--json", "-", "--seed", "4"});
  const Output o = Cli(args);
  EXPECT_EQ(o.code, kExitOk) << o.err;  // without --check: reported only
  const nlohmann::json j = ParseJson(o.out);
  EXPECT_TRUE(j["state_convergence_ms"].is_null());
  EXPECT_GT(j["state_divergent_nodes"].get<int>(), 0);
  EXPECT_THAT(o.err, HasSubstr("WARNING: state did not converge"));
  std::vector<std::string> checked = args;
  checked.push_back("--check");
  const Output c = Cli(checked);
  EXPECT_EQ(c.code, kExitCheckFailed);
  EXPECT_THAT(c.err, HasSubstr("check failed: state did not converge at N=40"));
  EXPECT_THAT(c.err, HasSubstr("elara-sim run --seed=4 --nodes=40"));
}

TEST(RunTest, TableOnStdoutAndQuietSuppressesIt) {
  const Output o = Cli(Small({"run", "--nodes", "40"}));
  ASSERT_EQ(o.code, kExitOk) << o.err;
  EXPECT_THAT(o.out, HasSubstr("elara-sim run: 40 nodes"));
  EXPECT_THAT(o.out, HasSubstr("trace_hash"));
  const Output quiet = Cli(Small({"run", "--nodes", "40", "--quiet"}));
  ASSERT_EQ(quiet.code, kExitOk) << quiet.err;
  EXPECT_EQ(quiet.out, "");
  EXPECT_EQ(quiet.err, "");
}

std::string TraceHash(const std::vector<std::string>& args) {
  std::vector<std::string> all = args;
  all.insert(all.end(), {"--json", "-", "--quiet"});
  const Output o = Cli(all);
  EXPECT_EQ(o.code, kExitOk) << o.err;
  return ParseJson(o.out)["trace_hash"];
}

// A stream whose every write fails, as stdout on a full disk.
class FailingBuffer : public std::streambuf {
 protected:
  int_type overflow(int_type) override { return traits_type::eof(); }
  std::streamsize xsputn(const char*, std::streamsize) override { return 0; }
};

TEST(HelpTest, FailedHelpWriteExitsNonZero) {
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{
           {"--help"}, {"run", "--help"}, {"sweep", "-h"}}) {
    FailingBuffer buffer;
    std::ostream out(&buffer);
    std::ostringstream err;
    CliIo io{&out, &err, false};
    const std::vector<const char*> argv = Argv(args);
    EXPECT_EQ(SimCliMain(static_cast<int>(argv.size()), argv.data(), io),
              kExitBadInput)
        << args.back();
    EXPECT_THAT(err.str(), HasSubstr("--help: write to stdout failed"));
  }
}

TEST(RunTest, FailedTableWriteExitsNonZero) {
  FailingBuffer buffer;
  std::ostream out(&buffer);
  std::ostringstream err;
  CliIo io{&out, &err, false};
  const std::string json = ::testing::TempDir() + "/table_failed.json";
  std::remove(json.c_str());
  const std::vector<std::string> args =
      Small({"run", "--nodes", "20", "--json", json});
  const std::vector<const char*> argv = Argv(args);
  EXPECT_EQ(SimCliMain(static_cast<int>(argv.size()), argv.data(), io),
            kExitBadInput);
  EXPECT_THAT(err.str(), HasSubstr("summary table: write to stdout failed"));
  EXPECT_TRUE(std::ifstream(json).good()) << "the JSON is still written";

  std::ostream sweep_out(&buffer);
  std::ostringstream sweep_err;
  CliIo sweep_io{&sweep_out, &sweep_err, false};
  const std::vector<std::string> sweep_args =
      Small({"sweep", "--nodes", "20,40"});
  const std::vector<const char*> sweep_argv = Argv(sweep_args);
  EXPECT_EQ(SimCliMain(static_cast<int>(sweep_argv.size()), sweep_argv.data(),
                       sweep_io),
            kExitBadInput);
  EXPECT_THAT(sweep_err.str(),
              HasSubstr("summary table: write to stdout failed"));

  // --quiet writes nothing to stdout, so nothing fails.
  std::ostream quiet_out(&buffer);
  CliIo quiet_io{&quiet_out, &err, false};
  const std::vector<std::string> quiet = Small({"run", "--nodes", "20", "-q"});
  const std::vector<const char*> quiet_argv = Argv(quiet);
  EXPECT_EQ(SimCliMain(static_cast<int>(quiet_argv.size()), quiet_argv.data(),
                       quiet_io),
            kExitOk);
}

TEST(RunTest, BroadcastsWithNoLiveNodeAreNotCalledEngineRefusals) {
  const Output o =
      Cli({"run", "--nodes", "50", "--broadcasts", "3", "--crash", "1@1s",
           "--warmup", "2s", "--drain", "1s", "--json", "-"});
  ASSERT_EQ(o.code, kExitOk) << o.err;
  const nlohmann::json j = ParseJson(o.out);
  ASSERT_TRUE(j.contains("broadcasts_no_live_node"));
  EXPECT_EQ(j["broadcasts_no_live_node"], 3);
  EXPECT_EQ(j["broadcasts_failed"], 0);
  EXPECT_EQ(j["messages"], 0);
  EXPECT_THAT(o.err, HasSubstr("WARNING: 3 broadcasts not published: no live "
                               "node to publish from"));
  EXPECT_THAT(o.err, Not(HasSubstr("refused by the engine")));

  // The same for the state workload's writes.
  const Output state =
      Cli({"run", "--nodes", "20", "--broadcasts", "0", "--state-writes-per-s",
           "10", "--state-writes-until", "3s", "--crash", "1@500ms", "--warmup",
           "1s", "--drain", "1s", "--json", "-"});
  ASSERT_EQ(state.code, kExitOk) << state.err;
  const nlohmann::json sj = ParseJson(state.out);
  ASSERT_TRUE(sj.contains("state_writes_no_live_node"));
  EXPECT_GT(sj["state_writes_no_live_node"].get<uint64_t>(), 0u);
  EXPECT_EQ(sj["state_writes_failed"], 0);
  EXPECT_THAT(state.err, HasSubstr("state writes not made: no live node"));
  EXPECT_THAT(state.err, Not(HasSubstr("refused by the engine")));
}

// A fault the run cannot show is named, once per table; one while
// messages are still in flight is not.
TEST(RunTest, FaultsAfterTheTrafficAreWarnedAbout) {
  const Output late = Cli(Small({"run", "--nodes", "50", "--partition",
                                 "0.5@10s-30s", "--crash", "0.2@3s"}));
  ASSERT_EQ(late.code, kExitOk) << late.err;
  // Small: 1 s warm-up, 3 broadcasts 100 ms apart, 3 s drain (end 4.2 s).
  EXPECT_THAT(late.out, HasSubstr("WARNING: partition at 10s never happens: "
                                  "the run ends at 4200ms"));
  EXPECT_THAT(late.out,
              HasSubstr("WARNING: crash at 3s comes after the last delivery"));
  // 1250 ms: after the last publication (1200 ms), before the deliveries
  // end.
  const Output in_flight =
      Cli(Small({"run", "--nodes", "50", "--crash", "0.2@1250ms"}));
  ASSERT_EQ(in_flight.code, kExitOk) << in_flight.err;
  EXPECT_THAT(in_flight.out, Not(HasSubstr("WARNING")));
  const Output sweep =
      Cli(Small({"sweep", "--nodes", "32,64", "--crash", "0.2@9s"}));
  ASSERT_EQ(sweep.code, kExitOk) << sweep.err;
  const std::string warning = "WARNING: crash at 9s never happens";
  const size_t first = sweep.out.find(warning);
  ASSERT_NE(first, std::string::npos) << sweep.out;
  EXPECT_EQ(sweep.out.find(warning, first + 1), std::string::npos);
}

// A run that ends while messages still spread says so; one whose
// messages stopped short (an unhealed partition) does not.
TEST(RunTest, RunEndingMidSpreadIsWarnedAbout) {
  // Pull mode spreads one round per pull period (1 s): 3 s of drain
  // reach a few of 100 nodes, and the last of them just before the end.
  const Output pull =
      Cli(Small({"run", "--nodes", "100", "--mode", "pull", "--json", "-"}));
  ASSERT_EQ(pull.code, kExitOk) << pull.err;
  EXPECT_LT(ParseJson(pull.out)["reliability"].get<double>(), 1.0);
  const Output table = Cli(Small({"run", "--nodes", "100", "--mode", "pull"}));
  ASSERT_EQ(table.code, kExitOk) << table.err;
  EXPECT_THAT(table.out,
              HasSubstr("WARNING: 100 nodes, seed 1: messages were still "
                        "reaching nodes when the run ended"));
  EXPECT_THAT(table.out, HasSubstr("longer --drain (now 3s)"));
  // Long enough: complete, no warning. So is pull mode's default drain
  // (2 ceil(log2 100) + 5 = 19 pull periods), which the replay spells out.
  const Output drained = Cli({"run", "--nodes", "100", "--mode", "pull",
                              "--broadcasts", "3", "--drain", "30s"});
  ASSERT_EQ(drained.code, kExitOk) << drained.err;
  EXPECT_THAT(drained.out, Not(HasSubstr("WARNING")));
  const Output pull_default = Cli({"run", "--nodes", "100", "--mode", "pull",
                                   "--broadcasts", "3", "--json", "-"});
  ASSERT_EQ(pull_default.code, kExitOk) << pull_default.err;
  const auto json = ParseJson(pull_default.out);
  EXPECT_EQ(json["reliability"].get<double>(), 1.0);
  EXPECT_THAT(json["replay"].get<std::string>(), HasSubstr("--drain=19s"));
  // Half the swarm cut off for the whole run: incomplete, but nothing
  // arrives late.
  const Output cut =
      Cli(Small({"run", "--nodes", "100", "--partition", "0.5@0s-60s"}));
  ASSERT_EQ(cut.code, kExitOk) << cut.err;
  EXPECT_THAT(cut.out, Not(HasSubstr("still reaching")));
  // The same with churn: nodes joining near the end get old messages from
  // their new peers' caches, but reliability does not count them (they
  // joined after the publications), so they do not make the drain short.
  const Output churn = Cli(Small(
      {"run", "--nodes", "100", "--partition", "0.5@0s-60s", "--churn", "20"}));
  ASSERT_EQ(churn.code, kExitOk) << churn.err;
  EXPECT_THAT(churn.out, Not(HasSubstr("still reaching")));
  // Both are incomplete, so the warning was not skipped for reliability 1.
  for (const std::vector<std::string>& flags :
       {std::vector<std::string>{"--partition", "0.5@0s-60s"},
        std::vector<std::string>{"--partition", "0.5@0s-60s", "--churn",
                                 "20"}}) {
    std::vector<std::string> args = {"run", "--nodes", "100", "--json", "-"};
    args.insert(args.end(), flags.begin(), flags.end());
    const Output json = Cli(Small(args));
    ASSERT_EQ(json.code, kExitOk) << json.err;
    EXPECT_LT(ParseJson(json.out)["reliability"].get<double>(), 1.0);
  }
}

TEST(RunTest, SameScenarioSameHashOtherSeedOtherHash) {
  const std::vector<std::string> base =
      Small({"run", "--nodes", "50", "--loss", "0.05", "--crash", "0.1@1s"});
  std::vector<std::string> other = base;
  other.insert(other.end(), {"--seed", "2"});
  const std::string a = TraceHash(base);
  EXPECT_EQ(a, TraceHash(base));
  EXPECT_NE(a, TraceHash(other));
}

TEST(RunTest, JsonFileIsWrittenAndUnwritablePathExitsTwo) {
  const std::string path = ::testing::TempDir() + "/run.json";
  const Output o = Cli(Small({"run", "--nodes", "30", "--json", path}));
  ASSERT_EQ(o.code, kExitOk) << o.err;
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(ParseJson(text.str())["nodes"], 30);
  EXPECT_THAT(o.out, HasSubstr("trace_hash"));  // table still on stdout

  const Output bad =
      Cli(Small({"run", "--nodes", "30", "--json", "/nonexistent/dir/x"}));
  EXPECT_EQ(bad.code, kExitBadInput);
  EXPECT_THAT(bad.err, HasSubstr("--json /nonexistent/dir/x"));
}

TEST(RunTest, CheckFailsOnTotalLossAndPrintsReplay) {
  const Output o = Cli(
      Small({"run", "--nodes", "30", "--loss", "1", "--seed", "5", "--check"}));
  EXPECT_EQ(o.code, kExitCheckFailed);
  EXPECT_THAT(o.err, HasSubstr("check failed: reliability"));
  EXPECT_THAT(o.err, HasSubstr("(seed 5)"));
  EXPECT_THAT(o.err, HasSubstr("elara-sim run --seed=5 --nodes=30"));
  // Without --check the same run exits 0.
  EXPECT_EQ(Cli(Small({"run", "--nodes", "30", "--loss", "1", "--quiet"})).code,
            kExitOk);
}

TEST(SweepTest, JsonHasPointsFitAndRuns) {
  const Output o = Cli(Small({"sweep", "--nodes", "32,64,128", "--seeds", "2",
                              "--seed", "10", "--json", "-", "--check"}));
  ASSERT_TRUE(o.code == kExitOk || o.code == kExitCheckFailed) << o.err;
  const nlohmann::json j = ParseJson(o.out);
  ASSERT_EQ(j["points"].size(), 3u);
  const std::vector<int> sizes = {32, 64, 128};
  for (size_t i = 0; i < sizes.size(); ++i) {
    const nlohmann::json& p = j["points"][i];
    EXPECT_EQ(p["nodes"], sizes[i]);
    EXPECT_EQ(p["runs"], 2);
    EXPECT_EQ(p["seeds"], (nlohmann::json{10, 11}));
    for (const char* field :
         {"reliability", "ldh", "rmr", "byte_overhead", "events",
          "events_per_s", "wall_s", "peak_rss_bytes", "state_bytes_per_node"}) {
      EXPECT_TRUE(p[field].is_number()) << field;
    }
    EXPECT_TRUE(p["convergence_ms"]["p99"].is_number());
  }
  for (const char* field : {"slope", "intercept", "r2"}) {
    EXPECT_TRUE(j["fit"][field].is_number()) << field;
  }
  EXPECT_EQ(j["runs"].size(), 6u);
  EXPECT_EQ(j["runs"][5]["seed"], 11);
  EXPECT_EQ(j["runs"][5]["nodes"], 128);
  ASSERT_TRUE(j.contains("check"));
  EXPECT_EQ(j["check"]["passed"].get<bool>(), o.code == kExitOk);
  // The mean LDH of a point is the mean of its runs.
  const double mean =
      (j["runs"][0]["ldh"].get<double>() + j["runs"][1]["ldh"].get<double>()) /
      2;
  EXPECT_DOUBLE_EQ(j["points"][0]["ldh"].get<double>(), mean);
  EXPECT_THAT(o.err, HasSubstr("fit: LDH ="));  // the table, on stderr
}

// Sweep seeds are --seed + k modulo 2^64 (README): the largest seed is
// followed by 0, not an error or an overflow.
TEST(SweepTest, SeedsWrapAroundModulo2To64) {
  const Output o =
      Cli(Small({"sweep", "--nodes", "20,40", "--seeds", "2", "--seed",
                 "18446744073709551615", "--json", "-", "--quiet"}));
  ASSERT_EQ(o.code, kExitOk) << o.err;
  const nlohmann::json j = ParseJson(o.out);
  ASSERT_EQ(j["runs"].size(), 4u);
  EXPECT_EQ(j["runs"][0]["seed"].get<uint64_t>(), ~uint64_t{0});
  EXPECT_EQ(j["runs"][1]["seed"].get<uint64_t>(), 0u);
}

TEST(SweepTest, StateWorkloadGivesConvergencePerSizeAndAFit) {
  std::vector<std::string> args =
      StateRun({"sweep", "--partition", "0.5@1s-2s", "--json", "-", "--check"});
  args.insert(args.end(), {"--nodes", "16,32,64"});  // replaces 40
  const Output o = Cli(args);
  ASSERT_EQ(o.code, kExitOk) << o.err;
  const nlohmann::json j = ParseJson(o.out);
  ASSERT_EQ(j["points"].size(), 3u);
  for (const nlohmann::json& p : j["points"]) {
    EXPECT_TRUE(p["state_convergence_ms"].is_number()) << p;
    EXPECT_TRUE(p["state_convergence_ms_max"].is_number());
    EXPECT_EQ(p["state_divergent_nodes_max"], 0);
    EXPECT_GT(p["reconciliation_bytes"].get<double>(), 0.0);
  }
  EXPECT_DOUBLE_EQ(j["points"][1]["state_convergence_ms"].get<double>(),
                   j["runs"][1]["state_convergence_ms"].get<double>());
  for (const char* field : {"slope", "intercept", "r2"}) {
    EXPECT_TRUE(j["state_fit"][field].is_number()) << field;
  }
  EXPECT_THAT(o.err, HasSubstr("state_ms"));
  EXPECT_THAT(o.err, HasSubstr("state fit: state_convergence_ms ="));
  // A partition that never heals fails the check; that run is replayed.
  std::vector<std::string> split = StateRun(
      {"verify", "--partition", "0.5@1s-inf", "--state-writes-until", "2s"});
  split.insert(split.end(), {"--nodes", "16,32,64"});
  const Output f = Cli(split);
  EXPECT_EQ(f.code, kExitCheckFailed);
  EXPECT_THAT(f.err, HasSubstr("check failed: state did not converge at N=16"));
  EXPECT_THAT(f.err, HasSubstr("elara-sim run --seed=1 --nodes=16"));
}

TEST(SweepTest, FailedCheckPrintsReasonSeedAndReplay) {
  const Output o = Cli(Small({"verify", "--nodes", "16,32,64", "--loss", "1",
                              "--seed", "20", "--seeds", "2"}));
  EXPECT_EQ(o.code, kExitCheckFailed);
  EXPECT_THAT(o.out, HasSubstr("check: FAIL"));
  EXPECT_THAT(o.err, HasSubstr("check failed: reliability"));
  EXPECT_THAT(o.err, HasSubstr("replay the worst run (seed 20)"));
  // Only the origin delivers: reliability 1/N is lowest at N=64; of the two
  // tied seeds the first is replayed.
  EXPECT_THAT(o.err, HasSubstr("at N=64"));
  EXPECT_THAT(o.err, HasSubstr("elara-sim run --seed=20 --nodes=64"));
  EXPECT_THAT(o.err, Not(HasSubstr("--help")));
}

}  // namespace
}  // namespace elara::tools
