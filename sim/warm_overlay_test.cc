// File: sim/warm_overlay_test.cc
//
// The warm-start overlay satisfies its invariants: symmetric, bounded,
// no self or duplicate links, connected, nearly regular; passive views are
// distinct, exclude self and active peers, and are full.
#include "sim/warm_overlay.h"

#include <algorithm>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace elara::sim {
namespace {

void ExpectInvariants(const WarmOverlay& o) {
  for (uint32_t i = 0; i < o.nodes; ++i) {
    ASSERT_LE(o.degree[i], o.active_view_size);
    std::set<uint32_t> seen;
    for (uint32_t j : o.ActiveOf(i)) {
      ASSERT_LT(j, o.nodes);
      ASSERT_NE(j, i) << "self link";
      ASSERT_TRUE(seen.insert(j).second) << "duplicate link";
      ASSERT_TRUE(o.Linked(j, i)) << "asymmetric " << i << "-" << j;
    }
  }
}

uint32_t ReachableFrom0(const WarmOverlay& o) {
  std::vector<bool> seen(o.nodes, false);
  std::vector<uint32_t> stack = {0};
  seen[0] = true;
  uint32_t count = 1;
  while (!stack.empty()) {
    const uint32_t i = stack.back();
    stack.pop_back();
    for (uint32_t j : o.ActiveOf(i)) {
      if (!seen[j]) {
        seen[j] = true;
        ++count;
        stack.push_back(j);
      }
    }
  }
  return count;
}

class WarmOverlayTest
    : public ::testing::TestWithParam<std::pair<uint32_t, uint32_t>> {};

TEST_P(WarmOverlayTest, SymmetricBoundedConnectedNearlyRegular) {
  const auto [n, k] = GetParam();
  for (uint64_t seed : {1, 2, 3}) {
    WarmOverlay o = BuildWarmOverlay(n, k, seed);
    ASSERT_EQ(o.nodes, n);
    ExpectInvariants(o);
    EXPECT_EQ(ReachableFrom0(o), n);
    uint64_t short_nodes = 0;
    for (uint32_t i = 0; i < n; ++i)
      short_nodes += o.degree[i] < std::min(k, n - 1);
    // A handful of nodes may end one link short (see the header).
    EXPECT_LE(short_nodes, 2 * k + 2) << "n=" << n << " k=" << k;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Sizes, WarmOverlayTest,
    ::testing::Values(std::make_pair(2u, 5u), std::make_pair(3u, 5u),
                      std::make_pair(6u, 5u), std::make_pair(50u, 2u),
                      std::make_pair(1000u, 5u), std::make_pair(1000u, 8u),
                      std::make_pair(100000u, 5u)));

TEST(WarmOverlayTest, DeterministicPerSeed) {
  WarmOverlay a = BuildWarmOverlay(500, 5, 9);
  WarmOverlay b = BuildWarmOverlay(500, 5, 9);
  WarmOverlay c = BuildWarmOverlay(500, 5, 10);
  EXPECT_EQ(a.active, b.active);
  EXPECT_EQ(a.degree, b.degree);
  EXPECT_NE(a.active, c.active);
}

TEST(WarmOverlayTest, ActiveViewOfOneIsAMatching) {
  WarmOverlay o = BuildWarmOverlay(101, 1, 4);
  ExpectInvariants(o);
  uint32_t unmatched = 0;
  for (uint32_t i = 0; i < o.nodes; ++i) unmatched += o.degree[i] == 0;
  EXPECT_EQ(unmatched, 1u);
}

TEST(WarmOverlayTest, PassiveViewsAreDistinctAndDisjointFromActive) {
  WarmOverlay o = BuildWarmOverlay(1000, 5, 7);
  Random rng(8);
  std::vector<uint32_t> passive;
  for (uint32_t i = 0; i < o.nodes; ++i) {
    DrawWarmPassiveView(o, i, 30, &rng, &passive);
    ASSERT_EQ(passive.size(), 30u);
    std::set<uint32_t> seen(passive.begin(), passive.end());
    ASSERT_EQ(seen.size(), passive.size());
    ASSERT_EQ(seen.count(i), 0u);
    for (uint32_t j : o.ActiveOf(i)) ASSERT_EQ(seen.count(j), 0u);
  }
}

TEST(WarmOverlayTest, PassiveViewOfTinySwarmTakesWhatThereIs) {
  WarmOverlay o = BuildWarmOverlay(8, 3, 7);
  Random rng(8);
  std::vector<uint32_t> passive;
  DrawWarmPassiveView(o, 0, 30, &rng, &passive);
  EXPECT_EQ(passive.size(), 7u - o.degree[0]);
}

}  // namespace
}  // namespace elara::sim
