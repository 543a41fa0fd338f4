#include "core/thin_vector.h"

#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace elara {
namespace {

// 28 bytes, alignment 8 after the 8-byte header: a record like
// Membership's NEIGHBOR request.
struct Record {
  uint64_t id = 0;
  uint32_t a = 0;
  uint8_t b = 0;
  uint64_t c = 0;
  bool operator==(const Record&) const = default;
};

template <typename T>
void ExpectSame(const ThinVector<T>& thin, const std::vector<T>& reference) {
  ASSERT_EQ(thin.size(), reference.size());
  EXPECT_EQ(thin.empty(), reference.empty());
  EXPECT_GE(thin.capacity(), thin.size());
  for (size_t i = 0; i < reference.size(); ++i) {
    EXPECT_EQ(thin[i], reference[i]) << "at " << i;
  }
  size_t i = 0;
  for (const T& item : thin) EXPECT_EQ(item, reference[i++]);
}

TEST(ThinVectorTest, EmptyHoldsNoBlock) {
  ThinVector<uint64_t> v;
  EXPECT_EQ(sizeof(v), sizeof(void*));
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.size(), 0u);
  EXPECT_EQ(v.capacity(), 0u);
  EXPECT_EQ(v.HeapBytes(), 0u);
  EXPECT_EQ(v.begin(), v.end());
  v.clear();
  v.Reset();
  EXPECT_EQ(v.HeapBytes(), 0u);
}

TEST(ThinVectorTest, GrowsByDoublingAndCountsItsBlock) {
  ThinVector<uint64_t> v;
  const size_t expected[] = {1, 2, 4, 4, 8, 8, 8, 8, 16};
  for (size_t i = 0; i < std::size(expected); ++i) {
    v.push_back(i);
    EXPECT_EQ(v.capacity(), expected[i]);
    EXPECT_EQ(v.HeapBytes(), 8 + expected[i] * sizeof(uint64_t));
  }
  v.clear();
  EXPECT_TRUE(v.empty());
  EXPECT_EQ(v.capacity(), 16u);  // clear keeps the block
  v.Reset();
  EXPECT_EQ(v.capacity(), 0u);
  EXPECT_EQ(v.HeapBytes(), 0u);
  v.reserve(3);
  EXPECT_EQ(v.capacity(), 3u);
  EXPECT_EQ(v.HeapBytes(), 8 + 3 * sizeof(uint64_t));
  v.reserve(2);  // never shrinks
  EXPECT_EQ(v.capacity(), 3u);
}

TEST(ThinVectorTest, ReserveKeepsContents) {
  ThinVector<uint32_t> v;
  std::vector<uint32_t> reference;
  for (uint32_t i = 0; i < 5; ++i) {
    v.push_back(i * 7);
    reference.push_back(i * 7);
  }
  v.reserve(40);
  EXPECT_EQ(v.capacity(), 40u);
  ExpectSame(v, reference);
}

// Random push_back / erase / clear / Reset against std::vector.
TEST(ThinVectorTest, MatchesStdVector) {
  std::mt19937_64 rng(22);
  ThinVector<Record> v;
  std::vector<Record> reference;
  for (int step = 0; step < 20000; ++step) {
    const uint64_t op = rng() % 100;
    if (op < 55) {
      const Record r{rng(), static_cast<uint32_t>(rng()),
                     static_cast<uint8_t>(rng()), rng()};
      v.push_back(r);
      reference.push_back(r);
    } else if (op < 95) {
      if (reference.empty()) continue;
      const size_t i = rng() % reference.size();
      Record* next = v.erase(v.begin() + i);
      reference.erase(reference.begin() + static_cast<ptrdiff_t>(i));
      EXPECT_EQ(next, v.begin() + i);
    } else if (op < 98) {
      v.clear();
      reference.clear();
    } else {
      v.Reset();
      reference.clear();
    }
    ExpectSame(v, reference);
    if (!reference.empty()) {
      EXPECT_EQ(v.back(), reference.back());
    }
  }
}

TEST(ThinVectorTest, EraseLastAndFirst) {
  ThinVector<uint16_t> v;
  for (uint16_t i = 1; i <= 4; ++i) v.push_back(i);
  const uint16_t* const next = v.erase(v.end() - 1);
  EXPECT_EQ(next, v.end());
  v.erase(v.begin());
  ExpectSame(v, std::vector<uint16_t>{2, 3});
}

// Pushing one of its own elements when the block is full: the element is
// read before the old block is freed (under ASan a read after the free
// fails this test).
TEST(ThinVectorTest, PushBackOfItsOwnElementWhileGrowing) {
  ThinVector<uint64_t> v;
  std::vector<uint64_t> reference;
  v.push_back(7);
  reference.push_back(7);
  for (int i = 0; i < 6; ++i) {
    v.push_back(v[0]);
    reference.push_back(reference[0]);
    v.push_back(v.back());
    reference.push_back(reference.back());
  }
  ExpectSame(v, reference);
}

}  // namespace
}  // namespace elara
