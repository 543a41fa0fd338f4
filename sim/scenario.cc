// Scenario::Validate: every field's allowed range, reported by the field's
// CLI flag name (sim/scenario_flags.h).
#include "sim/scenario.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "sim/scenario_flags.h"

namespace elara::sim {
namespace {

// Longest virtual duration a scenario may span: keeps every sum of
// scenario times far from int64 overflow and every run finite.
constexpr Duration kMaxSpan = Duration::Seconds(30 * 24 * 3600);
constexpr uint32_t kMaxNodes = 50'000'000;
constexpr uint32_t kMaxBroadcasts = 10'000'000;
constexpr double kMaxChurnPerS = 1e6;
constexpr double kMaxStateWritesPerS = 1e6;
constexpr Duration kMaxStateClockSkew = Duration::Seconds(3600);
// The engine caps a value so that one StateUpdate fits a datagram and a
// quarter of the anti-entropy budget (core/state_sync.cc,
// EffectiveMaxValue): this many bytes of frame around the value.
constexpr uint64_t kStateUpdateOverheadBytes = 64;

absl::Status Bad(const char* flag, const std::string& allowed) {
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, ": allowed ", allowed));
}

absl::Status CheckFinite(const char* flag, Duration d) {
  if (d < Duration::Zero() || d > kMaxSpan) {
    return Bad(flag,
               absl::StrCat("a duration in 0..30 days, got ", d.ToString()));
  }
  return absl::OkStatus();
}

absl::Status CheckProbability(const char* flag, double p) {
  if (!(p >= 0.0 && p <= 1.0)) {
    return Bad(flag,
               absl::StrCat("a probability in 0..1, got ", FormatNumber(p)));
  }
  return absl::OkStatus();
}

absl::Status ValidateNetwork(const Scenario& s) {
  absl::Status status;
  status.Update(CheckFinite("latency-min", s.latency_min));
  status.Update(CheckFinite("latency-max", s.latency_max));
  if (status.ok() && s.latency_model != LatencyModel::kFixed &&
      s.latency_max < s.latency_min) {
    status = Bad("latency-max", "at least --latency-min");
  }
  if (static_cast<uint8_t>(s.latency_model) > 2) {
    status.Update(Bad("latency", "fixed, uniform or pareto"));
  }
  status.Update(CheckProbability("loss", s.loss));
  status.Update(CheckProbability("burst-enter", s.burst_loss_enter));
  status.Update(CheckProbability("burst-exit", s.burst_loss_exit));
  status.Update(CheckProbability("burst-bad", s.burst_loss_bad));
  if (!(s.burst_slot >= Duration::Zero() && s.burst_slot <= kMaxBurstSlot)) {
    status.Update(Bad("burst-slot", "0 (per datagram) .. 3600s"));
  }
  return status;
}

absl::Status ValidateFaults(const Scenario& s) {
  absl::Status status;
  for (const PartitionSpec& p : s.partitions) {
    status.Update(CheckProbability("partition (fraction)", p.fraction));
    status.Update(CheckFinite("partition (start)", p.start));
    if (!p.end.IsInfinite())
      status.Update(CheckFinite("partition (end)", p.end));
    if (status.ok() && p.end <= p.start) {
      status = Bad("partition", "end after start");
    }
  }
  for (const CrashSpec& c : s.crashes) {
    status.Update(CheckProbability("crash (fraction)", c.fraction));
    status.Update(CheckFinite("crash (at)", c.at));
    if (!c.restart_after.IsInfinite()) {
      status.Update(CheckFinite("crash (restart after)", c.restart_after));
      if (c.restart_after <= Duration::Zero()) {
        status.Update(Bad("crash (restart after)", "a duration > 0 or none"));
      }
    }
  }
  if (!(s.churn_per_s >= 0.0 && s.churn_per_s <= kMaxChurnPerS)) {
    status.Update(Bad("churn", absl::StrCat("0..", FormatNumber(kMaxChurnPerS),
                                            " per second, got ",
                                            FormatNumber(s.churn_per_s))));
  }
  return status;
}

absl::Status ValidateWorkload(const Scenario& s) {
  absl::Status status;
  if (static_cast<uint8_t>(s.bootstrap) > 1) {
    status.Update(Bad("bootstrap", "protocol or warm"));
  }
  status.Update(CheckFinite("join-spread", s.join_spread));
  status.Update(CheckFinite("warmup", s.warmup));
  status.Update(CheckFinite("interval", s.broadcast_interval));
  if (s.drain) status.Update(CheckFinite("drain", *s.drain));
  if (s.broadcasts > kMaxBroadcasts) {
    status.Update(
        Bad("broadcasts",
            absl::StrFormat("0..%d, got %d", kMaxBroadcasts, s.broadcasts)));
  }
  if (s.payload_bytes < 1 || s.payload_bytes > s.engine.max_datagram_bytes) {
    status.Update(
        Bad("payload-bytes (--payload)",
            absl::StrFormat("1..%d bytes (the datagram size), got %d",
                            s.engine.max_datagram_bytes, s.payload_bytes)));
  }
  if (status.ok()) {
    // The whole run must fit kMaxSpan.
    Duration span = s.join_spread + s.warmup +
                    s.broadcast_interval * s.broadcasts + s.Drain();
    if (s.state_workload()) {
      span = std::max(span, s.StateSettle() + s.Drain());
    }
    if (span > kMaxSpan) {
      status =
          Bad("drain", s.drain ? "a run (join spread + warmup + broadcasts x "
                                 "interval + drain) of at most 30 days"
                               : "a run (join spread + warmup + broadcasts x "
                                 "interval + drain) of at most 30 days; unset, "
                                 "pull mode's drain is 2 ceil(log2 N) + 5 "
                                 "pull periods (engine pull_period_ms): set "
                                 "--drain or a shorter period");
    } else if (s.churn_per_s * static_cast<double>(span.ToMicros()) / 1e6 +
                   s.nodes >
               static_cast<double>(kMaxNodes)) {
      // Every churn join takes a new node slot (sim address).
      status = Bad("churn", absl::StrFormat("at most %d nodes ever: --nodes "
                                            "plus --churn x run seconds",
                                            kMaxNodes));
    }
  }
  return status;
}

// The largest value the engine accepts (see kStateUpdateOverheadBytes).
uint64_t MaxStateValueBytes(const DiffusionConfig& e) {
  const auto room = [](uint64_t bytes) {
    return bytes > kStateUpdateOverheadBytes ? bytes - kStateUpdateOverheadBytes
                                             : 0;
  };
  return std::min({static_cast<uint64_t>(e.state.max_value_bytes),
                   room(e.max_datagram_bytes),
                   room(e.state.anti_entropy_budget_bytes / 4)});
}

absl::Status ValidateStateWorkload(const Scenario& s) {
  absl::Status status;
  if (!(s.state_writes_per_s >= 0.0 &&
        s.state_writes_per_s <= kMaxStateWritesPerS)) {
    status.Update(Bad("state-writes-per-s",
                      absl::StrCat("0..", FormatNumber(kMaxStateWritesPerS),
                                   " writes per second, got ",
                                   FormatNumber(s.state_writes_per_s))));
  }
  if (s.state_keys < 1 || s.state_keys > s.engine.state.max_state_entries) {
    status.Update(
        Bad("state-keys",
            absl::StrFormat("1..%d (engine max_state_entries), got %d",
                            s.engine.state.max_state_entries, s.state_keys)));
  }
  const uint64_t max_value = MaxStateValueBytes(s.engine);
  if (s.state_value_bytes < 1 || s.state_value_bytes > max_value) {
    status.Update(
        Bad("state-value-bytes",
            absl::StrFormat("1..%d (engine max_value_bytes, and %d bytes under "
                            "max_datagram_bytes and a quarter of "
                            "anti_entropy_budget_bytes), got %d",
                            max_value, kStateUpdateOverheadBytes,
                            s.state_value_bytes)));
  }
  if (s.state_clock_skew < Duration::Zero() ||
      s.state_clock_skew > kMaxStateClockSkew) {
    status.Update(
        Bad("state-clock-skew", absl::StrCat("a duration in 0..1 hour, got ",
                                             s.state_clock_skew.ToString())));
  }
  if (s.state_writes_until) {
    status.Update(CheckFinite("state-writes-until", *s.state_writes_until));
  }
  if (!status.ok() || !s.state_workload()) return status;
  if (!s.state_writes_until && !s.LastHeal()) {
    return Bad("state-writes-until",
               "a DUR; 'heal' (the default) needs a --partition with a "
               "finite END");
  }
  const Duration start =
      (s.bootstrap == Bootstrap::kProtocol ? s.join_spread : Duration::Zero()) +
      s.warmup;
  if (s.StateWritesEnd() <= start) {
    return Bad("state-writes-until",
               absl::StrCat("a time after the workload start (",
                            start.ToString(), ": join spread + warmup), got ",
                            s.StateWritesEnd().ToString()));
  }
  return status;
}

}  // namespace

std::optional<Duration> Scenario::LastHeal() const {
  std::optional<Duration> last;
  for (const PartitionSpec& p : partitions) {
    if (p.end.IsInfinite()) continue;
    if (!last || p.end > *last) last = p.end;
  }
  return last;
}

Duration Scenario::FirstPublish() const {
  const Duration joins =
      bootstrap == Bootstrap::kProtocol ? join_spread : Duration::Zero();
  return joins + warmup;
}

Duration Scenario::LastPublish() const {
  return FirstPublish() + (broadcasts == 0
                               ? Duration::Zero()
                               : broadcast_interval * (broadcasts - 1));
}

Duration Scenario::End() const {
  const Duration last =
      state_workload() ? std::max(LastPublish(), StateSettle()) : LastPublish();
  return last + Drain();
}

Duration Scenario::Drain() const {
  if (drain) return *drain;
  if (engine.broadcast.mode != BroadcastMode::kPull) return kDefaultDrain;
  // ceil(log2 nodes) rounds, doubled for the tail, plus a margin.
  const int64_t rounds = 2 * std::bit_width(nodes > 0 ? nodes - 1 : 0u) + 5;
  const Duration period = engine.broadcast.pull_period;
  // Past kMaxSpan anyway (Validate refuses it): no overflow on the way.
  if (period > kMaxSpan / rounds) return Duration::Infinite();
  return std::max(kDefaultDrain, period * rounds);
}

std::vector<std::string> Scenario::UnexercisedFaults(
    std::optional<Duration> last_delivery) const {
  std::vector<std::string> notes;
  const Duration end = End();
  // The run executes events at `end` itself: a crash then happens, while a
  // partition starting then cuts nothing.
  auto note = [&](const std::string& what, Duration at, bool never) {
    if (never) {
      notes.push_back(absl::StrCat(what, " at ", FormatDuration(at),
                                   " never happens: the run ends at ",
                                   FormatDuration(end)));
    } else if (!state_workload() && last_delivery && at > *last_delivery) {
      notes.push_back(absl::StrCat(what, " at ", FormatDuration(at),
                                   " comes after the last delivery (at ",
                                   FormatDuration(*last_delivery),
                                   "): reliability does not reflect it"));
    }
  };
  for (const PartitionSpec& p : partitions) {
    note("partition", p.start, p.start >= end);
  }
  for (const CrashSpec& c : crashes) note("crash", c.at, c.at > end);
  return notes;
}

Duration Scenario::StateWritesEnd() const {
  if (state_writes_until) return *state_writes_until;
  return LastHeal().value_or(Duration::Zero());
}

Duration Scenario::StateSettle() const {
  return std::max(StateWritesEnd(), LastHeal().value_or(Duration::Zero()));
}

absl::Status Scenario::Validate() const {
  absl::Status status;
  if (nodes < 2 || nodes > kMaxNodes) {
    status.Update(
        Bad("nodes", absl::StrFormat("2..%d, got %d", kMaxNodes, nodes)));
  }
  absl::Status engine_status = engine.Validate();
  if (!engine_status.ok()) {
    status.Update(absl::InvalidArgumentError(
        absl::StrCat("engine config: ", engine_status.message())));
  }
  if (threads < 1 || threads > kMaxThreads) {
    status.Update(
        Bad("threads", absl::StrFormat("1..%d, got %d", kMaxThreads, threads)));
  }
  status.Update(ValidateNetwork(*this));
  status.Update(ValidateFaults(*this));
  status.Update(ValidateStateWorkload(*this));
  status.Update(ValidateWorkload(*this));
  if (!trace_path.empty() && nodes > kMaxTraceNodes) {
    status.Update(Bad(
        "trace", absl::StrFormat("only with --nodes <= %d (got %d): a trace "
                                 "of every datagram grows too large",
                                 kMaxTraceNodes, nodes)));
  }
  return status;
}

}  // namespace elara::sim
