// Tests of the strong id types: equality and order follow the 64-bit value
// whichever 32-bit half differs (the ids are stored as two halves).
#include "core/ids.h"

#include <cstdint>

#include "gtest/gtest.h"

namespace elara {
namespace {

TEST(IdsTest, EqualityAndOrderFollowTheWholeValue) {
  const uint64_t values[] = {0,
                             1,
                             0xffffffffu,
                             uint64_t{1} << 32,
                             (uint64_t{1} << 32) | 1,
                             0x123456789abcdef0u,
                             0x123456799abcdef0u,
                             0x123456789abcdef1u,
                             ~uint64_t{0}};
  for (const uint64_t a : values) {
    for (const uint64_t b : values) {
      EXPECT_EQ(NodeId(a) == NodeId(b), a == b) << a << " " << b;
      EXPECT_EQ(NodeId(a) != NodeId(b), a != b) << a << " " << b;
      EXPECT_EQ(NodeId(a) < NodeId(b), a < b) << a << " " << b;
      EXPECT_EQ((MessageId{NodeId(a), 7} == MessageId{NodeId(b), 7}), a == b);
    }
    EXPECT_EQ(NodeId(a).value(), a);
  }
}

}  // namespace
}  // namespace elara
