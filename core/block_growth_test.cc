#include "core/block_growth.h"

#include <cstddef>

#include "gtest/gtest.h"

namespace elara {
namespace {

TEST(BlockGrowthTest, ByFourWhileSmallThenByHalf) {
  size_t capacity = 0;
  const size_t expected[] = {1, 4, 16, 24, 36, 54, 81, 121, 181};
  for (size_t want : expected) {
    capacity = NextBlockCapacity(capacity);
    EXPECT_EQ(capacity, want);
  }
}

// Amortized O(1) copies (a geometric series: the records copied by all
// grows up to capacity c stay below 3c) and, right after a grow past 16,
// at most a third of the block unused.
TEST(BlockGrowthTest, BoundedCopiesAndSlack) {
  size_t capacity = 0;
  size_t copied = 0;
  while (capacity < (size_t{1} << 40)) {
    const size_t next = NextBlockCapacity(capacity);
    ASSERT_GT(next, capacity);
    copied += capacity;
    if (capacity >= 16) {
      EXPECT_LE((next - capacity - 1) * 3, next) << capacity;
    }
    capacity = next;
    EXPECT_LT(copied, 3 * capacity) << capacity;
  }
}

}  // namespace
}  // namespace elara
