// File: sim/latency_histogram.h
//
// LatencyHistogram: a fixed-size log-linear histogram of non-negative
// integer samples (microseconds), for percentiles over millions of
// deliveries without storing each one.
//
// Buckets: values below 256 have one bucket each (exact). Above, every
// power of two [2^e, 2^(e+1)) is split into 128 equal sub-buckets, so a
// bucket spans at most 1/128 of its lower bound. Percentile() returns the
// midpoint of the bucket holding the nearest-rank sample, clamped to the
// exact minimum and maximum seen: the relative error is at most 1/256
// (0.4 %) above 256 us and zero below. Max() and Min() are exact. Memory is
// 7,424 counters (59 KiB), whatever the sample count.
//
// Thread-safety: not thread-safe.
//
// Usage:
//   LatencyHistogram h;
//   h.Add(1234);
//   uint64_t p99 = h.Percentile(0.99);
#ifndef ELARA_SIM_LATENCY_HISTOGRAM_H_
#define ELARA_SIM_LATENCY_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace elara::sim {

class LatencyHistogram {
 public:
  static constexpr int kSubBucketBits = 7;  // 128 sub-buckets per octave
  static constexpr uint64_t kExactBelow = uint64_t{1} << (kSubBucketBits + 1);
  static constexpr size_t kBucketCount =
      kExactBelow + (64 - (kSubBucketBits + 1)) * (size_t{1} << kSubBucketBits);

  LatencyHistogram();

  void Add(uint64_t value);
  uint64_t count() const { return count_; }
  // REQUIRES: count() > 0 for meaningful values; 0 when empty.
  uint64_t Min() const { return count_ == 0 ? 0 : min_; }
  uint64_t Max() const { return max_; }
  // Nearest-rank percentile, q in [0, 1]; 0 when empty. See file comment
  // for the precision.
  uint64_t Percentile(double q) const;

  // Bucket of a value, and the inclusive value range of a bucket (exposed
  // for tests).
  static size_t BucketOf(uint64_t value);
  static uint64_t BucketLow(size_t bucket);
  static uint64_t BucketHigh(size_t bucket);

 private:
  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t min_ = 0;
  uint64_t max_ = 0;
};

}  // namespace elara::sim

#endif  // ELARA_SIM_LATENCY_HISTOGRAM_H_
