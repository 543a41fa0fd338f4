// DedupWindow keeps, per origin, a contiguous floor plus a bitmap of the
// gaps above it, because gossip mostly arrives in order: the common case is
// "next sequence", which just moves the floor and leaves no bitmap at all.
// Reordering (a repair overtaken by a later message) opens a gap that closes
// as soon as the missing sequence arrives or falls out of the window.
#include "core/dedup_window.h"

#include <algorithm>
#include <bit>
#include <utility>

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

}  // namespace

DedupWindow::DedupWindow(size_t window_size, size_t max_origins)
    : window_size_(std::max<size_t>(window_size, 1)),
      max_origins_(std::max<size_t>(max_origins, 1)) {}

DedupWindow::Verdict DedupWindow::Check(MessageId id) const {
  if (id.sequence == 0) return Verdict::kOutsideWindow;
  auto it = index_.find(id.origin);
  if (it == index_.end()) return Verdict::kNew;
  return CheckOrigin(origins_[it->second], id.sequence);
}

uint64_t DedupWindow::HighestSeen(NodeId origin) const {
  auto it = index_.find(origin);
  return it == index_.end() ? 0 : origins_[it->second].highest;
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
  const size_t word = static_cast<size_t>(bit / 64);
  if (word >= o.gaps.size()) return Verdict::kNew;
  return (o.gaps[word] >> (bit % 64)) & 1 ? Verdict::kDuplicate : Verdict::kNew;
}

DedupWindow::Verdict DedupWindow::Insert(MessageId id, bool* origin_evicted,
                                         uint64_t* highest_before) {
  *origin_evicted = false;
  uint32_t slot;
  auto it = index_.find(id.origin);
  if (highest_before != nullptr) {
    *highest_before = it == index_.end() ? 0 : origins_[it->second].highest;
  }
  if (id.sequence == 0) return Verdict::kOutsideWindow;
  if (it == index_.end()) {
    slot = AddOrigin(id.origin, origin_evicted);
    Origin& o = origins_[slot];
    // Sequences up to window_size below the first one seen may still come
    // (reordering, late repair); below that they are outside the window.
    o.floor = id.sequence > window_size_ ? id.sequence - window_size_ : 0;
    o.highest = o.floor;
  } else {
    slot = it->second;
    const Verdict verdict = CheckOrigin(origins_[slot], id.sequence);
    if (verdict != Verdict::kNew) return verdict;
    Unlink(slot);
    LinkNewest(slot);
  }
  Record(&origins_[slot], id.sequence);
  return Verdict::kNew;
}

// REQUIRES: CheckOrigin(*o, sequence) == kNew.
void DedupWindow::Record(Origin* o, uint64_t sequence) {
  const size_t capacity_before = o->gaps.capacity();
  std::vector<uint64_t> gaps = std::move(o->gaps);
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
  SetGaps(o, std::move(gaps), capacity_before);
}

// Installs a new bitmap, keeping the capacity accounting exact and giving
// memory back once a large gap has closed.
void DedupWindow::SetGaps(Origin* o, std::vector<uint64_t> gaps,
                          size_t capacity_before) {
  if (gaps.capacity() > 1 && gaps.size() * 4 <= gaps.capacity()) {
    gaps.shrink_to_fit();
  }
  o->gaps = std::move(gaps);
  gap_words_ = gap_words_ - capacity_before + o->gaps.capacity();
}

uint32_t DedupWindow::AddOrigin(NodeId origin, bool* origin_evicted) {
  uint32_t slot;
  if (index_.size() >= max_origins_) {
    slot = least_recent_;
    Unlink(slot);
    index_.erase(origins_[slot].origin);
    gap_words_ -= origins_[slot].gaps.capacity();
    origins_[slot] = Origin{};
    ++origins_evicted_;
    *origin_evicted = true;
  } else {
    slot = static_cast<uint32_t>(origins_.size());
    origins_.push_back(Origin{});
  }
  origins_[slot].origin = origin;
  index_[origin] = slot;
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
  if (least_recent_ == kNoSlot) least_recent_ = slot;
}

size_t DedupWindow::HeapBytes() const {
  return origins_.capacity() * sizeof(Origin) + gap_words_ * sizeof(uint64_t) +
         index_.capacity() * (sizeof(std::pair<const NodeId, uint32_t>) + 1);
}

}  // namespace elara
