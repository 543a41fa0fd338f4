// File: core/state_sync.h
//
// StateSync: keyed, versioned state propagation, the third sub-protocol of
// the Engine (sans-IO). Every node holds a last-writer-wins map
// (core/state_store.h) versioned by a hybrid logical clock
// (core/hybrid_clock.h); two mechanisms bring every node to the same map.
//
// 1. Dissemination. A local write (Propagate, Delete) becomes a
//    StateUpdateFrame pushed at once along the broadcast mode's links:
//      hybrid  the broadcast tree's eager peers (Plumtree shapes the tree;
//              before broadcast traffic prunes it, every active peer is
//              eager and updates flood the active view)
//      push    fanout random active peers
//      pull    nobody: anti-entropy alone carries it
//    A receiver merges it and relays it the same way (hops + 1) only if it
//    changed its state, so the version comparison is the duplicate filter
//    and needs no memory of its own. Push() sends to chosen targets, which
//    do not relay. These are dedicated frames, not Plumtree gossip payloads:
//    a gossip payload is delivered to the application as a broadcast, and
//    state needs neither Plumtree's message cache nor its sequence windows.
//
// 2. Anti-entropy, whose cost follows the size of the difference. Every
//    anti_entropy_period a node that holds entries starts a round with a
//    random active peer (A = initiator, B = responder):
//      A -> B  StateDigest {round, count, 64-bit hash}: a ~25-byte datagram.
//              Equal: B says nothing. A synced pair costs this per period.
//      B -> A  StateRanges: count and round-salted 16-bit hash of each of
//              the 64 key slices (~260 bytes)
//      A       takes the differing slices from a rotating cursor while their
//              estimated difference fits the budget (estimate: how many
//              slices differ, their counts, the density the last sketches
//              found). A slice where one side holds under a quarter of the
//              other's entries (a new node, a long partition) is streamed
//              instead, see below.
//      A -> B  StateSketchRequest {slices, cells [0, m), reference time}
//      B -> A  StateSketch: the first m cells of a rateless IBLT of its
//              entries in those slices (core/state_sketch.h), each element
//              a key and a tag hashing its version. A subtracts its own
//              cells and peels: ~1.45 cells of 13 bytes per differing
//              element. Not decoded: up to two more requests of 25%; then
//              the round fails, ships what peeling found, and the next one
//              plans with a higher density.
//      A -> B  StateDelta: A's entries B lacks, or holds in a version the
//              tags' age hints show to be older, or may hold older (equal
//              hints);
//              StateRequest: keys only B holds, or holds newer, with A's
//              tag so B skips keys A has received meanwhile. It also grants
//              the room for B's corrections.
//      B -> A  StateDelta: what was requested, and the newer versions of
//              entries A sent that B holds newer ("corrections").
//    Streams: the entries of one slice in key-hash order from where the last
//    round stopped (StateStreamRequest, or A's own pushed with a resume
//    point); the cursor survives rounds and peers.
//    An entry a round's StateDelta applies (it changed the receiver's map)
//    is then relayed like a fresh update (hops from 0): after a partition
//    heals, what the first rounds across the old cut repair spreads along
//    the tree at network speed, not one period per hop. Entries fetched by
//    Pull (round 0) are not relayed.
//    Every frame of a round counts against anti_entropy_budget_bytes (frame
//    plus a datagram header each, both directions): A sizes each request so
//    the answer fits. A larger difference flows over several rounds. The
//    responder keeps no per-round state but the correction list of the
//    round it last received entries in (bounded); its answers are bounded
//    per period (kResponderRoundsPerPeriod budgets), beyond which requests
//    are refused and counted. When two peers start rounds with each other
//    at once, the larger id yields (a round reconciles both ways).
//
// Measured (core/state_sync_test.cc, core/state_benchmark.cc): with 1% of
// 10,000 keys differing, a pair converges for 2.4x (new keys) to ~3x
// (newer versions) the encoded size of the differing entries; 10% differ:
// 2.2x-3.4x.
//
// Convergence: the store is a CRDT, so merging in any order gives the same
// result; anti-entropy compares whole entries (key and version), so an
// entry overwritten by a newer one is never shipped, and any difference
// between two peers is found by a round that decodes. With a connected
// overlay every node ends with every key's greatest entry. (Two versions of
// one key with equal age hints and equal 12-bit tag hashes cancel out in
// one round's sketch, probability 2^-12; the next round's salt differs.)
//
// Clock: physical time is the driver's `now` plus set_clock_offset() (the
// runtime may align its monotonic clock to wall time; the simulator skews
// nodes). A local write to a key whose held version is ahead of the clock
// (a peer's clock far ahead, beyond max_clock_drift) takes that version's
// next timestamp, so a node's later write to a key always wins over what it
// had seen of that key.
//
// Resurrection caveat: a tombstone lives tombstone_ttl past its HLC time.
// A node that missed the delete for longer than that (partitioned, or
// crashed and restored) still holds the old value, and anti-entropy hands
// it back to nodes that purged the tombstone: the key comes back. Keep
// tombstone_ttl above the longest partition to be healed.
//
// Bounds: the store (StateConfig), one round's bytes, the responder's
// bytes per period, the sketch decoder (the cells a budget can carry), the
// correction list (counted when full), the values pinned for queued frames
// (only until the engine has flushed). A received entry over a bound is
// counted and dropped: that node is then not a full replica, and two nodes
// that evicted different tombstones may disagree until those expire.
//
// Determinism: randomness from its own Random (seeded by the engine), so
// state traffic does not shift the broadcast layer's random stream; hash
// map iteration only feeds XOR sums and counts, or is sorted.
//
// Thread-safety: not thread-safe; owned by one Engine.
#ifndef ELARA_CORE_STATE_SYNC_H_
#define ELARA_CORE_STATE_SYNC_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/hybrid_clock.h"
#include "core/ids.h"
#include "core/outbox.h"
#include "core/random.h"
#include "core/state_hash.h"
#include "core/state_sketch.h"
#include "core/state_store.h"
#include "core/time.h"
#include "core/wire.h"

namespace elara {

// What StateSync needs to know of membership and broadcast.
class StateRouting {
 public:
  virtual ~StateRouting() = default;
  virtual BroadcastMode StateMode() const = 0;
  virtual std::vector<PeerEntry> StateActivePeers() const = 0;  // sorted
  virtual std::vector<NodeId> StateEagerPeers() const = 0;      // sorted
  virtual size_t StatePushFanout() const = 0;
};

// A responder answers at most this many rounds' budgets per period.
inline constexpr size_t kResponderRoundsPerPeriod = 8;
// Most keys one Pull may ask for.
inline constexpr size_t kMaxPullKeys = 4 * kMaxListEntries;

class StateSync {
 public:
  // `outbox`, `counters` and `routing` must outlive this object.
  StateSync(const StateConfig& config, NodeId self, size_t max_datagram_bytes,
            uint64_t seed, Outbox* outbox, StateCounters* counters,
            StateRouting* routing);
  StateSync(const StateSync&) = delete;
  StateSync& operator=(const StateSync&) = delete;

  // --- Commands (see Engine) ---
  absl::Status Propagate(Timestamp now, StateId key,
                         std::span<const uint8_t> value);
  absl::Status Push(Timestamp now, StateId key, std::span<const uint8_t> value,
                    std::span<const Address> targets);
  absl::Status Delete(Timestamp now, StateId key);
  absl::Status Pull(Timestamp now, std::span<const StateId> keys,
                    const Address& source);
  std::optional<StateValue> Get(StateId key) const;

  // State frames only (FrameType 32..47); others are ignored.
  void HandleFrame(Timestamp now, const PeerEntry& from, const Frame& frame);
  void HandleTimeout(Timestamp now);
  // Earliest deadline; Timestamp::Infinite() when idle (an empty store
  // schedules nothing).
  Timestamp NextTimeout() const;
  // Frees values pinned for queued frames. Call once the outbox has been
  // drained.
  void ReleaseSent() { pinned_.clear(); }
  void set_clock_offset(Duration offset) { offset_us_ = offset.ToMicros(); }

  const StateStore& store() const { return store_; }
  const HybridClock& clock() const { return clock_; }
  // The largest value accepted (the configured bound, capped to fit).
  size_t max_value_bytes() const { return store_.max_value_bytes(); }
  // Bytes of state held, sizeof(*this) and the store included.
  size_t StateBytes() const;

 private:
  enum class Phase : uint8_t { kIdle, kDigest, kSketch, kReply, kStream };
  struct SliceStat {
    uint64_t count = 0;
    uint16_t hash = 0;
    bool operator==(const SliceStat&) const = default;
  };
  using SliceStats = std::array<SliceStat, kStateSlices>;
  // The initiator's side of the open round.
  struct Round {
    uint32_t id = 0;
    PeerEntry peer;
    uint64_t salt = 0;
    Phase phase = Phase::kIdle;
    size_t spent_bytes = 0;
    size_t sketch_limit_bytes = 0;
    uint64_t mask = 0;
    std::vector<size_t> slices;  // selected, in cursor order
    std::unique_ptr<SketchDecoder> decoder;
    bool have_set_hash = false;
    uint64_t set_hash = 0;
    uint64_t cells_requested = 0;
    int extensions = 0;         // cell requests after the first
    size_t cell_bytes = 0;      // upper bound of one cell on the wire
    uint64_t reference_us = 0;  // age hints are relative to it
    size_t stream_slice = 0;
    bool stream_resumed = false;  // a reply frame carried a resume point
  };
  // A slice being streamed across rounds.
  struct Stream {
    bool active = false;
    bool pull = true;  // from the peer (else to it)
    size_t slice = 0;
    uint64_t from = 0;  // next key hash
  };

  // Local writes.
  absl::Status Write(Timestamp now, StateId key, bool deleted,
                     std::span<const uint8_t> value, StateRecord* written);
  StateVersion NextVersion(Timestamp now, StateId key);
  int64_t Physical(Timestamp now) const;

  // Dissemination and merging.
  void Relay(const StateRecord& record, uint32_t hops, NodeId exclude);
  void SendUpdate(const Address& to, const StateRecord& record, bool relay,
                  uint32_t hops);
  MergeOutcome Accept(Timestamp now, const StateRecord& record, uint32_t hops,
                      bool repaired);
  void HandleUpdate(Timestamp now, const PeerEntry& from,
                    const StateUpdateFrame& f);
  void RelayRepaired(StateId key, NodeId from);
  void HandleDelta(Timestamp now, const PeerEntry& from,
                   const StateDeltaFrame& f);

  // Responder: bytes it may still send this period, and a check that
  // charges `bytes` (counting a refusal).
  size_t ResponderRoom(Timestamp now);
  bool ResponderAllows(Timestamp now, size_t bytes);
  void HandleDigest(Timestamp now, const PeerEntry& from,
                    const StateDigestFrame& f);
  void HandleSketchRequest(Timestamp now, const PeerEntry& from,
                           const StateSketchRequestFrame& f);
  void HandleRequest(Timestamp now, const PeerEntry& from,
                     const StateRequestFrame& f);
  void HandleStreamRequest(Timestamp now, const PeerEntry& from,
                           const StateStreamRequestFrame& f);

  // Initiator.
  void StartRound(Timestamp now);
  void EndRound();
  bool InRound(const PeerEntry& from, uint32_t round, Phase phase) const;
  void HandleRanges(Timestamp now, const PeerEntry& from,
                    const StateRangesFrame& f);
  void PlanSketch(Timestamp now, const SliceStats& own,
                  const StateRangesFrame& peer,
                  const std::vector<size_t>& differing);
  bool RequestCells(uint64_t cells);
  void HandleSketch(Timestamp now, const PeerEntry& from,
                    const StateSketchFrame& f);
  void FinishSketch();
  void ShipDifference(bool decoded);
  void SendRequests(const std::vector<StateId>& want);
  void FailSketch();
  void StartStream(size_t slice, bool pull, uint64_t from);

  // Anti-entropy helpers.
  SliceStats SliceDigests(uint64_t salt) const;
  // Our entries in the slices of `mask` as sketch elements (age hints at
  // reference_us); *set_hash gets the XOR of their fingerprints.
  std::vector<SketchElement> ElementsIn(uint64_t mask, uint64_t salt,
                                        uint64_t reference_us,
                                        uint64_t* set_hash) const;
  uint32_t TagOf(uint64_t salt, StateId key) const;
  // Entries with key hash in [from, to], in key hash order.
  std::vector<std::pair<uint64_t, StateId>> KeysInHashRange(uint64_t from,
                                                            uint64_t to) const;
  // Queues `keys`' entries to `to` as StateDelta frames, in order, within
  // `max_bytes` (frame + datagram header each). With `resume_hashes` (one
  // per key), a cut stream says where to resume. Returns keys consumed
  // (sent or skipped as absent); adds the cost to *bytes.
  size_t SendEntries(const Address& to, uint32_t round,
                     std::span<const StateId> keys,
                     std::span<const uint64_t> resume_hashes, size_t max_bytes,
                     size_t* bytes);
  size_t CellsPerFrame(size_t cell_bytes) const;
  size_t RecordBytesEstimate() const;
  void Account(size_t bytes, bool out);

  // Timers.
  void MaybeScheduleRound(Timestamp now);
  Timestamp ExpiryDeadline() const;

  StateConfig config_;
  NodeId self_;
  size_t max_datagram_bytes_;
  Random rng_;
  Outbox* outbox_;
  StateCounters* counters_;
  StateRouting* routing_;

  HybridClock clock_;
  int64_t offset_us_ = 0;
  StateStore store_;
  std::vector<StateValueBytes> pinned_;

  Round round_;
  // Responder: keys of entries a round's initiator sent that are older
  // than ours, answered (corrected) with that round's request.
  struct Corrections {
    NodeId peer;
    uint32_t round = 0;
    std::vector<StateId> keys;
  };
  Corrections corrections_;
  size_t cursor_slice_ = 0;
  // Differing elements per differing slice, as the last sketch found (or,
  // after a failure, at least what it could not decode).
  double slice_elements_ = 0;
  int forced_stream_slice_ = -1;  // a slice whose sketch failed alone
  Stream stream_;

  Timestamp round_at_ = Timestamp::Infinite();
  Timestamp responder_window_start_;
  size_t responder_bytes_ = 0;
};

}  // namespace elara

#endif  // ELARA_CORE_STATE_SYNC_H_
