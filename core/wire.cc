// File: core/wire.cc
//
// Encoder and decoder of the wire format described in core/wire.h.
//
// Frame bodies (all integers little-endian; "varint" is LEB128):
//
//   NodeId          := 8 bytes
//   MessageId       := origin:NodeId sequence:varint      (sequence != 0)
//   Address         := kind:u8 then
//                        kSim:  index:varint               (< 2^32)
//                        kIpv4: ip:4 bytes  port:2 bytes
//                        kIpv6: ip:16 bytes port:2 bytes
//                      (kind kNone or unknown -> kBadAddress)
//   PeerEntry       := id:NodeId address:Address
//   bool            := one byte, 0 or 1 (anything else -> kBadField)
//   hops            := varint                              (< 2^32)
//   list<T>         := count:varint (<= kMaxListEntries, else
//                      kTooManyEntries) then count entries T
//
//   Join, JoinReply, Prune := (empty body, length 0)
//   ForwardJoin     := joiner:PeerEntry time_to_live:u8
//   Neighbor        := high_priority:bool
//   NeighborReply   := accepted:bool
//   Disconnect      := reason:u8          (0 evicted, 1 leaving, 2 swapped,
//                                          else kBadField)
//                      then, for 2 only, replacement:PeerEntry
//   Swap            := offer:PeerEntry
//   SwapReply       := flags:u8 (bit 0 accepted, bit 1 has partner; other
//                      bits, or a partner without bit 0 -> kBadField)
//                      then, with bit 1, partner:PeerEntry
//   Shuffle         := origin:PeerEntry time_to_live:u8 peers:list<PeerEntry>
//   ShuffleReply    := peers:list<PeerEntry>
//   Ping, Pong      := nonce: 8 bytes (random, so fixed width)
//   Gossip          := id:MessageId hops payload (the rest of the body: the
//                      frame length already delimits it)
//   IHave, Digest   := entries:list<MessageId hops>
//   Graft, IWant    := ids:list<MessageId>
//
//   round           := 4 bytes (u32)
//   count32         := varint < 2^32 (else kBadField)
//   StateRecord     := key:8 bytes origin:NodeId wall_us:varint
//                      (<= kMaxHlcWallMicros) logical:varint (< 2^32)
//                      flags:u8 (bit 0 deleted; other bits -> kBadField)
//                      then, unless deleted, value_length:varint value
//   StateUpdate     := flags:u8 (bit 0 relay) hops record:StateRecord
//   StateDigest     := round count:count32 hash:8 bytes
//   StateRanges     := round slices:list<count:count32 hash:2 bytes>
//   StateSketchRequest := round slice_mask:8 bytes reference_us:varint
//                      start:varint cells:varint (cells >= 1, start + cells
//                      <= kMaxSketchIndex, reference_us <= kMaxHlcWallMicros)
//   StateSketch     := round slice_mask:8 bytes set_hash:8 bytes
//                      start:varint cells:list<count:u8 key_sum:8 bytes
//                      tag_sum:4 bytes> (start + #cells <= kMaxSketchIndex)
//   StateDelta      := round flags:u8 (bit 0 has_resume) [resume:8 bytes]
//                      records:list<StateRecord>
//   StateRequest    := round max_reply_bytes:count32
//                      keys:list<key:8 bytes tag:4 bytes>
//   StateStreamRequest := round from:8 bytes to:8 bytes (from <= to)
//                      max_reply_bytes:count32
//
// The encoding is canonical: varints must be minimal (a last byte of 0 after
// other bytes is kBadVarint), bools are 0/1 and every body must be consumed
// exactly. So a datagram that decodes re-encodes to the very same bytes,
// which the tests check on mutated inputs.
//
// Error precedence while decoding: the datagram header first (kTruncated,
// kBadVersion, kNoFrames), then per frame: a frame length past the end of the
// datagram is kTruncated; the type is checked (kUnknownFrameType); a body
// that ends inside a field, or has bytes left over, is kBadLength.
//
// Speed: the gossip hot path does not allocate. Decoding points the payload
// into the input and reuses out->frames' capacity and its lists' storage
// (DecodedDatagram::spare), and reads the usual message ids and simulator
// peers with one bounds check each (Reader::MessageAndHops, Reader::Peer),
// and a datagram of one usual GOSSIP, PING, PONG or short IHAVE frame
// without the frame loop (DecodeLoneFrame);
// encoding computes the exact size first, grows the buffer once and writes
// through a raw pointer.
#include "core/wire.h"

#include <array>
#include <bit>
#include <cassert>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>
#include <variant>

namespace elara {
namespace {

constexpr uint64_t kMaxHops = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxSimIndex = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxCount32 = std::numeric_limits<uint32_t>::max();
constexpr uint8_t kRecordDeleted = 0x01;
constexpr uint8_t kUpdateRelay = 0x01;
constexpr uint8_t kDeltaHasResume = 0x01;

// --- Sizes -------------------------------------------------------------------

size_t AddressBytes(const Address& a) {
  switch (a.kind()) {
    case Address::Kind::kSim:
      return 1 + VarintBytes(a.sim_index());
    case Address::Kind::kIpv4:
      return 1 + 4 + 2;
    case Address::Kind::kIpv6:
      return 1 + 16 + 2;
    case Address::Kind::kNone:
      break;
  }
  return 1;  // Refused by Validate before anything is written.
}

size_t PeerEntryBytes(const PeerEntry& p) {
  return 8 + AddressBytes(p.address);
}
size_t MessageIdBytes(const MessageId& id) {
  return 8 + VarintBytes(id.sequence);
}

size_t PeerListBytes(const std::vector<PeerEntry>& peers) {
  size_t n = VarintBytes(peers.size());
  for (const PeerEntry& p : peers) n += PeerEntryBytes(p);
  return n;
}
size_t IdListBytes(std::span<const MessageId> ids) {
  size_t n = VarintBytes(ids.size());
  for (const MessageId& id : ids) n += MessageIdBytes(id);
  return n;
}

size_t BodyBytes(const JoinFrame&) { return 0; }
size_t BodyBytes(const JoinReplyFrame&) { return 0; }
size_t BodyBytes(const PruneFrame&) { return 0; }
size_t BodyBytes(const ForwardJoinFrame& f) {
  return PeerEntryBytes(f.joiner) + 1;
}
size_t BodyBytes(const NeighborFrame&) { return 1; }
size_t BodyBytes(const NeighborReplyFrame&) { return 1; }
size_t BodyBytes(const DisconnectFrame& f) {
  return f.reason == DisconnectReason::kSwapped
             ? 1 + PeerEntryBytes(f.replacement)
             : 1;
}
size_t BodyBytes(const SwapFrame& f) { return PeerEntryBytes(f.offer); }
size_t BodyBytes(const SwapReplyFrame& f) {
  return f.partner ? 1 + PeerEntryBytes(*f.partner) : 1;
}
size_t BodyBytes(const ShuffleFrame& f) {
  return PeerEntryBytes(f.origin) + 1 + PeerListBytes(f.peers);
}
size_t BodyBytes(const ShuffleReplyFrame& f) { return PeerListBytes(f.peers); }
size_t BodyBytes(const PingFrame&) { return 8; }
size_t BodyBytes(const PongFrame&) { return 8; }
size_t BodyBytes(const GossipFrame& f) {
  return MessageIdBytes(f.id) + VarintBytes(f.hops) + f.payload.size();
}
template <typename AnnounceFrame>  // IHaveFrame or DigestFrame
size_t AnnounceBytes(const AnnounceFrame& f) {
  size_t n = VarintBytes(f.entries.size());
  for (const IHaveEntry& e : f.entries) {
    n += MessageIdBytes(e.id) + VarintBytes(e.hops);
  }
  return n;
}
size_t BodyBytes(const IHaveFrame& f) { return AnnounceBytes(f); }
size_t BodyBytes(const DigestFrame& f) { return AnnounceBytes(f); }
size_t BodyBytes(const GraftFrame& f) { return IdListBytes(f.ids); }
size_t BodyBytes(const IWantFrame& f) { return IdListBytes(f.ids); }

size_t RecordBytes(const StateRecord& r) {
  size_t n = 8 + 8 + VarintBytes(r.version.wall_us) +
             VarintBytes(r.version.logical) + 1;
  if (!r.deleted) n += VarintBytes(r.value.size()) + r.value.size();
  return n;
}
size_t BodyBytes(const StateUpdateFrame& f) {
  return 1 + VarintBytes(f.hops) + RecordBytes(f.record);
}
size_t BodyBytes(const StateDigestFrame& f) {
  return 4 + VarintBytes(f.count) + 8;
}
size_t BodyBytes(const StateRangesFrame& f) {
  size_t n = 4 + VarintBytes(f.slices.size());
  for (const StateSliceDigest& d : f.slices) n += VarintBytes(d.count) + 2;
  return n;
}
size_t BodyBytes(const StateSketchRequestFrame& f) {
  return 4 + 8 + VarintBytes(f.reference_us) + VarintBytes(f.start) +
         VarintBytes(f.cells);
}
size_t BodyBytes(const StateSketchFrame& f) {
  size_t n = 4 + 8 + 8 + VarintBytes(f.start) + VarintBytes(f.cells.size());
  n += f.cells.size() * (1 + 8 + 4);
  return n;
}
size_t BodyBytes(const StateDeltaFrame& f) {
  size_t n = 4 + 1 + (f.has_resume ? 8 : 0) + VarintBytes(f.records.size());
  for (const StateRecord& r : f.records) n += RecordBytes(r);
  return n;
}
size_t BodyBytes(const StateRequestFrame& f) {
  return 4 + VarintBytes(f.max_reply_bytes) + VarintBytes(f.keys.size()) +
         f.keys.size() * (8 + 4);
}
size_t BodyBytes(const StateStreamRequestFrame& f) {
  return 4 + 8 + 8 + VarintBytes(f.max_reply_bytes);
}

// --- Validation (encode side: refuse what the decoder would reject) ---------

WireError CheckAddress(const Address& a) {
  return a.valid() ? WireError::kOk : WireError::kBadAddress;
}
WireError CheckMessageId(const MessageId& id) {
  return id.sequence != 0 ? WireError::kOk : WireError::kBadField;
}
WireError CheckIds(std::span<const MessageId> ids) {
  if (ids.size() > kMaxListEntries) return WireError::kTooManyEntries;
  for (const MessageId& id : ids) {
    if (WireError e = CheckMessageId(id); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}

WireError Check(const JoinFrame&) { return WireError::kOk; }
WireError Check(const JoinReplyFrame&) { return WireError::kOk; }
WireError Check(const PruneFrame&) { return WireError::kOk; }
WireError Check(const NeighborFrame&) { return WireError::kOk; }
WireError Check(const NeighborReplyFrame&) { return WireError::kOk; }
WireError Check(const PingFrame&) { return WireError::kOk; }
WireError Check(const PongFrame&) { return WireError::kOk; }
WireError Check(const ForwardJoinFrame& f) {
  return CheckAddress(f.joiner.address);
}
WireError Check(const DisconnectFrame& f) {
  switch (f.reason) {
    case DisconnectReason::kEvicted:
    case DisconnectReason::kLeaving:
      return WireError::kOk;
    case DisconnectReason::kSwapped:
      return CheckAddress(f.replacement.address);
  }
  return WireError::kBadField;
}
WireError Check(const SwapFrame& f) { return CheckAddress(f.offer.address); }
WireError Check(const SwapReplyFrame& f) {
  if (!f.partner) return WireError::kOk;
  if (!f.accepted) return WireError::kBadField;
  return CheckAddress(f.partner->address);
}
WireError Check(const GossipFrame& f) { return CheckMessageId(f.id); }
WireError Check(const GraftFrame& f) { return CheckIds(f.ids); }
WireError Check(const IWantFrame& f) { return CheckIds(f.ids); }

WireError CheckRecord(const StateRecord& r) {
  if (r.version.wall_us > kMaxHlcWallMicros) return WireError::kBadField;
  if (r.deleted && !r.value.empty()) return WireError::kBadField;
  return WireError::kOk;
}
WireError Check(const StateUpdateFrame& f) { return CheckRecord(f.record); }
WireError Check(const StateDigestFrame& f) {
  return f.count <= kMaxCount32 ? WireError::kOk : WireError::kBadField;
}
WireError Check(const StateRangesFrame& f) {
  if (f.slices.size() > kMaxListEntries) return WireError::kTooManyEntries;
  for (const StateSliceDigest& d : f.slices) {
    if (d.count > kMaxCount32) return WireError::kBadField;
  }
  return WireError::kOk;
}
WireError Check(const StateSketchRequestFrame& f) {
  const bool ok = f.cells >= 1 && f.start < kMaxSketchIndex &&
                  f.cells <= kMaxSketchIndex - f.start &&
                  f.reference_us <= kMaxHlcWallMicros;
  return ok ? WireError::kOk : WireError::kBadField;
}
WireError Check(const StateSketchFrame& f) {
  if (f.cells.size() > kMaxListEntries) return WireError::kTooManyEntries;
  if (f.start > kMaxSketchIndex || f.cells.size() > kMaxSketchIndex - f.start) {
    return WireError::kBadField;
  }
  return WireError::kOk;
}
WireError Check(const StateDeltaFrame& f) {
  if (f.records.size() > kMaxListEntries) return WireError::kTooManyEntries;
  if (!f.has_resume && f.resume != 0) return WireError::kBadField;
  for (const StateRecord& r : f.records) {
    if (WireError e = CheckRecord(r); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError Check(const StateRequestFrame& f) {
  if (f.keys.size() > kMaxListEntries) return WireError::kTooManyEntries;
  return f.max_reply_bytes <= kMaxCount32 ? WireError::kOk
                                          : WireError::kBadField;
}
WireError Check(const StateStreamRequestFrame& f) {
  const bool ok = f.from <= f.to && f.max_reply_bytes <= kMaxCount32;
  return ok ? WireError::kOk : WireError::kBadField;
}

// What an encoder asks of a frame before it writes it: Check, then
// BodyBytes. IHAVE and digest frames (no Check overload) are checked and
// sized in one pass over their entries: the engine measures an IHAVE in
// most calls that announce, and a digest holds dozens of entries. So are
// SHUFFLE and SHUFFLE_REPLY frames and their peers (a Check, then
// BodyBytes, read each peer's address twice).
struct Measured {
  WireError error;
  size_t body_bytes;
};
template <typename F>
Measured Measure(const F& f) {
  if (WireError e = Check(f); e != WireError::kOk) return {e, 0};
  return {WireError::kOk, BodyBytes(f)};
}
template <typename AnnounceFrame>
Measured MeasureAnnounce(const AnnounceFrame& f) {
  if (f.entries.size() > kMaxListEntries) {
    return {WireError::kTooManyEntries, 0};
  }
  size_t n = VarintBytes(f.entries.size());
  for (const IHaveEntry& e : f.entries) {
    if (WireError err = CheckMessageId(e.id); err != WireError::kOk) {
      return {err, 0};
    }
    n += MessageIdBytes(e.id) + VarintBytes(e.hops);
  }
  return {WireError::kOk, n};
}
Measured Measure(const IHaveFrame& f) { return MeasureAnnounce(f); }
Measured Measure(const DigestFrame& f) { return MeasureAnnounce(f); }
// A peer list, checked (at most kMaxListEntries, no address of kind
// kNone) and sized in one pass.
Measured MeasurePeers(const std::vector<PeerEntry>& peers) {
  if (peers.size() > kMaxListEntries) return {WireError::kTooManyEntries, 0};
  size_t n = VarintBytes(peers.size());
  for (const PeerEntry& p : peers) {
    if (!p.address.valid()) return {WireError::kBadAddress, 0};
    n += PeerEntryBytes(p);
  }
  return {WireError::kOk, n};
}
Measured Measure(const ShuffleReplyFrame& f) { return MeasurePeers(f.peers); }
Measured Measure(const ShuffleFrame& f) {  // the peers, then the origin
  const Measured peers = MeasurePeers(f.peers);
  if (peers.error != WireError::kOk) return peers;
  if (WireError e = CheckAddress(f.origin.address); e != WireError::kOk) {
    return {e, 0};
  }
  return {WireError::kOk, PeerEntryBytes(f.origin) + 1 + peers.body_bytes};
}

// --- Writing -----------------------------------------------------------------

// Writes into memory already sized by EncodedFrameBytes; never checks bounds.
class Writer {
 public:
  explicit Writer(uint8_t* p) : p_(p) {}
  uint8_t* position() const { return p_; }

  void U8(uint8_t v) { *p_++ = v; }
  void U16(uint16_t v) {
    p_[0] = static_cast<uint8_t>(v);
    p_[1] = static_cast<uint8_t>(v >> 8);
    p_ += 2;
  }
  void U64(uint64_t v) {
    if constexpr (std::endian::native == std::endian::big) {
      v = __builtin_bswap64(v);
    }
    std::memcpy(p_, &v, 8);  // little-endian, one store
    p_ += 8;
  }
  void Varint(uint64_t v) {
    while (v >= 0x80) {
      *p_++ = static_cast<uint8_t>(v | 0x80);
      v >>= 7;
    }
    *p_++ = static_cast<uint8_t>(v);
  }
  void Bytes(const uint8_t* data, size_t n) {
    if (n > 0) std::memcpy(p_, data, n);
    p_ += n;
  }
  void Bool(bool v) { U8(v ? 1 : 0); }
  void Id(NodeId id) { U64(id.value()); }
  void Message(const MessageId& id) {
    Id(id.origin);
    Varint(id.sequence);
  }
  void Addr(const Address& a) {
    U8(static_cast<uint8_t>(a.kind()));
    switch (a.kind()) {
      case Address::Kind::kSim:
        Varint(a.sim_index());
        break;
      case Address::Kind::kIpv4:
        Bytes(a.ip().data(), 4);
        U16(a.port());
        break;
      case Address::Kind::kIpv6:
        Bytes(a.ip().data(), 16);
        U16(a.port());
        break;
      case Address::Kind::kNone:
        break;
    }
  }
  void Peer(const PeerEntry& p) {
    Id(p.id);
    Addr(p.address);
  }
  void Peers(const std::vector<PeerEntry>& peers) {
    Varint(peers.size());
    for (const PeerEntry& p : peers) Peer(p);
  }
  void Ids(std::span<const MessageId> ids) {
    Varint(ids.size());
    for (const MessageId& id : ids) Message(id);
  }
  void U32(uint32_t v) {
    if constexpr (std::endian::native == std::endian::big) {
      v = __builtin_bswap32(v);
    }
    std::memcpy(p_, &v, 4);  // little-endian, one store
    p_ += 4;
  }
  void Record(const StateRecord& r) {
    U64(r.key.value());
    Id(r.version.origin);
    Varint(r.version.wall_us);
    Varint(r.version.logical);
    U8(r.deleted ? kRecordDeleted : 0);
    if (!r.deleted) {
      Varint(r.value.size());
      Bytes(r.value.data(), r.value.size());
    }
  }

 private:
  uint8_t* p_;
};

void EncodeBody(const JoinFrame&, Writer*) {}
void EncodeBody(const JoinReplyFrame&, Writer*) {}
void EncodeBody(const PruneFrame&, Writer*) {}
void EncodeBody(const ForwardJoinFrame& f, Writer* w) {
  w->Peer(f.joiner);
  w->U8(f.time_to_live);
}
void EncodeBody(const NeighborFrame& f, Writer* w) { w->Bool(f.high_priority); }
void EncodeBody(const NeighborReplyFrame& f, Writer* w) { w->Bool(f.accepted); }
void EncodeBody(const DisconnectFrame& f, Writer* w) {
  w->U8(static_cast<uint8_t>(f.reason));
  if (f.reason == DisconnectReason::kSwapped) w->Peer(f.replacement);
}
constexpr uint8_t kSwapAccepted = 1;
constexpr uint8_t kSwapHasPartner = 2;
void EncodeBody(const SwapFrame& f, Writer* w) { w->Peer(f.offer); }
void EncodeBody(const SwapReplyFrame& f, Writer* w) {
  w->U8(static_cast<uint8_t>((f.accepted ? kSwapAccepted : 0) |
                             (f.partner ? kSwapHasPartner : 0)));
  if (f.partner) w->Peer(*f.partner);
}
void EncodeBody(const ShuffleFrame& f, Writer* w) {
  w->Peer(f.origin);
  w->U8(f.time_to_live);
  w->Peers(f.peers);
}
void EncodeBody(const ShuffleReplyFrame& f, Writer* w) { w->Peers(f.peers); }
void EncodeBody(const PingFrame& f, Writer* w) { w->U64(f.nonce); }
void EncodeBody(const PongFrame& f, Writer* w) { w->U64(f.nonce); }
void EncodeBody(const GossipFrame& f, Writer* w) {
  w->Message(f.id);
  w->Varint(f.hops);
  w->Bytes(f.payload.data(), f.payload.size());
}
// Writes through a copy of *w: GCC keeps the copy's position in a
// register, where *w's was loaded and stored around every field
// (callgrind: ~13 instructions a frame).
template <typename AnnounceFrame>
void EncodeAnnounce(const AnnounceFrame& f, Writer* w) {
  Writer local = *w;
  local.Varint(f.entries.size());
  for (const IHaveEntry& e : f.entries) {
    local.Message(e.id);
    local.Varint(e.hops);
  }
  *w = local;
}
void EncodeBody(const IHaveFrame& f, Writer* w) { EncodeAnnounce(f, w); }
void EncodeBody(const DigestFrame& f, Writer* w) { EncodeAnnounce(f, w); }
void EncodeBody(const GraftFrame& f, Writer* w) { w->Ids(f.ids); }
void EncodeBody(const IWantFrame& f, Writer* w) { w->Ids(f.ids); }
void EncodeBody(const StateUpdateFrame& f, Writer* w) {
  w->U8(f.relay ? kUpdateRelay : 0);
  w->Varint(f.hops);
  w->Record(f.record);
}
void EncodeBody(const StateDigestFrame& f, Writer* w) {
  w->U32(f.round);
  w->Varint(f.count);
  w->U64(f.hash);
}
void EncodeBody(const StateRangesFrame& f, Writer* w) {
  w->U32(f.round);
  w->Varint(f.slices.size());
  for (const StateSliceDigest& d : f.slices) {
    w->Varint(d.count);
    w->U16(d.hash);
  }
}
void EncodeBody(const StateSketchRequestFrame& f, Writer* w) {
  w->U32(f.round);
  w->U64(f.slice_mask);
  w->Varint(f.reference_us);
  w->Varint(f.start);
  w->Varint(f.cells);
}
void EncodeBody(const StateSketchFrame& f, Writer* w) {
  w->U32(f.round);
  w->U64(f.slice_mask);
  w->U64(f.set_hash);
  w->Varint(f.start);
  w->Varint(f.cells.size());
  for (const SketchCell& c : f.cells) {
    w->U8(c.count);
    w->U64(c.key_sum);
    w->U32(c.tag_sum);
  }
}
void EncodeBody(const StateDeltaFrame& f, Writer* w) {
  w->U32(f.round);
  w->U8(f.has_resume ? kDeltaHasResume : 0);
  if (f.has_resume) w->U64(f.resume);
  w->Varint(f.records.size());
  for (const StateRecord& r : f.records) w->Record(r);
}
void EncodeBody(const StateRequestFrame& f, Writer* w) {
  w->U32(f.round);
  w->Varint(f.max_reply_bytes);
  w->Varint(f.keys.size());
  for (const StateKeyTag& k : f.keys) {
    w->U64(k.key.value());
    w->U32(k.tag);
  }
}
void EncodeBody(const StateStreamRequestFrame& f, Writer* w) {
  w->U32(f.round);
  w->U64(f.from);
  w->U64(f.to);
  w->Varint(f.max_reply_bytes);
}

// --- Reading -----------------------------------------------------------------

// Bounds-checked reader over [p, end). Running out of bytes returns the
// `underflow` error given at construction: kTruncated for the datagram,
// kBadLength inside a frame body (the body is shorter than its fields).
class Reader {
 public:
  Reader(const uint8_t* p, const uint8_t* end, WireError underflow)
      : p_(p), end_(end), underflow_(underflow) {}

  size_t remaining() const { return static_cast<size_t>(end_ - p_); }
  bool empty() const { return p_ == end_; }
  const uint8_t* position() const { return p_; }
  void Skip(size_t n) { p_ += n; }  // REQUIRES: n <= remaining().

  WireError U8(uint8_t* v) {
    if (p_ == end_) return underflow_;
    *v = *p_++;
    return WireError::kOk;
  }
  WireError U16(uint16_t* v) {
    if (remaining() < 2) return underflow_;
    *v = static_cast<uint16_t>(p_[0] | (p_[1] << 8));
    p_ += 2;
    return WireError::kOk;
  }
  WireError U64(uint64_t* v) {
    if (remaining() < 8) return underflow_;
    uint64_t x;
    std::memcpy(&x, p_, 8);  // little-endian, one load
    if constexpr (std::endian::native == std::endian::big) {
      x = __builtin_bswap64(x);
    }
    *v = x;
    p_ += 8;
    return WireError::kOk;
  }
  // Inline fast paths for one and two bytes (two: sim node indices from
  // 128 on, a gossip frame's length); the rest, every error included, is
  // SlowVarint's. A second byte of 0 is not minimal (SlowVarint refuses
  // it); one with its top bit set continues the varint. Forced inline:
  // left to itself, GCC kept one out-of-line copy, and a call per varint
  // (~1 M in the 2,000-node reference run, ~15 instructions each plus the
  // spilled reader at every call site) cost more than the fast paths.
  [[gnu::always_inline]] WireError Varint(uint64_t* v) {
    if (p_ != end_ && *p_ < 0x80) {
      *v = *p_++;
      return WireError::kOk;
    }
    if (remaining() >= 2 && static_cast<uint8_t>(p_[1] - 1) < 0x7f) {
      *v = (p_[0] & 0x7fu) | (static_cast<uint64_t>(p_[1]) << 7);
      p_ += 2;
      return WireError::kOk;
    }
    return SlowVarint(v);
  }
  WireError Bool(bool* v) {
    uint8_t b = 0;
    if (WireError e = U8(&b); e != WireError::kOk) return e;
    if (b > 1) return WireError::kBadField;
    *v = b == 1;
    return WireError::kOk;
  }
  WireError Id(NodeId* id) {
    uint64_t v = 0;
    if (WireError e = U64(&v); e != WireError::kOk) return e;
    *id = NodeId(v);
    return WireError::kOk;
  }
  WireError Message(MessageId* id) {
    if (WireError e = Id(&id->origin); e != WireError::kOk) return e;
    if (WireError e = Varint(&id->sequence); e != WireError::kOk) return e;
    return id->sequence != 0 ? WireError::kOk : WireError::kBadField;
  }
  // A message id then a hop count, as a gossip frame and each IHAVE or
  // digest entry begin. Inline fast path for the usual case, a sequence
  // and a hop count of one byte each (1-127 and 0-127: what Message and
  // Hops accept there), read with one bounds check; anything else, every
  // error included, is read field by field (~15 instructions an id saved,
  // callgrind).
  [[gnu::always_inline]] WireError MessageAndHops(MessageId* id,
                                                  uint32_t* hops) {
    if (remaining() >= 10 && static_cast<uint8_t>(p_[8] - 1) < 0x7f &&
        p_[9] < 0x80) {
      uint64_t origin;
      std::memcpy(&origin, p_, 8);  // little-endian, one load
      if constexpr (std::endian::native == std::endian::big) {
        origin = __builtin_bswap64(origin);
      }
      id->origin = NodeId(origin);
      id->sequence = p_[8];
      *hops = p_[9];
      p_ += 10;
      return WireError::kOk;
    }
    if (WireError e = Message(id); e != WireError::kOk) return e;
    return Hops(hops);
  }
  // Forced inline: GCC kept it out of line, a call for every gossip frame.
  [[gnu::always_inline]] WireError Hops(uint32_t* hops) {
    uint64_t v = 0;
    if (WireError e = Varint(&v); e != WireError::kOk) return e;
    if (v > kMaxHops) return WireError::kBadField;
    *hops = static_cast<uint32_t>(v);
    return WireError::kOk;
  }
  WireError ListCount(size_t* count) {
    uint64_t v = 0;
    if (WireError e = Varint(&v); e != WireError::kOk) return e;
    if (v > kMaxListEntries) return WireError::kTooManyEntries;
    *count = static_cast<size_t>(v);
    return WireError::kOk;
  }
  WireError Addr(Address* a);
  // Inline fast path for a simulator peer whose index takes one, two or
  // three bytes (what Addr accepts there: a last byte of 1-127; indices
  // below 2^21, every swarm the simulator runs), read with
  // one bounds check each; any other peer, every error included, is read
  // field by field (shuffles carry several peers each; ~15 instructions a
  // peer saved, callgrind).
  WireError Peer(PeerEntry* p) {
    constexpr auto kSim = static_cast<uint8_t>(Address::Kind::kSim);
    if (remaining() >= 10 && p_[8] == kSim) {
      if (p_[9] < 0x80) {
        p->address = Address::Sim(p_[9]);
        return FastPeerId(p, 10);
      }
      if (remaining() >= 11 && static_cast<uint8_t>(p_[10] - 1) < 0x7f) {
        p->address = Address::Sim((p_[9] & 0x7fu) | (uint32_t{p_[10]} << 7));
        return FastPeerId(p, 11);
      }
      if (remaining() >= 12 && p_[10] >= 0x80 &&
          static_cast<uint8_t>(p_[11] - 1) < 0x7f) {
        p->address = Address::Sim((p_[9] & 0x7fu) | ((p_[10] & 0x7fu) << 7) |
                                  (uint32_t{p_[11]} << 14));
        return FastPeerId(p, 12);
      }
    }
    if (WireError e = Id(&p->id); e != WireError::kOk) return e;
    return Addr(&p->address);
  }
  WireError U32(uint32_t* v) {
    if (remaining() < 4) return underflow_;
    uint32_t x = 0;
    for (int i = 0; i < 4; ++i) x |= static_cast<uint32_t>(p_[i]) << (8 * i);
    *v = x;
    p_ += 4;
    return WireError::kOk;
  }
  // A varint that must be <= max (else kBadField).
  WireError BoundedVarint(uint64_t max, uint64_t* v) {
    if (WireError e = Varint(v); e != WireError::kOk) return e;
    return *v <= max ? WireError::kOk : WireError::kBadField;
  }
  // One flags byte whose bits outside `known` must be clear.
  WireError Flags(uint8_t known, uint8_t* flags) {
    if (WireError e = U8(flags); e != WireError::kOk) return e;
    return (*flags & ~known) == 0 ? WireError::kOk : WireError::kBadField;
  }
  // `n` bytes as a span into the input.
  WireError Span(uint64_t n, std::span<const uint8_t>* out) {
    if (n > remaining()) return underflow_;
    *out = std::span<const uint8_t>(p_, static_cast<size_t>(n));
    p_ += n;
    return WireError::kOk;
  }
  WireError Record(StateRecord* r);

 private:
  [[gnu::noinline]] WireError SlowVarint(uint64_t* v);
  // Peer's fast path: the id at p_, then a skip of the whole peer.
  WireError FastPeerId(PeerEntry* p, size_t peer_bytes) {
    uint64_t id;
    std::memcpy(&id, p_, 8);  // little-endian, one load
    if constexpr (std::endian::native == std::endian::big) {
      id = __builtin_bswap64(id);
    }
    p->id = NodeId(id);
    p_ += peer_bytes;
    return WireError::kOk;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  WireError underflow_;
};

WireError Reader::SlowVarint(uint64_t* v) {
  uint64_t x = 0;
  for (int i = 0; i < 10; ++i) {
    if (p_ == end_) return underflow_;
    const uint8_t b = *p_++;
    // The 10th byte carries bit 63 only: anything more overflows 64 bits or
    // continues past 10 bytes.
    if (i == 9 && b > 1) return WireError::kBadVarint;
    x |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
    if ((b & 0x80) == 0) {
      if (b == 0 && i > 0) return WireError::kBadVarint;  // not minimal
      *v = x;
      return WireError::kOk;
    }
  }
  return WireError::kBadVarint;  // Unreachable: the 10th byte check returns.
}

WireError Reader::Addr(Address* a) {
  uint8_t kind = 0;
  if (WireError e = U8(&kind); e != WireError::kOk) return e;
  switch (static_cast<Address::Kind>(kind)) {
    case Address::Kind::kSim: {
      uint64_t index = 0;
      if (WireError e = Varint(&index); e != WireError::kOk) return e;
      if (index > kMaxSimIndex) return WireError::kBadAddress;
      *a = Address::Sim(static_cast<uint32_t>(index));
      return WireError::kOk;
    }
    case Address::Kind::kIpv4: {
      std::array<uint8_t, 4> ip;
      uint16_t port = 0;
      if (remaining() < ip.size()) return underflow_;
      std::memcpy(ip.data(), p_, ip.size());
      p_ += ip.size();
      if (WireError e = U16(&port); e != WireError::kOk) return e;
      *a = Address::Ipv4(ip, port);
      return WireError::kOk;
    }
    case Address::Kind::kIpv6: {
      std::array<uint8_t, 16> ip;
      uint16_t port = 0;
      if (remaining() < ip.size()) return underflow_;
      std::memcpy(ip.data(), p_, ip.size());
      p_ += ip.size();
      if (WireError e = U16(&port); e != WireError::kOk) return e;
      *a = Address::Ipv6(ip, port);
      return WireError::kOk;
    }
    case Address::Kind::kNone:
      break;
  }
  return WireError::kBadAddress;
}

WireError Reader::Record(StateRecord* r) {
  uint64_t key = 0;
  if (WireError e = U64(&key); e != WireError::kOk) return e;
  r->key = StateId(key);
  if (WireError e = Id(&r->version.origin); e != WireError::kOk) return e;
  if (WireError e = BoundedVarint(kMaxHlcWallMicros, &r->version.wall_us);
      e != WireError::kOk) {
    return e;
  }
  uint64_t logical = 0;
  if (WireError e = BoundedVarint(kMaxCount32, &logical); e != WireError::kOk) {
    return e;
  }
  r->version.logical = static_cast<uint32_t>(logical);
  uint8_t flags = 0;
  if (WireError e = Flags(kRecordDeleted, &flags); e != WireError::kOk) {
    return e;
  }
  r->deleted = (flags & kRecordDeleted) != 0;
  r->value = {};
  if (r->deleted) return WireError::kOk;
  uint64_t length = 0;
  if (WireError e = Varint(&length); e != WireError::kOk) return e;
  return Span(length, &r->value);
}

WireError DecodeBody(Reader*, JoinFrame*) { return WireError::kOk; }
WireError DecodeBody(Reader*, JoinReplyFrame*) { return WireError::kOk; }
WireError DecodeBody(Reader*, PruneFrame*) { return WireError::kOk; }
WireError DecodeBody(Reader* r, ForwardJoinFrame* f) {
  if (WireError e = r->Peer(&f->joiner); e != WireError::kOk) return e;
  return r->U8(&f->time_to_live);
}
WireError DecodeBody(Reader* r, NeighborFrame* f) {
  return r->Bool(&f->high_priority);
}
WireError DecodeBody(Reader* r, NeighborReplyFrame* f) {
  return r->Bool(&f->accepted);
}
WireError DecodeBody(Reader* r, DisconnectFrame* f) {
  uint8_t reason = 0;
  if (WireError e = r->U8(&reason); e != WireError::kOk) return e;
  if (reason > static_cast<uint8_t>(DisconnectReason::kSwapped)) {
    return WireError::kBadField;
  }
  f->reason = static_cast<DisconnectReason>(reason);
  if (f->reason != DisconnectReason::kSwapped) return WireError::kOk;
  return r->Peer(&f->replacement);
}
WireError DecodeBody(Reader* r, SwapFrame* f) { return r->Peer(&f->offer); }
WireError DecodeBody(Reader* r, SwapReplyFrame* f) {
  uint8_t flags = 0;
  if (WireError e = r->U8(&flags); e != WireError::kOk) return e;
  if ((flags & ~(kSwapAccepted | kSwapHasPartner)) != 0 ||
      flags == kSwapHasPartner) {
    return WireError::kBadField;
  }
  f->accepted = (flags & kSwapAccepted) != 0;
  if ((flags & kSwapHasPartner) == 0) return WireError::kOk;
  f->partner.emplace();
  return r->Peer(&*f->partner);
}
// Sizes a list of `count` entries, whose decoder then overwrites every
// one. A list too small takes the spare storage of its kind first, when
// that is larger (DecodedDatagram::spare): no allocation once warm. The
// spare's leftover entries are overwritten like any others.
template <typename List>
void SizeList(size_t count, List* list, List* spare) {
  if (count > list->capacity() && spare->capacity() > list->capacity()) {
    list->swap(*spare);
  }
  list->resize(count);
}
WireError DecodePeers(Reader* r, std::vector<PeerEntry>* peers,
                      std::vector<PeerEntry>* spare) {
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  SizeList(count, peers, spare);
  for (PeerEntry& p : *peers) {
    if (WireError e = r->Peer(&p); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeIds(Reader* r, std::vector<MessageId>* ids,
                    std::vector<MessageId>* spare) {
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  SizeList(count, ids, spare);
  for (MessageId& id : *ids) {
    if (WireError e = r->Message(&id); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
using SpareLists = DecodedDatagram::SpareLists;
WireError DecodeBody(Reader* r, ShuffleFrame* f, SpareLists* spare) {
  if (WireError e = r->Peer(&f->origin); e != WireError::kOk) return e;
  if (WireError e = r->U8(&f->time_to_live); e != WireError::kOk) return e;
  return DecodePeers(r, &f->peers, &spare->peers);
}
WireError DecodeBody(Reader* r, ShuffleReplyFrame* f, SpareLists* spare) {
  return DecodePeers(r, &f->peers, &spare->peers);
}
WireError DecodeBody(Reader* r, PingFrame* f) { return r->U64(&f->nonce); }
WireError DecodeBody(Reader* r, PongFrame* f) { return r->U64(&f->nonce); }
WireError DecodeBody(Reader* r, GossipFrame* f) {
  if (WireError e = r->MessageAndHops(&f->id, &f->hops); e != WireError::kOk) {
    return e;
  }
  f->payload = std::span<const uint8_t>(r->position(), r->remaining());
  r->Skip(r->remaining());
  return WireError::kOk;
}
template <typename AnnounceFrame>
WireError DecodeAnnounce(Reader* r, AnnounceFrame* f, SpareLists* spare) {
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  SizeList(count, &f->entries, &spare->entries);
  for (IHaveEntry& entry : f->entries) {
    if (WireError e = r->MessageAndHops(&entry.id, &entry.hops);
        e != WireError::kOk) {
      return e;
    }
  }
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, IHaveFrame* f, SpareLists* spare) {
  return DecodeAnnounce(r, f, spare);
}
WireError DecodeBody(Reader* r, DigestFrame* f, SpareLists* spare) {
  return DecodeAnnounce(r, f, spare);
}
WireError DecodeBody(Reader* r, GraftFrame* f, SpareLists* spare) {
  return DecodeIds(r, &f->ids, &spare->ids);
}
WireError DecodeBody(Reader* r, IWantFrame* f, SpareLists* spare) {
  return DecodeIds(r, &f->ids, &spare->ids);
}

WireError DecodeBody(Reader* r, StateUpdateFrame* f) {
  uint8_t flags = 0;
  if (WireError e = r->Flags(kUpdateRelay, &flags); e != WireError::kOk) {
    return e;
  }
  f->relay = (flags & kUpdateRelay) != 0;
  if (WireError e = r->Hops(&f->hops); e != WireError::kOk) return e;
  return r->Record(&f->record);
}
WireError DecodeBody(Reader* r, StateDigestFrame* f) {
  if (WireError e = r->U32(&f->round); e != WireError::kOk) return e;
  if (WireError e = r->BoundedVarint(kMaxCount32, &f->count);
      e != WireError::kOk) {
    return e;
  }
  return r->U64(&f->hash);
}
WireError DecodeBody(Reader* r, StateRangesFrame* f) {
  if (WireError e = r->U32(&f->round); e != WireError::kOk) return e;
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  f->slices.resize(count);
  for (StateSliceDigest& d : f->slices) {
    if (WireError e = r->BoundedVarint(kMaxCount32, &d.count);
        e != WireError::kOk) {
      return e;
    }
    if (WireError e = r->U16(&d.hash); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, StateSketchRequestFrame* f) {
  if (WireError e = r->U32(&f->round); e != WireError::kOk) return e;
  if (WireError e = r->U64(&f->slice_mask); e != WireError::kOk) return e;
  if (WireError e = r->Varint(&f->reference_us); e != WireError::kOk) return e;
  if (WireError e = r->Varint(&f->start); e != WireError::kOk) return e;
  if (WireError e = r->Varint(&f->cells); e != WireError::kOk) return e;
  return Check(*f);
}
WireError DecodeBody(Reader* r, StateSketchFrame* f) {
  if (WireError e = r->U32(&f->round); e != WireError::kOk) return e;
  if (WireError e = r->U64(&f->slice_mask); e != WireError::kOk) return e;
  if (WireError e = r->U64(&f->set_hash); e != WireError::kOk) return e;
  if (WireError e = r->BoundedVarint(kMaxSketchIndex, &f->start);
      e != WireError::kOk) {
    return e;
  }
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  if (count > kMaxSketchIndex - f->start) return WireError::kBadField;
  f->cells.resize(count);
  for (SketchCell& c : f->cells) {
    if (WireError e = r->U8(&c.count); e != WireError::kOk) return e;
    if (WireError e = r->U64(&c.key_sum); e != WireError::kOk) return e;
    if (WireError e = r->U32(&c.tag_sum); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, StateDeltaFrame* f) {
  if (WireError e = r->U32(&f->round); e != WireError::kOk) return e;
  uint8_t flags = 0;
  if (WireError e = r->Flags(kDeltaHasResume, &flags); e != WireError::kOk) {
    return e;
  }
  f->has_resume = (flags & kDeltaHasResume) != 0;
  f->resume = 0;
  if (f->has_resume) {
    if (WireError e = r->U64(&f->resume); e != WireError::kOk) return e;
  }
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  f->records.resize(count);
  for (StateRecord& record : f->records) {
    if (WireError e = r->Record(&record); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, StateRequestFrame* f) {
  if (WireError e = r->U32(&f->round); e != WireError::kOk) return e;
  if (WireError e = r->BoundedVarint(kMaxCount32, &f->max_reply_bytes);
      e != WireError::kOk) {
    return e;
  }
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  f->keys.resize(count);
  for (StateKeyTag& k : f->keys) {
    uint64_t key = 0;
    if (WireError e = r->U64(&key); e != WireError::kOk) return e;
    k.key = StateId(key);
    if (WireError e = r->U32(&k.tag); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, StateStreamRequestFrame* f) {
  if (WireError e = r->U32(&f->round); e != WireError::kOk) return e;
  if (WireError e = r->U64(&f->from); e != WireError::kOk) return e;
  if (WireError e = r->U64(&f->to); e != WireError::kOk) return e;
  if (WireError e = r->BoundedVarint(kMaxCount32, &f->max_reply_bytes);
      e != WireError::kOk) {
    return e;
  }
  return f->from <= f->to ? WireError::kOk : WireError::kBadField;
}

// Frames without a list take no spare storage.
template <typename T>
WireError DecodeBody(Reader* r, T* f, SpareLists*) {
  return DecodeBody(r, f);
}

// Decodes one body of type T, which must fill `body` exactly, into a frame
// built in place at the end of out->frames (decoded aside and moved there,
// each frame was copied once more). On error the frame stays:
// DecodeDatagram then clears them all.
template <typename T>
WireError DecodeFrame(Reader* body, DecodedDatagram* out) {
  T& frame = *std::get_if<T>(&out->frames.emplace_back(std::in_place_type<T>));
  if (WireError e = DecodeBody(body, &frame, &out->spare);
      e != WireError::kOk) {
    return e;
  }
  return body->empty() ? WireError::kOk : WireError::kBadLength;
}

WireError DecodeFrameOfType(uint8_t type, Reader* body, DecodedDatagram* out) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kJoin:
      return DecodeFrame<JoinFrame>(body, out);
    case FrameType::kForwardJoin:
      return DecodeFrame<ForwardJoinFrame>(body, out);
    case FrameType::kNeighbor:
      return DecodeFrame<NeighborFrame>(body, out);
    case FrameType::kNeighborReply:
      return DecodeFrame<NeighborReplyFrame>(body, out);
    case FrameType::kDisconnect:
      return DecodeFrame<DisconnectFrame>(body, out);
    case FrameType::kShuffle:
      return DecodeFrame<ShuffleFrame>(body, out);
    case FrameType::kShuffleReply:
      return DecodeFrame<ShuffleReplyFrame>(body, out);
    case FrameType::kPing:
      return DecodeFrame<PingFrame>(body, out);
    case FrameType::kPong:
      return DecodeFrame<PongFrame>(body, out);
    case FrameType::kJoinReply:
      return DecodeFrame<JoinReplyFrame>(body, out);
    case FrameType::kSwap:
      return DecodeFrame<SwapFrame>(body, out);
    case FrameType::kSwapReply:
      return DecodeFrame<SwapReplyFrame>(body, out);
    case FrameType::kGossip:
      return DecodeFrame<GossipFrame>(body, out);
    case FrameType::kIHave:
      return DecodeFrame<IHaveFrame>(body, out);
    case FrameType::kGraft:
      return DecodeFrame<GraftFrame>(body, out);
    case FrameType::kPrune:
      return DecodeFrame<PruneFrame>(body, out);
    case FrameType::kIWant:
      return DecodeFrame<IWantFrame>(body, out);
    case FrameType::kDigest:
      return DecodeFrame<DigestFrame>(body, out);
    case FrameType::kStateUpdate:
      return DecodeFrame<StateUpdateFrame>(body, out);
    case FrameType::kStateDigest:
      return DecodeFrame<StateDigestFrame>(body, out);
    case FrameType::kStateRanges:
      return DecodeFrame<StateRangesFrame>(body, out);
    case FrameType::kStateSketchRequest:
      return DecodeFrame<StateSketchRequestFrame>(body, out);
    case FrameType::kStateSketch:
      return DecodeFrame<StateSketchFrame>(body, out);
    case FrameType::kStateDelta:
      return DecodeFrame<StateDeltaFrame>(body, out);
    case FrameType::kStateRequest:
      return DecodeFrame<StateRequestFrame>(body, out);
    case FrameType::kStateStreamRequest:
      return DecodeFrame<StateStreamRequestFrame>(body, out);
  }
  return WireError::kUnknownFrameType;
}

WireError DecodeFrames(Reader* r, DecodedDatagram* out) {
  if (r->empty()) return WireError::kNoFrames;
  while (!r->empty()) {
    uint8_t type = 0;
    uint64_t length = 0;
    if (WireError e = r->U8(&type); e != WireError::kOk) return e;
    if (WireError e = r->Varint(&length); e != WireError::kOk) return e;
    if (length > r->remaining()) return WireError::kTruncated;
    Reader body(r->position(), r->position() + length, WireError::kBadLength);
    r->Skip(static_cast<size_t>(length));
    if (WireError e = DecodeFrameOfType(type, &body, out);
        e != WireError::kOk) {
      return e;
    }
  }
  return WireError::kOk;
}

}  // namespace

const char* WireErrorName(WireError error) {
  switch (error) {
    case WireError::kOk:
      return "ok";
    case WireError::kTruncated:
      return "truncated";
    case WireError::kBadVersion:
      return "bad_version";
    case WireError::kUnknownFrameType:
      return "unknown_frame_type";
    case WireError::kBadLength:
      return "bad_length";
    case WireError::kBadVarint:
      return "bad_varint";
    case WireError::kBadAddress:
      return "bad_address";
    case WireError::kBadField:
      return "bad_field";
    case WireError::kTooManyEntries:
      return "too_many_entries";
    case WireError::kNoFrames:
      return "no_frames";
    case WireError::kTooLarge:
      return "too_large";
    case WireError::kCount:
      break;
  }
  return "unknown";
}

const char* FrameTypeName(FrameType type) {
  switch (type) {
    case FrameType::kJoin:
      return "join";
    case FrameType::kForwardJoin:
      return "forward_join";
    case FrameType::kNeighbor:
      return "neighbor";
    case FrameType::kNeighborReply:
      return "neighbor_reply";
    case FrameType::kDisconnect:
      return "disconnect";
    case FrameType::kShuffle:
      return "shuffle";
    case FrameType::kShuffleReply:
      return "shuffle_reply";
    case FrameType::kPing:
      return "ping";
    case FrameType::kPong:
      return "pong";
    case FrameType::kJoinReply:
      return "join_reply";
    case FrameType::kSwap:
      return "swap";
    case FrameType::kSwapReply:
      return "swap_reply";
    case FrameType::kGossip:
      return "gossip";
    case FrameType::kIHave:
      return "ihave";
    case FrameType::kGraft:
      return "graft";
    case FrameType::kPrune:
      return "prune";
    case FrameType::kIWant:
      return "iwant";
    case FrameType::kDigest:
      return "digest";
    case FrameType::kStateUpdate:
      return "state_update";
    case FrameType::kStateDigest:
      return "state_digest";
    case FrameType::kStateRanges:
      return "state_ranges";
    case FrameType::kStateSketchRequest:
      return "state_sketch_request";
    case FrameType::kStateSketch:
      return "state_sketch";
    case FrameType::kStateDelta:
      return "state_delta";
    case FrameType::kStateRequest:
      return "state_request";
    case FrameType::kStateStreamRequest:
      return "state_stream_request";
  }
  return "unknown";
}

size_t VarintBytesSlow(uint64_t value) {
  size_t n = 1;
  while (value >= 0x80) {
    value >>= 7;
    ++n;
  }
  return n;
}

void AppendVarint(uint64_t value, std::vector<uint8_t>* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<uint8_t>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<uint8_t>(value));
}

size_t EncodedRecordBytes(const StateRecord& record) {
  return RecordBytes(record);
}

size_t EncodedFrameBytes(const Frame& frame) {
  const size_t body =
      std::visit([](const auto& f) { return BodyBytes(f); }, frame);
  return 1 + VarintBytes(body) + body;
}

// The visitors take and return values rather than pointers into the
// caller's frame (the size, the writer): the engine inlines both around a
// loop, and a writer shared by reference lived in memory, loaded and stored
// around every field (callgrind).
WireError MeasureFrame(const Frame& frame, size_t* body_bytes) {
  const Measured measured =
      std::visit([](const auto& f) { return Measure(f); }, frame);
  if (measured.error == WireError::kOk) *body_bytes = measured.body_bytes;
  return measured.error;
}

uint8_t* WriteFrame(const Frame& frame, size_t body_bytes, uint8_t* out) {
  Writer w(out);
  w.U8(static_cast<uint8_t>(TypeOf(frame)));
  w.Varint(body_bytes);
  return std::visit(
      [body = w.position()](const auto& f) {
        Writer body_writer(body);
        EncodeBody(f, &body_writer);
        return body_writer.position();
      },
      frame);
}

FrameWritten WriteFrameWithin(const Frame& frame, size_t room, uint8_t* out) {
  return std::visit(
      [room, out]<typename F>(const F& f) -> FrameWritten {
        const Measured measured = Measure(f);
        if (measured.error != WireError::kOk) return {nullptr, measured.error};
        const size_t body = measured.body_bytes;
        if (EncodedFrameBytesForBody(body) > room) {
          return {nullptr, WireError::kTooLarge};
        }
        Writer w(out);
        w.U8(static_cast<uint8_t>(
            wire_internal::kTypeOfIndex[wire_internal::FrameIndex<F>()]));
        w.Varint(body);
        EncodeBody(f, &w);
        return {w.position(), WireError::kOk};
      },
      frame);
}

DatagramBuilder::DatagramBuilder(NodeId sender, size_t max_datagram_bytes)
    : sender_(sender), max_datagram_bytes_(max_datagram_bytes) {
  assert(max_datagram_bytes >= kDatagramHeaderBytes + 2);
  StartDatagram();
}

void DatagramBuilder::StartDatagram() {
  frame_count_ = 0;
  // bytes_ is only ever grown (zero-filled once); size_ says how much of
  // it the datagram uses, so no frame pays for zeroing what it overwrites.
  // A typical budget fits in one buffer; huge budgets grow on demand.
  const size_t typical =
      std::min(max_datagram_bytes_, kDefaultMaxDatagramBytes);
  if (bytes_.size() < typical) bytes_.resize(typical);
  size_ = kDatagramHeaderBytes;
  Writer w(bytes_.data());
  w.U8(kWireVersion);
  w.Id(sender_);
}

size_t DatagramBuilder::remaining_bytes() const {
  return max_datagram_bytes_ - size_;
}

WireError DatagramBuilder::Add(const Frame& frame) {
  const auto type = static_cast<uint8_t>(TypeOf(frame));
  return std::visit(
      [this, type](const auto& f) {
        const Measured measured = Measure(f);
        if (measured.error != WireError::kOk) return measured.error;
        const size_t body = measured.body_bytes;
        const size_t total = 1 + VarintBytes(body) + body;
        if (total > remaining_bytes()) return WireError::kTooLarge;
        const size_t start = size_;
        if (start + total > bytes_.size()) bytes_.resize(start + total);
        Writer w(bytes_.data() + start);
        w.U8(type);
        w.Varint(body);
        EncodeBody(f, &w);
        size_ = start + total;
        assert(w.position() == bytes_.data() + size_);
        ++frame_count_;
        return WireError::kOk;
      },
      frame);
}

std::vector<uint8_t> DatagramBuilder::Finish() {
  std::vector<uint8_t> datagram(bytes_.begin(), bytes_.begin() + size_);
  StartDatagram();
  return datagram;
}

void DatagramBuilder::Restart(NodeId sender, size_t max_datagram_bytes) {
  assert(max_datagram_bytes >= kDatagramHeaderBytes + 2);
  sender_ = sender;
  max_datagram_bytes_ = max_datagram_bytes;
  StartDatagram();
}

void DatagramBuilder::FinishInto(std::vector<uint8_t>* out) {
  // Recycled buffers all get a typical datagram's capacity, so that they
  // can circulate among datagrams of any size without reallocating.
  if (out->capacity() < size_) {
    out->reserve(std::max(
        size_, std::min(max_datagram_bytes_, kDefaultMaxDatagramBytes)));
  }
  out->assign(bytes_.begin(), bytes_.begin() + size_);
  StartDatagram();
}

namespace {
// Keeps the larger of a list's storage and the spare's as the spare; the
// other goes with the frame.
template <typename List>
void KeepLargerStorage(List* list, List* spare) {
  if (list->capacity() > spare->capacity()) list->swap(*spare);
}
}  // namespace

// The frames of wire_internal::kFramesWithSpareLists are those with a
// `peers`, `ids` or `entries` list, tested by type, the most common first
// (IHAVE: about one datagram in five). A std::visit, a call through its
// table per frame, cost ~23 instructions more a list frame (callgrind).
static_assert(wire_internal::kFramesWithSpareLists ==
              ((uint64_t{1} << wire_internal::FrameIndex<IHaveFrame>()) |
               (uint64_t{1} << wire_internal::FrameIndex<ShuffleFrame>()) |
               (uint64_t{1} << wire_internal::FrameIndex<GraftFrame>()) |
               (uint64_t{1} << wire_internal::FrameIndex<IWantFrame>()) |
               (uint64_t{1} << wire_internal::FrameIndex<DigestFrame>()) |
               (uint64_t{1}
                << wire_internal::FrameIndex<ShuffleReplyFrame>())));
void DecodedDatagram::KeepListStorage(Frame* frame) {
  if (auto* f = std::get_if<IHaveFrame>(frame)) {
    KeepLargerStorage(&f->entries, &spare.entries);
  } else if (auto* f = std::get_if<ShuffleFrame>(frame)) {
    KeepLargerStorage(&f->peers, &spare.peers);
  } else if (auto* f = std::get_if<GraftFrame>(frame)) {
    KeepLargerStorage(&f->ids, &spare.ids);
  } else if (auto* f = std::get_if<IWantFrame>(frame)) {
    KeepLargerStorage(&f->ids, &spare.ids);
  } else if (auto* f = std::get_if<DigestFrame>(frame)) {
    KeepLargerStorage(&f->entries, &spare.entries);
  } else if (auto* f = std::get_if<ShuffleReplyFrame>(frame)) {
    KeepLargerStorage(&f->peers, &spare.peers);
  }
}

namespace {
// 8 little-endian bytes at `p`, one load.
uint64_t LoadLe64(const uint8_t* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  if constexpr (std::endian::native == std::endian::big) {
    x = __builtin_bswap64(x);
  }
  return x;
}

// An IHAVE entry whose sequence and hop count take one byte each (what
// Reader::MessageAndHops reads with one check) at `p`.
bool IsShortAnnouncement(const uint8_t* p) {
  return static_cast<uint8_t>(p[8] - 1) < 0x7f && p[9] < 0x80;
}

// A lone PING or PONG: its body is the 8-byte nonce.
template <typename NonceFrame>
[[gnu::always_inline]] inline bool DecodeLoneNonce(size_t length,
                                                   const uint8_t* body,
                                                   DecodedDatagram* out) {
  if (length != 8) return false;
  std::get_if<NonceFrame>(
      &out->frames.emplace_back(std::in_place_type<NonceFrame>))
      ->nonce = LoadLe64(body);
  return true;
}

// Decodes [p, end) when it is one whole frame of the kinds most datagrams
// of a broadcast are -- GOSSIP, PING, PONG, an IHAVE of one or two entries
// -- with the usual short fields (a frame length of one or two bytes, a
// sequence and hop count of one byte each), and returns true; anything
// else, every error included, is left to DecodeFrames: false, *out
// untouched. Saves DecodeFrames' call, loop and dispatch (~30
// instructions a datagram, callgrind); the frames are the ones
// DecodeFrames would give (the tests decode each kind both ways).
[[gnu::always_inline]] inline bool DecodeLoneFrame(const uint8_t* p,
                                                   const uint8_t* end,
                                                   DecodedDatagram* out) {
  const size_t n = static_cast<size_t>(end - p);
  if (n < 2) return false;
  size_t length;
  const uint8_t* body;
  if (p[1] < 0x80) {
    length = p[1];
    body = p + 2;
  } else if (n >= 3 && static_cast<uint8_t>(p[2] - 1) < 0x7f) {
    length = (p[1] & 0x7fu) | (size_t{p[2]} << 7);
    body = p + 3;
  } else {
    return false;
  }
  if (length != static_cast<size_t>(end - body)) return false;
  switch (static_cast<FrameType>(p[0])) {
    case FrameType::kGossip: {
      if (length < 10 || !IsShortAnnouncement(body)) return false;
      GossipFrame& f = *std::get_if<GossipFrame>(
          &out->frames.emplace_back(std::in_place_type<GossipFrame>));
      f.id = MessageId{NodeId(LoadLe64(body)), body[8]};
      f.hops = body[9];
      f.payload = std::span<const uint8_t>(body + 10, end);
      return true;
    }
    case FrameType::kIHave: {
      // The count is read only once the length says it is there.
      if ((length != 11 && length != 21) || body[0] != length / 10 ||
          !IsShortAnnouncement(body + 1) ||
          (length == 21 && !IsShortAnnouncement(body + 11))) {
        return false;
      }
      IHaveFrame& f = *std::get_if<IHaveFrame>(
          &out->frames.emplace_back(std::in_place_type<IHaveFrame>));
      for (const uint8_t* e = body + 1; e != end; e += 10) {
        f.entries.push_back(
            IHaveEntry{MessageId{NodeId(LoadLe64(e)), e[8]}, e[9]});
      }
      return true;
    }
    case FrameType::kPing:
      return DecodeLoneNonce<PingFrame>(length, body, out);
    case FrameType::kPong:
      return DecodeLoneNonce<PongFrame>(length, body, out);
    default:
      return false;
  }
}
}  // namespace

WireError DecodeDatagram(std::span<const uint8_t> bytes, DecodedDatagram* out) {
  out->Clear();
  return DecodeIntoCleared(bytes, out);
}

WireError DecodeIntoCleared(std::span<const uint8_t> bytes,
                            DecodedDatagram* out) {
  assert(out->frames.empty());
  if (bytes.empty()) return WireError::kTruncated;
  if (bytes[0] != kWireVersion) return WireError::kBadVersion;
  Reader r(bytes.data() + 1, bytes.data() + bytes.size(),
           WireError::kTruncated);
  if (WireError e = r.Id(&out->sender); e != WireError::kOk) return e;
  if (DecodeLoneFrame(r.position(), bytes.data() + bytes.size(), out)) {
    return WireError::kOk;
  }
  if (WireError e = DecodeFrames(&r, out); e != WireError::kOk) {
    out->Clear();
    return e;
  }
  return WireError::kOk;
}

}  // namespace elara
