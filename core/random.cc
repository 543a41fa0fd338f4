#include "core/random.h"

#include <cassert>

namespace elara {

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t ProbabilityToThreshold(double p) {
  if (!(p > 0.0)) return 0;  // also catches NaN
  if (p >= 1.0) return UINT64_MAX;
  // 2^64 * p, computed in two exact halves so no rounding reaches 2^64.
  double scaled = p * 18446744073709551616.0;
  if (scaled >= 18446744073709551615.0) return UINT64_MAX;
  return static_cast<uint64_t>(scaled);
}

Random::Random(uint64_t seed) {
  uint64_t state = seed;
  for (uint64_t& word : s_) word = SplitMix64(&state);
}

unsigned __int128 Random::RejectBiased(unsigned __int128 m, uint64_t n) {
  const uint64_t threshold = (0 - n) % n;
  while (static_cast<uint64_t>(m) < threshold) {
    m = static_cast<unsigned __int128>(Next64()) * n;
  }
  return m;
}

uint64_t Random::UniformBetween(uint64_t lo, uint64_t hi) {
  assert(lo <= hi);
  if (lo == 0 && hi == UINT64_MAX) return Next64();
  return lo + UniformBelow(hi - lo + 1);
}

bool Random::OneIn(uint64_t n) { return UniformBelow(n) == 0; }

bool Random::Chance(uint64_t threshold) {
  if (threshold == UINT64_MAX) return true;
  return Next64() < threshold;
}

void Random::PickK(uint64_t k, uint64_t n, std::vector<uint64_t>* out) {
  const size_t base = out->size();
  out->resize(base + static_cast<size_t>(k));
  PickK(k, n, std::span<uint64_t>(*out).subspan(base));
}

void Random::PickK(uint64_t k, uint64_t n, std::span<uint64_t> out) {
  assert(k <= n);
  assert(k <= out.size());
  // Floyd's algorithm: k draws, O(k^2) membership checks, fine for the small
  // k (fanouts, shuffle samples) the protocol uses.
  size_t picked = 0;
  for (uint64_t j = n - k; j < n; ++j) {
    const uint64_t t = UniformBelow(j + 1);
    bool taken = false;
    for (size_t i = 0; i < picked; ++i) {
      if (out[i] == t) {
        taken = true;
        break;
      }
    }
    out[picked++] = taken ? j : t;
  }
}

uint64_t Random::DeriveSeed() { return Next64(); }

}  // namespace elara
