// File: sim/network_test.cc
//
// The network model is deterministic per seed, loses what it is told to
// lose (within binomial bounds for a fixed seed), draws latencies in range,
// serialises on the uplink, and cuts only across a partition inside its
// window.
#include "sim/network.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"
#include "sim/scenario.h"
#include "sim/seed_streams.h"

namespace elara::sim {
namespace {

constexpr Timestamp kOrigin = Timestamp::FromMicros(1'000'000);

Scenario BaseScenario() {
  Scenario s;
  s.seed = 17;
  s.nodes = 100;
  s.latency_model = LatencyModel::kUniform;
  s.latency_min = Duration::Millis(10);
  s.latency_max = Duration::Millis(80);
  return s;
}

std::vector<NetworkModel::Decision> SendMany(const Scenario& s, int sends) {
  NetworkModel net(s, kOrigin, s.nodes);
  std::vector<NetworkModel::Decision> out;
  for (int i = 0; i < sends; ++i) {
    out.push_back(
        net.Send(kOrigin.ToMicros() + i, i % s.nodes, (i * 7) % s.nodes, 100));
  }
  return out;
}

bool Same(const std::vector<NetworkModel::Decision>& a,
          const std::vector<NetworkModel::Decision>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].fate != b[i].fate || a[i].arrival_us != b[i].arrival_us) {
      return false;
    }
  }
  return true;
}

TEST(NetworkModelTest, SameSeedSameFates) {
  Scenario s = BaseScenario();
  s.loss = 0.2;
  s.burst_loss_enter = 0.01;
  s.burst_loss_exit = 0.2;
  EXPECT_TRUE(Same(SendMany(s, 5000), SendMany(s, 5000)));
  Scenario other = s;
  other.seed = 18;
  EXPECT_FALSE(Same(SendMany(s, 5000), SendMany(other, 5000)));
}

TEST(NetworkModelTest, IndependentLossRateWithinBounds) {
  Scenario s = BaseScenario();
  s.loss = 0.1;
  NetworkModel net(s, kOrigin, s.nodes);
  const int kSends = 100000;
  int lost = 0;
  for (int i = 0; i < kSends; ++i) {
    NetworkModel::Decision d = net.Send(kOrigin.ToMicros(), i % 100, 3, 50);
    if (d.fate == DatagramFate::kLoss)
      ++lost;
    else
      EXPECT_EQ(d.fate, DatagramFate::kDelivered);
  }
  // Binomial(1e5, 0.1): sd ~ 95; +-1000 is ~10 sd.
  EXPECT_GT(lost, 9000);
  EXPECT_LT(lost, 11000);
  EXPECT_EQ(net.counters().lost_random, static_cast<uint64_t>(lost));
  EXPECT_EQ(net.counters().datagrams, static_cast<uint64_t>(kSends));
}

TEST(NetworkModelTest, NoLossLosesNothing) {
  Scenario s = BaseScenario();
  for (const NetworkModel::Decision& d : SendMany(s, 10000)) {
    ASSERT_EQ(d.fate, DatagramFate::kDelivered);
  }
}

TEST(NetworkModelTest, UniformLatencyInRange) {
  Scenario s = BaseScenario();
  NetworkModel net(s, kOrigin, s.nodes);
  int64_t lo = INT64_MAX, hi = 0, sum = 0;
  const int kDraws = 100000;
  for (int i = 0; i < kDraws; ++i) {
    const int64_t l = net.DrawLatencyUs();
    lo = std::min(lo, l);
    hi = std::max(hi, l);
    sum += l;
  }
  EXPECT_GE(lo, 10'000);
  EXPECT_LE(hi, 80'000);
  EXPECT_LT(lo, 10'500);  // reaches both ends
  EXPECT_GT(hi, 79'500);
  EXPECT_NEAR(static_cast<double>(sum) / kDraws, 45'000, 500);
}

// The precomputed draw gives Random::UniformBelow's values from the same
// stream, rejections included (n just above 2^63 rejects about half the
// draws; UINT64_MAX rejects one value in 2^64).
TEST(UniformBelowDrawTest, SameValuesAsUniformBelow) {
  const uint64_t bounds[] = {1,
                             2,
                             3,
                             70'001,
                             uint64_t{1} << 32,
                             (uint64_t{1} << 63) + 12'345,
                             UINT64_MAX - 1,
                             UINT64_MAX};
  for (uint64_t n : bounds) {
    Random reference(99);
    Random rng(99);
    const UniformBelowDraw draw(n);
    for (int i = 0; i < 100'000; ++i) {
      ASSERT_EQ(draw(rng), reference.UniformBelow(n)) << n << " draw " << i;
    }
    EXPECT_EQ(rng.Next64(), reference.Next64()) << n;  // as many draws
  }
}

// Send's latency and loss draws are Random::Chance then UniformBetween
// on the network stream, as they were before being computed inline.
TEST(NetworkModelTest, UniformLatencyAndLossDrawLikeRandom) {
  Scenario s = BaseScenario();
  s.loss = 0.1;
  NetworkModel net(s, kOrigin, s.nodes);
  Random reference(StreamSeed(s.seed, SeedStream::kNetwork));
  const uint64_t loss = ProbabilityToThreshold(s.loss);
  for (int i = 0; i < 100'000; ++i) {
    const NetworkModel::Decision d = net.Send(kOrigin.ToMicros(), 1, 2, 100);
    if (reference.Chance(loss)) {
      ASSERT_EQ(d.fate, DatagramFate::kLoss) << i;
      continue;
    }
    ASSERT_EQ(d.fate, DatagramFate::kDelivered) << i;
    ASSERT_EQ(d.arrival_us, kOrigin.ToMicros() +
                                static_cast<int64_t>(
                                    reference.UniformBetween(10'000, 80'000)))
        << i;
  }
}

TEST(NetworkModelTest, CertainLossDrawsNothing) {
  Scenario s = BaseScenario();
  s.loss = 1.0;
  NetworkModel net(s, kOrigin, s.nodes);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(net.Send(kOrigin.ToMicros(), 1, 2, 100).fate,
              DatagramFate::kLoss);
  }
  Random reference(StreamSeed(s.seed, SeedStream::kNetwork));
  EXPECT_EQ(net.DrawLatencyUs(),
            static_cast<int64_t>(reference.UniformBetween(10'000, 80'000)));
}

TEST(NetworkModelTest, FixedLatencyIsFixed) {
  Scenario s = BaseScenario();
  s.latency_model = LatencyModel::kFixed;
  NetworkModel net(s, kOrigin, s.nodes);
  NetworkModel::Decision d = net.Send(kOrigin.ToMicros() + 5, 1, 2, 100);
  EXPECT_EQ(d.arrival_us, kOrigin.ToMicros() + 5 + 10'000);
}

TEST(NetworkModelTest, ParetoLatencyHasCappedHeavyTail) {
  Scenario s = BaseScenario();
  s.latency_model = LatencyModel::kPareto;
  s.latency_min = Duration::Millis(10);
  s.latency_max = Duration::Millis(1610);  // scale = 100 ms
  NetworkModel net(s, kOrigin, s.nodes);
  std::vector<int64_t> draws;
  for (int i = 0; i < 100000; ++i) draws.push_back(net.DrawLatencyUs());
  std::sort(draws.begin(), draws.end());
  EXPECT_GE(draws.front(), 10'000);
  EXPECT_EQ(draws.back(), 1'610'000);  // the cap is reached
  // Median: min + scale * (sqrt(2) - 1) = 10 ms + 41.4 ms.
  EXPECT_NEAR(static_cast<double>(draws[draws.size() / 2]), 51'421, 1500);
  // P(capped) = 1/289 ~ 0.35 %.
  const auto capped = std::count(draws.begin(), draws.end(), 1'610'000);
  EXPECT_GT(capped, 200);
  EXPECT_LT(capped, 500);
}

TEST(NetworkModelTest, GilbertElliottLossIsBursty) {
  Scenario s = BaseScenario();
  s.burst_loss_enter = 0.01;
  s.burst_loss_exit = 0.1;
  s.burst_loss_bad = 1.0;
  NetworkModel net(s, kOrigin, s.nodes);
  const int kSends = 200000;
  int lost = 0, runs = 0;
  bool previous_lost = false;
  for (int i = 0; i < kSends; ++i) {
    // One sender: its burst state carries from datagram to datagram.
    const bool is_lost =
        net.Send(kOrigin.ToMicros(), 5, 6, 10).fate == DatagramFate::kBurstLoss;
    if (is_lost) {
      ++lost;
      if (!previous_lost) ++runs;
    }
    previous_lost = is_lost;
  }
  // Stationary P(bad) = 0.01 / 0.11 = 9.1 %; mean burst length 1/0.1 = 10.
  EXPECT_NEAR(static_cast<double>(lost) / kSends, 0.091, 0.015);
  EXPECT_GT(static_cast<double>(lost) / runs, 7.0);
  EXPECT_LT(static_cast<double>(lost) / runs, 13.0);
}

// Slot mode: the chain steps per slot of time, so a burst lasts
// burst_slot / P(exit) whether the sender sends often or rarely, and the
// stationary share of bad time is P(enter) / (P(enter) + P(exit)).
TEST(NetworkModelTest, SlotBurstsLastInTimeNotInDatagrams) {
  Scenario s = BaseScenario();
  s.burst_loss_enter = 0.01;
  s.burst_loss_exit = 0.1;
  s.burst_loss_bad = 1.0;
  s.burst_slot = Duration::Millis(10);            // bursts of 100 ms on average
  for (const int64_t gap_us : {1'000, 50'000}) {  // 1,000 or 20 sends a second
    NetworkModel net(s, kOrigin, s.nodes);
    const int kSends = gap_us == 1'000 ? 2'000'000 : 100'000;
    int lost = 0, runs = 0;
    bool previous_lost = false;
    for (int i = 0; i < kSends; ++i) {
      const bool is_lost =
          net.Send(kOrigin.ToMicros() + i * gap_us, 5, 6, 10).fate ==
          DatagramFate::kBurstLoss;
      if (is_lost) {
        ++lost;
        if (!previous_lost) ++runs;
      }
      previous_lost = is_lost;
    }
    // 9.1 % of the time is bad, in bursts of 10 slots = 100 ms.
    EXPECT_NEAR(static_cast<double>(lost) / kSends, 0.091, 0.015) << gap_us;
    const double burst_ms = static_cast<double>(lost) / runs * gap_us / 1000;
    if (gap_us == 1'000) {
      EXPECT_GT(burst_ms, 85.0);
      EXPECT_LT(burst_ms, 115.0);
    } else {
      // Seen every 50 ms: a 100 ms burst shows as 1-3 lost sends.
      EXPECT_GT(burst_ms, 60.0);
      EXPECT_LT(burst_ms, 160.0);
    }
  }
  // Per datagram instead, 20 sends a second make bursts of 10 sends: 500 ms.
}

// Slot mode: a sender that stops sending leaves its burst on time, and
// P(exit) = 0 keeps it bad for good; same seed, same fates.
TEST(NetworkModelTest, SlotBurstsEndWhileTheSenderIsSilent) {
  Scenario s = BaseScenario();
  s.burst_loss_enter = 1.0;  // bad from the first slot boundary
  s.burst_loss_exit = 0.5;
  s.burst_slot = Duration::Millis(10);
  NetworkModel net(s, kOrigin, s.nodes);
  const int64_t t0 = kOrigin.ToMicros();
  EXPECT_EQ(net.Send(t0, 1, 2, 10).fate, DatagramFate::kDelivered);
  EXPECT_EQ(net.Send(t0 + 10'000, 1, 2, 10).fate, DatagramFate::kBurstLoss);
  // An hour later the burst (2 slots on average) is long over, whatever
  // the sender did meanwhile: here, nothing. With P(enter) = 1 the state is
  // bad again after every good slot, so "good at some send" is the test.
  int delivered = 0;
  for (int i = 0; i < 200; ++i) {
    delivered += net.Send(t0 + 3'600'000'000LL + i * 10'000, 1, 2, 10).fate ==
                 DatagramFate::kDelivered;
  }
  EXPECT_GT(delivered, 50);  // good one slot in three
  EXPECT_LT(delivered, 100);

  s.burst_loss_exit = 0.0;
  NetworkModel stuck(s, kOrigin, s.nodes);
  stuck.Send(t0, 1, 2, 10);
  for (int i = 1; i <= 100; ++i) {
    EXPECT_EQ(stuck.Send(t0 + i * 3'600'000'000LL, 1, 2, 10).fate,
              DatagramFate::kBurstLoss);
  }
  Scenario again = s;
  again.burst_loss_exit = 0.3;
  EXPECT_TRUE(Same(SendMany(again, 5000), SendMany(again, 5000)));
}

// The sojourn draw is geometric: P(1 slot) = p, P(65) / P(1) = (1 - p)^64
// (across the first level's blocks), mean 1 / p; P = 0 never leaves, and
// the cap holds for a p too small to matter.
TEST(NetworkModelTest, SojournSlotsAreGeometric) {
  Random rng(99);
  for (const double p : {1.0, 0.5, 0.1, 0.01, 1e-4}) {
    const NetworkModel::SojournTable table = NetworkModel::MakeSojournTable(p);
    const int kDraws = 200'000;
    double sum = 0;
    int ones = 0, sixty_fives = 0;
    for (int i = 0; i < kDraws; ++i) {
      const uint64_t slots = NetworkModel::DrawSojournSlots(rng, table);
      ASSERT_GE(slots, 1u);
      sum += static_cast<double>(slots);
      ones += slots == 1;
      sixty_fives += slots == 65;
    }
    const double mean = 1 / p, sd = std::sqrt(1 - p) / p;
    EXPECT_NEAR(sum / kDraws, mean, 5 * sd / std::sqrt(kDraws) + 1e-9) << p;
    EXPECT_NEAR(ones / static_cast<double>(kDraws), p,
                5 * std::sqrt(p * (1 - p) / kDraws) + 1e-9)
        << p;
    if (p == 0.01) {  // (1 - p)^64 = 0.5256
      EXPECT_NEAR(static_cast<double>(sixty_fives) / ones, 0.5256, 0.05);
    }
  }
  EXPECT_EQ(
      NetworkModel::DrawSojournSlots(rng, NetworkModel::MakeSojournTable(0.0)),
      UINT64_MAX);
  const NetworkModel::SojournTable tiny = NetworkModel::MakeSojournTable(1e-30);
  bool capped = false;
  EXPECT_EQ(NetworkModel::DrawSojournSlots(rng, tiny, &capped),
            NetworkModel::kMaxSojournSlots);
  EXPECT_TRUE(capped);
  capped = false;
  (void)NetworkModel::DrawSojournSlots(
      rng, NetworkModel::MakeSojournTable(0.01), &capped);
  EXPECT_FALSE(capped);
}

// Slot mode: a state nearly never left is held 2^30 slots at a time, and
// each such cut is counted (a bound hit, in the run's bounds_hit).
TEST(NetworkModelTest, SlotSojournsCutAtTheCapAreCounted) {
  Scenario s = BaseScenario();
  s.burst_loss_enter = 1e-15;  // the good state: left after ~10^15 slots
  s.burst_loss_exit = 0.5;
  s.burst_slot = Duration::Micros(1);
  NetworkModel net(s, kOrigin, 4);
  const int64_t t0 = kOrigin.ToMicros();
  (void)net.Send(t0, 0, 1, 100);  // the sender's chain starts: one sojourn
  EXPECT_EQ(net.counters().burst_sojourns_capped, 1u);
  (void)net.Send(t0 + 10, 0, 1, 100);  // still in it: nothing drawn
  EXPECT_EQ(net.counters().burst_sojourns_capped, 1u);
  (void)net.Send(t0, 2, 1, 100);  // another sender's chain
  EXPECT_EQ(net.counters().burst_sojourns_capped, 2u);
}

// Slot mode: a sender silent for far longer than the chain remembers gets
// its next state from the stationary split in O(1) draws (stepping through
// 10^12 one-microsecond slots per send would not finish), and a chain that
// flips every slot keeps its parity.
TEST(NetworkModelTest, SlotBurstsSkipWhatTheChainHasForgotten) {
  Scenario s = BaseScenario();
  s.burst_loss_enter = 0.2;
  s.burst_loss_exit = 0.6;  // bad a quarter of the time
  s.burst_slot = Duration::Micros(1);
  NetworkModel net(s, kOrigin, s.nodes);
  const int64_t t0 = kOrigin.ToMicros();
  const int64_t kDay = 86'400'000'000;
  int lost = 0;
  for (int i = 0; i < 20000; ++i) {
    lost += net.Send(t0 + i * kDay, 3, 4, 10).fate == DatagramFate::kBurstLoss;
  }
  EXPECT_NEAR(lost / 20000.0, 0.25, 0.02);

  s.burst_loss_enter = s.burst_loss_exit = 1.0;  // good, bad, good, ...
  NetworkModel flip(s, kOrigin, s.nodes);
  EXPECT_EQ(flip.Send(t0, 3, 4, 10).fate, DatagramFate::kDelivered);
  for (int64_t slots :
       {1LL, 2LL, 1'000'001LL, 86'400'000'000LL, 86'400'000'003LL}) {
    const DatagramFate want =
        slots % 2 == 1 ? DatagramFate::kBurstLoss : DatagramFate::kDelivered;
    EXPECT_EQ(flip.Send(t0 + slots, 3, 4, 10).fate, want) << slots;
  }
}

TEST(NetworkModelTest, UplinkSerialisesAndOverflows) {
  Scenario s = BaseScenario();
  s.latency_model = LatencyModel::kFixed;
  s.bandwidth_bytes_per_s = 1000;  // 1 byte per ms
  NetworkModel net(s, kOrigin, s.nodes);
  const int64_t t0 = kOrigin.ToMicros();
  // 100 bytes take 100 ms each; the second waits for the first.
  EXPECT_EQ(net.Send(t0, 1, 2, 100).arrival_us, t0 + 100'000 + 10'000);
  EXPECT_EQ(net.Send(t0, 1, 3, 100).arrival_us, t0 + 200'000 + 10'000);
  // Another sender has its own uplink.
  EXPECT_EQ(net.Send(t0, 4, 3, 100).arrival_us, t0 + 100'000 + 10'000);
  // Fill node 1's uplink past the 1 s backlog bound.
  int overflow = 0;
  for (int i = 0; i < 20; ++i) {
    if (net.Send(t0, 1, 2, 100).fate == DatagramFate::kUplinkOverflow) {
      ++overflow;
    }
  }
  // Backlog 200 ms + 9 more (up to 1100 ms) fit; the rest overflow.
  EXPECT_EQ(overflow, 11);
  EXPECT_EQ(net.counters().lost_uplink_overflow, 11u);
  // Once drained, the uplink is free again.
  EXPECT_EQ(net.Send(t0 + 5'000'000, 1, 2, 100).arrival_us,
            t0 + 5'000'000 + 110'000);
}

TEST(NetworkModelTest, PartitionCutsCrossTrafficOnlyInsideWindow) {
  Scenario s = BaseScenario();
  s.nodes = 2000;
  s.partitions.push_back(
      PartitionSpec{0.3, Duration::Seconds(5), Duration::Seconds(15)});
  NetworkModel net(s, kOrigin, s.nodes);
  uint32_t side_a = 0;
  for (uint32_t n = 0; n < s.nodes; ++n) side_a += net.OnSideA(0, n) ? 1 : 0;
  EXPECT_GT(side_a, 500u);  // 600 expected, sd ~ 20
  EXPECT_LT(side_a, 700u);
  const int64_t t0 = kOrigin.ToMicros();
  const int64_t before = t0 + Duration::Seconds(5).ToMicros() - 1;
  const int64_t start = t0 + Duration::Seconds(5).ToMicros();
  const int64_t inside = t0 + Duration::Seconds(10).ToMicros();
  const int64_t last = t0 + Duration::Seconds(15).ToMicros() - 1;
  const int64_t healed = t0 + Duration::Seconds(15).ToMicros();
  int cross = 0, same = 0;
  for (uint32_t a = 0; a < 200; ++a) {
    for (uint32_t b = 0; b < 200; ++b) {
      const bool across = net.OnSideA(0, a) != net.OnSideA(0, b);
      cross += across ? 1 : 0;
      same += across ? 0 : 1;
      EXPECT_FALSE(net.Cut(before, a, b));
      EXPECT_EQ(net.Cut(start, a, b), across);
      EXPECT_EQ(net.Cut(inside, a, b), across);
      EXPECT_EQ(net.Cut(last, a, b), across);
      EXPECT_FALSE(net.Cut(healed, a, b));
    }
  }
  EXPECT_GT(cross, 0);
  EXPECT_GT(same, 0);
}

TEST(NetworkModelTest, PartitionSidesDependOnSeed) {
  Scenario s = BaseScenario();
  s.partitions.push_back(
      PartitionSpec{0.5, Duration::Zero(), Duration::Infinite()});
  Scenario t = s;
  t.seed = s.seed + 1;
  NetworkModel a(s, kOrigin, s.nodes), b(t, kOrigin, t.nodes);
  int differ = 0;
  for (uint32_t n = 0; n < s.nodes; ++n) {
    differ += a.OnSideA(0, n) != b.OnSideA(0, n) ? 1 : 0;
  }
  EXPECT_GT(differ, 20);
  // Never heals.
  EXPECT_TRUE(
      a.Cut(kOrigin.ToMicros() + Duration::Seconds(1000000).ToMicros(), 0, [&] {
        for (uint32_t n = 1; n < s.nodes; ++n) {
          if (a.OnSideA(0, n) != a.OnSideA(0, 0)) return n;
        }
        return 0u;
      }()));
}

TEST(IntegerSqrtTest, Exact) {
  EXPECT_EQ(IntegerSqrt(0), 0u);
  EXPECT_EQ(IntegerSqrt(1), 1u);
  EXPECT_EQ(IntegerSqrt(15), 3u);
  EXPECT_EQ(IntegerSqrt(16), 4u);
  EXPECT_EQ(IntegerSqrt(UINT64_MAX), 4294967295u);
  for (uint64_t r = 1; r < 100000; r += 7) {
    EXPECT_EQ(IntegerSqrt(r * r), r);
    EXPECT_EQ(IntegerSqrt(r * r - 1), r - 1);
  }
}

}  // namespace
}  // namespace elara::sim
