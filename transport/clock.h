// File: transport/clock.h
//
// The real clocks of a node process. `MonotonicNow()` reads CLOCK_MONOTONIC
// and returns it as an `elara::Timestamp` (microseconds). It never goes
// backwards and does not jump with wall-clock changes, so it is the clock
// that drives an `Engine` in the node runtime. `WallClockOffset()` is how
// far CLOCK_REALTIME is ahead of it, so that `MonotonicNow() + offset` is
// wall time (the runtime hands it to Engine::SetStateClockOffset, so state
// versions carry wall time comparable across machines).
//
// Only drivers read clocks: core/ and sim/ must never include this header.
//
// Thread-safety: thread-safe (a pure system call).
#ifndef ELARA_TRANSPORT_CLOCK_H_
#define ELARA_TRANSPORT_CLOCK_H_

#include "core/time.h"

namespace elara {

// Current CLOCK_MONOTONIC time in microseconds (since an unspecified start,
// usually boot). Always > 0 on Linux once the system has been up 1 us.
Timestamp MonotonicNow();

// CLOCK_REALTIME - CLOCK_MONOTONIC in microseconds, read once now (the
// realtime read is bracketed by two monotonic reads and compared with their
// midpoint). It changes when the wall clock is set or slewed.
Duration WallClockOffset();

}  // namespace elara

#endif  // ELARA_TRANSPORT_CLOCK_H_
