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
//   Disconnect      := reason:u8          (0 evicted, 1 leaving, else
//                                          kBadField)
//   Shuffle         := origin:PeerEntry time_to_live:u8 peers:list<PeerEntry>
//   ShuffleReply    := peers:list<PeerEntry>
//   Ping, Pong      := nonce: 8 bytes (random, so fixed width)
//   Gossip          := id:MessageId hops payload (the rest of the body: the
//                      frame length already delimits it)
//   IHave           := entries:list<MessageId hops>
//   Graft, IWant    := ids:list<MessageId>
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
// into the input and reuses out->frames' capacity; encoding computes the
// exact size first, grows the buffer once and writes through a raw pointer.
#include "core/wire.h"

#include <array>
#include <cassert>
#include <cstring>
#include <iterator>
#include <limits>
#include <utility>

namespace elara {
namespace {

constexpr uint64_t kMaxHops = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kMaxSimIndex = std::numeric_limits<uint32_t>::max();

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
size_t IdListBytes(const std::vector<MessageId>& ids) {
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
size_t BodyBytes(const DisconnectFrame&) { return 1; }
size_t BodyBytes(const ShuffleFrame& f) {
  return PeerEntryBytes(f.origin) + 1 + PeerListBytes(f.peers);
}
size_t BodyBytes(const ShuffleReplyFrame& f) { return PeerListBytes(f.peers); }
size_t BodyBytes(const PingFrame&) { return 8; }
size_t BodyBytes(const PongFrame&) { return 8; }
size_t BodyBytes(const GossipFrame& f) {
  return MessageIdBytes(f.id) + VarintBytes(f.hops) + f.payload.size();
}
size_t BodyBytes(const IHaveFrame& f) {
  size_t n = VarintBytes(f.entries.size());
  for (const IHaveEntry& e : f.entries) {
    n += MessageIdBytes(e.id) + VarintBytes(e.hops);
  }
  return n;
}
size_t BodyBytes(const GraftFrame& f) { return IdListBytes(f.ids); }
size_t BodyBytes(const IWantFrame& f) { return IdListBytes(f.ids); }

// --- Validation (encode side: refuse what the decoder would reject) ---------

WireError CheckAddress(const Address& a) {
  return a.valid() ? WireError::kOk : WireError::kBadAddress;
}
WireError CheckMessageId(const MessageId& id) {
  return id.sequence != 0 ? WireError::kOk : WireError::kBadField;
}
WireError CheckPeers(const std::vector<PeerEntry>& peers) {
  if (peers.size() > kMaxListEntries) return WireError::kTooManyEntries;
  for (const PeerEntry& p : peers) {
    if (WireError e = CheckAddress(p.address); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError CheckIds(const std::vector<MessageId>& ids) {
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
  return f.reason == DisconnectReason::kEvicted ||
                 f.reason == DisconnectReason::kLeaving
             ? WireError::kOk
             : WireError::kBadField;
}
WireError Check(const ShuffleFrame& f) {
  if (WireError e = CheckPeers(f.peers); e != WireError::kOk) return e;
  return CheckAddress(f.origin.address);
}
WireError Check(const ShuffleReplyFrame& f) { return CheckPeers(f.peers); }
WireError Check(const GossipFrame& f) { return CheckMessageId(f.id); }
WireError Check(const IHaveFrame& f) {
  if (f.entries.size() > kMaxListEntries) return WireError::kTooManyEntries;
  for (const IHaveEntry& e : f.entries) {
    if (WireError err = CheckMessageId(e.id); err != WireError::kOk) {
      return err;
    }
  }
  return WireError::kOk;
}
WireError Check(const GraftFrame& f) { return CheckIds(f.ids); }
WireError Check(const IWantFrame& f) { return CheckIds(f.ids); }

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
    for (int i = 0; i < 8; ++i) p_[i] = static_cast<uint8_t>(v >> (8 * i));
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
  void Ids(const std::vector<MessageId>& ids) {
    Varint(ids.size());
    for (const MessageId& id : ids) Message(id);
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
void EncodeBody(const IHaveFrame& f, Writer* w) {
  w->Varint(f.entries.size());
  for (const IHaveEntry& e : f.entries) {
    w->Message(e.id);
    w->Varint(e.hops);
  }
}
void EncodeBody(const GraftFrame& f, Writer* w) { w->Ids(f.ids); }
void EncodeBody(const IWantFrame& f, Writer* w) { w->Ids(f.ids); }

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
    uint64_t x = 0;
    for (int i = 0; i < 8; ++i) x |= static_cast<uint64_t>(p_[i]) << (8 * i);
    *v = x;
    p_ += 8;
    return WireError::kOk;
  }
  WireError Varint(uint64_t* v) {
    if (p_ != end_ && *p_ < 0x80) {  // Fast path: one byte.
      *v = *p_++;
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
  WireError Hops(uint32_t* hops) {
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
  WireError Peer(PeerEntry* p) {
    if (WireError e = Id(&p->id); e != WireError::kOk) return e;
    return Addr(&p->address);
  }

 private:
  WireError SlowVarint(uint64_t* v);

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
  if (reason > static_cast<uint8_t>(DisconnectReason::kLeaving)) {
    return WireError::kBadField;
  }
  f->reason = static_cast<DisconnectReason>(reason);
  return WireError::kOk;
}
WireError DecodePeers(Reader* r, std::vector<PeerEntry>* peers) {
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  peers->resize(count);
  for (PeerEntry& p : *peers) {
    if (WireError e = r->Peer(&p); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeIds(Reader* r, std::vector<MessageId>* ids) {
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  ids->resize(count);
  for (MessageId& id : *ids) {
    if (WireError e = r->Message(&id); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, ShuffleFrame* f) {
  if (WireError e = r->Peer(&f->origin); e != WireError::kOk) return e;
  if (WireError e = r->U8(&f->time_to_live); e != WireError::kOk) return e;
  return DecodePeers(r, &f->peers);
}
WireError DecodeBody(Reader* r, ShuffleReplyFrame* f) {
  return DecodePeers(r, &f->peers);
}
WireError DecodeBody(Reader* r, PingFrame* f) { return r->U64(&f->nonce); }
WireError DecodeBody(Reader* r, PongFrame* f) { return r->U64(&f->nonce); }
WireError DecodeBody(Reader* r, GossipFrame* f) {
  if (WireError e = r->Message(&f->id); e != WireError::kOk) return e;
  if (WireError e = r->Hops(&f->hops); e != WireError::kOk) return e;
  f->payload = std::span<const uint8_t>(r->position(), r->remaining());
  r->Skip(r->remaining());
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, IHaveFrame* f) {
  size_t count = 0;
  if (WireError e = r->ListCount(&count); e != WireError::kOk) return e;
  f->entries.resize(count);
  for (IHaveEntry& entry : f->entries) {
    if (WireError e = r->Message(&entry.id); e != WireError::kOk) return e;
    if (WireError e = r->Hops(&entry.hops); e != WireError::kOk) return e;
  }
  return WireError::kOk;
}
WireError DecodeBody(Reader* r, GraftFrame* f) { return DecodeIds(r, &f->ids); }
WireError DecodeBody(Reader* r, IWantFrame* f) { return DecodeIds(r, &f->ids); }

// Decodes one body of type T that must fill `body` exactly.
template <typename T>
WireError DecodeFrame(Reader* body, std::vector<Frame>* frames) {
  T frame;
  if (WireError e = DecodeBody(body, &frame); e != WireError::kOk) return e;
  if (!body->empty()) return WireError::kBadLength;
  frames->emplace_back(std::move(frame));
  return WireError::kOk;
}

WireError DecodeFrameOfType(uint8_t type, Reader* body,
                            std::vector<Frame>* frames) {
  switch (static_cast<FrameType>(type)) {
    case FrameType::kJoin:
      return DecodeFrame<JoinFrame>(body, frames);
    case FrameType::kForwardJoin:
      return DecodeFrame<ForwardJoinFrame>(body, frames);
    case FrameType::kNeighbor:
      return DecodeFrame<NeighborFrame>(body, frames);
    case FrameType::kNeighborReply:
      return DecodeFrame<NeighborReplyFrame>(body, frames);
    case FrameType::kDisconnect:
      return DecodeFrame<DisconnectFrame>(body, frames);
    case FrameType::kShuffle:
      return DecodeFrame<ShuffleFrame>(body, frames);
    case FrameType::kShuffleReply:
      return DecodeFrame<ShuffleReplyFrame>(body, frames);
    case FrameType::kPing:
      return DecodeFrame<PingFrame>(body, frames);
    case FrameType::kPong:
      return DecodeFrame<PongFrame>(body, frames);
    case FrameType::kJoinReply:
      return DecodeFrame<JoinReplyFrame>(body, frames);
    case FrameType::kGossip:
      return DecodeFrame<GossipFrame>(body, frames);
    case FrameType::kIHave:
      return DecodeFrame<IHaveFrame>(body, frames);
    case FrameType::kGraft:
      return DecodeFrame<GraftFrame>(body, frames);
    case FrameType::kPrune:
      return DecodeFrame<PruneFrame>(body, frames);
    case FrameType::kIWant:
      return DecodeFrame<IWantFrame>(body, frames);
  }
  return WireError::kUnknownFrameType;
}

WireError DecodeFrames(Reader* r, std::vector<Frame>* frames) {
  if (r->empty()) return WireError::kNoFrames;
  while (!r->empty()) {
    uint8_t type = 0;
    uint64_t length = 0;
    if (WireError e = r->U8(&type); e != WireError::kOk) return e;
    if (WireError e = r->Varint(&length); e != WireError::kOk) return e;
    if (length > r->remaining()) return WireError::kTruncated;
    Reader body(r->position(), r->position() + length, WireError::kBadLength);
    r->Skip(static_cast<size_t>(length));
    if (WireError e = DecodeFrameOfType(type, &body, frames);
        e != WireError::kOk) {
      return e;
    }
  }
  return WireError::kOk;
}

// FrameType of each Frame alternative, in variant order.
constexpr FrameType kTypeOfIndex[] = {
    FrameType::kJoin,     FrameType::kJoinReply,     FrameType::kForwardJoin,
    FrameType::kNeighbor, FrameType::kNeighborReply, FrameType::kDisconnect,
    FrameType::kShuffle,  FrameType::kShuffleReply,  FrameType::kPing,
    FrameType::kPong,     FrameType::kGossip,        FrameType::kIHave,
    FrameType::kGraft,    FrameType::kPrune,         FrameType::kIWant,
};
static_assert(std::size(kTypeOfIndex) == std::variant_size_v<Frame>);

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

FrameType TypeOf(const Frame& frame) { return kTypeOfIndex[frame.index()]; }

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
  }
  return "unknown";
}

size_t VarintBytes(uint64_t value) {
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

size_t EncodedFrameBytes(const Frame& frame) {
  const size_t body =
      std::visit([](const auto& f) { return BodyBytes(f); }, frame);
  return 1 + VarintBytes(body) + body;
}

DatagramBuilder::DatagramBuilder(NodeId sender, size_t max_datagram_bytes)
    : sender_(sender), max_datagram_bytes_(max_datagram_bytes) {
  assert(max_datagram_bytes >= kDatagramHeaderBytes + 2);
  StartDatagram();
}

void DatagramBuilder::StartDatagram() {
  frame_count_ = 0;
  bytes_.clear();
  // One allocation for a typical datagram; huge budgets grow on demand.
  bytes_.reserve(std::min(max_datagram_bytes_, kDefaultMaxDatagramBytes));
  bytes_.resize(kDatagramHeaderBytes);
  Writer w(bytes_.data());
  w.U8(kWireVersion);
  w.Id(sender_);
}

size_t DatagramBuilder::remaining_bytes() const {
  return max_datagram_bytes_ - bytes_.size();
}

WireError DatagramBuilder::Add(const Frame& frame) {
  const auto type = static_cast<uint8_t>(kTypeOfIndex[frame.index()]);
  return std::visit(
      [this, type](const auto& f) {
        if (WireError e = Check(f); e != WireError::kOk) return e;
        const size_t body = BodyBytes(f);
        const size_t total = 1 + VarintBytes(body) + body;
        if (total > remaining_bytes()) return WireError::kTooLarge;
        const size_t start = bytes_.size();
        bytes_.resize(start + total);
        Writer w(bytes_.data() + start);
        w.U8(type);
        w.Varint(body);
        EncodeBody(f, &w);
        assert(w.position() == bytes_.data() + bytes_.size());
        ++frame_count_;
        return WireError::kOk;
      },
      frame);
}

std::vector<uint8_t> DatagramBuilder::Finish() {
  std::vector<uint8_t> datagram = std::move(bytes_);
  bytes_ = std::vector<uint8_t>();
  StartDatagram();
  return datagram;
}

void DatagramBuilder::FinishInto(std::vector<uint8_t>* out) {
  out->swap(bytes_);
  StartDatagram();
}

WireError DecodeDatagram(std::span<const uint8_t> bytes, DecodedDatagram* out) {
  out->frames.clear();
  if (bytes.empty()) return WireError::kTruncated;
  if (bytes[0] != kWireVersion) return WireError::kBadVersion;
  Reader r(bytes.data() + 1, bytes.data() + bytes.size(),
           WireError::kTruncated);
  if (WireError e = r.Id(&out->sender); e != WireError::kOk) return e;
  if (WireError e = DecodeFrames(&r, &out->frames); e != WireError::kOk) {
    out->frames.clear();
    return e;
  }
  return WireError::kOk;
}

}  // namespace elara
