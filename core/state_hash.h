// File: core/state_hash.h
//
// The small, fixed hash functions of state propagation. They are written
// here (not absl::Hash, which is salted per process) so that every node of
// every build computes the same values: digests and sketches are compared
// across nodes.
//
//   Mix64       splitmix64's finalizer: a bijection of 64-bit values with
//               good avalanche.
//   KeyHash     where a key sits in key-hash order (slices, streams); a
//               bijection, so the order is total.
//   SliceOf     one of kStateSlices equal slices of the key-hash space.
//   HashBytes   a 64-bit hash of a byte string (values).
//
// Not cryptographic: a node that wants to collide digests can; state is as
// trusted as the nodes that write it (authentication comes later).
//
// Thread-safety: pure functions.
#ifndef ELARA_CORE_STATE_HASH_H_
#define ELARA_CORE_STATE_HASH_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/ids.h"

namespace elara {

// Anti-entropy compares the key space in this many slices (by the top six
// bits of KeyHash); a slice set fits one 64-bit mask.
inline constexpr size_t kStateSlices = 64;
inline constexpr int kStateSliceShift = 58;

inline constexpr uint64_t kGoldenGamma = 0x9e3779b97f4a7c15ull;

inline uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Order-dependent combination of a running hash with one more value.
inline uint64_t HashCombine(uint64_t h, uint64_t v) {
  return Mix64(h ^ Mix64(v + kGoldenGamma));
}

inline uint64_t KeyHash(StateId key) {
  return Mix64(key.value() + kGoldenGamma);
}

inline size_t SliceOf(uint64_t key_hash) {
  return static_cast<size_t>(key_hash >> kStateSliceShift);
}
// First and last key hash of slice `slice`.
inline uint64_t SliceFirstHash(size_t slice) {
  return static_cast<uint64_t>(slice) << kStateSliceShift;
}
inline uint64_t SliceLastHash(size_t slice) {
  return SliceFirstHash(slice) | ((uint64_t{1} << kStateSliceShift) - 1);
}

inline uint64_t HashBytes(std::span<const uint8_t> bytes) {
  uint64_t h = HashCombine(0x5eed, bytes.size());
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t word = 0;
    for (int b = 0; b < 8; ++b) {
      word |= static_cast<uint64_t>(bytes[i + b]) << (8 * b);
    }
    h = HashCombine(h, word);
  }
  uint64_t tail = 0;
  for (int b = 0; i < bytes.size(); ++i, ++b) {
    tail |= static_cast<uint64_t>(bytes[i]) << (8 * b);
  }
  return HashCombine(h, tail);
}

}  // namespace elara

#endif  // ELARA_CORE_STATE_HASH_H_
