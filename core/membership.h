// File: core/membership.h
//
// Membership: HyParView (Leitão, Pereira and Rodrigues, DSN 2007) adapted to
// UDP, as a sans-IO sub-module of the Engine. Each node keeps a small
// symmetric *active view* (the links broadcast uses) and a larger *passive
// view* (a backup of known peers refreshed by SHUFFLE random walks). Over
// UDP there is no connection whose loss signals a failure, so active links
// are watched with keep-alives: a peer silent for keep_alive_interval is
// pinged (1.5 x that by the end of the link with the larger id, so an idle
// link costs one PING/PONG per interval, not two), again every interval while
// unanswered, and a peer silent for probe_timeout is declared down and
// replaced from the passive view. Any datagram from a peer counts as life.
//
// The one rule that makes links symmetric without connections:
//   A node that puts X in its active view *on its own initiative* (the
//   contact of a JOIN, or the end of a FORWARD_JOIN walk) tells X with a
//   JoinReplyFrame, which means "you are in my active view". X must accept
//   it (evicting a random active peer when full). A NEIGHBOR request is
//   answered with NeighborReplyFrame{accepted}; the requester adds the
//   replier on an acceptance, or sends DISCONNECT back when it has filled up
//   meanwhile. A node that receives a PING from a peer it does not hold in
//   its active view answers PONG and, when its active view has room, takes
//   the pinger into it (the JOIN_REPLY, NEIGHBOR_REPLY or SWAP_REPLY that
//   would have told it was lost: a pinger holds us); when full it also
//   sends NeighborReplyFrame{accepted = false}, so a one-sided link is
//   dropped by the other side (cause kRejected) after at most 1.5 x
//   keep_alive_interval plus a round trip.
//
// Guarantees (checked by membership_test):
//   1. |active| <= active_view_size, |passive| <= passive_view_size, always.
//   2. Neither view holds this node, a duplicate id, or an id held by the
//      other view.
//   3. Every entry into the active view emits a PeerUpEvent and then calls
//      listener->OnNeighborUp; every exit emits a PeerDownEvent (with its
//      cause) and then calls listener->OnNeighborDown, at the same `now`.
//      Both happen after the views have been updated. counters->peers_down
//      counts every exit, whatever the cause.
//   4. A frame whose meaning needs a known peer (DISCONNECT, PONG,
//      NEIGHBOR_REPLY or SWAP_REPLY from a node that is neither active nor
//      asked) changes nothing and is counted in
//      counters->unknown_sender_frames.
//   5. Deterministic: only vectors are iterated, randomness comes from `rng`.
//   6. Memory is O(active + passive): the active view inline (up to
//      kInlineActive peers), the passive view in 16 bytes a peer
//      (core/passive_view.h), a few small lists that hold no heap block
//      while empty (core/thin_vector.h; see StateBytes()).
//   7. After HandleTimeout(now), NextTimeout() > now.
//
// Choices where the paper leaves room (or assumes TCP):
//   - A peer that timed out is not put back into the passive view: it is
//     probably dead, and a live one comes back through shuffles or a join
//     (unless we may be the silent one: see "Blame needs proof of our
//     uplink").
//     A peer that evicted us, or that we evicted, moves to the passive view;
//     a peer that left is forgotten.
//   - A NEIGHBOR candidate stays in the passive view while its request is
//     outstanding (at most kMaxPendingNeighbors); an unanswered one is
//     removed from the passive view after neighbor_timeout (same proviso),
//     a rejecting one stays. Either way the next candidate (round robin over
//     the passive view) is tried at once, at most kNeighborAttemptsPerRound
//     times per repair round. Repair rounds back off (x2 up to x4
//     repair_period) while they make no progress, and reset when an active peer
//     is lost or a request is accepted. So a node one short among full views
//     keeps asking about 3 peers a second: the price of finding the few other
//     nodes that are short.
//   - Isolation: when the active view is empty and either the passive view
//     is exhausted or it has been empty for 4 x neighbor_timeout, the node
//     re-sends JOIN to its remembered contacts, one at a time round robin,
//     with exponential backoff (1x .. 32x max(neighbor_timeout,
//     repair_period)). Each such JOIN counts in counters->rejoins, including
//     the retry of a first JOIN that got no answer.
//   - Unanswered JOIN: after Join() the node retries its JOIN (same
//     schedule) until a JOIN_REPLY comes back, even once its active view
//     is not empty: nodes that joined *through it* meanwhile are no way
//     into the overlay (its first JOIN lost, it and everyone joining
//     through it formed an island that no full view ever asks to merge).
//     A node whose contacts all died keeps sending one small JOIN per
//     backoff period (<= 32 x max(neighbor_timeout, repair_period)). The
//     first four retries (kFastJoinRetries) of an unanswered JOIN keep the base
//     delay (no backoff): under 10 % loss four JOINs in a row are lost for
//     one node in 10^4, and with the backoff it stayed out for ~15 s while
//     others joined through it. While its JOIN is unanswered, a node that
//     takes a joiner also hands it to its contact (FORWARD_JOIN with
//     time_to_live 0, so the contact takes it): otherwise every walk of
//     that JOIN stays among the nodes that joined through us, and when our
//     JOIN finally gets in they all hang off our one or two links (at
//     10^4 nodes and 10 % loss: islands of 10-1,600 nodes).
//   - A lone join link: when our JOIN got us a single link (the contact's,
//     or one walk's end: the other walks were lost), that link leaves the
//     active view within shuffle_period of Join() (a busy contact evicts
//     us during a bootstrap), and a node joins through us (we take a JOIN)
//     within that time too, in either order, and the link is not back, the
//     JOIN counts as unanswered again: it is sent again at once (then
//     retried as above; joiners are handed to the contact meanwhile). What
//     we hold then joined through us, and at 10^4 nodes and 10 % loss such
//     a node and its joiners, whose passive views held only each other,
//     were islands of 7-780 nodes (5 seeds in 60). At most once per Join()
//     (counters->joins_repeated): a second link disarms the rule. In that
//     bootstrap about 750 JOINs are repeated, +1.3 % datagrams. Watching
//     every join link instead repeats most nodes' JOINs (each repeated JOIN
//     evicts a peer, which may be another node's join link): +17 %; a lone
//     link lost with no joiner: +2.2 %.
//   - Blame needs proof of our uplink: a peer that does not answer is
//     either gone or cannot hear us, and when our own datagrams are being
//     lost (a burst on our uplink) every peer goes silent at once: its
//     peers time it out, it times them out and forgets them, its NEIGHBOR
//     requests go unanswered and each candidate leaves the passive view.
//     With nothing left to ask it stays out after its uplink recovers (a
//     warm-started node has no contact), and whoever asks it meanwhile
//     drops it too. So a node forgets at most kMaxUnprovenBlames silent
//     peers (unanswered candidates, and timed-out active peers) between
//     two proofs that its datagrams get out (a PONG to its PING, a reply
//     to its NEIGHBOR, SWAP, JOIN or SHUFFLE); past that, an unanswered
//     candidate stays in the passive view and a timed-out peer moves to
//     it (counters->peers_spared). A node whose uplink works gets such a
//     reply at least every shuffle_period; one that lost many peers at
//     once (a crash) keeps a few dead candidates until its next reply,
//     which its first live candidate gives.
//   - Probe: with each SHUFFLE walk a node also sends a one-hop SHUFFLE
//     carrying only itself (time_to_live 0, no peers) to one random
//     passive peer, which answers with one passive peer and keeps the
//     sender as a passive peer. A node that knows no live node (its
//     contacts and every peer it knew died before its first shuffle) is
//     otherwise never reached: the nodes holding it in their passive views
//     have full active views and ask nobody. An isolated node that receives
//     a SHUFFLE asks for NEIGHBORs at once. Cost: two small datagrams per
//     node per shuffle_period.
//   - Link swaps (not in the paper): HyParView never merges two groups of
//     full active views, nor a few short nodes whose candidates are all
//     full (a full view refuses a low-priority NEIGHBOR): with loss, the
//     protocol bootstrap left such islands at 10^3-10^4 nodes. So:
//       * every swap_period, a node with a full active view sends SWAP
//         (offer: one of its active peers, a1) to a random passive peer B.
//         A full B drops a random peer b1 with DISCONNECT(swapped, a1),
//         takes the sender, and answers SWAP_REPLY(accepted, b1); the
//         sender then drops a1 with DISCONNECT(swapped, b1). a1 and b1 ask
//         each other first (NEIGHBOR), so two links change and, unless a
//         frame is lost, no view shrinks: if a1 and b1 were already linked
//         (each learns it from the DISCONNECT naming a peer it holds), the
//         one with the smaller id sends SWAP offering the other to a
//         passive peer, which, full, drops c1 with DISCONNECT(swapped,
//         other) and takes the sender.
//         A B with room just takes the sender (the sender drops a1
//         plainly). The interval doubles after each swap up to 16 x, starts
//         at 16 x for a warm view (WarmAddActive: an overlay that has run a
//         while), and is reset when an active peer times out (a crash or a
//         partition: when islands form). swap_period 0 turns swaps off.
//       * splits: a repair request from a node with two or more free slots
//         (and at least one peer) is a SWAP offering itself: a full
//         candidate drops b1 with DISCONNECT(swapped, requester) and takes
//         the requester, which so gains two peers while nobody loses one.
//       * stranded: a short node with an empty passive view and no request
//         out re-sends JOIN (the rejoin schedule below) to a contact that
//         is not one of its active peers; when every contact is an active
//         peer, it starts a JOIN walk of its own instead (FORWARD_JOIN of
//         itself, active_random_walk_length, to a random active peer; the
//         end takes it and answers JOIN_REPLY). Not counted in rejoins.
//         So does a full node (a JOIN only, no walk) that finds
//         its passive view empty when it shuffles (and still empty a rejoin
//         delay later, the shuffle's reply having brought nobody new): it
//         has no one to swap with, so its group of full views (the nodes
//         that joined through each other after their one link out was
//         lost, holding only each other) is closed for good otherwise.
//     Counted in counters->swaps_sent (splits and pair offers included) and
//     swaps_accepted.
//   - Leave() tells active peers DISCONNECT(leaving), releases the views and
//     emits no local events; the node then ignores everything.
//   - The first SHUFFLE is staggered by a random offset in [0,
//     shuffle_period) from the moment the node first has a peer.
//
// Thread-safety: not thread-safe; owned by one Engine.
#ifndef ELARA_CORE_MEMBERSHIP_H_
#define ELARA_CORE_MEMBERSHIP_H_

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "core/address.h"
#include "core/config.h"
#include "core/engine.h"
#include "core/ids.h"
#include "core/outbox.h"
#include "core/passive_view.h"
#include "core/random.h"
#include "core/thin_vector.h"
#include "core/time.h"
#include "core/wire.h"

namespace elara {

// Told when the active view changes; the Engine implements it and forwards
// to the broadcast layer. A listener must not call Membership's mutating
// methods from inside a callback.
class MembershipListener {
 public:
  virtual ~MembershipListener() = default;
  virtual void OnNeighborUp(Timestamp now, const PeerEntry& peer) = 0;
  virtual void OnNeighborDown(Timestamp now, const PeerEntry& peer,
                              PeerDownCause cause) = 0;
};

class Membership {
 public:
  // Contacts remembered for rejoining; more are counted in
  // EngineCounters::contacts_dropped and replace the oldest.
  static constexpr size_t kMaxContacts = 8;
  // NEIGHBOR requests outstanding at once.
  static constexpr size_t kMaxPendingNeighbors = 2;
  // NEIGHBOR requests one repair round may send (retries included).
  static constexpr uint8_t kNeighborAttemptsPerRound = 6;
  // Peers a node may blame (forget) for silence before it has proof that
  // its own datagrams get out; see "Blame needs proof of our uplink".
  static constexpr uint8_t kMaxUnprovenBlames = 3;

  // REQUIRES: config is valid (view sizes >= 1, periods > 0); rng, outbox,
  // counters, listener and config outlive this object (the config is
  // referenced, not copied: an engine's config is shared by its parts).
  Membership(const MembershipConfig& config, PeerEntry self, Random* rng,
             Outbox* outbox, CoreCounters* counters,
             MembershipListener* listener);
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;
  // Counts into *counters from now on (same contract as the constructor's).
  void set_counters(CoreCounters* counters) { counters_ = counters; }

  // Sends JOIN to `contact` and remembers it for rejoining. No-op after
  // Leave() or for an invalid or own address. A retry of this JOIN (see
  // "Unanswered JOIN") goes to the next remembered contact round robin, so
  // a contact that is gone costs one retry when others are known.
  void Join(Timestamp now, const Address& contact);
  // Remembers `contact` for rejoining without sending anything (a seed
  // list: the contacts a node was given besides the one it joins through).
  // No-op after Leave() or for an invalid or own address.
  void AddContact(const Address& contact);
  // DISCONNECT(leaving) to every active peer, then quiet for good.
  void Leave(Timestamp now);
  // One membership frame (types 1..15; others are ignored). `from` is the
  // datagram's sender id and source address.
  void HandleFrame(Timestamp now, const PeerEntry& from, const Frame& frame);
  // Called for every valid datagram: the sender, if active, is alive.
  void NoteAlive(Timestamp now, const PeerEntry& from);
  void HandleTimeout(Timestamp now);
  // Earliest deadline; Timestamp::Infinite() when there is none. Reads two
  // kept minima (liveness_due_, timers_due_), no per-peer record.
  Timestamp NextTimeout() const;
  // Cache hint: starts loading the lines of this object that every
  // datagram and NextTimeout read (up to the liveness table); loads nothing.
  void PrefetchObject() const;
  // The application says `peer` failed: drop it from the active view (cause
  // kDetected) and from the passive view.
  void DetectNodeFailure(Timestamp now, NodeId peer);

  // A copy: the active view is stored inline (see active_).
  std::vector<PeerEntry> active_view() const {
    return {active_.begin(), active_.end()};
  }
  // A copy: the passive view is stored compactly (see core/passive_view.h).
  std::vector<PeerEntry> passive_view() const { return passive_.ToVector(); }
  const PeerEntry* FindActive(NodeId id) const;
  // FindActive(id) != nullptr, reading only the hot ids (not active_).
  bool IsActive(NodeId id) const { return ActiveIndex(id) >= 0; }
  bool left() const { return left_; }
  const PeerEntry& self() const { return self_; }
  // sizeof(*this) plus the capacity of every vector it owns.
  size_t StateBytes() const;

  // Simulator warm start: installs `peer` as if NEIGHBOR had been accepted,
  // without frames or PeerUpEvent, but *with* listener->OnNeighborUp so the
  // broadcast layer knows the link. The caller makes links symmetric.
  // Returns false when full, a duplicate (in either view), self, or after
  // Leave().
  bool WarmAddActive(Timestamp now, const PeerEntry& peer);
  // Same for the passive view (no listener call).
  bool WarmAddPassive(const PeerEntry& peer);

 private:
  // Keep-alive state of active_[i], kept in the parallel vector liveness_
  // (24 bytes a peer). How long the link may stay silent before we ping
  // (Quiet) follows from the ids: the keep-alive interval on the lower
  // id's side, 1.5 times it on the other, so both ends do not ping at once.
  struct Liveness {
    Timestamp last_heard;
    // When to ping next: last_heard + Quiet while no ping is out, else the
    // last ping + keep_alive_interval (a probe repeats while unanswered);
    // never later than last_heard + probe_timeout, when the peer is down
    // (CheckLiveness tests that first, so the cap never sends a ping early).
    // Set at every change of the fields it derives from (FreshLiveness,
    // NoteAlive, HandlePong, CheckLiveness, all through PingAt or
    // QuietPingAt, its value for a peer just heard from), so that
    // Due() is this one field and liveness_due_ (what NextTimeout reads)
    // follows from it.
    Timestamp ping_at;
    uint64_t ping_nonce = 0;  // 0: no ping outstanding
  };
  // An outstanding NEIGHBOR request, or (swap) a SWAP offering `offer`.
  struct NeighborRequest {
    PeerEntry peer;
    Timestamp deadline;
    bool swap = false;
    NodeId offer;
  };

  // Frame handlers.
  void HandleJoin(Timestamp now, const PeerEntry& from);
  void HandleJoinReply(Timestamp now, const PeerEntry& from);
  void HandleForwardJoin(Timestamp now, const PeerEntry& from,
                         const ForwardJoinFrame& frame);
  void HandleNeighbor(Timestamp now, const PeerEntry& from,
                      const NeighborFrame& frame);
  void HandleNeighborReply(Timestamp now, const PeerEntry& from,
                           const NeighborReplyFrame& frame);
  void HandleDisconnect(Timestamp now, const PeerEntry& from,
                        const DisconnectFrame& frame);
  void HandleShuffle(Timestamp now, const PeerEntry& from,
                     const ShuffleFrame& frame);
  void HandleShuffleReply(const ShuffleReplyFrame& frame);
  void HandlePing(Timestamp now, const PeerEntry& from, const PingFrame& frame);
  void HandlePong(Timestamp now, const PeerEntry& from, const PongFrame& frame);
  void HandleSwap(Timestamp now, const PeerEntry& from, const SwapFrame& frame);
  void HandleSwapReply(Timestamp now, const PeerEntry& from,
                       const SwapReplyFrame& frame);

  // Timers.
  void CheckLiveness(Timestamp now);
  void ExpireNeighborRequests(Timestamp now);
  void RunRepairRound(Timestamp now);
  void RunShuffle(Timestamp now);
  void RunSwap(Timestamp now);
  // next_swap_at_ = min(itself, a random time within one swap interval).
  void ScheduleSwapWithin(Timestamp now);
  void SyncPeriodic() {
    next_periodic_at_ = std::min(next_shuffle_at_, next_swap_at_);
  }
  void MaybeRejoin(Timestamp now);
  void StartTimers(Timestamp now);
  // The earliest of the timers but liveness (periodic, rejoin, the
  // requests' deadlines, repair while short), by a scan; SyncTimersDue
  // keeps it in timers_due_ at the end of every input that may change them.
  Timestamp ScanTimersDue() const;
  void SyncTimersDue() { timers_due_ = ScanTimersDue(); }

  // View operations.
  // Puts a joiner at the end of a walk (or at the contact) into the active
  // view and tells it with JOIN_REPLY.
  void AcceptJoiner(Timestamp now, const PeerEntry& joiner);
  // REQUIRES: peer is not self and not active. Removes it from the passive
  // view and the pending requests; evicts a random active peer when full if
  // `evict_if_full`, else returns false.
  bool AddActive(Timestamp now, const PeerEntry& peer, bool evict_if_full);
  void EvictRandomActive(Timestamp now);
  // Removes active_[index] and reports it down; `to_passive` keeps it as a
  // backup.
  void RemoveActive(Timestamp now, size_t index, PeerDownCause cause,
                    bool to_passive);
  // Starts repair after a loss (never picking `lost` first); `first`, when
  // given, is asked before any passive peer (a swap's replacement).
  void OnActiveLoss(Timestamp now, NodeId lost,
                    const PeerEntry* first = nullptr);
  void RequestNeighbors(Timestamp now, std::optional<NodeId> exclude);
  // Sends NEIGHBOR (or, `split`, a SWAP offering ourselves) to `candidate`
  // and records the request; one attempt of the round.
  void SendRequest(Timestamp now, const PeerEntry& candidate, bool split);
  // A SWAP offering `offer` (ourselves: a split) to `candidate`.
  void SendSwapOffer(Timestamp now, const PeerEntry& candidate,
                     const PeerEntry& offer);
  // Adds a peer that accepted our request, or undoes its side when full.
  void TakeAcceptingPeer(Timestamp now, const PeerEntry& peer);
  // Active slots the outstanding requests may fill: two for a SWAP that
  // offers ourselves (a split), one for anything else.
  size_t PendingSlots() const;
  // No candidate left (passive view empty, no request out): a short node
  // cannot repair, a full one cannot swap.
  bool Stranded() const { return passive_.empty() && pending_.empty(); }
  // The next passive peer after repair_cursor_ that is not `exclude` and
  // has no request out, or nullopt.
  std::optional<PeerEntry> NextCandidate(std::optional<NodeId> exclude);
  // Ids a full passive view evicts first, in this order (the peers a
  // shuffle just sent away), for one run of additions. ids[0, skippable)
  // are known to be out of the passive view or to have a NEIGHBOR request
  // out, so an eviction starts looking after them: a shuffle's k additions
  // scan the view O(k) times instead of O(k^2). Within one run nothing
  // changes the pending requests, and only adding one of those ids back
  // (AddPassive) can make it a candidate again, which lowers `skippable`.
  struct EvictionPreference {
    std::span<const NodeId> ids;
    size_t skippable = 0;
  };
  // Adds to the passive view, evicting (preferably the first candidate of
  // `prefer`, else a random entry that no request is pending on) when
  // full. Flattened (the view's Find, EraseAndPush and push_back inline):
  // every peer a shuffle or its reply brings takes this path.
  [[gnu::flatten]] bool AddPassive(const PeerEntry& peer,
                                   EvictionPreference* prefer = nullptr);
  // The index a full passive view evicts for AddPassive (counted in
  // passive_view_evictions; draws from rng_ when no preferred id fits).
  size_t PassiveEvictionIndex(EvictionPreference* prefer);
  void Integrate(std::span<const PeerEntry> peers, EvictionPreference* prefer);
  void RemovePassive(NodeId id);
  void RemovePending(NodeId id);
  void RememberContact(const Address& contact);
  // The next contact round robin (skipping those an active peer has, if
  // `skip_held`), or nullptr.
  const Address* NextRejoinContact(bool skip_held);
  bool Holds(const Address& address) const;  // an active peer's address

  // Lookups: index or -1.
  int ActiveIndex(NodeId id) const;
  int PassiveIndex(NodeId id) const;
  int PendingIndex(NodeId id) const;
  // A uniformly random active peer other than a and b, or nullptr.
  const PeerEntry* RandomActiveExcept(NodeId a, NodeId b);
  void EmitUp(Timestamp now, const PeerEntry& peer);
  void EmitDown(Timestamp now, const PeerEntry& peer, PeerDownCause cause);
  Liveness FreshLiveness(Timestamp now, NodeId peer) const;
  // When the peer needs us next: ping_at (capped at the probe timeout).
  Timestamp Due(const Liveness& liveness) const { return liveness.ping_at; }
  // Liveness::ping_at for a ping wanted at `wanted`: no later than
  // last_heard + probe_timeout.
  Timestamp PingAt(Timestamp last_heard, Timestamp wanted) const {
    return std::min(wanted, last_heard + config_.probe_timeout);
  }
  // PingAt(last_heard, last_heard + Quiet(peer)), the ping_at of a peer
  // just heard from, with one saturating addition: last_heard + min(Quiet,
  // probe_timeout) is the same time (an infinite term saturates either
  // way), and every datagram from an active peer sets it (NoteAlive).
  Timestamp QuietPingAt(Timestamp last_heard, NodeId peer) const {
    return last_heard + std::min(Quiet(peer), config_.probe_timeout);
  }
  // Appends the peer's liveness record, keeping liveness_due_.
  void PushLiveness(Timestamp now, NodeId peer);
  // After one record's Due() changed from `before`: O(1) unless it held
  // the minimum and moved later (then a rescan of the active view).
  void NoteLivenessChange(Timestamp before, const Liveness& liveness);
  void RecomputeLivenessDue();
  // min over liveness_ of Due() (Infinite when empty), by a scan.
  Timestamp ScanLivenessDue() const;
  Duration Quiet(NodeId peer) const;
  Duration RejoinDelay() const;
  // A silent peer (an unanswered candidate, a timed-out active peer) is
  // to be forgotten: true while fewer than kMaxUnprovenBlames were since
  // the last proof of our uplink (and counts this one); false means spare
  // it (counted in peers_spared).
  bool TakeBlame();
  // A reply to something we sent arrived: our datagrams get out.
  void NoteUplinkProof() { unproven_blames_ = 0; }
  // Sends the JOIN again if our lone join link is gone and a node joined
  // through us, during the watch (see "A lone join link").
  void MaybeRepeatJoin(Timestamp now);

  // Cold fields first, then the hot ones together at the end, where the
  // engine's call path fields follow (Engine::Impl's layout): every
  // datagram (NoteAlive) and every NextTimeout read only these.
  // The active view is stored inside this object up to kInlineActive peers
  // (the default view) instead of in heap blocks of its own: active_ids_
  // (searched by every datagram) and liveness_ (updated by every datagram
  // from an active peer) are
  // parallel to active_, whose addresses only sends need.
  static constexpr size_t kInlineActive = 5;
  Random* rng_;
  MembershipListener* listener_;
  absl::InlinedVector<PeerEntry, kInlineActive> active_;
  PassiveView passive_;  // bounded by passive_view_size
  // The lists below are ThinVectors (core/thin_vector.h): one pointer
  // each, no block while empty (an idle node's), where std::vectors took
  // 48 bytes more in every node.
  ThinVector<Address> contacts_;          // <= kMaxContacts
  ThinVector<NodeId> last_shuffle_sent_;  // ids of our last shuffle sample
  // A lone join link (see there): the peer of the first JOIN_REPLY to our
  // JOIN, watched until join_watch_until_ (shuffle_period after Join()).
  NodeId join_link_;
  Timestamp join_watch_until_ = Timestamp::Zero();
  Timestamp isolated_since_ = Timestamp::Infinite();
  Timestamp next_shuffle_at_ = Timestamp::Infinite();
  Timestamp next_swap_at_ = Timestamp::Infinite();
  uint8_t swap_backoff_ = 0;  // swaps every swap_period << this
  // Retries of an unanswered JOIN sent at the base delay so far (the
  // backoff starts after kFastJoinRetries of them).
  uint8_t fast_join_retries_ = 0;
  // Peers forgotten for their silence since the last proof that our own
  // datagrams get out (NoteUplinkProof); at kMaxUnprovenBlames the silent
  // are spared.
  uint8_t unproven_blames_ = 0;
  // JOIN_REPLYs (from distinct peers) to our JOIN during the watch, up to
  // 2: the lone join link rule is armed only at 1.
  uint8_t join_replies_ = 0;
  // During the watch: join_link_ left the active view; we took a JOIN.
  bool join_link_lost_ = false;
  bool took_joiner_ = false;

  // Hot fields from here on (PrefetchObject loads them).
  PeerEntry self_;
  const MembershipConfig& config_;  // the caller's; must outlive this
  Outbox* outbox_;
  CoreCounters* counters_;
  bool left_ = false;
  uint8_t rejoin_cursor_ = 0;   // next contact to rejoin through
  uint16_t repair_cursor_ = 0;  // next passive index to ask for NEIGHBOR
  uint8_t repair_backoff_ = 0;  // repair rounds every period << this
  uint8_t rejoin_backoff_ = 0;
  uint8_t neighbor_attempts_left_ = 0;
  // Join() sent a JOIN and no JOIN_REPLY has come back yet: MaybeRejoin
  // retries it even while the active view is not empty.
  bool join_unanswered_ = false;
  // min(next_shuffle_at_, next_swap_at_), which live with the cold fields
  // (SyncPeriodic keeps it).
  Timestamp next_periodic_at_ = Timestamp::Infinite();
  Timestamp next_repair_at_ = Timestamp::Infinite();
  Timestamp next_rejoin_at_ = Timestamp::Infinite();
  // min over liveness_ of Due(): kept by every change of liveness_
  // (NoteLivenessChange, RecomputeLivenessDue), so that NextTimeout, run
  // after every engine call, does not loop over the peers.
  Timestamp liveness_due_ = Timestamp::Infinite();
  // ScanTimersDue(), kept by SyncTimersDue at the end of every input that
  // may change its parts (Join, DetectNodeFailure, WarmAddActive,
  // HandleFrame, HandleTimeout; Leave), for NextTimeout.
  Timestamp timers_due_ = Timestamp::Infinite();
  absl::InlinedVector<NodeId, kInlineActive> active_ids_;
  ThinVector<NeighborRequest> pending_;  // <= kMaxPendingNeighbors
  absl::InlinedVector<Liveness, kInlineActive> liveness_;
};

// --- Inline: on every datagram's path (NoteAlive) ---------------------------

inline void Membership::NoteLivenessChange(Timestamp before,
                                           const Liveness& liveness) {
  const Timestamp after = Due(liveness);
  if (after < liveness_due_) {
    liveness_due_ = after;
  } else if (before == liveness_due_ && after != before) {
    RecomputeLivenessDue();
  }
}

inline Duration Membership::Quiet(NodeId peer) const {
  const Duration interval = config_.keep_alive_interval;
  return self_.id < peer ? interval : interval + interval / 2;
}

}  // namespace elara

#endif  // ELARA_CORE_MEMBERSHIP_H_
