// File: core/config.h
//
// DiffusionConfig: every knob of one engine, with defaults that suit a
// swarm of up to millions of nodes on a 1500-byte MTU. Validate() rejects
// an inconsistent config with a message naming the field and its range;
// Engine::Create refuses to build from an invalid config.
#ifndef ELARA_CORE_CONFIG_H_
#define ELARA_CORE_CONFIG_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "core/time.h"
#include "core/wire.h"

namespace elara {

enum class BroadcastMode : uint8_t {
  kPush = 0,    // eager push to a fanout of active peers, no tree
  kPull = 1,    // periodic exchange of recent ids, fetch what is missing
  kHybrid = 2,  // Plumtree (eager tree + lazy IHAVE + GRAFT) with pull repair
};
const char* BroadcastModeName(BroadcastMode mode);  // "push", "pull", "hybrid"
// Parses "push" / "pull" / "hybrid"; false on anything else.
bool ParseBroadcastMode(std::string_view text, BroadcastMode* mode);

struct MembershipConfig {
  size_t active_view_size = 5;             // HyParView active view bound
  size_t passive_view_size = 30;           // HyParView passive view bound
  uint8_t active_random_walk_length = 6;   // ARWL
  uint8_t passive_random_walk_length = 3;  // PRWL
  size_t shuffle_active_count = 3;         // ka
  size_t shuffle_passive_count = 4;        // kp
  Duration shuffle_period = Duration::Seconds(10);
  // An active peer silent for keep_alive_interval is pinged; unanswered for
  // probe_timeout it is declared down (cause: timeout).
  Duration keep_alive_interval = Duration::Seconds(1);
  Duration probe_timeout = Duration::Seconds(3);
  // Period at which a node whose active view is below its bound tries to
  // fill it from the passive view (or its contacts when that is empty).
  Duration repair_period = Duration::Millis(500);
  // How long a NEIGHBOR request may stay unanswered.
  Duration neighbor_timeout = Duration::Seconds(1);
  // Period of link swaps (core/membership.h): a node with a full active
  // view trades one of its links with a random passive peer, which merges
  // islands of full views that nothing else would. Zero turns them off.
  Duration swap_period = Duration::Seconds(30);
};

struct BroadcastConfig {
  BroadcastMode mode = BroadcastMode::kHybrid;
  // Eager fanout in push mode; starting eager degree bound in hybrid mode.
  size_t initial_fanout = 4;
  size_t max_fanout = 8;
  // Per-peer loss rate (0..1) above which adaptive fanout adds an eager peer.
  double adaptive_threshold = 0.05;
  // Extra eager pushes: each message is also pushed to
  // round(redundancy_factor) additional random lazy peers. 0 = pure tree.
  double redundancy_factor = 0.0;
  // How long a node waits after an IHAVE for the payload before GRAFT.
  Duration graft_timeout = Duration::Millis(200);
  // Delay before a batch of IHAVE announcements is sent.
  Duration ihave_batch_delay = Duration::Millis(20);
  // Period of the pull exchange (pull and hybrid modes).
  Duration pull_period = Duration::Seconds(1);
  // Tree optimisation: replace an eager link by a lazy one whose announced
  // hop count is smaller by at least this much.
  uint32_t optimization_hop_threshold = 3;
  // Sequence numbers remembered per origin for duplicate detection.
  size_t dedup_window = 1024;
  // Origins tracked for duplicate detection (oldest-active evicted).
  size_t max_tracked_origins = 4096;
  // Payloads kept for GRAFT / IWANT answers, and for how long.
  size_t message_cache_entries = 1024;
  Duration message_cache_ttl = Duration::Seconds(30);
};

// Keyed, versioned state (core/state_sync.h).
struct StateConfig {
  // Keys held, live values and tombstones together. A local write of a new
  // key beyond it fails with ResourceExhausted; a received entry for a new
  // key is counted (state_entries_refused) and dropped.
  size_t max_state_entries = 65536;
  // Tombstones held (<= max_state_entries); beyond it the one that expires
  // first is purged early (counted in state_tombstones_evicted).
  size_t max_tombstones = 16384;
  // Largest value. The engine also caps it so that one update fits one
  // datagram: min(max_value_bytes, max_datagram_bytes - 64).
  size_t max_value_bytes = 1024;
  // A tombstone is purged when its HLC wall time is this old by the local
  // clock. A node cut off for longer than this may keep, and hand back, a
  // value deleted meanwhile (see core/state_sync.h, "resurrection").
  Duration tombstone_ttl = Duration::Seconds(3600);
  // Each node starts one anti-entropy round with a random active peer per
  // period (while it holds any entry).
  Duration anti_entropy_period = Duration::Seconds(1);
  // Bytes one anti-entropy round may put on the wire, both directions and
  // datagram headers included; a larger difference flows over several
  // rounds.
  size_t anti_entropy_budget_bytes = 4 * kDefaultMaxDatagramBytes;
  // A received version more than this ahead of the local clock advances the
  // local clock only this far (counted); the entry itself is still merged.
  // Duration::Infinite() disables the bound.
  Duration max_clock_drift = Duration::Seconds(3600);
};

struct DiffusionConfig {
  MembershipConfig membership;
  BroadcastConfig broadcast;
  StateConfig state;
  size_t max_datagram_bytes = kDefaultMaxDatagramBytes;
  // Bound of the engine's event queue (drained by PollEvent); overflow is
  // counted in EngineCounters::events_dropped.
  size_t max_pending_events = 65536;
  // Bound of the engine's transmit queue (drained by PollTransmit); overflow
  // is counted in EngineCounters::transmits_dropped.
  size_t max_pending_transmits = 65536;

  // OK, or InvalidArgument naming the field and its allowed range.
  absl::Status Validate() const;
};

}  // namespace elara

#endif  // ELARA_CORE_CONFIG_H_
