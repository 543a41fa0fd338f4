// Tables and JSON of elara-sim (sim_cli_report.h). JSON goes through
// nlohmann::ordered_json so strings are escaped correctly and fields keep
// the documented order.
#include "tools/sim_cli_report.h"

#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/config.h"
#include "nlohmann/json.hpp"
#include "sim/scenario_flags.h"

namespace elara::tools {
namespace {

using Json = nlohmann::ordered_json;

constexpr double kMiB = 1024.0 * 1024.0;

Json OptionalNumber(const std::optional<double>& value) {
  return value ? Json(*value) : Json(nullptr);
}

void AddStateFields(const sim::RunResult& r, Json* j) {
  (*j)["state_convergence_ms"] = OptionalNumber(r.state_convergence_ms);
  (*j)["state_divergent_nodes"] = r.state_divergent_nodes;
  (*j)["reconciliation_bytes"] = r.reconciliation_bytes;
  (*j)["state_settle_ms"] = r.state_settle_ms;
  (*j)["state_writes"] = r.state_writes;
  (*j)["state_writes_failed"] = r.state_writes_failed;
  (*j)["state_writes_no_live_node"] = r.state_writes_no_live_node;
  (*j)["state_conflicting_keys"] = r.state_conflicting_keys;
  (*j)["state_keys_held"] = r.state_keys_held;
}

Json RunObject(const RunRecord& run, const std::string& replay) {
  const sim::RunResult& r = run.result;
  Json j;
  j["nodes"] = r.nodes;
  j["seed"] = r.seed;
  j["mode"] = r.mode;
  j["reliability"] = r.reliability;
  j["ldh"] = r.ldh;
  j["rmr"] = r.rmr;
  j["byte_overhead"] = r.byte_overhead;
  j["convergence_ms"] = {{"p50", r.convergence_ms.p50},
                         {"p99", r.convergence_ms.p99},
                         {"max", r.convergence_ms.max}};
  j["events"] = r.events;
  j["events_per_s"] = r.events_per_s;
  j["wall_s"] = r.wall_s;
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  j["state_bytes_per_node"] = r.state_bytes_per_node;
  j["trace_hash"] = TraceHashHex(r.trace_hash);
  // Beyond the required fields.
  j["setup_s"] = run.setup_s;
  j["timer_pops_skipped"] = r.timer_pops_skipped;
  j["threads"] = r.threads;
  j["lookahead_windows"] = r.lookahead_windows;
  j["split_windows"] = r.split_windows;
  j["rss_bytes_per_node"] =
      r.nodes == 0 ? 0.0 : static_cast<double>(r.peak_rss_bytes) / r.nodes;
  j["messages"] = r.messages;
  j["live_nodes"] = r.live_nodes;
  j["overlay_components"] = r.overlay_components;
  j["short_active_views"] = r.short_active_views;
  j["joining_nodes"] = r.joining_nodes;
  j["datagrams_sent"] = r.datagrams_sent;
  j["datagrams_lost"] = r.datagrams_lost;
  j["bytes_sent"] = r.bytes_sent;
  j["broadcasts_failed"] = r.broadcasts_failed;
  j["broadcasts_no_live_node"] = r.broadcasts_no_live_node;
  j["duplicate_deliveries"] = r.duplicate_deliveries;
  Json bounds = Json::object();
  r.bounds_hit.ForEach(
      [&bounds](const char* name, uint64_t value) { bounds[name] = value; });
  j["bounds_hit"] = bounds;
  if (r.state_workload) AddStateFields(r, &j);
  j["replay"] = replay;
  return j;
}

Json SizeObject(const SizeSummary& s, std::span<const RunRecord> runs) {
  Json j;
  j["nodes"] = s.nodes;
  j["runs"] = s.runs.size();
  Json seeds = Json::array();
  Json hashes = Json::array();
  for (size_t i : s.runs) {
    seeds.push_back(runs[i].result.seed);
    hashes.push_back(TraceHashHex(runs[i].result.trace_hash));
  }
  j["seeds"] = seeds;
  j["reliability"] = s.reliability;
  j["min_reliability"] = s.min_reliability;
  j["ldh"] = s.ldh;
  j["ldh_max"] = s.ldh_max;
  j["ldh_per_log2_nodes"] = s.ldh / std::log2(static_cast<double>(s.nodes));
  j["rmr"] = s.rmr;
  j["byte_overhead"] = s.byte_overhead;
  j["convergence_ms"] = {{"p50", s.convergence_ms.p50},
                         {"p99", s.convergence_ms.p99},
                         {"max", s.convergence_ms.max}};
  j["events"] = s.events;
  j["events_per_s"] = s.events_per_s;
  j["wall_s"] = s.wall_s;
  j["peak_rss_bytes"] = s.peak_rss_bytes;
  j["state_bytes_per_node"] = s.state_bytes_per_node;
  if (s.state_workload) {
    j["state_convergence_ms"] = OptionalNumber(s.state_convergence_ms);
    j["state_convergence_ms_max"] = OptionalNumber(s.state_convergence_ms_max);
    j["state_divergent_nodes_max"] = s.state_divergent_nodes_max;
    j["reconciliation_bytes"] = s.reconciliation_bytes;
  }
  j["trace_hashes"] = hashes;
  return j;
}

Json CheckObject(const CheckOutcome& c, double min_reliability) {
  Json j;
  j["passed"] = c.passed;
  j["reason"] = c.reason;
  j["min_reliability"] = min_reliability;
  j["flat"] = c.flat;
  j["shape_judged"] = c.shape_judged;
  j["power_law_exponent"] = c.power_law_exponent;
  j["sse_log"] = c.sse_log;
  j["sse_sqrt"] = c.sse_sqrt;
  j["sse_linear"] = c.sse_linear;
  j["rms_log_hops"] = c.rms_log_hops;
  return j;
}

std::string Latency(const sim::Scenario& s) {
  if (s.latency_model == sim::LatencyModel::kFixed) {
    return absl::StrCat("fixed ", sim::FormatDuration(s.latency_min));
  }
  return absl::StrCat(sim::LatencyModelName(s.latency_model), " ",
                      sim::FormatDuration(s.latency_min), "..",
                      sim::FormatDuration(s.latency_max));
}

// Two lines describing the scenario.
std::string ScenarioLines(const sim::Scenario& s, bool with_nodes) {
  std::string text = absl::StrFormat(
      "%smode %s, seed %d, %d broadcasts x %d B every %s, loss %s, latency "
      "%s, bootstrap %s, event order %s\n",
      with_nodes ? absl::StrCat(s.nodes, " nodes, ") : "",
      BroadcastModeName(s.engine.broadcast.mode), s.seed, s.broadcasts,
      s.payload_bytes, sim::FormatDuration(s.broadcast_interval),
      sim::FormatNumber(s.loss), Latency(s), sim::BootstrapName(s.bootstrap),
      sim::EventOrderName(s.event_order));
  std::vector<std::string> faults;
  for (const sim::PartitionSpec& p : s.partitions) {
    faults.push_back(absl::StrCat("partition ", sim::FormatPartition(p)));
  }
  for (const sim::CrashSpec& c : s.crashes) {
    faults.push_back(absl::StrCat("crash ", sim::FormatCrash(c)));
  }
  if (s.churn_per_s > 0) {
    faults.push_back(
        absl::StrCat("churn ", sim::FormatNumber(s.churn_per_s), "/s"));
  }
  if (s.burst_loss_enter > 0) faults.push_back("bursty loss");
  absl::StrAppend(&text, "faults: ",
                  faults.empty() ? "none" : absl::StrJoin(faults, ", "), "\n");
  if (s.state_workload()) {
    absl::StrAppendFormat(
        &text,
        "state: %g writes/s over %d keys x %d B until %s, settle at %s%s\n",
        s.state_writes_per_s, s.state_keys, s.state_value_bytes,
        sim::FormatDuration(s.StateWritesEnd()),
        sim::FormatDuration(s.StateSettle()),
        s.state_clock_skew > Duration::Zero()
            ? absl::StrCat(", clock skew 0..",
                           sim::FormatDuration(s.state_clock_skew))
            : "");
  }
  return text;
}

void Row(std::string* out, const char* name, const std::string& value,
         const std::string& note) {
  absl::StrAppendFormat(out, "  %-22s %-16s %s\n", name, value, note);
}

// Faults the run could not show (sim::Scenario::UnexercisedFaults).
std::string FaultWarnings(const sim::Scenario& s, const sim::RunResult& r) {
  std::string text;
  for (const std::string& note : s.UnexercisedFaults(r.last_delivery)) {
    absl::StrAppend(&text, "WARNING: ", note, "\n");
  }
  return text;
}

// Some message is incomplete and first deliveries that reliability counts
// were still happening in the last tenth of the drain (at least its last
// 100 ms): the run ended while messages spread (pull mode, say, spreads
// one round per pull period), so a longer drain would count more.
// Deliveries to nodes that joined or restarted after a publication do not
// count: catching up on old messages, they say nothing about the drain.
std::string DrainWarning(const sim::Scenario& s, const sim::RunResult& r) {
  if (r.messages == 0 || r.reliability >= 1.0 || !r.last_counted_delivery) {
    return "";
  }
  const Duration end = s.End();
  const Duration tail = std::max(s.Drain() / 10, Duration::Millis(100));
  if (*r.last_counted_delivery < end - tail) return "";
  return absl::StrFormat(
      "WARNING: %d nodes, seed %d: messages were still reaching nodes when "
      "the run ended (last delivery at %s, end at %s): reliability %.6f may "
      "be short of what a longer --drain (now %s) shows\n",
      s.nodes, s.seed, sim::FormatDuration(*r.last_counted_delivery),
      sim::FormatDuration(end), r.reliability, sim::FormatDuration(s.Drain()));
}

// The table's bounds_hit row: "none", or how many times a bound cut
// something, with the bounds that did.
std::string BoundsValue(const sim::BoundsHit& b) {
  return b.Lossy() == 0 ? std::string("none") : absl::StrCat(b.Lossy());
}

std::string BoundsDetail(const sim::BoundsHit& b) {
  std::string detail;
  b.ForEach([&](const char* name, uint64_t value) {
    if (value == 0 || std::string_view(name) == "passive_view_evictions") {
      return;
    }
    absl::StrAppend(&detail, detail.empty() ? "" : ", ", name, " ", value);
  });
  return detail.empty() ? std::string("caches, windows and queues never full")
                        : detail;
}

std::string Warnings(const sim::RunResult& r) {
  std::string text;
  if (r.broadcasts_failed > 0) {
    absl::StrAppendFormat(&text,
                          "WARNING: %d broadcasts refused by the engine "
                          "(payload too large for a datagram?)\n",
                          r.broadcasts_failed);
  }
  if (r.broadcasts_no_live_node > 0) {
    absl::StrAppendFormat(&text,
                          "WARNING: %d broadcasts not published: no live node "
                          "to publish from (every node crashed or left)\n",
                          r.broadcasts_no_live_node);
  }
  if (r.duplicate_deliveries > 0) {
    absl::StrAppendFormat(&text,
                          "WARNING: %d duplicate deliveries (an engine bug)\n",
                          r.duplicate_deliveries);
  }
  if (r.state_writes_failed > 0) {
    absl::StrAppendFormat(&text,
                          "WARNING: %d state writes refused by the engine "
                          "(a store or value bound)\n",
                          r.state_writes_failed);
  }
  if (r.state_writes_no_live_node > 0) {
    absl::StrAppendFormat(&text,
                          "WARNING: %d state writes not made: no live node "
                          "to write from (every node crashed or left)\n",
                          r.state_writes_no_live_node);
  }
  if (r.state_workload && !r.state_convergence_ms) {
    absl::StrAppendFormat(&text,
                          "WARNING: state did not converge: %d live nodes "
                          "off the majority digest at the end\n",
                          r.state_divergent_nodes);
  }
  return text;
}

std::string SizeStateColumns(const SizeSummary& s) {
  return absl::StrFormat(
      " %9s %8d %10.1f",
      s.state_convergence_ms ? absl::StrFormat("%.1f", *s.state_convergence_ms)
                             : "-",
      s.state_divergent_nodes_max, s.reconciliation_bytes / 1024.0);
}

void StateRows(const sim::RunResult& r, std::string* out) {
  Row(out, "state_convergence_ms",
      r.state_convergence_ms ? absl::StrFormat("%.1f", *r.state_convergence_ms)
                             : "not converged",
      absl::StrFormat("settle (%.0f ms) -> all live digests equal",
                      r.state_settle_ms));
  Row(out, "state_divergent_nodes", absl::StrCat(r.state_divergent_nodes),
      "live nodes off the majority digest at the end");
  Row(out, "reconciliation_bytes", absl::StrCat(r.reconciliation_bytes),
      "anti-entropy bytes, settle -> convergence");
  Row(out, "state_writes", absl::StrCat(r.state_writes),
      absl::StrFormat("accepted; %d keys written on both sides of a cut",
                      r.state_conflicting_keys));
  Row(out, "state_keys_held", absl::StrCat(r.state_keys_held),
      "by a majority-digest node");
}

}  // namespace

bool ResetPeakRss() {
  std::ofstream clear_refs("/proc/self/clear_refs");
  if (!clear_refs) return false;
  clear_refs << "5";
  clear_refs.flush();
  return static_cast<bool>(clear_refs);
}

uint64_t PeakRssBytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) != 0) continue;
    uint64_t kib = 0;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    if (absl::SimpleAtoi(digits, &kib)) return kib * 1024;
  }
  struct rusage usage;
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<uint64_t>(usage.ru_maxrss) * 1024;  // KiB on Linux
}

std::string TraceHashHex(uint64_t hash) {
  return absl::StrFormat("%016x", hash);
}

namespace {

// Adds one of `k` runs to a size's state means: convergence is the mean
// over the size's runs, nullopt if any run did not converge.
void AddStateRun(const sim::RunResult& r, double k, SizeSummary* s) {
  if (!r.state_workload) return;
  if (!s->state_workload) {
    s->state_workload = true;
    s->state_convergence_ms = 0.0;
    s->state_convergence_ms_max = 0.0;
  }
  if (r.state_convergence_ms && s->state_convergence_ms) {
    *s->state_convergence_ms += *r.state_convergence_ms / k;
    s->state_convergence_ms_max =
        std::max(*s->state_convergence_ms_max, *r.state_convergence_ms);
  } else {
    s->state_convergence_ms.reset();
    s->state_convergence_ms_max.reset();
  }
  s->state_divergent_nodes_max =
      std::max(s->state_divergent_nodes_max, r.state_divergent_nodes);
  s->reconciliation_bytes += static_cast<double>(r.reconciliation_bytes) / k;
}

}  // namespace

std::vector<SizeSummary> SummarizeBySize(std::span<const RunRecord> runs) {
  std::map<uint32_t, std::vector<size_t>> by_nodes;  // sorted by nodes
  for (size_t i = 0; i < runs.size(); ++i) {
    by_nodes[runs[i].result.nodes].push_back(i);
  }
  std::vector<SizeSummary> sizes;
  for (const auto& [nodes, indices] : by_nodes) {
    SizeSummary s;
    s.nodes = nodes;
    s.runs = indices;
    s.min_reliability = 1.0;
    const double k = static_cast<double>(indices.size());
    double events_total = 0, wall_total = 0;
    for (size_t i : indices) {
      const sim::RunResult& r = runs[i].result;
      s.reliability += r.reliability / k;
      s.min_reliability = std::min(s.min_reliability, r.reliability);
      s.ldh += r.ldh / k;
      s.ldh_max = std::max(s.ldh_max, r.ldh);
      s.rmr += r.rmr / k;
      s.byte_overhead += r.byte_overhead / k;
      s.convergence_ms.p50 += r.convergence_ms.p50 / k;
      s.convergence_ms.p99 += r.convergence_ms.p99 / k;
      s.convergence_ms.max += r.convergence_ms.max / k;
      s.events += static_cast<double>(r.events) / k;
      s.wall_s += r.wall_s / k;
      s.peak_rss_bytes = std::max(s.peak_rss_bytes, r.peak_rss_bytes);
      s.state_bytes_per_node += r.state_bytes_per_node / k;
      AddStateRun(r, k, &s);
      events_total += static_cast<double>(r.events);
      wall_total += r.wall_s;
    }
    s.events_per_s = wall_total > 0 ? events_total / wall_total : 0.0;
    sizes.push_back(s);
  }
  return sizes;
}

std::vector<SizePoint> ToSizePoints(std::span<const SizeSummary> sizes) {
  std::vector<SizePoint> points;
  for (const SizeSummary& s : sizes) {
    points.push_back({s.nodes, s.ldh, s.min_reliability});
  }
  return points;
}

std::optional<LineFit> FitStateConvergence(std::span<const SizeSummary> sizes) {
  if (sizes.size() < 2) return std::nullopt;
  std::vector<double> x, y;
  for (const SizeSummary& s : sizes) {
    if (!s.state_convergence_ms) return std::nullopt;
    x.push_back(std::log2(static_cast<double>(s.nodes)));
    y.push_back(*s.state_convergence_ms);
  }
  return FitLine(x, y);
}

std::string RunTable(const RunRecord& run) {
  const sim::RunResult& r = run.result;
  std::string out =
      absl::StrCat("elara-sim run: ", ScenarioLines(run.scenario, true), "\n");
  Row(&out, "reliability", absl::StrFormat("%.6f", r.reliability),
      run.scenario.broadcasts == 0
          ? std::string("no broadcasts (nothing missed)")
          : absl::StrFormat("of %d messages x correct live nodes", r.messages));
  Row(&out, "ldh", absl::StrCat(r.ldh),
      absl::StrFormat("hops (log2 N = %.1f)",
                      std::log2(static_cast<double>(r.nodes))));
  Row(&out, "rmr", absl::StrFormat("%.3f", r.rmr),
      "payload receptions / (N-1) - 1");
  Row(&out, "byte_overhead", absl::StrFormat("%.2f %%", 100 * r.byte_overhead),
      "all wire bytes / ((N-1) x payload) - 1");
  Row(&out, "convergence_ms p50", absl::StrFormat("%.1f", r.convergence_ms.p50),
      "publish -> delivery, virtual ms");
  Row(&out, "convergence_ms p99", absl::StrFormat("%.1f", r.convergence_ms.p99),
      "");
  Row(&out, "convergence_ms max", absl::StrFormat("%.1f", r.convergence_ms.max),
      "");
  Row(&out, "events", absl::StrCat(r.events), "");
  Row(&out, "events_per_s", absl::StrFormat("%.3g", r.events_per_s),
      r.threads == 1
          ? std::string("events / wall_s")
          : absl::StrCat("events / wall_s, ", r.threads, " threads"));
  Row(&out, "wall_s", absl::StrFormat("%.2f", r.wall_s),
      absl::StrFormat("Run() only; setup %.2f s", run.setup_s));
  Row(&out, "peak_rss", absl::StrFormat("%.1f MiB", r.peak_rss_bytes / kMiB),
      absl::StrFormat("%.0f B per node", static_cast<double>(r.peak_rss_bytes) /
                                             std::max<uint32_t>(r.nodes, 1)));
  Row(&out, "state_bytes_per_node",
      absl::StrFormat("%.0f", r.state_bytes_per_node), "engine accounting");
  Row(&out, "live_nodes", absl::StrCat(r.live_nodes), "at the end");
  Row(&out, "overlay",
      absl::StrCat(r.overlay_components, " component",
                   r.overlay_components == 1 ? "" : "s"),
      absl::StrCat(r.short_active_views, " active views below the bound",
                   r.joining_nodes == 0
                       ? ""
                       : absl::StrCat(", ", r.joining_nodes,
                                      " nodes still joining left out")));
  Row(&out, "datagrams", absl::StrCat(r.datagrams_sent),
      absl::StrFormat("sent; %d lost or cut", r.datagrams_lost));
  Row(&out, "bounds_hit", BoundsValue(r.bounds_hit),
      BoundsDetail(r.bounds_hit));
  if (r.state_workload) StateRows(r, &out);
  Row(&out, "trace_hash", TraceHashHex(r.trace_hash),
      "same scenario + binary => same hash");
  absl::StrAppend(&out, FaultWarnings(run.scenario, r),
                  DrainWarning(run.scenario, r), Warnings(r));
  return out;
}

std::string RunJson(const RunRecord& run, const std::string& replay) {
  return RunObject(run, replay).dump(2) + "\n";
}

std::string SweepTable(const SweepReport& report) {
  std::string out = "elara-sim sweep: ";
  if (!report.runs.empty()) {
    absl::StrAppend(&out, ScenarioLines(report.runs[0].scenario, false));
  }
  const bool state = !report.sizes.empty() && report.sizes[0].state_workload;
  absl::StrAppendFormat(
      &out,
      "\n  %8s %4s %11s %6s %8s %6s %8s %8s %9s %7s "
      "%8s%s\n",
      "nodes", "runs", "reliability", "ldh", "ldh/lg2N", "rmr", "overhead",
      "p99_ms", "events/s", "wall_s", "rss_MiB",
      state
          ? absl::StrFormat(" %9s %8s %10s", "state_ms", "div_max", "recon_KiB")
          : "");
  for (const SizeSummary& s : report.sizes) {
    absl::StrAppendFormat(
        &out,
        "  %8d %4d %11.6f %6.2f %8.3f %6.3f %7.2f%% %8.1f %9.3g %7.2f "
        "%8.1f%s\n",
        s.nodes, s.runs.size(), s.min_reliability, s.ldh,
        s.ldh / std::log2(static_cast<double>(s.nodes)), s.rmr,
        100 * s.byte_overhead, s.convergence_ms.p99, s.events_per_s, s.wall_s,
        s.peak_rss_bytes / kMiB, state ? SizeStateColumns(s) : "");
  }
  absl::StrAppend(&out,
                  "  (reliability: lowest of the size's runs; other "
                  "columns: means)\n");
  if (report.fit) {
    absl::StrAppendFormat(
        &out, "fit: LDH = %.3f * log2(N) %s %.3f  (r2 %.3f)\n",
        report.fit->slope, report.fit->intercept < 0 ? "-" : "+",
        std::fabs(report.fit->intercept), report.fit->r2);
  }
  if (report.state_fit) {
    absl::StrAppendFormat(
        &out,
        "state fit: state_convergence_ms = %.1f * log2(N) %s %.1f  (r2 "
        "%.3f)\n",
        report.state_fit->slope, report.state_fit->intercept < 0 ? "-" : "+",
        std::fabs(report.state_fit->intercept), report.state_fit->r2);
  }
  if (report.check) {
    absl::StrAppend(&out, "check: ", report.check->passed ? "PASS" : "FAIL",
                    ": ", report.check->reason, "\n");
  }
  // Fault lines once each (the runs share the fault schedule; a line
  // naming a run's own last delivery differs per run); the runs' own
  // warnings per run, as before.
  std::vector<std::string> seen;
  for (const RunRecord& run : report.runs) {
    const std::vector<std::string> lines = absl::StrSplit(
        FaultWarnings(run.scenario, run.result), '\n', absl::SkipEmpty());
    for (const std::string& line : lines) {
      if (std::find(seen.begin(), seen.end(), line) != seen.end()) continue;
      seen.push_back(line);
      absl::StrAppend(&out, line, "\n");
    }
  }
  for (const RunRecord& run : report.runs) {
    absl::StrAppend(&out, DrainWarning(run.scenario, run.result),
                    Warnings(run.result));
  }
  return out;
}

std::string SweepJson(const SweepReport& report) {
  Json j;
  Json points = Json::array();
  for (const SizeSummary& s : report.sizes) {
    points.push_back(SizeObject(s, report.runs));
  }
  j["points"] = points;
  if (report.fit) {
    j["fit"] = {{"slope", report.fit->slope},
                {"intercept", report.fit->intercept},
                {"r2", report.fit->r2}};
  } else {
    j["fit"] = nullptr;
  }
  if (!report.sizes.empty() && report.sizes[0].state_workload) {
    if (report.state_fit) {
      j["state_fit"] = {{"slope", report.state_fit->slope},
                        {"intercept", report.state_fit->intercept},
                        {"r2", report.state_fit->r2}};
    } else {
      j["state_fit"] = nullptr;
    }
  }
  if (report.check) {
    j["check"] = CheckObject(*report.check, report.min_reliability);
  }
  Json runs = Json::array();
  for (size_t i = 0; i < report.runs.size(); ++i) {
    runs.push_back(RunObject(report.runs[i], report.replays[i]));
  }
  j["runs"] = runs;
  return j.dump(2) + "\n";
}

}  // namespace elara::tools
