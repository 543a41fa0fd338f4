// File: sim/scenario.h
//
// A Scenario is everything that defines one simulation run: the swarm, the
// network model, the faults and the workload. Together with the binary it
// determines the run bit for bit (ARCHITECTURE.md, "Determinism rules"):
// every random choice of the run is drawn from generators derived from
// `seed`. RunResult is what a run measures, with the metric definitions of
// ARCHITECTURE.md ("Metrics").
//
// Times (partition windows, crash times, ...) are durations since the start
// of the run (virtual time zero; Simulator::origin()).
// The CLI flag of every field, and their text forms, are listed in
// sim/scenario_flags.h.
//
// Thread-safety: plain data.
#ifndef ELARA_SIM_SCENARIO_H_
#define ELARA_SIM_SCENARIO_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/config.h"
#include "core/time.h"

namespace elara::sim {

enum class LatencyModel : uint8_t {
  kFixed = 0,    // latency_min
  kUniform = 1,  // uniform in [latency_min, latency_max]
  kPareto = 2,   // latency_min + heavy tail, capped at latency_max
};

enum class Bootstrap : uint8_t {
  kProtocol = 0,  // nodes join through contacts over time, by the protocol
  kWarm = 1,      // overlay built directly (views the protocol could build)
};

// The order in which the simulator runs events that cannot affect one
// another (sim/simulator.h, "Lookahead windows"). Both are deterministic
// and model the same network; they differ in which of two events at
// different nodes less than the minimum latency apart runs first, so they
// give different trace hashes.
enum class EventOrder : uint8_t {
  kLookahead = 0,  // windows of the minimum latency, node by node (faster)
  kExact = 1,      // one event at a time in (time, sequence number) order
};

// A partition splits the swarm for [start, end): `fraction` of the nodes
// (chosen from the seed) on one side, the rest on the other. Datagrams
// across the cut are dropped.
struct PartitionSpec {
  double fraction = 0.5;
  Duration start;
  Duration end;
};

// At `at`, `fraction` of the live nodes crash (stop, lose no state on disk:
// a crashed node is silent). If `restart_after` is finite they restart with
// fresh engines and rejoin.
struct CrashSpec {
  double fraction = 0.0;
  Duration at;
  Duration restart_after = Duration::Infinite();
};

// Longest Gilbert-Elliott step in time (Scenario::burst_slot).
inline constexpr Duration kMaxBurstSlot = Duration::Seconds(3600);

struct Scenario {
  uint64_t seed = 1;
  uint32_t nodes = 1000;
  DiffusionConfig engine;  // engine.broadcast.mode is the mode

  // Network.
  LatencyModel latency_model = LatencyModel::kUniform;
  Duration latency_min = Duration::Millis(10);
  Duration latency_max = Duration::Millis(80);
  double loss = 0.0;  // independent per-datagram loss probability
  // Gilbert-Elliott bursty loss; enabled when burst_loss_enter > 0.
  double burst_loss_enter = 0.0;  // P(good -> bad) per step
  double burst_loss_exit = 0.0;   // P(bad -> good) per step
  double burst_loss_bad = 1.0;    // loss probability in the bad state
  // A step: 0 = each datagram the sender sends; otherwise this much virtual
  // time (bursts then last in time, whether the sender sends or not).
  Duration burst_slot = Duration::Zero();  // 0..kMaxBurstSlot
  // Per-node uplink bandwidth in bytes per second; 0 = unlimited.
  uint64_t bandwidth_bytes_per_s = 0;

  // Faults.
  std::vector<PartitionSpec> partitions;
  std::vector<CrashSpec> crashes;
  // Churn: nodes leave (gracefully) and fresh nodes join at this rate per
  // second over the whole run; 0 = none.
  double churn_per_s = 0.0;

  // How events that cannot affect one another are ordered.
  EventOrder event_order = EventOrder::kLookahead;

  // Bootstrap and workload.
  Bootstrap bootstrap = Bootstrap::kWarm;
  Duration join_spread = Duration::Seconds(5);  // kProtocol: joins spread
  Duration warmup = Duration::Seconds(2);       // before the first broadcast
  uint32_t broadcasts = 10;
  uint32_t payload_bytes = 1024;
  Duration broadcast_interval = Duration::Millis(100);
  // Time after the last broadcast to let deliveries and repairs finish;
  // nullopt: Drain()'s default for the mode.
  std::optional<Duration> drain;

  // State workload (keyed state, core/state_sync.h); off when
  // state_writes_per_s is 0 (then nothing below changes the run). From the
  // workload start (the first broadcast's instant: join spread + warmup)
  // until state_writes_until, a random live node writes a random key of
  // [0, state_keys) (StateId k + 1) every 1/state_writes_per_s seconds, a
  // value of state_value_bytes. Random keys from one key space make both
  // sides of a partition write overlapping keys.
  double state_writes_per_s = 0.0;  // across the swarm
  // Virtual time (since the start) the writes stop; nullopt = "heal": at
  // the end of the last partition that heals (its END; refused when no
  // partition has a finite END).
  std::optional<Duration> state_writes_until;
  uint32_t state_keys = 1000;
  uint32_t state_value_bytes = 64;
  // Each engine's state clock runs ahead of virtual time by an offset
  // drawn uniformly from [0, state_clock_skew] (Engine::
  // SetStateClockOffset), so concurrent writes on skewed clocks are
  // ordered by the hybrid logical clock, not by virtual time. 0 = none.
  Duration state_clock_skew = Duration::Zero();

  bool state_workload() const { return state_writes_per_s > 0.0; }
  // `drain`, or when unset kDefaultDrain, except in pull mode: a message
  // spreads one pull period per round there, and reaches every node in
  // about log2 N + ln N rounds, so max(kDefaultDrain, (2 * ceil(log2 N) +
  // 5) pull periods): 27 s at 2,000 nodes, 45 s at 10^6 (1 s periods).
  Duration Drain() const;
  static constexpr Duration kDefaultDrain = Duration::Seconds(10);
  // The end of the last partition with a finite END; nullopt if none.
  std::optional<Duration> LastHeal() const;
  // When the writes stop (state_writes_until resolved). REQUIRES: valid.
  Duration StateWritesEnd() const;
  // When the state stops changing by writes and cuts: the later of
  // StateWritesEnd() and LastHeal(). Convergence is measured from here.
  Duration StateSettle() const;
  // The run's timeline from its start (virtual time 0): the first and the
  // last broadcast's publication, and the end of the run (the last
  // publication, or StateSettle() with the state workload, plus drain).
  // REQUIRES: valid.
  Duration FirstPublish() const;
  Duration LastPublish() const;
  Duration End() const;
  // Faults the run cannot show: a crash after End() or a partition
  // starting at or after it (never happens), or, without the state
  // workload, one after `last_delivery` (the run's last first delivery:
  // no broadcast was in flight across or after it, so reliability cannot
  // reflect it). One line each, for a warning; empty when every fault is
  // exercised.
  std::vector<std::string> UnexercisedFaults(
      std::optional<Duration> last_delivery) const;

  // Threads that run the engines of a lookahead window (EventOrder::
  // kLookahead), 1..kMaxThreads. The run is the same, bit for bit, with any
  // count: only wall time changes. Used only where windows are (lookahead
  // on, no trace file); otherwise one thread runs everything.
  uint32_t threads = 1;
  static constexpr uint32_t kMaxThreads = 64;

  // Small runs only: write every send/delivery as JSON lines here.
  // Refused (by Validate) when nodes > kMaxTraceNodes: a 10^6-node trace
  // would be hundreds of GB.
  std::string trace_path;
  static constexpr uint32_t kMaxTraceNodes = 10000;

  // OK, or InvalidArgument naming the field (by its CLI flag name) and its
  // allowed range.
  absl::Status Validate() const;
};

struct Percentiles {
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

// Bounds hit over the whole run: EngineCounters (core/engine.h) summed over
// every engine that ran (crashed and departed ones included), plus the
// simulator's own packet bound. Each but passive_view_evictions means
// something was dropped, refused or cut short because a cache, window,
// table or queue was full; passive_view_evictions is routine (a full
// passive view replaces an entry for each one it learns) and is not in
// Lossy().
struct BoundsHit {
  uint64_t cache_evictions = 0;        // message cache full: oldest out
  uint64_t origins_evicted = 0;        // dedup origin table full
  uint64_t gossip_outside_window = 0;  // too old for the dedup window
  uint64_t missing_table_full = 0;     // announcement not tracked
  uint64_t digest_answers_capped = 0;  // digest answer cut at 32 messages
  uint64_t frames_too_large = 0;       // a frame that fit no datagram
  uint64_t transmits_dropped = 0;      // engine transmit queue full
  uint64_t events_dropped = 0;         // engine event queue full
  uint64_t contacts_dropped = 0;       // join contacts over their bound
  uint64_t state_entries_refused = 0;
  uint64_t state_tombstones_evicted = 0;
  uint64_t state_requests_refused = 0;
  uint64_t state_corrections_dropped = 0;
  uint64_t packet_pool_full = 0;  // Simulator::kMaxPacketsInFlight reached
  // --burst-slot: a burst state's length cut at 2^30 slots (NetworkModel).
  uint64_t burst_sojourns_capped = 0;
  uint64_t passive_view_evictions = 0;

  // Calls visit(name, value) for each field in declaration order; the
  // names are the JSON keys.
  template <typename Visit>
  void ForEach(Visit visit) const {
    visit("cache_evictions", cache_evictions);
    visit("origins_evicted", origins_evicted);
    visit("gossip_outside_window", gossip_outside_window);
    visit("missing_table_full", missing_table_full);
    visit("digest_answers_capped", digest_answers_capped);
    visit("frames_too_large", frames_too_large);
    visit("transmits_dropped", transmits_dropped);
    visit("events_dropped", events_dropped);
    visit("contacts_dropped", contacts_dropped);
    visit("state_entries_refused", state_entries_refused);
    visit("state_tombstones_evicted", state_tombstones_evicted);
    visit("state_requests_refused", state_requests_refused);
    visit("state_corrections_dropped", state_corrections_dropped);
    visit("packet_pool_full", packet_pool_full);
    visit("burst_sojourns_capped", burst_sojourns_capped);
    visit("passive_view_evictions", passive_view_evictions);
  }
  // Sum of every field but passive_view_evictions.
  uint64_t Lossy() const {
    uint64_t sum = 0;
    ForEach([&sum](const char* /*name*/, uint64_t value) { sum += value; });
    return sum - passive_view_evictions;
  }
};

struct RunResult {
  uint32_t nodes = 0;
  uint64_t seed = 0;
  std::string mode;
  // Fraction of (message, correct live node) pairs delivered.
  double reliability = 0;
  // Largest hop count at which any message was delivered.
  uint32_t ldh = 0;
  // Payload messages received / (N - 1) - 1, averaged over messages.
  double rmr = 0;
  // All wire bytes / ((N - 1) * payload bytes) - 1 over the broadcast phase.
  double byte_overhead = 0;
  Percentiles convergence_ms;  // publish -> delivery, over nodes and messages
  // Virtual time (since the start) of the last first delivery of any
  // message; nullopt when nothing was delivered.
  std::optional<Duration> last_delivery;
  // The same over the deliveries reliability counts: to nodes whose engine
  // ran since the message's publication (not ones that joined or restarted
  // later, which may still be catching up on old messages at the end).
  std::optional<Duration> last_counted_delivery;
  uint64_t events = 0;
  // Timer events popped that did no work (not in `events`): stale ones
  // (the node's wake time had moved) and ones whose deadline had moved
  // later (rescheduled without calling the engine). Queue work that
  // events_per_s does not count.
  uint64_t timer_pops_skipped = 0;
  // Lookahead windows run, and how many of them were split over several
  // threads; `threads`: threads that ran windows (1 unless
  // Scenario::threads > 1 and windows are on). events_per_s counts the
  // events of all of them.
  uint64_t lookahead_windows = 0;
  uint64_t split_windows = 0;
  uint32_t threads = 1;
  double events_per_s = 0;
  double wall_s = 0;
  uint64_t peak_rss_bytes = 0;
  double state_bytes_per_node = 0;
  uint64_t trace_hash = 0;
  // Extra detail.
  uint64_t datagrams_sent = 0;
  uint64_t datagrams_lost = 0;
  uint64_t bytes_sent = 0;
  uint64_t messages = 0;
  uint32_t live_nodes = 0;
  // The overlay at the end: connected components of the graph of active
  // links between live nodes (1: one overlay; more: islands or a cut that
  // has not healed), and live nodes whose active view is below its bound.
  // Both leave out the joining_nodes: live nodes whose engine started so
  // shortly before the end (one JOIN retry plus a round trip at the largest
  // latency) that their JOIN may still be under way; with churn there are
  // always some, since churn runs up to the end.
  uint32_t overlay_components = 0;
  uint32_t short_active_views = 0;
  uint32_t joining_nodes = 0;
  // Broadcast() calls the engine refused (payload too large for a datagram).
  uint64_t broadcasts_failed = 0;
  // Broadcasts not published because no node was live at their time (every
  // node crashed or left); not counted in `messages` nor in reliability.
  uint64_t broadcasts_no_live_node = 0;
  // A node delivered the same message twice (an engine bug; must stay 0).
  uint64_t duplicate_deliveries = 0;
  // Caches, windows, tables and queues that were full at some point.
  BoundsHit bounds_hit;

  // State workload (Scenario::state_writes_per_s > 0); zero otherwise.
  // Definitions in sim/simulator.h ("State metrics").
  bool state_workload = false;
  uint64_t state_writes = 0;               // accepted by the writing engine
  uint64_t state_writes_failed = 0;        // refused by it (a bound)
  uint64_t state_writes_no_live_node = 0;  // skipped: no node was live
  uint64_t state_conflicting_keys = 0;
  double state_settle_ms = 0;  // virtual ms since the start
  // Settle -> every live node's state digest equal (and staying so to the
  // end); nullopt when they differ at the end.
  std::optional<double> state_convergence_ms;
  uint32_t state_divergent_nodes = 0;
  uint64_t reconciliation_bytes = 0;
  uint64_t state_keys_held = 0;  // live keys of a majority-digest node
};

}  // namespace elara::sim

#endif  // ELARA_SIM_SCENARIO_H_
