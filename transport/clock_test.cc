// File: transport/clock_test.cc
//
// MonotonicNow reads CLOCK_MONOTONIC in microseconds: positive, never
// decreasing, and advancing at least as much as a monotonic sleep.
// WallClockOffset turns it into CLOCK_REALTIME.
#include "transport/clock.h"

#include <time.h>

#include "gtest/gtest.h"

namespace elara {
namespace {

TEST(ClockTest, IsPositiveAndNeverDecreases) {
  Timestamp previous = MonotonicNow();
  EXPECT_GT(previous, Timestamp::Zero());
  for (int i = 0; i < 10000; ++i) {
    const Timestamp now = MonotonicNow();
    ASSERT_GE(now, previous);
    previous = now;
  }
}

TEST(ClockTest, AdvancesAtLeastAsMuchAsAMonotonicSleep) {
  // clock_nanosleep on CLOCK_MONOTONIC never returns early (POSIX), so this
  // is a lower bound by specification, not a timing guess.
  const Timestamp before = MonotonicNow();
  timespec sleep_time{0, 3 * 1000 * 1000};
  while (clock_nanosleep(CLOCK_MONOTONIC, 0, &sleep_time, &sleep_time) != 0) {
  }
  const Timestamp after = MonotonicNow();
  EXPECT_GE(after - before, Duration::Millis(3));
}

TEST(ClockTest, WallClockOffsetTurnsMonotonicIntoRealtime) {
  // Bracket a realtime read between two offset-corrected monotonic reads;
  // a wall clock set meanwhile is the only way to fail, so allow a second.
  const Duration offset = WallClockOffset();
  const int64_t before = (MonotonicNow() + offset).ToMicros();
  timespec ts;
  ASSERT_EQ(clock_gettime(CLOCK_REALTIME, &ts), 0);
  const int64_t wall = int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
  const int64_t after = (MonotonicNow() + offset).ToMicros();
  EXPECT_GE(wall, before - 1000000);
  EXPECT_LE(wall, after + 1000000);
}

}  // namespace
}  // namespace elara
