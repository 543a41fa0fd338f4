// Tests of the rateless IBLT: exact recovery of random set differences,
// cells needed per differing element (the property anti-entropy's cost
// rests on), chunked and out-of-order cells, and hostile cells.
#include "core/state_sketch.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

std::vector<SketchElement> RandomElements(Random& rng, size_t n) {
  std::set<SketchElement> set;
  while (set.size() < n) {
    set.insert(
        SketchElement{rng.Next64(), static_cast<uint32_t>(rng.Next64()) | 1});
  }
  return {set.begin(), set.end()};
}

// Elements carry a proper tag (its key check) so peeling accepts them.
std::vector<SketchElement> Tagged(uint64_t salt,
                                  const std::vector<SketchElement>& raw) {
  std::vector<SketchElement> out;
  for (const SketchElement& e : raw) {
    out.push_back(
        SketchElement{e.key, SketchTag(salt, StateId(e.key), e.tag, 0)});
  }
  return out;
}

struct Trial {
  std::vector<SketchElement> local;
  std::vector<SketchElement> peer;
  std::set<SketchElement> local_only;
  std::set<SketchElement> peer_only;
};

Trial MakeTrial(Random& rng, uint64_t salt, size_t common, size_t only_local,
                size_t only_peer) {
  const std::vector<SketchElement> all =
      Tagged(salt, RandomElements(rng, common + only_local + only_peer));
  Trial t;
  for (size_t i = 0; i < all.size(); ++i) {
    if (i < common) {
      t.local.push_back(all[i]);
      t.peer.push_back(all[i]);
    } else if (i < common + only_local) {
      t.local.push_back(all[i]);
      t.local_only.insert(all[i]);
    } else {
      t.peer.push_back(all[i]);
      t.peer_only.insert(all[i]);
    }
  }
  return t;
}

// Feeds the peer's cells `chunk` at a time until decoded; returns cells used.
size_t Reconcile(uint64_t salt, const Trial& t, size_t chunk, size_t max_cells,
                 SketchDecoder* decoder) {
  size_t fed = 0;
  while (!decoder->decoded() && !decoder->inconsistent() && fed < max_cells) {
    std::vector<SketchCell> cells(chunk);
    AddToSketch(salt, t.peer, fed, cells);
    decoder->AddPeerCells(fed, cells);
    fed += chunk;
  }
  return fed;
}

TEST(SketchTest, IndexStreamStartsAtZeroAndThins) {
  Random rng(5);
  const uint64_t salt = SketchSalt(7, NodeId(9));
  double indices_below_1000 = 0;
  constexpr int kElements = 2000;
  for (int i = 0; i < kElements; ++i) {
    SketchIndexStream s(salt, SketchElement{rng.Next64(), 1});
    EXPECT_EQ(s.index(), 0u);
    uint64_t previous = 0;
    for (s.Next(); s.index() < 1000; s.Next()) {
      ASSERT_GT(s.index(), previous);
      previous = s.index();
      indices_below_1000 += 1;
    }
    indices_below_1000 += 1;  // index 0
  }
  // Density 2 / (i + 2): sum over i < 1000 is ~ 2 ln(501) + 1 = 13.4.
  const double mean = indices_below_1000 / kElements;
  EXPECT_GT(mean, 11.5);
  EXPECT_LT(mean, 15.0);
}

TEST(SketchTest, SameSaltSameCellsDifferentSaltDifferentCells) {
  Random rng(6);
  const std::vector<SketchElement> set = RandomElements(rng, 100);
  std::vector<SketchCell> a(50), b(50), c(50);
  AddToSketch(1, set, 0, a);
  AddToSketch(1, set, 0, b);
  AddToSketch(2, set, 0, c);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(a[0].count, 100u);  // every element maps to cell 0
  // A window equals the same cells of a longer sketch.
  std::vector<SketchCell> window(20);
  AddToSketch(1, set, 30, window);
  EXPECT_TRUE(std::equal(window.begin(), window.end(), a.begin() + 30));
}

TEST(SketchTest, RecoversExactDifferencesWithFewCellsPerElement) {
  Random rng(7);
  for (size_t d : {0, 1, 2, 5, 20, 100, 400}) {
    double cells_total = 0;
    constexpr int kTrials = 8;
    for (int trial = 0; trial < kTrials; ++trial) {
      const uint64_t salt = rng.Next64();
      const size_t only_local = d / 2;
      const Trial t = MakeTrial(rng, salt, 1000, only_local, d - only_local);
      SketchDecoder decoder(salt, t.local, 100000);
      const size_t cells = Reconcile(salt, t, /*chunk=*/1, 100000, &decoder);
      ASSERT_TRUE(decoder.decoded()) << "d " << d << " trial " << trial;
      EXPECT_EQ(std::set<SketchElement>(decoder.local_only().begin(),
                                        decoder.local_only().end()),
                t.local_only);
      EXPECT_EQ(std::set<SketchElement>(decoder.peer_only().begin(),
                                        decoder.peer_only().end()),
                t.peer_only);
      EXPECT_EQ(decoder.local_only().size() + decoder.peer_only().size(), d);
      cells_total += static_cast<double>(cells);
    }
    const double per_element = cells_total / kTrials / std::max<size_t>(d, 1);
    RecordProperty("cells_per_element_d" + std::to_string(d),
                   std::to_string(per_element));
    if (d >= 20) {
      EXPECT_LT(per_element, 1.9) << "d " << d;
    } else {
      EXPECT_LE(cells_total / kTrials, 3.0 * static_cast<double>(d) + 3)
          << "d " << d;
    }
  }
}

TEST(SketchTest, RecoversTwoVersionsOfTheSameKey) {
  // The common case of anti-entropy: both sides hold the key, with
  // different versions. The two elements share the key; a cell holding
  // both plus a third must not look pure.
  Random rng(12);
  for (size_t d : {1, 10, 50, 200}) {
    size_t cells_total = 0;
    for (int trial = 0; trial < 10; ++trial) {
      const uint64_t salt = rng.Next64();
      Trial t;
      for (size_t i = 0; i < 2000 + d; ++i) {
        const StateId key(rng.Next64());
        // Different age hints: the two versions can never share a tag.
        const SketchElement mine{key.value(), SketchTag(salt, key, i, 1)};
        t.local.push_back(mine);
        if (i < d) {
          const SketchElement theirs{key.value(),
                                     SketchTag(salt, key, i + (1ull << 40), 2)};
          t.peer.push_back(theirs);
          t.local_only.insert(mine);
          t.peer_only.insert(theirs);
        } else {
          t.peer.push_back(mine);
        }
      }
      SketchDecoder decoder(salt, t.local, 100000);
      cells_total += Reconcile(salt, t, /*chunk=*/16, 100000, &decoder);
      ASSERT_TRUE(decoder.decoded()) << "d " << d << " trial " << trial;
      EXPECT_FALSE(decoder.inconsistent());
      EXPECT_EQ(std::set<SketchElement>(decoder.local_only().begin(),
                                        decoder.local_only().end()),
                t.local_only);
      EXPECT_EQ(std::set<SketchElement>(decoder.peer_only().begin(),
                                        decoder.peer_only().end()),
                t.peer_only);
    }
    // Two elements per key; chunks of 16 round up.
    EXPECT_LT(cells_total / 10.0, 1.7 * 2 * d + 16) << "d " << d;
  }
}

TEST(SketchTest, AgeHintsOrderVersionsAndTagsKeepThem) {
  constexpr uint64_t kRef = 1'000'000'000'000;
  EXPECT_EQ(SketchAgeHint(kRef, kRef), 0u);
  EXPECT_EQ(SketchAgeHint(kRef, kRef + 5'000'000), 0u);  // ahead of the ref
  EXPECT_EQ(SketchAgeHint(kRef, kRef - 1'500), 1u);      // ~1 ms
  EXPECT_EQ(SketchAgeHint(kRef, 0), 15u);
  Random rng(13);
  for (int i = 0; i < 10000; ++i) {
    const uint64_t a = rng.UniformBelow(kRef);
    const uint64_t b = rng.UniformBelow(kRef);
    // A smaller hint always means a later wall time.
    if (SketchAgeHint(kRef, a) < SketchAgeHint(kRef, b)) {
      ASSERT_GT(a, b);
    }
    const uint32_t hint = SketchAgeHint(kRef, a);
    const uint32_t tag = SketchTag(rng.Next64(), StateId(b), a, hint);
    ASSERT_EQ(TagAgeHint(tag), hint);
  }
}

TEST(SketchTest, ChunksInAnyOrderAndDuplicatesGiveTheSameResult) {
  Random rng(8);
  const uint64_t salt = 77;
  const Trial t = MakeTrial(rng, salt, 500, 30, 30);
  std::vector<SketchCell> cells(200);
  AddToSketch(salt, t.peer, 0, cells);
  SketchDecoder decoder(salt, t.local, 1000);
  // Second half first, then a duplicate, then the first half.
  decoder.AddPeerCells(100, std::span<const SketchCell>(cells).subspan(100));
  EXPECT_FALSE(decoder.decoded());
  EXPECT_EQ(decoder.contiguous_cells(), 0u);
  decoder.AddPeerCells(100, std::span<const SketchCell>(cells).subspan(100));
  decoder.AddPeerCells(0, std::span<const SketchCell>(cells).subspan(0, 100));
  EXPECT_EQ(decoder.contiguous_cells(), 200u);
  ASSERT_TRUE(decoder.decoded());
  EXPECT_EQ(decoder.local_only().size(), 30u);
  EXPECT_EQ(decoder.peer_only().size(), 30u);
}

TEST(SketchTest, TooFewCellsDoNotDecode) {
  Random rng(9);
  const uint64_t salt = 99;
  const Trial t = MakeTrial(rng, salt, 100, 100, 100);
  std::vector<SketchCell> cells(50);  // far below 1.35 * 200
  AddToSketch(salt, t.peer, 0, cells);
  SketchDecoder decoder(salt, t.local, 1000);
  decoder.AddPeerCells(0, cells);
  EXPECT_FALSE(decoder.decoded());
}

TEST(SketchTest, HostileCellsNeverCrashOrClaimForeignLocals) {
  Random rng(10);
  const uint64_t salt = 1234;
  const std::vector<SketchElement> local =
      Tagged(salt, RandomElements(rng, 50));
  size_t inconsistent = 0;
  for (int trial = 0; trial < 300; ++trial) {
    SketchDecoder decoder(salt, local, 64);
    for (int chunk = 0; chunk < 4; ++chunk) {
      std::vector<SketchCell> cells(rng.UniformBelow(40));
      for (SketchCell& c : cells) {
        c.count = rng.UniformBelow(4);
        c.key_sum = rng.OneIn(2) ? local[rng.UniformBelow(local.size())].key
                                 : rng.Next64();
        c.tag_sum = static_cast<uint32_t>(rng.Next64());
      }
      decoder.AddPeerCells(rng.UniformBelow(80), cells);  // past max too
    }
    inconsistent += decoder.inconsistent() ? 1 : 0;
    for (const SketchElement& e : decoder.local_only()) {
      EXPECT_TRUE(std::binary_search(local.begin(), local.end(), e));
    }
  }
  RecordProperty("inconsistent", static_cast<int>(inconsistent));
}

}  // namespace
}  // namespace elara
