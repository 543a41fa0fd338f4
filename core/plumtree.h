// File: core/plumtree.h
//
// Plumtree: the broadcast sub-protocol of the Engine (sans-IO). It spreads
// each message to every node of the swarm over the active links membership
// gives it, in one of three modes (BroadcastConfig::mode, SetMode):
//
//   kHybrid  Plumtree (Leitao, Pereira, Rodrigues 2007). A new message is
//            pushed eagerly to the eager peers and announced lazily (IHAVE,
//            batched for ihave_batch_delay) to the lazy ones. A duplicate
//            from an eager peer turns it lazy and PRUNEs it, so the eager
//            links shrink to a spanning tree. An IHAVE for a message still
//            missing after graft_timeout GRAFTs the announcer (it becomes
//            eager and sends the message); the next announcer is tried after
//            graft_timeout / 2. Once all were asked, they are asked again in
//            turn (a request or its answer may have been lost) after
//            graft_timeout, doubling each round, four rounds in all before
//            the message is given up. An IHAVE that shows a path shorter by
//            more than optimization_hop_threshold hops GRAFTs the announcer and
//            PRUNEs the old parent. Pull repair on top: every pull_period,
//            while something was delivered in the last two periods, one
//            active peer (round-robin from a random start) gets a digest
//            (DigestFrame) of those recent ids, so each message is in
//            exactly two digests per node, sent to two different peers. The
//            receiver asks for what it lacks, and answers a complete digest
//            with an IHAVE of its recent messages (held for at least half a
//            pull period, not received from that peer) that the digest
//            lacks: a node whose links are all eager, which no lazy peer
//            announces to, so gets back a message whose eager push was
//            lost (its own digests go to its peers every period).
//   kPush    Each new message is pushed to fanout() random active peers
//            (other than the one it came from). No IHAVE, no PRUNE.
//   kPull    Nothing is pushed on delivery. Every pull_period, while the
//            cache is not empty, one active peer (round-robin) gets a
//            digest of the cached ids (newest first; beyond kMaxListEntries
//            a window that rotates over the cache). The receiver answers
//            IWANT at once for what it misses (and gets GossipFrames back),
//            and, the exchange's other half, sends back as GossipFrames up
//            to 32 of its messages from the last two periods that a
//            complete digest shows the sender lacks.
//
// Adaptive fanout: the node keeps a loss estimate (see loss_estimate()).
// In hybrid mode it is the moving average, over received deliveries, of
// "this delivery needed a GRAFT/IWANT and came within the first round over
// its announcers" (counting later rounds too boosted more nodes and raised
// the 10k example's RMR ~2 % without changing its reliability); in push
// mode it is the shortfall of copies received per delivery against the
// fanout in use. While the estimate is above adaptive_threshold (until it
// falls below a quarter of it) the node is boosted(): in hybrid mode it
// stops pruning eager peers on duplicates as long as it has at most
// max_fanout of them (so each repair GRAFT adds a lasting eager link), in
// push mode fanout() is max_fanout.
// redundancy_factor (hybrid): each new message also goes eagerly to
// round(factor) random lazy peers instead of an IHAVE.
//
// Guarantees:
//   - A message is delivered (DeliveredEvent) at most once per node while
//     its origin stays in the dedup table (DedupWindow) or the message in
//     the cache; a sequence outside the window is never delivered.
//   - Every store is bounded: dedup window and origins, message cache
//     (entries and TTL), pending IHAVEs (flushed at kMaxListEntries per
//     peer), missing-message table (message_cache_entries; overflow counted
//     in EngineCounters::missing_table_full), digest answers (32 messages;
//     a cut answer counted in digest_answers_capped). Every frame it builds
//     fits one datagram (a forwarded GossipFrame is as large as the one
//     received: a peer with a larger max_datagram_bytes can send one that
//     does not fit ours).
//   - Deterministic: randomness only from the injected Random; hash maps
//     are used for lookups only, never iterated where order can reach the
//     output.
//   - NextTimeout() is O(1); an idle instance schedules nothing.
//
// Payload lifetime: a queued GossipFrame's span points into a payload this
// object owns. Payloads dropped from the cache are kept in a retired list
// until the outbox has been drained: every entry point frees it when it
// finds outbox->pending() empty (and ReleaseRetiredPayloads() does so
// explicitly), so the driver only has to drain the outbox after each call.
//
// Thread-safety: not thread-safe; owned by one Engine.
#ifndef ELARA_CORE_PLUMTREE_H_
#define ELARA_CORE_PLUMTREE_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/dedup_window.h"
#include "core/engine.h"
#include "core/ids.h"
#include "core/message_cache.h"
#include "core/outbox.h"
#include "core/payload_interner.h"
#include "core/random.h"
#include "core/time.h"
#include "core/wire.h"

namespace elara {

// Broadcast sizes a GossipFrame as if it had travelled this many hops, so
// that a payload accepted by Broadcast still fits a datagram when it is
// forwarded deep in the tree (the hops varint grows with the count).
inline constexpr uint32_t kGossipHopsForSizing = (1u << 14) - 1;

class Plumtree {
 public:
  // `config`, `rng`, `outbox` and `counters` must outlive this object
  // (the Engine's config is immutable and lives as long as the engine).
  // A max_datagram_bytes above UINT32_MAX is taken as that (a validated
  // config's is at most kMaxMaxDatagramBytes).
  Plumtree(const BroadcastConfig& config, NodeId self,
           size_t max_datagram_bytes, Random* rng, Outbox* outbox,
           CoreCounters* counters);
  Plumtree(const Plumtree&) = delete;
  Plumtree& operator=(const Plumtree&) = delete;

  // Originates a message: MessageId{self, next sequence}, delivered here
  // first (hops 0), cached, and sent as the mode says. ResourceExhausted
  // when its GossipFrame cannot fit one datagram; nothing is sent then and
  // the sequence is not consumed.
  absl::StatusOr<MessageId> Broadcast(Timestamp now,
                                      std::span<const uint8_t> payload);
  // Broadcast frames only (FrameType 16..31); others are ignored. `from`
  // sent it; `from_is_active` says whether it is in our active view.
  void HandleFrame(Timestamp now, const PeerEntry& from, bool from_is_active,
                   const Frame& frame);
  // The same, for a caller whose OnNeighborUp/OnNeighborDown calls follow
  // the active view exactly (the engine's membership reports every change):
  // the peer table is then the active view, and its lookup answers whether
  // `from` is active without a second search of the view. (Membership's
  // Leave empties the view without telling the tree; the engine dispatches
  // nothing after it.)
  void HandleFrame(Timestamp now, const PeerEntry& from, const Frame& frame) {
    HandleFrameFrom(now, from, FindPeer(from.id), frame);
  }
  void OnNeighborUp(Timestamp now, const PeerEntry& peer);
  void OnNeighborDown(Timestamp now, const PeerEntry& peer);
  void HandleTimeout(Timestamp now);
  // Earliest deadline; Timestamp::Infinite() when nothing is scheduled.
  Timestamp NextTimeout() const;
  // Cache hints. PrefetchObject starts loading the lines of this object
  // every call reads (the inline peer table, the deadlines) and loads
  // nothing itself; PrefetchPeers reads the handles (so call it an event
  // after PrefetchObject) and starts loading a peer table spilled to the
  // heap, the dedup window and the message cache that a frame touches.
  void PrefetchObject() const;
  void PrefetchPeers() const;
  // The lines of the deadlines NextTimeout reads (part of PrefetchObject):
  // enough for a call that handles no broadcast frame.
  void PrefetchDeadlines() const;

  void SetMode(Timestamp now, BroadcastMode mode);
  // InvalidArgument unless 0 <= factor <= max_fanout.
  absl::Status SetRedundancyFactor(double factor);
  // Every active peer becomes eager again; the next messages prune the
  // tree back into shape.
  void RebuildRouting(Timestamp now);
  // Frees payloads dropped from the cache. Only call when no frame queued
  // by this object is still waiting in the outbox.
  void ReleaseRetiredPayloads();

  BroadcastMode mode() const { return mode_; }
  std::vector<NodeId> EagerPeers() const;  // sorted
  std::vector<NodeId> LazyPeers() const;   // sorted
  // Eager pushes per message in push mode (initial or max fanout).
  size_t fanout() const;
  double redundancy_factor() const { return redundancy_factor_; }
  // Estimated loss (0..1) driving adaptive fanout; see the file comment.
  double loss_estimate() const;
  bool boosted() const { return boosted_; }
  size_t cached_messages() const { return cache_.size(); }
  size_t tracked_origins() const { return dedup_.origin_count(); }
  // Bytes of state held, sizeof(*this) included.
  size_t StateBytes() const;
  // Received payloads are interned through `interner` (nullptr: each is
  // copied). See core/payload_interner.h. REQUIRES: outlives this.
  void set_payload_interner(PayloadInterner* interner) {
    payload_interner_ = interner;
  }
  // How many active peers to expect (the membership's active view size):
  // the peer table is sized for them at the first neighbor.
  void set_peer_capacity_hint(size_t peers) {
    peer_capacity_hint_ =
        static_cast<uint16_t>(std::min<size_t>(peers, UINT16_MAX));
  }
  // Counts into *counters from now on (same contract as the constructor's).
  void set_counters(CoreCounters* counters) { counters_ = counters; }

 private:
  // 64 bytes: the default view's five take five cache lines, which every
  // gossip datagram reads (FindPeer) and PrefetchObject loads.
  struct PeerState {
    PeerEntry peer;
    // Duplicates received from it while it was lazy, modulo 2^16; a PRUNE
    // is re-sent at each power of two (our earlier PRUNE may have been
    // lost), so a count that wraps starts re-sending again.
    uint16_t lazy_duplicates = 0;
    bool eager = true;
    // Announcements waiting for the batch timer. Messages 100 ms apart
    // with a 20 ms batch delay leave one per flush: held inline, so
    // queueing and flushing touch no heap block of their own.
    absl::InlinedVector<IHaveEntry, 1> pending_ihave;
  };
  static_assert(sizeof(PeerState) == 64);
  static constexpr size_t kInlineAnnouncers = 2;
  // A message announced by IHAVE that has not arrived yet.
  struct Missing {
    Timestamp deadline;
    bool requested = false;  // a GRAFT or IWANT was sent for it
    // announcers[0, unasked) wait to be asked this round, next one first;
    // the rest were asked this round, oldest first.
    uint8_t unasked = 0;
    uint8_t round = 0;  // rounds over the announcers begun, minus one
    // Most missing messages are announced by one or two peers before they
    // arrive: held inline, no heap block of their own.
    absl::InlinedVector<PeerEntry, kInlineAnnouncers> announcers;
  };
  // GRAFT or IWANT ids gathered for one peer during one call.
  struct Request {
    PeerEntry to;
    bool graft = false;
    std::vector<MessageId> ids;
  };

  // Frame handlers.
  void NoteSequenceGap(Timestamp now, const PeerEntry& from, MessageId id,
                       uint64_t highest_before);
  void AnnounceCacheTo(Timestamp now, const PeerEntry& peer);
  void HandleGossip(Timestamp now, const PeerEntry& from, PeerState* peer,
                    const GossipFrame& frame);
  // An IHAVE, or (digest) a pull digest, which also tells what its sender
  // lacks (AnswerDigest).
  void HandleIHave(Timestamp now, const PeerEntry& from, PeerState* peer,
                   std::span<const IHaveEntry> entries, bool digest);
  void HandleGraft(Timestamp now, const PeerEntry& from, PeerState* peer,
                   const GraftFrame& frame);
  void HandlePrune(PeerState* peer);
  void SendFromCache(Timestamp now, const Address& to,
                     std::span<const MessageId> ids);
  void AnswerDigest(Timestamp now, const PeerState& peer,
                    std::span<const IHaveEntry> entries);

  // Delivery and dissemination.
  // `recorded`: dedup_.Insert just answered kNew for `id`.
  void Accept(Timestamp now, MessageId id, uint32_t hops, NodeId parent,
              MessageCache::Payload payload, bool repaired, bool recorded);
  void Forward(Timestamp now, MessageId id, uint32_t hops_received,
               const MessageCache::Payload& payload, NodeId exclude);
  void ForwardHybrid(Timestamp now, MessageId id, uint32_t hops_received,
                     const MessageCache::Payload& payload, NodeId exclude);
  void ForwardPush(MessageId id, uint32_t hops_received,
                   const MessageCache::Payload& payload, NodeId exclude);
  void SendGossip(const Address& to, MessageId id, uint32_t hops,
                  const MessageCache::Payload& payload);
  void OnDuplicate(PeerState* peer);
  bool MaybeOptimizeTree(Timestamp now, PeerState* announcer,
                         const IHaveEntry& entry);
  bool Known(MessageId id, Timestamp now) const;
  bool CachedThoughForgotten(MessageId id, Timestamp now) const;

  // Missing messages and their GRAFT / IWANT timers.
  void NoteAnnouncement(Timestamp now, const PeerEntry& from, MessageId id);
  bool TakeMissing(MessageId id, bool* late);
  void AddAnnouncer(const PeerEntry& from, Missing* missing);
  void CompactMissing();
  void SyncMissingNext();  // after missing_->timers lost entries
  void FireDueRequests(Timestamp now);

  // IHAVE batching and pull digests.
  void QueueIHave(Timestamp now, PeerState* peer, IHaveEntry entry);
  // QueueIHave without the flush: true when the batch is full (the caller
  // flushes it). Inline: the pure tree pushes one per lazy peer for every
  // new message.
  [[gnu::always_inline]] bool PushIHave(Timestamp now, PeerState* peer,
                                        IHaveEntry entry);
  void FlushIHaves();
  void FlushIHave(PeerState* peer);
  void PullTick(Timestamp now);
  IHaveList RecentDigest(Timestamp now) const;
  IHaveList CacheDigest(Timestamp now);
  void SchedulePull(Timestamp now);

  // Frame splitting under kMaxListEntries and the datagram budget.
  // IHAVE frames, or DIGEST frames when `as_digest`. The lists are taken
  // by value: one that fits a single frame is moved into it.
  size_t SendIHaveFrames(const Address& to, IHaveList entries,
                         bool as_digest = false);
  size_t SendIdFrames(const Address& to, bool graft,
                      std::vector<MessageId> ids);

  // Adaptive fanout.
  void SampleLoss(uint32_t sample_q16, int shift);
  void SampleRepair(bool repaired);
  void SamplePushCopies();

  PeerState* FindPeer(NodeId id);
  // HandleFrame's work once `from`'s table entry (nullptr: not active) is
  // known.
  void HandleFrameFrom(Timestamp now, const PeerEntry& from, PeerState* peer,
                       const Frame& frame);
  size_t EagerCount() const;
  void ScheduleSweep();
  // Every entry point calls it: inline, so that the usual answer (nothing
  // retired) costs a compare, not a call.
  void ReleaseIfFlushed() {
    if (!retired_.empty() && outbox_->pending().empty()) {
      ReleaseRetiredPayloads();
    }
  }

  // Engine::Create validates the config; these only keep a hand-built one
  // from scheduling a timer at `now` for ever.
  Duration PullPeriod() const {
    return std::max(config_.pull_period, Duration::Micros(1));
  }
  Duration CacheTtl() const {
    return std::max(config_.message_cache_ttl, Duration::Micros(1));
  }

  // Messages announced but not received, and their request deadlines:
  // one timer per entry (the sorted timer list orders them). A table holds
  // a few entries at a time, so both live inline in it: the entries are
  // found by a scan of their ids (no hash, no heap block per
  // announcement) while there are at most kScanMissing, through an index
  // beyond; entries and index are iterated only where order cannot
  // matter. The timers are a sorted vector, not a std::set: most are
  // added at the end (deadlines grow with time), and no heap node per
  // entry.
  // Allocated by the first announcement and freed once empty: most of the
  // time nothing is missing, and an idle node then holds 8 bytes.
  using Timer = std::pair<Timestamp, MessageId>;
  class MissingTable {
   public:
    struct Entry {
      MessageId id;
      Missing missing;
    };
    static constexpr size_t kScanMissing = 8;
    static constexpr size_t kInlineEntries = 2;
    static constexpr size_t kInlineTimers = 4;
    using Timers = absl::InlinedVector<Timer, kInlineTimers>;

    // The entry for `id`, or nullptr; valid until the next Add or Erase.
    Entry* Find(MessageId id);
    // A default entry for `id`. REQUIRES: Find(id) == nullptr.
    Entry* Add(MessageId id);
    // REQUIRES: `entry` came from Find or Add, with no Add or Erase since.
    void Erase(Entry* entry);
    size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    // In no particular order.
    std::span<Entry> entries() { return std::span<Entry>(entries_); }
    std::span<const Entry> entries() const {
      return std::span<const Entry>(entries_);
    }
    // Sorted by (deadline, id), no repeats.
    Timers& timers() { return timers_; }
    const Timers& timers() const { return timers_; }
    // Heap bytes held beyond sizeof(MissingTable).
    size_t HeapBytes() const;

   private:
    absl::InlinedVector<Entry, kInlineEntries> entries_;
    // id -> index in entries_, once more than kScanMissing were held
    // (then kept until the table is freed).
    std::unique_ptr<absl::flat_hash_map<MessageId, uint32_t>> index_;
    Timers timers_;
  };

  // Fields first that every call reads (NextTimeout, after every call),
  // where the engine's head ends (Engine::Impl's layout); then what
  // a broadcast frame reads.
  std::unique_ptr<MissingTable> missing_;  // beside the deadlines: loaded
                                           // with them (PrefetchDeadlines)
  // The four deadlines NextTimeout reads after every call, side by side
  // (32 bytes: one line, two at most; see PrefetchDeadlines).
  // missing_->timers' first deadline (Infinite when empty), kept so that
  // NextTimeout, and the callers of FireDueRequests, need not load the
  // table.
  Timestamp missing_next_ = Timestamp::Infinite();
  Timestamp ihave_flush_at_ = Timestamp::Infinite();
  Timestamp pull_at_ = Timestamp::Infinite();
  Timestamp sweep_at_ = Timestamp::Infinite();

  // A reference, not a copy: ~100 bytes less in every engine.
  const BroadcastConfig& config_;
  NodeId self_;
  Random* rng_;
  Outbox* outbox_;
  CoreCounters* counters_;

  // The scalars are 4 bytes or less where their bounds allow, packed
  // without holes (size_t fields and the padding after mode_ and
  // pull_cursor_ held 32 bytes more in every engine).
  uint32_t max_datagram_bytes_;  // <= kMaxMaxDatagramBytes when validated
  uint32_t redundant_pushes_;    // round(redundancy_factor_) <= max_fanout
  BroadcastMode mode_;
  bool boosted_ = false;
  // How many active peers to expect (set_peer_capacity_hint), at most
  // UINT16_MAX (a validated active_view_size is at most 64).
  uint16_t peer_capacity_hint_ = 0;
  // At least the hops of every cached entry (reset when the cache
  // empties): MaybeOptimizeTree skips the lookup of an announcement that
  // could not be shorter by more than the threshold.
  uint32_t max_cached_hops_ = 0;
  double redundancy_factor_;
  uint64_t sequence_ = 0;  // last sequence this node originated

  // Active peers, sorted by id; a default view (5 peers) is stored inside
  // this object, next to the fields every call reads: no heap block (and
  // page) of its own to load.
  static constexpr size_t kInlinePeers = 5;
  absl::InlinedVector<PeerState, kInlinePeers> peers_;
  DedupWindow dedup_;
  MessageCache cache_;
  std::vector<MessageCache::Payload> retired_;

  static constexpr uint32_t kNoCursor = UINT32_MAX;
  uint32_t pull_cursor_ = kNoCursor;  // next digest target, round-robin
  // Pull mode: where the next digest starts (below the cache's size, at
  // most UINT32_MAX entries).
  uint32_t digest_offset_ = 0;

  // Loss estimate in 1/65536 units and its thresholds.
  uint32_t loss_q16_ = 0;
  uint32_t threshold_q16_;
  PayloadInterner* payload_interner_ = nullptr;
  uint32_t push_copies_ = 0;      // push mode: copies received this block
  uint32_t push_deliveries_ = 0;  // push mode: deliveries this block
};

}  // namespace elara

#endif  // ELARA_CORE_PLUMTREE_H_
