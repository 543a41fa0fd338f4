// The index sequence: with P(cell i holds an element) = 2 / (i + 2), the
// chance that an element at index i skips every cell up to j is
// ((i+1)(i+2)) / ((j+1)(j+2)) ~ ((i+1.5)/(j+1.5))^2, so the next index is
// drawn by inverting that: gap = ceil((i + 1.5) * (1/sqrt(u) - 1)) for u
// uniform in (0, 1] (the paper's construction, alpha = 0.5).
#include "core/state_sketch.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "core/random.h"
#include "core/state_hash.h"

namespace elara {
namespace {

// Indices stop growing here; far beyond any sketch a round can afford.
constexpr uint64_t kIndexCeiling = uint64_t{1} << 40;

// Lower 16 bits of a tag: a check of the key and the upper 16 bits, so a
// cell holding one element can be told from a cell holding several (the
// check of a sum of elements is not the sum of their checks), even when
// two of them share the key (two versions of one entry).
uint32_t ElementCheck(uint64_t salt, uint64_t key, uint32_t version_bits) {
  return static_cast<uint32_t>(
      Mix64(salt ^ Mix64(key + kGoldenGamma) ^ version_bits) >> 48);
}

// Counts travel modulo 256; differences are read as signed bytes, exact
// while fewer than 128 differing elements share a cell (cell 0 may wrap;
// it only has to come back to 0).
int64_t Wrap(int64_t count) { return static_cast<int8_t>(count & 0xff); }

}  // namespace

uint64_t SketchSalt(uint32_t round, NodeId initiator) {
  return HashCombine(Mix64(round), initiator.value());
}

uint32_t SketchAgeHint(uint64_t reference_us, uint64_t wall_us) {
  const uint64_t age_ms =
      reference_us > wall_us ? (reference_us - wall_us) >> 10 : 0;
  // Buckets of a factor 4: [0, 1 ms), [1, 4 ms), [4, 16 ms), ...; 4^14 ms
  // is 8.5 years.
  const uint32_t log2 = static_cast<uint32_t>(std::bit_width(age_ms));
  return std::min<uint32_t>(15, (log2 + 1) / 2);
}

uint32_t SketchTag(uint64_t salt, StateId key, uint64_t fingerprint,
                   uint32_t age_hint) {
  const uint32_t upper = ((age_hint & 15) << 12) |
                         static_cast<uint32_t>(Mix64(salt + fingerprint) >> 52);
  return (upper << 16) | ElementCheck(salt, key.value(), upper);
}

SketchIndexStream::SketchIndexStream(uint64_t salt,
                                     const SketchElement& element)
    : state_(HashCombine(salt ^ element.key, element.tag)) {}

void SketchIndexStream::Next() {
  const uint64_t r = SplitMix64(&state_);
  const double u = static_cast<double>((r >> 11) + 1) * 0x1.0p-53;  // (0, 1]
  double gap = std::ceil((static_cast<double>(index_) + 1.5) *
                         (1.0 / std::sqrt(u) - 1.0));
  if (!(gap >= 1.0)) gap = 1.0;
  if (gap > static_cast<double>(kIndexCeiling)) {
    gap = static_cast<double>(kIndexCeiling);
  }
  index_ = std::min(index_ + static_cast<uint64_t>(gap), kIndexCeiling);
}

void AddToSketch(uint64_t salt, std::span<const SketchElement> elements,
                 uint64_t start, std::span<SketchCell> cells) {
  const uint64_t end = start + cells.size();
  for (const SketchElement& e : elements) {
    for (SketchIndexStream s(salt, e); s.index() < end; s.Next()) {
      if (s.index() < start) continue;
      SketchCell& c = cells[s.index() - start];
      c.count = static_cast<uint8_t>(c.count + 1);  // modulo 256
      c.key_sum ^= e.key;
      c.tag_sum ^= e.tag;
    }
  }
}

SketchDecoder::SketchDecoder(uint64_t salt, std::vector<SketchElement> local,
                             size_t max_cells)
    : salt_(salt), local_(std::move(local)), max_cells_(max_cells) {
  std::sort(local_.begin(), local_.end());
}

bool SketchDecoder::IsPure(uint64_t index) const {
  const DiffCell& c = cells_[index];
  if (!c.present || (c.count != 1 && c.count != -1)) return false;
  if ((c.tag_sum & 0xffff) != ElementCheck(salt_, c.key_sum, c.tag_sum >> 16)) {
    return false;
  }
  // The element must map to this very cell.
  SketchIndexStream s(salt_, SketchElement{c.key_sum, c.tag_sum});
  while (s.index() < index) s.Next();
  return s.index() == index;
}

// Takes `element` (counted `sign` in the difference) out of the cells in
// [begin, end) that are present (fresh_only: that are being added).
void SketchDecoder::Remove(const SketchElement& element, int64_t sign,
                           uint64_t begin, uint64_t end, bool fresh_only) {
  for (SketchIndexStream s(salt_, element); s.index() < end; s.Next()) {
    if (s.index() < begin) continue;
    DiffCell& c = cells_[s.index()];
    if (fresh_only ? !c.fresh : !c.present) continue;
    c.count = Wrap(c.count - sign);
    c.key_sum ^= element.key;
    c.tag_sum ^= element.tag;
    if (!fresh_only) queue_.push_back(s.index());
  }
}

void SketchDecoder::AddPeerCells(uint64_t start,
                                 std::span<const SketchCell> cells) {
  if (inconsistent_ || start >= max_cells_) return;
  const uint64_t end = std::min<uint64_t>(start + cells.size(),
                                          static_cast<uint64_t>(max_cells_));
  if (cells_.size() < end) cells_.resize(end);
  ExtendOwnCells(end);
  for (uint64_t i = start; i < end; ++i) {
    DiffCell& c = cells_[i];
    if (c.present) continue;  // a duplicate; the first copy stays
    const SketchCell& peer = cells[i - start];
    const SketchCell& mine = own_[i];
    c.count = Wrap(static_cast<int64_t>(mine.count) - peer.count);
    c.key_sum = mine.key_sum ^ peer.key_sum;
    c.tag_sum = mine.tag_sum ^ peer.tag_sum;
    c.fresh = true;
  }
  // Elements recovered earlier are already out of the older cells; take
  // them out of the fresh ones.
  for (const SketchElement& e : local_only_) Remove(e, +1, start, end, true);
  for (const SketchElement& e : peer_only_) Remove(e, -1, start, end, true);
  for (uint64_t i = start; i < end; ++i) {
    if (!cells_[i].fresh) continue;
    cells_[i].fresh = false;
    cells_[i].present = true;
    queue_.push_back(i);
  }
  while (contiguous_ < cells_.size() && cells_[contiguous_].present) {
    ++contiguous_;
  }
  Peel();
}

// Our own cells, computed in doublings (each pass walks every element's
// index stream once), so a round's frames cost O(cells) each after it.
void SketchDecoder::ExtendOwnCells(uint64_t end) {
  if (own_.size() >= end) return;
  const uint64_t from = own_.size();
  const uint64_t to = std::min<uint64_t>(std::max<uint64_t>(end, 2 * from),
                                         static_cast<uint64_t>(max_cells_));
  own_.resize(to);
  AddToSketch(salt_, local_, from,
              std::span<SketchCell>(own_).subspan(from, to - from));
}

void SketchDecoder::Peel() {
  // Each peel recovers one element; a consistent difference has at most as
  // many elements as twice the cells, so more means garbage.
  const size_t peel_limit = 2 * max_cells_ + 16;
  while (!queue_.empty() && !inconsistent_) {
    const uint64_t index = queue_.back();
    queue_.pop_back();
    if (!IsPure(index)) continue;
    const DiffCell& c = cells_[index];
    const SketchElement element{c.key_sum, c.tag_sum};
    const int64_t sign = c.count;
    if (++peels_ > peel_limit) {
      inconsistent_ = true;
      return;
    }
    if (sign > 0) {
      if (!std::binary_search(local_.begin(), local_.end(), element)) {
        inconsistent_ = true;
        return;
      }
      local_only_.push_back(element);
    } else {
      peer_only_.push_back(element);
    }
    Remove(element, sign, 0, cells_.size(), false);
  }
}

bool SketchDecoder::decoded() const {
  if (inconsistent_ || cells_.empty() || !cells_[0].present) return false;
  const DiffCell& c = cells_[0];
  return c.count == 0 && c.key_sum == 0 && c.tag_sum == 0;
}

}  // namespace elara
