// DedupWindow keeps, per origin, a contiguous floor plus a bitmap of the
// gaps above it, because gossip mostly arrives in order: the common case is
// "next sequence", which just moves the floor and leaves no bitmap at all.
// Reordering (a repair overtaken by a later message) opens a gap that closes
// as soon as the missing sequence arrives or falls out of the window. Gaps
// of up to 64 sequences are handled in the record's inline word; only wider
// ones take the general path over a heap vector of words.
#include "core/dedup_window.h"

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "core/block_growth.h"

namespace elara {
namespace {

constexpr uint64_t kAllOnes = ~uint64_t{0};

// Number of consecutive set bits starting at bit 0.
uint64_t CountTrailingOnes(const std::vector<uint64_t>& words) {
  uint64_t ones = 0;
  for (uint64_t word : words) {
    if (word != kAllOnes) return ones + std::countr_one(word);
    ones += 64;
  }
  return ones;
}

// Drops the lowest `k` bits: bit i + k becomes bit i.
void ShiftRight(std::vector<uint64_t>* words, uint64_t k) {
  const uint64_t word_shift = k / 64;
  if (word_shift >= words->size()) {
    words->clear();
    return;
  }
  words->erase(words->begin(), words->begin() + word_shift);
  const unsigned bit_shift = static_cast<unsigned>(k % 64);
  if (bit_shift != 0) {
    const size_t n = words->size();
    for (size_t i = 0; i < n; ++i) {
      uint64_t high = i + 1 < n ? (*words)[i + 1] << (64 - bit_shift) : 0;
      (*words)[i] = ((*words)[i] >> bit_shift) | high;
    }
  }
  while (!words->empty() && words->back() == 0) words->pop_back();
}

// One word shifted right by k bits; 0 when k >= 64.
uint64_t ShiftWord(uint64_t word, uint64_t k) {
  return k >= 64 ? 0 : word >> k;
}

}  // namespace

DedupWindow::DedupWindow(size_t window_size, size_t max_origins)
    : window_size_(static_cast<uint32_t>(
          std::clamp<size_t>(window_size, 1, UINT32_MAX))),
      max_origins_(static_cast<uint32_t>(
          std::clamp<size_t>(max_origins, 1, kNoSlot - 1))) {}

DedupWindow::~DedupWindow() {
  for (uint32_t i = 0; i < size_; ++i) origins_[i].~Origin();
  ::operator delete(static_cast<void*>(tags_));
}

// The tags, padded to whole kTagBlocks, then to the records' alignment.
size_t DedupWindow::OriginsOffset(size_t capacity) {
  const size_t tags = (capacity + kTagBlock - 1) / kTagBlock * kTagBlock;
  const size_t align = alignof(Origin);
  return (tags * sizeof(uint16_t) + align - 1) / align * align;
}

void DedupWindow::PushOrigin() {
  if (size_ == capacity_) {
    const uint32_t capacity = static_cast<uint32_t>(
        std::max<size_t>(1, NextBlockCapacity(capacity_)));
    const size_t offset = OriginsOffset(capacity);
    std::byte* block = static_cast<std::byte*>(
        ::operator new(offset + capacity * sizeof(Origin)));
    uint16_t* tags = reinterpret_cast<uint16_t*>(block);
    Origin* origins = reinterpret_cast<Origin*>(block + offset);
    for (uint32_t i = 0; i < size_; ++i) {
      tags[i] = tags_[i];
      new (origins + i) Origin(std::move(origins_[i]));
      origins_[i].~Origin();
    }
    // The padding a scan reads past size_: defined, and never a match
    // (ScanTags masks it off).
    std::memset(tags + size_, 0, offset - size_ * sizeof(uint16_t));
    ::operator delete(static_cast<void*>(tags_));
    tags_ = tags;
    origins_ = origins;
    capacity_ = capacity;
  }
  new (origins_ + size_) Origin();
  tags_[size_] = TagOf(NodeId());
  ++size_;
}

uint32_t DedupWindow::Find(NodeId origin) const {
  if (most_recent_ != kNoSlot && most_recent_origin_ == origin) {
    return most_recent_;
  }
  if (Scanning()) {
    const uint16_t tag = TagOf(origin);
    if ((tag_bits_ & TagBit(tag)) == 0) return kNoSlot;
    return ScanTags(tag, origin);
  }
  if (index_ == nullptr) return kNoSlot;
  auto it = index_->find(origin);
  return it == index_->end() ? kNoSlot : it->second;
}

// Every gossip and IHAVE entry looks its origin up here, and most lookups
// scan (a swarm's messages interleave, so the origin is seldom the most
// recent one): kTagBlock tags are compared at once, a few instructions a
// block instead of a few a tag. A matching tag is confirmed against the
// record.
uint32_t DedupWindow::ScanTags(uint16_t tag, NodeId origin) const {
  const uint16_t* tags = tags_;
  const size_t n = size_;
#if defined(__SSE2__)
  // Whole blocks: the padding to a multiple of kTagBlock is allocated and
  // zeroed (PushOrigin), and its lanes are masked off here.
  static_assert(kTagBlock * sizeof(uint16_t) == sizeof(__m128i));
  const __m128i target = _mm_set1_epi16(static_cast<short>(tag));
  for (size_t i = 0; i < n; i += kTagBlock) {
    const __m128i block =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(tags + i));
    // Two mask bits a tag.
    uint32_t matches = static_cast<uint32_t>(
        _mm_movemask_epi8(_mm_cmpeq_epi16(block, target)));
    if (n - i < kTagBlock) matches &= (uint32_t{1} << (2 * (n - i))) - 1;
    while (matches != 0) {
      const size_t slot =
          i + static_cast<size_t>(std::countr_zero(matches)) / 2;
      if (origins_[slot].origin == origin) return static_cast<uint32_t>(slot);
      matches &= matches - 1;  // both bits of that tag
      matches &= matches - 1;
    }
  }
#else
  for (size_t i = 0; i < n; ++i) {
    if (tags[i] == tag && origins_[i].origin == origin) {
      return static_cast<uint32_t>(i);
    }
  }
#endif
  return kNoSlot;
}

DedupWindow::Verdict DedupWindow::Check(MessageId id) const {
  if (id.sequence == 0) return Verdict::kOutsideWindow;
  const uint32_t slot = Find(id.origin);
  if (slot == kNoSlot) return Verdict::kNew;
  return CheckOrigin(origins_[slot], id.sequence);
}

uint64_t DedupWindow::HighestSeen(NodeId origin) const {
  const uint32_t slot = Find(origin);
  return slot == kNoSlot ? 0 : origins_[slot].highest;
}

DedupWindow::Verdict DedupWindow::CheckOrigin(const Origin& o,
                                              uint64_t sequence) const {
  if (sequence == 0) return Verdict::kOutsideWindow;
  if (o.highest >= window_size_ && sequence <= o.highest - window_size_) {
    return Verdict::kOutsideWindow;
  }
  if (sequence <= o.floor) return Verdict::kDuplicate;
  if (sequence > o.highest) return Verdict::kNew;
  const uint64_t bit = sequence - o.floor - 1;
  uint64_t word;
  if (o.spill == nullptr) {
    word = bit < 64 ? o.gap0 : 0;
  } else {
    const std::vector<uint64_t>& spill = *o.spill;
    const uint64_t index = bit / 64;
    word = index < spill.size() ? spill[static_cast<size_t>(index)] : 0;
  }
  return (word >> (bit % 64)) & 1 ? Verdict::kDuplicate : Verdict::kNew;
}

DedupWindow::Verdict DedupWindow::Insert(MessageId id, bool* origin_evicted,
                                         uint64_t* highest_before) {
  *origin_evicted = false;
  uint32_t slot = Find(id.origin);
  if (highest_before != nullptr) {
    *highest_before = slot == kNoSlot ? 0 : origins_[slot].highest;
  }
  if (id.sequence == 0) return Verdict::kOutsideWindow;
  if (slot == kNoSlot) {
    slot = AddOrigin(id.origin, origin_evicted);
    Origin& o = origins_[slot];
    // Sequences up to window_size below the first one seen may still come
    // (reordering, late repair); below that they are outside the window.
    o.floor = id.sequence > window_size_ ? id.sequence - window_size_ : 0;
    o.highest = o.floor;
  } else {
    const Verdict verdict = CheckOrigin(origins_[slot], id.sequence);
    if (verdict != Verdict::kNew) return verdict;
    if (slot != most_recent_) {
      Unlink(slot);
      LinkNewest(slot);
    }
  }
  Record(&origins_[slot], id.sequence);
  return Verdict::kNew;
}

// REQUIRES: CheckOrigin(*o, sequence) == kNew.
void DedupWindow::Record(Origin* o, uint64_t sequence) {
  if (o->spill == nullptr) {
    // Where the floor goes if `sequence` moves the window, and the bit of
    // `sequence` above it: the inline word serves when that bit is < 64.
    const uint64_t floor =
        sequence > o->highest && sequence - o->floor > window_size_
            ? sequence - window_size_
            : o->floor;
    const uint64_t bit = sequence - floor - 1;
    if (bit < 64) {
      uint64_t gaps = ShiftWord(o->gap0, floor - o->floor);
      gaps |= uint64_t{1} << bit;
      const unsigned contiguous = static_cast<unsigned>(std::countr_one(gaps));
      o->gap0 = ShiftWord(gaps, contiguous);
      o->floor = floor + contiguous;
      o->highest = std::max(o->highest, sequence);
      return;
    }
  }
  RecordSpilled(o, sequence);
}

// The general case over a vector of words; keeps spill_words_ exact and
// moves the bitmap back inline (freeing the block) once it fits one word.
void DedupWindow::RecordSpilled(Origin* o, uint64_t sequence) {
  const size_t words_before = SpillWords(*o);
  std::unique_ptr<std::vector<uint64_t>> holder = std::move(o->spill);
  std::vector<uint64_t> gaps =
      holder == nullptr ? std::vector<uint64_t>() : std::move(*holder);
  if (gaps.empty() && o->gap0 != 0) gaps.push_back(o->gap0);
  o->gap0 = 0;
  if (sequence > o->highest) {
    o->highest = sequence;
    if (sequence - o->floor > window_size_) {
      const uint64_t new_floor = sequence - window_size_;
      ShiftRight(&gaps, new_floor - o->floor);
      o->floor = new_floor;
    }
  }
  const uint64_t bit = sequence - o->floor - 1;
  const size_t word = static_cast<size_t>(bit / 64);
  if (word >= gaps.size()) gaps.resize(word + 1, 0);
  gaps[word] |= uint64_t{1} << (bit % 64);
  const uint64_t contiguous = CountTrailingOnes(gaps);
  if (contiguous > 0) {
    ShiftRight(&gaps, contiguous);
    o->floor += contiguous;
  }
  if (gaps.size() <= 1) {
    o->gap0 = gaps.empty() ? 0 : gaps[0];  // back inline; holder is freed
  } else {
    if (gaps.size() * 4 <= gaps.capacity()) gaps.shrink_to_fit();
    if (holder == nullptr) holder = std::make_unique<std::vector<uint64_t>>();
    *holder = std::move(gaps);
    o->spill = std::move(holder);
  }
  spill_words_ = spill_words_ - words_before + SpillWords(*o);
}

uint32_t DedupWindow::AddOrigin(NodeId origin, bool* origin_evicted) {
  uint32_t slot;
  if (size_ >= max_origins_) {
    slot = least_recent_;
    Unlink(slot);
    if (index_ != nullptr) index_->erase(origins_[slot].origin);
    spill_words_ -= SpillWords(origins_[slot]);
    origins_[slot] = Origin{};
    if (origins_evicted_ != UINT32_MAX) ++origins_evicted_;
    *origin_evicted = true;
  } else {
    slot = size_;
    const bool was_scanning = Scanning();
    PushOrigin();
    if (was_scanning && !Scanning()) {
      // Too many to scan: switch to the hash map for good.
      index_ = std::make_unique<absl::flat_hash_map<NodeId, uint32_t>>();
      index_->reserve(size_);
      for (uint32_t i = 0; i < slot; ++i) {
        index_->emplace(origins_[i].origin, i);
      }
    }
  }
  origins_[slot].origin = origin;
  if (Scanning()) {
    tags_[slot] = TagOf(origin);
    tag_bits_ |= TagBit(tags_[slot]);
  } else {
    (*index_)[origin] = slot;
  }
  LinkNewest(slot);
  return slot;
}

void DedupWindow::Unlink(uint32_t slot) {
  Origin& o = origins_[slot];
  if (o.older != kNoSlot) {
    origins_[o.older].newer = o.newer;
  } else {
    least_recent_ = o.newer;
  }
  if (o.newer != kNoSlot) {
    origins_[o.newer].older = o.older;
  } else {
    most_recent_ = o.older;
    if (most_recent_ != kNoSlot) {
      most_recent_origin_ = origins_[most_recent_].origin;
    }
  }
  o.newer = kNoSlot;
  o.older = kNoSlot;
}

void DedupWindow::LinkNewest(uint32_t slot) {
  Origin& o = origins_[slot];
  o.older = most_recent_;
  o.newer = kNoSlot;
  if (most_recent_ != kNoSlot) origins_[most_recent_].newer = slot;
  most_recent_ = slot;
  most_recent_origin_ = o.origin;
  if (least_recent_ == kNoSlot) least_recent_ = slot;
}

size_t DedupWindow::HeapBytes() const {
  return (capacity_ == 0
              ? 0
              : OriginsOffset(capacity_) + capacity_ * sizeof(Origin)) +
         spill_words_ * sizeof(uint64_t) +
         (index_ == nullptr
              ? 0
              : sizeof(*index_) +
                    index_->capacity() *
                        (sizeof(std::pair<const NodeId, uint32_t>) + 1));
}

}  // namespace elara
