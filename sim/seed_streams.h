// File: sim/seed_streams.h
//
// Every random choice of a simulation run comes from a generator seeded from
// Scenario::seed through StreamSeed(seed, stream, index): one independent
// stream per purpose (network, faults, workload, ...) and, where useful, per
// index (one engine seed per created engine). Separate streams keep a change
// in one knob from shifting the draws of the others, so e.g. turning on loss
// does not change which nodes a crash picks.
//
// Node ids: NodeIdFor(seed, creation_index) is a bijection of the creation
// index for a fixed seed (splitmix64's finaliser is invertible), so every
// engine of a run gets a distinct NodeId without any lookup table.
//
// Thread-safety: pure functions.
#ifndef ELARA_SIM_SEED_STREAMS_H_
#define ELARA_SIM_SEED_STREAMS_H_

#include <cstdint>

#include "core/ids.h"
#include "core/random.h"

namespace elara::sim {

enum class SeedStream : uint64_t {
  kNetwork = 1,      // loss, latency, burst state
  kEngine = 2,       // per-engine seed, indexed by creation index
  kNodeId = 3,       // key of NodeIdFor
  kOverlay = 4,      // warm-start active overlay and passive views
  kFaults = 5,       // crash victims, churn picks, restart contacts
  kWorkload = 6,     // broadcast origins
  kPartition = 7,    // partition sides, indexed by partition spec
  kBootstrap = 8,    // protocol-bootstrap contacts
  kState = 9,        // state workload: writers and keys
  kStateClock = 10,  // state clock offsets, indexed by creation index
  kContacts = 11,    // fallback contacts of churn joins and restarts
};

inline uint64_t StreamSeed(uint64_t seed, SeedStream stream,
                           uint64_t index = 0) {
  uint64_t state = seed;
  state = SplitMix64(&state) ^
          (static_cast<uint64_t>(stream) * 0xd1342543de82ef95ULL);
  state = SplitMix64(&state) ^ index;
  return SplitMix64(&state);
}

// splitmix64's output function; invertible on 64-bit words.
inline uint64_t MixBijective(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The NodeId of the engine created `creation_index`-th in a run (initial
// node i has creation index i; restarts and churn joins take the next ones).
// Distinct creation indices give distinct ids.
inline NodeId NodeIdForKey(uint64_t key, uint64_t creation_index) {
  return NodeId(MixBijective(key + creation_index * 0x9e3779b97f4a7c15ULL));
}
inline NodeId NodeIdFor(uint64_t seed, uint64_t creation_index) {
  return NodeIdForKey(StreamSeed(seed, SeedStream::kNodeId), creation_index);
}

}  // namespace elara::sim

#endif  // ELARA_SIM_SEED_STREAMS_H_
