// The Engine glues the sub-protocols together and owns everything they
// share: the PRNG, the counters, the outbox, and the bounded output queues.
//
// Pipeline of HandleDatagram (ARCHITECTURE.md): decode and validate ->
// dispatch by frame type (1-15 membership, 16-31 broadcast, 32-47 state) ->
// the sub-protocol updates its state -> Flush() packs what they queued into
// datagrams, one destination at a time, in the order it was queued.
//
// State (StateSync) draws from its own PRNG, seeded from the engine's seed
// without consuming the engine's stream, and schedules nothing while its
// store is empty: an engine that never touches state behaves, bit for bit,
// as one without it. So it is created only when first needed (a state
// command or frame): an engine that never sees state saves its ~600 bytes.
#include "core/engine.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <memory>
#include <new>
#include <type_traits>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/membership.h"
#include "core/outbox.h"
#include "core/plumtree.h"
#include "core/random.h"
#include "core/spare_buffer.h"
#include "core/state_sync.h"

namespace elara {

const char* PeerDownCauseName(PeerDownCause cause) {
  switch (cause) {
    case PeerDownCause::kTimeout:
      return "timeout";
    case PeerDownCause::kLeft:
      return "left";
    case PeerDownCause::kEvicted:
      return "evicted";
    case PeerDownCause::kDetected:
      return "detected";
    case PeerDownCause::kRejected:
      return "rejected";
  }
  return "unknown";
}

namespace {

bool IsMembershipFrame(FrameType type) {
  return static_cast<uint8_t>(type) < 16;
}
bool IsStateFrame(FrameType type) {
  const auto t = static_cast<uint8_t>(type);
  return t >= 32 && t < 48;
}

uint64_t StateSeed(uint64_t seed) {
  uint64_t state = seed ^ 0x57a7e5eedull;
  return SplitMix64(&state);
}

// A FIFO over a vector: cheap when drained after every call, and no
// std::deque (whose empty footprint is ~600 bytes, times a million nodes).
template <typename T>
class DrainQueue {
 public:
  size_t size() const { return items_.size() - head_; }
  void Push(T item) {
    BorrowStorage(&items_);
    items_.push_back(std::move(item));
  }
  std::optional<T> Pop() {
    if (head_ == items_.size()) return std::nullopt;
    T item = std::move(items_[head_++]);
    if (head_ == items_.size()) {
      ParkStorage(&items_);  // an idle engine keeps no queue storage
      head_ = 0;
    }
    return item;
  }
  // Moves every item of *items to the back of the queue, oldest first,
  // while the queue holds fewer than `bound`; returns how many did not fit.
  // Leaves *items empty. An empty queue takes the whole vector instead: a
  // Push per item found no spare storage (the outbox holds it), so each
  // call that queued an event paid a malloc and, at the last Pop, a free.
  size_t Append(std::vector<T>* items, size_t bound) {
    if (size() == 0 && items->size() <= bound) {
      assert(items_.empty() && head_ == 0);
      items_.swap(*items);
      return 0;
    }
    size_t dropped = 0;
    for (T& item : *items) {
      if (size() >= bound) {
        ++dropped;
        continue;
      }
      Push(std::move(item));
    }
    items->clear();
    return dropped;
  }
  // Calls handle(std::move(item)) for every queued item, oldest first,
  // then empties the queue. Out of line, so that a caller that finds the
  // queue empty (most calls) pays no frame for it.
  template <typename Handle>
  [[gnu::noinline]] void Drain(Handle handle) {
    for (size_t i = head_; i < items_.size(); ++i) handle(std::move(items_[i]));
    ParkStorage(&items_);
    head_ = 0;
  }
  size_t CapacityBytes() const { return items_.capacity() * sizeof(T); }

 private:
  std::vector<T> items_;
  size_t head_ = 0;
};

// The transmit queue: the finished datagrams back to back in one byte
// buffer, each behind a header that holds its destination and length.
// Flush writes each datagram straight into it (Append, or Reserve then
// Commit for a frame sent alone); DrainTransmits
// hands out views of it. Queued as a Transmit each (its own vector,
// recycled through a per-thread list, destroyed when the queue emptied),
// datagram handling cost ~130 instructions more per datagram (callgrind,
// 10,000 simulated nodes); the headers share the bytes' buffer, so that a
// call borrows and parks one buffer, not two. Storage is borrowed and
// parked like the other queues (an idle engine holds none), as a bare
// buffer rather than a vector: handing a vector to the thread's spare and
// back cost ~25 instructions more per engine call that sent (callgrind).
// Only [head_, end_) is queued, so writing a datagram never pays for
// zero-filling the bytes it overwrites. A datagram with the very bytes of
// the one queued before it (a gossip forwarded to each eager peer) is
// queued as a header that points back at them (AppendCopyOfLast): each
// copy cost its encoding again and a memcpy of its payload.
class TransmitQueue {
 public:
  size_t size() const { return count_; }
  // Queues a datagram of `size` bytes for `to` and returns where its bytes
  // go: the caller writes all of them there before calling the queue again.
  // The rare work (dropping a popped prefix, growing) is MakeRoom's, out
  // of line (as one function, a datagram cost ~20 instructions more: a
  // stack frame and its canary, callgrind).
  uint8_t* Append(const Address& to, size_t size) {
    uint8_t* const out = Reserve(size);
    Commit(to, size);
    return out;
  }
  // Append in two steps, for a caller that learns the size as it writes:
  // room for a datagram of up to `max_size` bytes, where the caller writes
  // it; then Commit queues it for `to` with its `size` (<= max_size).
  // Without Commit nothing is queued (see ParkIfEmpty).
  uint8_t* Reserve(size_t max_size) {
    Borrow();
    const size_t bytes = RecordBytes(max_size);
    if (head_ > 0 || end_ + bytes > capacity_) MakeRoom(bytes);
    return bytes_.get() + end_ + sizeof(Header);
  }
  void Commit(const Address& to, size_t size) {
    new (bytes_.get() + end_)
        Header{to, static_cast<uint32_t>(size), 0, 0, nullptr};
    newest_ = end_;
    end_ += RecordBytes(size);
    ++count_;
  }
  // Hands the buffer back when nothing is queued: a Reserve not committed
  // leaves it borrowed, which only Drain and Pop would park.
  void ParkIfEmpty() {
    if (count_ == 0) Park();
  }
  // Size of the newest datagram queued. REQUIRES: size() > 0.
  size_t NewestSize() const { return HeaderAt(newest_).size; }
  // Notes that the newest datagram ends with a copy of `payload` (see
  // Engine::DrainedPayload). REQUIRES: size() > 0, and its last
  // payload.size() bytes are written from there.
  void NoteNewestPayload(std::span<const uint8_t> payload) {
    Header& newest =
        *std::launder(reinterpret_cast<Header*>(bytes_.get() + newest_));
    newest.payload_bytes = static_cast<uint32_t>(payload.size());
    newest.payload = payload.data();
  }
  // Queues for `to` a datagram with the bytes of the newest one queued.
  // REQUIRES: size() > 0.
  void AppendCopyOfLast(const Address& to) {
    assert(count_ > 0);
    const size_t bytes = RecordBytes(0);
    if (head_ > 0 || end_ + bytes > capacity_) MakeRoom(bytes);
    const Header& newest = HeaderAt(newest_);
    const size_t bytes_at = BytesOffset(newest_, newest);
    new (bytes_.get() + end_)
        Header{to, newest.size,
               static_cast<uint32_t>(end_ + sizeof(Header) - bytes_at),
               newest.payload_bytes, newest.payload};
    newest_ = end_;
    end_ += bytes;
    ++count_;
  }
  // Calls send(to, bytes) for every queued datagram, oldest first, then
  // empties the queue; `to` lies in the datagram's record (see
  // PayloadOf). Out of line, as DrainQueue::Drain.
  template <typename Send>
  [[gnu::noinline]] void Drain(Send send) {
    size_t offset = head_;
    for (size_t left = count_; left > 0; --left) {
      const Header& header = HeaderAt(offset);
      send(header.to, BytesOf(offset, header));
      offset += RecordBytes(header);
    }
    Park();
  }
  // The payload noted for the datagram whose destination Drain handed
  // out as `to`, while send runs (empty: none).
  static std::span<const uint8_t> PayloadOf(const Address& to) {
    static_assert(std::is_standard_layout_v<Header> &&
                  offsetof(Header, to) == 0);
    const Header& header = *reinterpret_cast<const Header*>(&to);
    return {header.payload, header.payload_bytes};
  }
  // The oldest datagram, copied into `buffer` (whose storage it reuses).
  std::optional<Transmit> Pop(std::vector<uint8_t> buffer) {
    if (count_ == 0) return std::nullopt;
    const Header& header = HeaderAt(head_);
    assert(header.back == 0);  // the oldest datagram holds its bytes
    const Address to = header.to;
    const std::span<const uint8_t> bytes = BytesOf(head_, header);
    buffer.assign(bytes.begin(), bytes.end());
    if (--count_ == 0) {
      Park();
    } else {
      PopHolder();
    }
    return Transmit{to, std::move(buffer)};
  }
  size_t CapacityBytes() const { return capacity_; }

 private:
  struct Header {
    Address to;
    uint32_t size;  // of the datagram
    // 0: the datagram's bytes follow the header. Else they are an earlier
    // datagram's, `back` bytes before the end of this header.
    uint32_t back;
    // Its last payload_bytes bytes were copied from `payload` (0: none
    // noted). See Engine::DrainedPayload.
    uint32_t payload_bytes;
    const uint8_t* payload;
  };
  static_assert(std::is_trivially_copyable_v<Header>);
  // Bytes of a queued datagram of `size` bytes with its header, padded so
  // that every header is aligned (the buffer is, and records are laid back
  // to back): Drain hands out each header's address in place, where a
  // copy on the stack cost a canary and ~10 instructions a call.
  static size_t RecordBytes(size_t size) {
    constexpr size_t kAlign = alignof(Header);
    static_assert(sizeof(Header) % kAlign == 0 &&
                  kAlign <= __STDCPP_DEFAULT_NEW_ALIGNMENT__);
    return (sizeof(Header) + size + kAlign - 1) & ~(kAlign - 1);
  }
  static size_t RecordBytes(const Header& header) {
    return RecordBytes(header.back == 0 ? header.size : 0);
  }
  // Where the bytes of the datagram whose header is at `offset` start.
  static size_t BytesOffset(size_t offset, const Header& header) {
    return offset + sizeof(Header) - header.back;
  }

  // A buffer and its size in bytes (all of it writable; none zeroed).
  struct Buffer {
    std::unique_ptr<uint8_t[]> bytes;
    size_t capacity = 0;
  };
  // The thread's parked buffer (see Park).
  static Buffer& Spare() {
    static thread_local Buffer spare;
    return spare;
  }
  void Borrow() {
    if (bytes_ != nullptr) return;
    Buffer& spare = Spare();
    bytes_ = std::move(spare.bytes);
    capacity_ = std::exchange(spare.capacity, 0);
  }
  // Drops the oldest datagram, which holds its bytes. Copies of it follow
  // it (AppendCopyOfLast queues them right after it or after one another):
  // the first becomes the holder, its header placed just before the bytes,
  // moved up to end where its header ended, and the others point at them
  // there. So no queued copy points before head_, and MakeRoom may drop
  // what lies there. Rare: only a driver that polls while copies are queued.
  void PopHolder() {
    const size_t holder = head_;
    const Header& popped = HeaderAt(holder);
    const size_t next = holder + RecordBytes(popped);
    if (HeaderAt(next).back == 0) {
      head_ = next;
      return;
    }
    const Address to = HeaderAt(next).to;
    const uint32_t size = popped.size;
    const size_t old_bytes = BytesOffset(holder, popped);
    const size_t new_header = holder + sizeof(Header);
    std::memmove(bytes_.get() + new_header + sizeof(Header),
                 bytes_.get() + old_bytes, size);
    new (bytes_.get() + new_header)
        Header{to, size, 0, popped.payload_bytes, popped.payload};
    if (newest_ == next) newest_ = new_header;
    head_ = new_header;
    // The other copies, after the former copy's header (now the holder's
    // record end), point at the bytes' new place.
    size_t offset = next + sizeof(Header);
    for (size_t left = count_ - 1; left > 0; --left) {
      Header& copy =
          *std::launder(reinterpret_cast<Header*>(bytes_.get() + offset));
      if (copy.back == 0) break;
      copy.back -= sizeof(Header);
      offset += sizeof(Header);
    }
  }
  // Makes room for `bytes` more after end_.
  [[gnu::noinline]] void MakeRoom(size_t bytes) {
    // A driver that polls some datagrams and pushes more before the queue
    // is empty would otherwise grow bytes_ by what it popped: drop the
    // popped prefix once it is half the buffer (amortised O(1) a byte).
    // (No queued copy points before head_: see Pop.)
    if (head_ > 0 && head_ >= end_ / 2) {
      std::memmove(bytes_.get(), bytes_.get() + head_, end_ - head_);
      end_ -= head_;
      newest_ -= head_;  // queued, so at or after head_
      head_ = 0;
    }
    // At least doubling (a thread's buffer soon stops growing).
    if (end_ + bytes > capacity_) {
      const size_t capacity = std::max(end_ + bytes, 2 * capacity_);
      auto grown = std::make_unique_for_overwrite<uint8_t[]>(capacity);
      if (end_ > 0) std::memcpy(grown.get(), bytes_.get(), end_);
      bytes_ = std::move(grown);
      capacity_ = capacity;
    }
  }
  // The header Append placed at `offset` (aligned, see RecordBytes).
  const Header& HeaderAt(size_t offset) const {
    return *std::launder(
        reinterpret_cast<const Header*>(bytes_.get() + offset));
  }
  std::span<const uint8_t> BytesOf(size_t offset, const Header& header) const {
    return std::span<const uint8_t>(bytes_.get() + BytesOffset(offset, header),
                                    header.size);
  }
  // Empties the queue and leaves it without storage: the larger of its
  // buffer and the thread's spare becomes the spare, the other is freed.
  void Park() {
    head_ = 0;
    end_ = 0;
    newest_ = 0;
    count_ = 0;
    if (bytes_ == nullptr) return;
    Buffer& spare = Spare();
    if (capacity_ > spare.capacity) {
      std::swap(bytes_, spare.bytes);
      std::swap(capacity_, spare.capacity);
    }
    bytes_.reset();
    capacity_ = 0;
  }

  std::unique_ptr<uint8_t[]> bytes_;  // only [head_, end_) is queued
  size_t capacity_ = 0;               // bytes_'s size
  size_t head_ = 0;                   // offset of the oldest datagram's header
  size_t end_ = 0;                    // end of the newest datagram
  size_t newest_ = 0;                 // offset of its header
  size_t count_ = 0;                  // datagrams queued
};

// Flush's plan of one call's datagrams (see Engine::Impl::Flush).
constexpr uint32_t kNoFrame = ~uint32_t{0};
struct PlannedFrame {
  uint32_t index;            // in the outbox
  uint32_t next = kNoFrame;  // the next frame of its datagram, in the plan
  size_t body_bytes;         // MeasureFrame's answer
};
struct PlannedDatagram {
  uint32_t destination;       // index in Scratch::open
  uint32_t first = kNoFrame;  // its frames, a list through PlannedFrame::next
  uint32_t last = kNoFrame;
  size_t size = kDatagramHeaderBytes;
};
struct OpenDestination {
  Address to;
  uint32_t datagram;  // the one being filled
};

// Buffers every engine on a thread shares: HandleDatagram's decoded frames
// and Flush's plan of its datagrams. Engines never call into each other
// and each call leaves these empty (or clears them before use; the decoded
// frames' spare lists keep storage, not values), so sharing changes nothing
// but memory and cache traffic: one set of warm buffers per thread instead
// of one per engine (a simulated million engines kept ~1 GB of them).
struct Scratch {
  DecodedDatagram decoded;
  std::vector<OpenDestination> open;       // in the order of first frames
  std::vector<PlannedFrame> frames;        // those that fit, in order
  std::vector<PlannedDatagram> datagrams;  // in the order they were opened
  std::vector<uint32_t> closed;            // datagrams filled up, in that order
  // Transmit buffers given back (Engine::RecycleTransmit); PollTransmit
  // copies each datagram into one, so they circulate without malloc.
  std::vector<std::vector<uint8_t>> recycled;
};

Scratch& ThreadScratch() {
  static thread_local Scratch scratch;
  return scratch;
}

}  // namespace

CoreCounters& operator+=(CoreCounters& a, const CoreCounters& b) {
  static_assert(std::is_trivially_copyable_v<CoreCounters> &&
                sizeof(CoreCounters) % sizeof(uint64_t) == 0);
  constexpr size_t kCount = sizeof(CoreCounters) / sizeof(uint64_t);
  uint64_t sum[kCount];
  uint64_t add[kCount];
  std::memcpy(sum, &a, sizeof(a));
  std::memcpy(add, &b, sizeof(b));
  for (size_t i = 0; i < kCount; ++i) sum[i] += add[i];
  std::memcpy(&a, sum, sizeof(a));
  return a;
}

// The state protocol and its counters, created together on first use.
struct StatePart {
  StatePart(const StateConfig& config, NodeId self, size_t max_datagram_bytes,
            uint64_t seed, Outbox* outbox, StateRouting* routing)
      : sync(config, self, max_datagram_bytes, seed, outbox, &counters,
             routing) {}
  StateCounters counters;  // before `sync`, which points at it
  StateSync sync;
};

struct Engine::Impl : public MembershipListener, public StateRouting {
  // Counts into *sink, or into `own` when sink is nullptr.
  Impl(std::shared_ptr<const DiffusionConfig> shared_config, NodeId self_id,
       Address self_address, uint64_t seed, CoreCounters* sink,
       std::unique_ptr<CoreCounters> own)
      // In declaration order (see Layout).
      : config_holder(std::move(shared_config)),
        membership(config_holder->membership, PeerEntry{self_id, self_address},
                   &rng, &outbox, sink != nullptr ? sink : own.get(), this),
        self{self_id, self_address},
        config(*config_holder),
        counters(sink != nullptr ? sink : own.get()),
        plumtree(config.broadcast, self_id, config.max_datagram_bytes, &rng,
                 &outbox, counters),
        rng(seed),
        state_seed(StateSeed(seed)),
        own_counters(std::move(own)) {
    plumtree.set_peer_capacity_hint(config.membership.active_view_size);
  }

  void CountInto(CoreCounters* sink) {
    counters = sink;
    membership.set_counters(sink);
    plumtree.set_counters(sink);
  }

  // The state protocol, created on first use.
  StateSync& State() {
    if (state == nullptr) {
      state = std::make_unique<StatePart>(config.state, self.id,
                                          config.max_datagram_bytes, state_seed,
                                          &outbox, this);
      state->sync.set_clock_offset(state_clock_offset);
    }
    return state->sync;
  }
  Timestamp StateNextTimeout() const {
    return state == nullptr ? Timestamp::Infinite() : state->sync.NextTimeout();
  }

  BroadcastMode StateMode() const override { return plumtree.mode(); }
  std::vector<PeerEntry> StateActivePeers() const override {
    return membership.active_view();
  }
  std::vector<NodeId> StateEagerPeers() const override {
    return plumtree.EagerPeers();
  }
  size_t StatePushFanout() const override { return plumtree.fanout(); }

  void OnNeighborUp(Timestamp now, const PeerEntry& peer) override {
    plumtree.OnNeighborUp(now, peer);
  }
  void OnNeighborDown(Timestamp now, const PeerEntry& peer,
                      PeerDownCause /*cause*/) override {
    plumtree.OnNeighborDown(now, peer);
  }

  void Dispatch(Timestamp now, const PeerEntry& from, const Frame& frame) {
    const FrameType type = TypeOf(frame);
    if (IsMembershipFrame(type)) {
      membership.HandleFrame(now, from, frame);
    } else if (IsStateFrame(type)) {
      State().HandleFrame(now, from, frame);
    } else {
      // Membership reports every change of the active view to the tree
      // (OnNeighborUp/Down), and no frame is dispatched after Leave.
      plumtree.HandleFrame(now, from, frame);
    }
  }

  // Packs what the call queued into datagrams (FlushQueued). Nearly half
  // the calls queue nothing (a duplicate, a timer with nothing to send):
  // for them this inline test is the whole flush, not a call that tests.
  void Flush() {
    if (outbox.idle() && state == nullptr) return;
    FlushQueued();
  }
  [[gnu::noinline]] void FlushQueued();
  void PlanDatagrams(std::span<const Outbox::PendingFrame> pending,
                     Scratch* scratch);
  void WriteDatagrams(std::span<const Outbox::PendingFrame> pending,
                      const Scratch& scratch);
  void WriteDatagram(std::span<const Outbox::PendingFrame> pending,
                     const Scratch& scratch, const PlannedDatagram& datagram);
  static bool DestinationsDistinct(
      std::span<const Outbox::PendingFrame> pending);
  bool SendAlone(const Outbox::PendingFrame& item);
  // Counts a frame a full transmit queue refuses: too large when it would
  // not fit a datagram, else dropped. Rare: out of line.
  [[gnu::noinline, gnu::cold]] void CountRefused(const Frame& frame);
  static bool SameGossip(const Frame& a, const Frame& b);
  bool QueueCopyOfNewest(const Address& to);
  [[gnu::always_inline]] uint8_t* QueueDatagram(const Address& to, size_t size);

  // Layout: the lines every call touches side by side, in as few lines as
  // they fit: the membership's hot fields (its last ones), this call
  // path's queues, where it counts, then Plumtree (its
  // deadlines first, then what a broadcast frame reads). Cold fields sit at
  // both ends. (Head, membership, plumtree, counters in that order left the
  // cold counters and the membership's cold fields between hot lines.)
  // Membership and Plumtree keep pointers to `rng`, `outbox` and
  // `counters`, some declared after them: used only once all exist.
  // `config_holder` comes first so that it is destroyed last: the
  // membership, Plumtree and the state part hold references into it.
  std::shared_ptr<const DiffusionConfig> config_holder;
  Membership membership;
  PeerEntry self;
  bool left = false;
  Outbox outbox;
  TransmitQueue transmits;
  DrainQueue<EngineEvent> events;
  std::unique_ptr<StatePart> state;  // nullptr until first used
  const DiffusionConfig& config;     // *config_holder, immutable, maybe shared
  CoreCounters* counters;            // own_counters or the caller's block
  Plumtree plumtree;
  Random rng;
  uint64_t state_seed;
  Duration state_clock_offset;
  // nullptr when the engine counts into a caller's block (Engine::Create).
  // Last, so the hot fields keep their places; destroyed first, which is
  // safe: nothing counts in a destructor.
  std::unique_ptr<CoreCounters> own_counters;
};

// Packs the outbox into datagrams. Frames for one destination share
// datagrams in the order they were queued; destinations are emitted in the
// order of their first frame (a datagram that fills up is emitted at once),
// so the output depends on nothing but the queue's order.
//
// In two passes: PlanDatagrams sizes every frame and decides which
// datagram takes it and the order in which the datagrams are queued, then
// WriteDatagrams encodes each datagram straight into the transmit queue. (A
// DatagramBuilder per destination, copied into the queue when finished,
// cost ~70 instructions more per datagram, callgrind: the copy and the
// builder's restart.)
//
// When no two frames share a destination (nearly every call: one frame, or
// a gossip forwarded to each eager peer), the plan is known without
// making it: each frame is its own datagram, in the order queued. Those
// calls skip it (the plan's bookkeeping and a second pass cost ~75
// instructions a frame, callgrind).
void Engine::Impl::FlushQueued() {
  std::vector<Outbox::PendingFrame>& pending = outbox.pending();
  if (!pending.empty()) {
    if (DestinationsDistinct(pending)) {
      const Frame* newest = nullptr;  // the frame of the newest datagram
      for (const Outbox::PendingFrame& item : pending) {
        if (newest != nullptr && SameGossip(*newest, item.frame)) {
          if (!QueueCopyOfNewest(item.to)) newest = nullptr;
        } else {
          newest = SendAlone(item) ? &item.frame : nullptr;
        }
      }
    } else {
      Scratch& scratch = ThreadScratch();
      PlanDatagrams(pending, &scratch);
      WriteDatagrams(pending, scratch);
    }
  }
  if (state != nullptr) state->sync.ReleaseSent();
  if (!outbox.events().empty()) {  // most calls tell nothing
    counters->events_dropped +=
        events.Append(&outbox.events(), config.max_pending_events);
  }
  outbox.Park();
}

// True when no two frames of `pending` go to the same destination.
bool Engine::Impl::DestinationsDistinct(
    std::span<const Outbox::PendingFrame> pending) {
  for (size_t k = 1; k < pending.size(); ++k) {
    for (size_t j = 0; j < k; ++j) {
      if (pending[j].to == pending[k].to) return false;
    }
  }
  return true;
}

// A frame whose destination has no other frame in the call: its own
// datagram, if it fits (what the plan would give it). True when queued.
// A frame too large is counted as such even when the queue is full (the
// plan's order: measure, then queue); a full queue reserves nothing (a
// frame it drops must not grow the buffer).
bool Engine::Impl::SendAlone(const Outbox::PendingFrame& item) {
  if (transmits.size() >= config.max_pending_transmits) [[unlikely]] {
    CountRefused(item.frame);
    return false;
  }
  const size_t budget = config.max_datagram_bytes;
  uint8_t* const datagram = transmits.Reserve(budget);
  const uint8_t* const end =
      WriteFrameWithin(item.frame, budget - kDatagramHeaderBytes,
                       datagram + kDatagramHeaderBytes)
          .end;
  if (end == nullptr) {
    ++counters->frames_too_large;
    transmits.ParkIfEmpty();
    return false;
  }
  WriteDatagramHeader(self.id, datagram);
  const auto size = static_cast<size_t>(end - datagram);
  ++counters->datagrams_out;
  counters->bytes_out += size;
  transmits.Commit(item.to, size);
  // A gossip's payload ends its frame: noted for DrainedPayload.
  if (const GossipFrame* gossip = std::get_if<GossipFrame>(&item.frame)) {
    assert(std::equal(gossip->payload.begin(), gossip->payload.end(),
                      end - gossip->payload.size()));
    transmits.NoteNewestPayload(gossip->payload);
  }
  return true;
}

void Engine::Impl::CountRefused(const Frame& frame) {
  size_t body = 0;
  if (MeasureFrame(frame, &body) != WireError::kOk ||
      EncodedFrameBytesForBody(body) >
          config.max_datagram_bytes - kDatagramHeaderBytes) {
    ++counters->frames_too_large;
  } else {
    ++counters->transmits_dropped;
  }
}

// True when `b` encodes to the very bytes of `a`: the same gossip (id and
// hops) over the same payload buffer, as Forward queues it for each eager
// peer. (Any other pair is simply encoded again.)
bool Engine::Impl::SameGossip(const Frame& a, const Frame& b) {
  const GossipFrame* x = std::get_if<GossipFrame>(&a);
  const GossipFrame* y = std::get_if<GossipFrame>(&b);
  return x != nullptr && y != nullptr && x->id == y->id && x->hops == y->hops &&
         x->payload.data() == y->payload.data() &&
         x->payload.size() == y->payload.size();
}

// Queues for `to` the bytes of the newest datagram queued, counted as
// QueueDatagram counts. False (counted) when the queue is full.
bool Engine::Impl::QueueCopyOfNewest(const Address& to) {
  if (transmits.size() >= config.max_pending_transmits) {
    ++counters->transmits_dropped;
    return false;
  }
  ++counters->datagrams_out;
  counters->bytes_out += transmits.NewestSize();
  transmits.AppendCopyOfLast(to);
  return true;
}

// Room in the transmit queue for a datagram of `size` bytes for `to`, or
// nullptr (counted) when the queue is full. Inline in every flush loop (a
// call per datagram cost ~12 instructions, callgrind).
inline uint8_t* Engine::Impl::QueueDatagram(const Address& to, size_t size) {
  if (transmits.size() >= config.max_pending_transmits) {
    ++counters->transmits_dropped;
    return nullptr;
  }
  ++counters->datagrams_out;
  counters->bytes_out += size;
  return transmits.Append(to, size);
}

// What a DatagramBuilder per destination would do, without the bytes: a
// frame that does not fit its destination's datagram closes it (queued at
// once) and opens another; a frame that fits no datagram, or is refused,
// is counted and dropped.
void Engine::Impl::PlanDatagrams(std::span<const Outbox::PendingFrame> pending,
                                 Scratch* scratch) {
  std::vector<OpenDestination>& open = scratch->open;
  std::vector<PlannedFrame>& frames = scratch->frames;
  std::vector<PlannedDatagram>& datagrams = scratch->datagrams;
  open.clear();
  frames.clear();
  datagrams.clear();
  scratch->closed.clear();
  const size_t budget = config.max_datagram_bytes;
  for (uint32_t k = 0; k < pending.size(); ++k) {
    const Outbox::PendingFrame& item = pending[k];
    uint32_t i = 0;
    while (i < open.size() && !(open[i].to == item.to)) ++i;
    if (i == open.size()) {
      open.push_back({item.to, static_cast<uint32_t>(datagrams.size())});
      datagrams.push_back({.destination = i});
    }
    size_t body_bytes = 0;
    if (MeasureFrame(item.frame, &body_bytes) != WireError::kOk) {
      ++counters->frames_too_large;
      continue;
    }
    const size_t bytes = EncodedFrameBytesForBody(body_bytes);
    PlannedDatagram* datagram = &datagrams[open[i].datagram];
    if (bytes > budget - datagram->size) {
      if (datagram->first != kNoFrame) {
        scratch->closed.push_back(open[i].datagram);
        open[i].datagram = static_cast<uint32_t>(datagrams.size());
        datagram = &datagrams.emplace_back(PlannedDatagram{.destination = i});
      }
      if (bytes > budget - datagram->size) {
        ++counters->frames_too_large;
        continue;
      }
    }
    const auto f = static_cast<uint32_t>(frames.size());
    frames.push_back({.index = k, .body_bytes = body_bytes});
    if (datagram->first == kNoFrame) {
      datagram->first = f;
    } else {
      frames[datagram->last].next = f;
    }
    datagram->last = f;
    datagram->size += bytes;
  }
}

// Queues the planned datagrams that have frames: those closed early first,
// then one per destination in the order of their first frames.
void Engine::Impl::WriteDatagrams(std::span<const Outbox::PendingFrame> pending,
                                  const Scratch& scratch) {
  for (const uint32_t d : scratch.closed) {
    WriteDatagram(pending, scratch, scratch.datagrams[d]);
  }
  for (const OpenDestination& open : scratch.open) {
    WriteDatagram(pending, scratch, scratch.datagrams[open.datagram]);
  }
}

void Engine::Impl::WriteDatagram(std::span<const Outbox::PendingFrame> pending,
                                 const Scratch& scratch,
                                 const PlannedDatagram& datagram) {
  if (datagram.first == kNoFrame) return;
  uint8_t* out =
      QueueDatagram(scratch.open[datagram.destination].to, datagram.size);
  if (out == nullptr) return;
  [[maybe_unused]] uint8_t* const end = out + datagram.size;
  out = WriteDatagramHeader(self.id, out);
  for (uint32_t f = datagram.first; f != kNoFrame; f = scratch.frames[f].next) {
    const PlannedFrame& frame = scratch.frames[f];
    out = WriteFrame(pending[frame.index].frame, frame.body_bytes, out);
  }
  assert(out == end);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const DiffusionConfig& config, NodeId self_id, Address self_address,
    uint64_t seed) {
  return Create(std::make_shared<const DiffusionConfig>(config), self_id,
                self_address, seed);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    std::shared_ptr<const DiffusionConfig> config, NodeId self_id,
    Address self_address, uint64_t seed) {
  return Create(std::move(config), self_id, self_address, seed, nullptr);
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    std::shared_ptr<const DiffusionConfig> config, NodeId self_id,
    Address self_address, uint64_t seed, CoreCounters* counters) {
  absl::Status status = config->Validate();
  if (!status.ok()) return status;
  if (!self_address.valid()) {
    return absl::InvalidArgumentError("engine: self address must be valid");
  }
  return std::unique_ptr<Engine>(
      new Engine(std::move(config), self_id, self_address, seed, counters));
}

Engine::Engine(std::shared_ptr<const DiffusionConfig> config, NodeId self_id,
               Address self_address, uint64_t seed, CoreCounters* counters)
    : impl_(std::make_unique<Impl>(
          std::move(config), self_id, self_address, seed, counters,
          counters != nullptr ? nullptr : std::make_unique<CoreCounters>())) {}

void Engine::CountInto(CoreCounters* counters) {
  Impl& e = *impl_;
  if (counters == nullptr) {
    if (e.own_counters == nullptr)
      e.own_counters = std::make_unique<CoreCounters>();
    counters = e.own_counters.get();
  }
  if (e.counters != counters) e.CountInto(counters);
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

void Engine::HandleDatagram(Timestamp now, const Address& from,
                            std::span<const uint8_t> bytes) {
  Impl& e = *impl_;
  ++e.counters->datagrams_in;
  e.counters->bytes_in += bytes.size();
  if (e.left) return;
  {
    DecodedDatagram& decoded = ThreadScratch().decoded;  // cleared after use
    // Cleared on every way out of this block, a throw included, so that
    // the next datagram finds it cleared and no span into `bytes` outlives
    // the call. (absl::Cleanup's cancel flag cost ~4 instructions a
    // datagram, callgrind.)
    struct ClearOnExit {
      DecodedDatagram& decoded;
      ~ClearOnExit() { decoded.Clear(); }
    } clear{decoded};
    WireError error = DecodeIntoCleared(bytes, &decoded);
    if (error == WireError::kOk && decoded.sender == e.self.id) {
      error = WireError::kBadField;  // our own id from elsewhere: a reflection
    }
    if (error != WireError::kOk) {
      ++e.counters->bad_datagrams;
      ++e.counters->bad_datagrams_by_error[static_cast<size_t>(error)];
      return;
    }
    const PeerEntry sender{decoded.sender, from};
    e.membership.NoteAlive(now, sender);
    for (const Frame& frame : decoded.frames) e.Dispatch(now, sender, frame);
  }
  e.Flush();
}

void Engine::HandleTimeout(Timestamp now) {
  Impl& e = *impl_;
  if (e.left) return;
  if (e.membership.NextTimeout() <= now) e.membership.HandleTimeout(now);
  if (e.plumtree.NextTimeout() <= now) e.plumtree.HandleTimeout(now);
  if (e.StateNextTimeout() <= now) e.state->sync.HandleTimeout(now);
  e.Flush();
}

void Engine::Join(Timestamp now, const Address& contact) {
  Impl& e = *impl_;
  if (e.left) return;
  e.membership.Join(now, contact);
  e.Flush();
}

void Engine::AddContact(const Address& contact) {
  Impl& e = *impl_;
  if (e.left) return;
  e.membership.AddContact(contact);
}

void Engine::Leave(Timestamp now) {
  Impl& e = *impl_;
  if (e.left) return;
  e.membership.Leave(now);
  e.Flush();
  e.left = true;
}

absl::StatusOr<MessageId> Engine::Broadcast(Timestamp now,
                                            std::span<const uint8_t> payload) {
  Impl& e = *impl_;
  if (e.left) {
    return absl::FailedPreconditionError("broadcast: the node has left");
  }
  absl::StatusOr<MessageId> id = e.plumtree.Broadcast(now, payload);
  e.Flush();
  return id;
}

void Engine::SetMode(Timestamp now, BroadcastMode mode) {
  impl_->plumtree.SetMode(now, mode);
  impl_->Flush();
}

absl::Status Engine::SetRedundancyFactor(double factor) {
  return impl_->plumtree.SetRedundancyFactor(factor);
}

void Engine::DetectNodeFailure(Timestamp now, NodeId peer) {
  impl_->membership.DetectNodeFailure(now, peer);
  impl_->Flush();
}

void Engine::RebuildRouting(Timestamp now) {
  impl_->plumtree.RebuildRouting(now);
  impl_->Flush();
}

bool Engine::WarmStartAddActive(Timestamp now, const PeerEntry& peer) {
  return impl_->membership.WarmAddActive(now, peer);
}

bool Engine::WarmStartAddPassive(const PeerEntry& peer) {
  return impl_->membership.WarmAddPassive(peer);
}

void Engine::SetPayloadInterner(PayloadInterner* interner) {
  impl_->plumtree.set_payload_interner(interner);
}

absl::Status Engine::PropagateState(Timestamp now, StateId key,
                                    std::span<const uint8_t> value) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.State().Propagate(now, key, value);
  e.Flush();
  return status;
}

absl::Status Engine::PushState(Timestamp now, StateId key,
                               std::span<const uint8_t> value,
                               std::span<const Address> targets) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.State().Push(now, key, value, targets);
  e.Flush();
  return status;
}

absl::Status Engine::PullState(Timestamp now, std::span<const StateId> keys,
                               const Address& source) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.State().Pull(now, keys, source);
  e.Flush();
  return status;
}

absl::Status Engine::DeleteState(Timestamp now, StateId key) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.State().Delete(now, key);
  e.Flush();
  return status;
}

std::optional<StateValue> Engine::GetState(StateId key) const {
  if (impl_->state == nullptr) return std::nullopt;
  return impl_->state->sync.Get(key);
}

uint64_t Engine::StateDigest() const {
  if (impl_->state == nullptr) return StateStore::EmptyDigest();
  return impl_->state->sync.store().Digest();
}

size_t Engine::StateKeyCount() const {
  return impl_->state == nullptr ? 0 : impl_->state->sync.store().live();
}

void Engine::SetStateClockOffset(Duration offset) {
  impl_->state_clock_offset = offset;
  if (impl_->state != nullptr) impl_->state->sync.set_clock_offset(offset);
}

std::optional<Transmit> Engine::PollTransmit() {
  TransmitQueue& queue = impl_->transmits;
  if (queue.size() == 0) return std::nullopt;
  std::vector<std::vector<uint8_t>>& spare = ThreadScratch().recycled;
  std::vector<uint8_t> buffer;
  if (!spare.empty()) {
    buffer = std::move(spare.back());
    spare.pop_back();
  }
  return queue.Pop(std::move(buffer));  // no allocation when recycled
}

void Engine::DrainTransmits(
    absl::FunctionRef<void(const Address&, std::span<const uint8_t>)> send) {
  TransmitQueue& queue = impl_->transmits;
  if (queue.size() == 0) return;
  queue.Drain(send);
}

std::span<const uint8_t> Engine::DrainedPayload(const Address& to) {
  return TransmitQueue::PayloadOf(to);
}

std::optional<EngineEvent> Engine::PollEvent() { return impl_->events.Pop(); }

void Engine::DrainEvents(absl::FunctionRef<void(EngineEvent&&)> handle) {
  DrainQueue<EngineEvent>& queue = impl_->events;
  if (queue.size() == 0) return;
  queue.Drain(handle);
}

void Engine::RecycleTransmit(Transmit&& transmit) {
  std::vector<std::vector<uint8_t>>& spare = ThreadScratch().recycled;
  if (spare.size() >= kRecycledTransmitBuffers) return;
  transmit.bytes.clear();
  spare.push_back(std::move(transmit.bytes));
}

Timestamp Engine::NextTimeout() const {
  const Impl& e = *impl_;
  if (e.left) return Timestamp::Infinite();
  // Pairwise (see Plumtree::NextTimeout); the state protocol's only when
  // it exists (no compare with Infinite).
  const Timestamp next =
      Earlier(e.membership.NextTimeout(), e.plumtree.NextTimeout());
  return e.state == nullptr ? next : Earlier(next, e.state->sync.NextTimeout());
}

void Engine::Prefetch(int stage, std::span<const uint8_t> datagram_head) const {
  const Impl* e = impl_.get();
  const bool membership_only = datagram_head.size() > kDatagramHeaderBytes &&
                               IsMembershipFrame(static_cast<FrameType>(
                                   datagram_head[kDatagramHeaderBytes]));
  if (stage == 0) {
    // The lines every call reads: Membership's hot fields through its
    // inline liveness table and the Impl's head (outbox, queues, where it
    // counts), which follow one another (see Layout); then the Plumtree
    // lines with the deadlines, and for a broadcast frame the peer table.
    // (The counters themselves are not prefetched: finding them is a load
    // from the lines being prefetched, which would wait for them; the
    // simulator's engines share one block, which stays in cache.) Prefetching
    // all of the Impl
    // (~2.2 KiB) was measured 4-15 % slower (300k nodes): lines nobody
    // reads cost too.
    e->membership.PrefetchObject();
    const char* begin = reinterpret_cast<const char*>(&e->self);
    const char* end = reinterpret_cast<const char*>(&e->counters + 1) - 1;
    // Unrolled: the span is a constant few lines, and as a loop its compare
    // and branch cost more than the prefetches themselves (callgrind).
#pragma GCC unroll 16
    for (const char* p = begin; p < end; p += 64) __builtin_prefetch(p);
    __builtin_prefetch(end);
    if (membership_only) {
      e->plumtree.PrefetchDeadlines();  // NextTimeout reads them after it
    } else {
      e->plumtree.PrefetchObject();
    }
    return;
  }
  if (!membership_only) e->plumtree.PrefetchPeers();
}

NodeId Engine::id() const { return impl_->self.id; }
const Address& Engine::address() const { return impl_->self.address; }
const DiffusionConfig& Engine::config() const { return impl_->config; }
BroadcastMode Engine::mode() const { return impl_->plumtree.mode(); }
bool Engine::left() const { return impl_->left; }
EngineCounters Engine::counters() const {
  EngineCounters out;
  if (impl_->own_counters != nullptr) {
    static_cast<CoreCounters&>(out) = *impl_->own_counters;
  }
  if (impl_->state != nullptr) {
    static_cast<StateCounters&>(out) = impl_->state->counters;
  }
  return out;
}
const StateCounters& Engine::state_counters() const {
  static constexpr StateCounters kNone{};
  return impl_->state == nullptr ? kNone : impl_->state->counters;
}

std::vector<PeerEntry> Engine::ActiveView() const {
  return impl_->membership.active_view();
}
std::vector<PeerEntry> Engine::PassiveView() const {
  return impl_->membership.passive_view();
}
std::vector<NodeId> Engine::EagerPeers() const {
  return impl_->plumtree.EagerPeers();
}

std::vector<NodeId> Engine::LazyPeers() const {
  return impl_->plumtree.LazyPeers();
}

size_t Engine::StateBytes() const {
  const Impl& e = *impl_;
  // The sub-protocols count their own object; subtract it once from Impl.
  // A config shared with other engines is not this engine's state.
  const size_t own_config =
      e.config_holder.use_count() == 1 ? sizeof(DiffusionConfig) : 0;
  return sizeof(Engine) + sizeof(Impl) + own_config - sizeof(Membership) -
         sizeof(Plumtree) + e.membership.StateBytes() +
         e.plumtree.StateBytes() +
         (e.own_counters == nullptr ? 0 : sizeof(CoreCounters)) +
         (e.state == nullptr
              ? 0
              : sizeof(StateCounters) + e.state->sync.StateBytes()) +
         e.transmits.CapacityBytes() + e.events.CapacityBytes() +
         e.outbox.CapacityBytes();
}

}  // namespace elara
