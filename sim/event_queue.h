// File: sim/event_queue.h
//
// The simulator's pending-event set: small POD events ordered by (virtual
// time, scheduling sequence number). The sequence number is assigned by the
// queue at Push, so two events at the same virtual time pop in the order
// they were scheduled: the order never depends on pointer values or on how
// the structure happens to be arranged (ARCHITECTURE.md, "Determinism
// rules", rule 2). Keys are unique, so any correct implementation pops the
// same sequence.
//
// Two implementations with one contract: DaryEventHeap<d> (a d-ary heap,
// O(log n)) and CalendarEventQueue (buckets of virtual time, O(1)
// amortised). `EventQueue` is the one the simulator uses, chosen by
// sim/event_queue_benchmark.cc (hold model, -c opt, 2-core VM, ns per
// pop+push, median of 3):
//                              std::pq  2-ary  4-ary  8-ary  calendar
//   uniform 1-100 ms, 10^6       1323   1033    740    575      158
//   sim-like mix,     10^6          -      -    822      -      140
//   sim-like mix,     10^5          -      -    250      -      106
//   uniform,          10^3         48     42     36     47       91
// A heap pays a cache miss per level below the cached top of the tree; the
// calendar queue appends to a bucket and pops from a sorted run. It loses
// only on tiny queues, where nothing is slow.
// The calendar queue's block slots and counting sort (below), A/B against
// the vector buckets + std::sort before them, alternating runs on the same
// (shared, loaded) VM, median of 3, ns per pop+push, new / old:
//   uniform 1-100 ms, 10^6 (256 us x 16384)    28 / 102
//   sim-like mix,     10^6                     35 /  99
//   sim-like mix,     10^5                     29 /  58
//   uniform,          10^3                     43 /  42
//
// Guarantees (both):
//   - Pop returns the event with the smallest (time, seq).
//   - Push assigns seq = 0, 1, 2, ... in call order (56 bits: 7.2e16 events
//     before wrapping, which a run never reaches).
//   - Events are 24 bytes, trivially copyable.
//
// Thread-safety: not thread-safe; owned by one simulator.
//
// Usage:
//   EventQueue queue;
//   queue.Push(time_us, EventKind::kTimer, node, /*handle=*/0);
//   (CalendarEventQueue's Top() is not const: it may place its window.)
//   while (!queue.empty()) { Event e = queue.Pop(); ... }
#ifndef ELARA_SIM_EVENT_QUEUE_H_
#define ELARA_SIM_EVENT_QUEUE_H_

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <type_traits>
#include <vector>

namespace elara::sim {

enum class EventKind : uint8_t {
  kTimer = 0,        // node's engine timer (lazily deleted when stale)
  kPacket = 1,       // datagram arrival; handle = packet pool slot
  kBroadcast = 2,    // workload: publish the next message
  kJoin = 3,         // protocol bootstrap: node joins through a contact
  kCrash = 4,        // handle = crash spec index
  kRestart = 5,      // node restarts with a fresh engine
  kChurn = 6,        // one node leaves, a fresh node joins
  kEnd = 7,          // end of the run
  kStateWrite = 8,   // state workload: the next write
  kStateSettle = 9,  // state workload: start measuring convergence
};

// One scheduled event. `seq_kind` packs the scheduling sequence number (high
// 56 bits) and the kind (low 8 bits); since sequence numbers are unique,
// ordering by seq_kind is ordering by sequence number.
struct Event {
  int64_t time_us = 0;
  uint64_t seq_kind = 0;
  uint32_t node = 0;
  uint32_t handle = 0;

  uint64_t seq() const { return seq_kind >> 8; }
  EventKind kind() const { return static_cast<EventKind>(seq_kind & 0xff); }
};
static_assert(sizeof(Event) == 24);
static_assert(std::is_trivially_copyable_v<Event>);

// True when `a` must pop before `b`.
inline bool EventBefore(const Event& a, const Event& b) {
  if (a.time_us != b.time_us) return a.time_us < b.time_us;
  return a.seq_kind < b.seq_kind;
}

// A d-ary min-heap of Events. kArity 2 is the classic binary heap.
template <int kArity>
class DaryEventHeap {
  static_assert(kArity >= 2);

 public:
  DaryEventHeap() = default;
  DaryEventHeap(const DaryEventHeap&) = delete;
  DaryEventHeap& operator=(const DaryEventHeap&) = delete;

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // Sequence number the next Push will assign (= events pushed so far).
  uint64_t next_seq() const { return next_seq_; }
  void Reserve(size_t n) { heap_.reserve(n); }

  // Schedules an event; returns the sequence number it was given.
  uint64_t Push(int64_t time_us, EventKind kind, uint32_t node,
                uint32_t handle) {
    const uint64_t seq = next_seq_++;
    Event e{time_us, (seq << 8) | static_cast<uint64_t>(kind), node, handle};
    heap_.push_back(e);
    SiftUp(heap_.size() - 1, e);
    return seq;
  }

  // Inserts an event that already has its sequence number (from another
  // queue); next_seq() is unchanged.
  void PushEvent(const Event& e) {
    heap_.push_back(e);
    SiftUp(heap_.size() - 1, e);
  }

  // REQUIRES: !empty().
  const Event& Top() const {
    assert(!heap_.empty());
    return heap_.front();
  }

  // Removes and returns the smallest event. REQUIRES: !empty().
  Event Pop() {
    assert(!heap_.empty());
    const Event top = heap_.front();
    const Event last = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) SiftDown(0, last);
    return top;
  }

 private:
  // Moves the hole at `i` up until `e` fits, then stores `e` there.
  void SiftUp(size_t i, const Event& e) {
    while (i > 0) {
      const size_t parent = (i - 1) / kArity;
      if (!EventBefore(e, heap_[parent])) break;
      heap_[i] = heap_[parent];
      i = parent;
    }
    heap_[i] = e;
  }

  // Moves the hole at `i` down until `e` fits, then stores `e` there.
  void SiftDown(size_t i, const Event& e) {
    const size_t n = heap_.size();
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= n) break;
      size_t best = first;
      const size_t end = first + kArity < n ? first + kArity : n;
      for (size_t c = first + 1; c < end; ++c) {
        if (EventBefore(heap_[c], heap_[best])) best = c;
      }
      if (!EventBefore(heap_[best], e)) break;
      heap_[i] = heap_[best];
      i = best;
    }
    heap_[i] = e;
  }

  std::vector<Event> heap_;
  uint64_t next_seq_ = 0;
};

// A calendar queue (bucket queue) of Events with the same contract as
// DaryEventHeap: pops by (time, seq), O(1) amortised per event for the
// short-horizon schedules of a simulation.
//
// Layout: time is cut into buckets of 2^bucket_width_shift microseconds.
//   - The current bucket `cur_` is served from `run_` (its events, sorted
//     once when it becomes current) merged with `hot_`, a small binary heap
//     of events pushed into the current bucket (or earlier) while it is
//     being served.
//   - Buckets cur_+1 .. cur_+2^bucket_count_shift-1 are a ring of slots;
//     a slot is a chain of fixed-size 512-byte blocks (push = a store into
//     the newest block; the slot itself holds the fill count, so no block
//     is read). Blocks come from a free list fed by the buckets already
//     served, carved from chunks that are never returned: no realloc
//     copies, no malloc per bucket, and the recycled blocks are warm.
//     A push into the next kNearBuckets slots (the ones every datagram
//     arrival goes to, warm) is appended at once; pushes bound for later
//     slots wait in a small buffer (8 events) while their slot is
//     prefetched, and are appended in push order.
//   - Later events wait in `far_`, a 4-ary heap, and move to the ring as
//     the window advances.
// Invariants:
//   1. Every event in run_/hot_ has bucket <= cur_; every event in the ring
//      or its pending buffer has bucket in (cur_, cur_ + ring size); every
//      event in far_ has a later bucket. The buffer is empty whenever the
//      window moves.
//   2. size() > 0 implies run_/hot_ hold at least one event, so Top() is
//      their smaller front -- except while staging: pushes into an empty
//      queue collect unsorted in `staged_` until the next Top/Pop places
//      the window at their earliest bucket (so a bulk load in any order
//      does not pile into hot_).
//   3. Within a slot, events with equal time_us are in seq order. Direct
//      pushes append in seq order; an event from far_ enters its slot the
//      moment its bucket enters the window, before any direct push can
//      reach that slot, and far_ hands events over in (time, seq) order.
//      (The window only moves forward while the queue is non-empty.)
// So making a bucket current needs only a stable sort by time_us: a
// counting sort on the time offset within the bucket, no comparison of
// sequence numbers. TakeWindow skips even that for a bucket wholly inside
// the window asked for: its slot is copied as it lies (10k example:
// instructions 7.26 -> 6.85 G, every trace hash the same).
// Pop order is exactly (time, seq) order whatever the parameters: they only
// change speed. Empty buckets are stepped over one by one while the ring
// holds events (cheap: one check each), and jumped over when it is empty.
class CalendarEventQueue {
 public:
  // Defaults: 256 us buckets, 16384 of them (a 4.2 s window: covers
  // network latencies and the 1 s keep-alive timers).
  // REQUIRES: 0 <= bucket_width_shift <= 16, bucket_count_shift >= 1.
  explicit CalendarEventQueue(int bucket_width_shift = 8,
                              int bucket_count_shift = 14)
      : width_shift_(bucket_width_shift),
        ring_mask_((int64_t{1} << bucket_count_shift) - 1),
        near_buckets_(std::min(kNearBuckets, ring_mask_)),
        ring_(static_cast<size_t>(1) << bucket_count_shift),
        histogram_((size_t{1} << bucket_width_shift) + 1, 0) {
    assert(bucket_width_shift >= 0 && bucket_width_shift <= 16);
    assert(bucket_count_shift >= 1);
  }
  CalendarEventQueue(const CalendarEventQueue&) = delete;
  CalendarEventQueue& operator=(const CalendarEventQueue&) = delete;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  uint64_t next_seq() const { return next_seq_kind_ >> 8; }
  void Reserve(size_t n) { far_.Reserve(n / 4); }

  // Schedules an event; returns the sequence number it was given.
  // REQUIRES: time_us >= 0.
  uint64_t Push(int64_t time_us, EventKind kind, uint32_t node,
                uint32_t handle) {
    assert(time_us >= 0);
    const uint64_t seq_kind = next_seq_kind_ | static_cast<uint64_t>(kind);
    next_seq_kind_ += uint64_t{1} << 8;
    // Most pushes are datagram arrivals into a near slot whose newest block
    // has room: stored here, with no register to save or restore; the
    // rest jump to PushSlow. 0 < ahead <= near_buckets_ is one unsigned
    // compare (ahead - 1 wraps to a huge value when ahead <= 0). An empty
    // or staging queue needs no test of its own: its ring is empty, and
    // an empty slot has no block with room (count == kBlockEvents).
    const int64_t b = time_us >> width_shift_;
    const uint64_t ahead_less_one = static_cast<uint64_t>(b - cur_ - 1);
    if (ahead_less_one < static_cast<uint64_t>(near_buckets_)) [[likely]] {
      Slot& slot = ring_[static_cast<size_t>(b & ring_mask_)];
      if (slot.count != kBlockEvents) [[likely]] {
        assert(size_ != 0 && !staging_);
        slot.last->events[slot.count++] =
            Event{time_us, seq_kind, node, handle};
        ++ring_size_;
        ++size_;
        return seq_kind >> 8;
      }
    }
    return PushSlow(time_us, seq_kind, node, handle);
  }

  // REQUIRES: !empty().
  const Event& Top() {
    assert(size_ > 0);
    if (staging_) Settle();
    return Front();
  }

  // A guess at the events that pop next, in order, for prefetching only:
  // the rest of the current sorted run, blind to events pushed into the
  // current bucket meanwhile; empty while staging.
  std::span<const Event> Upcoming() const {
    if (staging_) return {};
    return std::span<const Event>(run_).subspan(run_pos_);
  }
  // REQUIRES: !empty().
  Event Pop() {
    assert(size_ > 0);
    if (staging_) Settle();
    const Event out = PopCurrent();
    if (--size_ > 0 && hot_.empty() && run_pos_ == run_.size()) Refill();
    return out;
  }

  // For the simulator's lookahead windows: moves to *out every event with
  // time_us < end_us that pops before the first one for which keep(event)
  // is false, and returns that event's time, or end_us when no such event
  // stopped the take. The set moved is exactly what Pop() would have
  // returned one by one, but not in (time, seq) order: a bucket wholly
  // before end_us is copied as it lies in its slot (no sort; the caller
  // sorts the window its own way, e.g. SortByNodeThenTime below); the
  // buckets at either end are served in order.
  template <typename Keep>
  int64_t TakeWindow(int64_t end_us, Keep keep, std::vector<Event>* out) {
    if (size_ == 0) return end_us;
    if (staging_) Settle();
    for (;;) {
      while (!hot_.empty() || run_pos_ < run_.size()) {
        const Event& e = Front();
        if (e.time_us >= end_us) return end_us;
        if (!keep(e)) return e.time_us;
        out->push_back(PopCurrent());
        --size_;
      }
      if (size_ == 0) return end_us;
      FlushPending();
      Advance();
      if (!TakeWholeSlot(end_us, keep, out)) TakeSlot();
    }
  }

 private:
  // 21 events and a link in 512 bytes (8 cache lines).
  static constexpr uint32_t kBlockEvents = 21;
  static constexpr size_t kChunkBlocks = 1024;  // 512 KiB per chunk
  struct alignas(64) Block {
    Block* prev;  // the slot's previous block; the free list's next
    Event events[kBlockEvents];
  };
  static_assert(sizeof(Block) == 512);
  // A slot's blocks are chained from the newest (`last`, holding `count`
  // events) back to the oldest; every other block is full. Appending reads
  // only the slot, never a block: the event is a store into `last`.
  struct Slot {
    Block* last = nullptr;
    uint32_t count = kBlockEvents;  // a new block is needed
  };

  static bool After(const Event& a, const Event& b) {
    return EventBefore(b, a);
  }
  int64_t Bucket(const Event& e) const { return e.time_us >> width_shift_; }

  // Out of line, as is PushFar: rare on the push path (a timer due within
  // the current bucket; a timeout beyond the ring), and inlined they made
  // every Route save and restore five registers (callgrind: ~20
  // instructions per push). They take the event by value, as does Stage:
  // by reference, every Push built it on the stack first.
  [[gnu::noinline]] void PushHot(Event e) {
    hot_.push_back(e);
    std::push_heap(hot_.begin(), hot_.end(), After);
  }
  [[gnu::noinline]] void PushFar(Event e) { far_.PushEvent(e); }
  // Push's other cases; returns the event's sequence number. Takes the
  // event's fields, not an Event: in registers, so Push jumps here
  // without a stack frame.
  [[gnu::noinline]] uint64_t PushSlow(int64_t time_us, uint64_t seq_kind,
                                      uint32_t node, uint32_t handle) {
    const Event e{time_us, seq_kind, node, handle};
    if (size_++ == 0 || staging_) {
      Stage(e);  // window placed at the next Top/Pop
    } else {
      Route(e);
    }
    return e.seq();
  }
  // Out of line too: only between an empty queue and the next Top/Pop,
  // and its vector growth inlined made every Push save six registers
  // (callgrind: ~20 instructions per push).
  [[gnu::noinline]] void Stage(Event e) {
    staging_ = true;
    staged_.push_back(e);
  }

  void Route(const Event& e) {
    const int64_t b = Bucket(e);
    const int64_t ahead = b - cur_;
    if (ahead <= 0) [[unlikely]] {
      PushHot(e);
    } else if (ahead <= near_buckets_) [[likely]] {
      // The next few hundred slots take every datagram arrival: in cache.
      Append(b, e);
    } else if (ahead <= ring_mask_) {
      // Appended a few pushes later, once the slot is in cache.
      __builtin_prefetch(&ring_[static_cast<size_t>(b & ring_mask_)], 1);
      pending_[pending_size_++] = e;
      if (pending_size_ == kPending) FlushPending();
    } else {
      PushFar(e);
    }
  }

  // Appends the pending pushes to their slots, in push order. Out of line:
  // once per kPending pushes, and inlined its loop made every Push save
  // three registers.
  [[gnu::noinline]] void FlushPending() {
    for (uint32_t i = 0; i < pending_size_; ++i) {
      Append(Bucket(pending_[i]), pending_[i]);
    }
    pending_size_ = 0;
  }

  // Appends `e` to bucket b's slot. REQUIRES: b in [cur_, cur_ + ring).
  void Append(int64_t b, const Event& e) {
    Slot& slot = ring_[static_cast<size_t>(b & ring_mask_)];
    if (slot.count == kBlockEvents) {
      Block* block = NewBlock();
      block->prev = slot.last;
      slot.last = block;
      slot.count = 0;
    }
    slot.last->events[slot.count++] = e;
    ++ring_size_;
  }

  Block* NewBlock() {
    if (free_blocks_ != nullptr) [[likely]] {
      Block* block = free_blocks_;
      free_blocks_ = block->prev;
      return block;
    }
    return CarveBlock();
  }
  // Out of line: only until the free list is warm, and inlined into Append
  // its vector growth made every append save five registers.
  [[gnu::noinline]] Block* CarveBlock() {
    if (chunk_used_ == kChunkBlocks) {
      // (Events' member initialisers zero the chunk once; its blocks are
      // recycled through free_blocks_ from then on.)
      chunks_.push_back(std::unique_ptr<Block[]>(new Block[kChunkBlocks]));
      chunk_used_ = 0;
    }
    return &chunks_.back()[chunk_used_++];
  }

  // Places the window at the earliest staged event and routes the staged
  // events (bulk loads in any time order cost O(1) each this way).
  void Settle() {
    staging_ = false;
    int64_t first = Bucket(staged_.front());
    for (const Event& e : staged_) first = std::min(first, Bucket(e));
    cur_ = first;
    for (const Event& e : staged_) {
      if (Bucket(e) == cur_) {
        Append(cur_, e);
      } else {
        Route(e);
      }
    }
    std::vector<Event>().swap(staged_);  // a bulk load's memory, released
    TakeSlot();
  }

  // The smaller front of run_ and hot_. REQUIRES: one of them non-empty.
  const Event& Front() const {
    if (hot_.empty()) return run_[run_pos_];
    if (run_pos_ == run_.size() || EventBefore(hot_.front(), run_[run_pos_])) {
      return hot_.front();
    }
    return run_[run_pos_];
  }

  // Removes and returns Front(); size_ and the refill are the caller's.
  Event PopCurrent() {
    if (!hot_.empty() && (run_pos_ == run_.size() ||
                          EventBefore(hot_.front(), run_[run_pos_]))) {
      const Event out = hot_.front();
      std::pop_heap(hot_.begin(), hot_.end(), After);
      hot_.pop_back();
      return out;
    }
    return run_[run_pos_++];
  }

  // Advances cur_ to the next non-empty bucket and makes it the run.
  // REQUIRES: run_ and hot_ exhausted, size_ > 0.
  void Refill() {
    FlushPending();
    Advance();
    TakeSlot();
  }

  // If every event of bucket cur_ is before end_us and kept, appends the
  // slot's events to *out as they lie, frees its blocks and returns true;
  // otherwise leaves the slot as it was and returns false.
  // REQUIRES: run_ and hot_ exhausted; the slot of cur_ non-empty.
  template <typename Keep>
  bool TakeWholeSlot(int64_t end_us, Keep keep, std::vector<Event>* out) {
    if (((cur_ + 1) << width_shift_) > end_us) return false;
    Slot& slot = ring_[static_cast<size_t>(cur_ & ring_mask_)];
    const size_t before = out->size();
    Block* first = nullptr;
    uint32_t count = slot.count;
    for (Block* b = slot.last; b != nullptr; b = b->prev) {
      for (uint32_t i = 0; i < count; ++i) {
        if (!keep(b->events[i])) {
          out->resize(before);
          return false;
        }
      }
      out->insert(out->end(), b->events, b->events + count);
      count = kBlockEvents;
      first = b;
    }
    const size_t n = out->size() - before;
    ring_size_ -= n;
    size_ -= n;
    first->prev = free_blocks_;
    free_blocks_ = slot.last;
    slot = Slot{};
    return true;
  }

  // Moves cur_ forward to the next bucket whose slot holds events, bringing
  // far_'s events into the ring as their buckets enter it.
  // REQUIRES: size_ > 0, run_/hot_ exhausted and pending_ flushed.
  void Advance() {
    for (;;) {
      if (ring_size_ == 0) {
        assert(!far_.empty());
        cur_ = std::max(cur_ + 1, Bucket(far_.Top()));
      } else {
        ++cur_;
      }
      while (!far_.empty() && Bucket(far_.Top()) - cur_ <= ring_mask_) {
        const Event e = far_.Pop();
        Append(Bucket(e), e);
      }
      if (ring_[static_cast<size_t>(cur_ & ring_mask_)].last != nullptr) {
        return;
      }
    }
  }

  // Moves bucket cur_'s slot into run_, stably sorted by time_us (which by
  // invariant 3 is (time, seq) order), and frees its blocks. REQUIRES: the
  // slot is not empty.
  void TakeSlot() {
    Slot& slot = ring_[static_cast<size_t>(cur_ & ring_mask_)];
    if (slot.last->prev == nullptr) {
      // One block, at most kBlockEvents events (most buckets a window
      // ends in): a stable insertion sort, not two passes over the
      // bucket's offsets (~1,900 -> ~600 instructions a bucket).
      Block* const block = slot.last;
      const uint32_t n = slot.count;
      run_.assign(block->events, block->events + n);
      run_pos_ = 0;
      ring_size_ -= n;
      Event* const run = run_.data();
      for (uint32_t i = 1; i < n; ++i) {
        if (run[i].time_us >= run[i - 1].time_us) continue;
        const Event e = run[i];
        uint32_t j = i;
        do {
          run[j] = run[j - 1];
          --j;
        } while (j > 0 && run[j - 1].time_us > e.time_us);
        run[j] = e;
      }
      block->prev = free_blocks_;
      free_blocks_ = block;
      slot = Slot{};
      return;
    }
    const int64_t base = cur_ << width_shift_;
    size_t n = 0;
    uint32_t lo = UINT32_MAX;
    uint32_t hi = 0;
    Block* first = nullptr;
    uint32_t count = slot.count;
    for (Block* b = slot.last; b != nullptr; b = b->prev) {
      n += count;
      for (uint32_t i = 0; i < count; ++i) {
        const uint32_t offset =
            static_cast<uint32_t>(b->events[i].time_us - base);
        ++histogram_[offset];
        lo = std::min(lo, offset);
        hi = std::max(hi, offset);
      }
      count = kBlockEvents;
      first = b;
    }
    run_.resize(n);
    run_pos_ = 0;
    ring_size_ -= n;
    // Inclusive prefix sums over the offsets present (the end of each
    // offset's range in run_), then a stable scatter from the newest event
    // backwards; the histogram ends all zero again.
    uint32_t sum = 0;
    for (uint32_t o = lo; o <= hi; ++o) {
      sum += histogram_[o];
      histogram_[o] = sum;
    }
    count = slot.count;
    for (const Block* b = slot.last; b != nullptr; b = b->prev) {
      for (uint32_t i = count; i > 0; --i) {
        const Event& e = b->events[i - 1];
        run_[--histogram_[static_cast<uint32_t>(e.time_us - base)]] = e;
      }
      count = kBlockEvents;
    }
    for (uint32_t o = lo; o <= hi; ++o) histogram_[o] = 0;
    first->prev = free_blocks_;
    free_blocks_ = slot.last;
    slot = Slot{};
  }

  const int width_shift_;
  const int64_t ring_mask_;
  // Pushes this few buckets ahead (or fewer) are appended at once, the
  // later ones through pending_ (see Route). Between two window moves a
  // slot is on one side only, so either way a slot's appends keep push
  // order (invariant 3).
  static constexpr int64_t kNearBuckets = 512;
  const int64_t near_buckets_;
  int64_t cur_ = 0;
  size_t size_ = 0;
  // The next sequence number, shifted into place in seq_kind (Event's
  // high 56 bits): Push ors in the kind, no shift.
  uint64_t next_seq_kind_ = 0;
  // Pushes since the queue was last empty, before any Top/Pop.
  bool staging_ = false;
  std::vector<Event> staged_;
  // The current bucket, sorted. Its capacity is kept (the largest bucket
  // so far): refilling never reallocates once warm.
  std::vector<Event> run_;
  size_t run_pos_ = 0;
  std::vector<Event> hot_;
  std::vector<Slot> ring_;
  size_t ring_size_ = 0;  // events in the ring's slots (not pending_)
  // Pushes bound for the ring, not yet appended: all for buckets after
  // cur_, so only Refill (which flushes first) could need them.
  static constexpr uint32_t kPending = 8;
  Event pending_[kPending];
  uint32_t pending_size_ = 0;
  std::vector<uint32_t> histogram_;  // per offset in a bucket; all zero
  Block* free_blocks_ = nullptr;
  std::vector<std::unique_ptr<Block[]>> chunks_;
  size_t chunk_used_ = kChunkBlocks;  // blocks handed out of chunks_.back()
  DaryEventHeap<4> far_;
};

using EventQueue = CalendarEventQueue;

// The digit width of StableSortByNode's radix passes over `bits`-bit node
// indexes for n events: the cheapest of one to three passes, a pass
// costing 12 per event (counted, moved) and 3 per counter (cleared,
// summed), weights tuned with callgrind on the 2k example (6 and 12 sort
// alike, 24 worse). One 11-bit pass cost ~7,000 instructions in counters
// alone: a window of a few hundred events takes two narrow passes.
inline int RadixDigitBits(size_t n, int bits) {
  int best_bits = (bits + 2) / 3;
  uint64_t best_cost = UINT64_MAX;
  for (int passes = 1; passes <= 3; ++passes) {
    const int digit_bits = (bits + passes - 1) / passes;
    if (digit_bits > 11) continue;
    const uint64_t cost =
        passes * (12 * uint64_t{n} + 3 * (uint64_t{1} << digit_bits));
    if (cost < best_cost) {
      best_cost = cost;
      best_bits = digit_bits;
    }
  }
  return best_bits;
}

// Sorts `events` by node, stably: events of one node keep their order (for
// events popped from a queue, their (time, seq) order). An LSD radix sort
// on digits of the node index, as wide as RadixDigitBits picks (at most 11
// bits: one pass up to 2^11 nodes, two up to 2^22); very short lists use
// std::stable_sort. `scratch` is working space, reused across calls.
// O(n + 2^digit) per pass.
inline void StableSortByNode(std::vector<Event>* events,
                             std::vector<Event>* scratch) {
  const size_t n = events->size();
  if (n < 32) {
    std::stable_sort(
        events->begin(), events->end(),
        [](const Event& a, const Event& b) { return a.node < b.node; });
    return;
  }
  uint32_t max_node = 0;
  for (const Event& e : *events) max_node = std::max(max_node, e.node);
  const int bits = std::bit_width(max_node);
  if (bits == 0) return;  // one node: sorted already
  const int digit_bits = RadixDigitBits(n, bits);
  const uint32_t digits = uint32_t{1} << digit_bits;
  scratch->resize(n);
  std::vector<Event>* from = events;
  std::vector<Event>* to = scratch;
  uint32_t count[(uint32_t{1} << 11) + 1];
  for (int shift = 0; shift < bits; shift += digit_bits) {
    std::fill(count, count + digits + 1, 0);
    for (const Event& e : *from)
      ++count[((e.node >> shift) & (digits - 1)) + 1];
    for (uint32_t d = 1; d <= digits; ++d) count[d] += count[d - 1];
    for (const Event& e : *from) {
      (*to)[count[(e.node >> shift) & (digits - 1)]++] = e;
    }
    std::swap(from, to);
  }
  if (from != events) events->swap(*scratch);
}

// Sorts each node's run of `events` (n events, already grouped by node,
// each run in input order) by EventBefore: insertion sort, since a node has
// few events per window and the runs come out of
// CalendarEventQueue::TakeWindow nearly in order.
inline void SortRunsByTime(Event* v, size_t n) {
  for (size_t i = 1; i < n; ++i) {
    if (v[i].node != v[i - 1].node || !EventBefore(v[i], v[i - 1])) continue;
    const Event e = v[i];
    size_t j = i;
    do {
      v[j] = v[j - 1];
      --j;
    } while (j > 0 && v[j - 1].node == e.node && EventBefore(e, v[j - 1]));
    v[j] = e;
  }
}

// Sorts `events` by (node, time, seq): StableSortByNode, then
// SortRunsByTime.
inline void SortByNodeThenTime(std::vector<Event>* events,
                               std::vector<Event>* scratch) {
  StableSortByNode(events, scratch);
  SortRunsByTime(events->data(), events->size());
}

// SortByNodeThenTime for a stream of windows, with per-node state kept
// across calls. Unless the node range seen so far is wider than 64 nodes
// per event (or the list is short), it chains each node's events in input
// order (one array slot per node, one per event), marks the nodes present
// in a bitmap and walks the set bits in index order, copying each node's
// chain and sorting it by time: one read and one write per event, where
// the radix sort makes two passes of both. Otherwise it falls back to
// SortByNodeThenTime. Same result either way. The per-node arrays grow to
// the largest node index seen (4 bytes and a bit a node): REQUIRES events
// of the simulator's nodes only (node < its node count, never kNoNode).
class WindowSorter {
 public:
  void SortByNodeThenTime(std::vector<Event>* events) {
    const size_t n = events->size();
    // The node range of earlier windows predicts this one's.
    if (n < 32 || present_.size() > n || n >= kNone) [[unlikely]] {
      sim::SortByNodeThenTime(events, &scratch_);
      return;
    }
    const Event* const in = events->data();
    next_.resize(n);
    scratch_.resize(n);
    uint32_t* head = head_.data();
    uint32_t* const next = next_.data();
    uint64_t* present = present_.data();
    size_t nodes = head_.size();
    // Backwards, so that each chain runs forwards: stable.
    for (size_t i = n; i-- > 0;) {
      const uint32_t node = in[i].node;
      if (node >= nodes) [[unlikely]] {
        Grow(node);
        head = head_.data();
        present = present_.data();
        nodes = head_.size();
      }
      next[i] = head[node];
      head[node] = static_cast<uint32_t>(i);
      present[node >> 6] |= uint64_t{1} << (node & 63);
    }
    Event* const out = scratch_.data();
    const size_t words = present_.size();
    size_t k = 0;
    for (size_t w = 0; w < words; ++w) {
      uint64_t bits = present[w];
      if (bits == 0) continue;
      present[w] = 0;
      do {
        const size_t node = (w << 6) + std::countr_zero(bits);
        bits &= bits - 1;
        uint32_t i = head[node];
        head[node] = kNone;
        out[k++] = in[i];
        i = next[i];
        if (i != kNone) [[unlikely]] {  // most nodes have one event
          const size_t run = k - 1;
          do {
            out[k++] = in[i];
            i = next[i];
          } while (i != kNone);
          SortRunsByTime(out + run, k - run);
        }
      } while (bits != 0);
    }
    events->swap(scratch_);
  }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;

  // Makes room for nodes up to `node` (new ones without events).
  [[gnu::noinline]] void Grow(uint32_t node) {
    head_.resize(size_t{node} + 1, kNone);
    present_.resize((size_t{node} >> 6) + 1, 0);
  }

  std::vector<uint32_t> head_;     // per node: its first event, or kNone
  std::vector<uint32_t> next_;     // per event: its node's next, or kNone
  std::vector<uint64_t> present_;  // a bit per node: has events (all 0
                                   // between calls)
  std::vector<Event> scratch_;     // the sorted copy, swapped in
};

}  // namespace elara::sim

#endif  // ELARA_SIM_EVENT_QUEUE_H_
