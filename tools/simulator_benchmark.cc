// File: tools/simulator_benchmark.cc
//
// Whole-simulation throughput and memory: one warm-start broadcast run per
// benchmark (default Scenario workload: 2 s warmup, 10 broadcasts of 1 KiB
// every 100 ms, 10 s drain; uniform 10-80 ms latency), reported as
//   events_per_s   simulator events / wall seconds of Run() (setup excluded)
//   events_per_cpu_s  the same per CPU second of Run (less noisy when the
//                  machine is shared)
//   setup_s        Simulator::Create (engines + warm overlay)
//   run_s          Simulator::Run
//   peak_rss_MiB   the process's peak RSS so far (run one size per process
//                  for a clean figure: --benchmark_filter=.../1000000/...)
// plus the run's reliability, LDH, RMR and p99 convergence.
//
//   bazel run -c opt //tools:simulator_benchmark --
//       --benchmark_filter='BM_WarmBroadcast/100000/0/10/10/'
// (one line).
//
// The simulator never reads a clock; this benchmark does, around it.
#include <sys/resource.h>
#include <time.h>

#include <chrono>
#include <cstdio>

#include "benchmark/benchmark.h"
#include "sim/scenario.h"
#include "sim/scenario_flags.h"
#include "sim/simulator.h"

namespace elara::sim {
namespace {

double CpuSeconds() {
  struct timespec ts;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) +
         static_cast<double>(ts.tv_nsec) * 1e-9;
}

double PeakRssMiB() {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;  // KiB on Linux
}

// range(0) = nodes, range(1) = loss in per mille, range(2) = broadcasts,
// range(3) = drain in seconds.
void BM_WarmBroadcast(benchmark::State& state) {
  Scenario s;
  s.seed = 1;
  s.nodes = static_cast<uint32_t>(state.range(0));
  s.loss = static_cast<double>(state.range(1)) / 1000.0;
  s.broadcasts = static_cast<uint32_t>(state.range(2));
  s.drain = Duration::Seconds(state.range(3));
  s.bootstrap = Bootstrap::kWarm;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
    if (!sim.ok()) {
      state.SkipWithError(std::string(sim.status().message()).c_str());
      return;
    }
    const auto t1 = std::chrono::steady_clock::now();
    const double cpu1 = CpuSeconds();
    const RunResult r = (*sim)->Run();
    const double cpu2 = CpuSeconds();
    const auto t2 = std::chrono::steady_clock::now();
    const double setup_s = std::chrono::duration<double>(t1 - t0).count();
    const double run_s = std::chrono::duration<double>(t2 - t1).count();
    state.counters["events"] = static_cast<double>(r.events);
    state.counters["events_per_s"] = static_cast<double>(r.events) / run_s;
    // On a shared machine wall time is noisy; CPU time of Run is not.
    state.counters["events_per_cpu_s"] =
        static_cast<double>(r.events) / (cpu2 - cpu1);
    state.counters["setup_s"] = setup_s;
    state.counters["run_s"] = run_s;
    state.counters["peak_rss_MiB"] = PeakRssMiB();
    state.counters["reliability"] = r.reliability;
    state.counters["ldh"] = r.ldh;
    state.counters["rmr"] = r.rmr;
    state.counters["byte_overhead"] = r.byte_overhead;
    state.counters["p99_ms"] = r.convergence_ms.p99;
    state.counters["state_B_per_node"] = r.state_bytes_per_node;
    state.counters["peak_in_flight"] =
        static_cast<double>((*sim)->peak_packets_in_flight());
    std::fprintf(stderr, "replay: %s\n", FailureReplay(s).c_str());
  }
}

// Setup only (engines + warm overlay), range(0) = nodes: its time and the
// peak RSS right after it.
void BM_WarmSetup(benchmark::State& state) {
  Scenario s;
  s.nodes = static_cast<uint32_t>(state.range(0));
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
    const auto t1 = std::chrono::steady_clock::now();
    if (!sim.ok()) {
      state.SkipWithError(std::string(sim.status().message()).c_str());
      return;
    }
    state.counters["setup_s"] = std::chrono::duration<double>(t1 - t0).count();
    state.counters["peak_rss_MiB"] = PeakRssMiB();
    state.counters["warm_links"] =
        static_cast<double>((*sim)->counters().warm_active_links);
  }
}
BENCHMARK(BM_WarmSetup)
    ->Arg(100'000)
    ->Arg(1'000'000)
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

BENCHMARK(BM_WarmBroadcast)
    ->Args({10'000, 10, 0, 3})  // membership traffic only
    ->Args({10'000, 0, 10, 10})
    ->Args({100'000, 0, 10, 10})
    ->Args({100'000, 10, 10, 10})
    ->Args({1'000'000, 10, 10, 10})
    ->Args({1'000'000, 10, 1, 3})
    ->Iterations(1)
    ->Unit(benchmark::kSecond)
    ->UseRealTime();

}  // namespace
}  // namespace elara::sim
