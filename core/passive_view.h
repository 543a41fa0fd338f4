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
// Guarantees:
//   1. Exact: operator[](i) returns, by value, the PeerEntry pushed there
//      (equal in every field, for every kind of address).
//   2. Same order as a std::vector<PeerEntry> under the same push_back and
//      Erase calls: Erase(i) shifts the entries after i down by one.
//   3. Bounded: size() <= capacity(), the bound given at construction, to
//      which the entries are reserved up front (never grown); the side
//      table holds at most as many slots as IPv6 peers were stored at once.
//   4. Memory: sizeof 32 plus 16 bytes an entry; the side table only once
//      an IPv6 peer is stored (see HeapBytes()).
//
// Thread-safety: none (one engine's state).
#ifndef ELARA_CORE_PASSIVE_VIEW_H_
#define ELARA_CORE_PASSIVE_VIEW_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "core/address.h"
#include "core/ids.h"
#include "core/wire.h"

namespace elara {

class PassiveView {
 public:
  PassiveView() = default;
  // Reserves room for `capacity` entries.
  explicit PassiveView(size_t capacity);

  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  size_t capacity() const { return entries_.capacity(); }
  bool full() const { return entries_.size() >= entries_.capacity(); }

  // The peer at `index`, decoded. REQUIRES: index < size().
  PeerEntry operator[](size_t index) const;
  // Its id alone (what the view's searches read). REQUIRES: index < size().
  NodeId id(size_t index) const { return entries_[index].id; }
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
  // 16 bytes: the id and the address but for the IPv6 bytes past the
  // fourth, which live in side slot `address_word` instead.
  struct Entry {
    NodeId id;
    // The first 4 address bytes (Sim index, IPv4), or for kIpv6 the side
    // slot holding all 16.
    uint32_t address_word;
    uint16_t port;
    Address::Kind kind;
  };
  static_assert(sizeof(Entry) == 16);

  using Ipv6Bytes = std::array<uint8_t, 16>;
  struct Ipv6Slots {
    std::vector<Ipv6Bytes> bytes;
    std::vector<uint32_t> free;  // indices into bytes, reused last-in first
  };

  Entry Encode(const PeerEntry& peer);
  PeerEntry Decode(const Entry& entry) const;
  uint32_t TakeIpv6Slot(const Ipv6Bytes& ip);

  std::vector<Entry> entries_;
  // Allocated at the first IPv6 peer: a Sim or IPv4 swarm never pays for it.
  std::unique_ptr<Ipv6Slots> ipv6_;
};

}  // namespace elara

#endif  // ELARA_CORE_PASSIVE_VIEW_H_
