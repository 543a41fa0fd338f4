// File: core/outbox.h
//
// Outbox: where the engine's sub-protocols put what they want to send and
// tell. Frames are queued per destination during one engine call; at the end
// of the call the engine packs them into as few datagrams as fit the
// datagram budget (piggybacking control frames on payload frames) in the
// order they were queued, and moves them to the transmit queue.
//
// A queued GossipFrame's payload span must stay valid until the end of the
// engine call that queued it (the engine flushes before returning).
//
// Storage: between engine calls the outbox holds no heap memory; its
// vectors borrow and park a per-thread spare (core/spare_buffer.h). So do
// the peer lists of the SHUFFLE and SHUFFLE_REPLY frames queued: Park
// hands their storage to the thread's spare, which BorrowPeerList lends
// to the next one (a forwarded or answered shuffle then allocates
// nothing: a malloc and a free, ~240 instructions, callgrind).
//
// Thread-safety: not thread-safe; owned by one Engine.
#ifndef ELARA_CORE_OUTBOX_H_
#define ELARA_CORE_OUTBOX_H_

#include <cstdint>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "core/address.h"
#include "core/engine.h"
#include "core/spare_buffer.h"
#include "core/wire.h"

namespace elara {

class Outbox {
 public:
  struct PendingFrame {
    // `frame` from any alternative of Frame, or a Frame; or, given
    // std::in_place_type<F>, an empty F (see SendEmpty).
    template <typename F>
    PendingFrame(const Address& to, F&& frame)
        : to(to), frame(std::forward<F>(frame)) {}
    template <typename F>
    PendingFrame(const Address& to, std::in_place_type_t<F> type)
        : to(to), frame(type) {}

    Address to;
    Frame frame;
  };

  // Queues `frame` (any alternative of Frame, or a Frame) for `to`. It is
  // built in its queue slot: a Frame taken by value was moved twice more
  // (into a PendingFrame, then into the vector), each move a visit of the
  // variant (~60 instructions a frame, callgrind).
  template <typename F>
  void Send(const Address& to, F&& frame) {
    using Type = std::remove_cvref_t<F>;
    if constexpr (std::is_same_v<Type, ShuffleFrame> ||
                  std::is_same_v<Type, ShuffleReplyFrame> ||
                  std::is_same_v<Type, Frame>) {
      holds_peer_lists_ = true;
    }
    BorrowPending();
    pending_.emplace_back(to, std::forward<F>(frame));
  }
  // Queues an empty frame of type F for `to` and returns it, to be filled
  // in its queue slot (valid until the next Send or SendEmpty): a frame
  // whose list is built first is moved in once more (an IHAVE's inline
  // list: ~20 instructions, callgrind).
  template <typename F>
  F& SendEmpty(const Address& to) {
    static_assert(!std::is_same_v<F, ShuffleFrame> &&
                  !std::is_same_v<F, ShuffleReplyFrame>);  // see Send
    BorrowPending();
    return std::get<F>(pending_.emplace_back(to, std::in_place_type<F>).frame);
  }
  // Empty storage for the peer list of a SHUFFLE or SHUFFLE_REPLY frame
  // about to be queued: the thread's spare, if any.
  static std::vector<PeerEntry> BorrowPeerList() {
    std::vector<PeerEntry> list;
    BorrowStorage(&list);
    return list;
  }
  // Queues `event` (any alternative of EngineEvent), built in its queue
  // slot like a frame.
  template <typename E>
  void Emit(E&& event) {
    BorrowStorage(&events_);
    events_.emplace_back(std::forward<E>(event));
  }
  // True when nothing was queued since the last Park (no storage borrowed,
  // so both queues are empty): most engine calls, whose end then has
  // nothing to flush.
  bool idle() const {
    return pending_.capacity() == 0 && events_.capacity() == 0;
  }
  // Empties both queues and gives their storage back to the thread's spare.
  void Park() {
    if (holds_peer_lists_) ParkPeerLists();
    ParkStorage(&pending_);
    ParkStorage(&events_);
  }

  // The engine takes what was queued, then calls Park() (which empties
  // the outbox and hands its storage to the thread's spare).
  std::vector<PendingFrame>& pending() { return pending_; }
  const std::vector<PendingFrame>& pending() const { return pending_; }
  std::vector<EngineEvent>& events() { return events_; }
  // Bytes the outbox holds on to between calls (its vectors' capacity).
  size_t CapacityBytes() const {
    return pending_.capacity() * sizeof(PendingFrame) +
           events_.capacity() * sizeof(EngineEvent);
  }

 private:
  // BorrowStorage for the frames' queue, its swap inline too: the first
  // frame of nearly every engine call that sends takes the spare, and the
  // out-of-line swap cost ~18 instructions a call (callgrind).
  [[gnu::always_inline]] void BorrowPending() {
    if (pending_.capacity() == 0) pending_.swap(SpareStorage<PendingFrame>());
  }
  // Hands the storage of the queued frames' peer lists to the thread's
  // spare, when larger than the spare's (which the frame then frees).
  // Out of line: a few calls in a hundred.
  [[gnu::noinline]] void ParkPeerLists() {
    holds_peer_lists_ = false;
    std::vector<PeerEntry>& spare = SpareStorage<PeerEntry>();
    for (PendingFrame& item : pending_) {
      std::vector<PeerEntry>* list = nullptr;
      if (auto* shuffle = std::get_if<ShuffleFrame>(&item.frame)) {
        list = &shuffle->peers;
      } else if (auto* reply = std::get_if<ShuffleReplyFrame>(&item.frame)) {
        list = &reply->peers;
      }
      if (list != nullptr && list->capacity() > spare.capacity()) {
        list->clear();
        list->swap(spare);
      }
    }
  }

  std::vector<PendingFrame> pending_;
  std::vector<EngineEvent> events_;
  // A SHUFFLE or SHUFFLE_REPLY frame (maybe) queued since the last Park.
  bool holds_peer_lists_ = false;
};

}  // namespace elara

#endif  // ELARA_CORE_OUTBOX_H_
