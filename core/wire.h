// File: core/wire.h
//
// ELARA's wire format: one UDP datagram (or one simulated packet) carries a
// header and one or more frames.
//
//   datagram := version:u8 sender:NodeId(8 bytes, little-endian) frame+
//   frame    := type:u8 length:varint body[length]
//
// Integers in bodies are LEB128 varints (at most 10 bytes, no overlong
// 10th byte), node ids are 8 fixed little-endian bytes, addresses are
// `kind:u8` then kSim: varint index | kIpv4: 4 bytes + u16 port (LE) |
// kIpv6: 16 bytes + u16 port (LE). The frame length lets a decoder skip
// frames of a newer minor protocol (types it does not know are reported as
// kUnknownFrameType and the datagram is dropped: this version is strict).
//
// Guarantees:
//   - DecodeDatagram never reads outside the given bytes, whatever they are,
//     and returns either a fully valid datagram or a WireError.
//   - A decoded frame's `payload` span points into the input bytes: it is
//     valid only as long as they are.
//   - DatagramBuilder never produces a datagram longer than its
//     `max_datagram_bytes`; a frame that does not fit is refused with
//     kTooLarge and the builder is unchanged.
//   - Lists inside frames are bounded (kMaxListEntries) on encode and decode.
//
// Frame type numbers: 1-15 membership, 16-31 broadcast, 32-47 state;
// reserved ranges for later protocols: 48-63 streams, 64-79 groups,
// 80-95 authentication.
//
// Thread-safety: functions are pure; a DatagramBuilder is single-threaded.
#ifndef ELARA_CORE_WIRE_H_
#define ELARA_CORE_WIRE_H_

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <optional>
#include <span>
#include <string_view>
#include <type_traits>
#include <variant>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "core/address.h"
#include "core/ids.h"

namespace elara {

inline constexpr uint8_t kWireVersion = 1;
// 1500-byte Ethernet MTU minus IPv6 (40) and UDP (8) headers.
inline constexpr size_t kDefaultMaxDatagramBytes = 1452;
// Smallest max datagram size a config may set.
inline constexpr size_t kMinMaxDatagramBytes = 256;
// Largest max datagram size a config may set (UDP's own limit).
inline constexpr size_t kMaxMaxDatagramBytes = 65507;
// Upper bound on entries of any list in a frame (shuffle peers, ihave ids,
// graft ids).
inline constexpr size_t kMaxListEntries = 256;
// version + sender id.
inline constexpr size_t kDatagramHeaderBytes = 1 + 8;

enum class FrameType : uint8_t {
  // Membership (HyParView + failure detection).
  kJoin = 1,
  kForwardJoin = 2,
  kNeighbor = 3,
  kNeighborReply = 4,
  kDisconnect = 5,
  kShuffle = 6,
  kShuffleReply = 7,
  kPing = 8,
  kPong = 9,
  kJoinReply = 10,
  kSwap = 11,
  kSwapReply = 12,
  // Broadcast (Plumtree + pull).
  kGossip = 16,
  kIHave = 17,
  kGraft = 18,
  kPrune = 19,
  kIWant = 20,
  kDigest = 21,
  // State propagation (core/state_sync.h).
  kStateUpdate = 32,
  kStateDigest = 33,
  kStateRanges = 34,
  kStateSketchRequest = 35,
  kStateSketch = 36,
  kStateDelta = 37,
  kStateRequest = 38,
  kStateStreamRequest = 39,
};

enum class WireError : uint8_t {
  kOk = 0,
  kTruncated,         // input ended inside a field
  kBadVersion,        // first byte is not kWireVersion
  kUnknownFrameType,  // a frame type this version does not know
  kBadLength,         // frame length disagrees with its body
  kBadVarint,         // varint longer than 10 bytes or overflowing 64 bits
  kBadAddress,        // unknown address kind
  kBadField,          // a field out of its allowed range
  kTooManyEntries,    // a list longer than kMaxListEntries
  kNoFrames,          // a datagram with a header and no frame
  kTooLarge,          // (encode) the frame does not fit the datagram budget
  kCount,             // number of values; not an error
};

// Stable lower-case name for metrics and logs, e.g. "truncated".
const char* WireErrorName(WireError error);

// A peer as membership knows and gossips it.
struct PeerEntry {
  NodeId id;
  Address address;
  auto operator<=>(const PeerEntry&) const = default;
};

// --- Membership frames -----------------------------------------------------

// A new node asks the contact to let it in. The sender is the joiner; its
// address is the datagram's source.
struct JoinFrame {
  auto operator<=>(const JoinFrame&) const = default;
};
// The contact's answer to a Join: the joiner is now in its active view.
struct JoinReplyFrame {
  auto operator<=>(const JoinReplyFrame&) const = default;
};
// Random walk announcing `joiner`; time_to_live counts down per hop.
struct ForwardJoinFrame {
  PeerEntry joiner;
  uint8_t time_to_live = 0;
  auto operator<=>(const ForwardJoinFrame&) const = default;
};
// Ask to become an active neighbour; high priority when the sender's active
// view is empty (the receiver must accept).
struct NeighborFrame {
  bool high_priority = false;
  auto operator<=>(const NeighborFrame&) const = default;
};
struct NeighborReplyFrame {
  bool accepted = false;
  auto operator<=>(const NeighborReplyFrame&) const = default;
};
enum class DisconnectReason : uint8_t {
  kEvicted = 0,  // dropped to make room; the sender stays alive
  kLeaving = 1,  // the sender leaves the swarm
  kSwapped = 2,  // dropped by a link swap: link with `replacement` instead
};
struct DisconnectFrame {
  DisconnectReason reason = DisconnectReason::kEvicted;
  PeerEntry replacement;  // on the wire only when reason is kSwapped
  auto operator<=>(const DisconnectFrame&) const = default;
};
// Passive-view exchange: `origin` started the walk, `peers` is its sample.
struct ShuffleFrame {
  PeerEntry origin;
  uint8_t time_to_live = 0;
  std::vector<PeerEntry> peers;
  auto operator<=>(const ShuffleFrame&) const = default;
};
struct ShuffleReplyFrame {
  std::vector<PeerEntry> peers;
  auto operator<=>(const ShuffleReplyFrame&) const = default;
};
// Link swap (core/membership.h): the sender, whose active view is full,
// asks the receiver to take it into its active view and, when that view is
// full too, to hand one of its own active peers over to `offer` (one of
// the sender's, which the sender then drops). Two links change, no degree.
struct SwapFrame {
  PeerEntry offer;
  auto operator<=>(const SwapFrame&) const = default;
};
// The answer to a SWAP. `partner`, only when accepted, is the peer the
// receiver dropped (and told to link with the offer) to take the sender.
struct SwapReplyFrame {
  bool accepted = false;
  std::optional<PeerEntry> partner;
  auto operator<=>(const SwapReplyFrame&) const = default;
};
// Liveness probe of an active peer and its answer, matched by nonce.
struct PingFrame {
  uint64_t nonce = 0;
  auto operator<=>(const PingFrame&) const = default;
};
struct PongFrame {
  uint64_t nonce = 0;
  auto operator<=>(const PongFrame&) const = default;
};

// --- Broadcast frames ------------------------------------------------------

// A broadcast payload. `hops` is the number of links this copy has travelled
// when it arrives (the origin sends hops = 1). The payload points into the
// decoded bytes, or into storage the encoder's caller keeps alive.
struct GossipFrame {
  MessageId id;
  uint32_t hops = 0;
  std::span<const uint8_t> payload;
  bool operator==(const GossipFrame& o) const {
    return id == o.id && hops == o.hops &&
           std::equal(payload.begin(), payload.end(), o.payload.begin(),
                      o.payload.end());
  }
};
struct IHaveEntry {
  MessageId id;
  uint32_t hops = 0;  // hops at which the announcer received it
  auto operator<=>(const IHaveEntry&) const = default;
};
// Lazy announcement of received messages (batched).
// An IHAVE list keeps two entries inline: most IHAVE frames (the most
// common datagram of a broadcast after gossip) carry one or two, so
// decoding and sending them allocates nothing; a heap vector cost a
// malloc/free pair per frame on each side. Frame does not grow: ShuffleFrame
// is larger. (GCC 12 with optimisation misreads the move of an *empty*
// InlinedVector as a read of uninitialised memory (-Werror): build an
// empty IHaveFrame in place, e.g. Frame(std::in_place_type<IHaveFrame>).
// GRAFT/IWANT, rare and often empty, keep std::vector for that reason.)
using IHaveList = absl::InlinedVector<IHaveEntry, 2>;
struct IHaveFrame {
  IHaveList entries;
  auto operator<=>(const IHaveFrame&) const = default;
};
// Pull repair digest (core/plumtree.h): the ids its sender received lately
// (hybrid mode) or holds (pull mode). Same body as IHAVE; unlike an IHAVE,
// a complete digest also tells what its sender lacks.
struct DigestFrame {
  IHaveList entries;
  auto operator<=>(const DigestFrame&) const = default;
};
// Plumtree GRAFT: make the sender an eager link and send these messages.
struct GraftFrame {
  std::vector<MessageId> ids;
  auto operator<=>(const GraftFrame&) const = default;
};
// Plumtree PRUNE: the sender moves the receiver to its lazy set.
struct PruneFrame {
  auto operator<=>(const PruneFrame&) const = default;
};
// Pull repair: send these messages, without changing the tree.
struct IWantFrame {
  std::vector<MessageId> ids;
  auto operator<=>(const IWantFrame&) const = default;
};

// --- State frames ----------------------------------------------------------

// Largest HLC wall time a state version may carry (2^62 - 1 microseconds):
// far beyond any real clock, and small enough that adding a drift bound
// cannot overflow a signed 64-bit count.
inline constexpr uint64_t kMaxHlcWallMicros = (uint64_t{1} << 62) - 1;
// Sketch cell indices are below this (start + count of any sketch frame or
// sketch request).
inline constexpr uint64_t kMaxSketchIndex = uint64_t{1} << 20;

// The version of one state write: hybrid logical clock time (physical
// microseconds, then a logical counter), then the writer. Ordered
// lexicographically in that order: last writer wins, ties broken by origin.
struct StateVersion {
  uint64_t wall_us = 0;  // <= kMaxHlcWallMicros on the wire
  uint32_t logical = 0;
  NodeId origin;
  auto operator<=>(const StateVersion&) const = default;
};

// One keyed value (or tombstone) as it travels. `value` points into the
// decoded bytes or into storage the encoder's caller keeps alive; a
// tombstone has no value bytes.
struct StateRecord {
  StateId key;
  StateVersion version;
  bool deleted = false;
  std::span<const uint8_t> value;
  bool operator==(const StateRecord& o) const {
    return key == o.key && version == o.version && deleted == o.deleted &&
           std::equal(value.begin(), value.end(), o.value.begin(),
                      o.value.end());
  }
};

// A write spreading through the swarm. `relay`: receivers forward it along
// the broadcast mode's push links (a targeted push sets it false). `hops`
// counts links travelled on arrival (the writer sends 1).
struct StateUpdateFrame {
  bool relay = true;
  uint32_t hops = 0;
  StateRecord record;
  bool operator==(const StateUpdateFrame&) const = default;
};

// Anti-entropy, step 1 (initiator -> responder): the initiator's whole
// store in one line, entry count and 64-bit content hash. `round` names the
// exchange in every later frame.
struct StateDigestFrame {
  uint32_t round = 0;
  uint64_t count = 0;  // < 2^32
  uint64_t hash = 0;
  auto operator<=>(const StateDigestFrame&) const = default;
};
// Count and round-salted 16-bit hash of the entries of one key slice.
struct StateSliceDigest {
  uint64_t count = 0;  // < 2^32
  uint16_t hash = 0;
  auto operator<=>(const StateSliceDigest&) const = default;
};
// Step 2 (responder -> initiator, only when the digests differ): the
// responder's digest of every key slice.
struct StateRangesFrame {
  uint32_t round = 0;
  std::vector<StateSliceDigest> slices;
  auto operator<=>(const StateRangesFrame&) const = default;
};
// Step 3: "send cells [start, start + cells) of your sketch of the slices
// in `slice_mask`", tagging elements with their age at `reference_us` (an
// HLC wall time) so that two versions of a key can be ordered. REQUIRES on
// the wire: cells >= 1, start + cells <= kMaxSketchIndex, reference_us <=
// kMaxHlcWallMicros.
struct StateSketchRequestFrame {
  uint32_t round = 0;
  uint64_t slice_mask = 0;
  uint64_t reference_us = 0;
  uint64_t start = 0;
  uint64_t cells = 0;
  auto operator<=>(const StateSketchRequestFrame&) const = default;
};
// One coded symbol of a rateless invertible Bloom lookup table (see
// core/state_sketch.h): how many elements map here (modulo 256: only small
// differences of counts matter) and the XOR of their keys and tags.
struct SketchCell {
  uint8_t count = 0;
  uint64_t key_sum = 0;
  uint32_t tag_sum = 0;
  auto operator<=>(const SketchCell&) const = default;
};
// Step 4: cells [start, start + cells.size()) of the sender's sketch.
// `set_hash` identifies the set they were computed from, so cells of two
// different sets are never mixed.
struct StateSketchFrame {
  uint32_t round = 0;
  uint64_t slice_mask = 0;
  uint64_t set_hash = 0;
  uint64_t start = 0;
  std::vector<SketchCell> cells;
  auto operator<=>(const StateSketchFrame&) const = default;
};
// Entries the receiver lacks (answer to a request, or pushed by the
// initiator). `has_resume`: a stream stopped early; it continues at key
// hash `resume`.
struct StateDeltaFrame {
  uint32_t round = 0;
  bool has_resume = false;
  uint64_t resume = 0;  // 0 unless has_resume
  std::vector<StateRecord> records;
  bool operator==(const StateDeltaFrame&) const = default;
};
// A key asked for, with the asker's tag for its own version (0: it has
// none), so the answer can be skipped when the versions already agree.
struct StateKeyTag {
  StateId key;
  uint32_t tag = 0;
  auto operator<=>(const StateKeyTag&) const = default;
};
// "Send me your entries for these keys", in at most max_reply_bytes.
struct StateRequestFrame {
  uint32_t round = 0;
  uint64_t max_reply_bytes = 0;  // < 2^32
  std::vector<StateKeyTag> keys;
  auto operator<=>(const StateRequestFrame&) const = default;
};
// "Send me your entries whose key hash is in [from, to], in key-hash
// order, in at most max_reply_bytes". REQUIRES on the wire: from <= to.
struct StateStreamRequestFrame {
  uint32_t round = 0;
  uint64_t from = 0;
  uint64_t to = 0;
  uint64_t max_reply_bytes = 0;  // < 2^32
  auto operator<=>(const StateStreamRequestFrame&) const = default;
};

using Frame =
    std::variant<JoinFrame, JoinReplyFrame, ForwardJoinFrame, NeighborFrame,
                 NeighborReplyFrame, DisconnectFrame, ShuffleFrame,
                 ShuffleReplyFrame, PingFrame, PongFrame, GossipFrame,
                 IHaveFrame, GraftFrame, PruneFrame, IWantFrame,
                 StateUpdateFrame, StateDigestFrame, StateRangesFrame,
                 StateSketchRequestFrame, StateSketchFrame, StateDeltaFrame,
                 StateRequestFrame, StateStreamRequestFrame, SwapFrame,
                 SwapReplyFrame, DigestFrame>;
static_assert(sizeof(IHaveFrame) <= sizeof(ShuffleFrame),
              "an inline IHAVE list must not grow every Frame");

namespace wire_internal {
// FrameType of each Frame alternative, in variant order.
inline constexpr FrameType kTypeOfIndex[] = {
    FrameType::kJoin,
    FrameType::kJoinReply,
    FrameType::kForwardJoin,
    FrameType::kNeighbor,
    FrameType::kNeighborReply,
    FrameType::kDisconnect,
    FrameType::kShuffle,
    FrameType::kShuffleReply,
    FrameType::kPing,
    FrameType::kPong,
    FrameType::kGossip,
    FrameType::kIHave,
    FrameType::kGraft,
    FrameType::kPrune,
    FrameType::kIWant,
    FrameType::kStateUpdate,
    FrameType::kStateDigest,
    FrameType::kStateRanges,
    FrameType::kStateSketchRequest,
    FrameType::kStateSketch,
    FrameType::kStateDelta,
    FrameType::kStateRequest,
    FrameType::kStateStreamRequest,
    FrameType::kSwap,
    FrameType::kSwapReply,
    FrameType::kDigest,
};
static_assert(std::size(kTypeOfIndex) == std::variant_size_v<Frame>);
}  // namespace wire_internal

// Inline: the engine dispatches every received frame on it.
inline FrameType TypeOf(const Frame& frame) {
  return wire_internal::kTypeOfIndex[frame.index()];
}
const char* FrameTypeName(FrameType type);

// Exact encoded size of `frame` including its type and length prefix.
size_t EncodedFrameBytes(const Frame& frame);
// Exact encoded size of one StateRecord inside a frame body.
size_t EncodedRecordBytes(const StateRecord& record);

// Builds one datagram from frames, never exceeding max_datagram_bytes.
class DatagramBuilder {
 public:
  // REQUIRES: max_datagram_bytes >= kDatagramHeaderBytes + 2.
  DatagramBuilder(NodeId sender, size_t max_datagram_bytes);

  // Appends the frame, or returns kTooLarge (builder unchanged) when it does
  // not fit in what is left, or kTooManyEntries for an over-long list.
  // A frame the decoder would reject is refused too, builder unchanged:
  // kBadField (sequence 0, unknown disconnect reason, a state field out of
  // its range, a tombstone with value bytes) or kBadAddress (an address of
  // kind kNone).
  WireError Add(const Frame& frame);
  // Bytes still free for frames.
  size_t remaining_bytes() const;
  size_t frame_count() const { return frame_count_; }
  size_t size() const { return size_; }
  // Returns the datagram (an exact-size copy) and resets the builder to an
  // empty header, keeping its buffer: a reused builder allocates once per
  // datagram, exactly the datagram's size.
  std::vector<uint8_t> Finish();
  // Starts over, empty, for another sender and budget (buffer kept).
  // REQUIRES: max_datagram_bytes >= kDatagramHeaderBytes + 2.
  void Restart(NodeId sender, size_t max_datagram_bytes);
  // Same, but copies the datagram into *out (reusing its storage: no
  // allocation when out's capacity suffices).
  void FinishInto(std::vector<uint8_t>* out);
  // The datagram built so far, header included, without finishing it: for
  // a caller that copies it out and then calls Restart. Valid until the
  // next Add, Finish, FinishInto or Restart.
  std::span<const uint8_t> datagram() const { return {bytes_.data(), size_}; }

 private:
  NodeId sender_;
  size_t max_datagram_bytes_;
  size_t frame_count_ = 0;
  size_t size_ = 0;             // bytes of the datagram so far
  std::vector<uint8_t> bytes_;  // buffer; only [0, size_) is the datagram

  void StartDatagram();
};

// Encoding in two steps, for a caller that lays datagrams out itself (the
// engine sizes every datagram of a call first, then writes each straight
// into its transmit queue: a DatagramBuilder's datagram had to be copied
// there). MeasureFrame refuses what DatagramBuilder::Add refuses whatever
// the budget (kTooManyEntries, kBadField, kBadAddress), else sets
// *body_bytes; the frame then takes EncodedFrameBytesForBody(*body_bytes).
WireError MeasureFrame(const Frame& frame, size_t* body_bytes);
inline size_t EncodedFrameBytesForBody(size_t body_bytes);
// Writes a frame that MeasureFrame accepted, with the body size it gave,
// at `out` (room for EncodedFrameBytesForBody bytes); returns its end.
uint8_t* WriteFrame(const Frame& frame, size_t body_bytes, uint8_t* out);
// Writes a datagram's header (kDatagramHeaderBytes) at `out`; returns its
// end. Frames follow it.
inline uint8_t* WriteDatagramHeader(NodeId sender, uint8_t* out);
// Both steps in one visit of the frame, for a caller with `room` bytes at
// `out`: writes the frame there (type, length, body) when MeasureFrame
// accepts it and it takes at most `room` bytes, and returns its end;
// else returns nullptr with MeasureFrame's error, or kTooLarge, and
// writes nothing. (The engine sends most frames alone: two visits, each
// an indirect call and the measure's answer spilled between them, cost
// ~15 instructions more a frame, callgrind.)
struct FrameWritten {
  uint8_t* end;  // nullptr: refused, nothing written
  WireError error;
};
FrameWritten WriteFrameWithin(const Frame& frame, size_t room, uint8_t* out);

namespace wire_internal {
// Index of alternative T in Frame.
template <typename T, size_t kIndex = 0>
constexpr size_t FrameIndex() {
  if constexpr (std::is_same_v<std::variant_alternative_t<kIndex, Frame>, T>) {
    return kIndex;
  } else {
    return FrameIndex<T, kIndex + 1>();
  }
}
// The frames whose list storage a DecodedDatagram keeps, as a mask of
// Frame indices.
static_assert(std::variant_size_v<Frame> <= 64);
inline constexpr uint64_t kFramesWithSpareLists =
    (uint64_t{1} << FrameIndex<ShuffleFrame>()) |
    (uint64_t{1} << FrameIndex<ShuffleReplyFrame>()) |
    (uint64_t{1} << FrameIndex<GraftFrame>()) |
    (uint64_t{1} << FrameIndex<IWantFrame>()) |
    (uint64_t{1} << FrameIndex<IHaveFrame>()) |
    (uint64_t{1} << FrameIndex<DigestFrame>());
}  // namespace wire_internal

// A datagram's sender and frames, as DecodeDatagram fills them. Reuse one:
// besides the frames vector's capacity it keeps, in `spare`, the storage
// of the peer, id and announcement lists of the frames it held, which the
// next frames of the same kind take over, so that a warm one decodes
// without allocating.
struct DecodedDatagram {
  NodeId sender;
  std::vector<Frame> frames;

  // Empties `frames`, keeping the largest list storage of each kind in
  // `spare`. DecodeDatagram calls it first; call it to drop the frames'
  // spans into the input bytes early. Forced inline: the engine calls it
  // for every datagram, and most frames have no list (as a call, GCC's
  // choice, it cost ~30 instructions a datagram).
  [[gnu::always_inline]] void Clear() {
    while (!frames.empty()) {
      Frame& last = frames.back();
      const size_t index = last.index();  // variant_npos if valueless
      if (index < 64 &&
          ((wire_internal::kFramesWithSpareLists >> index) & 1) != 0) {
        KeepListStorage(&last);
      }
      frames.pop_back();
    }
  }

  // DecodeDatagram's. Storage only: the entries these lists hold mean
  // nothing (a frame that takes one sizes it and overwrites them all).
  struct SpareLists {
    std::vector<PeerEntry> peers;  // of Shuffle, ShuffleReply
    std::vector<MessageId> ids;    // of Graft, IWant
    IHaveList entries;             // of IHave, Digest
  };
  SpareLists spare;

 private:
  // Moves `frame`'s list storage to `spare` when it is the larger.
  void KeepListStorage(Frame* frame);
};

// Decodes a whole datagram into *out (reusing its storage, see
// DecodedDatagram). On error *out holds no frames.
WireError DecodeDatagram(std::span<const uint8_t> bytes, DecodedDatagram* out);
// The same without DecodeDatagram's first Clear, for an *out cleared after
// its last datagram (as the engine does: its test of the empty frames cost
// ~1 M instructions in the 2,000-node reference run, callgrind).
// REQUIRES: out->frames.empty().
WireError DecodeIntoCleared(std::span<const uint8_t> bytes,
                            DecodedDatagram* out);

// Low-level pieces, exposed for other codecs and tests.
void AppendVarint(uint64_t value, std::vector<uint8_t>* out);
// Bytes of `value` as a varint. Inline for the common one-byte case (a
// call cost more than the test); larger values take VarintBytesSlow.
size_t VarintBytesSlow(uint64_t value);
inline size_t VarintBytes(uint64_t value) {
  return value < 0x80 ? 1 : VarintBytesSlow(value);
}

// Inline: the engine sizes every frame it sends with these.
inline size_t EncodedFrameBytesForBody(size_t body_bytes) {
  return 1 + VarintBytes(body_bytes) + body_bytes;
}
inline uint8_t* WriteDatagramHeader(NodeId sender, uint8_t* out) {
  out[0] = kWireVersion;
  uint64_t id = sender.value();
  if constexpr (std::endian::native == std::endian::big) {
    id = __builtin_bswap64(id);
  }
  std::memcpy(out + 1, &id, sizeof(id));  // little-endian, one store
  return out + kDatagramHeaderBytes;
}

}  // namespace elara

#endif  // ELARA_CORE_WIRE_H_
