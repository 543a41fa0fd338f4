// File: transport/clock.cc
//
// CLOCK_MONOTONIC via clock_gettime (a vDSO call: no kernel entry).
#include "transport/clock.h"

#include <time.h>

#include <cstdlib>

namespace elara {

Timestamp MonotonicNow() {
  struct timespec ts;
  // clock_gettime(CLOCK_MONOTONIC) cannot fail on Linux with a valid pointer;
  // if it ever did, continuing with a garbage time would corrupt every timer.
  if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0) std::abort();
  return Timestamp::FromMicros(static_cast<int64_t>(ts.tv_sec) * 1000000 +
                               ts.tv_nsec / 1000);
}

}  // namespace elara
