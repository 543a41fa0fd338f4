#include "sim/scenario_flags.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace elara::sim {
namespace {

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

bool ParseDouble(std::string_view text, double* out) {
  return !text.empty() && absl::SimpleAtod(ToAbsl(text), out);
}

// Splits "a<sep>b" at the first `sep`; false if absent.
bool SplitOnce(std::string_view text, char sep, std::string_view* head,
               std::string_view* tail) {
  const size_t at = text.find(sep);
  if (at == std::string_view::npos) return false;
  *head = text.substr(0, at);
  *tail = text.substr(at + 1);
  return true;
}

}  // namespace

std::string FormatDuration(Duration d) {
  if (d.IsInfinite()) return "inf";
  const int64_t us = d.ToMicros();
  if (us % 1'000'000 == 0) return absl::StrCat(us / 1'000'000, "s");
  if (us % 1000 == 0) return absl::StrCat(us / 1000, "ms");
  return absl::StrCat(us, "us");
}

std::optional<Duration> ParseDuration(std::string_view text) {
  if (text == "inf") return Duration::Infinite();
  if (text == "0") return Duration::Zero();
  int64_t scale = 0;
  std::string_view digits;
  if (text.size() > 2 && text.substr(text.size() - 2) == "us") {
    scale = 1;
    digits = text.substr(0, text.size() - 2);
  } else if (text.size() > 2 && text.substr(text.size() - 2) == "ms") {
    scale = 1000;
    digits = text.substr(0, text.size() - 2);
  } else if (text.size() > 1 && text.back() == 's') {
    scale = 1'000'000;
    digits = text.substr(0, text.size() - 1);
  } else {
    return std::nullopt;
  }
  for (char c : digits) {
    if (c < '0' || c > '9') return std::nullopt;  // no sign, no fraction
  }
  int64_t value = 0;
  if (!absl::SimpleAtoi(ToAbsl(digits), &value)) return std::nullopt;
  if (value > std::numeric_limits<int64_t>::max() / scale - 1) {
    return std::nullopt;
  }
  return Duration::Micros(value * scale);
}

const char* LatencyModelName(LatencyModel model) {
  switch (model) {
    case LatencyModel::kFixed:
      return "fixed";
    case LatencyModel::kUniform:
      return "uniform";
    case LatencyModel::kPareto:
      return "pareto";
  }
  return "?";
}

std::optional<LatencyModel> ParseLatencyModel(std::string_view text) {
  if (text == "fixed") return LatencyModel::kFixed;
  if (text == "uniform") return LatencyModel::kUniform;
  if (text == "pareto") return LatencyModel::kPareto;
  return std::nullopt;
}

const char* BootstrapName(Bootstrap bootstrap) {
  switch (bootstrap) {
    case Bootstrap::kProtocol:
      return "protocol";
    case Bootstrap::kWarm:
      return "warm";
  }
  return "?";
}

std::optional<Bootstrap> ParseBootstrap(std::string_view text) {
  if (text == "protocol") return Bootstrap::kProtocol;
  if (text == "warm") return Bootstrap::kWarm;
  return std::nullopt;
}

const char* EventOrderName(EventOrder order) {
  switch (order) {
    case EventOrder::kLookahead:
      return "lookahead";
    case EventOrder::kExact:
      return "exact";
  }
  return "?";
}

std::optional<EventOrder> ParseEventOrder(std::string_view text) {
  if (text == "lookahead") return EventOrder::kLookahead;
  if (text == "exact") return EventOrder::kExact;
  return std::nullopt;
}

std::string FormatNumber(double value) {
  // Whole numbers as integers ("40", not the shorter-precision "4e+01").
  if (std::fabs(value) < 1e15 && value == std::trunc(value)) {
    return absl::StrFormat("%.0f", value);
  }
  for (int precision = 1; precision <= 17; ++precision) {
    std::string text = absl::StrFormat("%.*g", precision, value);
    double back = 0;
    if (absl::SimpleAtod(text, &back) && back == value) return text;
  }
  return absl::StrFormat("%.17g", value);
}

std::string FormatPartition(const PartitionSpec& p) {
  return absl::StrCat(FormatNumber(p.fraction), "@", FormatDuration(p.start),
                      "-", FormatDuration(p.end));
}

std::optional<PartitionSpec> ParsePartition(std::string_view text) {
  std::string_view fraction, window, start, end;
  if (!SplitOnce(text, '@', &fraction, &window)) return std::nullopt;
  if (!SplitOnce(window, '-', &start, &end)) return std::nullopt;
  PartitionSpec spec;
  if (!ParseDouble(fraction, &spec.fraction)) return std::nullopt;
  std::optional<Duration> s = ParseDuration(start);
  std::optional<Duration> e = ParseDuration(end);
  if (!s || !e || s->IsInfinite()) return std::nullopt;
  spec.start = *s;
  spec.end = *e;
  return spec;
}

std::string FormatCrash(const CrashSpec& c) {
  std::string text =
      absl::StrCat(FormatNumber(c.fraction), "@", FormatDuration(c.at));
  if (!c.restart_after.IsInfinite()) {
    absl::StrAppend(&text, "+", FormatDuration(c.restart_after));
  }
  return text;
}

std::optional<CrashSpec> ParseCrash(std::string_view text) {
  std::string_view fraction, rest, at, restart;
  if (!SplitOnce(text, '@', &fraction, &rest)) return std::nullopt;
  CrashSpec spec;
  if (!ParseDouble(fraction, &spec.fraction)) return std::nullopt;
  if (SplitOnce(rest, '+', &at, &restart)) {
    std::optional<Duration> r = ParseDuration(restart);
    if (!r || r->IsInfinite()) return std::nullopt;
    spec.restart_after = *r;
  } else {
    at = rest;
  }
  std::optional<Duration> a = ParseDuration(at);
  if (!a || a->IsInfinite()) return std::nullopt;
  spec.at = *a;
  return spec;
}

std::string FormatStateWritesUntil(const std::optional<Duration>& until) {
  return until ? FormatDuration(*until) : "heal";
}

std::optional<std::optional<Duration>> ParseStateWritesUntil(
    std::string_view text) {
  if (text == "heal") return std::optional<Duration>();
  std::optional<Duration> d = ParseDuration(text);
  if (!d || d->IsInfinite()) return std::nullopt;
  return std::optional<Duration>(*d);
}

std::string FailureReplay(const Scenario& s) {
  const DiffusionConfig& e = s.engine;
  std::vector<std::string> flags = {
      "elara-sim run",
      absl::StrCat("--seed=", s.seed),
      absl::StrCat("--nodes=", s.nodes),
      absl::StrCat("--mode=", BroadcastModeName(e.broadcast.mode)),
      absl::StrCat("--active-view=", e.membership.active_view_size),
      absl::StrCat("--passive-view=", e.membership.passive_view_size),
      absl::StrCat("--fanout=", e.broadcast.initial_fanout),
      absl::StrCat("--max-fanout=", e.broadcast.max_fanout),
      absl::StrCat("--redundancy=",
                   FormatNumber(e.broadcast.redundancy_factor)),
      absl::StrCat("--latency=", LatencyModelName(s.latency_model)),
      absl::StrCat("--latency-min=", FormatDuration(s.latency_min)),
      absl::StrCat("--latency-max=", FormatDuration(s.latency_max)),
      absl::StrCat("--loss=", FormatNumber(s.loss)),
      absl::StrCat("--burst-enter=", FormatNumber(s.burst_loss_enter)),
      absl::StrCat("--burst-exit=", FormatNumber(s.burst_loss_exit)),
      absl::StrCat("--burst-bad=", FormatNumber(s.burst_loss_bad)),
      absl::StrCat("--burst-slot=", FormatDuration(s.burst_slot)),
      absl::StrCat("--bandwidth=", s.bandwidth_bytes_per_s),
  };
  for (const PartitionSpec& p : s.partitions) {
    flags.push_back(absl::StrCat("--partition=", FormatPartition(p)));
  }
  for (const CrashSpec& c : s.crashes) {
    flags.push_back(absl::StrCat("--crash=", FormatCrash(c)));
  }
  flags.push_back(absl::StrCat("--churn=", FormatNumber(s.churn_per_s)));
  flags.push_back(
      absl::StrCat("--event-order=", EventOrderName(s.event_order)));
  flags.push_back(absl::StrCat("--bootstrap=", BootstrapName(s.bootstrap)));
  flags.push_back(
      absl::StrCat("--join-spread=", FormatDuration(s.join_spread)));
  flags.push_back(absl::StrCat("--warmup=", FormatDuration(s.warmup)));
  flags.push_back(absl::StrCat("--broadcasts=", s.broadcasts));
  flags.push_back(absl::StrCat("--payload=", s.payload_bytes));
  flags.push_back(
      absl::StrCat("--interval=", FormatDuration(s.broadcast_interval)));
  flags.push_back(absl::StrCat("--drain=", FormatDuration(s.Drain())));
  flags.push_back(absl::StrCat("--state-writes-per-s=",
                               FormatNumber(s.state_writes_per_s)));
  flags.push_back(absl::StrCat("--state-writes-until=",
                               FormatStateWritesUntil(s.state_writes_until)));
  flags.push_back(absl::StrCat("--state-keys=", s.state_keys));
  flags.push_back(absl::StrCat("--state-value-bytes=", s.state_value_bytes));
  flags.push_back(
      absl::StrCat("--state-clock-skew=", FormatDuration(s.state_clock_skew)));
  if (!s.trace_path.empty()) {
    flags.push_back(absl::StrCat("--trace=", s.trace_path));
  }
  return absl::StrJoin(flags, " ");
}

}  // namespace elara::sim
