#include "sim/latency_histogram.h"

#include <bit>
#include <cassert>
#include <cmath>

namespace elara::sim {
namespace {

constexpr int kSubBits = LatencyHistogram::kSubBucketBits;
constexpr uint64_t kSubCount = uint64_t{1} << kSubBits;

}  // namespace

LatencyHistogram::LatencyHistogram() : counts_(kBucketCount, 0) {}

size_t LatencyHistogram::BucketOf(uint64_t value) {
  if (value < kExactBelow) return static_cast<size_t>(value);
  const int e = 63 - std::countl_zero(value);  // e >= kSubBits + 1
  const uint64_t sub = (value >> (e - kSubBits)) & (kSubCount - 1);
  return static_cast<size_t>(
      kExactBelow + static_cast<uint64_t>(e - kSubBits - 1) * kSubCount + sub);
}

uint64_t LatencyHistogram::BucketLow(size_t bucket) {
  if (bucket < kExactBelow) return bucket;
  const uint64_t rest = bucket - kExactBelow;
  const int e = static_cast<int>(rest / kSubCount) + kSubBits + 1;
  const uint64_t sub = rest % kSubCount;
  return (uint64_t{1} << e) + (sub << (e - kSubBits));
}

uint64_t LatencyHistogram::BucketHigh(size_t bucket) {
  if (bucket < kExactBelow) return bucket;
  const uint64_t rest = bucket - kExactBelow;
  const int e = static_cast<int>(rest / kSubCount) + kSubBits + 1;
  return BucketLow(bucket) + ((uint64_t{1} << (e - kSubBits)) - 1);
}

void LatencyHistogram::Add(uint64_t value) {
  ++counts_[BucketOf(value)];
  if (count_ == 0 || value < min_) min_ = value;
  if (value > max_) max_ = value;
  ++count_;
}

uint64_t LatencyHistogram::Percentile(double q) const {
  if (count_ == 0) return 0;
  if (!(q > 0.0)) return min_;
  if (q >= 1.0) return max_;
  // Nearest rank: the smallest sample with at least q * count at or below.
  uint64_t rank =
      static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (size_t b = 0; b < counts_.size(); ++b) {
    seen += counts_[b];
    if (seen >= rank) {
      const uint64_t low = BucketLow(b);
      uint64_t mid = low + (BucketHigh(b) - low) / 2;
      if (mid < min_) mid = min_;
      if (mid > max_) mid = max_;
      return mid;
    }
  }
  assert(false);
  return max_;
}

}  // namespace elara::sim
