// File: core/block_growth.h
//
// How the per-message record blocks (DedupWindow's origins, MessageCache's
// ring) grow: doubling while small, then by half. Capacities run 1, 2, 4,
// 8, 12, 18, 27, 40, 60, ...: copies stay amortized O(1) per record and at
// most a third of a grown block is unused (doubling leaves up to half
// unused, and every node of a swarm grows its blocks at about the same
// message, so that slack is paid N times over).
#ifndef ELARA_CORE_BLOCK_GROWTH_H_
#define ELARA_CORE_BLOCK_GROWTH_H_

#include <cstddef>

namespace elara {

// The capacity after `capacity` is full. Always > capacity.
constexpr size_t NextBlockCapacity(size_t capacity) {
  return capacity < 8 ? (capacity == 0 ? 1 : capacity * 2)
                      : capacity + capacity / 2;
}

}  // namespace elara

#endif  // ELARA_CORE_BLOCK_GROWTH_H_
