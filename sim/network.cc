#include "sim/network.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <limits>

#include "sim/seed_streams.h"

namespace elara::sim {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

int64_t AbsoluteUs(Timestamp origin, Duration offset) {
  if (offset.IsInfinite()) return kNever;
  return (origin + offset).ToMicros();
}

}  // namespace

const char* DatagramFateName(DatagramFate fate) {
  switch (fate) {
    case DatagramFate::kDelivered:
      return "ok";
    case DatagramFate::kLoss:
      return "loss";
    case DatagramFate::kBurstLoss:
      return "burst";
    case DatagramFate::kUplinkOverflow:
      return "uplink";
  }
  return "?";
}

uint64_t IntegerSqrt(uint64_t x) {
  // Bit-by-bit method: exact, no floating point.
  uint64_t result = 0;
  uint64_t bit = uint64_t{1} << 62;
  while (bit > x) bit >>= 2;
  while (bit != 0) {
    if (x >= result + bit) {
      x -= result + bit;
      result = (result >> 1) + bit;
    } else {
      result >>= 1;
    }
    bit >>= 2;
  }
  return result;
}

// The sojourn table of a state left with probability p per slot (see
// NetworkModel::SojournTable). Floating point here only, once per run.
NetworkModel::SojournTable NetworkModel::MakeSojournTable(double p) {
  NetworkModel::SojournTable table;
  if (!(p > 0.0)) return table;  // chunk 0: never leaves
  const double q = 1.0 - std::pow(1.0 - p, 64);
  table.chunk = ProbabilityToThreshold(q);
  for (int r = 1; r <= 64; ++r) {
    table.within[r - 1] =
        ProbabilityToThreshold((1.0 - std::pow(1.0 - p, r)) / q);
  }
  table.within[63] = UINT64_MAX;
  return table;
}

NetworkModel::NetworkModel(const Scenario& scenario, Timestamp origin,
                           uint32_t nodes)
    : rng_(StreamSeed(scenario.seed, SeedStream::kNetwork)),
      latency_model_(scenario.latency_model),
      latency_min_us_(scenario.latency_min.ToMicros()),
      latency_max_us_(std::max(scenario.latency_max.ToMicros(),
                               scenario.latency_min.ToMicros())),
      pareto_scale_us_((latency_max_us_ - latency_min_us_) / 16),
      loss_threshold_(ProbabilityToThreshold(scenario.loss)),
      burst_enabled_(scenario.burst_loss_enter > 0.0),
      burst_enter_threshold_(ProbabilityToThreshold(scenario.burst_loss_enter)),
      burst_exit_threshold_(ProbabilityToThreshold(scenario.burst_loss_exit)),
      burst_bad_threshold_(ProbabilityToThreshold(scenario.burst_loss_bad)),
      burst_slot_us_(scenario.burst_slot.ToMicros()),
      burst_enter_table_(MakeSojournTable(scenario.burst_loss_enter)),
      burst_exit_table_(MakeSojournTable(scenario.burst_loss_exit)),
      bandwidth_bytes_per_s_(scenario.bandwidth_bytes_per_s) {
  for (size_t p = 0; p < scenario.partitions.size(); ++p) {
    const PartitionSpec& spec = scenario.partitions[p];
    partitions_.push_back(
        Partition{AbsoluteUs(origin, spec.start), AbsoluteUs(origin, spec.end),
                  StreamSeed(scenario.seed, SeedStream::kPartition, p),
                  ProbabilityToThreshold(spec.fraction)});
  }
  Grow(nodes);
}

void NetworkModel::Grow(uint32_t nodes) {
  if (burst_enabled_ && burst_slot_us_ == 0 && burst_bad_.size() < nodes) {
    burst_bad_.resize(nodes, 0);
  }
  if (burst_enabled_ && burst_slot_us_ > 0 && burst_clock_.size() < nodes) {
    burst_clock_.resize(nodes);
  }
  if (bandwidth_bytes_per_s_ > 0 && link_free_at_us_.size() < nodes) {
    link_free_at_us_.resize(nodes, 0);
  }
}

int64_t NetworkModel::DrawLatencyUs() {
  switch (latency_model_) {
    case LatencyModel::kFixed:
      return latency_min_us_;
    case LatencyModel::kUniform:
      return static_cast<int64_t>(
          rng_.UniformBetween(static_cast<uint64_t>(latency_min_us_),
                              static_cast<uint64_t>(latency_max_us_)));
    case LatencyModel::kPareto: {
      const uint64_t u = (rng_.Next64() >> 16) | 1;  // [1, 2^48)
      const uint64_t root = IntegerSqrt(u);          // [1, 2^24)
      const uint64_t ratio_scaled = (uint64_t{1} << 24) - root;
      // tail = s * ratio_scaled / root; s < 2^40 us and ratio < 2^24 could
      // overflow 64 bits, so multiply in 128.
      const unsigned __int128 tail =
          static_cast<unsigned __int128>(pareto_scale_us_) * ratio_scaled /
          root;
      const int64_t span = latency_max_us_ - latency_min_us_;
      const int64_t capped = tail > static_cast<unsigned __int128>(span)
                                 ? span
                                 : static_cast<int64_t>(tail);
      return latency_min_us_ + capped;
    }
  }
  return latency_min_us_;
}

NetworkModel::Decision NetworkModel::Send(int64_t now_us, uint32_t from,
                                          uint32_t to, uint64_t bytes) {
  (void)to;
  ++counters_.datagrams;
  int64_t departure_us = now_us;
  if (bandwidth_bytes_per_s_ > 0) {
    assert(from < link_free_at_us_.size());
    const int64_t start_us = std::max(now_us, link_free_at_us_[from]);
    if (start_us - now_us > kMaxUplinkBacklog.ToMicros()) {
      ++counters_.lost_uplink_overflow;
      return Decision{DatagramFate::kUplinkOverflow, 0};
    }
    const uint64_t serialise_us =
        (bytes * 1'000'000 + bandwidth_bytes_per_s_ - 1) /
        bandwidth_bytes_per_s_;
    departure_us = start_us + static_cast<int64_t>(serialise_us);
    link_free_at_us_[from] = departure_us;
  }
  if (burst_enabled_) {
    const bool bad =
        burst_slot_us_ > 0 ? BadAtSlot(from, departure_us) : BadAfterStep(from);
    if (bad && burst_bad_threshold_ > 0 && rng_.Chance(burst_bad_threshold_)) {
      ++counters_.lost_burst;
      return Decision{DatagramFate::kBurstLoss, 0};
    }
  }
  if (loss_threshold_ > 0 && rng_.Chance(loss_threshold_)) {
    ++counters_.lost_random;
    return Decision{DatagramFate::kLoss, 0};
  }
  return Decision{DatagramFate::kDelivered, departure_us + DrawLatencyUs()};
}

bool NetworkModel::BadAfterStep(uint32_t from) {
  assert(from < burst_bad_.size());
  uint8_t& bad = burst_bad_[from];
  if (bad == 0) {
    if (rng_.Chance(burst_enter_threshold_)) bad = 1;
  } else if (burst_exit_threshold_ > 0 && rng_.Chance(burst_exit_threshold_)) {
    bad = 0;
  }
  return bad != 0;
}

bool NetworkModel::BadAtSlot(uint32_t from, int64_t at_us) {
  assert(from < burst_clock_.size());
  BurstClock& clock = burst_clock_[from];
  if (clock.state_ends_us == INT64_MIN) {  // starts good at its first send
    clock.state_ends_us = at_us;
    clock.bad = 1;  // the loop below flips it to good and draws its length
  }
  while (at_us >= clock.state_ends_us) {
    clock.bad ^= 1;
    const uint64_t slots = DrawSojournSlots(
        clock.bad != 0 ? burst_exit_table_ : burst_enter_table_);
    const uint64_t room =
        static_cast<uint64_t>(INT64_MAX - clock.state_ends_us) /
        static_cast<uint64_t>(burst_slot_us_);
    clock.state_ends_us =
        slots > room ? INT64_MAX
                     : clock.state_ends_us +
                           static_cast<int64_t>(slots) * burst_slot_us_;
  }
  return clock.bad != 0;
}

uint64_t NetworkModel::DrawSojournSlots(const SojournTable& table) {
  if (table.chunk == 0) return UINT64_MAX;  // P = 0: never leaves
  uint64_t slots = 0;
  // Whole chunks of 64 slots without a success, then the success's place
  // in its chunk from the conditional distribution: exactly geometric.
  while (slots + 64 < kMaxSojournSlots && !rng_.Chance(table.chunk)) {
    slots += 64;
  }
  const uint64_t u = rng_.Next64();
  const auto place =
      std::upper_bound(table.within.begin(), table.within.end() - 1, u);
  return slots + 1 + static_cast<uint64_t>(place - table.within.begin());
}

bool NetworkModel::OnSideA(size_t partition, uint32_t node) const {
  const Partition& p = partitions_[partition];
  if (p.side_a_threshold == UINT64_MAX) return true;
  return MixBijective(p.key ^ node) < p.side_a_threshold;
}

bool NetworkModel::Cut(int64_t now_us, uint32_t a, uint32_t b) const {
  for (size_t p = 0; p < partitions_.size(); ++p) {
    const Partition& part = partitions_[p];
    if (now_us < part.start_us || now_us >= part.end_us) continue;
    if (OnSideA(p, a) != OnSideA(p, b)) return true;
  }
  return false;
}

}  // namespace elara::sim
