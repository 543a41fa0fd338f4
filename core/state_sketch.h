// File: core/state_sketch.h
//
// Rateless set reconciliation for anti-entropy: a rateless invertible Bloom
// lookup table (Yang, Gilad, Alizadeh, "Practical Rateless Set
// Reconciliation", SIGCOMM 2024). Each element of a set is a key and a
// 32-bit tag that names its version (SketchTag). A sketch is an endless
// sequence of cells; cell i holds the count of the elements that map to it
// and the XOR of their keys and tags. Every element maps to cell 0 and then
// to a random increasing sequence of cells with density ~2/(i+2), so the
// first m cells cost O(n log m) to compute, and any prefix is a sketch.
//
// To reconcile, the responder sends its first cells; the initiator subtracts
// its own and "peels": a cell left with count +1 or -1 whose key passes the
// check (the tag's lower 16 bits hash the key and the upper ones) holds one
// element, present on one side only; removing it from every cell it maps to
// frees more. About 1.35-1.7 cells per differing element are enough; more
// cells can be asked for until cell 0 is empty (then the whole difference is
// known). The cost follows the size of the difference, not of the sets.
//
// Tags and element seeds are salted per anti-entropy round, so a version
// collision or an unlucky hash is never the same twice.
//
// Guarantees:
//   - Deterministic: the index sequence uses only integer and IEEE-754
//     double arithmetic (sqrt, ceil: correctly rounded everywhere).
//   - SketchDecoder never trusts the peer's cells: its memory is bounded by
//     max_cells, peeling is bounded, and an element the peer's cells claim
//     is ours but is not in our set marks the decode inconsistent.
//
// Thread-safety: not thread-safe; values.
#ifndef ELARA_CORE_STATE_SKETCH_H_
#define ELARA_CORE_STATE_SKETCH_H_

#include <compare>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "core/ids.h"
#include "core/wire.h"

namespace elara {

struct SketchElement {
  uint64_t key = 0;
  uint32_t tag = 0;
  auto operator<=>(const SketchElement&) const = default;
};

// Salt of one anti-entropy round (both sides derive it).
uint64_t SketchSalt(uint32_t round, NodeId initiator);
// How old a version's HLC wall time is at `reference_us`, in buckets that
// grow by a factor 4 from ~1 ms (0..15). A smaller hint means a strictly
// later wall time, so two versions of one key with different hints are
// ordered without sending them.
uint32_t SketchAgeHint(uint64_t reference_us, uint64_t wall_us);
// The tag of `key`'s entry with fingerprint `fingerprint`:
//   bits 31..28  age_hint (SketchAgeHint, or 0 when no order is needed)
//   bits 27..16  a salted hash of the entry (its version): two versions of
//                a key with the same hint collide (cancel out) with
//                probability 2^-12 per round, and the next round's salt
//                differs
//   bits 15..0   a check of the key and bits 31..16: what tells a cell
//                holding exactly one element
// 0 is taken to mean "no entry" in requests; a real tag of 0 (one in 2^32)
// only costs a redundant answer.
uint32_t SketchTag(uint64_t salt, StateId key, uint64_t fingerprint,
                   uint32_t age_hint);
inline uint32_t TagAgeHint(uint32_t tag) { return tag >> 28; }

// The increasing cell indices one element maps to: 0 first.
class SketchIndexStream {
 public:
  SketchIndexStream(uint64_t salt, const SketchElement& element);
  uint64_t index() const { return index_; }
  void Next();

 private:
  uint64_t state_;
  uint64_t index_ = 0;
};

// Adds every element to the cells [start, start + cells.size()).
void AddToSketch(uint64_t salt, std::span<const SketchElement> elements,
                 uint64_t start, std::span<SketchCell> cells);

class SketchDecoder {
 public:
  // `local` is this side's set at the start of the exchange (it is not
  // looked at again). At most `max_cells` cells are accepted.
  SketchDecoder(uint64_t salt, std::vector<SketchElement> local,
                size_t max_cells);

  // Adds the peer's cells at indices [start, start + cells.size()).
  // Cells beyond max_cells, or already added, are ignored.
  void AddPeerCells(uint64_t start, std::span<const SketchCell> cells);

  // True once the whole difference is known: cell 0 is empty after peeling.
  bool decoded() const;
  // True when the peer's cells cannot be those of a set (a peeled element
  // claimed to be ours is not, or peeling ran past its bound).
  bool inconsistent() const { return inconsistent_; }
  // Cells 0..n-1 all received: n.
  size_t contiguous_cells() const { return contiguous_; }

  // Elements only this side has, and only the peer has, in recovery order.
  const std::vector<SketchElement>& local_only() const { return local_only_; }
  const std::vector<SketchElement>& peer_only() const { return peer_only_; }

 private:
  struct DiffCell {
    int64_t count = 0;
    uint64_t key_sum = 0;
    uint32_t tag_sum = 0;
    bool present = false;
    bool fresh = false;  // being added by AddPeerCells
  };

  bool IsPure(uint64_t index) const;
  void ExtendOwnCells(uint64_t end);
  void Remove(const SketchElement& element, int64_t sign, uint64_t begin,
              uint64_t end, bool fresh_only);
  void Peel();

  uint64_t salt_;
  std::vector<SketchElement> local_;  // sorted
  size_t max_cells_;
  std::vector<DiffCell> cells_;
  std::vector<SketchCell> own_;  // our own sketch's first cells
  std::vector<uint64_t> queue_;
  std::vector<SketchElement> local_only_;
  std::vector<SketchElement> peer_only_;
  size_t contiguous_ = 0;
  size_t peels_ = 0;
  bool inconsistent_ = false;
};

}  // namespace elara

#endif  // ELARA_CORE_STATE_SKETCH_H_
