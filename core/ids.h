// File: core/ids.h
//
// Strong identifier types of the protocol. Each wraps an integer so that a
// `NodeId` cannot be passed where a `GroupId` is meant. A `MessageId` names
// one broadcast: its origin and the origin's sequence number, which is what
// lets duplicate detection use bounded per-origin windows.
//
// Thread-safety: value types, freely copyable.
#ifndef ELARA_CORE_IDS_H_
#define ELARA_CORE_IDS_H_

#include <compare>
#include <cstdint>
#include <string>
#include <utility>

namespace elara {

// How an id's integer is stored. A 64-bit id is kept as two 32-bit halves
// so that it needs only 4-byte alignment: a PeerEntry (id + 20-byte
// Address) then takes 28 bytes instead of 32, and a node holds dozens of
// them (the passive view alone, 30). The halves are adjacent and in
// little-endian order, so value() compiles to one 8-byte load.
template <typename Rep>
struct IdStorage {
  constexpr IdStorage() = default;
  constexpr explicit IdStorage(Rep value) : v(value) {}
  constexpr Rep get() const { return v; }
  constexpr bool operator==(const IdStorage&) const = default;
  Rep v{};
};
template <>
struct IdStorage<uint64_t> {
  constexpr IdStorage() = default;
  constexpr explicit IdStorage(uint64_t value)
      : lo(static_cast<uint32_t>(value)),
        hi(static_cast<uint32_t>(value >> 32)) {}
  constexpr uint64_t get() const { return uint64_t{hi} << 32 | lo; }
  // One 8-byte compare: the defaulted member-wise one compiled (GCC 12) to
  // two 4-byte compares and a branch, in every id search (views, peer
  // tables, dedup and cache lookups).
  constexpr bool operator==(const IdStorage& other) const {
    return get() == other.get();
  }
  uint32_t lo = 0;
  uint32_t hi = 0;
};

template <typename Tag, typename Rep>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep value) : value_(value) {}
  constexpr Rep value() const { return value_.get(); }
  constexpr bool operator==(const StrongId&) const = default;
  constexpr auto operator<=>(const StrongId& other) const {
    return value() <=> other.value();
  }

  template <typename H>
  friend H AbslHashValue(H h, const StrongId& id) {
    return H::combine(std::move(h), id.value());
  }

 private:
  IdStorage<Rep> value_;
};

struct NodeIdTag {};
struct StateIdTag {};
struct StreamIdTag {};
struct SegmentIdTag {};
struct GroupIdTag {};
struct SessionIdTag {};
struct PriorityTag {};

using NodeId = StrongId<NodeIdTag, uint64_t>;
using StateId = StrongId<StateIdTag, uint64_t>;
using StreamId = StrongId<StreamIdTag, uint64_t>;
using SegmentId = StrongId<SegmentIdTag, uint64_t>;
using GroupId = StrongId<GroupIdTag, uint64_t>;
using SessionId = StrongId<SessionIdTag, uint64_t>;
using Priority = StrongId<PriorityTag, uint8_t>;
static_assert(sizeof(NodeId) == 8 && alignof(NodeId) == 4);

// One broadcast message: who authored it and its per-origin sequence number
// (starting at 1; 0 is never a valid sequence).
struct MessageId {
  NodeId origin;
  uint64_t sequence = 0;

  constexpr auto operator<=>(const MessageId&) const = default;
  template <typename H>
  friend H AbslHashValue(H h, const MessageId& id) {
    return H::combine(std::move(h), id.origin, id.sequence);
  }
};

std::string ToString(NodeId id);     // 16 hex digits
std::string ToString(MessageId id);  // "<origin hex>/<sequence>"

}  // namespace elara

#endif  // ELARA_CORE_IDS_H_
