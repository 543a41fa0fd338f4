// File: core/dedup_window.h
//
// DedupWindow: bounded duplicate detection for broadcast messages. A
// MessageId is (origin, sequence), so instead of remembering every id ever
// seen, each origin gets a sliding window of the last `window_size`
// sequence numbers below the highest one seen:
//
//   - a sequence above the window's floor and not yet seen is kNew;
//   - a sequence inside the window and already seen is kDuplicate;
//   - a sequence `window_size` or more below the highest one seen (and the
//     invalid sequence 0) is kOutsideWindow: too old to tell, so the caller
//     must treat it as already seen.
//
// The table of origins is bounded by `max_origins`: recording a new origin
// when it is full evicts the least recently active one (the origin whose
// latest *new* message is the oldest), counted in origins_evicted(). An
// evicted origin's old messages would look new again if they came back;
// that is the price of the bound, and the count makes it visible.
//
// Memory: an origin costs one fixed record plus a bitmap that only covers
// the gaps (sequences above the contiguous "everything up to here was seen"
// floor and below the highest seen). In-order delivery keeps the bitmap
// empty; the bitmap never exceeds window_size bits (128 bytes for 1024).
//
// Determinism: the hash map is used for lookups only; eviction order comes
// from an intrusive least-recently-active list, i.e. from the order of
// Insert calls alone.
//
// Thread-safety: not thread-safe; owned by one Plumtree.
//
// Usage:
//   DedupWindow seen(/*window_size=*/1024, /*max_origins=*/4096);
//   bool origin_evicted = false;
//   if (seen.Insert(id, &origin_evicted) == DedupWindow::Verdict::kNew) ...
#ifndef ELARA_CORE_DEDUP_WINDOW_H_
#define ELARA_CORE_DEDUP_WINDOW_H_

#include <cstddef>
#include <cstdint>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/ids.h"

namespace elara {

class DedupWindow {
 public:
  enum class Verdict : uint8_t { kNew, kDuplicate, kOutsideWindow };

  // REQUIRES: window_size >= 1 and max_origins >= 1 (0 is taken as 1).
  DedupWindow(size_t window_size, size_t max_origins);
  DedupWindow(const DedupWindow&) = delete;
  DedupWindow& operator=(const DedupWindow&) = delete;

  // What Insert would answer, without recording anything.
  Verdict Check(MessageId id) const;
  // Records `id` as seen when it is kNew and returns the verdict it had
  // before the call (state changes only for kNew). Sets *origin_evicted when
  // recording a new origin evicted another one.
  // If `highest_before` is set, it gets HighestSeen(id.origin) as it was
  // before the call (one lookup instead of two).
  Verdict Insert(MessageId id, bool* origin_evicted,
                 uint64_t* highest_before = nullptr);

  // Highest sequence recorded for `origin`; 0 when the origin is unknown.
  uint64_t HighestSeen(NodeId origin) const;
  size_t origin_count() const { return index_.size(); }
  uint64_t origins_evicted() const { return origins_evicted_; }
  size_t window_size() const { return window_size_; }
  // Heap bytes held (records, bitmaps, lookup table); not sizeof(*this).
  size_t HeapBytes() const;

 private:
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  // One origin's window. Invariants:
  //   1. floor <= highest and highest - floor <= window_size.
  //   2. Every sequence <= floor was seen (or fell out of the window).
  //   3. gaps bit i stands for sequence floor + 1 + i; bits for sequences
  //      above highest are 0; the bit for highest is 1 when highest > floor;
  //      bit 0 is 0 (else floor would have advanced over it).
  //   4. gaps has no trailing zero word.
  struct Origin {
    NodeId origin;
    uint64_t highest = 0;
    uint64_t floor = 0;
    uint32_t newer = kNoSlot;  // towards the most recently active
    uint32_t older = kNoSlot;  // towards the least recently active
    std::vector<uint64_t> gaps;
  };

  Verdict CheckOrigin(const Origin& o, uint64_t sequence) const;
  uint32_t AddOrigin(NodeId origin, bool* origin_evicted);
  void Record(Origin* o, uint64_t sequence);
  void Unlink(uint32_t slot);
  void LinkNewest(uint32_t slot);
  void SetGaps(Origin* o, std::vector<uint64_t> gaps, size_t capacity_before);

  size_t window_size_;
  size_t max_origins_;
  uint64_t origins_evicted_ = 0;
  size_t gap_words_ = 0;  // sum of gaps.capacity() over origins
  uint32_t least_recent_ = kNoSlot;
  uint32_t most_recent_ = kNoSlot;
  std::vector<Origin> origins_;
  absl::flat_hash_map<NodeId, uint32_t> index_;  // origin -> slot
};

}  // namespace elara

#endif  // ELARA_CORE_DEDUP_WINDOW_H_
