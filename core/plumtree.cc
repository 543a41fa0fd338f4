// Plumtree's state is small on purpose: a sorted vector of active peers
// (eager flag, pending IHAVEs), a dedup window, a message cache, and a
// table of messages announced but not received. Timers are three deadlines
// (IHAVE flush, pull digest, cache sweep) plus a sorted vector of
// missing-message deadlines, so NextTimeout() never scans anything.
//
// Why some choices:
//   - The first copy of a new message makes its (active) sender eager, as in
//     the paper: it keeps the eager relation symmetric after GRAFTs, lost
//     PRUNEs and redundancy pushes.
//   - A duplicate from a *lazy* peer means that peer still pushes to us
//     (our PRUNE was lost, or it pushes redundantly): PRUNE is re-sent at
//     its 1st, 2nd, 4th, 8th... such duplicate, which heals a lost PRUNE
//     fast and costs only a logarithmic number of PRUNEs otherwise.
//   - IHAVE from a non-active peer (a digest from a node that just left our
//     view) is answered with IWANT, never GRAFT: the tree only uses links.
//   - The loss estimate is per node, not per peer: a missing eager push
//     cannot be pinned on one link of the upstream path, while "this
//     delivery needed repair" is exactly what more eager links would fix.
#include "core/plumtree.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <utility>
#include <variant>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_format.h"

namespace elara {
namespace {

constexpr uint32_t kQ16One = 1u << 16;
// Announcers remembered per missing message (the next ones to GRAFT).
constexpr size_t kMaxAnnouncers = 4;
// Rounds over a missing message's announcers before it is given up (a
// GRAFT or IWANT, or its answer, may be lost); a round after the first
// starts graft_timeout << min(round - 1, kMaxRetryShift) after the last.
constexpr uint8_t kRequestRounds = 4;
constexpr uint8_t kMaxRetryShift = 3;
// Announcers kept per missing message, waiting or asked this round.
constexpr size_t kMaxKnownAnnouncers = 2 * kMaxAnnouncers;
// At most this many missing sequences below a newly received one are asked
// for (see NoteSequenceGap): bounds the work a forged jump can cause.
constexpr uint64_t kMaxGapRequests = 16;
// "Recent" for hybrid digests and pull-mode exchange pushes: what arrived
// in the last this-many pull periods.
constexpr int64_t kRecentPeriods = 2;
// Pull mode: payloads pushed back per digest received (exchange half).
constexpr size_t kMaxExchangePushes = 32;
// Digests up to this long are searched by a scan, longer ones sorted (see
// AnswerDigest).
constexpr size_t kScanDigestEntries = 32;
// Push-mode loss is sampled once per this many deliveries.
constexpr uint32_t kPushSampleDeliveries = 32;
// Vectors emptied after use (pending IHAVEs, retired payloads) keep at most
// this much capacity: an idle node gives the rest back.
constexpr size_t kKeptCapacity = 4;

uint32_t NextHop(uint32_t hops) { return hops == UINT32_MAX ? hops : hops + 1; }

size_t MessageIdBytes(MessageId id) { return 8 + VarintBytes(id.sequence); }
size_t ItemBytes(const IHaveEntry& e) {
  return MessageIdBytes(e.id) + VarintBytes(e.hops);
}
size_t ItemBytes(const MessageId& id) { return MessageIdBytes(id); }
// The most an item can take: 10-byte varints for a sequence, 5 for hops.
constexpr size_t MaxItemBytes(const IHaveEntry*) { return 8 + 10 + 5; }
constexpr size_t MaxItemBytes(const MessageId*) { return 8 + 10; }

// Encoded size of a list frame (type, length, count, items) whose items
// take `items_bytes`: the wire format of core/wire.cc.
size_t ListFrameBytes(size_t count, size_t items_bytes) {
  const size_t body = VarintBytes(count) + items_bytes;
  return 1 + VarintBytes(body) + body;
}

// Whether a list of `count` (> 0) items fits one frame of `budget` bytes
// even if every item takes its largest encoding.
template <typename Item>
bool FitsOneFrameAtLargest(size_t count, size_t budget) {
  const size_t max_item_bytes = MaxItemBytes(static_cast<const Item*>(nullptr));
  return count > 0 && count <= kMaxListEntries &&
         ListFrameBytes(count, count * max_item_bytes) <= budget;
}

// Cuts `items` into chunks that each fit one frame of `budget` bytes and
// kMaxListEntries entries; calls emit(first, count) per chunk.
template <typename Item, typename Emit>
size_t ForEachChunk(std::span<const Item> items, size_t budget, Emit emit) {
  // The usual list (an IHAVE batch, a GRAFT) is short: when it fits one
  // frame even at its largest, it is one chunk without sizing each item.
  if (FitsOneFrameAtLargest<Item>(items.size(), budget)) {
    emit(0, items.size());
    return 1;
  }
  size_t chunks = 0;
  size_t first = 0;
  while (first < items.size()) {
    size_t count = 0;
    size_t bytes = 0;
    while (first + count < items.size() && count < kMaxListEntries) {
      const size_t item = ItemBytes(items[first + count]);
      if (count > 0 && ListFrameBytes(count + 1, bytes + item) > budget) break;
      bytes += item;
      ++count;
    }
    emit(first, count);
    first += count;
    ++chunks;
  }
  return chunks;
}

// Adds a timer to a sorted timer list (after those due no later). Most
// deadlines are the latest yet (they grow with time): appended without a
// search or an insertion's moves.
template <typename Timers, typename Timer>
void InsertTimer(Timers* timers, const Timer& timer) {
  if (timers->empty() || !(timer < timers->back())) {
    timers->push_back(timer);
    return;
  }
  timers->insert(std::upper_bound(timers->begin(), timers->end(), timer),
                 timer);
}

// Removes a timer from a sorted timer list, if it is there.
template <typename Timers, typename Timer>
void EraseTimer(Timers* timers, const Timer& timer) {
  auto it = std::lower_bound(timers->begin(), timers->end(), timer);
  if (it != timers->end() && *it == timer) timers->erase(it);
}

}  // namespace

Plumtree::Plumtree(const BroadcastConfig& config, NodeId self,
                   size_t max_datagram_bytes, Random* rng, Outbox* outbox,
                   CoreCounters* counters)
    : config_(config),
      self_(self),
      rng_(rng),
      outbox_(outbox),
      counters_(counters),
      max_datagram_bytes_(static_cast<uint32_t>(
          std::min<size_t>(max_datagram_bytes, UINT32_MAX))),
      redundant_pushes_(0),
      mode_(config.mode),
      redundancy_factor_(0),
      dedup_(config_.dedup_window, config_.max_tracked_origins),
      cache_(config_.message_cache_entries, CacheTtl()) {
  const double threshold = std::clamp(config.adaptive_threshold, 0.0, 1.0);
  threshold_q16_ = static_cast<uint32_t>(std::lround(threshold * kQ16One));
  if (!SetRedundancyFactor(config.redundancy_factor).ok()) {
    redundancy_factor_ = 0;
    redundant_pushes_ = 0;
  }
}

// --- Commands --------------------------------------------------------------

absl::StatusOr<MessageId> Plumtree::Broadcast(
    Timestamp now, std::span<const uint8_t> payload) {
  ReleaseIfFlushed();
  const MessageId id{self_, sequence_ + 1};
  const size_t frame_bytes =
      EncodedFrameBytes(Frame(GossipFrame{id, kGossipHopsForSizing, payload}));
  if (kDatagramHeaderBytes + frame_bytes > max_datagram_bytes_) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "broadcast: a %d-byte payload does not fit one %d-byte datagram",
        payload.size(), max_datagram_bytes_));
  }
  ++sequence_;
  bool origin_evicted = false;
  const bool recorded =
      dedup_.Insert(id, &origin_evicted) == DedupWindow::Verdict::kNew;
  if (origin_evicted) ++counters_->origins_evicted;
  auto data = std::make_shared<const std::vector<uint8_t>>(payload.begin(),
                                                           payload.end());
  Accept(now, id, /*hops=*/0, self_, data, /*repaired=*/false, recorded);
  Forward(now, id, /*hops_received=*/0, data, self_);
  return id;
}

void Plumtree::SetMode(Timestamp now, BroadcastMode mode) {
  ReleaseIfFlushed();
  if (mode == mode_) return;
  if (mode_ == BroadcastMode::kHybrid) {
    // Announcements only make sense to a tree; push and pull do without.
    for (PeerState& peer : peers_) peer.pending_ihave.clear();
    ihave_flush_at_ = Timestamp::Infinite();
  }
  mode_ = mode;
  if (mode_ == BroadcastMode::kHybrid) RebuildRouting(now);
  push_copies_ = 0;
  push_deliveries_ = 0;
  pull_at_ = Timestamp::Infinite();
  if (mode_ != BroadcastMode::kPush && !cache_.empty()) {
    pull_at_ = now + PullPeriod();
  }
}

absl::Status Plumtree::SetRedundancyFactor(double factor) {
  const double max = static_cast<double>(config_.max_fanout);
  if (!(factor >= 0.0 && factor <= max)) {
    return absl::InvalidArgumentError(
        absl::StrFormat("redundancy_factor %g is outside [0, max_fanout=%d]",
                        factor, config_.max_fanout));
  }
  redundancy_factor_ = factor;
  redundant_pushes_ = static_cast<uint32_t>(std::lround(factor));
  return absl::OkStatus();
}

void Plumtree::RebuildRouting(Timestamp /*now*/) {
  ReleaseIfFlushed();
  for (PeerState& peer : peers_) {
    peer.eager = true;
    peer.lazy_duplicates = 0;
  }
}

void Plumtree::ReleaseRetiredPayloads() {
  if (retired_.capacity() > kKeptCapacity) {
    retired_ = std::vector<MessageCache::Payload>();
  } else {
    retired_.clear();
  }
}

// --- Membership ------------------------------------------------------------

void Plumtree::OnNeighborUp(Timestamp now, const PeerEntry& peer) {
  ReleaseIfFlushed();
  AnnounceCacheTo(now, peer);
  auto it = std::lower_bound(
      peers_.begin(), peers_.end(), peer.id,
      [](const PeerState& p, NodeId id) { return p.peer.id < id; });
  if (it != peers_.end() && it->peer.id == peer.id) {
    it->peer.address = peer.address;
    it->eager = true;
    it->lazy_duplicates = 0;
    return;
  }
  const size_t index = static_cast<size_t>(it - peers_.begin());
  if (peers_.size() == peers_.capacity() &&
      peer_capacity_hint_ > peers_.capacity()) {
    // A view larger than the inline table: one allocation of the expected
    // size instead of doubling steps.
    peers_.reserve(peer_capacity_hint_);
  }
  peers_.emplace(peers_.begin() + static_cast<ptrdiff_t>(index))->peer = peer;
}

// A new link may come up just after a message passed by on both sides of it
// (a node re-attaching after its neighbours crashed, say): nothing would
// ever announce that message over the new link, and the pull digests move
// on after two periods. So each side announces its live cache, newest
// first, once, when the link comes up; the other side fetches what it lacks
// through the usual IHAVE timer. A fresh overlay has an empty cache and
// sends nothing.
void Plumtree::AnnounceCacheTo(Timestamp now, const PeerEntry& peer) {
  if (mode_ == BroadcastMode::kPush) return;
  IHaveList digest;
  for (size_t i = 0; i < cache_.size() && digest.size() < kMaxListEntries;
       ++i) {
    const MessageCache::Entry& entry = cache_.Newest(i);
    if (entry.stored_at + CacheTtl() <= now) break;
    if (entry.parent == peer.id) continue;
    digest.push_back(IHaveEntry{entry.id, entry.hops});
  }
  if (!digest.empty()) SendIHaveFrames(peer.address, std::move(digest));
}

void Plumtree::OnNeighborDown(Timestamp /*now*/, const PeerEntry& peer) {
  ReleaseIfFlushed();
  auto it = std::lower_bound(
      peers_.begin(), peers_.end(), peer.id,
      [](const PeerState& p, NodeId id) { return p.peer.id < id; });
  if (it != peers_.end() && it->peer.id == peer.id) peers_.erase(it);
  if (missing_ == nullptr) return;
  // Order-independent: each entry is edited on its own.
  for (MissingTable::Entry& entry : missing_->entries()) {
    Missing& missing = entry.missing;
    auto& announcers = missing.announcers;
    auto gone =
        std::find_if(announcers.begin(), announcers.end(),
                     [&](const PeerEntry& a) { return a.id == peer.id; });
    if (gone == announcers.end()) continue;
    if (gone - announcers.begin() < missing.unasked) --missing.unasked;
    announcers.erase(gone);
  }
}

// --- Frames ----------------------------------------------------------------

void Plumtree::HandleFrame(Timestamp now, const PeerEntry& from,
                           bool from_is_active, const Frame& frame) {
  HandleFrameFrom(now, from, from_is_active ? FindPeer(from.id) : nullptr,
                  frame);
}

void Plumtree::HandleFrameFrom(Timestamp now, const PeerEntry& from,
                               PeerState* peer, const Frame& frame) {
  ReleaseIfFlushed();
  if (const auto* gossip = std::get_if<GossipFrame>(&frame)) {
    HandleGossip(now, from, peer, *gossip);
  } else if (const auto* ihave = std::get_if<IHaveFrame>(&frame)) {
    HandleIHave(now, from, peer, ihave->entries, /*digest=*/false);
  } else if (const auto* digest = std::get_if<DigestFrame>(&frame)) {
    HandleIHave(now, from, peer, digest->entries, /*digest=*/true);
  } else if (const auto* graft = std::get_if<GraftFrame>(&frame)) {
    HandleGraft(now, from, peer, *graft);
  } else if (std::holds_alternative<PruneFrame>(frame)) {
    HandlePrune(peer);
  } else if (const auto* iwant = std::get_if<IWantFrame>(&frame)) {
    SendFromCache(now, from.address, iwant->ids);
  }
}

void Plumtree::HandleGossip(Timestamp now, const PeerEntry& from,
                            PeerState* peer, const GossipFrame& frame) {
  ++counters_->gossip_received;
  if (mode_ == BroadcastMode::kPush) ++push_copies_;
  uint64_t highest_before = 0;
  bool origin_evicted = false;
  const DedupWindow::Verdict verdict =
      dedup_.Insert(frame.id, &origin_evicted, &highest_before);
  if (origin_evicted) ++counters_->origins_evicted;
  if (verdict == DedupWindow::Verdict::kOutsideWindow) {
    ++counters_->gossip_outside_window;
    return;
  }
  // The cache also vouches for what an evicted dedup origin forgot.
  if (verdict == DedupWindow::Verdict::kDuplicate ||
      CachedThoughForgotten(frame.id, now)) {
    ++counters_->gossip_duplicates;
    OnDuplicate(peer);
    return;
  }
  if (peer != nullptr && mode_ == BroadcastMode::kHybrid) {
    peer->eager = true;
    peer->lazy_duplicates = 0;
  }
  bool late = false;
  const bool repaired = TakeMissing(frame.id, &late);
  MessageCache::Payload data =
      payload_interner_ != nullptr
          ? payload_interner_->Intern(frame.id, frame.payload)
          : std::make_shared<const std::vector<uint8_t>>(frame.payload.begin(),
                                                         frame.payload.end());
  Accept(now, frame.id, frame.hops, from.id, data, repaired,
         /*recorded=*/true);
  if (mode_ == BroadcastMode::kHybrid) SampleRepair(repaired && !late);
  if (mode_ == BroadcastMode::kPush) {
    ++push_deliveries_;
    SamplePushCopies();
  }
  Forward(now, frame.id, frame.hops, data, from.id);
  NoteSequenceGap(now, from, frame.id, highest_before);
}

// A sequence jump from one origin means we missed its messages in between:
// an eager push lost on a link with no lazy alternative (a leaf whose only
// link is its parent) is otherwise never announced to us again once the
// pull digests have moved on. The sender of the newer message most likely
// holds the older ones: treat the gap as announced by it, so the usual
// timer asks for them (GRAFT/IWANT) unless they arrive meanwhile.
void Plumtree::NoteSequenceGap(Timestamp now, const PeerEntry& from,
                               MessageId id, uint64_t highest_before) {
  if (mode_ == BroadcastMode::kPush || highest_before == 0 ||
      id.sequence <= highest_before + 1) {
    return;
  }
  const uint64_t first =
      std::max(highest_before + 1, id.sequence > kMaxGapRequests
                                       ? id.sequence - kMaxGapRequests
                                       : uint64_t{1});
  for (uint64_t sequence = first; sequence < id.sequence; ++sequence) {
    const MessageId gap{id.origin, sequence};
    if (!Known(gap, now)) NoteAnnouncement(now, from, gap);
  }
}

void Plumtree::OnDuplicate(PeerState* peer) {
  if (mode_ != BroadcastMode::kHybrid || peer == nullptr) return;
  if (peer->eager) {
    if (boosted_ && EagerCount() <= config_.max_fanout) return;
    peer->eager = false;
    peer->lazy_duplicates = 0;
  } else {
    if (boosted_) return;
    ++peer->lazy_duplicates;
    if (!std::has_single_bit(peer->lazy_duplicates)) return;
  }
  outbox_->Send(peer->peer.address, PruneFrame{});
  ++counters_->prune_sent;
}

void Plumtree::HandleIHave(Timestamp now, const PeerEntry& from,
                           PeerState* peer, std::span<const IHaveEntry> entries,
                           bool digest) {
  bool optimized = false;
  for (const IHaveEntry& entry : entries) {
    if (!Known(entry.id, now)) {
      NoteAnnouncement(now, from, entry.id);
    } else if (!optimized && peer != nullptr &&
               mode_ == BroadcastMode::kHybrid) {
      optimized = MaybeOptimizeTree(now, peer, entry);
    }
  }
  // Pull mode asks at once (deadline now); anything else overdue goes too.
  if (missing_next_ <= now) FireDueRequests(now);
  if (digest && peer != nullptr) AnswerDigest(now, *peer, entries);
}

// Pull mode is an exchange (push-pull anti-entropy): a complete digest also
// says what its sender lacks, so our recent messages missing from it go
// back as payloads. Only complete digests (shorter than kMaxListEntries),
// only messages from the last kRecentPeriods that did not come from that
// peer, at most kMaxExchangePushes (an answer cut there is counted in
// digest_answers_capped): few duplicates, no amplification.
//
// Hybrid mode answers a complete digest with an IHAVE of those messages
// instead (no payload): the peer asks (GRAFT) for what it really lacks,
// after graft_timeout as for any announcement, and a message it had before
// its digest's window costs one IHAVE entry, not a duplicate payload. This
// is the repair of a node whose only links are eager (no lazy peer
// announces to it) when an eager push to it was lost: its own digests go to
// its peers every period.
void Plumtree::AnswerDigest(Timestamp now, const PeerState& peer,
                            std::span<const IHaveEntry> entries) {
  if (mode_ == BroadcastMode::kPush || entries.size() >= kMaxListEntries) {
    return;
  }
  // Whether the digest lists `id`. A short digest (the usual one) is
  // scanned from just after the last id found: it and the cache are both
  // newest first, in about the same order, so most ids are found at once
  // and nothing is copied or sorted. A long one is sorted once (on the
  // stack, entries.size() < kMaxListEntries) and binary-searched.
  const size_t n = entries.size();
  size_t cursor = 0;
  absl::InlinedVector<MessageId, kMaxListEntries> sorted;
  if (n > kScanDigestEntries) {
    for (const IHaveEntry& entry : entries) sorted.push_back(entry.id);
    std::sort(sorted.begin(), sorted.end());
  }
  auto listed = [&](MessageId id) {
    if (n > kScanDigestEntries) {
      return std::binary_search(sorted.begin(), sorted.end(), id);
    }
    for (size_t k = 0, j = cursor; k < n; ++k, j = j + 1 == n ? 0 : j + 1) {
      if (entries[j].id == id) {
        cursor = j + 1 == n ? 0 : j + 1;
        return true;
      }
    }
    return false;
  };
  const Timestamp oldest = now - PullPeriod() * kRecentPeriods;
  const bool push = mode_ == BroadcastMode::kPull;
  // Hybrid: not what may still be on its way to the peer down the tree.
  const Timestamp settled = push ? now : now - PullPeriod() / 2;
  absl::InlinedVector<IHaveEntry, kMaxExchangePushes> lacking;
  for (size_t i = 0; i < cache_.size(); ++i) {
    const MessageCache::Entry& entry = cache_.Newest(i);
    if (entry.stored_at < oldest) break;
    if (entry.stored_at > settled || entry.parent == peer.peer.id ||
        listed(entry.id)) {
      continue;
    }
    if (lacking.size() == kMaxExchangePushes) {
      ++counters_->digest_answers_capped;  // the rest waits for next period
      break;
    }
    if (push) {
      SendGossip(peer.peer.address, entry.id, NextHop(entry.hops),
                 entry.payload);
    }
    lacking.push_back(IHaveEntry{entry.id, entry.hops});
  }
  if (!push && !lacking.empty()) {
    SendIHaveFrames(peer.peer.address,
                    IHaveList(lacking.begin(), lacking.end()));
  }
}

bool Plumtree::Known(MessageId id, Timestamp now) const {
  return dedup_.Check(id) != DedupWindow::Verdict::kNew ||
         CachedThoughForgotten(id, now);
}

// Whether the cache holds `id`, which the dedup window just called kNew.
// Every cached id went through dedup_.Insert first (Broadcast and
// HandleGossip, before Accept), and a recorded id never reads kNew again
// unless its origin was evicted: until the first eviction the answer is
// no, without a cache lookup.
bool Plumtree::CachedThoughForgotten(MessageId id, Timestamp now) const {
  return dedup_.origins_evicted() > 0 && cache_.Find(id, now) != nullptr;
}

// The announcer is closer to the origin than our parent by more than the
// threshold: take the shorter path (GRAFT it) and drop the old one (PRUNE).
bool Plumtree::MaybeOptimizeTree(Timestamp now, PeerState* announcer,
                                 const IHaveEntry& entry) {
  // No cached entry came from that far: no lookup (most announcements come
  // about as far as our own copy did).
  if (uint64_t{entry.hops} + config_.optimization_hop_threshold >=
      max_cached_hops_) {
    return false;
  }
  const MessageCache::Entry* cached = cache_.Find(entry.id, now);
  if (cached == nullptr || cached->parent == announcer->peer.id) return false;
  if (uint64_t{entry.hops} + config_.optimization_hop_threshold >=
      cached->hops) {
    return false;
  }
  PeerState* parent = FindPeer(cached->parent);
  if (parent == nullptr || !parent->eager) return false;
  announcer->eager = true;
  announcer->lazy_duplicates = 0;
  outbox_->Send(announcer->peer.address, GraftFrame{});
  ++counters_->graft_sent;
  if (!boosted_) {
    parent->eager = false;
    outbox_->Send(parent->peer.address, PruneFrame{});
    ++counters_->prune_sent;
  }
  return true;
}

void Plumtree::HandleGraft(Timestamp now, const PeerEntry& from,
                           PeerState* peer, const GraftFrame& frame) {
  if (peer != nullptr) {
    peer->eager = true;
    peer->lazy_duplicates = 0;
  }
  SendFromCache(now, from.address, frame.ids);
}

void Plumtree::HandlePrune(PeerState* peer) {
  if (peer != nullptr) peer->eager = false;
}

void Plumtree::SendFromCache(Timestamp now, const Address& to,
                             std::span<const MessageId> ids) {
  for (const MessageId& id : ids) {
    const MessageCache::Entry* cached = cache_.Find(id, now);
    if (cached == nullptr) continue;
    SendGossip(to, cached->id, NextHop(cached->hops), cached->payload);
  }
}

// --- Delivery and dissemination -------------------------------------------

void Plumtree::Accept(Timestamp now, MessageId id, uint32_t hops, NodeId parent,
                      MessageCache::Payload payload, bool repaired,
                      bool recorded) {
  outbox_->Emit(DeliveredEvent{id, hops, now, payload});
  ++counters_->deliveries;
  max_cached_hops_ = std::max(max_cached_hops_, hops);
  if (repaired) ++counters_->messages_repaired;
  MessageCache::Entry entry{id, hops, parent, now, std::move(payload)};
  // Until the dedup window evicts an origin it never records a cached id
  // as new (see CachedThoughForgotten): the cache's own duplicate lookup
  // can then be skipped.
  const bool evicted = recorded && dedup_.origins_evicted() == 0
                           ? cache_.InsertUnseen(std::move(entry), &retired_)
                           : cache_.Insert(std::move(entry), &retired_);
  if (evicted) ++counters_->cache_evictions;
  ScheduleSweep();
  SchedulePull(now);
}

void Plumtree::Forward(Timestamp now, MessageId id, uint32_t hops_received,
                       const MessageCache::Payload& payload, NodeId exclude) {
  switch (mode_) {
    case BroadcastMode::kHybrid:
      ForwardHybrid(now, id, hops_received, payload, exclude);
      return;
    case BroadcastMode::kPush:
      ForwardPush(id, hops_received, payload, exclude);
      return;
    case BroadcastMode::kPull:
      return;  // digests carry it
  }
}

void Plumtree::ForwardHybrid(Timestamp now, MessageId id,
                             uint32_t hops_received,
                             const MessageCache::Payload& payload,
                             NodeId exclude) {
  if (redundant_pushes_ == 0) {
    // The pure tree (no redundancy, the default), in one pass: every lazy
    // peer gets an IHAVE, in table order. A batch this fills is flushed
    // after the pass, so its frame still goes out after the eager pushes
    // (SendGossip leaves the eager flags as they were).
    bool filled = false;
    for (PeerState& peer : peers_) {
      if (peer.peer.id == exclude) continue;
      if (peer.eager) {
        SendGossip(peer.peer.address, id, NextHop(hops_received), payload);
      } else {
        filled |= PushIHave(now, &peer, IHaveEntry{id, hops_received});
      }
    }
    if (filled) {
      // Only a batch pushed to just now can be full: the others were
      // flushed when they filled.
      for (PeerState& peer : peers_) {
        if (peer.pending_ihave.size() >= kMaxListEntries) FlushIHave(&peer);
      }
    }
    return;
  }
  size_t lazy_count = 0;
  for (const PeerState& peer : peers_) {
    if (peer.peer.id == exclude) continue;
    if (peer.eager) {
      SendGossip(peer.peer.address, id, NextHop(hops_received), payload);
    } else {
      ++lazy_count;
    }
  }
  if (lazy_count == 0) return;
  const size_t extra = std::min<size_t>(redundant_pushes_, lazy_count);
  // Inline capacity for the usual active view: no heap traffic per message.
  absl::InlinedVector<size_t, 8> lazy;
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].peer.id != exclude && !peers_[i].eager) lazy.push_back(i);
  }
  // A lazy peer pushed to redundantly gets no IHAVE: its slot in `lazy`
  // is overwritten with kPushed (the picks are distinct).
  constexpr size_t kPushed = SIZE_MAX;
  absl::InlinedVector<uint64_t, 8> picks(extra);
  rng_->PickK(extra, lazy.size(), std::span<uint64_t>(picks));
  for (uint64_t pick : picks) {
    SendGossip(peers_[lazy[pick]].peer.address, id, NextHop(hops_received),
               payload);
    lazy[pick] = kPushed;
  }
  for (size_t index : lazy) {
    if (index != kPushed) {
      QueueIHave(now, &peers_[index], IHaveEntry{id, hops_received});
    }
  }
}

void Plumtree::ForwardPush(MessageId id, uint32_t hops_received,
                           const MessageCache::Payload& payload,
                           NodeId exclude) {
  // Inline capacity for the usual active view: no heap traffic per message.
  absl::InlinedVector<size_t, 8> candidates;
  for (size_t i = 0; i < peers_.size(); ++i) {
    if (peers_[i].peer.id != exclude) candidates.push_back(i);
  }
  const size_t k = std::min(fanout(), candidates.size());
  if (k == 0) return;
  absl::InlinedVector<uint64_t, 8> picks(k);
  rng_->PickK(k, candidates.size(), std::span<uint64_t>(picks));
  for (uint64_t pick : picks) {
    SendGossip(peers_[candidates[pick]].peer.address, id,
               NextHop(hops_received), payload);
  }
}

void Plumtree::SendGossip(const Address& to, MessageId id, uint32_t hops,
                          const MessageCache::Payload& payload) {
  outbox_->Send(to, GossipFrame{id, hops, std::span<const uint8_t>(*payload)});
  ++counters_->gossip_sent;
}

// --- Missing messages ------------------------------------------------------

void Plumtree::NoteAnnouncement(Timestamp now, const PeerEntry& from,
                                MessageId id) {
  if (missing_ == nullptr) missing_ = std::make_unique<MissingTable>();
  if (MissingTable::Entry* known = missing_->Find(id)) {
    AddAnnouncer(from, &known->missing);
    return;
  }
  if (missing_->size() >= std::max<size_t>(config_.message_cache_entries, 1)) {
    ++counters_->missing_table_full;
    return;
  }
  // Pull mode has no eager push to wait for: ask at once.
  const Duration wait =
      mode_ == BroadcastMode::kPull ? Duration::Zero() : config_.graft_timeout;
  // Built in place in the table (a local copy moved in trips GCC 12's
  // maybe-uninitialized on InlinedVector under --config=asan).
  Missing& missing = missing_->Add(id)->missing;
  missing.deadline = now + wait;
  missing.announcers.push_back(from);
  missing.unasked = 1;
  InsertTimer(&missing_->timers(), Timer{missing.deadline, id});
  missing_next_ = std::min(missing_next_, missing.deadline);
}

// Queues `from` to be asked this round, after those already waiting: a new
// announcer, or one asked already this round that announces again.
void Plumtree::AddAnnouncer(const PeerEntry& from, Missing* missing) {
  auto& announcers = missing->announcers;
  auto known =
      std::find_if(announcers.begin(), announcers.end(),
                   [&](const PeerEntry& a) { return a.id == from.id; });
  const auto waiting_end = announcers.begin() + missing->unasked;
  if (known < waiting_end || missing->unasked >= kMaxAnnouncers) return;
  if (known != announcers.end()) {
    announcers.erase(known);
  } else if (announcers.size() >= kMaxKnownAnnouncers) {
    return;
  }
  announcers.insert(announcers.begin() + missing->unasked, from);
  ++missing->unasked;
}

// Forgets a missing message that just arrived; true when it was requested.
// *late: it came after the first round over its announcers.
bool Plumtree::TakeMissing(MessageId id, bool* late) {
  if (missing_ == nullptr) return false;
  MissingTable::Entry* entry = missing_->Find(id);
  if (entry == nullptr) return false;
  const bool requested = entry->missing.requested;
  *late = entry->missing.round > 0;
  EraseTimer(&missing_->timers(), Timer{entry->missing.deadline, id});
  missing_->Erase(entry);
  SyncMissingNext();
  CompactMissing();
  return requested;
}

void Plumtree::SyncMissingNext() {
  missing_next_ = missing_ == nullptr || missing_->timers().empty()
                      ? Timestamp::Infinite()
                      : missing_->timers().front().first;
}

// The table keeps its capacity after erases: give it back once empty, so
// that a burst of announcements does not cost memory for ever. Every entry
// has exactly one timer, so no timer is dropped with it.
void Plumtree::CompactMissing() {
  if (missing_ == nullptr || !missing_->empty()) return;
  assert(missing_->timers().empty());
  missing_.reset();
  missing_next_ = Timestamp::Infinite();
}

Plumtree::MissingTable::Entry* Plumtree::MissingTable::Find(MessageId id) {
  if (index_ != nullptr) {
    auto it = index_->find(id);
    return it == index_->end() ? nullptr : &entries_[it->second];
  }
  for (Entry& entry : entries_) {
    if (entry.id == id) return &entry;
  }
  return nullptr;
}

Plumtree::MissingTable::Entry* Plumtree::MissingTable::Add(MessageId id) {
  assert(Find(id) == nullptr);
  // Built in place (a local copy moved in trips GCC 12's
  // maybe-uninitialized on InlinedVector under --config=asan).
  entries_.emplace_back().id = id;
  const uint32_t slot = static_cast<uint32_t>(entries_.size() - 1);
  if (index_ != nullptr) {
    index_->emplace(id, slot);
  } else if (entries_.size() > kScanMissing) {
    // Too many to scan: index them for the rest of the table's life.
    index_ = std::make_unique<absl::flat_hash_map<MessageId, uint32_t>>();
    index_->reserve(entries_.size());
    for (uint32_t i = 0; i < entries_.size(); ++i) {
      index_->emplace(entries_[i].id, i);
    }
  }
  return &entries_.back();
}

// The last entry moves into the hole: entries have no order.
void Plumtree::MissingTable::Erase(Entry* entry) {
  const size_t slot = static_cast<size_t>(entry - entries_.data());
  assert(slot < entries_.size());
  if (index_ != nullptr) index_->erase(entry->id);
  if (slot + 1 != entries_.size()) {
    *entry = std::move(entries_.back());
    if (index_ != nullptr) (*index_)[entry->id] = static_cast<uint32_t>(slot);
  }
  entries_.pop_back();
}

size_t Plumtree::MissingTable::HeapBytes() const {
  size_t bytes = 0;
  if (entries_.capacity() > kInlineEntries)
    bytes += entries_.capacity() * sizeof(Entry);
  for (const Entry& entry : entries_) {
    if (entry.missing.announcers.capacity() > kInlineAnnouncers) {
      bytes += entry.missing.announcers.capacity() * sizeof(PeerEntry);
    }
  }
  if (index_ != nullptr) {
    bytes +=
        sizeof(*index_) +
        index_->capacity() * (sizeof(std::pair<const MessageId, uint32_t>) + 1);
  }
  if (timers_.capacity() > kInlineTimers)
    bytes += timers_.capacity() * sizeof(Timer);
  return bytes;
}

// For each missing message whose timer is due: ask its first remaining
// announcer (GRAFT when it is an active peer in hybrid mode, IWANT
// otherwise) and give the next announcer graft_timeout / 2 more; give up
// when no announcer is left. Requests are batched per peer.
void Plumtree::FireDueRequests(Timestamp now) {
  if (missing_ == nullptr || missing_->timers().empty() ||
      missing_->timers().front().first > now) {
    return;
  }
  auto& timers = missing_->timers();
  const Duration retry =
      std::max(config_.graft_timeout / 2, Duration::Micros(1));
  const Duration reask = std::max(config_.graft_timeout, Duration::Micros(1));
  // Usually one or two peers: on the stack.
  absl::InlinedVector<Request, 4> requests;
  // timers[0, due) are taken; they go in one erase at the end. A timer set
  // here is later than `now`, so it sorts after them.
  size_t due = 0;
  while (due < timers.size() && timers[due].first <= now) {
    const MessageId id = timers[due].second;
    ++due;
    MissingTable::Entry* entry = missing_->Find(id);
    if (entry == nullptr) continue;
    Missing& missing = entry->missing;
    auto& announcers = missing.announcers;
    if (missing.unasked == 0) {
      // All were asked and it is still missing: start another round after
      // a pause (requests or answers may have been lost), or give up.
      if (announcers.empty() || missing.round + 1 >= kRequestRounds) {
        missing_->Erase(entry);
        continue;
      }
      const Duration pause =
          reask * (int64_t{1} << std::min(missing.round, kMaxRetryShift));
      ++missing.round;
      missing.unasked = static_cast<uint8_t>(announcers.size());
      missing.deadline = now + std::max(pause - retry, Duration::Micros(1));
      InsertTimer(&timers, Timer{missing.deadline, id});
      continue;
    }
    const PeerEntry to = announcers.front();
    std::rotate(announcers.begin(), announcers.begin() + 1, announcers.end());
    --missing.unasked;
    PeerState* peer = FindPeer(to.id);
    const bool graft = mode_ == BroadcastMode::kHybrid && peer != nullptr;
    if (graft) {
      peer->eager = true;
      peer->lazy_duplicates = 0;
    }
    auto request = std::find_if(
        requests.begin(), requests.end(),
        [&](const Request& r) { return r.to == to && r.graft == graft; });
    if (request == requests.end()) {
      requests.push_back(Request{to, graft, {}});
      request = requests.end() - 1;
    }
    request->ids.push_back(id);
    missing.requested = true;
    missing.deadline = now + retry;
    InsertTimer(&timers, Timer{missing.deadline, id});
  }
  timers.erase(timers.begin(), timers.begin() + static_cast<ptrdiff_t>(due));
  SyncMissingNext();
  for (Request& request : requests) {
    SendIdFrames(request.to.address, request.graft, std::move(request.ids));
  }
  CompactMissing();
}

// --- IHAVE batching and pull digests --------------------------------------

void Plumtree::QueueIHave(Timestamp now, PeerState* peer, IHaveEntry entry) {
  if (PushIHave(now, peer, entry)) FlushIHave(peer);
}

inline bool Plumtree::PushIHave(Timestamp now, PeerState* peer,
                                IHaveEntry entry) {
  peer->pending_ihave.push_back(entry);
  if (peer->pending_ihave.size() >= kMaxListEntries) return true;
  if (ihave_flush_at_.IsInfinite()) {
    ihave_flush_at_ = now + config_.ihave_batch_delay;
  }
  return false;
}

void Plumtree::FlushIHaves() {
  for (PeerState& peer : peers_) {
    if (!peer.pending_ihave.empty()) FlushIHave(&peer);
  }
  ihave_flush_at_ = Timestamp::Infinite();
}

void Plumtree::FlushIHave(PeerState* peer) {
  const auto& pending = peer->pending_ihave;
  if (FitsOneFrameAtLargest<IHaveEntry>(
          pending.size(), max_datagram_bytes_ - kDatagramHeaderBytes)) {
    // The usual batch (a message or two): one frame, built in its outbox
    // slot, its list copied from the pending one straight into it (what
    // SendIHaveFrames would send, without its chunking and list handoffs).
    // Appended one by one: the usual one or two entries then take a few
    // stores each, not the range constructor's general copy.
    IHaveList& entries =
        outbox_->SendEmpty<IHaveFrame>(peer->peer.address).entries;
    entries.reserve(pending.size());
    for (const IHaveEntry& entry : pending) entries.push_back(entry);
    ++counters_->ihave_sent;
  } else {
    SendIHaveFrames(peer->peer.address,
                    IHaveList(pending.begin(), pending.end()));
  }
  peer->pending_ihave.clear();
  if (peer->pending_ihave.capacity() > kKeptCapacity) {
    peer->pending_ihave.shrink_to_fit();  // back to the inline slot
  }
}

void Plumtree::PullTick(Timestamp now) {
  pull_at_ = Timestamp::Infinite();
  if (mode_ == BroadcastMode::kPush) return;
  IHaveList digest =
      mode_ == BroadcastMode::kHybrid ? RecentDigest(now) : CacheDigest(now);
  if (digest.empty()) return;  // nothing to tell: quiet until a delivery
  if (!peers_.empty()) {
    // Round-robin from a random start: successive digests reach different
    // peers, so a message's two hybrid digests never go to the same one.
    if (pull_cursor_ == kNoCursor) {
      pull_cursor_ = static_cast<uint32_t>(rng_->UniformBelow(peers_.size()));
    }
    const PeerState& target = peers_[pull_cursor_ % peers_.size()];
    pull_cursor_ = (pull_cursor_ + 1) % kNoCursor;
    SendIHaveFrames(target.peer.address, std::move(digest),
                    /*as_digest=*/true);
  }
  pull_at_ = now + PullPeriod();
}

// Hybrid: what arrived in the last kRecentPeriods periods (bounds
// included, so each message makes two ticks), newest first. Counted first,
// so that the list is allocated once at its size.
IHaveList Plumtree::RecentDigest(Timestamp now) const {
  const Timestamp oldest = now - PullPeriod() * kRecentPeriods;
  size_t count = 0;
  while (count < std::min(cache_.size(), kMaxListEntries) &&
         cache_.Newest(count).stored_at >= oldest) {
    ++count;
  }
  IHaveList digest;
  digest.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const MessageCache::Entry& entry = cache_.Newest(i);
    digest.push_back(IHaveEntry{entry.id, entry.hops});
  }
  return digest;
}

// Pull: every live cache entry, newest first; when more than one digest
// can hold, a window of kMaxListEntries that rotates over the cache from
// tick to tick, so that every entry gets its turn.
IHaveList Plumtree::CacheDigest(Timestamp now) {
  size_t live = cache_.size();
  while (live > 0 && cache_.Newest(live - 1).stored_at + CacheTtl() <= now) {
    --live;
  }
  IHaveList digest;
  const size_t count = std::min(live, kMaxListEntries);
  digest.reserve(count);
  const size_t first = live > kMaxListEntries ? digest_offset_ % live : 0;
  for (size_t j = 0; j < count; ++j) {
    const MessageCache::Entry& entry = cache_.Newest((first + j) % live);
    digest.push_back(IHaveEntry{entry.id, entry.hops});
  }
  digest_offset_ = live > kMaxListEntries
                       ? static_cast<uint32_t>((first + count) % live)
                       : 0;
  return digest;
}

void Plumtree::SchedulePull(Timestamp now) {
  if (mode_ != BroadcastMode::kPush && pull_at_.IsInfinite()) {
    pull_at_ = now + PullPeriod();
  }
}

// --- Frame splitting -------------------------------------------------------

size_t Plumtree::SendIHaveFrames(const Address& to, IHaveList entries,
                                 bool as_digest) {
  const size_t budget = max_datagram_bytes_ - kDatagramHeaderBytes;
  const std::span<const IHaveEntry> items(entries);
  const size_t frames =
      ForEachChunk(items, budget, [&](size_t first, size_t count) {
        // A list that fits one frame goes in whole, not copied (this is
        // then the only and last chunk: `items` is not read again).
        IHaveList list = count == items.size()
                             ? std::move(entries)
                             : IHaveList(items.begin() + first,
                                         items.begin() + first + count);
        if (as_digest) {
          outbox_->Send(to, DigestFrame{std::move(list)});
        } else {
          outbox_->Send(to, IHaveFrame{std::move(list)});
        }
      });
  counters_->ihave_sent += frames;
  return frames;
}

size_t Plumtree::SendIdFrames(const Address& to, bool graft,
                              std::vector<MessageId> ids) {
  const size_t budget = max_datagram_bytes_ - kDatagramHeaderBytes;
  const std::span<const MessageId> items(ids);
  const size_t frames =
      ForEachChunk(items, budget, [&](size_t first, size_t count) {
        // As in SendIHaveFrames: one chunk takes the vector itself.
        std::vector<MessageId> chunk =
            count == items.size()
                ? std::move(ids)
                : std::vector<MessageId>(items.begin() + first,
                                         items.begin() + first + count);
        if (graft) {
          outbox_->Send(to, GraftFrame{std::move(chunk)});
        } else {
          outbox_->Send(to, IWantFrame{std::move(chunk)});
        }
      });
  (graft ? counters_->graft_sent : counters_->iwant_sent) += frames;
  return frames;
}

// --- Adaptive fanout -------------------------------------------------------

// Moving average: loss += (sample - loss) / 2^shift, then the boost switch
// with hysteresis (on above the threshold, off below a quarter of it).
void Plumtree::SampleLoss(uint32_t sample_q16, int shift) {
  const uint64_t keep = (uint64_t{1} << shift) - 1;
  loss_q16_ = static_cast<uint32_t>((loss_q16_ * keep + sample_q16) >> shift);
  if (loss_q16_ > threshold_q16_) {
    boosted_ = true;
  } else if (loss_q16_ < threshold_q16_ / 4 ||
             (threshold_q16_ == 0 && loss_q16_ == 0)) {
    boosted_ = false;
  }
}

void Plumtree::SampleRepair(bool repaired) {
  SampleLoss(repaired ? kQ16One : 0, /*shift=*/4);
}

// Without loss every node receives about as many copies of a message as
// each node sends; the shortfall estimates the loss rate.
void Plumtree::SamplePushCopies() {
  if (push_deliveries_ < kPushSampleDeliveries) return;
  const size_t senders = peers_.empty() ? 0 : peers_.size() - 1;
  const uint64_t per_message = std::min(fanout(), std::max<size_t>(senders, 1));
  const uint64_t expected = per_message * push_deliveries_;
  const uint64_t copies = push_copies_;
  const uint32_t sample =
      copies >= expected
          ? 0
          : static_cast<uint32_t>((expected - copies) * kQ16One / expected);
  SampleLoss(sample, /*shift=*/2);
  push_copies_ = 0;
  push_deliveries_ = 0;
}

size_t Plumtree::fanout() const {
  return boosted_ ? std::max(config_.initial_fanout, config_.max_fanout)
                  : config_.initial_fanout;
}

double Plumtree::loss_estimate() const {
  return static_cast<double>(loss_q16_) / kQ16One;
}

// --- Timers ----------------------------------------------------------------

void Plumtree::ScheduleSweep() {
  const Timestamp expiry = cache_.NextExpiry();
  // Sweeping a little late batches expiries into few wake-ups.
  sweep_at_ = expiry + CacheTtl() / 8;
}

void Plumtree::HandleTimeout(Timestamp now) {
  ReleaseIfFlushed();
  if (sweep_at_ <= now) {
    cache_.Expire(now, &retired_);
    if (cache_.empty()) max_cached_hops_ = 0;
    ScheduleSweep();
    ReleaseIfFlushed();  // nothing queued can point into them yet
  }
  if (missing_next_ <= now) FireDueRequests(now);
  if (ihave_flush_at_ <= now) FlushIHaves();
  if (pull_at_ <= now) PullTick(now);
}

Timestamp Plumtree::NextTimeout() const {
  assert(missing_next_ == (missing_ == nullptr || missing_->timers().empty()
                               ? Timestamp::Infinite()
                               : missing_->timers().front().first));
  // Pairwise, not std::min({...}): GCC builds the list on the stack and
  // loops over it (twice the instructions, and this runs after every call).
  return std::min(std::min(sweep_at_, ihave_flush_at_),
                  std::min(pull_at_, missing_next_));
}

void Plumtree::PrefetchObject() const {
  // The inline peer table (its address is known without a load).
  const char* peers = reinterpret_cast<const char*>(&peers_);
  // Unrolled: a constant few lines (see Engine::Prefetch).
#pragma GCC unroll 16
  for (size_t off = 0; off < sizeof(peers_); off += 64) {
    __builtin_prefetch(peers + off);
  }
  PrefetchDeadlines();
}

void Plumtree::PrefetchDeadlines() const {
  // missing_ (which PrefetchPeers reads) sits just before the deadlines:
  // 40 bytes, two lines at most.
  __builtin_prefetch(&missing_);
  __builtin_prefetch(&sweep_at_);
}

void Plumtree::PrefetchPeers() const {
  // Only a table spilled to the heap: PrefetchObject loaded the inline one.
  if (peers_.capacity() > kInlinePeers) {
    const char* peers = reinterpret_cast<const char*>(peers_.data());
    const size_t bytes = peers_.size() * sizeof(PeerState);
    for (size_t off = 0; off < bytes; off += 64) {
      __builtin_prefetch(peers + off);
    }
  }
  // Every gossip and IHAVE frame looks its ids up in these two.
  dedup_.Prefetch();
  cache_.Prefetch();
  // And in the missing table, when something is missing (its pointer is
  // loaded with the deadlines, PrefetchDeadlines).
  if (missing_ != nullptr) __builtin_prefetch(missing_.get());
}

// --- Introspection ---------------------------------------------------------

// A walk, not a binary search: the table is the active view (five peers
// by default), and stopping at the first id not below `id` takes about
// half the instructions of std::lower_bound at that size.
Plumtree::PeerState* Plumtree::FindPeer(NodeId id) {
  for (PeerState& peer : peers_) {
    if (peer.peer.id < id) continue;
    return peer.peer.id == id ? &peer : nullptr;
  }
  return nullptr;
}

size_t Plumtree::EagerCount() const {
  return static_cast<size_t>(
      std::count_if(peers_.begin(), peers_.end(),
                    [](const PeerState& p) { return p.eager; }));
}

std::vector<NodeId> Plumtree::EagerPeers() const {
  std::vector<NodeId> eager;
  for (const PeerState& peer : peers_) {
    if (peer.eager) eager.push_back(peer.peer.id);
  }
  return eager;
}

std::vector<NodeId> Plumtree::LazyPeers() const {
  std::vector<NodeId> lazy;
  for (const PeerState& peer : peers_) {
    if (!peer.eager) lazy.push_back(peer.peer.id);
  }
  return lazy;
}

size_t Plumtree::StateBytes() const {
  size_t bytes = sizeof(*this);
  if (peers_.capacity() > kInlinePeers) {  // spilled to the heap
    bytes += peers_.capacity() * sizeof(PeerState);
  }
  for (const PeerState& peer : peers_) {
    if (peer.pending_ihave.capacity() > 1) {  // spilled to the heap
      bytes += peer.pending_ihave.capacity() * sizeof(IHaveEntry);
    }
  }
  bytes += dedup_.HeapBytes() + cache_.HeapBytes();
  bytes += retired_.capacity() * sizeof(MessageCache::Payload);
  if (missing_ != nullptr) {
    bytes += sizeof(MissingTable) + missing_->HeapBytes();
  }
  return bytes;
}

}  // namespace elara
