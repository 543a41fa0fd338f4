// File: core/passive_view.h
//
// PassiveView: the storage of HyParView's passive view (see
// core/membership.h), a bounded, ordered list of peers in 16 bytes a peer
// instead of the 28 of a PeerEntry. The simulator holds a million passive
// views of 30 peers, so this is most of a node's membership state.
//
// An entry keeps the peer's NodeId (8 bytes), its address kind (1), port (2)
// and the first 4 address bytes (a Sim index or an IPv4 address: all there
// is to those kinds). An IPv6 address's 16 bytes go to a side slot that the
// entry names instead; freed slots are reused, and the side table is only
// allocated once an IPv6 peer is stored.
//
// The entries are stored as two arrays in one allocation: the rest of each
// entry (the id's high 32 bits, the address word, port and kind) in 3
// words, then the low 32 bits of every id together. Find() compares the low
// words 8 at a time and without an early exit (every AddPassive asks whether
// a peer is already in the view, and the answer is almost always no); so
// that it needs no tail, the low words are padded to a multiple of 8.
//
// Guarantees:
//   1. Exact: operator[](i) returns, by value, the PeerEntry pushed there
//      (equal in every field, for every kind of address).
//   2. Same order as a std::vector<PeerEntry> under the same push_back and
//      Erase calls: Erase(i) shifts the entries after i down by one.
//   3. Bounded: size() <= capacity(), the bound given at construction, to
//      which the entries are reserved up front (never grown); the side
//      table holds at most as many slots as IPv6 peers were stored at once.
//   4. Memory: sizeof 24 plus 16 bytes an entry, and 4 a padding word (the
//      low words rounded up to a multiple of 8: a view of 30 holds 488
//      bytes); the side table only once an IPv6 peer is stored (see
//      HeapBytes()).
//   5. Find(id) returns the index of the first entry with that id, or -1.
//
// Thread-safety: none (one engine's state).
#ifndef ELARA_CORE_PASSIVE_VIEW_H_
#define ELARA_CORE_PASSIVE_VIEW_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "core/address.h"
#include "core/ids.h"
#include "core/wire.h"

namespace elara {

class PassiveView {
 public:
  PassiveView() = default;
  // Moving leaves `other` empty with no capacity (as a moved-from vector).
  PassiveView(PassiveView&& other) noexcept
      : words_(std::move(other.words_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        ipv6_(std::move(other.ipv6_)) {}
  PassiveView& operator=(PassiveView&& other) noexcept {
    words_ = std::move(other.words_);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
    ipv6_ = std::move(other.ipv6_);
    return *this;
  }
  // Reserves room for `capacity` entries. REQUIRES: capacity < 2^30.
  explicit PassiveView(size_t capacity);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  bool full() const { return size_ >= capacity_; }

  // The peer at `index`, decoded. REQUIRES: index < size().
  PeerEntry operator[](size_t index) const;
  // Its id alone (what the view's searches read). REQUIRES: index < size().
  NodeId id(size_t index) const {
    return NodeId(uint64_t{rest(index)[kHigh]} << 32 | low(index));
  }
  // The index of the first entry with `id`, or -1 if there is none.
  int Find(NodeId id) const;
  // Every peer in order, decoded.
  std::vector<PeerEntry> ToVector() const;

  // REQUIRES: !full().
  void push_back(const PeerEntry& peer);
  // Removes the entry at `index`, keeping the order of the others.
  // REQUIRES: index < size().
  void Erase(size_t index);

  // Heap bytes held (entries reserved, and the side table if any).
  size_t HeapBytes() const;

 private:
  // The words of an entry but its low id word, at rest(index).
  enum RestWord : size_t { kHigh, kAddress, kPortAndKind, kRestWords };
  // kAddress holds the first 4 address bytes (Sim index, IPv4), or for kIpv6
  // the side slot holding all 16; kPortAndKind the port | kind << 16.
  static_assert(1 + kRestWords == 16 / sizeof(uint32_t));
  // Find() reads the low words in blocks of this many.
  static constexpr size_t kLowBlock = 8;

  static size_t LowWords(size_t capacity) {
    return (capacity + kLowBlock - 1) / kLowBlock * kLowBlock;
  }
  const uint32_t* lows() const { return words_.get() + kRestWords * capacity_; }
  uint32_t* lows() { return words_.get() + kRestWords * capacity_; }
  uint32_t low(size_t index) const { return lows()[index]; }
  const uint32_t* rest(size_t index) const {
    return words_.get() + kRestWords * index;
  }
  uint32_t* rest(size_t index) { return words_.get() + kRestWords * index; }

  using Ipv6Bytes = std::array<uint8_t, 16>;
  struct Ipv6Slots {
    std::vector<Ipv6Bytes> bytes;
    std::vector<uint32_t> free;  // indices into bytes, reused last-in first
  };

  PeerEntry Decode(size_t index) const;
  uint32_t TakeIpv6Slot(const Ipv6Bytes& ip);

  // capacity_ * kRestWords rest words, then LowWords(capacity_) low id
  // words (the padding zero or stale: Find() checks a match in the rest).
  // Allocated value-initialised (make_unique<uint32_t[]>, zeroed): Find()
  // reads the padding, which must never be uninitialised memory.
  std::unique_ptr<uint32_t[]> words_;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
  // Allocated at the first IPv6 peer: a Sim or IPv4 swarm never pays for it.
  std::unique_ptr<Ipv6Slots> ipv6_;
};

}  // namespace elara

#endif  // ELARA_CORE_PASSIVE_VIEW_H_
