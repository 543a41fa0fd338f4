// StateSync: see state_sync.h for the protocol. Notes on the choices here:
//
// - Why a rateless sketch and not per-origin version summaries (the
//   classic Scuttlebutt design): keys here are written by any node, so
//   "what I have from origin X" stops naming what differs once entries are
//   overwritten by other origins; pushes arrive out of order, so a max
//   version per origin hides gaps unless every origin also numbers its
//   writes (and a restarted origin reuses numbers); and with many writers
//   the summary itself is O(origins), which needs set reconciliation of
//   its own. Reconciling whole entries (key + version tag) costs ~1.45
//   cells of 13 bytes per differing element whatever the writers,
//   superseded entries are never shipped, and restarts, reordering and lost
//   pushes need no bookkeeping. The 64-slice layer in front makes a synced
//   pair cost one datagram and gives the estimate that sizes the first
//   sketch request. Alternatives, by arithmetic: a Merkle descent over the
//   key space (16-ary, 4-byte hashes) costs ~3.5x the entries at 1% of 10k
//   keys before its extra round trips; a per-key digest costs 8 bytes times
//   every key.
// - A key held in two versions gives two elements. Their tags carry an age
//   hint (log4 buckets of the age at a reference time the initiator picks)
//   so the initiator sends only the newer side's entry when the buckets
//   differ; when they tie it sends its own and the responder corrects it
//   if it holds a newer one. Hints never order wrongly (a smaller bucket is
//   a strictly later wall time), so nothing depends on their accuracy.
// - The budget is enforced by the initiator: it counts every frame of the
//   round (frame bytes + a datagram header each, an upper bound of what the
//   engine's packing produces) and tells the responder how much it may
//   answer (cells asked for, max_reply_bytes).
// - A failed sketch (not decoded within the budget) costs the most, so the
//   density estimate only decays slowly after a success and jumps after a
//   failure, and the cells of a failed sketch are not wasted: what peeling
//   recovered is shipped.
// - Values queued for sending are pinned (shared_ptr) until ReleaseSent():
//   a later write in the same engine call may replace the stored entry.
#include "core/state_sync.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/state_hash.h"

namespace elara {
namespace {

// Everything of a StateUpdate datagram but the value, rounded up.
constexpr size_t kUpdateOverheadBytes = 64;
// Worst-case bytes of a sketch / delta / request frame around its list,
// datagram header included.
constexpr size_t kSketchFrameOverheadBytes =
    kDatagramHeaderBytes + 1 + 3 + 4 + 8 + 8 + 3 + 2;
constexpr size_t kDeltaFrameOverheadBytes =
    kDatagramHeaderBytes + 1 + 3 + 4 + 1 + 8 + 2;
constexpr size_t kRequestFrameOverheadBytes =
    kDatagramHeaderBytes + 1 + 3 + 4 + 5 + 2;
constexpr size_t kKeyTagBytes = 12;
// Most stale keys a responder remembers to correct for one round.
constexpr size_t kMaxCorrections = 2 * kMaxListEntries;
// Fixed part of a record (key, origin, wall, logical, flags, length).
constexpr size_t kRecordFixedBytes = 8 + 8 + 8 + 1 + 1 + 2;
// Bound of the learned difference density (elements per slice).
constexpr double kMaxSliceElements = 1 << 20;
// Requests for more cells after the first one, per round.
constexpr int kMaxSketchExtensions = 2;
// Bytes of one sketch cell on the wire.
constexpr size_t kCellBytes = 1 + 8 + 4;

size_t WireCost(const Frame& frame) {
  return EncodedFrameBytes(frame) + kDatagramHeaderBytes;
}

size_t EffectiveMaxValue(const StateConfig& c, size_t max_datagram_bytes) {
  const auto room = [](size_t bytes) {
    return bytes > kUpdateOverheadBytes ? bytes - kUpdateOverheadBytes : 0;
  };
  return std::min({c.max_value_bytes, room(max_datagram_bytes),
                   room(c.anti_entropy_budget_bytes / 4)});
}

// One side holds under a quarter of the other's entries of a slice.
bool Lopsided(uint64_t a, uint64_t b) {
  const uint64_t small = std::min(a, b);
  const uint64_t big = std::max(a, b);
  return big > 0 && small * 4 <= big;
}

uint64_t AbsDiff(uint64_t a, uint64_t b) { return a > b ? a - b : b - a; }

}  // namespace

StateSync::StateSync(const StateConfig& config, NodeId self,
                     size_t max_datagram_bytes, uint64_t seed, Outbox* outbox,
                     StateCounters* counters, StateRouting* routing)
    : config_(config),
      self_(self),
      max_datagram_bytes_(max_datagram_bytes),
      rng_(seed),
      outbox_(outbox),
      counters_(counters),
      routing_(routing),
      clock_(config.max_clock_drift),
      store_(config, EffectiveMaxValue(config, max_datagram_bytes)) {}

// --- Local writes -----------------------------------------------------------

int64_t StateSync::Physical(Timestamp now) const {
  return now.ToMicros() + offset_us_;
}

StateVersion StateSync::NextVersion(Timestamp now, StateId key) {
  Hlc hlc = clock_.Tick(Physical(now));
  if (const StoredEntry* held = store_.Find(key)) {
    const Hlc held_hlc{held->version.wall_us, held->version.logical};
    if (held_hlc >= hlc) hlc = NextHlc(held_hlc);
  }
  return StateVersion{hlc.wall_us, hlc.logical, self_};
}

absl::Status StateSync::Write(Timestamp now, StateId key, bool deleted,
                              std::span<const uint8_t> value,
                              StateRecord* written) {
  if (!deleted && value.size() > store_.max_value_bytes()) {
    return absl::ResourceExhaustedError(
        absl::StrFormat("state value of %d bytes exceeds the bound of %d",
                        value.size(), store_.max_value_bytes()));
  }
  if (store_.FullFor(key)) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "state store full: %d keys held", config_.max_state_entries));
  }
  StateValueBytes bytes;
  if (!deleted) {
    bytes = std::make_shared<const std::vector<uint8_t>>(value.begin(),
                                                         value.end());
  }
  const StateRecord record{key, NextVersion(now, key), deleted,
                           deleted ? std::span<const uint8_t>() : *bytes};
  if (store_.Merge(Physical(now), record, bytes) != MergeOutcome::kApplied) {
    return absl::InternalError("state write not applied");
  }
  if (bytes != nullptr) pinned_.push_back(bytes);
  counters_->state_tombstones_evicted = store_.tombstones_evicted();
  ++counters_->state_writes;
  *written = record;
  MaybeScheduleRound(now);
  return absl::OkStatus();
}

absl::Status StateSync::Propagate(Timestamp now, StateId key,
                                  std::span<const uint8_t> value) {
  StateRecord record;
  absl::Status status = Write(now, key, /*deleted=*/false, value, &record);
  if (status.ok()) Relay(record, /*hops=*/0, self_);
  return status;
}

absl::Status StateSync::Delete(Timestamp now, StateId key) {
  StateRecord record;
  absl::Status status = Write(now, key, /*deleted=*/true, {}, &record);
  if (status.ok()) Relay(record, /*hops=*/0, self_);
  return status;
}

absl::Status StateSync::Push(Timestamp now, StateId key,
                             std::span<const uint8_t> value,
                             std::span<const Address> targets) {
  for (const Address& to : targets) {
    if (!to.valid()) {
      return absl::InvalidArgumentError("state push: invalid target address");
    }
  }
  StateRecord record;
  absl::Status status = Write(now, key, /*deleted=*/false, value, &record);
  if (!status.ok()) return status;
  for (const Address& to : targets) {
    SendUpdate(to, record, /*relay=*/false, /*hops=*/1);
  }
  return absl::OkStatus();
}

absl::Status StateSync::Pull(Timestamp /*now*/, std::span<const StateId> keys,
                             const Address& source) {
  if (keys.size() > kMaxPullKeys) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "state pull: %d keys, at most %d", keys.size(), kMaxPullKeys));
  }
  if (!source.valid()) {
    return absl::InvalidArgumentError("state pull: invalid source address");
  }
  const uint64_t salt = SketchSalt(0, self_);
  const size_t room = max_datagram_bytes_ - kRequestFrameOverheadBytes;
  const size_t per_frame =
      std::clamp<size_t>(room / kKeyTagBytes, 1, kMaxListEntries);
  for (size_t i = 0; i < keys.size(); i += per_frame) {
    StateRequestFrame request{0, config_.anti_entropy_budget_bytes, {}};
    for (size_t j = i; j < std::min(keys.size(), i + per_frame); ++j) {
      request.keys.push_back(StateKeyTag{keys[j], TagOf(salt, keys[j])});
    }
    Account(WireCost(request), /*out=*/true);
    outbox_->Send(source, std::move(request));
  }
  return absl::OkStatus();
}

std::optional<StateValue> StateSync::Get(StateId key) const {
  const StoredEntry* entry = store_.Find(key);
  if (entry == nullptr || entry->deleted()) return std::nullopt;
  return StateValue{entry->value, entry->version};
}

// --- Dissemination and merging ----------------------------------------------

void StateSync::SendUpdate(const Address& to, const StateRecord& record,
                           bool relay, uint32_t hops) {
  outbox_->Send(to, StateUpdateFrame{relay, hops, record});
  ++counters_->state_updates_sent;
}

void StateSync::Relay(const StateRecord& record, uint32_t hops,
                      NodeId exclude) {
  const uint32_t next_hops = hops == UINT32_MAX ? hops : hops + 1;
  const std::vector<PeerEntry> active = routing_->StateActivePeers();
  switch (routing_->StateMode()) {
    case BroadcastMode::kPull:
      return;  // anti-entropy carries it
    case BroadcastMode::kHybrid: {
      const std::vector<NodeId> eager = routing_->StateEagerPeers();
      for (const PeerEntry& peer : active) {
        if (peer.id == exclude) continue;
        if (std::binary_search(eager.begin(), eager.end(), peer.id)) {
          SendUpdate(peer.address, record, /*relay=*/true, next_hops);
        }
      }
      return;
    }
    case BroadcastMode::kPush: {
      std::vector<const PeerEntry*> candidates;
      for (const PeerEntry& peer : active) {
        if (peer.id != exclude) candidates.push_back(&peer);
      }
      const size_t k = std::min(routing_->StatePushFanout(), candidates.size());
      if (k == 0) return;
      std::vector<uint64_t> picks;
      rng_.PickK(k, candidates.size(), &picks);
      for (uint64_t pick : picks) {
        SendUpdate(candidates[pick]->address, record, /*relay=*/true,
                   next_hops);
      }
      return;
    }
  }
}

MergeOutcome StateSync::Accept(Timestamp now, const StateRecord& record,
                               uint32_t hops, bool repaired) {
  clock_.Observe(Physical(now),
                 Hlc{record.version.wall_us, record.version.logical});
  counters_->state_clock_drift_clamped = clock_.drift_clamped();
  const MergeOutcome outcome = store_.Merge(Physical(now), record);
  counters_->state_tombstones_evicted = store_.tombstones_evicted();
  switch (outcome) {
    case MergeOutcome::kApplied: {
      if (repaired) ++counters_->state_entries_repaired;
      const StoredEntry* entry = store_.Find(record.key);
      StateChangedEvent event;
      event.key = record.key;
      event.value = entry != nullptr ? entry->value : nullptr;
      event.deleted = event.value == nullptr;
      event.version = record.version;
      event.hops = repaired ? 0 : hops;
      event.repaired = repaired;
      event.at = now;
      outbox_->Emit(std::move(event));
      MaybeScheduleRound(now);
      break;
    }
    case MergeOutcome::kRefusedFull:
    case MergeOutcome::kRefusedValue:
      ++counters_->state_entries_refused;
      break;
    case MergeOutcome::kSame:
    case MergeOutcome::kOlder:
    case MergeOutcome::kExpired:
      break;
  }
  return outcome;
}

void StateSync::HandleUpdate(Timestamp now, const PeerEntry& from,
                             const StateUpdateFrame& f) {
  ++counters_->state_updates_received;
  if (Accept(now, f.record, f.hops, /*repaired=*/false) !=
      MergeOutcome::kApplied) {
    return;
  }
  ++counters_->state_updates_applied;
  const StoredEntry* entry = store_.Find(f.record.key);
  if (!f.relay || entry == nullptr) return;  // an expired tombstone: gone
  // Relay the stored copy: it outlives the received datagram.
  if (entry->value != nullptr) pinned_.push_back(entry->value);
  Relay(entry->ToRecord(f.record.key), f.hops, from.id);
}

// An entry an anti-entropy round repaired is news to this node's side of
// the swarm too (after a partition heals, the first rounds across the old
// cut find whole sets of them): relay it like a fresh update, so it
// spreads along the broadcast tree at network speed instead of one
// anti-entropy period per hop. Each node relays an entry at most once (only
// when it changed the store). Explicit pulls (round 0) stay local.
void StateSync::RelayRepaired(StateId key, NodeId from) {
  const StoredEntry* entry = store_.Find(key);
  if (entry == nullptr) return;  // an expired tombstone: gone
  if (entry->value != nullptr) pinned_.push_back(entry->value);
  Relay(entry->ToRecord(key), 0, from);
}

void StateSync::HandleDelta(Timestamp now, const PeerEntry& from,
                            const StateDeltaFrame& f) {
  Account(WireCost(f), /*out=*/false);
  const bool reply = InRound(from, f.round, Phase::kReply);
  const bool stream = InRound(from, f.round, Phase::kStream);
  if (reply || stream) round_.spent_bytes += WireCost(f);
  if (stream) {
    // Only the last frame of a cut reply carries the resume point; frames
    // may arrive in any order.
    if (f.has_resume) {
      round_.stream_resumed = true;
      stream_ = Stream{true, true, round_.stream_slice, f.resume};
      cursor_slice_ = round_.stream_slice;
    } else if (!round_.stream_resumed) {
      stream_.active = false;
      cursor_slice_ = (round_.stream_slice + 1) % kStateSlices;
    }
  }
  // As the responder of a round, remember the entries the initiator sent
  // that are older than ours: its request will ask for the corrections.
  const bool correctable = f.round != 0 && !reply && !stream;
  if (correctable &&
      (corrections_.round != f.round || corrections_.peer != from.id)) {
    corrections_ = Corrections{from.id, f.round, {}};
  }
  for (const StateRecord& record : f.records) {
    const MergeOutcome outcome = Accept(now, record, 0, /*repaired=*/true);
    if (outcome == MergeOutcome::kApplied && f.round != 0) {
      RelayRepaired(record.key, from.id);
    }
    if (outcome == MergeOutcome::kOlder && correctable) {
      if (corrections_.keys.size() < kMaxCorrections) {
        corrections_.keys.push_back(record.key);
      } else {
        ++counters_->state_corrections_dropped;
      }
    }
  }
}

// --- Responder --------------------------------------------------------------

size_t StateSync::ResponderRoom(Timestamp now) {
  if (now - responder_window_start_ >= config_.anti_entropy_period) {
    responder_window_start_ = now;
    responder_bytes_ = 0;
  }
  const size_t limit =
      kResponderRoundsPerPeriod * config_.anti_entropy_budget_bytes;
  return responder_bytes_ < limit ? limit - responder_bytes_ : 0;
}

bool StateSync::ResponderAllows(Timestamp now, size_t bytes) {
  if (bytes > ResponderRoom(now)) {
    ++counters_->state_requests_refused;
    return false;
  }
  responder_bytes_ += bytes;
  return true;
}

void StateSync::HandleDigest(Timestamp now, const PeerEntry& from,
                             const StateDigestFrame& f) {
  Account(WireCost(f), /*out=*/false);
  const bool equal =
      f.count == store_.size() && f.hash == store_.content_hash();
  // Two peers that start rounds with each other at once would do the work
  // twice: a round reconciles both ways, so the larger id yields.
  if (round_.id != 0 && round_.peer.id == from.id &&
      (round_.phase == Phase::kDigest || round_.phase == Phase::kSketch)) {
    if (self_ > from.id) {
      round_ = Round();
    } else if (!equal) {
      return;  // the peer yields to our round
    }
  }
  if (equal) {
    ++counters_->state_rounds_in_sync;
    return;
  }
  const SliceStats stats = SliceDigests(SketchSalt(f.round, from.id));
  StateRangesFrame ranges{f.round, {}};
  ranges.slices.reserve(kStateSlices);
  for (const SliceStat& s : stats) {
    ranges.slices.push_back(StateSliceDigest{s.count, s.hash});
  }
  const size_t cost = WireCost(ranges);
  if (!ResponderAllows(now, cost)) return;
  Account(cost, /*out=*/true);
  outbox_->Send(from.address, std::move(ranges));
}

void StateSync::HandleSketchRequest(Timestamp now, const PeerEntry& from,
                                    const StateSketchRequestFrame& f) {
  Account(WireCost(f), /*out=*/false);
  // A round's budget bounds what one request can get; the period's bound
  // is checked before any work.
  const size_t per_frame = CellsPerFrame(kCellBytes);
  const uint64_t cells =
      std::min<uint64_t>(f.cells, config_.anti_entropy_budget_bytes / 12 + 1);
  const size_t frames = (cells + per_frame - 1) / per_frame;
  if (!ResponderAllows(
          now, cells * kCellBytes + frames * kSketchFrameOverheadBytes)) {
    return;
  }
  const uint64_t salt = SketchSalt(f.round, from.id);
  uint64_t set_hash = 0;
  const std::vector<SketchElement> elements =
      ElementsIn(f.slice_mask, salt, f.reference_us, &set_hash);
  std::vector<SketchCell> sketch(cells);
  AddToSketch(salt, elements, f.start, sketch);
  for (size_t i = 0; i < sketch.size(); i += per_frame) {
    StateSketchFrame frame{f.round, f.slice_mask, set_hash, f.start + i, {}};
    frame.cells.assign(sketch.begin() + i,
                       sketch.begin() + std::min(sketch.size(), i + per_frame));
    Account(WireCost(frame), /*out=*/true);
    outbox_->Send(from.address, std::move(frame));
  }
}

void StateSync::HandleRequest(Timestamp now, const PeerEntry& from,
                              const StateRequestFrame& f) {
  Account(WireCost(f), /*out=*/false);
  const uint64_t salt = SketchSalt(f.round, from.id);
  std::vector<StateId> keys;
  if (f.round != 0 && corrections_.round == f.round &&
      corrections_.peer == from.id) {
    keys = std::move(corrections_.keys);
    corrections_ = Corrections();
  }
  for (const StateKeyTag& asked : f.keys) {
    const StoredEntry* entry = store_.Find(asked.key);
    if (entry == nullptr) continue;
    if (SketchTag(salt, asked.key, entry->fingerprint, 0) == asked.tag) {
      continue;
    }
    keys.push_back(asked.key);
  }
  if (keys.empty()) return;
  const size_t room = ResponderRoom(now);
  if (room < kDeltaFrameOverheadBytes + kRecordFixedBytes) {
    ++counters_->state_requests_refused;
    return;
  }
  size_t bytes = 0;
  SendEntries(from.address, f.round, keys, {},
              std::min<size_t>(
                  {f.max_reply_bytes, config_.anti_entropy_budget_bytes, room}),
              &bytes);
  responder_bytes_ += bytes;
  Account(bytes, /*out=*/true);
}

void StateSync::HandleStreamRequest(Timestamp now, const PeerEntry& from,
                                    const StateStreamRequestFrame& f) {
  Account(WireCost(f), /*out=*/false);
  const size_t room = ResponderRoom(now);
  if (room < kDeltaFrameOverheadBytes + kRecordFixedBytes) {
    ++counters_->state_requests_refused;
    return;
  }
  const size_t max_bytes = std::min<size_t>(
      {f.max_reply_bytes, config_.anti_entropy_budget_bytes, room});
  const std::vector<std::pair<uint64_t, StateId>> range =
      KeysInHashRange(f.from, f.to);
  std::vector<StateId> keys;
  std::vector<uint64_t> hashes;
  for (const auto& [hash, key] : range) {
    hashes.push_back(hash);
    keys.push_back(key);
  }
  size_t bytes = 0;
  const size_t sent =
      SendEntries(from.address, f.round, keys, hashes, max_bytes, &bytes);
  if (sent == 0 && keys.empty()) {
    // Nothing here: say so, so the initiator ends its stream.
    StateDeltaFrame done{f.round, false, 0, {}};
    bytes += WireCost(done);
    outbox_->Send(from.address, std::move(done));
  }
  responder_bytes_ += bytes;
  Account(bytes, /*out=*/true);
}

// --- Initiator --------------------------------------------------------------

bool StateSync::InRound(const PeerEntry& from, uint32_t round,
                        Phase phase) const {
  return round_.id != 0 && round == round_.id && from.id == round_.peer.id &&
         round_.phase == phase;
}

void StateSync::EndRound() {
  if (round_.phase == Phase::kSketch) ++counters_->state_rounds_abandoned;
  round_ = Round();
}

void StateSync::StartRound(Timestamp now) {
  EndRound();
  if (store_.size() == 0) return;  // nothing to offer; peers come to us
  round_at_ = now + config_.anti_entropy_period;
  const std::vector<PeerEntry> peers = routing_->StateActivePeers();
  if (peers.empty()) return;
  round_.peer = peers[rng_.UniformBelow(peers.size())];
  do {
    round_.id = static_cast<uint32_t>(rng_.Next64());
  } while (round_.id == 0);
  round_.salt = SketchSalt(round_.id, self_);
  round_.phase = Phase::kDigest;
  const StateDigestFrame digest{round_.id, store_.size(),
                                store_.content_hash()};
  round_.spent_bytes = WireCost(digest);
  Account(round_.spent_bytes, /*out=*/true);
  outbox_->Send(round_.peer.address, digest);
  ++counters_->state_rounds_started;
}

void StateSync::HandleRanges(Timestamp now, const PeerEntry& from,
                             const StateRangesFrame& f) {
  Account(WireCost(f), /*out=*/false);
  if (!InRound(from, f.round, Phase::kDigest) ||
      f.slices.size() != kStateSlices) {
    ++counters_->state_frames_ignored;
    return;
  }
  round_.spent_bytes += WireCost(f);
  round_.phase = Phase::kIdle;
  const SliceStats own = SliceDigests(round_.salt);
  std::vector<size_t> differing;
  for (size_t k = 0; k < kStateSlices; ++k) {
    const size_t s = (cursor_slice_ + k) % kStateSlices;
    if (own[s].count != f.slices[s].count || own[s].hash != f.slices[s].hash) {
      differing.push_back(s);
    }
  }
  if (differing.empty()) return;
  if (stream_.active && std::find(differing.begin(), differing.end(),
                                  stream_.slice) != differing.end()) {
    StartStream(stream_.slice, stream_.pull, stream_.from);
    return;
  }
  stream_.active = false;
  const size_t first = differing[0];
  const uint64_t own_count = own[first].count;
  const uint64_t peer_count = f.slices[first].count;
  if (Lopsided(own_count, peer_count) ||
      forced_stream_slice_ == static_cast<int>(first)) {
    forced_stream_slice_ = -1;
    StartStream(first, /*pull=*/own_count <= peer_count, SliceFirstHash(first));
    return;
  }
  PlanSketch(now, own, f, differing);
}

void StateSync::PlanSketch(Timestamp now, const SliceStats& own,
                           const StateRangesFrame& peer,
                           const std::vector<size_t>& differing) {
  const size_t budget = config_.anti_entropy_budget_bytes;
  if (round_.spent_bytes >= budget) return;
  const size_t remaining = budget - round_.spent_bytes;
  // k of 64 slices differ: about 64 * -ln(1 - k/64) keys do (a lower bound
  // once every slice differs).
  const double k = static_cast<double>(differing.size());
  const double lambda = differing.size() < kStateSlices
                            ? -std::log(1.0 - k / kStateSlices)
                            : std::log(static_cast<double>(kStateSlices)) + 1.0;
  const double keys_per_slice = std::max(1.0, kStateSlices * lambda / k);
  // Per differing key: its newer entry, sometimes the older one too (when
  // the age hints tie: sent by us, corrected by the peer).
  const double entry_cost = 1.25 * static_cast<double>(RecordBytesEstimate());
  double planned = 2.0 * kSketchFrameOverheadBytes + kDeltaFrameOverheadBytes +
                   kRequestFrameOverheadBytes;
  double elements = 0;
  for (size_t s : differing) {
    if (Lopsided(own[s].count, peer.slices[s].count)) continue;
    const double presence =
        static_cast<double>(AbsDiff(own[s].count, peer.slices[s].count));
    // Elements: one per key only one side has, two per key in two
    // versions; at least what the last rounds saw per differing slice.
    double keys = std::max(presence, keys_per_slice);
    const double e = std::max(2 * keys - presence, slice_elements_);
    keys = std::max(keys, e / 2);
    const double cost = (1.5 * e + 1) * kCellBytes + keys * entry_cost;
    if (!round_.slices.empty() && planned + cost > remaining * 3 / 4) break;
    round_.slices.push_back(s);
    round_.mask |= uint64_t{1} << s;
    planned += cost;
    elements += e;
  }
  uint64_t set_hash = 0;
  round_.reference_us = std::min<uint64_t>(
      std::max<uint64_t>(
          clock_.last().wall_us,
          static_cast<uint64_t>(std::max<int64_t>(Physical(now), 0))),
      kMaxHlcWallMicros);
  round_.decoder = std::make_unique<SketchDecoder>(
      round_.salt,
      ElementsIn(round_.mask, round_.salt, round_.reference_us, &set_hash),
      budget / 12 + 16);
  round_.cell_bytes = kCellBytes;
  round_.sketch_limit_bytes = round_.spent_bytes + remaining * 3 / 5;
  round_.phase = Phase::kSketch;
  const uint64_t first_cells = std::max<uint64_t>(
      8, static_cast<uint64_t>(std::ceil(1.6 * elements)) + 4);
  if (!RequestCells(first_cells)) FailSketch();
}

bool StateSync::RequestCells(uint64_t cells) {
  const uint64_t start = round_.cells_requested;
  StateSketchRequestFrame request{round_.id, round_.mask, round_.reference_us,
                                  start, 1};
  const size_t request_cost = WireCost(request) + 4;  // cells varint growth
  if (round_.spent_bytes + request_cost >= round_.sketch_limit_bytes) {
    return false;
  }
  const size_t allowance =
      round_.sketch_limit_bytes - round_.spent_bytes - request_cost;
  const size_t per_frame = CellsPerFrame(round_.cell_bytes);
  const auto cost = [&](uint64_t n) {
    const uint64_t frames = (n + per_frame - 1) / per_frame;
    return n * round_.cell_bytes + frames * kSketchFrameOverheadBytes;
  };
  cells = std::min<uint64_t>(cells, config_.anti_entropy_budget_bytes / 12);
  cells = std::min<uint64_t>(cells, kMaxSketchIndex - start);
  while (cells > 0 && cost(cells) > allowance) {
    cells = std::min(cells - 1, allowance / (round_.cell_bytes + 1));
  }
  if (cells < 4) return false;
  if (start > 0) ++round_.extensions;
  request.cells = cells;
  round_.spent_bytes += WireCost(request);
  round_.cells_requested += cells;
  Account(WireCost(request), /*out=*/true);
  outbox_->Send(round_.peer.address, request);
  return true;
}

void StateSync::HandleSketch(Timestamp /*now*/, const PeerEntry& from,
                             const StateSketchFrame& f) {
  Account(WireCost(f), /*out=*/false);
  if (!InRound(from, f.round, Phase::kSketch) || f.slice_mask != round_.mask) {
    ++counters_->state_frames_ignored;
    return;
  }
  round_.spent_bytes += WireCost(f);
  if (!round_.have_set_hash) {
    round_.have_set_hash = true;
    round_.set_hash = f.set_hash;
  } else if (round_.set_hash != f.set_hash) {
    // The peer's entries changed between two answers: cells of two sets
    // must not be mixed. Try again next round.
    ++counters_->state_rounds_abandoned;
    round_ = Round();
    return;
  }
  round_.decoder->AddPeerCells(f.start, f.cells);
  if (round_.decoder->inconsistent()) {
    FailSketch();
  } else if (round_.decoder->decoded()) {
    FinishSketch();
  } else if (round_.decoder->contiguous_cells() >= round_.cells_requested) {
    // The first request covers the estimate with room to spare (RIBLT
    // needs ~1.45 cells per element at the median, 1.6 at the 90th
    // percentile); two 25% extensions absorb bad luck. Beyond that the
    // estimate was wrong, and more cells would mostly be wasted.
    if (round_.extensions == kMaxSketchExtensions ||
        !RequestCells(std::max<uint64_t>(8, round_.cells_requested / 4))) {
      FailSketch();
    }
  }
}

// The sketch did not decode within the budget. What peeling found is
// still a true part of the difference (our elements are checked against
// our set; theirs carry a 16-bit check): ship that, and plan fewer slices
// next round. An inconsistent decode ships nothing.
void StateSync::FailSketch() {
  ++counters_->state_rounds_failed;
  // More elements than the cells received could hold: ~1.4 cells each.
  const double lower_bound =
      static_cast<double>(
          round_.decoder == nullptr ? 0 : round_.decoder->contiguous_cells()) /
      1.4 / static_cast<double>(std::max<size_t>(round_.slices.size(), 1));
  const double learned =
      std::min(std::max(2 * slice_elements_, lower_bound), kMaxSliceElements);
  if (round_.slices.size() == 1) {
    forced_stream_slice_ = static_cast<int>(round_.slices[0]);
  }
  if (round_.decoder != nullptr && !round_.decoder->inconsistent() &&
      (!round_.decoder->local_only().empty() ||
       !round_.decoder->peer_only().empty())) {
    ShipDifference(/*decoded=*/false);
  } else {
    round_.decoder.reset();
    round_.phase = Phase::kIdle;
  }
  slice_elements_ = learned;
}

void StateSync::FinishSketch() {
  ++counters_->state_rounds_decoded;
  // Density seen now, or most of what was seen before: a failed sketch
  // costs far more than a round that takes too few slices.
  const double seen = static_cast<double>(round_.decoder->local_only().size() +
                                          round_.decoder->peer_only().size()) /
                      static_cast<double>(round_.slices.size());
  slice_elements_ = std::max(seen, slice_elements_ * 3 / 4);
  ShipDifference(/*decoded=*/true);
}

// The difference (all of it when `decoded`) is known: our entries the peer
// lacks or holds in another version go to it (it corrects the ones older
// than its own when it answers our request), and we request the keys only
// it holds.
void StateSync::ShipDifference(bool decoded) {
  // A key both sides hold in different versions gives one element each;
  // their age hints tell which is newer unless they are equal.
  std::vector<SketchElement> mine = round_.decoder->local_only();
  std::sort(mine.begin(), mine.end());
  std::vector<uint64_t> theirs_newer;
  std::vector<StateId> want;
  size_t both = 0;  // ambiguous: ours goes, the peer corrects if needed
  for (const SketchElement& e : round_.decoder->peer_only()) {
    auto it =
        std::lower_bound(mine.begin(), mine.end(), SketchElement{e.key, 0});
    if (it == mine.end() || it->key != e.key) {
      want.push_back(StateId(e.key));
    } else if (TagAgeHint(it->tag) > TagAgeHint(e.tag)) {
      want.push_back(StateId(e.key));
      theirs_newer.push_back(e.key);
    } else if (TagAgeHint(it->tag) == TagAgeHint(e.tag)) {
      ++both;
    }
  }
  std::sort(theirs_newer.begin(), theirs_newer.end());
  std::vector<StateId> send;
  for (const SketchElement& e : round_.decoder->local_only()) {
    if (!std::binary_search(theirs_newer.begin(), theirs_newer.end(), e.key)) {
      send.push_back(StateId(e.key));
    }
  }
  std::sort(want.begin(), want.end());
  want.erase(std::unique(want.begin(), want.end()), want.end());
  round_.decoder.reset();
  const size_t budget = config_.anti_entropy_budget_bytes;
  const size_t remaining =
      budget > round_.spent_bytes ? budget - round_.spent_bytes : 0;
  // What shipping everything would cost: our entries, the request, and the
  // peer's answer (requested keys, and about half the shared ones back).
  size_t send_need = send.empty() ? 0 : kDeltaFrameOverheadBytes;
  for (StateId key : send) {
    if (const StoredEntry* e = store_.Find(key)) {
      send_need += EncodedRecordBytes(e->ToRecord(key));
    }
  }
  const size_t answers = want.size() + (both + 1) / 2;
  const size_t want_need =
      want.empty() && both == 0
          ? 0
          : kRequestFrameOverheadBytes + kDeltaFrameOverheadBytes +
                want.size() * kKeyTagBytes + answers * RecordBytesEstimate();
  const bool complete = send_need + want_need <= remaining;
  size_t send_max = remaining;
  size_t want_count = want.size();
  if (!complete) {
    // Share the budget in proportion; the rest goes next round.
    send_max = remaining * send_need / (send_need + want_need);
    want_count =
        want.size() * (remaining - send_max) / std::max<size_t>(want_need, 1);
  }
  size_t bytes = 0;
  const size_t sent = send.empty() ? 0
                                   : SendEntries(round_.peer.address, round_.id,
                                                 send, {}, send_max, &bytes);
  round_.spent_bytes += bytes;
  Account(bytes, /*out=*/true);
  want.resize(want_count);
  if (!want.empty() || both > 0) SendRequests(want);
  round_.phase = Phase::kReply;
  if (!decoded) return;
  if (complete && sent == send.size()) {
    cursor_slice_ = (round_.slices.back() + 1) % kStateSlices;
  } else {
    // Too much for one round: plan fewer slices next time.
    slice_elements_ *= 2;
  }
}

// Requests `want` (possibly none: the request then only grants the peer
// room to correct our stale entries) with all that is left of the budget
// for the answer.
void StateSync::SendRequests(const std::vector<StateId>& want) {
  const size_t budget = config_.anti_entropy_budget_bytes;
  const size_t room = max_datagram_bytes_ - kRequestFrameOverheadBytes;
  const size_t per_frame =
      std::clamp<size_t>(room / kKeyTagBytes, 1, kMaxListEntries);
  std::vector<StateRequestFrame> requests;
  size_t request_bytes = 0;
  size_t i = 0;
  do {
    StateRequestFrame request{round_.id, budget, {}};
    for (; i < want.size() && request.keys.size() < per_frame; ++i) {
      request.keys.push_back(StateKeyTag{want[i], TagOf(round_.salt, want[i])});
    }
    request_bytes += WireCost(request);  // max_reply as large as it gets
    requests.push_back(std::move(request));
  } while (i < want.size());
  const size_t spent_after = round_.spent_bytes + request_bytes;
  const size_t reply_room = budget > spent_after ? budget - spent_after : 0;
  for (size_t r = 0; r < requests.size(); ++r) {
    StateRequestFrame& request = requests[r];
    // The first frame also covers the corrections.
    request.max_reply_bytes =
        want.empty() ? reply_room
                     : reply_room * (request.keys.size() + (r == 0 ? 1 : 0)) /
                           (want.size() + 1);
    round_.spent_bytes += WireCost(request);
    Account(WireCost(request), /*out=*/true);
    outbox_->Send(round_.peer.address, std::move(request));
  }
}

void StateSync::StartStream(size_t slice, bool pull, uint64_t from) {
  ++counters_->state_rounds_streamed;
  const size_t budget = config_.anti_entropy_budget_bytes;
  const size_t remaining =
      budget > round_.spent_bytes ? budget - round_.spent_bytes : 0;
  round_.stream_slice = slice;
  stream_ = Stream{true, pull, slice, from};
  if (pull) {
    StateStreamRequestFrame request{round_.id, from, SliceLastHash(slice), 0};
    const size_t cost = WireCost(request) + 4;  // max_reply varint
    request.max_reply_bytes = remaining > cost ? remaining - cost : 0;
    round_.spent_bytes += WireCost(request);
    Account(WireCost(request), /*out=*/true);
    outbox_->Send(round_.peer.address, request);
    round_.phase = Phase::kStream;
    return;
  }
  const std::vector<std::pair<uint64_t, StateId>> range =
      KeysInHashRange(from, SliceLastHash(slice));
  std::vector<StateId> keys;
  std::vector<uint64_t> hashes;
  for (const auto& [hash, key] : range) {
    hashes.push_back(hash);
    keys.push_back(key);
  }
  size_t bytes = 0;
  const size_t sent = SendEntries(round_.peer.address, round_.id, keys, hashes,
                                  remaining, &bytes);
  round_.spent_bytes += bytes;
  Account(bytes, /*out=*/true);
  round_.phase = Phase::kIdle;
  // The peer may hold newer versions of some of these: let it correct them.
  if (sent > 0) {
    SendRequests({});
    round_.phase = Phase::kReply;
  }
  if (sent == keys.size()) {
    stream_.active = false;
    cursor_slice_ = (slice + 1) % kStateSlices;
  } else {
    stream_.from = hashes[sent];
  }
}

// --- Anti-entropy helpers ---------------------------------------------------

StateSync::SliceStats StateSync::SliceDigests(uint64_t salt) const {
  SliceStats stats{};
  store_.ForEach([&](StateId key, const StoredEntry& entry) {
    SliceStat& s = stats[SliceOf(KeyHash(key))];
    ++s.count;
    s.hash ^= static_cast<uint16_t>(Mix64(salt ^ entry.fingerprint));
  });
  return stats;
}

std::vector<SketchElement> StateSync::ElementsIn(uint64_t mask, uint64_t salt,
                                                 uint64_t reference_us,
                                                 uint64_t* set_hash) const {
  std::vector<SketchElement> elements;
  store_.ForEach([&](StateId key, const StoredEntry& entry) {
    if ((mask >> SliceOf(KeyHash(key)) & 1) == 0) return;
    elements.push_back(SketchElement{
        key.value(),
        SketchTag(salt, key, entry.fingerprint,
                  SketchAgeHint(reference_us, entry.version.wall_us))});
    *set_hash ^= entry.fingerprint;
  });
  return elements;
}

uint32_t StateSync::TagOf(uint64_t salt, StateId key) const {
  const StoredEntry* entry = store_.Find(key);
  return entry == nullptr ? 0 : SketchTag(salt, key, entry->fingerprint, 0);
}

std::vector<std::pair<uint64_t, StateId>> StateSync::KeysInHashRange(
    uint64_t from, uint64_t to) const {
  std::vector<std::pair<uint64_t, StateId>> range;
  store_.ForEach([&](StateId key, const StoredEntry&) {
    const uint64_t hash = KeyHash(key);
    if (hash >= from && hash <= to) range.emplace_back(hash, key);
  });
  std::sort(range.begin(), range.end());
  return range;
}

size_t StateSync::SendEntries(const Address& to, uint32_t round,
                              std::span<const StateId> keys,
                              std::span<const uint64_t> resume_hashes,
                              size_t max_bytes, size_t* bytes) {
  // Sizes are tracked by hand: EncodedFrameBytes would be O(records).
  StateDeltaFrame frame{round, false, 0, {}};
  size_t records_bytes = 0;
  const auto frame_cost = [&](size_t records, size_t body_extra, bool resume) {
    const size_t body = 4 + 1 + (resume ? 8 : 0) + VarintBytes(records) +
                        records_bytes + body_extra;
    return kDatagramHeaderBytes + 1 + VarintBytes(body) + body;
  };
  size_t total = 0;
  const auto flush = [&]() {
    if (frame.records.empty() && !frame.has_resume) return;
    total += frame_cost(frame.records.size(), 0, frame.has_resume);
    outbox_->Send(to, std::move(frame));
    frame = StateDeltaFrame{round, false, 0, {}};
    records_bytes = 0;
  };
  const bool stream = !resume_hashes.empty();
  size_t consumed = 0;
  bool cut = false;
  for (; consumed < keys.size(); ++consumed) {
    const StoredEntry* entry = store_.Find(keys[consumed]);
    if (entry == nullptr) continue;
    const StateRecord record = entry->ToRecord(keys[consumed]);
    const size_t record_bytes = EncodedRecordBytes(record);
    if (frame.records.size() == kMaxListEntries ||
        frame_cost(frame.records.size() + 1, record_bytes, stream) >
            max_datagram_bytes_) {
      flush();
    }
    if (total + frame_cost(frame.records.size() + 1, record_bytes, stream) >
        max_bytes) {
      cut = true;
      break;
    }
    records_bytes += record_bytes;
    frame.records.push_back(record);
    if (entry->value != nullptr) pinned_.push_back(entry->value);
  }
  if (cut && stream && (consumed > 0 || !frame.records.empty())) {
    frame.has_resume = true;
    frame.resume = resume_hashes[consumed];
  }
  flush();
  *bytes += total;
  return consumed;
}

size_t StateSync::CellsPerFrame(size_t cell_bytes) const {
  const size_t room = max_datagram_bytes_ > kSketchFrameOverheadBytes
                          ? max_datagram_bytes_ - kSketchFrameOverheadBytes
                          : 0;
  return std::clamp<size_t>(room / cell_bytes, 1, kMaxListEntries);
}

size_t StateSync::RecordBytesEstimate() const {
  const size_t live = store_.live();
  return kRecordFixedBytes + (live == 0 ? 0 : store_.value_bytes() / live);
}

void StateSync::Account(size_t bytes, bool out) {
  (out ? counters_->state_sync_bytes_out : counters_->state_sync_bytes_in) +=
      bytes;
}

// --- Frames and timers ------------------------------------------------------

void StateSync::HandleFrame(Timestamp now, const PeerEntry& from,
                            const Frame& frame) {
  if (const auto* f = std::get_if<StateUpdateFrame>(&frame)) {
    HandleUpdate(now, from, *f);
  } else if (const auto* f = std::get_if<StateDigestFrame>(&frame)) {
    HandleDigest(now, from, *f);
  } else if (const auto* f = std::get_if<StateRangesFrame>(&frame)) {
    HandleRanges(now, from, *f);
  } else if (const auto* f = std::get_if<StateSketchRequestFrame>(&frame)) {
    HandleSketchRequest(now, from, *f);
  } else if (const auto* f = std::get_if<StateSketchFrame>(&frame)) {
    HandleSketch(now, from, *f);
  } else if (const auto* f = std::get_if<StateDeltaFrame>(&frame)) {
    HandleDelta(now, from, *f);
  } else if (const auto* f = std::get_if<StateRequestFrame>(&frame)) {
    HandleRequest(now, from, *f);
  } else if (const auto* f = std::get_if<StateStreamRequestFrame>(&frame)) {
    HandleStreamRequest(now, from, *f);
  }
}

void StateSync::MaybeScheduleRound(Timestamp now) {
  if (!round_at_.IsInfinite() || store_.size() == 0) return;
  // Staggered so that nodes written at the same moment do not all start
  // their rounds together.
  const uint64_t period_us =
      static_cast<uint64_t>(config_.anti_entropy_period.ToMicros());
  round_at_ = now + Duration::Micros(
                        static_cast<int64_t>(1 + rng_.UniformBelow(period_us)));
}

Timestamp StateSync::ExpiryDeadline() const {
  const int64_t expiry = store_.NextExpiryMicros();
  if (expiry == std::numeric_limits<int64_t>::max()) {
    return Timestamp::Infinite();
  }
  // Purging a little late batches expiries into few wake-ups.
  return Timestamp::FromMicros(expiry - offset_us_) + config_.tombstone_ttl / 8;
}

void StateSync::HandleTimeout(Timestamp now) {
  if (ExpiryDeadline() <= now) {
    counters_->state_tombstones_purged += store_.PurgeExpired(Physical(now));
  }
  if (round_at_ <= now) {
    round_at_ = Timestamp::Infinite();
    StartRound(now);
  }
}

Timestamp StateSync::NextTimeout() const {
  return std::min(round_at_, ExpiryDeadline());
}

size_t StateSync::StateBytes() const {
  size_t bytes = sizeof(*this) - sizeof(StateStore) + store_.MemoryBytes() +
                 pinned_.capacity() * sizeof(StateValueBytes) +
                 corrections_.keys.capacity() * sizeof(StateId) +
                 round_.slices.capacity() * sizeof(size_t);
  if (round_.decoder != nullptr) {
    bytes += sizeof(SketchDecoder) +
             (config_.anti_entropy_budget_bytes / 12 + 16) * 32;
  }
  return bytes;
}

}  // namespace elara
