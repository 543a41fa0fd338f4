// File: tools/sim_cli.h
//
// The `elara-sim` command line: parses `run`, `sweep` and `verify` (CLI11),
// builds the Scenario (defaults, then --config FILE, then flags; see
// sim_cli_options.h), runs the simulator, and prints the summary table, the
// JSON document and, for a failed check, the command that replays the worst
// run. Wall time, events/s and peak RSS are measured here, around
// Simulator::Run: the simulator itself never reads a clock.
//
// Exit codes: kExitOk (0), kExitCheckFailed (1: --check, or `verify`,
// failed), kExitBadInput (2: bad flag, value, config file or output path,
// or a summary table that could not be written; the message names the flag
// or FILE:LINE:COLUMN and what is allowed).
// Usage and schemas: README.md, section "The main job: simulate a swarm
// with `elara-sim`".
//
// Thread-safety: one call at a time (it writes /proc/self/clear_refs and
// runs simulators on the calling thread).
#ifndef ELARA_TOOLS_SIM_CLI_H_
#define ELARA_TOOLS_SIM_CLI_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "sim/scenario.h"

namespace elara::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitCheckFailed = 1;
inline constexpr int kExitBadInput = 2;

// Where the command line writes. `progress` draws a bar on *err; the binary
// sets it when stderr is a terminal (isatty).
struct CliIo {
  std::ostream* out;
  std::ostream* err;
  bool progress = false;
};

// What a parsed command line asks for.
struct CliPlan {
  enum class Command { kRun, kSweep };
  Command command = Command::kRun;
  sim::Scenario scenario;  // defaults + config + flags (nodes: run only)
  std::vector<uint32_t> sweep_nodes;  // sweep: ascending
  uint32_t seeds = 1;                 // sweep: runs per size
  bool check = false;
  double min_reliability = 1.0;
  std::string json_path;  // "" = none, "-" = stdout
  bool quiet = false;
  std::string config_path;  // "" = none
};

// Sweep sizes when neither --nodes nor the config file give them.
inline constexpr uint32_t kDefaultSweepNodes[] = {256, 1024, 4096, 16384};

// Parses argv into *plan and validates it (Scenario::Validate for every
// size to run). Returns an exit code when the program must stop now (help
// printed: kExitOk; bad input: kExitBadInput, message on io.err), nullopt
// when *plan is ready to execute.
std::optional<int> ParseCommandLine(int argc, const char* const* argv,
                                    const CliIo& io, CliPlan* plan);

// The command line that replays one scenario of the plan
// (sim::FailureReplay, plus --config when a config file was used, since
// engine fields without a flag come from it).
std::string ReplayCommand(const CliPlan& plan, const sim::Scenario& scenario);

// Runs a parsed plan; returns the exit code.
int ExecutePlan(const CliPlan& plan, const CliIo& io);

// main(): ParseCommandLine then ExecutePlan.
int SimCliMain(int argc, const char* const* argv, const CliIo& io);

}  // namespace elara::tools

#endif  // ELARA_TOOLS_SIM_CLI_H_
