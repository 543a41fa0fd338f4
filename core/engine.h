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
using EngineEvent = std::variant<DeliveredEvent, PeerUpEvent, PeerDownEvent>;

// Counters, monotonic over the engine's life.
struct EngineCounters {
  uint64_t datagrams_in = 0;
  uint64_t bytes_in = 0;
  uint64_t datagrams_out = 0;
  uint64_t bytes_out = 0;
  uint64_t bad_datagrams = 0;
  std::array<uint64_t, static_cast<size_t>(WireError::kCount)>
      bad_datagrams_by_error{};
  uint64_t unknown_sender_frames = 0;  // frames needing a known peer, dropped
  uint64_t gossip_received = 0;        // payload frames received (RMR)
  uint64_t gossip_duplicates = 0;
  uint64_t gossip_outside_window = 0;  // too old for the dedup window
  uint64_t deliveries = 0;
  uint64_t gossip_sent = 0;
  uint64_t ihave_sent = 0;
  uint64_t graft_sent = 0;
  uint64_t prune_sent = 0;
  uint64_t iwant_sent = 0;
  uint64_t messages_repaired = 0;  // delivered after a GRAFT / IWANT
  uint64_t cache_evictions = 0;    // message cache bound hit
  uint64_t origins_evicted = 0;    // dedup origin table bound hit
  uint64_t events_dropped = 0;     // event queue bound hit
  uint64_t transmits_dropped = 0;  // transmit queue bound hit
  uint64_t frames_too_large = 0;   // a frame that fit no datagram
  uint64_t passive_view_evictions = 0;
  uint64_t peers_down = 0;
  uint64_t rejoins = 0;  // rejoin attempts after isolation
};

class Membership;
class Plumtree;

class Engine {
 public:
  // Fails with InvalidArgument when config.Validate() fails.
  static absl::StatusOr<std::unique_ptr<Engine>> Create(
      const DiffusionConfig& config, NodeId self_id, Address self_address,
      uint64_t seed);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- Inputs ---
  void HandleDatagram(Timestamp now, const Address& from,
                      std::span<const uint8_t> bytes);
  void HandleTimeout(Timestamp now);

  // --- Commands ---
  // Joins the swarm through `contact` (repeatable: extra contacts are kept
  // for rejoining after isolation).
  void Join(Timestamp now, const Address& contact);
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

  // --- Outputs ---
  std::optional<Transmit> PollTransmit();
  std::optional<EngineEvent> PollEvent();
  // Earliest time HandleTimeout wants to run; Timestamp::Infinite() if none.
  Timestamp NextTimeout() const;

  // --- Introspection ---
  NodeId id() const;
  const Address& address() const;
  const DiffusionConfig& config() const;
  BroadcastMode mode() const;
  std::vector<PeerEntry> ActiveView() const;
  std::vector<PeerEntry> PassiveView() const;
  // Active peers the broadcast tree pushes eagerly to.
  std::vector<NodeId> EagerPeers() const;
  bool left() const;
  const EngineCounters& counters() const;
  // Bytes of protocol state this engine holds (views, windows, caches,
  // queues), by its own accounting.
  size_t StateBytes() const;

 private:
  Engine(const DiffusionConfig& config, NodeId self_id, Address self_address,
         uint64_t seed);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace elara

#endif  // ELARA_CORE_ENGINE_H_
