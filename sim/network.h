// File: sim/network.h
//
// NetworkModel: the virtual network between simulated nodes. At send time it
// decides each datagram's fate: lost, or the virtual time it arrives. At
// arrival time the simulator asks Cut() whether a partition separates the
// two ends, and drops the datagram if so. Every draw comes from one
// generator seeded from the scenario seed (SeedStream::kNetwork), in send
// order, so the same sends give the same fates.
//
// Model, per datagram sent by `from` to `to` at `now`, in this order:
//   1. Uplink (when bandwidth_bytes_per_s > 0): each sender has one FIFO
//      uplink; the datagram finishes serialising at
//        departure = max(now, link_free_at) + ceil(bytes * 1e6 / bandwidth) us
//      and link_free_at = departure. The uplink buffer holds at most
//      kMaxUplinkBacklog of queued transmission time: a datagram that would
//      wait longer is tail-dropped (fate kUplinkOverflow) and takes no time.
//      Without bandwidth, departure = now.
//   2. Bursty loss (Gilbert-Elliott, when burst_loss_enter > 0): the state
//      belongs to the SENDER (its uplink is good or bad; per node, not per
//      link, so it stays O(N)). The chain steps good -> bad with
//      P(burst_loss_enter) and bad -> good with P(burst_loss_exit), then in
//      the bad state the datagram is lost with P(burst_loss_bad) (fate
//      kBurstLoss). A step is, with burst_slot = 0, each datagram the
//      sender sends (one byte per node); with burst_slot > 0, each slot of
//      virtual time, so a burst lasts burst_slot / P(exit) on average
//      whether the sender sends or not. Slot mode keeps, per sender, the
//      time its current state ends (16 bytes per node), drawn when it
//      starts: the slots until it is left, geometric with P(leave), drawn
//      with integer draws against thresholds computed once (SojournTable),
//      at most kMaxSojournSlots (2^30) long (a cut counted in
//      burst_sojourns_capped); P(leave) = 0 holds the state for good.
//      The state starts good at the sender's first datagram and is read
//      at its departure time. A sender silent for longer than the chain
//      takes to forget its state (|1 - P(enter) - P(exit)|^k <= 2^-64, k
//      slots; MixSlots) gets the state of its next datagram's slot drawn
//      from the stationary split P(enter) / (P(enter) + P(exit)) instead,
//      so a send costs O(1) draws however long the silence, besides the
//      sojourns that end within k slots.
//   3. Independent loss with P(loss) (fate kLoss).
//   4. Latency, added to the departure time:
//        kFixed:   latency_min;
//        kUniform: uniform integer microseconds in [latency_min, latency_max];
//        kPareto:  latency_min + s * (U^(-1/2) - 1) capped at latency_max,
//                  a Pareto tail of shape 2 with s = (max - min) / 16, so
//                  the median is min + 0.41 s and the cap is hit with
//                  probability 1/289. Computed in integers: U = u / 2^48
//                  with u uniform in [1, 2^48), and U^(-1/2) - 1 =
//                  (2^24 - isqrt(u)) / isqrt(u).
// Lost datagrams draw no latency. Probabilities are turned into integer
// thresholds once (ProbabilityToThreshold); zero probabilities draw nothing.
//
// Partitions: for partition p, node n is on side A iff
// MixBijective(key_p ^ n) < threshold(fraction_p), with key_p derived from
// the seed: each node independently, so side A holds `fraction` of the
// nodes in expectation (binomially), needs no memory and covers nodes
// created later (churn). Cut(now, a, b) is true when some partition with
// start <= now - origin < end puts a and b on different sides.
//
// Thread-safety: not thread-safe; owned by one simulator.
#ifndef ELARA_SIM_NETWORK_H_
#define ELARA_SIM_NETWORK_H_

#include <array>
#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/time.h"
#include "sim/scenario.h"

namespace elara::sim {

enum class DatagramFate : uint8_t {
  kDelivered = 0,  // will arrive at arrival_us (unless cut or dead then)
  kLoss = 1,
  kBurstLoss = 2,
  kUplinkOverflow = 3,
};
const char* DatagramFateName(DatagramFate fate);  // "ok", "loss", ...

struct NetworkCounters {
  uint64_t datagrams = 0;  // decided by Send
  uint64_t lost_random = 0;
  uint64_t lost_burst = 0;
  uint64_t lost_uplink_overflow = 0;
  // Slot mode: sojourns cut at kMaxSojournSlots (a leave probability below
  // about 2^-30 per slot).
  uint64_t burst_sojourns_capped = 0;
};

// Random::UniformBelow(n) with its rejection threshold computed once, for
// a bound that never changes (the latency range): the same Next64 draws
// give the same values, without the calls and the modulo per draw.
class UniformBelowDraw {
 public:
  // REQUIRES: n > 0.
  explicit UniformBelowDraw(uint64_t n) : n_(n), reject_below_((0 - n) % n) {}
  uint64_t operator()(Random& rng) const {
    // Lemire: UniformBelow draws again while the low half is below
    // (2^64 - n) mod n (which is < n, so its `low < n` test adds nothing).
    unsigned __int128 m = static_cast<unsigned __int128>(rng.Next64()) * n_;
    while (static_cast<uint64_t>(m) < reject_below_) {
      m = static_cast<unsigned __int128>(rng.Next64()) * n_;
    }
    return static_cast<uint64_t>(m >> 64);
  }

 private:
  uint64_t n_;
  uint64_t reject_below_;
};

class NetworkModel {
 public:
  // Longest queued transmission time an uplink buffers (see file comment).
  static constexpr Duration kMaxUplinkBacklog = Duration::Seconds(1);

  struct Decision {
    DatagramFate fate = DatagramFate::kDelivered;
    int64_t arrival_us = 0;  // meaningful when fate == kDelivered
  };

  // `origin` is virtual time zero of the scenario (partition windows are
  // relative to it). `nodes` is the initial node count; Grow adds more.
  NetworkModel(const Scenario& scenario, Timestamp origin, uint32_t nodes);

  // Makes per-node state (uplink, burst state) available for `nodes` nodes.
  void Grow(uint32_t nodes);

  Decision Send(int64_t now_us, uint32_t from, uint32_t to, uint64_t bytes);

  bool Cut(int64_t now_us, uint32_t a, uint32_t b) const;
  // Side of node n in partition p (true = side A). REQUIRES: p valid.
  bool OnSideA(size_t partition, uint32_t node) const;
  bool has_partitions() const { return !partitions_.empty(); }
  // No delivered datagram arrives sooner than this after its Send.
  int64_t min_latency_us() const { return latency_min_us_; }

  // One latency draw (exposed for tests of the distribution).
  int64_t DrawLatencyUs();

  // Slot mode: a sojourn is drawn in blocks of 64^kSojournLevels = 2^24
  // slots, then the block's 64 sub-blocks level by level down to a slot;
  // it is at most kMaxSojournSlots (2^30) long.
  static constexpr int kSojournLevels = 4;
  static constexpr uint64_t kSojournBlock = uint64_t{1} << 24;
  static constexpr uint64_t kMaxSojournSlots = uint64_t{1} << 30;

  // Slot mode, a state left with probability p per slot; c(n) = 1 - (1 -
  // p)^n, the chance of leaving within n slots. `block` is the threshold
  // of c(2^24) (0 when p = 0: never left), and within[k][j] that of
  // leaving within (j + 1) sub-blocks of 64^k slots given it is left
  // within 64 of them: c((j + 1) 64^k) / c(64^(k + 1)); within[k][63] =
  // UINT64_MAX. Computed with IEEE +, -, * only (c(a + b) = c(a) + c(b) -
  // c(a) c(b)), no libm and no cancellation for small p.
  struct SojournTable {
    uint64_t block = 0;
    std::array<std::array<uint64_t, 64>, kSojournLevels> within{};
  };
  static SojournTable MakeSojournTable(double p);
  // Slots until the state is left (>= 1; kMaxSojournSlots at most, and
  // then *capped is set when capped is not nullptr); UINT64_MAX when it
  // never is. Exactly geometric below the cap, up to threshold rounding;
  // draws: one per 2^24 slots, plus kSojournLevels.
  static uint64_t DrawSojournSlots(Random& rng, const SojournTable& table,
                                   bool* capped = nullptr);

  const NetworkCounters& counters() const { return counters_; }

 private:
  // kUniform's draw, = rng_.UniformBetween(min, max) (both below 2^63:
  // never the whole 64-bit range, which it would draw differently).
  int64_t UniformLatencyUs(Random& rng) const {
    return latency_min_us_ + static_cast<int64_t>(uniform_offset_(rng));
  }
  // Send with an uplink bandwidth or burst loss (both off by default): out
  // of line, so that Send inlines small.
  [[gnu::noinline]] Decision SendShaped(int64_t now_us, uint32_t from,
                                        uint64_t bytes);
  // Send's last step, for a datagram leaving at departure_us: the random
  // loss draw, then the latency draw.
  Decision LossAndLatency(int64_t departure_us) {
    // On a copy of the generator: its state stays in registers from one
    // draw to the next and is stored once (callgrind: 8 loads and stores
    // fewer a datagram).
    Random rng = rng_;
    // rng.Chance(loss_threshold_), inline: no draw when loss is certain.
    if (loss_threshold_ > 0 &&
        (loss_threshold_ == UINT64_MAX || rng.Next64() < loss_threshold_)) {
      rng_ = rng;
      ++counters_.lost_random;
      return Decision{DatagramFate::kLoss, 0};
    }
    int64_t latency_us;
    if (latency_model_ == LatencyModel::kUniform) {  // the default, inline
      latency_us = UniformLatencyUs(rng);
      rng_ = rng;
    } else {
      rng_ = rng;
      latency_us = DrawLatencyUs();
    }
    return Decision{DatagramFate::kDelivered, departure_us + latency_us};
  }
  // The slot-mode chain of one sender (see the file comment).
  struct BurstClock {
    int64_t state_ends_us = INT64_MIN;  // INT64_MIN: not started
    uint8_t bad = 0;
  };
  // Slot mode: `from`'s state at `at_us`, moving its chain up to then.
  bool BadAtSlot(uint32_t from, int64_t at_us);
  // Per-datagram mode: steps `from`'s chain once; its new state.
  bool BadAfterStep(uint32_t from);
  static uint64_t MixSlots(double p_enter, double p_exit);
  // Past burst_mix_slots_ slots after the state's end the state at at_us
  // is drawn from the stationary split instead of stepping there.
  void SkipForgottenSlots(BurstClock& clock, int64_t at_us);
  // Draws the current state's length; state_ends_us moves to its end.
  void AdvanceStateEnd(BurstClock& clock);

  struct Partition {
    int64_t start_us;  // absolute
    int64_t end_us;    // absolute, exclusive; INT64_MAX = never heals
    uint64_t key;
    uint64_t side_a_threshold;
  };

  Random rng_;
  LatencyModel latency_model_;
  int64_t latency_min_us_;
  int64_t latency_max_us_;
  int64_t pareto_scale_us_;
  UniformBelowDraw uniform_offset_;  // kUniform: max - min + 1 values
  uint64_t loss_threshold_;
  bool burst_enabled_;
  uint64_t burst_enter_threshold_;
  uint64_t burst_exit_threshold_;
  uint64_t burst_bad_threshold_;
  int64_t burst_slot_us_;           // 0: per datagram
  SojournTable burst_enter_table_;  // slot mode: leaving the good state
  SojournTable burst_exit_table_;   // slot mode: leaving the bad state
  uint64_t burst_mix_slots_;        // slot mode: see MixSlots
  uint64_t burst_stationary_bad_;   // P(enter) / (P(enter) + P(exit))
  bool burst_periodic_;             // P(enter) = P(exit) = 1
  uint64_t bandwidth_bytes_per_s_;
  std::vector<Partition> partitions_;
  std::vector<uint8_t> burst_bad_;        // per sender, per-datagram mode
  std::vector<BurstClock> burst_clock_;   // per sender, slot mode
  std::vector<int64_t> link_free_at_us_;  // per sender; empty if unlimited
  NetworkCounters counters_;
};

// Integer square root: the largest r with r * r <= x.
uint64_t IntegerSqrt(uint64_t x);

}  // namespace elara::sim

#endif  // ELARA_SIM_NETWORK_H_
