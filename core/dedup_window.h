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
// Its first 64 bits live inside the record; only a wider gap spills to a
// heap block, which is freed again once the gap fits in 64 bits. The tag
// array in front of the records is padded to a whole kTagBlock (16 bytes),
// so a scan needs no tail: at most 14 bytes more than the tags alone, at
// most 8 more than the old padding to the records' alignment.
//
// Lookups: each event of a large simulation touches a different node, so
// these structures are usually cold in cache. The most recently active
// origin is answered from a copy of its id kept in the object itself; up
// to kScanOrigins origins are found by scanning a compact array of 16-bit
// tags of their ids, kTagBlock at a time (SSE2 on x86-64; a matching tag
// is confirmed against the full id), unless a 32-bit summary of the tags
// recorded (one bit per tag's low 5 bits) already shows that the origin is
// unknown; beyond that a hash map (built once, kept) finds them.
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
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/ids.h"

namespace elara {

class DedupWindow {
 public:
  enum class Verdict : uint8_t { kNew, kDuplicate, kOutsideWindow };

  // REQUIRES: window_size >= 1 and max_origins >= 1 (0 is taken as 1);
  // max_origins above 2^32 - 2 is taken as that, window_size above
  // 2^32 - 1 as that (a validated config's are at most 2^24 and 2^16).
  DedupWindow(size_t window_size, size_t max_origins);
  DedupWindow(const DedupWindow&) = delete;
  DedupWindow& operator=(const DedupWindow&) = delete;
  ~DedupWindow();

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
  size_t origin_count() const { return size_; }
  // Origins evicted so far, saturating at UINT32_MAX (so it is 0 exactly
  // while none was).
  uint64_t origins_evicted() const { return origins_evicted_; }
  size_t window_size() const { return window_size_; }
  // Heap bytes held (records, bitmaps, lookup tables); not sizeof(*this).
  size_t HeapBytes() const;
  // Cache hint: starts loading the fields a lookup reads first. No effect
  // on behaviour.
  void Prefetch() const {
    __builtin_prefetch(this);
    __builtin_prefetch(reinterpret_cast<const char*>(this) + 64);
  }

  // Origins found by a linear scan of their tags; more switch to a hash
  // map.
  static constexpr size_t kScanOrigins = 32;
  // Tags compared at once by the scan (16 bytes).
  static constexpr size_t kTagBlock = 8;
  // Scan tag of an origin: 16 bits of a multiplicative hash of its id.
  // Distinct origins may share a tag (tests use this to build collisions).
  static uint16_t TagOf(NodeId origin) {
    return static_cast<uint16_t>((origin.value() * 0x9e3779b97f4a7c15ull) >>
                                 48);
  }

 private:
  static constexpr uint32_t kNoSlot = UINT32_MAX;

  // One origin's window. Invariants:
  //   1. floor <= highest and highest - floor <= window_size.
  //   2. Every sequence <= floor was seen (or fell out of the window).
  //   3. gap bit i stands for sequence floor + 1 + i; bits for sequences
  //      above highest are 0; the bit for highest is 1 when highest > floor;
  //      bit 0 is 0 (else floor would have advanced over it).
  //   4. The gap bitmap is gap0 (bits 0..63) while spill is null; else it
  //      is *spill, which then has at least two words, no trailing zero
  //      word, and gap0 is 0. (A pointer, not an inline vector: 48-byte
  //      records instead of 64, and spills are rare.)
  struct Origin {
    NodeId origin;
    uint64_t highest = 0;
    uint64_t floor = 0;
    uint32_t newer = kNoSlot;  // towards the most recently active
    uint32_t older = kNoSlot;  // towards the least recently active
    uint64_t gap0 = 0;
    std::unique_ptr<std::vector<uint64_t>> spill;
  };
  // Words a record's spill holds on the heap (its vector object counted as
  // words too); 0 without one.
  static size_t SpillWords(const Origin& o) {
    return o.spill == nullptr
               ? 0
               : o.spill->capacity() +
                     sizeof(std::vector<uint64_t>) / sizeof(uint64_t);
  }

  // Slot of `origin`, or kNoSlot.
  uint32_t Find(NodeId origin) const;
  // Find's scan of the tags: the slot below size_ whose tag is `tag` and
  // whose record holds `origin`, or kNoSlot.
  uint32_t ScanTags(uint16_t tag, NodeId origin) const;
  Verdict CheckOrigin(const Origin& o, uint64_t sequence) const;
  uint32_t AddOrigin(NodeId origin, bool* origin_evicted);
  void Record(Origin* o, uint64_t sequence);
  void RecordSpilled(Origin* o, uint64_t sequence);
  void Unlink(uint32_t slot);
  void LinkNewest(uint32_t slot);
  // Appends a default Origin (and an id slot while scanning), growing the
  // block by NextBlockCapacity (core/block_growth.h).
  void PushOrigin();
  static size_t OriginsOffset(size_t capacity);

  // What a lookup reads comes first, so that it shares one or two lines
  // (see Prefetch). The 4-byte fields pair up without holes: 72 bytes,
  // where a size_t window_size_ and a 64-bit eviction count took 80.
  uint32_t window_size_;
  uint32_t most_recent_ = kNoSlot;
  NodeId most_recent_origin_;  // origins_[most_recent_].origin
  uint32_t least_recent_ = kNoSlot;
  uint32_t origins_evicted_ = 0;  // saturating (see origins_evicted())
  // One heap block of capacity_ slots: a 16-bit tag per slot (TagOf its
  // origin; scanned while size_ <= kScanOrigins, then unused), then the
  // origin records (size_ of them constructed; slots are reused, never
  // freed). A scan reads the tags -- 32 origins in 64 bytes, where their
  // 8-byte ids took 256 -- and confirms a matching tag against the record's
  // id, the line CheckOrigin reads next anyway. One block, so a lookup's
  // scan and the record it finds share pages. The tags run to a multiple
  // of kTagBlock (those past size_ are zero, and never taken as a match).
  uint16_t* tags_ = nullptr;
  Origin* origins_ = nullptr;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
  bool Scanning() const { return size_ <= kScanOrigins; }
  // Bit TagOf(o) % 32 is set for every origin o given a slot while
  // scanning (never cleared: an evicted origin's bit may stay, which only
  // costs a scan). A clear bit answers "unknown" without scanning.
  static uint32_t TagBit(uint16_t tag) { return uint32_t{1} << (tag % 32); }
  uint32_t tag_bits_ = 0;
  // At most this many origins (a slot is a uint32_t).
  uint32_t max_origins_;
  // origin -> slot, once size_ > kScanOrigins (else null: 8 bytes, not
  // a 40-byte empty map, in every node that never sees that many).
  std::unique_ptr<absl::flat_hash_map<NodeId, uint32_t>> index_;
  size_t spill_words_ = 0;  // sum of SpillWords over origins
};

}  // namespace elara

#endif  // ELARA_CORE_DEDUP_WINDOW_H_
