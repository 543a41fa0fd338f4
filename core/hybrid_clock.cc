// The receive rule follows the paper's Algorithm 2; the drift bound is
// applied to the received timestamp before it, so the clock never runs more
// than max_drift ahead of the local physical time because of a peer.
#include "core/hybrid_clock.h"

#include <algorithm>
#include <limits>

#include "core/wire.h"

namespace elara {
namespace {

constexpr uint32_t kMaxLogical = std::numeric_limits<uint32_t>::max();

uint64_t ClampWall(int64_t physical_us) {
  if (physical_us <= 0) return 0;
  return std::min(static_cast<uint64_t>(physical_us), kMaxHlcWallMicros);
}

// `logical` + 1 at `wall`, carrying into wall on overflow.
Hlc Incremented(uint64_t wall, uint32_t logical) {
  return NextHlc(Hlc{wall, logical});
}

}  // namespace

Hlc NextHlc(Hlc h) {
  if (h.logical < kMaxLogical) return Hlc{h.wall_us, h.logical + 1};
  if (h.wall_us < kMaxHlcWallMicros) return Hlc{h.wall_us + 1, 0};
  return h;  // The end of time: saturate.
}

Hlc HybridClock::Tick(int64_t physical_us) {
  const uint64_t pt = ClampWall(physical_us);
  last_ = pt > last_.wall_us ? Hlc{pt, 0} : NextHlc(last_);
  return last_;
}

void HybridClock::Observe(int64_t physical_us, Hlc remote) {
  const uint64_t pt = ClampWall(physical_us);
  if (!max_drift_.IsInfinite()) {
    const uint64_t bound = std::min(
        pt + static_cast<uint64_t>(max_drift_.ToMicros()), kMaxHlcWallMicros);
    if (remote.wall_us > bound) {
      remote = Hlc{bound, 0};
      ++drift_clamped_;
    }
  }
  remote.wall_us = std::min(remote.wall_us, kMaxHlcWallMicros);
  const uint64_t wall = std::max({last_.wall_us, remote.wall_us, pt});
  if (wall == last_.wall_us && wall == remote.wall_us) {
    last_ = Incremented(wall, std::max(last_.logical, remote.logical));
  } else if (wall == last_.wall_us) {
    last_ = Incremented(wall, last_.logical);
  } else if (wall == remote.wall_us) {
    last_ = Incremented(wall, remote.logical);
  } else {
    last_ = Hlc{wall, 0};
  }
}

}  // namespace elara
