// File: transport/clock.cc
//
// CLOCK_MONOTONIC and CLOCK_REALTIME via clock_gettime (vDSO calls: no
// kernel entry).
#include "transport/clock.h"

#include <time.h>

#include <cstdlib>

namespace elara {

namespace {

int64_t ReadMicros(clockid_t clock) {
  struct timespec ts;
  // clock_gettime cannot fail on Linux for these clocks with a valid
  // pointer; if it ever did, continuing with a garbage time would corrupt
  // every timer.
  if (clock_gettime(clock, &ts) != 0) std::abort();
  return static_cast<int64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
}

}  // namespace

Timestamp MonotonicNow() {
  return Timestamp::FromMicros(ReadMicros(CLOCK_MONOTONIC));
}

Duration WallClockOffset() {
  const int64_t before = ReadMicros(CLOCK_MONOTONIC);
  const int64_t wall = ReadMicros(CLOCK_REALTIME);
  const int64_t after = ReadMicros(CLOCK_MONOTONIC);
  return Duration::Micros(wall - (before + (after - before) / 2));
}

}  // namespace elara
