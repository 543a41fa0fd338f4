// HyParView over UDP. The header states the rules and guarantees; this file
// says why the code does what it does where that is not obvious.
//
// Views are plain vectors of at most a few dozen entries, so linear scans
// beat any map here, keep the order deterministic, and keep a node's state
// around one or two KiB (the simulator holds a million of them).
#include "core/membership.h"

#include <algorithm>
#include <cassert>
#include <span>
#include <utility>
#include <variant>

namespace elara {
namespace {

constexpr uint8_t kMaxRepairBackoffShift = 2;  // x4 repair_period
constexpr uint8_t kMaxRejoinBackoffShift = 5;  // x32 the rejoin base delay
constexpr uint8_t kMaxSwapBackoffShift = 4;    // x16 swap_period
// Isolated this many neighbor_timeouts with a non-empty passive view whose
// candidates all fail: give up on it and rejoin through a contact.
constexpr int64_t kIsolationRejoinFactor = 4;
// Retries of an unanswered JOIN at the base delay before the backoff starts:
// a joiner not yet in is where islands grow (nodes join through it), so its
// JOIN is retried quickly for a while even under heavy loss.
constexpr uint8_t kFastJoinRetries = 4;

// Heap bytes of an inlined vector: none while it fits inline (those bytes
// are part of sizeof(Membership)).
template <typename T, size_t N>
size_t HeapBytes(const absl::InlinedVector<T, N>& v) {
  return v.capacity() > N ? v.capacity() * sizeof(T) : 0;
}

}  // namespace

Membership::Membership(const MembershipConfig& config, PeerEntry self,
                       Random* rng, Outbox* outbox, CoreCounters* counters,
                       MembershipListener* listener)
    : rng_(rng),
      listener_(listener),
      passive_(config.passive_view_size),
      self_(self),
      config_(config),
      outbox_(outbox),
      counters_(counters) {
  active_.reserve(config_.active_view_size);
  active_ids_.reserve(config_.active_view_size);
  liveness_.reserve(config_.active_view_size);
}

// --- Commands --------------------------------------------------------------

void Membership::Join(Timestamp now, const Address& contact) {
  if (left_ || !contact.valid() || contact == self_.address) return;
  RememberContact(contact);
  // The retry goes to the contact after this one: if this one is gone, a
  // node that knows others is not stuck on it.
  const size_t index = static_cast<size_t>(
      std::find(contacts_.begin(), contacts_.end(), contact) -
      contacts_.begin());
  rejoin_cursor_ = static_cast<uint8_t>((index + 1) % contacts_.size());
  StartTimers(now);
  outbox_->Send(contact, JoinFrame{});
  if (active_.empty() && isolated_since_.IsInfinite()) isolated_since_ = now;
  // Retry through a contact until a JOIN_REPLY comes back, whatever else
  // fills the active view meanwhile: a node that joins *through us* before
  // our JOIN got in links us to itself, not to the overlay.
  join_unanswered_ = true;
  fast_join_retries_ = 0;
  next_rejoin_at_ = now + RejoinDelay();
  // Watch the link this JOIN gets us (see "A lone join link").
  join_watch_until_ = now + config_.shuffle_period;
  join_replies_ = 0;
  join_link_lost_ = took_joiner_ = false;
  SyncTimersDue();
}

void Membership::AddContact(const Address& contact) {
  if (left_ || !contact.valid() || contact == self_.address) return;
  RememberContact(contact);
}

void Membership::Leave(Timestamp /*now*/) {
  if (left_) return;
  for (const PeerEntry& peer : active_) {
    outbox_->Send(peer.address, DisconnectFrame{DisconnectReason::kLeaving});
  }
  // Release the memory: a left node in the simulator keeps nothing.
  active_.clear();
  active_.shrink_to_fit();
  active_ids_.clear();
  active_ids_.shrink_to_fit();
  liveness_.clear();
  liveness_.shrink_to_fit();
  liveness_due_ = Timestamp::Infinite();
  passive_ = PassiveView();
  pending_.Reset();
  contacts_.Reset();
  last_shuffle_sent_.Reset();
  next_shuffle_at_ = next_repair_at_ = next_rejoin_at_ = Timestamp::Infinite();
  next_swap_at_ = Timestamp::Infinite();
  SyncPeriodic();
  SyncTimersDue();
  left_ = true;
}

void Membership::DetectNodeFailure(Timestamp now, NodeId peer) {
  if (left_) return;
  RemovePending(peer);
  RemovePassive(peer);
  const int index = ActiveIndex(peer);
  if (index >= 0) {
    RemoveActive(now, static_cast<size_t>(index), PeerDownCause::kDetected,
                 /*to_passive=*/false);
    OnActiveLoss(now, peer);
  }
  SyncTimersDue();
}

bool Membership::WarmAddActive(Timestamp now, const PeerEntry& peer) {
  if (left_ || peer.id == self_.id || !peer.address.valid()) return false;
  if (active_.size() >= config_.active_view_size) return false;
  if (ActiveIndex(peer.id) >= 0 || PassiveIndex(peer.id) >= 0) return false;
  active_.push_back(peer);
  active_ids_.push_back(peer.id);
  PushLiveness(now, peer.id);
  // A warm overlay stands for one that has been running a while: its
  // swaps have backed off.
  swap_backoff_ = kMaxSwapBackoffShift;
  StartTimers(now);
  next_rejoin_at_ = isolated_since_ = Timestamp::Infinite();
  SyncTimersDue();
  listener_->OnNeighborUp(now, peer);
  return true;
}

bool Membership::WarmAddPassive(const PeerEntry& peer) {
  if (left_ || passive_.size() >= config_.passive_view_size) return false;
  return AddPassive(peer);
}

// --- Inputs ----------------------------------------------------------------

void Membership::HandleFrame(Timestamp now, const PeerEntry& from,
                             const Frame& frame) {
  if (left_ || from.id == self_.id || !from.address.valid()) return;
  if (std::holds_alternative<JoinFrame>(frame)) {
    HandleJoin(now, from);
  } else if (std::holds_alternative<JoinReplyFrame>(frame)) {
    HandleJoinReply(now, from);
  } else if (const auto* f = std::get_if<ForwardJoinFrame>(&frame)) {
    HandleForwardJoin(now, from, *f);
  } else if (const auto* f = std::get_if<NeighborFrame>(&frame)) {
    HandleNeighbor(now, from, *f);
  } else if (const auto* f = std::get_if<NeighborReplyFrame>(&frame)) {
    HandleNeighborReply(now, from, *f);
  } else if (const auto* f = std::get_if<DisconnectFrame>(&frame)) {
    HandleDisconnect(now, from, *f);
  } else if (const auto* f = std::get_if<ShuffleFrame>(&frame)) {
    HandleShuffle(now, from, *f);
  } else if (const auto* f = std::get_if<ShuffleReplyFrame>(&frame)) {
    HandleShuffleReply(*f);
  } else if (const auto* f = std::get_if<PingFrame>(&frame)) {
    HandlePing(now, from, *f);
  } else if (const auto* f = std::get_if<PongFrame>(&frame)) {
    HandlePong(now, from, *f);
  } else if (const auto* f = std::get_if<SwapFrame>(&frame)) {
    HandleSwap(now, from, *f);
  } else if (const auto* f = std::get_if<SwapReplyFrame>(&frame)) {
    HandleSwapReply(now, from, *f);
  }
  // Broadcast frames are not ours: ignored.
  SyncTimersDue();
}

void Membership::PushLiveness(Timestamp now, NodeId peer) {
  liveness_.push_back(FreshLiveness(now, peer));
  liveness_due_ = std::min(liveness_due_, Due(liveness_.back()));
}

void Membership::RecomputeLivenessDue() { liveness_due_ = ScanLivenessDue(); }

Timestamp Membership::ScanLivenessDue() const {
  Timestamp due = Timestamp::Infinite();
  for (const Liveness& liveness : liveness_) {
    // Due() is ping_at alone: PingAt keeps it within the probe timeout.
    assert(liveness.ping_at <= liveness.last_heard + config_.probe_timeout);
    due = std::min(due, Due(liveness));
  }
  return due;
}

void Membership::NoteAlive(Timestamp now, const PeerEntry& from) {
  if (left_) return;
  const int index = ActiveIndex(from.id);
  if (index < 0) return;
  // data(): liveness_ is parallel to active_ids_, so the index is in range
  // (operator[] would check it again on every datagram).
  Liveness& liveness = liveness_.data()[index];
  const Timestamp before = Due(liveness);
  liveness.last_heard = std::max(liveness.last_heard, now);
  liveness.ping_nonce = 0;
  liveness.ping_at = QuietPingAt(liveness.last_heard, from.id);
  NoteLivenessChange(before, liveness);
}

void Membership::HandleTimeout(Timestamp now) {
  if (left_) return;
  CheckLiveness(now);
  ExpireNeighborRequests(now);
  if (now >= next_repair_at_) RunRepairRound(now);
  if (now >= next_periodic_at_) {
    if (now >= next_shuffle_at_) RunShuffle(now);
    if (now >= next_swap_at_) RunSwap(now);
    SyncPeriodic();
  }
  if (now >= next_rejoin_at_) MaybeRejoin(now);
  SyncTimersDue();
}

Timestamp Membership::NextTimeout() const {
  if (left_) return Timestamp::Infinite();
  // Debug builds (every test) check the kept minima against rescans.
  assert(liveness_due_ == ScanLivenessDue());
  assert(timers_due_ == ScanTimersDue());
  return std::min(timers_due_, liveness_due_);
}

Timestamp Membership::ScanTimersDue() const {
  Timestamp next = std::min(next_periodic_at_, next_rejoin_at_);
  for (const NeighborRequest& request : pending_) {
    next = std::min(next, request.deadline);
  }
  if (liveness_.size() < config_.active_view_size) {
    next = std::min(next, next_repair_at_);
  }
  return next;
}

void Membership::PrefetchObject() const {
  const char* begin = reinterpret_cast<const char*>(&self_);
  const char* end = reinterpret_cast<const char*>(&liveness_ + 1);
  // Unrolled: a constant few lines (see Engine::Prefetch).
#pragma GCC unroll 16
  for (const char* p = begin; p < end; p += 64) __builtin_prefetch(p);
  __builtin_prefetch(end - 1);
}

// --- Frame handlers --------------------------------------------------------

// The contact takes the joiner (always: a full view evicts), confirms with
// JOIN_REPLY, and starts one ARWL random walk per other active peer.
void Membership::HandleJoin(Timestamp now, const PeerEntry& from) {
  if (ActiveIndex(from.id) >= 0) {
    // A retried JOIN whose reply was lost: confirm again, no new walks.
    outbox_->Send(from.address, JoinReplyFrame{});
    return;
  }
  AcceptJoiner(now, from);
  if (now < join_watch_until_) {
    took_joiner_ = true;
    MaybeRepeatJoin(now);  // before the hand-off below: it may apply now
  }
  const ForwardJoinFrame walk{from, config_.active_random_walk_length};
  for (const PeerEntry& peer : active_) {
    if (peer.id != from.id) outbox_->Send(peer.address, walk);
  }
  // Not in the overlay ourselves yet (our JOIN unanswered): the walks above
  // stay among the nodes that joined through us. Hand the joiner to our
  // contact as well (a walk that ends there), so that it gets a link of its
  // own into the overlay instead of hanging off ours.
  if (join_unanswered_ && !contacts_.empty()) {
    outbox_->Send(contacts_.back(), ForwardJoinFrame{from, 0});
  }
}

// The sender holds us in its active view; symmetry says we must hold it.
void Membership::HandleJoinReply(Timestamp now, const PeerEntry& from) {
  NoteUplinkProof();
  join_unanswered_ = false;  // our JOIN got in (at the contact or a walk)
  if (now < join_watch_until_ && join_replies_ < 2 &&
      (join_replies_ == 0 || from.id != join_link_)) {
    // A second link disarms the lone join link rule for good.
    if (join_replies_++ == 0) join_link_ = from.id;
  }
  if (ActiveIndex(from.id) >= 0) {
    next_rejoin_at_ = Timestamp::Infinite();
    rejoin_backoff_ = 0;
    return;
  }
  AddActive(now, from, /*evict_if_full=*/true);
}

void Membership::HandleForwardJoin(Timestamp now, const PeerEntry& from,
                                   const ForwardJoinFrame& frame) {
  const PeerEntry& joiner = frame.joiner;
  if (joiner.id == self_.id || !joiner.address.valid()) return;
  // The walk ends here when its time is up or we have no one else to send
  // it to (only the sender is active).
  if (frame.time_to_live == 0 || active_.size() <= 1) {
    AcceptJoiner(now, joiner);
    return;
  }
  if (frame.time_to_live == config_.passive_random_walk_length) {
    AddPassive(joiner);
  }
  const PeerEntry* next = RandomActiveExcept(from.id, joiner.id);
  if (next == nullptr) {
    AcceptJoiner(now, joiner);
    return;
  }
  outbox_->Send(
      next->address,
      ForwardJoinFrame{joiner, static_cast<uint8_t>(frame.time_to_live - 1)});
}

void Membership::HandleNeighbor(Timestamp now, const PeerEntry& from,
                                const NeighborFrame& frame) {
  if (ActiveIndex(from.id) >= 0) {
    // Already neighbours (our earlier reply was lost): confirm again.
    outbox_->Send(from.address, NeighborReplyFrame{true});
    return;
  }
  const bool accept =
      frame.high_priority || active_.size() < config_.active_view_size;
  if (accept) AddActive(now, from, /*evict_if_full=*/true);
  outbox_->Send(from.address, NeighborReplyFrame{accept});
}

void Membership::HandleNeighborReply(Timestamp now, const PeerEntry& from,
                                     const NeighborReplyFrame& frame) {
  const int pending_index = PendingIndex(from.id);
  const int active_index = ActiveIndex(from.id);
  if (pending_index >= 0) {
    NoteUplinkProof();
    pending_.erase(pending_.begin() + pending_index);
    if (frame.accepted) {
      if (active_index < 0) TakeAcceptingPeer(now, from);
      return;
    }
    RequestNeighbors(now, from.id);  // rejected: try another candidate
    return;
  }
  if (active_index >= 0) {
    if (frame.accepted) return;  // a duplicate confirmation
    // The peer does not hold us (see the PING rule): drop the one-sided
    // link, keep the peer as a backup.
    RemoveActive(now, static_cast<size_t>(active_index),
                 PeerDownCause::kRejected, /*to_passive=*/true);
    OnActiveLoss(now, from.id);
    return;
  }
  ++counters_->unknown_sender_frames;  // an answer to nothing we asked
}

void Membership::HandleDisconnect(Timestamp now, const PeerEntry& from,
                                  const DisconnectFrame& frame) {
  const bool leaving = frame.reason == DisconnectReason::kLeaving;
  if (leaving) {
    RemovePending(from.id);
    RemovePassive(from.id);
  }
  const int index = ActiveIndex(from.id);
  if (index < 0) {
    ++counters_->unknown_sender_frames;
    return;
  }
  RemoveActive(now, static_cast<size_t>(index),
               leaving ? PeerDownCause::kLeft : PeerDownCause::kEvicted,
               /*to_passive=*/!leaving);
  OnActiveLoss(now, from.id,
               frame.reason == DisconnectReason::kSwapped ? &frame.replacement
                                                          : nullptr);
}

void Membership::HandleShuffle(Timestamp now, const PeerEntry& from,
                               const ShuffleFrame& frame) {
  // Our own walk came back, or an origin we could not answer.
  if (frame.origin.id == self_.id || !frame.origin.address.valid()) return;
  if (frame.time_to_live > 0 && active_.size() > 1) {
    const PeerEntry* next = RandomActiveExcept(from.id, frame.origin.id);
    if (next != nullptr) {
      // The list's storage is the outbox's spare (see Outbox::Park).
      ShuffleFrame forward{frame.origin,
                           static_cast<uint8_t>(frame.time_to_live - 1),
                           outbox_->BorrowPeerList()};
      forward.peers.assign(frame.peers.begin(), frame.peers.end());
      outbox_->Send(next->address, std::move(forward));
      return;
    }
  }
  // The walk ends here: answer with as many passive peers as we received
  // (the origin counts as one), then keep what we learnt.
  const size_t received = std::min(frame.peers.size(), kMaxListEntries - 1);
  const size_t count = std::min(received + 1, passive_.size());
  // A shuffle's sample (a few peers) fits on the stack, as do its picks.
  absl::InlinedVector<uint64_t, 16> picks(count);
  rng_->PickK(count, passive_.size(), std::span<uint64_t>(picks));
  ShuffleReplyFrame reply{outbox_->BorrowPeerList()};
  reply.peers.reserve(count);
  absl::InlinedVector<NodeId, 16> sent;
  for (uint64_t i : picks) {
    reply.peers.push_back(passive_[i]);
    sent.push_back(passive_.id(i));
  }
  outbox_->Send(frame.origin.address, std::move(reply));
  EvictionPreference prefer{sent};
  AddPassive(frame.origin, &prefer);
  Integrate(std::span<const PeerEntry>(frame.peers.data(), received), &prefer);
  if (active_.empty()) {
    // Isolated: the origin is alive, ask it (and any other new candidate)
    // now rather than at the next repair round.
    repair_backoff_ = 0;
    neighbor_attempts_left_ = kNeighborAttemptsPerRound;
    RequestNeighbors(now, std::nullopt);
  }
}

void Membership::HandleShuffleReply(const ShuffleReplyFrame& frame) {
  // Not checked against an outstanding shuffle: a late reply still carries
  // live peers, and the passive view is only a hint.
  NoteUplinkProof();  // only a SHUFFLE of ours is answered
  EvictionPreference prefer{last_shuffle_sent_};
  Integrate(frame.peers, &prefer);
  last_shuffle_sent_.clear();
}

void Membership::HandlePing(Timestamp now, const PeerEntry& from,
                            const PingFrame& frame) {
  outbox_->Send(from.address, PongFrame{frame.nonce});
  // Only a node holding us active pings us. If we do not hold it (and have
  // not asked it to), the link is one-sided: take it when we have room (the
  // JOIN_REPLY, NEIGHBOR_REPLY or SWAP_REPLY that told us was lost), else
  // tell it so.
  if (ActiveIndex(from.id) < 0 && PendingIndex(from.id) < 0) {
    if (active_.size() < config_.active_view_size) {
      if (join_unanswered_ && std::find(contacts_.begin(), contacts_.end(),
                                        from.address) != contacts_.end()) {
        join_unanswered_ = false;  // our contact holds us: the JOIN got in
      }
      AddActive(now, from, /*evict_if_full=*/false);
      return;
    }
    outbox_->Send(from.address, NeighborReplyFrame{false});
  }
}

void Membership::HandlePong(Timestamp now, const PeerEntry& from,
                            const PongFrame& frame) {
  const int index = ActiveIndex(from.id);
  if (index < 0) {
    ++counters_->unknown_sender_frames;
    return;
  }
  Liveness& liveness = liveness_[static_cast<size_t>(index)];
  if (liveness.ping_nonce != 0 && liveness.ping_nonce == frame.nonce) {
    NoteUplinkProof();
    const Timestamp before = Due(liveness);
    liveness.ping_nonce = 0;
    liveness.last_heard = std::max(liveness.last_heard, now);
    liveness.ping_at = QuietPingAt(liveness.last_heard, from.id);
    NoteLivenessChange(before, liveness);
  }
}

// A full active view takes the swapping node by handing one of its peers
// over to the offer; a view with room simply takes it.
void Membership::HandleSwap(Timestamp now, const PeerEntry& from,
                            const SwapFrame& frame) {
  if (ActiveIndex(from.id) >= 0) {
    // Already neighbours (our earlier reply was lost): confirm again.
    outbox_->Send(from.address, SwapReplyFrame{true, std::nullopt});
    return;
  }
  if (active_.size() < config_.active_view_size) {
    AddActive(now, from, /*evict_if_full=*/false);
    outbox_->Send(from.address, SwapReplyFrame{true, std::nullopt});
    return;
  }
  // The offer is the sender itself when it asks us to split a link.
  const PeerEntry& offer = frame.offer;
  const PeerEntry* partner = offer.id == self_.id || ActiveIndex(offer.id) >= 0
                                 ? nullptr
                                 : RandomActiveExcept(from.id, offer.id);
  if (partner == nullptr) {
    outbox_->Send(from.address, SwapReplyFrame{false, std::nullopt});
    return;
  }
  const PeerEntry dropped = *partner;
  outbox_->Send(dropped.address,
                DisconnectFrame{DisconnectReason::kSwapped, offer});
  RemoveActive(now, static_cast<size_t>(ActiveIndex(dropped.id)),
               PeerDownCause::kEvicted, /*to_passive=*/true);
  AddActive(now, from, /*evict_if_full=*/false);
  outbox_->Send(from.address, SwapReplyFrame{true, dropped});
}

// Accepted: the offered peer makes room for the new one and is told whom
// to link with instead (the peer the other side dropped).
void Membership::HandleSwapReply(Timestamp now, const PeerEntry& from,
                                 const SwapReplyFrame& frame) {
  const int pending_index = PendingIndex(from.id);
  if (pending_index < 0 || !pending_[static_cast<size_t>(pending_index)].swap) {
    ++counters_->unknown_sender_frames;  // an answer to nothing we asked
    return;
  }
  NoteUplinkProof();
  const NodeId offer = pending_[static_cast<size_t>(pending_index)].offer;
  pending_.erase(pending_.begin() + pending_index);
  if (!frame.accepted) {
    RequestNeighbors(now, from.id);  // in case a peer was lost meanwhile
    return;
  }
  ++counters_->swaps_accepted;
  if (ActiveIndex(from.id) >= 0) return;
  if (offer == self_.id) {
    TakeAcceptingPeer(now, from);  // a split: the partner will ask us too
    return;
  }
  if (active_.size() >= config_.active_view_size) {
    const int offer_index = ActiveIndex(offer);
    if (offer_index < 0) {
      EvictRandomActive(now);
    } else {
      const PeerEntry dropped = active_[static_cast<size_t>(offer_index)];
      DisconnectFrame disconnect{DisconnectReason::kEvicted};
      if (frame.partner && frame.partner->id != offer &&
          frame.partner->id != self_.id) {
        disconnect =
            DisconnectFrame{DisconnectReason::kSwapped, *frame.partner};
      }
      outbox_->Send(dropped.address, disconnect);
      RemoveActive(now, static_cast<size_t>(offer_index),
                   PeerDownCause::kEvicted, /*to_passive=*/true);
    }
  }
  AddActive(now, from, /*evict_if_full=*/true);
}

// --- Timers ----------------------------------------------------------------

void Membership::StartTimers(Timestamp now) {
  if (next_shuffle_at_.IsInfinite()) {
    const uint64_t period_us =
        static_cast<uint64_t>(config_.shuffle_period.ToMicros());
    next_shuffle_at_ =
        now + Duration::Micros(static_cast<int64_t>(
                  1 + rng_->UniformBelow(std::max<uint64_t>(period_us, 1))));
  }
  if (next_repair_at_.IsInfinite()) {
    next_repair_at_ = now + config_.repair_period;
  }
  if (next_swap_at_.IsInfinite()) ScheduleSwapWithin(now);
  SyncPeriodic();
}

// The first swap after a start or a reset: a random point of one swap
// interval, so that nodes started (or disturbed) together do not swap
// together.
void Membership::ScheduleSwapWithin(Timestamp now) {
  if (config_.swap_period <= Duration::Zero()) return;
  const uint64_t interval_us = static_cast<uint64_t>(
      (config_.swap_period * (int64_t{1} << swap_backoff_)).ToMicros());
  next_swap_at_ =
      std::min(next_swap_at_, now + Duration::Micros(static_cast<int64_t>(
                                        1 + rng_->UniformBelow(interval_us))));
  SyncPeriodic();
}

// Pings peers silent for their ping delay (again every keep_alive_interval
// while they stay silent) and drops those silent for probe_timeout.
void Membership::CheckLiveness(Timestamp now) {
  NodeId lost;
  bool any_lost = false;
  Timestamp due = Timestamp::Infinite();
  size_t i = 0;
  while (i < active_.size()) {
    Liveness& liveness = liveness_[i];
    if (now >= liveness.last_heard + config_.probe_timeout) {
      lost = active_[i].id;
      any_lost = true;
      swap_backoff_ = 0;  // a failure, maybe a partition: swap often again
      RemoveActive(now, i, PeerDownCause::kTimeout,
                   /*to_passive=*/!TakeBlame());
      continue;
    }
    if (now >= liveness.ping_at) {
      liveness.ping_nonce = rng_->Next64() | 1;  // never 0
      liveness.ping_at =
          PingAt(liveness.last_heard, now + config_.keep_alive_interval);
      outbox_->Send(active_[i].address, PingFrame{liveness.ping_nonce});
    }
    due = std::min(due, Due(liveness));
    ++i;
  }
  if (!any_lost) {
    liveness_due_ = due;
  } else {
    // The removals rescanned the view behind the loop's back.
    RecomputeLivenessDue();
    ScheduleSwapWithin(now);
    OnActiveLoss(now, lost);
  }
}

// Paper: a candidate that does not answer is dead, so it leaves the
// passive view (unless we blamed enough peers without proof that our own
// datagrams get out: TakeBlame); then the next candidate is tried.
void Membership::ExpireNeighborRequests(Timestamp now) {
  bool any_expired = false;
  size_t i = 0;
  while (i < pending_.size()) {
    if (now >= pending_[i].deadline) {
      const NodeId candidate = pending_[i].peer.id;
      pending_.erase(pending_.begin() + static_cast<ptrdiff_t>(i));
      if (TakeBlame()) RemovePassive(candidate);
      any_expired = true;
      continue;
    }
    ++i;
  }
  if (any_expired) RequestNeighbors(now, std::nullopt);
}

void Membership::RunRepairRound(Timestamp now) {
  next_repair_at_ =
      now + config_.repair_period * (int64_t{1} << repair_backoff_);
  if (active_.size() >= config_.active_view_size) return;
  neighbor_attempts_left_ = kNeighborAttemptsPerRound;
  RequestNeighbors(now, std::nullopt);
  if (Stranded() && next_rejoin_at_.IsInfinite() && !contacts_.empty()) {
    next_rejoin_at_ = now + RejoinDelay();  // see MaybeRejoin
  }
  // Back off until something changes (a loss or an acceptance resets it):
  // an under-full view among full ones must not knock every 500 ms forever.
  repair_backoff_ =
      std::min<uint8_t>(repair_backoff_ + 1, kMaxRepairBackoffShift);
}

void Membership::RunShuffle(Timestamp now) {
  next_shuffle_at_ = now + config_.shuffle_period;
  if (active_.empty()) return;
  const size_t from_active =
      std::min(config_.shuffle_active_count, active_.size());
  const size_t from_passive =
      std::min(config_.shuffle_passive_count, passive_.size());
  // The sample's indices, on the stack: active ones, then passive ones.
  absl::InlinedVector<uint64_t, 16> picks(from_active + from_passive);
  const std::span<uint64_t> sample(picks);
  rng_->PickK(from_active, active_.size(), sample.first(from_active));
  rng_->PickK(from_passive, passive_.size(), sample.subspan(from_active));
  ShuffleFrame shuffle{self_, config_.passive_random_walk_length,
                       outbox_->BorrowPeerList()};
  shuffle.peers.reserve(picks.size());
  last_shuffle_sent_.clear();
  last_shuffle_sent_.reserve(picks.size());  // one step, not doubling ones
  for (size_t k = 0; k < picks.size(); ++k) {
    const PeerEntry peer =
        k < from_active ? active_[picks[k]] : passive_[picks[k]];
    shuffle.peers.push_back(peer);
    last_shuffle_sent_.push_back(peer.id);
  }
  const PeerEntry& target = active_[rng_->UniformBelow(active_.size())];
  outbox_->Send(target.address, std::move(shuffle));
  // The probe: a one-hop shuffle carrying only ourselves to one passive
  // peer, answered with one of its passive peers. A node that knows no live
  // node (isolated, its contacts dead) learns of us this way; nothing else
  // would ever reach it while the nodes that know it have full views.
  if (!passive_.empty()) {
    const PeerEntry probed = passive_[rng_->UniformBelow(passive_.size())];
    outbox_->Send(probed.address, ShuffleFrame{self_, 0, {}});
  }
  // A full view with nobody in reserve cannot swap: if the reply to this
  // shuffle brings nobody new either, rejoin through a contact (MaybeRejoin,
  // which checks again). A short view gets here from its repair rounds.
  if (Stranded() && next_rejoin_at_.IsInfinite() && !contacts_.empty()) {
    next_rejoin_at_ = now + RejoinDelay();
  }
}

// Swap: a full view trades one of its links for one with a random passive
// peer (see the file comment). Not while a NEIGHBOR request is out.
void Membership::RunSwap(Timestamp now) {
  next_swap_at_ = now + config_.swap_period * (int64_t{1} << swap_backoff_);
  swap_backoff_ = std::min<uint8_t>(swap_backoff_ + 1, kMaxSwapBackoffShift);
  if (active_.size() < config_.active_view_size || passive_.empty() ||
      !pending_.empty()) {
    return;
  }
  const PeerEntry target = passive_[rng_->UniformBelow(passive_.size())];
  const PeerEntry& offer = active_[rng_->UniformBelow(active_.size())];
  pending_.push_back(NeighborRequest{target, now + config_.neighbor_timeout,
                                     /*swap=*/true, offer.id});
  ++counters_->swaps_sent;
  outbox_->Send(target.address, SwapFrame{offer});
}

// Also when the view is short and nobody is left to ask (Stranded): a few
// nodes holding only each other, their passive views run dry, are an
// island that only a contact can bring back in.
void Membership::MaybeRejoin(Timestamp now) {
  const bool stranded = !active_.empty() && !join_unanswered_ && Stranded();
  if ((!active_.empty() && !join_unanswered_ && !stranded) ||
      contacts_.empty()) {
    next_rejoin_at_ = Timestamp::Infinite();
    return;
  }
  const bool passive_exhausted = passive_.empty() && pending_.empty();
  const bool isolated_too_long =
      !isolated_since_.IsInfinite() &&
      now - isolated_since_ >=
          config_.neighbor_timeout * kIsolationRejoinFactor;
  if (!join_unanswered_ && !passive_exhausted && !isolated_too_long) {
    next_rejoin_at_ = now + RejoinDelay();  // look again later
    return;
  }
  // A stranded node asks only contacts it does not hold: a JOIN to an
  // active peer just confirms the link.
  const Address* contact = NextRejoinContact(/*skip_held=*/stranded);
  if (contact == nullptr) {
    if (stranded && active_.size() < config_.active_view_size) {
      // Every contact is an active peer: join again through the overlay, a
      // JOIN walk of our own from a random active peer, whose end takes us.
      const PeerEntry& via = active_[rng_->UniformBelow(active_.size())];
      outbox_->Send(via.address,
                    ForwardJoinFrame{self_, config_.active_random_walk_length});
      rejoin_backoff_ =
          std::min<uint8_t>(rejoin_backoff_ + 1, kMaxRejoinBackoffShift);
      next_rejoin_at_ = now + RejoinDelay();
      return;
    }
    next_rejoin_at_ = Timestamp::Infinite();
    return;
  }
  ++counters_->rejoins;
  outbox_->Send(*contact, JoinFrame{});
  if (join_unanswered_ && fast_join_retries_ < kFastJoinRetries) {
    ++fast_join_retries_;  // not in yet: retry soon (kFastJoinRetries)
  } else {
    rejoin_backoff_ =
        std::min<uint8_t>(rejoin_backoff_ + 1, kMaxRejoinBackoffShift);
  }
  next_rejoin_at_ = now + RejoinDelay();
}

const Address* Membership::NextRejoinContact(bool skip_held) {
  for (size_t k = 0; k < contacts_.size(); ++k) {
    const size_t index = (rejoin_cursor_ + k) % contacts_.size();
    if (skip_held && Holds(contacts_[index])) continue;
    rejoin_cursor_ = static_cast<uint8_t>((index + 1) % contacts_.size());
    return &contacts_[index];
  }
  return nullptr;
}

bool Membership::Holds(const Address& address) const {
  return std::any_of(active_.begin(), active_.end(),
                     [&](const PeerEntry& p) { return p.address == address; });
}

// On an idle link both ends would ping about once per interval, and with
// jitter often both do. The end with the smaller id pings after
// keep_alive_interval, the other after 1.5 x: while the first is alive its
// pings keep the second quiet, so an idle link costs one PING/PONG pair per
// interval. A probe is repeated every keep_alive_interval while unanswered
// (Liveness::ping_at).
Membership::Liveness Membership::FreshLiveness(Timestamp now,
                                               NodeId peer) const {
  return Liveness{now, QuietPingAt(now, peer), 0};
}

// A node whose JOIN got it one link, soon lost, while nodes join through
// it: what it holds leads back to itself, and its joiners' walks stay
// among them. The JOIN sent again (to the next contact it does not hold,
// round robin over the contacts it was given) gets it that contact's link
// and new walks out. Both conditions keep that rare (about 750 nodes in 10^4 in
// a bootstrap at 10 % loss; a lone link lost alone, about 1,400): each repeated
// JOIN evicts a peer at the contact and at each walk's end, which may be
// another joiner's lone link.
void Membership::MaybeRepeatJoin(Timestamp now) {
  if (!join_link_lost_ || !took_joiner_ || join_replies_ != 1 ||
      join_unanswered_ || contacts_.empty() || now >= join_watch_until_ ||
      ActiveIndex(join_link_) >= 0) {
    return;
  }
  // A contact we hold would only confirm the link: no new walks.
  const Address* contact = NextRejoinContact(/*skip_held=*/true);
  if (contact == nullptr) return;
  join_replies_ = 2;  // once per Join()
  ++counters_->joins_repeated;
  join_unanswered_ = true;
  fast_join_retries_ = 0;
  rejoin_backoff_ = 0;
  outbox_->Send(*contact, JoinFrame{});
  next_rejoin_at_ = now + RejoinDelay();
}

bool Membership::TakeBlame() {
  if (unproven_blames_ < kMaxUnprovenBlames) {
    ++unproven_blames_;
    return true;
  }
  ++counters_->peers_spared;
  return false;
}

Duration Membership::RejoinDelay() const {
  const Duration base =
      std::max(config_.neighbor_timeout, config_.repair_period);
  return base * (int64_t{1} << rejoin_backoff_);
}

// --- View operations -------------------------------------------------------

void Membership::AcceptJoiner(Timestamp now, const PeerEntry& joiner) {
  if (ActiveIndex(joiner.id) >= 0) return;
  if (AddActive(now, joiner, /*evict_if_full=*/true)) {
    outbox_->Send(joiner.address, JoinReplyFrame{});
  }
}

bool Membership::AddActive(Timestamp now, const PeerEntry& peer,
                           bool evict_if_full) {
  if (config_.active_view_size == 0) return false;
  if (active_.size() >= config_.active_view_size) {
    if (!evict_if_full) return false;
    EvictRandomActive(now);
  }
  RemovePassive(peer.id);
  RemovePending(peer.id);
  active_.push_back(peer);
  active_ids_.push_back(peer.id);
  PushLiveness(now, peer.id);
  StartTimers(now);
  isolated_since_ = Timestamp::Infinite();
  if (!join_unanswered_) {
    next_rejoin_at_ = Timestamp::Infinite();
    rejoin_backoff_ = 0;
  }
  EmitUp(now, peer);
  return true;
}

void Membership::EvictRandomActive(Timestamp now) {
  const size_t index = rng_->UniformBelow(active_.size());
  outbox_->Send(active_[index].address,
                DisconnectFrame{DisconnectReason::kEvicted});
  RemoveActive(now, index, PeerDownCause::kEvicted, /*to_passive=*/true);
}

void Membership::RemoveActive(Timestamp now, size_t index, PeerDownCause cause,
                              bool to_passive) {
  const PeerEntry peer = active_[index];
  active_.erase(active_.begin() + static_cast<ptrdiff_t>(index));
  active_ids_.erase(active_ids_.begin() + static_cast<ptrdiff_t>(index));
  liveness_.erase(liveness_.begin() + static_cast<ptrdiff_t>(index));
  RecomputeLivenessDue();
  if (to_passive) AddPassive(peer);
  ++counters_->peers_down;
  EmitDown(now, peer, cause);
  if (join_replies_ == 1 && peer.id == join_link_ && now < join_watch_until_) {
    join_link_lost_ = true;
    MaybeRepeatJoin(now);
  }
}

void Membership::OnActiveLoss(Timestamp now, NodeId lost,
                              const PeerEntry* first) {
  if (active_.empty() && isolated_since_.IsInfinite()) {
    isolated_since_ = now;
    // A new episode: the backoff of a stranded node's walks does not carry
    // over to its JOINs.
    if (!join_unanswered_) rejoin_backoff_ = 0;
    next_rejoin_at_ = now + RejoinDelay();
  }
  repair_backoff_ = 0;
  neighbor_attempts_left_ = kNeighborAttemptsPerRound;
  next_repair_at_ = now + config_.repair_period;
  const bool room = pending_.size() < kMaxPendingNeighbors &&
                    active_.size() + PendingSlots() < config_.active_view_size;
  if (first != nullptr && first->id != self_.id && first->id != lost &&
      first->address.valid() && PendingIndex(first->id) < 0 && room) {
    if (ActiveIndex(first->id) < 0) {
      // A candidate stays in the passive view while its request is out.
      AddPassive(*first);
      SendRequest(now, *first, /*split=*/false);
    } else if (self_.id < first->id) {
      // A swap handed us over to a peer we already hold, and it to us: both
      // one short, and full views refuse a plain NEIGHBOR. The smaller id
      // offers the other to a full view, which takes us and hands one of
      // its peers over to it: both full again.
      if (const std::optional<PeerEntry> candidate = NextCandidate(lost)) {
        SendSwapOffer(now, *candidate, *first);
      }
    }
  }
  RequestNeighbors(now, lost);
}

// Candidates are taken round robin from the passive view (the paper's "try
// the next one"), so a node one short in a swarm of full views finds the
// few others that are short within one pass, instead of redrawing the same
// refusers at random.
//
// With two or more free slots (and at least one peer: an empty view asks
// with high priority instead) the request is a SWAP offering ourselves: a
// full candidate splits one of its links for us, so we gain two peers and
// nobody loses one. Full views refuse a plain NEIGHBOR, so without this a
// few short nodes that only know full ones would stay an island.
void Membership::RequestNeighbors(Timestamp now,
                                  std::optional<NodeId> exclude) {
  while (active_.size() + PendingSlots() < config_.active_view_size &&
         pending_.size() < kMaxPendingNeighbors &&
         neighbor_attempts_left_ > 0) {
    const std::optional<PeerEntry> candidate = NextCandidate(exclude);
    if (!candidate.has_value()) return;
    SendRequest(
        now, *candidate,
        /*split=*/!active_.empty() &&
            active_.size() + PendingSlots() + 2 <= config_.active_view_size);
  }
}

void Membership::SendRequest(Timestamp now, const PeerEntry& candidate,
                             bool split) {
  if (split) {
    SendSwapOffer(now, candidate, self_);
    return;
  }
  --neighbor_attempts_left_;
  pending_.push_back(NeighborRequest{candidate, now + config_.neighbor_timeout,
                                     /*swap=*/false, self_.id});
  outbox_->Send(candidate.address, NeighborFrame{active_.empty()});
}

void Membership::SendSwapOffer(Timestamp now, const PeerEntry& candidate,
                               const PeerEntry& offer) {
  --neighbor_attempts_left_;
  pending_.push_back(NeighborRequest{candidate, now + config_.neighbor_timeout,
                                     /*swap=*/true, offer.id});
  ++counters_->swaps_sent;
  outbox_->Send(candidate.address, SwapFrame{offer});
}

// The peer accepted our request. Filled up while it was out: undo the
// peer's side (it stays in our passive view).
void Membership::TakeAcceptingPeer(Timestamp now, const PeerEntry& peer) {
  if (AddActive(now, peer, /*evict_if_full=*/false)) {
    repair_backoff_ = 0;
  } else {
    outbox_->Send(peer.address, DisconnectFrame{DisconnectReason::kEvicted});
  }
}

size_t Membership::PendingSlots() const {
  size_t slots = 0;
  for (const NeighborRequest& request : pending_) {
    slots += request.swap && request.offer == self_.id ? 2 : 1;
  }
  return slots;
}

std::optional<PeerEntry> Membership::NextCandidate(
    std::optional<NodeId> exclude) {
  const size_t n = passive_.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t index = (repair_cursor_ + k) % n;
    const NodeId id = passive_.id(index);
    if (id == exclude || PendingIndex(id) >= 0) continue;
    repair_cursor_ = static_cast<uint16_t>((index + 1) % n);
    return passive_[index];
  }
  return std::nullopt;
}

bool Membership::AddPassive(const PeerEntry& peer, EvictionPreference* prefer) {
  if (config_.passive_view_size == 0) return false;
  if (peer.id == self_.id || !peer.address.valid()) return false;
  if (ActiveIndex(peer.id) >= 0 || PassiveIndex(peer.id) >= 0) return false;
  if (passive_.size() >= config_.passive_view_size) {
    passive_.EraseAndPush(PassiveEvictionIndex(prefer), peer);
  } else {
    passive_.push_back(peer);
  }
  if (prefer != nullptr) {
    for (size_t j = 0; j < prefer->skippable; ++j) {
      if (prefer->ids[j] == peer.id) {
        prefer->skippable = j;  // back in the view: a candidate again
        break;
      }
    }
  }
  return true;
}

size_t Membership::PassiveEvictionIndex(EvictionPreference* prefer) {
  ++counters_->passive_view_evictions;
  if (prefer != nullptr) {
    // The first preferred id in the view with no request out; every one
    // before it (checked here or known before) is skippable from now on.
    for (size_t j = prefer->skippable; j < prefer->ids.size(); ++j) {
      const NodeId id = prefer->ids[j];
      const int index = PassiveIndex(id);
      if (index >= 0 && PendingIndex(id) < 0) {
        prefer->skippable = j + 1;
        return static_cast<size_t>(index);
      }
    }
    prefer->skippable = prefer->ids.size();
  }
  // A random entry, skipping the (at most kMaxPendingNeighbors) entries a
  // NEIGHBOR request is out for, so their answers still find them.
  size_t index = rng_->UniformBelow(passive_.size());
  for (size_t tries = 0; tries < passive_.size(); ++tries) {
    if (PendingIndex(passive_.id(index)) < 0) break;
    index = (index + 1) % passive_.size();
  }
  return index;
}

void Membership::Integrate(std::span<const PeerEntry> peers,
                           EvictionPreference* prefer) {
  for (const PeerEntry& peer : peers) AddPassive(peer, prefer);
}

void Membership::RemovePassive(NodeId id) {
  const int index = PassiveIndex(id);
  if (index >= 0) passive_.Erase(static_cast<size_t>(index));
}

void Membership::RemovePending(NodeId id) {
  const int index = PendingIndex(id);
  if (index >= 0) pending_.erase(pending_.begin() + index);
}

void Membership::RememberContact(const Address& contact) {
  if (std::find(contacts_.begin(), contacts_.end(), contact) !=
      contacts_.end()) {
    return;
  }
  if (contacts_.size() >= kMaxContacts) {
    // Newer contacts are likelier alive: forget the oldest.
    ++counters_->contacts_dropped;
    contacts_.erase(contacts_.begin());
  }
  contacts_.push_back(contact);
}

// --- Lookups and events ----------------------------------------------------

const PeerEntry* Membership::FindActive(NodeId id) const {
  const int index = ActiveIndex(id);
  return index < 0 ? nullptr : &active_[static_cast<size_t>(index)];
}

int Membership::ActiveIndex(NodeId id) const {
  assert(active_ids_.size() == active_.size());
  for (size_t i = 0; i < active_ids_.size(); ++i) {
    if (active_ids_[i] == id) return static_cast<int>(i);
  }
  return -1;
}

int Membership::PassiveIndex(NodeId id) const { return passive_.Find(id); }

int Membership::PendingIndex(NodeId id) const {
  for (size_t i = 0; i < pending_.size(); ++i) {
    if (pending_[i].peer.id == id) return static_cast<int>(i);
  }
  return -1;
}

const PeerEntry* Membership::RandomActiveExcept(NodeId a, NodeId b) {
  size_t eligible = 0;
  for (const PeerEntry& peer : active_) {
    if (peer.id != a && peer.id != b) ++eligible;
  }
  if (eligible == 0) return nullptr;
  uint64_t k = rng_->UniformBelow(eligible);
  for (const PeerEntry& peer : active_) {
    if (peer.id == a || peer.id == b) continue;
    if (k-- == 0) return &peer;
  }
  return nullptr;
}

void Membership::EmitUp(Timestamp now, const PeerEntry& peer) {
  outbox_->Emit(PeerUpEvent{peer, now});
  listener_->OnNeighborUp(now, peer);
}

void Membership::EmitDown(Timestamp now, const PeerEntry& peer,
                          PeerDownCause cause) {
  outbox_->Emit(PeerDownEvent{peer, cause, now});
  listener_->OnNeighborDown(now, peer, cause);
}

size_t Membership::StateBytes() const {
  return sizeof(*this) + HeapBytes(active_) + HeapBytes(active_ids_) +
         HeapBytes(liveness_) + passive_.HeapBytes() + pending_.HeapBytes() +
         contacts_.HeapBytes() + last_shuffle_sent_.HeapBytes();
}

}  // namespace elara
