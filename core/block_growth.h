// File: core/block_growth.h
//
// How the per-message record blocks (DedupWindow's origins, MessageCache's
// ring) grow: by four while small, then by half. Capacities run 1, 4, 16,
// 24, 36, 54, 81, ...: copies stay amortized O(1) per record and, past 16,
// at most a third of a grown block is unused (doubling leaves up to half
// unused, and every node of a swarm grows its blocks at about the same
// message, so that slack is paid N times over). The small steps are few
// because each is a heap allocation, a free and a move of every record, in
// every node: a node that sees 20 messages grows 4 times, not 7 (1, 2, 4,
// 8, 12, 18, 27). A node's first block still holds one record, so a node
// that sees one message (a large swarm's common case) pays for one; two to
// four messages hold 4, five to sixteen hold 16.
#ifndef ELARA_CORE_BLOCK_GROWTH_H_
#define ELARA_CORE_BLOCK_GROWTH_H_

#include <cstddef>

namespace elara {

// The capacity after `capacity` is full. Always > capacity.
constexpr size_t NextBlockCapacity(size_t capacity) {
  return capacity < 16 ? (capacity == 0 ? 1 : capacity * 4)
                       : capacity + capacity / 2;
}

}  // namespace elara

#endif  // ELARA_CORE_BLOCK_GROWTH_H_
