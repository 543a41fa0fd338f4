// File: tools/sim_cli_report.h
//
// What `elara-sim` prints: the human summary tables of `run` and `sweep`,
// their JSON documents (field names and units: README.md, section "JSON
// (`--json PATH`)" under "The main job: simulate a swarm with `elara-sim`"),
// the per-size averages of a sweep, and the process's peak RSS. The tables
// and JSON are pure functions of the results, so tests can check them.
//
// Thread-safety: ResetPeakRss/PeakRssBytes act on the whole process; the
// rest are pure functions.
#ifndef ELARA_TOOLS_SIM_CLI_REPORT_H_
#define ELARA_TOOLS_SIM_CLI_REPORT_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "sim/scenario.h"
#include "tools/sim_cli_check.h"

namespace elara::tools {

// Starts a new peak-RSS measurement (Linux: writes 5 to
// /proc/self/clear_refs). False when the kernel refuses; PeakRssBytes then
// reports the peak since the process started.
bool ResetPeakRss();
// VmHWM of /proc/self/status, else getrusage(RUSAGE_SELF).ru_maxrss * 1024.
uint64_t PeakRssBytes();

// One finished run. result.wall_s, events_per_s and peak_rss_bytes are
// filled by the caller (the simulator never reads a clock).
struct RunRecord {
  sim::Scenario scenario;
  sim::RunResult result;
  double setup_s = 0;  // Simulator::Create: engines and warm overlay
};

// The runs of one swarm size in a sweep, averaged.
struct SizeSummary {
  uint32_t nodes = 0;
  std::vector<size_t> runs;  // indices into the sweep's RunRecords
  double reliability = 0;    // mean
  double min_reliability = 0;
  double ldh = 0;  // mean
  uint32_t ldh_max = 0;
  double rmr = 0;
  double byte_overhead = 0;
  sim::Percentiles convergence_ms;  // means of p50, p99, max
  double events = 0;                // mean
  double events_per_s = 0;          // all events / all wall seconds
  double wall_s = 0;                // mean
  uint64_t peak_rss_bytes = 0;      // largest
  double state_bytes_per_node = 0;  // mean
  // State workload (runs with Scenario::state_writes_per_s > 0).
  bool state_workload = false;
  // Mean and largest over the runs; nullopt if a run did not converge.
  std::optional<double> state_convergence_ms;
  std::optional<double> state_convergence_ms_max;
  uint32_t state_divergent_nodes_max = 0;
  double reconciliation_bytes = 0;  // mean
};

// Groups `runs` by nodes (ascending) and averages each group.
std::vector<SizeSummary> SummarizeBySize(std::span<const RunRecord> runs);
// The points the check and fit use.
std::vector<SizePoint> ToSizePoints(std::span<const SizeSummary> sizes);
// The state convergence fit over log2 N; nullopt unless every size has a
// state convergence and there are >= 2 sizes.
std::optional<LineFit> FitStateConvergence(std::span<const SizeSummary> sizes);

// --- run ---
std::string RunTable(const RunRecord& run);
// One JSON object (nodes, seed, mode, reliability, ldh, ..., trace_hash as
// 16 hex digits); `replay` is the command line that reproduces the run.
std::string RunJson(const RunRecord& run, const std::string& replay);

// --- sweep ---
struct SweepReport {
  std::vector<RunRecord> runs;
  std::vector<std::string> replays;  // per run
  std::vector<SizeSummary> sizes;
  std::optional<LineFit> fit;  // with >= 2 sizes
  // state_convergence_ms = slope * log2(N) + intercept, with >= 2 sizes
  // that all converged (state workload only).
  std::optional<LineFit> state_fit;
  std::optional<CheckOutcome> check;  // with --check
  // The run whose state did not converge, when that failed the check.
  std::optional<size_t> state_failed_run;
  double min_reliability = 1.0;
};
std::string SweepTable(const SweepReport& report);
// {"points": [...], "fit": {...} | null, "state_fit": {...} | null (state
//  workload only), "check": {...} (with --check), "runs": [RunJson
//  objects]}.
std::string SweepJson(const SweepReport& report);

// "0123456789abcdef".
std::string TraceHashHex(uint64_t hash);

}  // namespace elara::tools

#endif  // ELARA_TOOLS_SIM_CLI_REPORT_H_
