// File: sim/state_tracker.h
//
// StateTracker: what the simulator's state workload measures (RunResult's
// state fields; definitions in sim/simulator.h, "State metrics"), apart
// from the event loop. It never touches an engine: the simulator reports
// what it wrote and what it observed.
//
//   Writes       RecordWrite keeps, per key, the greatest version written
//                and the index of the write that made it: the entry every
//                node must end with (last writer wins, in StateVersion's
//                order, which is the store's order for distinct writes;
//                core/state_store.h). RecordSide marks which side of a
//                partition wrote a key while that partition was cut; a key
//                written on both sides of one partition counts once in
//                conflicting_keys().
//   Convergence  From Begin(settle) on, the tracker holds every tracked
//                (live) node's last observed state digest and a count per
//                distinct digest. Converged = at most one distinct digest
//                (vacuously so with no node). converged_since is the
//                instant of the last change from diverged to converged.
//   Bytes        Observations carry the node's EngineCounters::
//                state_sync_bytes_out; its growth since the node's previous
//                observation is added to reconciliation_bytes() when the
//                swarm was not converged before the observation. So it sums
//                anti-entropy bytes sent from the settle point until
//                convergence (again while a later divergence lasts).
//
// Cost: O(keys) memory for the writes (plus keys bytes per partition that
// saw a write while cut), 17 bytes per node slot once Begin ran, O(1)
// expected per observation. The digest map is only iterated by Majority(),
// whose result does not depend on the iteration order.
//
// Thread-safety: not thread-safe; owned by one Simulator.
#ifndef ELARA_SIM_STATE_TRACKER_H_
#define ELARA_SIM_STATE_TRACKER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/wire.h"

namespace elara::sim {

class StateTracker {
 public:
  // Keys are 0..keys-1; partitions as in the scenario.
  StateTracker(uint32_t keys, size_t partitions);
  StateTracker(const StateTracker&) = delete;
  StateTracker& operator=(const StateTracker&) = delete;

  // --- Writes ---
  // REQUIRES: key < keys.
  void RecordWrite(uint32_t key, const StateVersion& version,
                   uint64_t write_index);
  // `key` was written on side A (or B) of `partition` while it was cut.
  void RecordSide(size_t partition, uint32_t key, bool side_a);
  struct Winner {
    StateVersion version;
    uint64_t write_index = 0;
  };
  // The greatest write of `key`; nullopt if never written.
  std::optional<Winner> winner(uint32_t key) const;
  uint64_t conflicting_keys() const { return conflicting_keys_; }

  // --- Convergence ---
  struct NodeState {
    uint32_t node = 0;
    uint64_t digest = 0;
    uint64_t sync_bytes_out = 0;
  };
  // Starts tracking at `now_us` with these live nodes. REQUIRES: once.
  void Begin(int64_t now_us, std::span<const NodeState> nodes);
  bool begun() const { return begun_; }
  // A node became live (a fresh engine), or was observed after a call.
  // REQUIRES: begun(); Add for an untracked node, Observe for a tracked one.
  void Add(int64_t now_us, const NodeState& state);
  void Observe(int64_t now_us, const NodeState& state);
  // A tracked node stopped (crash, departure).
  void Remove(int64_t now_us, uint32_t node);

  bool converged() const { return converged_; }
  // When the swarm last became converged; nullopt while diverged.
  std::optional<int64_t> converged_since_us() const {
    return converged_ ? std::optional<int64_t>(since_us_) : std::nullopt;
  }
  uint64_t reconciliation_bytes() const { return reconciliation_bytes_; }
  uint32_t tracked_nodes() const { return tracked_count_; }
  struct Majority {
    uint64_t digest = 0;  // the smallest of the most common digests
    uint32_t nodes = 0;
  };
  Majority MajorityDigest() const;

 private:
  void Grow(uint32_t node);
  void CountDigest(uint64_t digest, int delta);
  void UpdateConverged(int64_t now_us);

  // Writes.
  std::vector<StateVersion> best_version_;
  std::vector<uint64_t> best_write_;  // UINT64_MAX = never written
  // Per partition: per key, bit 0 = side A wrote it, bit 1 = side B (empty
  // until the partition sees a write).
  std::vector<std::vector<uint8_t>> sides_;
  std::vector<uint8_t> conflicting_;  // per key: counted already
  uint64_t conflicting_keys_ = 0;

  // Convergence.
  bool begun_ = false;
  bool converged_ = false;
  int64_t since_us_ = 0;
  std::vector<uint64_t> digest_;      // per node slot
  std::vector<uint64_t> bytes_seen_;  // per node slot
  std::vector<uint8_t> tracked_;      // per node slot
  uint32_t tracked_count_ = 0;
  absl::flat_hash_map<uint64_t, uint32_t> digest_counts_;  // lookups
  uint64_t reconciliation_bytes_ = 0;
};

}  // namespace elara::sim

#endif  // ELARA_SIM_STATE_TRACKER_H_
