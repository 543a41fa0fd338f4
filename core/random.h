// File: core/random.h
//
// The project's own PRNG: xoshiro256** (Blackman & Vigna, 2018) seeded by
// splitmix64, both written here so that a seed gives the same stream on every
// compiler and standard library. Never use the standard library's random
// device or distributions, or Abseil's bit generators, in core/ or sim/:
// they are unseeded or implementation-defined.
//
// All helpers use integer arithmetic only:
//   - UniformBelow(n): Lemire's multiply-and-reject, no modulo bias;
//   - OneIn(n), Chance(threshold): Bernoulli draws;
//   - PickK: k distinct indices below n (Floyd's algorithm), in draw order.
// Probabilities given as doubles are turned into a 64-bit threshold once, at
// configuration time, by ProbabilityToThreshold (exact IEEE arithmetic).
//
// Thread-safety: not thread-safe; one Random per engine or per simulator.
//
// Usage:
//   Random rng(/*seed=*/7);
//   uint64_t i = rng.UniformBelow(n);
//   if (rng.Chance(loss_threshold)) { drop(); }
#ifndef ELARA_CORE_RANDOM_H_
#define ELARA_CORE_RANDOM_H_

#include <array>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace elara {

// One step of splitmix64: advances *state and returns the next output.
uint64_t SplitMix64(uint64_t* state);

// Maps p in [0, 1] to a threshold t such that Chance(t) is true with
// probability p (exactly 0 for p <= 0, always for p >= 1).
uint64_t ProbabilityToThreshold(double p);

class Random {
 public:
  explicit Random(uint64_t seed);

  // Next 64 uniformly distributed bits. Inline, as is UniformBelow: the
  // simulator's network model draws twice per datagram, and the call cost
  // more than the draw (callgrind).
  uint64_t Next64() {
    const uint64_t result = std::rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = std::rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, n). REQUIRES: n > 0.
  uint64_t UniformBelow(uint64_t n) {
    assert(n > 0);
    // Lemire, "Fast Random Integer Generation in an Interval" (2019).
    unsigned __int128 m = static_cast<unsigned __int128>(Next64()) * n;
    if (static_cast<uint64_t>(m) < n) [[unlikely]] {
      m = RejectBiased(m, n);
    }
    return static_cast<uint64_t>(m >> 64);
  }
  // Uniform in [lo, hi]. REQUIRES: lo <= hi.
  uint64_t UniformBetween(uint64_t lo, uint64_t hi);
  // True with probability 1/n. REQUIRES: n > 0.
  bool OneIn(uint64_t n);
  // True with probability threshold / 2^64 (see ProbabilityToThreshold);
  // UINT64_MAX means always.
  bool Chance(uint64_t threshold);
  // k distinct values in [0, n), appended to *out. REQUIRES: k <= n.
  void PickK(uint64_t k, uint64_t n, std::vector<uint64_t>* out);
  // The same draws written to out[0, k) (a caller's stack buffer, say):
  // the same values in the same order as the form above.
  // REQUIRES: k <= n and k <= out.size().
  void PickK(uint64_t k, uint64_t n, std::span<uint64_t> out);
  // Fisher-Yates shuffle of [first, first + count).
  template <typename T>
  void Shuffle(T* first, size_t count) {
    for (size_t i = count; i > 1; --i) {
      size_t j = static_cast<size_t>(UniformBelow(i));
      T tmp = static_cast<T&&>(first[i - 1]);
      first[i - 1] = static_cast<T&&>(first[j]);
      first[j] = static_cast<T&&>(tmp);
    }
  }
  // A new independent generator derived from this one's stream (for giving
  // each simulated node its own engine seed).
  uint64_t DeriveSeed();

 private:
  // UniformBelow's rare second step: draws again while m's low half is in
  // the biased remainder; returns the accepted product.
  unsigned __int128 RejectBiased(unsigned __int128 m, uint64_t n);

  std::array<uint64_t, 4> s_;
};

}  // namespace elara

#endif  // ELARA_CORE_RANDOM_H_
