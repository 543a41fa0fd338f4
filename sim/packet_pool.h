// File: sim/packet_pool.h
//
// PacketPool: where datagrams in flight live, so that events stay 24-byte
// PODs carrying only a 32-bit handle. A slot holds the sender's index and
// the datagram bytes, copied into the slot itself or buffers of the pool's
// own.
//
// Why copy instead of keeping the engine's std::vector: measured on a
// 10,000-node run (perf), freeing each vector at arrival, long after and in
// a different order than it was allocated, cost 7-10 % of the whole run in
// glibc's _int_free/unlink_chunk (gossip datagrams are larger than glibc's
// per-thread cache). Copying at send time lets the engine's vector be freed
// while still hot, and the pool's buffers are recycled through per-size-
// class free lists without touching malloc.
//
// Inline bytes: a slot is one 64-byte cache line holding the first
// kInlineBytes of its datagram, so a small datagram (IHAVE, GRAFT, PRUNE:
// most datagrams of a broadcast, ~20 bytes) needs no buffer and its
// delivery reads one line of the pool, not two on two pages.
//
// Sharing (memory only: Bytes() always returns exactly what was Put):
//   - Back-to-back copies: a Put whose sender and bytes equal the previous
//     Put's (still in flight) shares its buffer (or tail). An engine
//     forwarding a message to its eager peers sends one datagram to each,
//     back to back.
//   - Common tails: a datagram of kTailMinBytes or more is kept as a head
//     (its first kHeadBytes, inline in the slot) and a tail (the rest);
//     tails with equal bytes share one refcounted buffer, found through a
//     key over a sample of their bytes (size and four 32-byte windows) and
//     confirmed by comparing all of them; a recent tail of the same size
//     and first 8 bytes is tried first, without the key (the forwarders
//     of the few messages flooded at once follow one another). A tail may
//     keep the buffer its bytes are the end of (SetTailSource: the
//     simulator's interned payload); a Put whose caller names that buffer
//     as the source of its last bytes (a forwarded gossip's payload, see
//     Put) finds the tail by that buffer's address, without reading or
//     comparing a byte. Every node forwarding a message sends the same
//     payload behind a different header, so during a flood (a million-node
//     first broadcast: ~2.8 M datagrams in flight at the peak, ~1.1 KiB
//     each) almost all in-flight payload bytes are one tail. Bytes() of
//     such a packet writes its head into the room the tail's buffer keeps
//     in front of the tail (kHeadBytes) and returns them as one span;
//     Bytes(handle, scratch), which other threads may call at once, joins
//     head and tail in a scratch buffer instead (one ~1 KiB copy).
//   - Datagrams longer than kInlineBytes and shorter than kTailMinBytes
//     live whole in a buffer of the pool.
//
// Buffers come in size classes of every multiple of 64 bytes up to 64 KiB
// (the largest UDP datagram), carved from 64 KiB-or-larger chunks, so a
// buffer wastes less than 64 bytes. Slots come in blocks of 4096, never
// moved. The pool never returns memory to malloc: it holds at most the
// peak number of slots and buffers in flight per class, plus one partly
// used chunk per class.
//
// Invariants:
//   1. A handle returned by Put is valid until Release(handle), exactly once.
//   2. in_flight() == Puts - Releases; peak_in_flight() is its maximum.
//   3. A buffer returns to its free list when the last packet holding it is
//      released.
//   4. The tail table is only looked up, never iterated: sharing cannot
//      change any order.
//   5. A tail's bytes are written once, when it is made, and never change
//      until it is freed; each tail made gets a serial of its own
//      (TailId), so (index, serial) names one run of bytes for good.
//
// Thread-safety: not thread-safe.
#ifndef ELARA_SIM_PACKET_POOL_H_
#define ELARA_SIM_PACKET_POOL_H_

#include <algorithm>
#include <cassert>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"

namespace elara::sim {

class PacketPool {
 public:
  static constexpr size_t kGranuleBytes = 64;
  static constexpr int kClasses = 1024;  // 64 B, 128 B, ..., 64 KiB
  static constexpr size_t kMaxBytes = kGranuleBytes * kClasses;
  static constexpr size_t kChunkBytes = 64 * 1024;
  // Bytes of a datagram kept in its slot.
  static constexpr size_t kInlineBytes = 40;
  // Datagrams this long or longer are stored as head + shared tail; the
  // head is inline. (A gossip frame's header, hops included, ends within
  // it, so forwarders' tails are equal.)
  static constexpr size_t kTailMinBytes = 512;
  static constexpr size_t kHeadBytes = kInlineBytes;

  PacketPool() = default;
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // Copies (or shares) `bytes`. REQUIRES: bytes.size() <= kMaxBytes.
  // `payload`, when not empty, names where the last payload.size() bytes
  // of `bytes` were copied from (Engine::DrainedPayload): a held tail
  // whose source (SetTailSource) ends where `payload` ends, if that copy
  // covers the tail, holds the tail's bytes and is shared without
  // comparing. REQUIRES: if a tail's source ends where `payload` ends,
  // `payload` lies in that very buffer (it was not freed, and another made
  // there, since the copy).
  uint32_t Put(uint32_t from, std::span<const uint8_t> bytes,
               std::span<const uint8_t> payload = {});
  // The sender given to Put.
  uint32_t from(uint32_t handle) const { return SlotAt(handle).from; }
  uint32_t size(uint32_t handle) const { return SlotAt(handle).size; }
  // The bytes given to Put. Valid until the next Bytes() call or the
  // handle's Release, whichever comes first. A split packet is joined in
  // place: its head is written into the room its tail's buffer keeps in
  // front of the tail (a 40-byte copy instead of the whole datagram), so
  // no other thread may read the pool meanwhile; LastJoinedTail then
  // names that tail.
  std::span<const uint8_t> Bytes(uint32_t handle);
  // Same, joining a split packet in `*scratch` instead of the pool's own
  // buffer (valid until *scratch changes or the Release): with one scratch
  // per thread, several threads may read packets at once while nothing
  // calls Put or Release.
  std::span<const uint8_t> Bytes(uint32_t handle,
                                 std::vector<uint8_t>* scratch) const;
  // The first bytes of the datagram that its slot holds (up to
  // kInlineBytes; fewer, or none, for a datagram kept whole in a buffer).
  // A cache hint's input: reads only the slot. Valid like Bytes().
  std::span<const uint8_t> InlineHead(uint32_t handle) const {
    return InlineHeadOf(SlotAt(handle));
  }
  // Frees the handle (and a buffer when it was its last holder).
  void Release(uint32_t handle);

  // A stable run: its caller promises that every byte span given to
  // PutInRun between BeginStableRun() and EndStableRun() stays in place and
  // unchanged until the run's last Put (one engine's DrainTransmits: the
  // engine's queue is not touched while it drains, and a gossip forwarded
  // to several peers is handed out as the same span each time; the engine
  // may free its buffer after its last send, so nothing may Put between
  // that and EndStableRun()). A PutInRun of the very span the previous
  // PutInRun of the run had (same address, size and sender) holds that
  // Put's bytes: it shares them without comparing. Put, in a run or not,
  // compares. Debug builds check the promise. Beginning a run costs nothing
  // (the last span is forgotten when a run ends or a Put comes): only its
  // end and PutInRun do work.
  void BeginStableRun() {
    assert(!in_stable_run_);
#ifndef NDEBUG
    in_stable_run_ = true;
#endif
  }
  void EndStableRun() {
    assert(in_stable_run_);
#ifndef NDEBUG
    in_stable_run_ = false;
#endif
    last_source_ = nullptr;
  }
  // Put within a stable run (between BeginStableRun and EndStableRun).
  uint32_t PutInRun(uint32_t from, std::span<const uint8_t> bytes,
                    std::span<const uint8_t> payload = {});

  // The shared tail of the split packet Bytes(handle) last joined in
  // place (whose bytes its caller is reading, as a rule), as an identity:
  // its index in the pool, a serial no other tail of this pool ever had,
  // and its bytes (that packet's from kHeadBytes on). While a tail is held
  // its bytes never change, so bytes read there under one (index, serial)
  // are the bytes read there earlier under the same pair. serial 0 (and no
  // bytes): none yet, or freed since.
  struct TailId {
    uint32_t index = 0;
    uint64_t serial = 0;
    std::span<const uint8_t> bytes;
  };
  TailId LastJoinedTail() const {
    if (joined_tail_ == kNone) return {};
    const Tail& tail = tails_[joined_tail_];
    return {joined_tail_, tail.serial, {tail.data, tail.size}};
  }
  // Keeps `source`, whose last bytes are the tail `id`'s bytes, with that
  // tail until it is freed: a later Put whose copied payload ends where
  // `source` does holds the same tail bytes (see Put).
  // REQUIRES: `id` is held (its serial current), and *source, which must
  // never change, ends with its bytes.
  void SetTailSource(const TailId& id,
                     std::shared_ptr<const std::vector<uint8_t>> source);

  // Cache hints for a packet about to be delivered (inline: they run for
  // every event). PrefetchSlot loads its slot (and with it the inline
  // bytes); PrefetchStorage, once the slot is in, its tail's record, or
  // its buffer and the buffer's shared count (read by Bytes/Release), and
  // returns InlineHead(handle). REQUIRES: handle in flight.
  void PrefetchSlot(uint32_t handle) const {
    __builtin_prefetch(&SlotAt(handle));
  }
  std::span<const uint8_t> PrefetchStorage(uint32_t handle) const {
    const Slot& slot = SlotAt(handle);
    if (slot.tail != kNone) {
      __builtin_prefetch(&tails_[slot.tail]);
    } else if (InBuffer(slot)) {
      __builtin_prefetch(slot.buffer);
      __builtin_prefetch(slot.buffer + 64);
      // Release decrements a shared buffer's count: a random slot of
      // buffer_refs_, otherwise a cache miss.
      if (slot.buffer_share != kNone) {
        __builtin_prefetch(&buffer_refs_[slot.buffer_share]);
      }
      return {};
    }
    return InlineHeadOf(slot);
  }
  // A cache hint before Release(handle): its slot, for writing.
  void PrefetchRelease(uint32_t handle) const {
    __builtin_prefetch(&SlotAt(handle), 1);
  }

  uint64_t in_flight() const { return in_flight_; }
  uint64_t peak_in_flight() const { return peak_in_flight_; }
  // Bytes of buffer memory the pool holds (in flight or free).
  uint64_t buffer_bytes() const { return buffer_bytes_; }
  // Puts that shared the previous Put's storage / an existing tail.
  uint64_t shared_puts() const { return shared_puts_; }
  uint64_t shared_tails() const { return shared_tails_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  // One cache line. A datagram of at most kInlineBytes, or the head of a
  // split one (tail != kNone), is in `inline_bytes`; any other lives whole
  // in `buffer`.
  struct alignas(64) Slot {
    uint32_t size = 0;
    uint32_t from = 0;
    uint32_t tail = kNone;          // index into tails_ when split
    uint32_t buffer_share = kNone;  // refcount index when buffer is shared
    uint8_t* buffer = nullptr;
    uint8_t inline_bytes[kInlineBytes];
  };
  static_assert(sizeof(Slot) == 64);
  struct Tail {
    uint8_t* data = nullptr;  // kHeadBytes into its buffer (Bytes' room)
    uint32_t size = 0;
    uint32_t refs = 0;
    uint64_t hash = 0;
    uint64_t serial = 0;  // TailId::serial; 0 while free
    // The buffer whose last `size` bytes are this tail's (SetTailSource),
    // and its end; none (nullptr) unless set.
    const uint8_t* source_end = nullptr;
    std::shared_ptr<const std::vector<uint8_t>> source;
  };

  static int ClassOf(size_t size) {
    if (size == 0) return 0;
    return static_cast<int>((size - 1) / kGranuleBytes);
  }
  static bool InBuffer(const Slot& s) { return s.buffer != nullptr; }
  // The bytes held in the slot or its buffer (all but a split tail).
  static const uint8_t* HeadData(const Slot& s) {
    return InBuffer(s) ? s.buffer : s.inline_bytes;
  }
  static std::span<const uint8_t> InlineHeadOf(const Slot& slot) {
    if (InBuffer(slot)) return {};
    return {slot.inline_bytes, std::min<size_t>(slot.size, kInlineBytes)};
  }
  // Inline: most Puts differ from the previous one in sender or size,
  // which the call cost more than checking (callgrind).
  bool SameAsLast(uint32_t from, std::span<const uint8_t> bytes) const {
    if (last_put_ == kNone || bytes.empty()) return false;
    const Slot& last = SlotAt(last_put_);
    // A released slot is reset to size 0, so it never matches (empty
    // datagrams are not shared).
    if (last.from != from || last.size != bytes.size()) return false;
    if (bytes.data() == last_source_) {
      assert(SameBytesAsLast(last, bytes));
      return true;
    }
    return SameBytesAsLast(last, bytes);
  }
  // Put, or PutInRun when kInRun.
  template <bool kInRun>
  uint32_t PutImpl(uint32_t from, std::span<const uint8_t> bytes,
                   std::span<const uint8_t> payload);
  // REQUIRES: last is the previous Put's slot, of bytes.size() bytes.
  bool SameBytesAsLast(const Slot& last, std::span<const uint8_t> bytes) const;
  // Out of line, as is ReleaseBuffer: rare, and their vector growth
  // inlined made every Put and Release save five registers.
  [[gnu::noinline]] uint32_t NewSlot();
  // Returns slot's buffer to its free list unless another slot shares it.
  [[gnu::noinline]] void ReleaseBuffer(const Slot& slot);
  // Release of a slot whose bytes are in a buffer (rare).
  [[gnu::noinline]] void ReleaseInBuffer(uint32_t handle);
  // Puts the slot on the free list.
  void FreeSlot(Slot& slot, uint32_t handle);
  // Put's steps, inlined into both of its instantiations (with two
  // callers each, GCC called them out of line: +3 M on the 2k reference).
  [[gnu::always_inline]] inline void ShareLast(Slot* slot);
  [[gnu::always_inline]] inline uint32_t FindOrAddTail(
      std::span<const uint8_t> tail, std::span<const uint8_t> payload);
  // True when `held`, of tail.size() bytes, holds `tail`'s bytes: by its
  // source (see Put), else by comparing them.
  static bool HoldsTail(const Tail& held, std::span<const uint8_t> tail,
                        std::span<const uint8_t> payload);
  // Frees a tail whose last holder was released. Out of line: rare, and
  // its table erase inlined made every Release save five registers.
  [[gnu::noinline]] void FreeTail(uint32_t index);
  [[gnu::always_inline]] inline uint8_t* TakeBuffer(int c);
  void Carve(int c);

  // Slots live in blocks that are allocated as needed and never move: a
  // vector of 64-byte slots doubling to millions held its old and new
  // arrays at once (~0.25 GB more peak RSS in a million-node flood).
  static constexpr uint32_t kSlotBlockShift = 12;  // 4096 slots, 256 KiB
  static constexpr uint32_t kSlotsPerBlock = 1u << kSlotBlockShift;
  Slot& SlotAt(uint32_t handle) {
    return slot_blocks_[handle >> kSlotBlockShift]
                       [handle & (kSlotsPerBlock - 1)];
  }
  const Slot& SlotAt(uint32_t handle) const {
    return slot_blocks_[handle >> kSlotBlockShift]
                       [handle & (kSlotsPerBlock - 1)];
  }
  std::vector<std::unique_ptr<Slot[]>> slot_blocks_;
  uint32_t slot_count_ = 0;  // slots created (handles 0 .. slot_count_-1)
  // Free slots, last released first: a free slot's `from` holds the next
  // one (kNone ends the list).
  uint32_t free_slot_ = kNone;
  std::vector<uint32_t> buffer_refs_;  // holders of a shared buffer
  std::vector<uint32_t> free_buffer_refs_;
  std::vector<Tail> tails_;
  std::vector<uint32_t> free_tails_;
  absl::flat_hash_map<uint64_t, uint32_t> tail_by_hash_;  // lookup only
  // Tails found or added lately, by RecentSlot (kNone: none), tried before
  // the key; a slot is cleared when its tail is freed.
  static constexpr int kRecentTailsShift = 4;
  static size_t RecentSlot(std::span<const uint8_t> tail);
  uint32_t recent_tails_[1 << kRecentTailsShift] = {
      kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone,
      kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone};
  std::vector<uint8_t*> free_buffers_[kClasses];
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;
  uint64_t tails_made_ = 0;       // the last TailId::serial given
  uint32_t joined_tail_ = kNone;  // LastJoinedTail's index
  uint32_t last_put_ = kNone;
  // In a stable run, where the previous PutInRun's bytes were read from
  // (they are still there, unchanged); nullptr otherwise.
  const uint8_t* last_source_ = nullptr;
#ifndef NDEBUG
  bool in_stable_run_ = false;
#endif
  // Tails with a source, by SourceSlot of its end (kNone: none), tried
  // first for a Put with a copied payload; a slot is cleared when its tail
  // is freed.
  static constexpr int kSourceTailsShift = 4;
  static size_t SourceSlot(const uint8_t* source_end);
  uint32_t source_tails_[1 << kSourceTailsShift] = {
      kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone,
      kNone, kNone, kNone, kNone, kNone, kNone, kNone, kNone};
  uint64_t in_flight_ = 0;
  uint64_t peak_in_flight_ = 0;
  uint64_t buffer_bytes_ = 0;
  uint64_t shared_puts_ = 0;
  uint64_t shared_tails_ = 0;
};

// Inline: it runs once per arrival, and called out of line it cost ~3
// instructions more each time (callgrind, 2k run: RunNodes 0.9 M).
inline void PacketPool::Release(uint32_t handle) {
  assert(handle < slot_count_);
  assert(in_flight_ > 0);
  Slot& slot = SlotAt(handle);
  // The calls are on the rare paths, out of line: the common release is
  // a few loads and stores.
  if (InBuffer(slot)) [[unlikely]] {
    ReleaseInBuffer(handle);
    return;
  }
  const uint32_t tail = slot.tail;
  assert(tail == kNone || tails_[tail].refs > 0);
  FreeSlot(slot, handle);
  if (tail != kNone && --tails_[tail].refs == 0) [[unlikely]]
    FreeTail(tail);
}

inline void PacketPool::FreeSlot(Slot& slot, uint32_t handle) {
  // A free slot is read only by SameAsLast (size 0 never matches); Put
  // rewrites every field but the inline bytes past the datagram's size.
  slot.size = 0;
  slot.from = free_slot_;
  free_slot_ = handle;
  --in_flight_;
}

}  // namespace elara::sim

#endif  // ELARA_SIM_PACKET_POOL_H_
