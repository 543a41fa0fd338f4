// File: core/engine.h
//
// Engine: one node's whole ELARA protocol, sans-IO. It never reads a clock,
// never touches a socket, never starts a thread and never draws global
// randomness. The driver (the simulator or the UDP node runtime) feeds it
// inputs with the current time and drains its outputs:
//
//   inputs                                outputs
//   HandleDatagram(now, from, bytes)  ->  PollTransmit()  {to, bytes}
//   HandleTimeout(now)                ->  PollEvent()     delivery, peer
//   up/down Join / Leave / Broadcast / ...    ->  NextTimeout()   earliest
//   deadline
//   PropagateState / DeleteState ...          (state changed events)
//
// Sub-protocols: membership (core/membership.h), broadcast
// (core/plumtree.h), keyed state (core/state_sync.h).
//
// Guarantees:
//   - Same seed, same inputs (times included) => same outputs, bit for bit.
//   - Any byte string given to HandleDatagram is decoded with bounds checks;
//     a bad one is counted in counters().bad_datagrams and dropped.
//   - All state is bounded by the config; StateBytes() reports it.
//   - Event and transmit queues are bounded; overflow is counted.
//
// Usage (a driver loop):
//   auto engine = Engine::Create(config, self_id, self_address, seed);
//   engine->Join(now, contact);
//   while (auto t = engine->PollTransmit()) send(t->to, t->bytes);
//   ... at engine->NextTimeout(): engine->HandleTimeout(now) ...
//
// Thread-safety: not thread-safe; one thread drives one engine.
#ifndef ELARA_CORE_ENGINE_H_
#define ELARA_CORE_ENGINE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/address.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/payload_interner.h"
#include "core/time.h"
#include "core/wire.h"

namespace elara {

// A datagram to send.
struct Transmit {
  Address to;
  std::vector<uint8_t> bytes;
};

// Why a peer left the active view.
enum class PeerDownCause : uint8_t {
  kTimeout = 0,   // failed keep-alive probes
  kLeft = 1,      // it said it leaves the swarm
  kEvicted = 2,   // it (or we) dropped the link to make room
  kDetected = 3,  // the application reported it failed (DetectNodeFailure)
  kRejected = 4,  // it refused our NEIGHBOR request
};
const char* PeerDownCauseName(PeerDownCause cause);

// A broadcast message delivered to this node (exactly once per message).
struct DeliveredEvent {
  MessageId id;
  uint32_t hops = 0;  // links travelled; 0 for the origin's own delivery
  Timestamp at;
  std::shared_ptr<const std::vector<uint8_t>> payload;
};
struct PeerUpEvent {
  PeerEntry peer;
  Timestamp at;
};
struct PeerDownEvent {
  PeerEntry peer;
  PeerDownCause cause = PeerDownCause::kTimeout;
  Timestamp at;
};
// A key's value changed here because of an entry received from another
// node (not for this node's own writes).
struct StateChangedEvent {
  StateId key;
  // The new value; nullptr when the key was deleted.
  std::shared_ptr<const std::vector<uint8_t>> value;
  bool deleted = false;
  StateVersion version;  // of the write that made this value
  // Links the update travelled when it came by dissemination; 0 when it
  // came by anti-entropy or a pull (repaired = true).
  uint32_t hops = 0;
  bool repaired = false;
  Timestamp at;
};
using EngineEvent =
    std::variant<DeliveredEvent, PeerUpEvent, PeerDownEvent, StateChangedEvent>;

// A value as GetState reads it.
struct StateValue {
  std::shared_ptr<const std::vector<uint8_t>> value;
  StateVersion version;
};

// Counters of membership, broadcast and the engine's own input and output,
// monotonic over the engine's life. Every engine holds them.
struct CoreCounters {
  // The ones a broadcast moves on nearly every call come first, in 64
  // bytes: a call dirties one or two counter lines, not four.
  uint64_t datagrams_in = 0;
  uint64_t bytes_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t bytes_out = 0;
  uint64_t gossip_received = 0;  // payload frames received (RMR)
  uint64_t gossip_sent = 0;
  uint64_t ihave_sent = 0;
  uint64_t deliveries = 0;
  uint64_t gossip_duplicates = 0;
  uint64_t graft_sent = 0;
  uint64_t prune_sent = 0;
  uint64_t iwant_sent = 0;
  uint64_t messages_repaired = 0;  // delivered after a GRAFT / IWANT
  uint64_t bad_datagrams = 0;
  std::array<uint64_t, static_cast<size_t>(WireError::kCount)>
      bad_datagrams_by_error{};
  uint64_t unknown_sender_frames = 0;  // frames needing a known peer, dropped
  uint64_t gossip_outside_window = 0;  // too old for the dedup window
  uint64_t cache_evictions = 0;        // message cache bound hit
  uint64_t origins_evicted = 0;        // dedup origin table bound hit
  uint64_t events_dropped = 0;         // event queue bound hit
  uint64_t transmits_dropped = 0;      // transmit queue bound hit
  uint64_t frames_too_large = 0;       // a frame that fit no datagram
  // Announced messages not tracked: the missing-message table was full
  // (message_cache_entries).
  uint64_t missing_table_full = 0;
  // Digests answered with only the first kMaxExchangePushes of the recent
  // messages they lacked (core/plumtree.cc).
  uint64_t digest_answers_capped = 0;
  uint64_t contacts_dropped = 0;  // join contacts over their bound, oldest out
  uint64_t passive_view_evictions = 0;
  uint64_t peers_down = 0;
  uint64_t rejoins = 0;         // rejoin attempts after isolation
  uint64_t swaps_sent = 0;      // link swaps offered (SWAP sent)
  uint64_t swaps_accepted = 0;  // ... and accepted by the peer asked
  // Unanswered candidates and timed-out peers kept as candidates, because
  // this node had already blamed kMaxUnprovenBlames peers since it last
  // had proof that its own datagrams get out (core/membership.h).
  uint64_t peers_spared = 0;
  // JOINs sent again because the one link our JOIN got us was lost soon
  // after joining while nodes joined through us (core/membership.h, "A
  // lone join link").
  uint64_t joins_repeated = 0;
};

// Counters of state propagation (core/state_sync.h), monotonic. Held with
// the state protocol, which an engine creates on first use: an engine that
// only broadcasts does not carry them (160 bytes).
struct StateCounters {
  uint64_t state_writes = 0;        // local writes and deletes accepted
  uint64_t state_updates_sent = 0;  // StateUpdate frames queued
  uint64_t state_updates_received = 0;
  uint64_t state_updates_applied = 0;   // ... that changed the local state
  uint64_t state_entries_refused = 0;   // received over a bound, dropped
  uint64_t state_entries_repaired = 0;  // changed the state via a delta
  uint64_t state_tombstones_purged = 0;
  uint64_t state_tombstones_evicted = 0;   // max_tombstones hit
  uint64_t state_clock_drift_clamped = 0;  // max_clock_drift hit
  uint64_t state_rounds_started = 0;       // anti-entropy rounds initiated
  uint64_t state_rounds_in_sync = 0;    // digests equal (counted by responder)
  uint64_t state_rounds_decoded = 0;    // difference found by the sketch
  uint64_t state_rounds_streamed = 0;   // a slice streamed instead
  uint64_t state_rounds_failed = 0;     // sketch did not decode within budget
  uint64_t state_rounds_abandoned = 0;  // still waiting at the next round
  uint64_t state_requests_refused = 0;  // responder rate bound hit
  uint64_t state_frames_ignored = 0;    // out of round or malformed
  uint64_t state_corrections_dropped = 0;  // correction list bound hit
  uint64_t state_sync_bytes_out = 0;       // anti-entropy frame bytes sent
  uint64_t state_sync_bytes_in = 0;        // anti-entropy frame bytes received
};

// Adds every counter of `b` to `a` (all of CoreCounters' fields are
// uint64_t counts).
CoreCounters& operator+=(CoreCounters& a, const CoreCounters& b);

// What Engine::counters() reports: both sets, as one value.
struct EngineCounters : CoreCounters, StateCounters {};

class Membership;
class Plumtree;

class Engine {
 public:
  // Fails with InvalidArgument when config.Validate() fails.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const DiffusionConfig& config, NodeId self_id, Address self_address,
      uint64_t seed);
  // Same, sharing one immutable config among many engines (the simulator:
  // ~350 bytes per engine saved). REQUIRES: config != nullptr.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      std::shared_ptr<const DiffusionConfig> config, NodeId self_id,
      Address self_address, uint64_t seed);
  // Same, counting into the caller's `*counters` instead of a block of its
  // own (the simulator: one block per thread for all the engines it runs,
  // 440 bytes per engine saved, and a counter line that stays in cache).
  // Such an engine's counters() reports zero core counters. REQUIRES:
  // *counters outlives the engine or a later CountInto; an engine and every
  // other engine counting into the same block run on one thread at a time.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      std::shared_ptr<const DiffusionConfig> config, NodeId self_id,
      Address self_address, uint64_t seed, CoreCounters* counters);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;
  // Movable, so a driver can keep engines in its own arrays (the simulator
  // keeps each beside the per-node fields it reads on every event). A
  // moved-from Engine may only be destroyed or assigned to.
  Engine(Engine&&) noexcept;
  Engine& operator=(Engine&&) noexcept;

  // --- Inputs ---
  void HandleDatagram(Timestamp now, const Address& from,
                      std::span<const uint8_t> bytes);
  void HandleTimeout(Timestamp now);

  // --- Commands ---
  // Joins the swarm through `contact` (repeatable: extra contacts are kept
  // for rejoining after isolation).
  void Join(Timestamp now, const Address& contact);
  // Remembers `contact` for rejoining (after isolation, or when a JOIN gets
  // no answer) without joining through it now.
  void AddContact(const Address& contact);
  // Tells active peers this node leaves, then goes quiet.
  void Leave(Timestamp now);
  // Broadcasts a payload to the swarm. Fails with ResourceExhausted when the
  // payload cannot fit one datagram; the message is then not sent at all.
  absl::StatusOr<MessageId> Broadcast(Timestamp now,
                                      std::span<const uint8_t> payload);
  void SetMode(Timestamp now, BroadcastMode mode);
  // REQUIRES: 0 <= factor <= max_fanout.
  absl::Status SetRedundancyFactor(double factor);
  // The application knows `peer` failed: drop it now (cause: kDetected).
  void DetectNodeFailure(Timestamp now, NodeId peer);
  // Resets the broadcast tree: every active peer becomes eager again, so
  // the next messages rebuild the tree by PRUNE.
  void RebuildRouting(Timestamp now);

  // Simulator warm start: installs `peer` directly in the active view (as if
  // a NEIGHBOR request had been accepted, and tells the broadcast layer) or
  // the passive view, sending nothing and emitting no event. Returns false
  // when the view is full, the peer is self or already present. The
  // simulator uses these to build overlays for huge swarms that the protocol
  // itself could have built.
  bool WarmStartAddActive(Timestamp now, const PeerEntry& peer);
  bool WarmStartAddPassive(const PeerEntry& peer);

  // Shares received payload bytes with other engines of this process (the
  // simulator's memory saver; see core/payload_interner.h). nullptr turns
  // it off. REQUIRES: `interner` outlives the engine.
  void SetPayloadInterner(PayloadInterner* interner);

  // --- State (keyed, versioned, last writer wins; see core/state_sync.h) ---
  // Writes `value` under `key` with a new hybrid-logical-clock version and
  // spreads it to the whole swarm (pushed along the broadcast mode's links,
  // repaired by anti-entropy). Fails with ResourceExhausted, changing
  // nothing, when the value exceeds the value bound or the key is new and
  // the store is full; FailedPrecondition after Leave.
  absl::Status PropagateState(Timestamp now, StateId key,
                              std::span<const uint8_t> value);
  // The same write, sent only to `targets` (who do not relay it); the rest
  // of the swarm learns it by anti-entropy.
  absl::Status PushState(Timestamp now, StateId key,
                         std::span<const uint8_t> value,
                         std::span<const Address> targets);
  // Asks `source` for its entries of these keys (at most 1024, else
  // InvalidArgument); what it has newer arrives as StateChangedEvents.
  absl::Status PullState(Timestamp now, std::span<const StateId> keys,
                         const Address& source);
  // Deletes `key` everywhere: a tombstone that wins over older values and
  // is purged after state.tombstone_ttl.
  absl::Status DeleteState(Timestamp now, StateId key);
  // The current value of `key`; nullopt when absent or deleted.
  std::optional<StateValue> GetState(StateId key) const;
  // Hash of every entry held (values and tombstones, with versions): two
  // nodes with the same digest hold the same state.
  uint64_t StateDigest() const;
  // Keys with a live value.
  size_t StateKeyCount() const;
  // The hybrid logical clock's physical time is `now + offset`: the runtime
  // can align its monotonic clock to wall time, the simulator can skew a
  // node's clock.
  void SetStateClockOffset(Duration offset);

  // --- Outputs ---
  std::optional<Transmit> PollTransmit();
  // Optional: gives a polled Transmit's buffer back once the driver is done
  // with its bytes (sent or copied them), so the next datagram an engine on
  // this thread builds reuses it instead of allocating. At most
  // kRecycledTransmitBuffers are kept per thread; more are freed.
  static constexpr size_t kRecycledTransmitBuffers = 64;
  static void RecycleTransmit(Transmit&& transmit);
  // PollTransmit until empty, in one call and without a Transmit per
  // datagram: `send` sees every queued datagram's destination and bytes in
  // order and must copy what it keeps (the bytes are the queue's own, reused
  // when it returns). `send` must not call into this engine (it iterates
  // the engine's queue). For drivers that copy anyway (the simulator).
  void DrainTransmits(
      absl::FunctionRef<void(const Address& to, std::span<const uint8_t> bytes)>
          send);
  // Where the last bytes of a datagram that DrainTransmits hands to `send`
  // were copied from: `to` must be the very reference `send` was given for
  // it (it lies in the queue's record of the datagram), read while `send`
  // runs. Not empty only for a datagram that is one gossip frame (or a
  // copy of one for another peer): its last bytes are a copy of the
  // gossip's payload, as it was while the engine call that queued it ran;
  // empty for every other datagram. An identity only: the engine may have
  // freed that buffer since, so a driver may read it, or trust two equal
  // addresses, only while it knows the buffer is still the one copied (the
  // simulator, whose packet pool holds the interned payloads it shares
  // storage by).
  static std::span<const uint8_t> DrainedPayload(const Address& to);
  std::optional<EngineEvent> PollEvent();
  // PollEvent until empty, in one call: `handle` gets every queued event in
  // order. Like DrainTransmits, `handle` must not call into this engine.
  void DrainEvents(absl::FunctionRef<void(EngineEvent&& event)> handle);
  // Earliest time HandleTimeout wants to run; Timestamp::Infinite() if none.
  Timestamp NextTimeout() const;

  // A cache hint for a driver that knows which engine it will call next
  // (the simulator, whose events are scheduled ahead): starts loading the
  // memory the next call will touch, without waiting for it. Stage 0 loads
  // the engine's own state; stage 1, issued once stage 0 has had time to
  // arrive, loads the blocks that state points to. Never changes behaviour.
  // `datagram_head`, when given, is the start of the datagram the next call
  // will handle (at least its header and first frame's type byte): a
  // membership frame (keep-alives, most datagrams of quiet periods) reads
  // no broadcast state, so its lines are not loaded.
  void Prefetch(int stage, std::span<const uint8_t> datagram_head = {}) const;

  // --- Introspection ---
  NodeId id() const;
  const Address& address() const;
  const DiffusionConfig& config() const;
  BroadcastMode mode() const;
  std::vector<PeerEntry> ActiveView() const;
  std::vector<PeerEntry> PassiveView() const;
  // Active peers the broadcast tree pushes eagerly to.
  std::vector<NodeId> EagerPeers() const;
  // Active peers it only announces to (IHAVE); with EagerPeers, the
  // broadcast tree's peer table, which follows the active view exactly
  // until Leave (which empties the view without telling the tree).
  std::vector<NodeId> LazyPeers() const;
  bool left() const;
  // Both counter sets, copied (~480 bytes); the state ones alone, without
  // a copy, below (all zero until the state protocol is first used). The
  // core ones are what the engine counted into its own block: zero while
  // it counts into a caller's (Create, CountInto).
  EngineCounters counters() const;
  // From now on counts into `*counters` (same contract as in Create), or
  // into its own block again when counters is nullptr (created at zero if
  // the engine had none). Cheap when nothing changes: the simulator calls
  // it before every call, with the running thread's block.
  void CountInto(CoreCounters* counters);
  const StateCounters& state_counters() const;
  // Bytes of protocol state this engine holds (views, windows, caches,
  // queues), by its own accounting.
  size_t StateBytes() const;

 private:
  Engine(std::shared_ptr<const DiffusionConfig> config, NodeId self_id,
         Address self_address, uint64_t seed, CoreCounters* counters);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace elara

#endif  // ELARA_CORE_ENGINE_H_
