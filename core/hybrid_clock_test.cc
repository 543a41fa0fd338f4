// Tests of the hybrid logical clock: monotonic local events whatever the
// physical clock does, the receive rule, the drift bound and saturation.
#include "core/hybrid_clock.h"

#include <limits>

#include "core/random.h"
#include "core/wire.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

TEST(HybridClockTest, FollowsPhysicalTimeWhenItMoves) {
  HybridClock clock(Duration::Infinite());
  EXPECT_EQ(clock.Tick(100), (Hlc{100, 0}));
  EXPECT_EQ(clock.Tick(100), (Hlc{100, 1}));
  EXPECT_EQ(clock.Tick(100), (Hlc{100, 2}));
  EXPECT_EQ(clock.Tick(250), (Hlc{250, 0}));
}

TEST(HybridClockTest, TicksStrictlyIncreaseWhenPhysicalTimeGoesBack) {
  HybridClock clock(Duration::Infinite());
  Random rng(3);
  Hlc last = clock.Tick(1'000'000);
  for (int i = 0; i < 10000; ++i) {
    // Physical time jumps around, back included.
    const int64_t pt = static_cast<int64_t>(rng.UniformBelow(2'000'000));
    const Hlc next = clock.Tick(pt);
    ASSERT_GT(next, last) << i;
    ASSERT_GE(next.wall_us, static_cast<uint64_t>(pt));
    last = next;
  }
}

TEST(HybridClockTest, ReceiveRuleTakesTheLargerClock) {
  HybridClock clock(Duration::Infinite());
  clock.Tick(100);  // (100, 0)
  // Remote ahead: adopt its wall, counter + 1.
  clock.Observe(120, Hlc{500, 7});
  EXPECT_EQ(clock.last(), (Hlc{500, 8}));
  // Same wall on both sides: the larger counter + 1.
  clock.Observe(130, Hlc{500, 20});
  EXPECT_EQ(clock.last(), (Hlc{500, 21}));
  clock.Observe(130, Hlc{500, 3});
  EXPECT_EQ(clock.last(), (Hlc{500, 22}));
  // Remote behind: local counter + 1.
  clock.Observe(130, Hlc{200, 90});
  EXPECT_EQ(clock.last(), (Hlc{500, 23}));
  // Physical time overtakes both: counter restarts.
  clock.Observe(900, Hlc{600, 4});
  EXPECT_EQ(clock.last(), (Hlc{900, 0}));
  // A local event after a receive is above it.
  EXPECT_EQ(clock.Tick(901), (Hlc{901, 0}));
  clock.Observe(10, Hlc{5000, 1});
  EXPECT_GT(clock.Tick(11), (Hlc{5000, 1}));
}

TEST(HybridClockTest, DriftBoundLimitsHowFarAPeerDragsTheClock) {
  HybridClock clock(Duration::Seconds(1));
  clock.Observe(1'000'000, Hlc{1'500'000, 3});  // within the bound
  EXPECT_EQ(clock.last(), (Hlc{1'500'000, 4}));
  EXPECT_EQ(clock.drift_clamped(), 0u);
  clock.Observe(1'000'000, Hlc{900'000'000, 3});  // 899 s ahead
  EXPECT_EQ(clock.drift_clamped(), 1u);
  EXPECT_EQ(clock.last().wall_us, 2'000'000u);
  EXPECT_LE(clock.Tick(1'000'001).wall_us, 2'000'000u);
  // Unbounded: followed all the way.
  HybridClock open(Duration::Infinite());
  open.Observe(1'000'000, Hlc{900'000'000, 3});
  EXPECT_EQ(open.last(), (Hlc{900'000'000, 4}));
  EXPECT_EQ(open.drift_clamped(), 0u);
}

TEST(HybridClockTest, CounterCarriesAndTheEndOfTimeSaturates) {
  constexpr uint32_t kMax = std::numeric_limits<uint32_t>::max();
  EXPECT_EQ(NextHlc(Hlc{5, kMax}), (Hlc{6, 0}));
  EXPECT_EQ(NextHlc(Hlc{kMaxHlcWallMicros, kMax}),
            (Hlc{kMaxHlcWallMicros, kMax}));
  HybridClock clock(Duration::Infinite());
  clock.Observe(0, Hlc{7, kMax});
  EXPECT_EQ(clock.last(), (Hlc{8, 0}));
  // Hostile input beyond the wire's range is clamped, never wraps.
  clock.Observe(0, Hlc{std::numeric_limits<uint64_t>::max(), 1});
  EXPECT_EQ(clock.last().wall_us, kMaxHlcWallMicros);
  EXPECT_EQ(clock.Tick(std::numeric_limits<int64_t>::max()).wall_us,
            kMaxHlcWallMicros);
  // Negative physical time counts as zero.
  HybridClock fresh(Duration::Infinite());
  EXPECT_EQ(fresh.Tick(-5), (Hlc{0, 1}));
}

}  // namespace
}  // namespace elara
