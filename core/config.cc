#include "core/config.h"

#include <cmath>

#include "absl/strings/str_format.h"

namespace elara {
namespace {

absl::Status OutOfRange(const char* field, const std::string& allowed) {
  return absl::InvalidArgumentError(absl::StrFormat(
      "config field %s out of range: allowed %s", field, allowed));
}

absl::Status CheckSize(const char* field, size_t value, size_t lo, size_t hi) {
  if (value < lo || value > hi) {
    return OutOfRange(field, absl::StrFormat("%d..%d, got %d", lo, hi, value));
  }
  return absl::OkStatus();
}

absl::Status CheckPositive(const char* field, Duration value) {
  if (value <= Duration::Zero() || value.IsInfinite()) {
    return OutOfRange(field, absl::StrFormat("a finite duration > 0, got %s",
                                             value.ToString()));
  }
  return absl::OkStatus();
}

absl::Status CheckFraction(const char* field, double value, double hi) {
  if (!(value >= 0.0 && value <= hi)) {
    return OutOfRange(field, absl::StrFormat("0..%g, got %g", hi, value));
  }
  return absl::OkStatus();
}

absl::Status ValidateMembership(const MembershipConfig& m) {
  absl::Status s;
  s.Update(CheckSize("membership.active_view_size", m.active_view_size, 1, 64));
  s.Update(
      CheckSize("membership.passive_view_size", m.passive_view_size, 0, 1024));
  s.Update(CheckSize("membership.active_random_walk_length",
                     m.active_random_walk_length, 1, 32));
  s.Update(CheckSize("membership.passive_random_walk_length",
                     m.passive_random_walk_length, 0,
                     m.active_random_walk_length));
  s.Update(CheckSize("membership.shuffle_active_count", m.shuffle_active_count,
                     0, m.active_view_size));
  s.Update(CheckSize("membership.shuffle_passive_count",
                     m.shuffle_passive_count, 0, m.passive_view_size));
  s.Update(CheckPositive("membership.shuffle_period", m.shuffle_period));
  s.Update(
      CheckPositive("membership.keep_alive_interval", m.keep_alive_interval));
  s.Update(CheckPositive("membership.probe_timeout", m.probe_timeout));
  s.Update(CheckPositive("membership.repair_period", m.repair_period));
  s.Update(CheckPositive("membership.neighbor_timeout", m.neighbor_timeout));
  if (m.swap_period < Duration::Zero() || m.swap_period.IsInfinite()) {
    s.Update(
        OutOfRange("membership.swap_period",
                   absl::StrFormat("0 (off) or a finite duration > 0, got %s",
                                   m.swap_period.ToString())));
  }
  if (s.ok() && m.probe_timeout <= m.keep_alive_interval) {
    s = OutOfRange("membership.probe_timeout",
                   "greater than membership.keep_alive_interval");
  }
  return s;
}

absl::Status ValidateBroadcast(const BroadcastConfig& b) {
  absl::Status s;
  s.Update(CheckSize("broadcast.max_fanout", b.max_fanout, 1, 64));
  s.Update(
      CheckSize("broadcast.initial_fanout", b.initial_fanout, 1, b.max_fanout));
  s.Update(
      CheckFraction("broadcast.adaptive_threshold", b.adaptive_threshold, 1.0));
  s.Update(CheckFraction("broadcast.redundancy_factor", b.redundancy_factor,
                         static_cast<double>(b.max_fanout)));
  s.Update(CheckPositive("broadcast.graft_timeout", b.graft_timeout));
  if (b.ihave_batch_delay < Duration::Zero() ||
      b.ihave_batch_delay.IsInfinite()) {
    s.Update(
        OutOfRange("broadcast.ihave_batch_delay", "a finite duration >= 0"));
  }
  s.Update(CheckPositive("broadcast.pull_period", b.pull_period));
  s.Update(CheckSize("broadcast.optimization_hop_threshold",
                     b.optimization_hop_threshold, 1, 255));
  s.Update(CheckSize("broadcast.dedup_window", b.dedup_window, 64, 65536));
  if (s.ok() && b.dedup_window % 64 != 0) {
    s = OutOfRange("broadcast.dedup_window", "a multiple of 64");
  }
  s.Update(CheckSize("broadcast.max_tracked_origins", b.max_tracked_origins, 1,
                     1 << 24));
  s.Update(CheckSize("broadcast.message_cache_entries", b.message_cache_entries,
                     1, 1 << 20));
  s.Update(CheckPositive("broadcast.message_cache_ttl", b.message_cache_ttl));
  return s;
}

absl::Status ValidateState(const StateConfig& c) {
  absl::Status s;
  s.Update(
      CheckSize("state.max_state_entries", c.max_state_entries, 1, 1 << 24));
  s.Update(CheckSize("state.max_tombstones", c.max_tombstones, 1,
                     c.max_state_entries));
  s.Update(CheckSize("state.max_value_bytes", c.max_value_bytes, 0,
                     kMaxMaxDatagramBytes));
  s.Update(CheckPositive("state.tombstone_ttl", c.tombstone_ttl));
  s.Update(CheckPositive("state.anti_entropy_period", c.anti_entropy_period));
  s.Update(CheckSize("state.anti_entropy_budget_bytes",
                     c.anti_entropy_budget_bytes, 4 * kMinMaxDatagramBytes,
                     1 << 24));
  if (c.max_clock_drift <= Duration::Zero()) {
    s.Update(OutOfRange("state.max_clock_drift", "a duration > 0"));
  }
  return s;
}

}  // namespace

const char* BroadcastModeName(BroadcastMode mode) {
  switch (mode) {
    case BroadcastMode::kPush:
      return "push";
    case BroadcastMode::kPull:
      return "pull";
    case BroadcastMode::kHybrid:
      return "hybrid";
  }
  return "unknown";
}

bool ParseBroadcastMode(std::string_view text, BroadcastMode* mode) {
  for (BroadcastMode m :
       {BroadcastMode::kPush, BroadcastMode::kPull, BroadcastMode::kHybrid}) {
    if (text == BroadcastModeName(m)) {
      *mode = m;
      return true;
    }
  }
  return false;
}

absl::Status DiffusionConfig::Validate() const {
  absl::Status s = ValidateMembership(membership);
  s.Update(ValidateBroadcast(broadcast));
  s.Update(ValidateState(state));
  s.Update(CheckSize("max_datagram_bytes", max_datagram_bytes,
                     kMinMaxDatagramBytes, kMaxMaxDatagramBytes));
  s.Update(CheckSize("max_pending_events", max_pending_events, 1, 1 << 24));
  s.Update(
      CheckSize("max_pending_transmits", max_pending_transmits, 1, 1 << 24));
  return s;
}

}  // namespace elara
