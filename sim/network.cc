#include "sim/network.h"

#include <algorithm>
#include <cassert>
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

// Slots after which the slot-mode chain has forgotten its state: |1 - p -
// r|^k <= 2^-64 (p = P(enter), r = P(exit)), k a power of two found by
// squaring (IEEE * only). UINT64_MAX where it never does within 2^40 slots
// (r = 0: bad for good; p + r near 0 or 2); with p = r = 1 (a chain that
// flips every slot) 1, and parity does the rest.
uint64_t NetworkModel::MixSlots(double p, double r) {
  if (p >= 1.0 && r >= 1.0) return 1;
  if (!(r > 0.0)) return UINT64_MAX;
  double d = 1.0 - p - r;
  d = d < 0 ? -d : d;
  if (!(d < 1.0)) return UINT64_MAX;
  constexpr double kTwoToMinus64 = 1.0 / 18446744073709551616.0;
  uint64_t k = 1;
  for (; d > kTwoToMinus64; d *= d, k *= 2) {
    if (k >= (uint64_t{1} << 40)) return UINT64_MAX;
  }
  return k;
}

NetworkModel::SojournTable NetworkModel::MakeSojournTable(double p) {
  SojournTable table;
  if (!(p > 0.0)) return table;  // block 0: never left
  p = p > 1.0 ? 1.0 : p;
  // Joint chance of leaving within a + b slots from those of a and b.
  const auto join = [](double a, double b) { return a + b - a * b; };
  double c_sub = p;  // c(64^k) at level k
  for (int k = 0; k < kSojournLevels; ++k) {
    double c = 0.0;
    std::array<double, 64> within;
    for (int j = 0; j < 64; ++j) within[j] = c = join(c, c_sub);
    for (int j = 0; j < 64; ++j) {
      table.within[k][j] =
          j == 63 ? UINT64_MAX : ProbabilityToThreshold(within[j] / c);
    }
    c_sub = c;  // c(64^(k + 1))
  }
  // At least 1: a p > 0 too small for a 64-bit threshold still ends at
  // the cap, not never.
  table.block = std::max<uint64_t>(1, ProbabilityToThreshold(c_sub));
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
      uniform_offset_(static_cast<uint64_t>(latency_max_us_ - latency_min_us_) +
                      1),
      loss_threshold_(ProbabilityToThreshold(scenario.loss)),
      burst_enabled_(scenario.burst_loss_enter > 0.0),
      burst_enter_threshold_(ProbabilityToThreshold(scenario.burst_loss_enter)),
      burst_exit_threshold_(ProbabilityToThreshold(scenario.burst_loss_exit)),
      burst_bad_threshold_(ProbabilityToThreshold(scenario.burst_loss_bad)),
      burst_slot_us_(scenario.burst_slot.ToMicros()),
      burst_enter_table_(MakeSojournTable(scenario.burst_loss_enter)),
      burst_exit_table_(MakeSojournTable(scenario.burst_loss_exit)),
      burst_mix_slots_(
          MixSlots(scenario.burst_loss_enter, scenario.burst_loss_exit)),
      burst_stationary_bad_(ProbabilityToThreshold(
          scenario.burst_loss_enter /
          (scenario.burst_loss_enter + scenario.burst_loss_exit))),
      burst_periodic_(scenario.burst_loss_enter >= 1.0 &&
                      scenario.burst_loss_exit >= 1.0),
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
      return UniformLatencyUs(rng_);
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
  if (bandwidth_bytes_per_s_ > 0 || burst_enabled_) [[unlikely]] {
    return SendShaped(now_us, from, bytes);
  }
  return LossAndLatency(now_us);
}

NetworkModel::Decision NetworkModel::SendShaped(int64_t now_us, uint32_t from,
                                                uint64_t bytes) {
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
  return LossAndLatency(departure_us);
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
  assert(at_us >= 0);
  BurstClock& clock = burst_clock_[from];
  if (clock.state_ends_us == INT64_MIN) {  // starts good at its first send
    clock.state_ends_us = at_us;
    clock.bad = 1;  // the loop below flips it to good and draws its length
  } else if (at_us > clock.state_ends_us) {
    SkipForgottenSlots(clock, at_us);
  }
  while (at_us >= clock.state_ends_us && clock.state_ends_us != INT64_MAX) {
    clock.bad ^= 1;
    AdvanceStateEnd(clock);
  }
  return clock.bad != 0;
}

void NetworkModel::SkipForgottenSlots(BurstClock& clock, int64_t at_us) {
  const uint64_t elapsed =
      static_cast<uint64_t>(at_us - clock.state_ends_us) /
      static_cast<uint64_t>(burst_slot_us_);  // whole slots past the end
  if (elapsed < burst_mix_slots_) return;
  // The slot holding at_us starts here; its state is drawn afresh and its
  // remaining length is geometric again (memoryless).
  const int64_t slot_start =
      clock.state_ends_us + static_cast<int64_t>(elapsed) * burst_slot_us_;
  if (burst_periodic_) {  // P(enter) = P(exit) = 1: flips every slot
    clock.bad ^= static_cast<uint8_t>((elapsed + 1) & 1);
    clock.state_ends_us = slot_start + burst_slot_us_;
    return;
  }
  clock.bad = rng_.Chance(burst_stationary_bad_) ? 1 : 0;
  clock.state_ends_us = slot_start;
  AdvanceStateEnd(clock);
}

void NetworkModel::AdvanceStateEnd(BurstClock& clock) {
  bool capped = false;
  const uint64_t slots = DrawSojournSlots(
      rng_, clock.bad != 0 ? burst_exit_table_ : burst_enter_table_, &capped);
  if (capped) ++counters_.burst_sojourns_capped;
  const uint64_t room = static_cast<uint64_t>(INT64_MAX - clock.state_ends_us) /
                        static_cast<uint64_t>(burst_slot_us_);
  clock.state_ends_us =
      slots > room
          ? INT64_MAX
          : clock.state_ends_us + static_cast<int64_t>(slots) * burst_slot_us_;
}

uint64_t NetworkModel::DrawSojournSlots(Random& rng, const SojournTable& table,
                                        bool* capped) {
  if (table.block == 0) return UINT64_MAX;  // P = 0: never left
  uint64_t slots = 0;
  // Whole blocks of 2^24 slots without leaving, then which sub-block of
  // the block it is left in, level by level, from the conditional tables.
  while (!rng.Chance(table.block)) {
    slots += kSojournBlock;
    if (slots >= kMaxSojournSlots) {
      if (capped != nullptr) *capped = true;
      return kMaxSojournSlots;
    }
  }
  uint64_t sub = kSojournBlock;
  for (int k = kSojournLevels - 1; k >= 0; --k) {
    sub /= 64;
    const std::array<uint64_t, 64>& within = table.within[k];
    const uint64_t u = rng.Next64();
    const auto place = std::upper_bound(within.begin(), within.end() - 1, u);
    slots += static_cast<uint64_t>(place - within.begin()) * sub;
  }
  return slots + 1;
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
