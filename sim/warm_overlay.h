// File: sim/warm_overlay.h
//
// Warm start for huge swarms: builds HyParView-shaped views directly,
// instead of running a million JOIN random walks.
//
// BuildWarmOverlay(nodes, active_view_size, seed) returns the active views
// as an undirected graph with these invariants:
//   1. Symmetric: j is in i's active view iff i is in j's.
//   2. No self links, no duplicate links; every degree <= active_view_size.
//   3. Connected when active_view_size >= 2: the links contain a random
//      Hamiltonian cycle (a ring over a seeded permutation). With
//      active_view_size == 1 the links are a random matching (a HyParView
//      swarm with one active peer each cannot be connected either).
//   4. Nearly regular: after the ring, random links join nodes that still
//      have room, picked uniformly among them, until no more can be added
//      (a bounded number of consecutive failed picks); a handful of nodes
//      may end one link short, as in a live HyParView swarm. The protocol's
//      own repair fills them.
// Memory: 4 * nodes * (active_view_size + 2) bytes while building; the
// result keeps 4 * nodes * (active_view_size + 1) bytes.
//
// DrawWarmPassiveView draws one node's passive view on demand (so a million
// passive views never exist at once): up to passive_view_size distinct
// nodes, uniform, excluding the node itself and its active view.
//
// Thread-safety: pure functions over their arguments.
#ifndef ELARA_SIM_WARM_OVERLAY_H_
#define ELARA_SIM_WARM_OVERLAY_H_

#include <cstdint>
#include <span>
#include <vector>

#include "core/random.h"

namespace elara::sim {

struct WarmOverlay {
  uint32_t nodes = 0;
  uint32_t active_view_size = 0;
  // Row i holds i's active peers in slots [0, degree[i]).
  std::vector<uint32_t> active;  // nodes * active_view_size
  std::vector<uint32_t> degree;  // nodes

  std::span<const uint32_t> ActiveOf(uint32_t node) const {
    return std::span<const uint32_t>(
        active.data() + static_cast<size_t>(node) * active_view_size,
        degree[node]);
  }
  bool Linked(uint32_t a, uint32_t b) const;
};

// REQUIRES: active_view_size >= 1.
WarmOverlay BuildWarmOverlay(uint32_t nodes, uint32_t active_view_size,
                             uint64_t seed);

// Appends node's passive view to *out (cleared first).
void DrawWarmPassiveView(const WarmOverlay& overlay, uint32_t node,
                         uint32_t passive_view_size, Random* rng,
                         std::vector<uint32_t>* out);

}  // namespace elara::sim

#endif  // ELARA_SIM_WARM_OVERLAY_H_
