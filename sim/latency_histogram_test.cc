// File: sim/latency_histogram_test.cc
#include "sim/latency_histogram.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara::sim {
namespace {

TEST(LatencyHistogramTest, EmptyIsZero) {
  LatencyHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.Percentile(0.5), 0u);
  EXPECT_EQ(h.Max(), 0u);
}

TEST(LatencyHistogramTest, SmallValuesAreExact) {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100; ++v) h.Add(v);
  EXPECT_EQ(h.Percentile(0.5), 50u);
  EXPECT_EQ(h.Percentile(0.99), 99u);
  EXPECT_EQ(h.Percentile(1.0), 100u);
  EXPECT_EQ(h.Min(), 1u);
  EXPECT_EQ(h.Max(), 100u);
}

TEST(LatencyHistogramTest, BucketsTileTheRange) {
  // Consecutive buckets are contiguous and each value maps into its bucket.
  for (size_t b = 0; b + 1 < LatencyHistogram::kBucketCount; ++b) {
    ASSERT_EQ(LatencyHistogram::BucketHigh(b) + 1,
              LatencyHistogram::BucketLow(b + 1))
        << b;
  }
  EXPECT_EQ(LatencyHistogram::BucketHigh(LatencyHistogram::kBucketCount - 1),
            UINT64_MAX);
  Random rng(3);
  for (int i = 0; i < 100000; ++i) {
    const uint64_t v = rng.Next64() >> rng.UniformBelow(64);
    const size_t b = LatencyHistogram::BucketOf(v);
    ASSERT_LT(b, LatencyHistogram::kBucketCount);
    ASSERT_LE(LatencyHistogram::BucketLow(b), v);
    ASSERT_GE(LatencyHistogram::BucketHigh(b), v);
  }
}

TEST(LatencyHistogramTest, PercentilesWithinDocumentedError) {
  Random rng(11);
  LatencyHistogram h;
  std::vector<uint64_t> samples;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t v = 1000 + rng.UniformBelow(5'000'000);
    samples.push_back(v);
    h.Add(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {0.01, 0.5, 0.9, 0.99, 0.999}) {
    const uint64_t exact =
        samples[static_cast<size_t>(
                    std::ceil(q * static_cast<double>(samples.size()))) -
                1];
    const double got = static_cast<double>(h.Percentile(q));
    EXPECT_NEAR(got, static_cast<double>(exact),
                static_cast<double>(exact) / 256.0 + 1)
        << q;
  }
  EXPECT_EQ(h.Max(), samples.back());
  EXPECT_EQ(h.Min(), samples.front());
}

}  // namespace
}  // namespace elara::sim
