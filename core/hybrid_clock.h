// File: core/hybrid_clock.h
//
// HybridClock: a hybrid logical clock (Kulkarni, Demirbas et al., "Logical
// Physical Clocks", OPODIS 2014) over the driver's time, for versioning
// state writes. A timestamp is (wall_us, logical): the largest physical time
// seen (the node's own, or one carried by a received version) and a counter
// that orders events within one wall value.
//
//   Tick(pt)        local or send event: wall = max(wall, pt); the counter
//                   restarts at 0 when wall moved, else it is incremented.
//   Observe(pt, m)  receive event: wall = max(wall, m.wall, pt), counter
//                   from whichever of the two timestamps holds that wall
//                   (the larger counter plus one when both do).
//
// Guarantees:
//   - Tick() results strictly increase, whatever `pt` does (a clock that
//     jumps back, or a node whose clock lags the swarm's, still orders its
//     own writes), and exceed every timestamp Observe()d before.
//   - Bounded drift: a received wall more than max_drift ahead of `pt` is
//     taken as pt + max_drift (counted in drift_clamped()), so one node with
//     a clock far ahead cannot drag every clock with it. Duration::Infinite()
//     turns the bound off.
//   - wall never exceeds kMaxHlcWallMicros; the counter overflowing 2^32 - 1
//     carries into wall.
//
// Thread-safety: not thread-safe; owned by one StateSync.
#ifndef ELARA_CORE_HYBRID_CLOCK_H_
#define ELARA_CORE_HYBRID_CLOCK_H_

#include <compare>
#include <cstdint>

#include "core/time.h"

namespace elara {

struct Hlc {
  uint64_t wall_us = 0;
  uint32_t logical = 0;
  auto operator<=>(const Hlc&) const = default;
};

// The smallest timestamp after `h` (saturates at the largest one).
Hlc NextHlc(Hlc h);

class HybridClock {
 public:
  explicit HybridClock(Duration max_drift) : max_drift_(max_drift) {}

  // A local event at physical time `physical_us` (negative counts as 0).
  Hlc Tick(int64_t physical_us);
  // A received timestamp `remote` at physical time `physical_us`.
  void Observe(int64_t physical_us, Hlc remote);

  Hlc last() const { return last_; }
  uint64_t drift_clamped() const { return drift_clamped_; }

 private:
  Duration max_drift_;
  Hlc last_;
  uint64_t drift_clamped_ = 0;
};

}  // namespace elara

#endif  // ELARA_CORE_HYBRID_CLOCK_H_
