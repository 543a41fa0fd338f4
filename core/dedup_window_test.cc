// Tests of DedupWindow: verdicts at the window's edges, reordering, origin
// eviction order, memory of in-order streams, and a randomized comparison
// against an unbounded reference model.
#include "core/dedup_window.h"

#include <algorithm>
#include <map>
#include <set>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

using Verdict = DedupWindow::Verdict;

MessageId Id(uint64_t origin, uint64_t sequence) {
  return MessageId{NodeId(origin), sequence};
}

// Every insert also checks Insert's highest_before against HighestSeen.
Verdict Insert(DedupWindow* window, MessageId id) {
  bool evicted = false;
  const uint64_t expected = window->HighestSeen(id.origin);
  uint64_t highest_before = ~uint64_t{0};
  const Verdict verdict = window->Insert(id, &evicted, &highest_before);
  EXPECT_EQ(highest_before, expected);
  return verdict;
}

TEST(DedupWindowTest, NewThenDuplicate) {
  DedupWindow window(64, 16);
  EXPECT_EQ(window.Check(Id(1, 1)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(1, 1)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 1)), Verdict::kDuplicate);
  EXPECT_EQ(Insert(&window, Id(1, 1)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(2, 1)), Verdict::kNew);
  EXPECT_EQ(window.origin_count(), 1u);
}

TEST(DedupWindowTest, SequenceZeroIsNeverNew) {
  DedupWindow window(64, 16);
  EXPECT_EQ(window.Check(Id(1, 0)), Verdict::kOutsideWindow);
  EXPECT_EQ(Insert(&window, Id(1, 0)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.origin_count(), 0u);
}

TEST(DedupWindowTest, ReorderingInsideWindow) {
  DedupWindow window(64, 16);
  EXPECT_EQ(Insert(&window, Id(1, 1)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(1, 5)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 3)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(1, 3)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 3)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(1, 2)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 4)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 6)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(1, 2)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(1, 4)), Verdict::kNew);
  for (uint64_t s = 1; s <= 5; ++s) {
    EXPECT_EQ(window.Check(Id(1, s)), Verdict::kDuplicate) << s;
  }
}

TEST(DedupWindowTest, OutsideWindowBelowHighestMinusSize) {
  DedupWindow window(8, 16);
  for (uint64_t s = 1; s <= 20; ++s) Insert(&window, Id(1, s));
  // highest = 20, window 8: 13..20 are inside, 12 and below are outside.
  EXPECT_EQ(window.Check(Id(1, 12)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.Check(Id(1, 1)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.Check(Id(1, 13)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(1, 21)), Verdict::kNew);
}

TEST(DedupWindowTest, JumpAheadKeepsUnseenSequencesInsideWindowNew) {
  DedupWindow window(8, 16);
  Insert(&window, Id(1, 1));
  Insert(&window, Id(1, 100));
  EXPECT_EQ(window.Check(Id(1, 92)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.Check(Id(1, 93)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 99)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 100)), Verdict::kDuplicate);
}

TEST(DedupWindowTest, FirstSightingLateInTheStream) {
  DedupWindow window(1024, 16);
  EXPECT_EQ(Insert(&window, Id(7, 5000)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(7, 3976)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.Check(Id(7, 3977)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(7, 4999)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(7, 4999)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(7, 4999)), Verdict::kDuplicate);
}

TEST(DedupWindowTest, EvictsLeastRecentlyActiveOrigin) {
  DedupWindow window(64, 3);
  bool evicted = false;
  window.Insert(Id(1, 1), &evicted);
  window.Insert(Id(2, 1), &evicted);
  window.Insert(Id(3, 1), &evicted);
  EXPECT_FALSE(evicted);
  window.Insert(Id(1, 2), &evicted);  // origin 1 is active again
  EXPECT_FALSE(evicted);
  window.Insert(Id(4, 1), &evicted);  // evicts origin 2, the least recent
  EXPECT_TRUE(evicted);
  EXPECT_EQ(window.origins_evicted(), 1u);
  EXPECT_EQ(window.origin_count(), 3u);
  EXPECT_EQ(window.Check(Id(2, 1)), Verdict::kNew);  // forgotten
  EXPECT_EQ(window.Check(Id(1, 2)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(3, 1)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(4, 1)), Verdict::kDuplicate);
  // Duplicates do not count as activity: origin 3 goes next.
  window.Insert(Id(3, 1), &evicted);
  EXPECT_FALSE(evicted);
  window.Insert(Id(5, 1), &evicted);
  EXPECT_TRUE(evicted);
  EXPECT_EQ(window.Check(Id(3, 1)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 2)), Verdict::kDuplicate);
  EXPECT_EQ(window.origins_evicted(), 2u);
}

// Origins whose scan tags collide are still told apart (the tag only
// narrows the scan; the record's id decides), in both scan orders and
// through eviction and reuse of the slot.
TEST(DedupWindowTest, OriginsSharingATagStayApart) {
  // Three origins with one tag, found by search (16-bit tags: a few
  // hundred thousand candidates at most).
  std::vector<uint64_t> same_tag = {1};
  const uint16_t tag = DedupWindow::TagOf(NodeId(1));
  for (uint64_t v = 2; same_tag.size() < 3; ++v) {
    if (DedupWindow::TagOf(NodeId(v)) == tag) same_tag.push_back(v);
  }
  const uint64_t a = same_tag[0], b = same_tag[1], c = same_tag[2];
  DedupWindow window(64, 2);
  EXPECT_EQ(Insert(&window, Id(a, 1)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(b, 1)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(a, 1)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(b, 1)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(a, 2)), Verdict::kNew);
  EXPECT_EQ(window.HighestSeen(NodeId(a)), 1u);
  EXPECT_EQ(Insert(&window, Id(a, 2)), Verdict::kNew);  // b least recent
  EXPECT_EQ(window.HighestSeen(NodeId(a)), 2u);
  EXPECT_EQ(window.HighestSeen(NodeId(b)), 1u);
  // c takes b's slot (b is evicted): same tag, different id.
  bool evicted = false;
  EXPECT_EQ(window.Insert(Id(c, 5), &evicted), Verdict::kNew);
  EXPECT_TRUE(evicted);
  EXPECT_EQ(window.Check(Id(b, 1)), Verdict::kNew);  // forgotten
  EXPECT_EQ(window.HighestSeen(NodeId(b)), 0u);
  EXPECT_EQ(window.HighestSeen(NodeId(c)), 5u);
  EXPECT_EQ(window.Check(Id(a, 2)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(c, 5)), Verdict::kDuplicate);
}

// The scan compares kTagBlock tags at once: every slot of every block (the
// last one partly filled, its padding masked off) is found, origins sharing
// a tag in one block or across blocks are told apart, and unknown origins
// whose tag matches a known one (or the zero padding) are not found.
TEST(DedupWindowTest, ScanFindsEverySlotOfEveryTagBlock) {
  // Groups of origins sharing a tag: the group of NodeId(g + 1) for g < 4,
  // plus an origin whose tag is 0, the value of the padding.
  std::vector<std::vector<uint64_t>> groups;
  for (uint64_t g = 1; g <= 4; ++g) groups.push_back({g});
  std::vector<uint64_t> zero_tag;
  auto done = [&] {
    for (const auto& group : groups) {
      if (group.size() < 12) return false;
    }
    return zero_tag.size() == 2;
  };
  for (uint64_t v = 5; v < (uint64_t{1} << 26) && !done(); ++v) {
    const uint16_t tag = DedupWindow::TagOf(NodeId(v));
    if (tag == 0 && zero_tag.size() < 2) zero_tag.push_back(v);
    for (auto& group : groups) {
      if (group.size() < 12 && DedupWindow::TagOf(NodeId(group[0])) == tag) {
        group.push_back(v);
      }
    }
  }
  ASSERT_EQ(zero_tag.size(), 2u);
  // Known: 7 of each group interleaved (28), then one zero-tag origin; the
  // rest of each group and the other zero-tag origin stay unknown.
  std::vector<uint64_t> known, unknown;
  for (size_t k = 0; k < 12; ++k) {
    for (const auto& group : groups) {
      ASSERT_EQ(group.size(), 12u);
      (k < 7 ? known : unknown).push_back(group[k]);
    }
  }
  known.push_back(zero_tag[0]);
  unknown.push_back(zero_tag[1]);
  ASSERT_LE(known.size(), DedupWindow::kScanOrigins);
  DedupWindow window(64, DedupWindow::kScanOrigins);
  for (size_t n = 0; n < known.size(); ++n) {
    // Sizes 1..29: every fill of a block. Each known origin's sequence is
    // its index + 1, so a wrong slot shows as a wrong HighestSeen.
    EXPECT_EQ(Insert(&window, Id(known[n], n + 1)), Verdict::kNew);
    for (size_t k = 0; k <= n; ++k) {
      ASSERT_EQ(window.HighestSeen(NodeId(known[k])), k + 1)
          << "size " << n + 1 << " origin " << k;
      ASSERT_EQ(window.Check(Id(known[k], k + 1)), Verdict::kDuplicate);
    }
    for (size_t k = n + 1; k < known.size(); ++k) {
      ASSERT_EQ(window.HighestSeen(NodeId(known[k])), 0u);
    }
    for (const uint64_t origin : unknown) {
      ASSERT_EQ(window.HighestSeen(NodeId(origin)), 0u);
      ASSERT_EQ(window.Check(Id(origin, 1)), Verdict::kNew);
    }
  }
}

TEST(DedupWindowTest, InOrderStreamKeepsNoBitmap) {
  DedupWindow window(1024, 16);
  Insert(&window, Id(1, 1));
  const size_t one_message = window.HeapBytes();
  for (uint64_t s = 2; s <= 10000; ++s) Insert(&window, Id(1, s));
  EXPECT_EQ(window.HeapBytes(), one_message);
  // A gap costs a bitmap; closing it gives the memory back.
  Insert(&window, Id(1, 10500));
  EXPECT_GT(window.HeapBytes(), one_message);
  EXPECT_LE(window.HeapBytes(), one_message + 1024 / 8);
  for (uint64_t s = 10001; s < 10500; ++s) Insert(&window, Id(1, s));
  EXPECT_LE(window.HeapBytes(), one_message);
}

TEST(DedupWindowTest, BitmapNeverExceedsWindow) {
  DedupWindow window(1024, 16);
  Random rng(3);
  size_t max_bytes = 0;
  for (int i = 0; i < 20000; ++i) {
    Insert(&window, Id(1, 1 + rng.UniformBelow(100000)));
    max_bytes = std::max(max_bytes, window.HeapBytes());
  }
  DedupWindow empty(1024, 16);
  Insert(&empty, Id(1, 1));
  // One origin record plus at most window_size bits (with vector slack)
  // and the spill's vector object.
  EXPECT_LE(max_bytes,
            empty.HeapBytes() + 2 * 1024 / 8 + sizeof(std::vector<uint64_t>));
}

TEST(DedupWindowTest, GapWithinOneWordStaysInline) {
  DedupWindow window(1024, 16);
  Insert(&window, Id(1, 1));
  const size_t one_message = window.HeapBytes();
  // Sequences 2..64 missing: the gap bitmap fits the record's own word.
  EXPECT_EQ(Insert(&window, Id(1, 65)), Verdict::kNew);
  EXPECT_EQ(window.HeapBytes(), one_message);
  EXPECT_EQ(window.Check(Id(1, 64)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 65)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(1, 66)), Verdict::kNew);
  // One more bit spills to the heap ...
  EXPECT_EQ(Insert(&window, Id(1, 66)), Verdict::kNew);
  EXPECT_GT(window.HeapBytes(), one_message);
  EXPECT_EQ(window.Check(Id(1, 66)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(1, 2)), Verdict::kNew);
  // ... and comes back inline, freeing the block, once the gap narrows.
  EXPECT_EQ(Insert(&window, Id(1, 2)), Verdict::kNew);
  EXPECT_EQ(Insert(&window, Id(1, 3)), Verdict::kNew);
  EXPECT_EQ(window.HeapBytes(), one_message);
  for (uint64_t s = 1; s <= 3; ++s) {
    EXPECT_EQ(window.Check(Id(1, s)), Verdict::kDuplicate) << s;
  }
  for (uint64_t s = 4; s <= 64; ++s) {
    EXPECT_EQ(window.Check(Id(1, s)), Verdict::kNew) << s;
  }
  EXPECT_EQ(window.Check(Id(1, 65)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(1, 66)), Verdict::kDuplicate);
  for (uint64_t s = 4; s <= 64; ++s) Insert(&window, Id(1, s));
  EXPECT_EQ(Insert(&window, Id(1, 67)), Verdict::kNew);  // contiguous again
  EXPECT_EQ(window.HeapBytes(), one_message);
  EXPECT_EQ(window.HighestSeen(NodeId(1)), 67u);
}

TEST(DedupWindowTest, WindowSlideMovesAnInlineGap) {
  DedupWindow window(40, 4);
  Insert(&window, Id(1, 1));
  Insert(&window, Id(1, 3));   // 2 missing
  Insert(&window, Id(1, 30));  // 4..29 missing
  // 50 moves the floor to 10: 2 falls out, 3 is below the floor.
  EXPECT_EQ(Insert(&window, Id(1, 50)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 2)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.Check(Id(1, 10)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.Check(Id(1, 11)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 30)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(1, 49)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 50)), Verdict::kDuplicate);
  // Far ahead: the whole inline word is shifted out.
  EXPECT_EQ(Insert(&window, Id(1, 500)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 460)), Verdict::kOutsideWindow);
  EXPECT_EQ(window.Check(Id(1, 461)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 499)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 500)), Verdict::kDuplicate);
}

// More origins than a scan serves: lookups move to the hash map, and
// eviction still follows activity across the switch.
TEST(DedupWindowTest, ManyOriginsSwitchToMapAndKeepEvictionOrder) {
  constexpr uint64_t kOrigins = DedupWindow::kScanOrigins + 8;
  DedupWindow window(64, kOrigins);
  bool evicted = false;
  // Origins 1..kScanOrigins, then reactivate origin 1 before the switch.
  for (uint64_t o = 1; o <= DedupWindow::kScanOrigins; ++o) {
    EXPECT_EQ(window.Insert(Id(o, 1), &evicted), Verdict::kNew);
    EXPECT_FALSE(evicted);
  }
  EXPECT_EQ(window.Insert(Id(1, 2), &evicted), Verdict::kNew);
  const size_t scanned = window.HeapBytes();
  for (uint64_t o = DedupWindow::kScanOrigins + 1; o <= kOrigins; ++o) {
    EXPECT_EQ(window.Insert(Id(o, 1), &evicted), Verdict::kNew);
    EXPECT_FALSE(evicted);
  }
  EXPECT_GT(window.HeapBytes(), scanned);  // the map is counted
  EXPECT_EQ(window.origin_count(), kOrigins);
  for (uint64_t o = 1; o <= kOrigins; ++o) {
    EXPECT_EQ(window.Check(Id(o, 1)), Verdict::kDuplicate) << o;
    EXPECT_EQ(window.HighestSeen(NodeId(o)), o == 1 ? 2u : 1u) << o;
  }
  EXPECT_EQ(window.Check(Id(kOrigins + 1, 1)), Verdict::kNew);
  // Least recently active: 2, then 3 (origin 1 was active after them).
  window.Insert(Id(kOrigins + 1, 1), &evicted);
  EXPECT_TRUE(evicted);
  EXPECT_EQ(window.Check(Id(2, 1)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(1, 2)), Verdict::kDuplicate);
  window.Insert(Id(3, 5), &evicted);  // origin 3 active: 4 goes next
  EXPECT_FALSE(evicted);
  window.Insert(Id(kOrigins + 2, 1), &evicted);
  EXPECT_TRUE(evicted);
  EXPECT_EQ(window.Check(Id(4, 1)), Verdict::kNew);
  EXPECT_EQ(window.Check(Id(3, 5)), Verdict::kDuplicate);
  EXPECT_EQ(window.Check(Id(3, 4)), Verdict::kNew);
  EXPECT_EQ(window.origins_evicted(), 2u);
  EXPECT_EQ(window.origin_count(), kOrigins);
}

// Reference: an unbounded set of seen sequences per origin.
class ReferenceWindow {
 public:
  explicit ReferenceWindow(uint64_t window) : window_(window) {}
  Verdict Insert(uint64_t origin, uint64_t sequence) {
    uint64_t& highest = highest_[origin];
    std::set<uint64_t>& seen = seen_[origin];
    Verdict verdict;
    if (highest >= window_ && sequence <= highest - window_) {
      verdict = Verdict::kOutsideWindow;
    } else if (seen.contains(sequence)) {
      verdict = Verdict::kDuplicate;
    } else {
      verdict = Verdict::kNew;
      seen.insert(sequence);
      highest = std::max(highest, sequence);
    }
    return verdict;
  }

 private:
  uint64_t window_;
  std::map<uint64_t, uint64_t> highest_;
  std::map<uint64_t, std::set<uint64_t>> seen_;
};

TEST(DedupWindowTest, MatchesReferenceUnderRandomReordering) {
  constexpr uint64_t kWindow = 100;
  DedupWindow window(kWindow, 8);
  ReferenceWindow reference(kWindow);
  Random rng(11);
  uint64_t next[3] = {1, 1, 1};
  int outside = 0;
  for (int i = 0; i < 200000; ++i) {
    const uint64_t origin = rng.UniformBelow(3);
    // Mostly near the head of the stream, sometimes far behind or ahead.
    uint64_t sequence;
    const uint64_t r = rng.UniformBelow(100);
    if (r < 70) {
      sequence = next[origin]++;
    } else if (r < 95) {
      const uint64_t back = rng.UniformBelow(2 * kWindow);
      sequence = next[origin] > back ? next[origin] - back : 1;
    } else {
      next[origin] += rng.UniformBelow(3 * kWindow);
      sequence = next[origin];
    }
    const Verdict expected = reference.Insert(origin, sequence);
    ASSERT_EQ(Insert(&window, Id(origin, sequence)), expected)
        << "step " << i << " origin " << origin << " sequence " << sequence;
    if (expected == Verdict::kOutsideWindow) ++outside;
  }
  EXPECT_GT(outside, 1000);  // the edge was exercised
}

// Reference with the origin bound: the least recently active origin (the
// one whose latest kNew insert is the oldest) is forgotten to make room.
class BoundedReference {
 public:
  BoundedReference(uint64_t window, size_t max_origins)
      : window_(window), max_origins_(max_origins) {}
  Verdict Insert(uint64_t origin, uint64_t sequence, bool* evicted) {
    *evicted = false;
    if (sequence == 0) return Verdict::kOutsideWindow;
    auto it = origins_.find(origin);
    if (it == origins_.end()) {
      if (origins_.size() == max_origins_) {
        auto oldest = std::min_element(
            origins_.begin(), origins_.end(), [](const auto& a, const auto& b) {
              return a.second.active < b.second.active;
            });
        origins_.erase(oldest);
        *evicted = true;
      }
      it = origins_.emplace(origin, State{}).first;
    }
    State& o = it->second;
    if (o.highest >= window_ && sequence <= o.highest - window_) {
      return Verdict::kOutsideWindow;
    }
    if (o.seen.contains(sequence)) return Verdict::kDuplicate;
    o.seen.insert(sequence);
    o.highest = std::max(o.highest, sequence);
    o.active = ++clock_;
    return Verdict::kNew;
  }

 private:
  struct State {
    uint64_t highest = 0;
    uint64_t active = 0;
    std::set<uint64_t> seen;
  };
  uint64_t window_;
  size_t max_origins_;
  uint64_t clock_ = 0;
  std::map<uint64_t, State> origins_;
};

// Origins come and go across the scan/map switch and the eviction bound;
// reordering opens gaps that stay inline or spill.
TEST(DedupWindowTest, MatchesBoundedReferenceWithManyOrigins) {
  for (const size_t max_origins :
       {size_t{5}, DedupWindow::kScanOrigins, DedupWindow::kScanOrigins + 1,
        size_t{3} * DedupWindow::kScanOrigins}) {
    constexpr uint64_t kWindow = 150;
    const uint64_t origins = max_origins + max_origins / 2 + 2;
    DedupWindow window(kWindow, max_origins);
    BoundedReference reference(kWindow, max_origins);
    Random rng(17 + max_origins);
    std::vector<uint64_t> next(origins, 1);
    uint64_t evictions = 0;
    for (int i = 0; i < 100000; ++i) {
      // Skewed towards low origin numbers, so some stay and some churn.
      const uint64_t origin = rng.UniformBelow(1 + rng.UniformBelow(origins));
      uint64_t sequence;
      const uint64_t r = rng.UniformBelow(100);
      if (r < 60) {
        sequence = next[origin]++;
      } else if (r < 90) {
        const uint64_t back = rng.UniformBelow(r < 80 ? 64 : 2 * kWindow);
        sequence = next[origin] > back ? next[origin] - back : 1;
      } else {
        next[origin] += rng.UniformBelow(r < 97 ? 60 : 3 * kWindow);
        sequence = next[origin];
      }
      bool ref_evicted = false;
      const Verdict expected = reference.Insert(origin, sequence, &ref_evicted);
      bool evicted = false;
      ASSERT_EQ(window.Insert(Id(origin, sequence), &evicted), expected)
          << "max_origins " << max_origins << " step " << i << " origin "
          << origin << " sequence " << sequence;
      ASSERT_EQ(evicted, ref_evicted) << "step " << i;
      if (evicted) ++evictions;
    }
    EXPECT_EQ(window.origins_evicted(), evictions);
    EXPECT_GT(evictions, 100u) << max_origins;
    EXPECT_EQ(window.origin_count(), max_origins);
  }
}

}  // namespace
}  // namespace elara
