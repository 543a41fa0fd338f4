// File: core/time_test.cc
//
// Tests of Duration and Timestamp: unit conversions, arithmetic, saturation
// at Infinite() ("never" stays never), comparisons and ToString.
#include "core/time.h"

#include <algorithm>
#include <cstdint>
#include <limits>

#include "gtest/gtest.h"

namespace elara {
namespace {

constexpr int64_t kMax = std::numeric_limits<int64_t>::max();

TEST(DurationTest, Units) {
  EXPECT_EQ(Duration().ToMicros(), 0);
  EXPECT_EQ(Duration::Zero().ToMicros(), 0);
  EXPECT_EQ(Duration::Micros(7).ToMicros(), 7);
  EXPECT_EQ(Duration::Millis(3).ToMicros(), 3000);
  EXPECT_EQ(Duration::Seconds(2).ToMicros(), 2000000);
  EXPECT_EQ(Duration::Seconds(2).ToMillis(), 2000);
  EXPECT_EQ(Duration::Micros(1999).ToMillis(), 1);  // truncates
  EXPECT_EQ(Duration::Micros(-1999).ToMillis(), -1);
  EXPECT_EQ(Duration::Infinite().ToMicros(), kMax);
  static_assert(Duration::Millis(1) == Duration::Micros(1000));
}

TEST(DurationTest, Arithmetic) {
  EXPECT_EQ(Duration::Millis(3) + Duration::Micros(5), Duration::Micros(3005));
  EXPECT_EQ(Duration::Millis(3) - Duration::Micros(5), Duration::Micros(2995));
  EXPECT_EQ(Duration::Micros(5) - Duration::Millis(3), Duration::Micros(-2995));
  EXPECT_EQ(Duration::Millis(3) * 4, Duration::Millis(12));
  EXPECT_EQ(Duration::Millis(3) * 0, Duration::Zero());
  EXPECT_EQ(Duration::Millis(3) / 2, Duration::Micros(1500));
  EXPECT_EQ(Duration::Micros(7) / 2, Duration::Micros(3));
}

TEST(DurationTest, InfiniteSaturates) {
  const Duration inf = Duration::Infinite();
  EXPECT_TRUE(inf.IsInfinite());
  EXPECT_FALSE(Duration::Seconds(1000000).IsInfinite());
  EXPECT_EQ(inf + Duration::Seconds(1), inf);
  EXPECT_EQ(Duration::Seconds(1) + inf, inf);
  EXPECT_EQ(inf + inf, inf);
  EXPECT_EQ(inf * 2, inf);
  EXPECT_EQ(inf * 1000000, inf);
  EXPECT_TRUE((inf + Duration::Micros(-5)).IsInfinite());
}

TEST(DurationTest, Comparisons) {
  EXPECT_LT(Duration::Micros(999), Duration::Millis(1));
  EXPECT_LE(Duration::Micros(1000), Duration::Millis(1));
  EXPECT_GT(Duration::Infinite(), Duration::Seconds(1000000000));
  EXPECT_LT(Duration::Micros(-1), Duration::Zero());
  EXPECT_NE(Duration::Micros(1), Duration::Micros(2));
}

TEST(DurationTest, ToString) {
  EXPECT_EQ(Duration::Millis(3).ToString(), "3000us");
  EXPECT_EQ(Duration::Zero().ToString(), "0us");
  EXPECT_EQ(Duration::Micros(-5).ToString(), "-5us");
  EXPECT_EQ(Duration::Infinite().ToString(), "inf");
}

TEST(TimestampTest, Arithmetic) {
  const Timestamp t = Timestamp::FromMicros(1000);
  EXPECT_EQ(t.ToMicros(), 1000);
  EXPECT_EQ(Timestamp().ToMicros(), 0);
  EXPECT_EQ(Timestamp::Zero(), Timestamp());
  EXPECT_EQ(t + Duration::Millis(2), Timestamp::FromMicros(3000));
  EXPECT_EQ(t - Duration::Micros(1), Timestamp::FromMicros(999));
  EXPECT_EQ(Timestamp::FromMicros(3000) - t, Duration::Millis(2));
  EXPECT_EQ(t - Timestamp::FromMicros(3000), Duration::Millis(-2));
  EXPECT_EQ((t + Duration::Micros(250)) - t, Duration::Micros(250));
}

TEST(TimestampTest, InfiniteSaturates) {
  const Timestamp never = Timestamp::Infinite();
  EXPECT_TRUE(never.IsInfinite());
  EXPECT_FALSE(Timestamp::FromMicros(kMax - 1).IsInfinite());
  EXPECT_EQ(never + Duration::Seconds(5), never);
  EXPECT_EQ(Timestamp::FromMicros(5) + Duration::Infinite(), never);
  EXPECT_EQ(never + Duration::Infinite(), never);
  EXPECT_EQ(never.ToMicros(), kMax);
}

TEST(TimestampTest, Comparisons) {
  const Timestamp a = Timestamp::FromMicros(10);
  const Timestamp b = Timestamp::FromMicros(11);
  EXPECT_LT(a, b);
  EXPECT_LE(a, a);
  EXPECT_GT(b, a);
  EXPECT_NE(a, b);
  EXPECT_LT(b, Timestamp::Infinite());
  EXPECT_LT(Timestamp::Zero(), a);
}

TEST(TimestampTest, ToString) {
  EXPECT_EQ(Timestamp::FromMicros(1500).ToString(), "t=1500us");
  EXPECT_EQ(Timestamp::Zero().ToString(), "t=0us");
  EXPECT_EQ(Timestamp::Infinite().ToString(), "inf");
}

TEST(TimestampTest, EarlierIsTheMinimum) {
  const Timestamp a = Timestamp::FromMicros(5);
  const Timestamp b = Timestamp::FromMicros(7);
  EXPECT_EQ(Earlier(a, b), a);
  EXPECT_EQ(Earlier(b, a), a);
  EXPECT_EQ(Earlier(a, a), a);
  EXPECT_EQ(Earlier(a, Timestamp::Infinite()), a);
  EXPECT_EQ(Earlier(Timestamp::Infinite(), Timestamp::Infinite()),
            Timestamp::Infinite());
  for (int64_t x = -3; x <= 3; ++x) {
    for (int64_t y = -3; y <= 3; ++y) {
      const Timestamp tx = Timestamp::FromMicros(x);
      const Timestamp ty = Timestamp::FromMicros(y);
      EXPECT_EQ(Earlier(tx, ty), std::min(tx, ty));
    }
  }
}

}  // namespace
}  // namespace elara
