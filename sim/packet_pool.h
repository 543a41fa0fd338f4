// File: sim/packet_pool.h
//
// PacketPool: where datagrams in flight live, so that events stay 24-byte
// PODs carrying only a 32-bit handle. A slot holds the sender's index and
// the datagram bytes, copied into buffers of the pool's own.
//
// Why copy instead of keeping the engine's std::vector: measured on a
// 10,000-node run (perf), freeing each vector at arrival, long after and in
// a different order than it was allocated, cost 7-10 % of the whole run in
// glibc's _int_free/unlink_chunk (gossip datagrams are larger than glibc's
// per-thread cache). Copying at send time lets the engine's vector be freed
// while still hot, and the pool's buffers are recycled through per-size-
// class free lists without touching malloc.
//
// Sharing (memory only: Bytes() always returns exactly what was Put):
//   - Back-to-back copies: a Put whose sender and bytes equal the previous
//     Put's (still in flight) shares its storage. An engine forwarding a
//     message to its eager peers sends one datagram to each, back to back.
//   - Common tails: a datagram of kTailMinBytes or more is kept as a head
//     (its first kHeadBytes) and a tail (the rest); tails with equal bytes
//     share one refcounted buffer, found through a hash of their bytes.
//     Every node forwarding a message sends the same payload behind a
//     different header, so during a flood (a million-node first broadcast:
//     ~2.8 M datagrams in flight at the peak, ~1.1 KiB each) almost all
//     in-flight payload bytes are one tail. Bytes() of such a packet joins
//     head and tail in a scratch buffer (one ~1 KiB copy).
//
// Buffers come in size classes of every multiple of 64 bytes up to 64 KiB
// (the largest UDP datagram), carved from 64 KiB-or-larger chunks, so a
// buffer wastes less than 64 bytes. The pool never returns memory to
// malloc: it holds at most the peak number of buffers in flight per class,
// plus one partly used chunk per class.
//
// Invariants:
//   1. A handle returned by Put is valid until Release(handle), exactly once.
//   2. in_flight() == Puts - Releases; peak_in_flight() is its maximum.
//   3. A buffer returns to its free list when the last packet holding it is
//      released.
//   4. The tail table is only looked up, never iterated: sharing cannot
//      change any order.
//
// Thread-safety: not thread-safe.
#ifndef ELARA_SIM_PACKET_POOL_H_
#define ELARA_SIM_PACKET_POOL_H_

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
  // Datagrams this long or longer are stored as head + shared tail.
  static constexpr size_t kTailMinBytes = 512;
  static constexpr size_t kHeadBytes = 64;

  PacketPool() = default;
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // Copies (or shares) `bytes`. REQUIRES: bytes.size() <= kMaxBytes.
  uint32_t Put(uint32_t from, std::span<const uint8_t> bytes);
  // The sender given to Put.
  uint32_t from(uint32_t handle) const { return slots_[handle].from; }
  uint32_t size(uint32_t handle) const { return slots_[handle].size; }
  // The bytes given to Put. Valid until the next Bytes() call or the
  // handle's Release, whichever comes first.
  std::span<const uint8_t> Bytes(uint32_t handle);
  // Frees the handle (and a buffer when it was its last holder).
  void Release(uint32_t handle);

  // Cache hints for a packet about to be delivered: stage 0 loads its
  // slot, stage 1 (once the slot is in) the first bytes of the datagram,
  // its tail's record and its shared head's count (read by Bytes/Release).
  void Prefetch(uint32_t handle, int stage) const;

  uint64_t in_flight() const { return in_flight_; }
  uint64_t peak_in_flight() const { return peak_in_flight_; }
  // Bytes of buffer memory the pool holds (in flight or free).
  uint64_t buffer_bytes() const { return buffer_bytes_; }
  // Puts that shared the previous Put's storage / an existing tail.
  uint64_t shared_puts() const { return shared_puts_; }
  uint64_t shared_tails() const { return shared_tails_; }

 private:
  static constexpr uint32_t kNone = UINT32_MAX;
  struct Slot {
    uint8_t* head = nullptr;  // whole datagram, or its first kHeadBytes
    uint32_t size = 0;
    uint32_t from = 0;
    uint32_t head_share = kNone;  // refcount index when head is shared
    uint32_t tail = kNone;        // index into tails_ when split
  };
  struct Tail {
    uint8_t* data = nullptr;
    uint32_t size = 0;
    uint32_t refs = 0;
    uint64_t hash = 0;
  };

  static int ClassOf(size_t size) {
    if (size == 0) return 0;
    return static_cast<int>((size - 1) / kGranuleBytes);
  }
  size_t HeadLength(const Slot& s) const {
    return s.tail == kNone ? s.size : kHeadBytes;
  }
  bool SameAsLast(uint32_t from, std::span<const uint8_t> bytes) const;
  void ShareLast(Slot* slot);
  uint32_t FindOrAddTail(std::span<const uint8_t> tail);
  void ReleaseTail(uint32_t index);
  uint8_t* TakeBuffer(int c);
  void Carve(int c);

  std::vector<Slot> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> head_refs_;  // holders of a shared head
  std::vector<uint32_t> free_head_refs_;
  std::vector<Tail> tails_;
  std::vector<uint32_t> free_tails_;
  absl::flat_hash_map<uint64_t, uint32_t> tail_by_hash_;  // lookup only
  std::vector<uint8_t> joined_;  // Bytes() of a split packet
  std::vector<uint8_t*> free_buffers_[kClasses];
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;
  uint32_t last_put_ = kNone;
  uint64_t in_flight_ = 0;
  uint64_t peak_in_flight_ = 0;
  uint64_t buffer_bytes_ = 0;
  uint64_t shared_puts_ = 0;
  uint64_t shared_tails_ = 0;
};

}  // namespace elara::sim

#endif  // ELARA_SIM_PACKET_POOL_H_
