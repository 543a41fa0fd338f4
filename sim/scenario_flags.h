// File: sim/scenario_flags.h
//
// The text forms of Scenario values, shared by the elara-sim command line
// (tools/) and FailureReplay, so that the command a failing run prints is
// exactly one the CLI accepts. The flags of `elara-sim run`:
//
//   field                               flag             text form
//   seed                                --seed           integer
//   nodes                               --nodes          integer
//   engine.broadcast.mode               --mode           push | pull | hybrid
//   engine.membership.active_view_size  --active-view    integer
//   engine.membership.passive_view_size --passive-view   integer
//   engine.broadcast.initial_fanout     --fanout         integer
//   engine.broadcast.max_fanout         --max-fanout     integer
//   engine.broadcast.redundancy_factor  --redundancy     number
//   latency_model                       --latency        fixed|uniform|pareto
//   latency_min / latency_max           --latency-min / --latency-max  DUR
//   loss                                --loss           probability
//   burst_loss_enter / _exit / _bad     --burst-enter / --burst-exit /
//                                       --burst-bad      probability
//   bandwidth_bytes_per_s               --bandwidth      bytes per second
//   partitions (repeatable)             --partition      FRACTION@START-END
//   crashes (repeatable)                --crash          FRACTION@AT[+RESTART]
//   churn_per_s                         --churn          number per second
//   event_order                         --event-order    lookahead | exact
//   bootstrap                           --bootstrap      protocol | warm
//   join_spread                         --join-spread    DUR
//   warmup                              --warmup         DUR
//   broadcasts                          --broadcasts     integer
//   payload_bytes                       --payload        bytes
//   broadcast_interval                  --interval       DUR
//   drain                               --drain          DUR
//   state_writes_per_s                  --state-writes-per-s  number
//   state_writes_until                  --state-writes-until  DUR | heal
//   state_keys                          --state-keys     integer
//   state_value_bytes                   --state-value-bytes   bytes
//   state_clock_skew                    --state-clock-skew    DUR
//   trace_path                          --trace          path
//
// DUR is an integer with a unit, "us", "ms" or "s" (e.g. 250ms, 2s), or
// "inf" where a duration may be infinite (a partition's END, a crash's
// RESTART is simply left out). Examples: --partition=0.5@5s-15s,
// --crash=0.5@10s, --crash=0.2@10s+5s.
//
// Engine config fields other than those above have no flag here; a run that
// changed them (e.g. from a config file) needs that file to be replayed.
//
// Thread-safety: pure functions.
#ifndef ELARA_SIM_SCENARIO_FLAGS_H_
#define ELARA_SIM_SCENARIO_FLAGS_H_

#include <optional>
#include <string>
#include <string_view>

#include "core/time.h"
#include "sim/scenario.h"

namespace elara::sim {

// "250ms", "2s", "1500us"; "inf" for Duration::Infinite(). Uses the largest
// unit that represents the value exactly.
std::string FormatDuration(Duration d);
// Parses FormatDuration's forms (also "0"); nullopt on anything else,
// including negative values and overflow.
std::optional<Duration> ParseDuration(std::string_view text);

const char* LatencyModelName(LatencyModel model);  // "fixed", ...
std::optional<LatencyModel> ParseLatencyModel(std::string_view text);
const char* BootstrapName(Bootstrap bootstrap);  // "protocol", "warm"
const char* EventOrderName(EventOrder order);    // "lookahead", "exact"
std::optional<EventOrder> ParseEventOrder(std::string_view text);
std::optional<Bootstrap> ParseBootstrap(std::string_view text);

std::string FormatPartition(const PartitionSpec& p);  // "0.5@5s-15s"
std::optional<PartitionSpec> ParsePartition(std::string_view text);
std::string FormatCrash(const CrashSpec& c);  // "0.5@10s" or "0.5@10s+5s"
std::optional<CrashSpec> ParseCrash(std::string_view text);

// "heal" for nullopt, else FormatDuration.
std::string FormatStateWritesUntil(const std::optional<Duration>& until);
// "heal" -> an empty optional inside the result; a finite DUR -> it;
// nullopt on anything else.
std::optional<std::optional<Duration>> ParseStateWritesUntil(
    std::string_view text);

// Shortest decimal text that parses back to exactly `value`.
std::string FormatNumber(double value);

// The command line that replays `scenario`:
//   "elara-sim run --seed=7 --nodes=200 --mode=hybrid ..."
// Every flag of the table above is written (defaults included), so the
// replay does not depend on the defaults of a later build.
std::string FailureReplay(const Scenario& scenario);

}  // namespace elara::sim

#endif  // ELARA_SIM_SCENARIO_FLAGS_H_
