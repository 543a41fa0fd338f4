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
// The entries are stored as two arrays in one allocation: the entries in
// 15 bytes each (the id, the address word, port and kind), then a one-byte
// scan tag of each id (TagOf). Find() compares the tags kTagBlock (32) at
// once (SSE2; elsewhere one by one) and confirms a matching tag against the
// entry's id: every AddPassive asks whether a peer is already in the view,
// and the answer is almost always no, which a default view of 30 gives in
// one block. So that a block needs no tail, the tags are padded to a
// multiple of kTagBlock (the padding's lanes are masked off).
//
// Guarantees:
//   1. Exact: operator[](i) returns, by value, the PeerEntry pushed there
//      (equal in every field, for every kind of address).
//   2. Same order as a std::vector<PeerEntry> under the same push_back and
//      Erase calls: Erase(i) shifts the entries after i down by one
//      (EraseAndPush(i, peer) is Erase(i) then push_back(peer)).
//   3. Bounded: size() <= capacity(), the bound given at construction, to
//      which the entries are reserved up front (never grown); the side
//      table holds at most as many slots as IPv6 peers were stored at once.
//   4. Memory: sizeof 24 plus 16 bytes an entry (a tag and 15), and a
//      padding byte per tag up to a multiple of 32 (a view of 30 holds 482
//      bytes, one of 4 holds 92); the side table only once an IPv6 peer is
//      stored (see HeapBytes()).
//   5. Find(id) returns the index of the first entry with that id, or -1.
//
// Thread-safety: none (one engine's state).
#ifndef ELARA_CORE_PASSIVE_VIEW_H_
#define ELARA_CORE_PASSIVE_VIEW_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
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
      : bytes_(std::move(other.bytes_)),
        size_(std::exchange(other.size_, 0)),
        capacity_(std::exchange(other.capacity_, 0)),
        ipv6_(std::move(other.ipv6_)) {}
  PassiveView& operator=(PassiveView&& other) noexcept {
    bytes_ = std::move(other.bytes_);
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
  NodeId id(size_t index) const { return NodeId(IdAt(index)); }
  // The index of the first entry with `id`, or -1 if there is none.
  int Find(NodeId id) const;
  // Every peer in order, decoded.
  std::vector<PeerEntry> ToVector() const;

  // REQUIRES: !full().
  void push_back(const PeerEntry& peer);
  // Removes the entry at `index`, keeping the order of the others.
  // REQUIRES: index < size().
  void Erase(size_t index);
  // Erase(index) then push_back(peer) (a full view's eviction and the
  // addition it makes room for), in one pass: the tags move inline, the
  // entries by one memmove. REQUIRES: index < size().
  void EraseAndPush(size_t index, const PeerEntry& peer);

  // Heap bytes held (entries reserved, and the side table if any).
  size_t HeapBytes() const;

  // Find()'s scan tag of an id: 8 bits of a multiplicative hash. Distinct
  // ids may share a tag (tests use this to build collisions).
  static uint8_t TagOf(NodeId id) {
    return static_cast<uint8_t>((id.value() * 0x9e3779b97f4a7c15ull) >> 56);
  }

 private:
  // An entry's bytes: the id (8, little-endian), the address word (4: the
  // first 4 address bytes of a Sim index or IPv4 address, or for kIpv6
  // the side slot holding all 16), the port (2) and the kind (1).
  enum EntryByte : size_t {
    kId = 0,
    kAddress = 8,
    kPort = 12,
    kKind = 14,
    kEntryBytes = 15
  };
  static_assert(1 + kEntryBytes == 16, "a tag and an entry: 16 bytes");
  // Find() compares this many tags at once.
  static constexpr size_t kTagBlock = 32;

  static size_t TagBytes(size_t capacity) {
    return (capacity + kTagBlock - 1) / kTagBlock * kTagBlock;
  }
  const uint8_t* entry(size_t index) const {
    return bytes_.get() + kEntryBytes * index;
  }
  uint8_t* entry(size_t index) { return bytes_.get() + kEntryBytes * index; }
  const uint8_t* tags() const { return entry(capacity_); }
  uint8_t* tags() { return entry(capacity_); }
  uint64_t IdAt(size_t index) const {
    uint64_t id;
    std::memcpy(&id, entry(index) + kId, sizeof id);
    return id;
  }

  using Ipv6Bytes = std::array<uint8_t, 16>;
  struct Ipv6Slots {
    std::vector<Ipv6Bytes> bytes;
    std::vector<uint32_t> free;  // indices into bytes, reused last-in first
  };

  PeerEntry Decode(size_t index) const;
  // Writes `peer` at `index` (push_back's and EraseAndPush's last step;
  // inline in both, a call would cost about as much as the writes).
  [[gnu::always_inline]] inline void Store(size_t index, const PeerEntry& peer);
  // Erase's and EraseAndPush's first step: frees an IPv6 entry's side slot.
  void Release(size_t index);
  // push_back's and Erase's IPv6 cases, out of line: a Sim or IPv4 swarm
  // never takes them, and inlined they cost the common path registers.
  [[gnu::noinline]] uint32_t TakeIpv6Slot(const Ipv6Bytes& ip);
  [[gnu::noinline]] void FreeIpv6Slot(uint32_t slot);

  // capacity_ entries of kEntryBytes, then TagBytes(capacity_) tags (the
  // padding zero or stale: Find() masks it off). Allocated value-
  // initialised (make_unique<uint8_t[]>, zeroed): Find() reads the
  // padding, which must never be uninitialised memory.
  std::unique_ptr<uint8_t[]> bytes_;
  uint32_t size_ = 0;
  uint32_t capacity_ = 0;
  // Allocated at the first IPv6 peer: a Sim or IPv4 swarm never pays for it.
  std::unique_ptr<Ipv6Slots> ipv6_;
};

}  // namespace elara

#endif  // ELARA_CORE_PASSIVE_VIEW_H_
