// File: sim/simulator.h
//
// Simulator: runs one Scenario — many unmodified elara::Engines over a
// virtual clock and a virtual network — and measures it (RunResult). Same
// Scenario, same binary => same run, bit for bit (RunResult::trace_hash).
// It never reads a clock: wall time, events/s and peak RSS are measured by
// the caller around Run().
//
// How a run goes (virtual time zero is origin(), one second above zero):
//   0              bootstrap: kWarm builds the overlay directly
//                  (sim/warm_overlay.h) and installs it with
//                  Engine::WarmStartAdd{Active,Passive} (each node's
//                  links as if last heard at a random instant of the
//                  keep-alive interval before 0); kProtocol makes
//                  node i > 0 Join(contact = a random earlier node) at
//                  join_spread * i / nodes.
//   first_publish  = (kProtocol ? join_spread : 0) + warmup. Then one
//                  broadcast of payload_bytes from a random live node every
//                  broadcast_interval, `broadcasts` in all.
//   end            = last publish + drain. Events after `end` never run.
// Faults run on their own schedule: partitions (sim/network.h), crashes at
// their times (a random `fraction` of the live nodes, with a restart after
// `restart_after` on a fresh engine that joins through a random live node),
// churn from the end of the bootstrap to the end (every 1/churn_per_s
// seconds one random live node calls Leave() and is removed, and a fresh
// node on a new index joins through a random live node). A node that joins
// after the start (churn, restart) is also given kFallbackContacts more
// live nodes for a retry, as a real node has a seed list: its contact may
// leave before the JOIN arrives.
//
// Per node: one Engine (Address::Sim(index), NodeIdFor(seed, creation
// index), engine seed StreamSeed(seed, kEngine, creation index)) and at most
// one live timer event: after every call into an engine the simulator drains
// its transmits and events and, if NextTimeout() is earlier than the
// node's scheduled wake-up, schedules a timer event for it; a popped timer
// whose time is not the node's current wake-up is stale and skipped (lazy
// deletion). A restarted node gets a new NodeId (its broadcast sequence
// numbers restart at 1, which peers' duplicate windows would otherwise
// swallow) on the same address.
//
// Lookahead windows (Scenario::event_order = kLookahead, the default). No
// datagram arrives sooner than the network's minimum latency L after it
// was sent, so events at different nodes less than L apart cannot affect
// one another. The loop takes the queue's node events (timers and
// datagram arrivals) in [t, t + L), t the earliest, stops early at any
// other event (broadcast, crash, join, churn, ...: those run alone, as
// barriers), sorts the window by (node, time, seq) (the queue hands whole
// buckets over unsorted: CalendarEventQueue::TakeWindow) and runs it node
// by node; a timer a node's own call sets inside the window runs in its
// turn. So every engine still gets its inputs in time order, at their
// virtual times, and the result is a valid run of the same model; what
// changes is the order of work at different nodes inside a window, and with
// it the order of the network model's draws and of equal-time ties: the
// trace hash differs from kExact's (the run is as deterministic).
// Consecutive events then touch nodes in ascending order (their state is
// laid out by node), which at 10^5 nodes runs ~15 % more events per second.
// Off (one event at a time, kExact) when L is 0, with the state workload
// (its convergence tracker observes nodes in time order), or on request.
//
// Threads (Scenario::threads > 1, lookahead on, no trace file). A window
// runs in chunks of at most kMaxEventsPerLane events per thread (cut at
// node boundaries; this bounds what the lanes hold). A chunk that gives
// every thread at least kMinEventsPerLane is cut at node boundaries into
// one run per thread; each thread runs its nodes' engines in a Lane that
// records its outputs (datagrams sent, timers to schedule, engine events,
// packets to release) instead of applying them. Once every thread is done,
// the main thread applies the records, run by run, in order, before the
// next chunk: the same calls in the same order as one thread running
// the window, so the run and its trace hash do not depend on the thread
// count. While threads run, only engines (each on one thread), their
// per-node records and reads of the packet pool are touched; the payload
// interner, shared by every engine, takes a lock. The apply step is
// serial: at 10^5 nodes two threads run the example ~1.2-1.3x faster.
//
// Metrics (ARCHITECTURE.md, "Metrics"; fields of RunResult):
//   - reliability: over (message, node) pairs where the node is live at the
//     end and its current engine already ran when the message was published
//     (so crashed, departed and later-joined nodes do not count), the
//     fraction where that engine delivered the message; 1 when the
//     scenario publishes nothing (broadcasts = 0: nothing was missed).
//   - ldh: the largest hop count of any first delivery.
//   - rmr: sum over engines of EngineCounters::gossip_received gained from
//     the first publish to the end (engines destroyed meanwhile included),
//     divided by messages, / (nodes - 1) - 1; `nodes` is Scenario::nodes.
//   - byte_overhead: wire bytes of every datagram sent from the first
//     publish to the end / ((nodes - 1) * payload_bytes * messages) - 1.
//   - convergence_ms: publish -> first delivery at each node, over all
//     deliveries (including nodes that crash later), from a log-linear
//     histogram: p50/p99 within 0.4 %, max exact (sim/latency_histogram.h).
//   - events: events that did work: datagrams handled or dropped, engine
//     timeouts, workload and fault events (stale timers and timers whose
//     deadline had moved later are excluded; SimCounters counts them,
//     timer_pops_skipped is their sum).
//   - state_bytes_per_node: mean Engine::StateBytes() over live engines at
//     the end.
//   - datagrams_lost: lost by the network model, cut by a partition, or
//     arriving at a crashed/departed node or an unknown address.
//   - bounds_hit: the bound counters of EngineCounters summed over every
//     engine that ran, from the start (a crashed or departed engine's as of
//     its stop), plus SimCounters::dropped_pool_full (BoundsHit).
// Delivery tracking costs one bit per (node slot, message) plus a counter
// per message; nothing is stored per delivery.
//
// State workload (Scenario::state_writes_per_s > 0; sim/state_tracker.h).
// Writes run from first_publish until StateWritesEnd() (exclusive), one
// every 1/state_writes_per_s seconds: a random live node (SeedStream::
// kState) calls PropagateState on a random key of [0, state_keys) with
// state_value_bytes of bytes naming the write. The run then ends at
// max(last publish, StateSettle()) + drain (without the workload the end is
// unchanged). With state_clock_skew, each engine's state clock gets an
// offset drawn from SeedStream::kStateClock at its creation index.
// State metrics (RunResult):
//   - state_writes / state_writes_failed: PropagateState calls the writer's
//     engine accepted / refused (a bound, e.g. the value size);
//     state_writes_no_live_node: writes skipped, no node was live.
//   - state_conflicting_keys: keys written by nodes on both sides of one
//     partition while it was cut.
//   - state_settle_ms: StateSettle(), the later of the writes' end and the
//     last heal (virtual ms since the start).
//   - state_convergence_ms: from the settle point to the instant every live
//     node's Engine::StateDigest() became equal, if they are still equal at
//     the end; nullopt otherwise. Exact to the event: the simulator reads
//     the digest (O(1)) after every call into an engine from the settle
//     point on and keeps a count per distinct digest, so no periodic scan
//     is needed and there is no sampling resolution. Nodes joining or
//     crashing count as they come and go (a crash can end a divergence; a
//     fresh node with an empty store starts one).
//   - state_divergent_nodes: live nodes at the end whose digest differs from
//     the most common one.
//   - reconciliation_bytes: anti-entropy bytes sent by all engines
//     (EngineCounters::state_sync_bytes_out: each frame's encoded size plus
//     one datagram header; digests, ranges, sketches, requests, deltas and
//     streams, not the StateUpdate frames of dissemination) while the swarm
//     was not converged, from the settle point on. Engines crashed meanwhile
//     count up to their last call.
//   - state_keys_held: StateKeyCount() of a live node holding the most
//     common digest.
//
// Thread-safety: not thread-safe; one thread runs one Simulator. Separate
// Simulators share nothing and may run on separate threads.
//
// Usage:
//   absl::StatusOr<std::unique_ptr<Simulator>> sim = Simulator::Create(s);
//   if (!sim.ok()) { ... }
//   RunResult r = (*sim)->Run([](double done) { ShowProgress(done); });
//   if (r.reliability < 1.0) Print(FailureReplay(s));  // scenario_flags.h
#ifndef ELARA_SIM_SIMULATOR_H_
#define ELARA_SIM_SIMULATOR_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "core/engine.h"
#include "core/payload_interner.h"
#include "core/random.h"
#include "core/time.h"
#include "sim/event_queue.h"
#include "sim/latency_histogram.h"
#include "sim/network.h"
#include "sim/packet_pool.h"
#include "sim/scenario.h"
#include "sim/state_tracker.h"
#include "sim/trace.h"

namespace elara::sim {

// What the simulator itself counted (beyond RunResult).
struct SimCounters {
  uint64_t events = 0;        // events that did work
  uint64_t stale_timers = 0;  // popped timer events that were stale
  // Timer events whose engine deadline had moved later: rescheduled
  // without calling the engine (not counted in `events`).
  uint64_t postponed_timers = 0;
  uint64_t timer_stalls = 0;  // NextTimeout() <= now after HandleTimeout
  uint64_t datagrams_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t dropped_partition = 0;
  uint64_t dropped_dead = 0;          // arrived at a crashed/departed node
  uint64_t dropped_misaddressed = 0;  // not a sim address of a known slot
  uint64_t dropped_pool_full = 0;     // kMaxPacketsInFlight reached
  uint64_t deliveries = 0;            // first deliveries of known messages
  uint64_t duplicate_deliveries = 0;
  uint64_t unknown_deliveries = 0;  // message id the simulator never published
  uint64_t peer_up = 0;
  uint64_t peer_down = 0;
  uint64_t broadcasts_failed = 0;        // refused by the origin's engine
  uint64_t broadcasts_no_live_node = 0;  // skipped: no node was live
  uint64_t crashes = 0;
  uint64_t restarts = 0;
  uint64_t churn_leaves = 0;
  uint64_t churn_joins = 0;
  uint64_t warm_active_links = 0;  // accepted WarmStartAddActive calls
  uint64_t warm_passive_entries = 0;
  uint64_t state_writes = 0;               // accepted PropagateState calls
  uint64_t state_writes_failed = 0;        // refused by the writer's engine
  uint64_t state_writes_no_live_node = 0;  // skipped: no node was live
  uint64_t state_changes = 0;  // StateChangedEvents (remote entries)
  uint64_t windows = 0;        // lookahead windows run
  uint64_t split_windows = 0;  // of which split over several threads
};

// One published message, for tests and reports.
struct MessageRecord {
  MessageId id;
  Timestamp published;
  uint32_t origin_index = 0;
  uint64_t deliveries = 0;  // first deliveries, all nodes
  uint32_t max_hops = 0;
  std::vector<uint64_t> delivered;  // bit per node slot: current engine has it
};

// The payload interner the simulator gives every engine (core/
// payload_interner.h: memory only, never behaviour): a
// SharedPayloadInterner, behind a lock when engines run on several
// threads. On one thread it first tries a memo per shared tail of the
// packet pool: a gossip payload is read straight out of the datagram being
// delivered, which ends in a pool tail that every forwarder's copy of the
// message shares (PacketPool::LastJoinedTail, tried for bytes that lie
// there); the memo of that tail maps the
// payload's place and its message id to the buffer interned from there
// before. A tail's bytes never change while its serial stands, so only the
// payload's first bytes that lie in the packet's own head (up to
// PacketPool::kHeadBytes) are compared: a hit returns a buffer equal to
// `bytes` exactly, without the table lookup and the comparison of the
// whole payload. A memo holds its buffer until its tail index is reused
// (at most one buffer per tail the pool ever held at once).
class PooledPayloadInterner final : public PayloadInterner {
 public:
  // `pool` (the packets the engines read) must outlive the interner.
  PooledPayloadInterner(PacketPool* pool, bool locked)
      : pool_(pool), locked_(locked) {}
  Payload Intern(const MessageId& id, std::span<const uint8_t> bytes) override;

  uint64_t memo_hits() const { return memo_hits_; }
  const SharedPayloadInterner& table() const { return inner_; }

 private:
  struct TailMemo {
    uint64_t serial = 0;  // PacketPool::TailId::serial; 0: none
    int64_t offset = 0;   // of the payload from the tail's start (< 0: in
                          // the head)
    MessageId id;
    Payload payload;  // of the bytes interned from there
  };

  // A memo miss: interned from the table, remembered for `tail`. Out of
  // line: inlined, its registers were saved on every hit too.
  [[gnu::noinline]] Payload InternAndRemember(const MessageId& id,
                                              std::span<const uint8_t> bytes,
                                              const PacketPool::TailId& tail,
                                              int64_t offset);

  PacketPool* const pool_;
  const bool locked_;
  std::mutex mu_;
  SharedPayloadInterner inner_;
  std::vector<TailMemo> memo_;  // by tail index
  uint64_t memo_hits_ = 0;
};

class Simulator {
 public:
  // Packets in flight at most; beyond, a send is dropped and counted.
  static constexpr uint32_t kMaxPacketsInFlight = 1u << 28;
  // The progress callback runs every this many events or 1 % of the
  // virtual time span, whichever comes first, and at the end.
  static constexpr uint64_t kProgressEvents = 1u << 16;

  // Fails with InvalidArgument when scenario.Validate() fails, or when the
  // trace file cannot be opened.
  static absl::StatusOr<std::unique_ptr<Simulator>> Create(
      const Scenario& scenario);
  ~Simulator();
  Simulator(const Simulator&) = delete;
  Simulator& operator=(const Simulator&) = delete;

  // Runs (the rest of) the scenario to its end and returns the metrics.
  // `progress`, if set, gets the fraction of virtual time done, in [0, 1].
  // REQUIRES: called once.
  RunResult Run(const std::function<void(double fraction)>& progress = {});
  // Runs the events up to and including virtual time origin() + t (tests:
  // look at the swarm mid-run, then RunUntil further or Run to finish).
  // With lookahead windows it finishes the window that starts at or before
  // t, i.e. runs up to the minimum latency past t, so that stopping to look
  // does not change the run: RunUntil then Run gives Run's trace hash.
  void RunUntil(Duration t);

  // --- Introspection (tests, reports) ---
  Timestamp origin() const { return origin_; }
  Timestamp now() const { return Timestamp::FromMicros(now_us_); }
  Timestamp end() const { return Timestamp::FromMicros(end_us_); }
  // Node slots so far (initial nodes, then churn joins).
  uint32_t node_slots() const { return static_cast<uint32_t>(hot_.size()); }
  bool live(uint32_t node) const { return hot_[node].engine.has_value(); }
  uint32_t live_count() const { return static_cast<uint32_t>(live_.size()); }
  // nullptr when the node is crashed or departed. Valid until the run adds
  // a node slot (a churn join may move the per-node records).
  const Engine* engine(uint32_t node) const { return EngineAt(node); }
  const std::vector<MessageRecord>& messages() const { return messages_; }
  // Reliability of one message by the RunResult definition, as of now.
  double MessageReliability(size_t message) const;
  const SimCounters& counters() const { return counters_; }
  const NetworkCounters& network_counters() const {
    return network_.counters();
  }
  uint64_t trace_hash() const { return trace_hash_.value(); }
  // OK, or the error writing Scenario::trace_path (known after Run).
  const absl::Status& trace_status() const { return trace_status_; }
  uint64_t peak_packets_in_flight() const { return packets_.peak_in_flight(); }
  // The state workload's tracker; nullptr when the workload is off.
  const StateTracker* state_tracker() const { return state_.get(); }
  // The StateId of workload key k (0 <= k < Scenario::state_keys).
  static StateId StateKey(uint32_t k) { return StateId(uint64_t{k} + 1); }
  // *out = the `bytes` value bytes of the workload's write number
  // `write_index` (counting every scheduled write from 0): the index, little
  // endian, then a pattern derived from it.
  static void StateValue(uint64_t write_index, uint32_t bytes,
                         std::vector<uint8_t>* out);

 private:
  explicit Simulator(const Scenario& scenario);
  absl::Status Init();

  // Engines and node slots.
  uint32_t AddSlot();
  absl::Status StartEngine(uint32_t node);
  void StopEngine(uint32_t node);
  void AddLive(uint32_t node);
  void RemoveLive(uint32_t node);
  // A random live node other than `except` (~0u if none).
  uint32_t RandomLiveNode(Random* rng, uint32_t except);
  int64_t JoinTimeUs(uint32_t node) const;

  // Bootstrap and schedule.
  void WarmStart();
  void ScheduleFaultsAndWorkload(int64_t bootstrap_end_us);

  // Event loop and handlers.
  // Where the work of node events goes. Node events (timers, arrivals)
  // run in a Lane: its own clock, the window it runs, its counters. The
  // main lane applies every output at once; a deferred lane (one run of a
  // window split over threads) touches nothing shared: it records its
  // sends, timer pushes, engine events and packet releases in order, and
  // the main thread applies them after the chunk (Apply), in the order
  // one thread would have made them. Which kind a lane is, is a template
  // argument (kDeferred) of the functions that run node events, not a
  // field: the main lane's loop tests nothing for it (callgrind).
  struct Lane {
    enum class OutputKind : uint8_t { kSend, kWake, kEvent, kRelease };
    struct Output {
      int64_t time_us;  // when it happened (kWake: the wake-up time)
      uint32_t node;    // sender, timer's node or event's node
      OutputKind kind;
      uint32_t index;  // into sends / events; kRelease: the packet handle
    };
    struct SentDatagram {
      Address to;
      size_t offset;  // into bytes
      size_t size;
    };
    int64_t now_us = 0;
    int64_t latest_us = 0;               // latest now_us in the current window
    uint32_t window_node = UINT32_MAX;   // node being run; none outside
    int64_t window_end_us = 0;           // exclusive
    int64_t window_wake_us = INT64_MAX;  // its timer inside the window
    SimCounters own_counters;  // a deferred lane's (the main lane counts
                               // into the simulator's: CountersOf)
    // What the engines this lane runs count (Engine::CountInto before each
    // call; an engine counts into the block of the lane that last ran it,
    // or the main lane's since its start). Commands between windows run
    // while every worker waits, so one may count into a worker's block:
    // every block is summed (EngineCountersTotal).
    CoreCounters engine_counters;
    std::vector<Output> outputs;
    std::vector<SentDatagram> sends;
    std::vector<uint8_t> bytes;
    std::vector<EngineEvent> events;
    std::vector<uint8_t> joined;  // PacketPool::Bytes' scratch

    // Record what a deferred lane did. Out of line: their vector growth,
    // inlined, made every Send, ScheduleWake and release on the main lane
    // save and restore registers (callgrind).
    [[gnu::noinline]] void Record(const Output& out) { outputs.push_back(out); }
    [[gnu::noinline]] void RecordSend(uint32_t from, const Address& to,
                                      std::span<const uint8_t> datagram) {
      outputs.push_back({now_us, from, OutputKind::kSend,
                         static_cast<uint32_t>(sends.size())});
      sends.push_back({to, bytes.size(), datagram.size()});
      bytes.insert(bytes.end(), datagram.begin(), datagram.end());
    }
    [[gnu::noinline]] void RecordEvent(uint32_t node, EngineEvent&& event) {
      outputs.push_back({now_us, node, OutputKind::kEvent,
                         static_cast<uint32_t>(events.size())});
      events.push_back(std::move(event));
    }
  };
  class Worker;  // a thread running deferred lanes (simulator.cc)

  void RunLoop(int64_t limit_us, const std::function<void(double)>& progress);
  // Runs the node events of one lookahead window that starts at the
  // queue's first event, node by node (see "Lookahead windows" above),
  // split over the worker threads when there are any.
  void RunWindow();
  // Runs `events` (one chunk of a window) split over every thread, applies
  // the lanes' outputs; returns the latest event time run.
  int64_t RunSplit(std::span<const Event> events, int64_t end_us);
  // The first node boundary at or after `at` (clamped to [begin, size]).
  static size_t NodeBoundary(std::span<const Event> events, size_t begin,
                             size_t at);
  // Runs `events` (sorted by node) in `lane`, node by node. kDeferred:
  // `lane` is a deferred lane (split_lane_ or a worker's), else main_lane_.
  template <bool kDeferred>
  void RunNodes(Lane& lane, std::span<const Event> events);
  // Where `lane` counts: its own block when deferred, else counters_.
  template <bool kDeferred>
  SimCounters& CountersOf(Lane& lane) {
    if constexpr (kDeferred) return lane.own_counters;
    return counters_;
  }
  // The main lane, its clock set to now_us_, outside any window.
  Lane& Main();
  // Applies a deferred lane's outputs in order and empties it.
  void Apply(Lane* lane);
  void Dispatch(const Event& e);
  template <bool kDeferred>
  void DispatchNode(Lane& lane, const Event& e);
  // Schedules node's timer event at wake_us (hot_[node].wake_us is set):
  // inside the current window for the node being run, else in the queue.
  template <bool kDeferred>
  void ScheduleWake(Lane& lane, uint32_t node, int64_t wake_us);
  template <bool kDeferred>
  void ReleasePacket(Lane& lane, uint32_t handle);
  // Starts loading what the next few events will touch (cache hints only).
  // `next`: the events that run next, in order (a guess; may be short).
  // kWindowEvents: every event of `next` is a node event of an existing
  // slot (a window's are), so none needs checking.
  template <bool kWindowEvents>
  void PrefetchAhead(std::span<const Event> next) const;
  template <bool kDeferred>
  void OnTimer(Lane& lane, const Event& e);
  template <bool kDeferred>
  void OnPacket(Lane& lane, const Event& e);
  void OnBroadcast();
  void OnJoin(uint32_t node);
  void OnCrash(uint32_t spec);
  void OnRestart(uint32_t node);
  void OnChurn();
  // Join() through a random live node, with kFallbackContacts more
  // (contact_rng_) remembered for a retry (Engine::AddContact).
  void JoinThroughRandomContact(uint32_t node);
  static constexpr int kFallbackContacts = 2;
  void OnStateWrite();
  void RecordStateSides(uint32_t writer, uint32_t key);
  void OnStateSettle();
  StateTracker::NodeState StateOf(uint32_t node) const;
  void CollectState(RunResult* r) const;

  // After any call into node's engine outside a window (the main lane):
  // drain outputs, reschedule its timer (never earlier than
  // earliest_wake_us).
  void AfterCall(Lane& lane, uint32_t node, int64_t earliest_wake_us);
  // AfterCall in any lane, inlined (OnTimer, OnPacket: ~400 k calls in the
  // 2k reference; a call of its own saved and restored registers on each,
  // ~20 instructions a call). Defined in simulator.cc, used there only.
  template <bool kDeferred>
  [[gnu::always_inline]] inline void AfterEvent(Lane& lane, uint32_t node,
                                                int64_t earliest_wake_us);
  // A datagram from `from` into the network and the packet pool.
  // kDrained: handed out by the engine's DrainTransmits, in the pool's
  // stable run (PacketPool::PutInRun, with the payload's source); else a
  // deferred lane's send, replayed (Apply). REQUIRES: lane is the main
  // lane (a deferred lane records its sends instead). Inlined into its callers:
  // the drain's is the FunctionRef thunk the engine calls per datagram,
  // which then holds Send's body instead of calling it (callgrind: a call
  // cost ~9 instructions a datagram).
  template <bool kDrained>
  [[gnu::always_inline]] inline void Send(Lane& lane, uint32_t from,
                                          const Address& to,
                                          std::span<const uint8_t> datagram);
  // REQUIRES: lane is the main lane (a deferred lane records its events
  // instead).
  void OnEngineEvent(Lane& lane, uint32_t node, EngineEvent&& event);
  void OnDelivered(uint32_t node, const DeliveredEvent& event, int64_t now_us);
  void StartMeasurement();
  // What every engine counted, stopped ones included: the lanes' blocks.
  CoreCounters EngineCountersTotal() const;

  // Metrics.
  struct Tally {
    uint64_t delivered = 0;
    uint64_t qualifying = 0;
  };
  // Bit per slot: live now. *late gets the live nodes whose engine started
  // after the origin.
  std::vector<uint64_t> LiveMask(std::vector<uint32_t>* late) const;
  Tally TallyMessage(const MessageRecord& m,
                     const std::vector<uint64_t>& live_mask,
                     std::span<const uint32_t> late) const;
  RunResult Collect();
  // RunResult::overlay_components, short_active_views and joining_nodes.
  void MeasureOverlay(RunResult* r) const;
  // A node whose engine started less than this before the end may still be
  // joining: one JOIN retry (after max(neighbor_timeout, repair_period))
  // plus a round trip at the largest latency.
  int64_t JoinSettleUs() const;

  const Scenario scenario_;
  const Timestamp origin_;
  int64_t now_us_;
  int64_t first_publish_us_ = 0;
  int64_t end_us_ = 0;
  bool finished_ = false;

  EventQueue queue_;
  // Lookahead windows (0: off, events run one by one in (time, seq) order).
  int64_t lookahead_us_ = 0;
  std::vector<Event> window_;   // the current window, by node
  WindowSorter window_sorter_;  // sorts window_ by node, then time
  // A window (or a chunk of it) splits over threads only when each lane
  // gets this many events; a lane runs at most kMaxEventsPerLane events
  // before its outputs are applied (each may send a few datagrams of up to
  // max_datagram_bytes: this bounds a lane's buffers).
  static constexpr size_t kMinEventsPerLane = 128;
  static constexpr size_t kMaxEventsPerLane = 2048;
  Lane main_lane_;
  Lane split_lane_;  // this thread's share of a split window (deferred)
  std::vector<std::unique_ptr<Worker>> workers_;  // threads - 1
  NetworkModel network_;
  PacketPool packets_;
  Random fault_rng_;
  Random workload_rng_;
  Random bootstrap_rng_;
  Random contact_rng_;

  // Per node slot (index = sim address).
  // Shared by every engine (declared before hot_, so it outlives them):
  // one buffer per message instead of one per node. Memory only.
  PooledPayloadInterner payload_interner_;
  // One config for every engine (Engine::Create's shared form).
  std::shared_ptr<const DiffusionConfig> engine_config_;
  // What every event reads of its node, in one 32-byte record (two per
  // cache line): the engine object itself (a handle to its state) and the
  // deadlines, so an event's first load brings all of them and the
  // engine's state can be prefetched from there.
  struct alignas(32) Hot {
    std::optional<Engine> engine;  // none: no live engine in this slot
    int64_t wake_us;               // scheduled timer; INT64_MAX = none
    int64_t next_us;               // NextTimeout() after the last call
  };
  std::vector<Hot> hot_;
  Engine* EngineAt(uint32_t node) {
    return hot_[node].engine ? &*hot_[node].engine : nullptr;
  }
  const Engine* EngineAt(uint32_t node) const {
    return hot_[node].engine ? &*hot_[node].engine : nullptr;
  }
  std::vector<NodeId> node_ids_;
#ifndef NDEBUG
  std::vector<int64_t> last_call_us_;  // per slot: the last call's time
#endif
  std::vector<int64_t> started_us_;   // when the current engine started
  std::vector<uint32_t> live_index_;  // position in live_, if live
  std::vector<uint32_t> live_;        // live node slots
  uint64_t engines_created_ = 0;      // creation index of the next engine

  // Workload and delivery tracking.
  std::vector<MessageRecord> messages_;
#ifndef NDEBUG
  // Per message: the payload published, which every delivery must carry
  // (the pool and the interner share payloads: memory only).
  std::vector<std::vector<uint8_t>> published_;
#endif
  absl::flat_hash_map<MessageId, uint32_t> message_index_;  // lookup only
  std::vector<uint8_t> payload_;
  uint32_t broadcasts_done_ = 0;
  uint32_t next_join_ = 1;
  int64_t churn_interval_us_ = 0;

  // Measurement window (from the first publish): the totals at its start,
  // subtracted at the end (no per-datagram test of whether it started).
  uint64_t gossip_received_before_ = 0;  // all engines' at window start
  BoundsHit bounds_retired_;  // state bounds of engines stopped, whole run
  uint64_t bytes_sent_before_ = 0;  // counters_.bytes_sent at window start
  LatencyHistogram convergence_us_;
  uint32_t ldh_ = 0;
  int64_t last_delivery_us_ = -1;  // of the last first delivery; -1: none
  // Of the last first delivery reliability can count (to an engine running
  // since the message's publication); -1: none.
  int64_t last_counted_delivery_us_ = -1;
  uint64_t late_starts_ = 0;  // engines started after the origin

  // State workload (off: state_ is null and nothing below is used).
  Random state_rng_;
  std::unique_ptr<StateTracker> state_;
  bool state_tracking_ = false;  // the settle point has passed
  int64_t state_interval_us_ = 0;
  int64_t state_writes_end_us_ = 0;
  int64_t state_settle_us_ = 0;
  uint64_t state_writes_scheduled_ = 0;
  std::vector<uint8_t> state_value_;

  SimCounters counters_;
  TraceHash trace_hash_;
  std::unique_ptr<TraceWriter> trace_;
  absl::Status trace_status_;
};

}  // namespace elara::sim

#endif  // ELARA_SIM_SIMULATOR_H_
