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
// vectors borrow and park a per-thread spare (core/spare_buffer.h).
//
// Thread-safety: not thread-safe; owned by one Engine.
#ifndef ELARA_CORE_OUTBOX_H_
#define ELARA_CORE_OUTBOX_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "core/address.h"
#include "core/engine.h"
#include "core/spare_buffer.h"
#include "core/wire.h"

namespace elara {

class Outbox {
 public:
  struct PendingFrame {
    Address to;
    Frame frame;
  };

  // Queues `frame` (any alternative of Frame, or a Frame) for `to`. It is
  // built in its queue slot: a Frame taken by value was moved twice more
  // (into a PendingFrame, then into the vector), each move a visit of the
  // variant (~60 instructions a frame, callgrind).
  template <typename F>
  void Send(const Address& to, F&& frame) {
    BorrowStorage(&pending_);
    pending_.emplace_back(to, std::forward<F>(frame));
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
  std::vector<PendingFrame> pending_;
  std::vector<EngineEvent> events_;
};

}  // namespace elara

#endif  // ELARA_CORE_OUTBOX_H_
