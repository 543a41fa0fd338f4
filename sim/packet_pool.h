// File: sim/packet_pool.h
//
// PacketPool: where datagrams in flight live, so that events stay 24-byte
// PODs carrying only a 32-bit handle. A slot holds the sender's index and
// a copy of the datagram bytes in a buffer of the pool's own.
//
// Why copy instead of keeping the engine's std::vector: measured on a
// 10,000-node run (perf), freeing each vector at arrival, long after and in
// a different order than it was allocated, cost 7-10 % of the whole run in
// glibc's _int_free/unlink_chunk (gossip datagrams are larger than glibc's
// per-thread cache). Copying at send time (~1 KiB memcpy) lets the engine's
// vector be freed while still hot, and the pool's buffers are recycled
// through per-size-class free lists without touching malloc.
//
// Identical copies share one buffer: a Put whose sender and bytes equal
// the previous Put's (still in flight) takes a reference to its buffer
// instead of a new one. An engine forwarding a message to its eager peers
// sends the same datagram to each of them back to back, so during a flood
// most gossip datagrams in flight are such copies (a million-node first
// broadcast: ~2.8 M datagrams in flight at the peak, ~1.1 KiB each). The
// comparison costs about what the copy it saves would have.
//
// Buffers come in size classes of every multiple of 64 bytes up to 64 KiB
// (the largest UDP datagram), carved from 64 KiB-or-larger chunks, so a
// buffer wastes less than 64 bytes (powers of two wasted ~45 % on 1.1 KiB
// gossip datagrams: 2 KiB buffers). The pool never returns memory to
// malloc: it holds at most the peak number of buffers in flight per class,
// plus one partly used chunk per class.
//
// Invariants:
//   1. A handle returned by Put is valid until Release(handle), exactly once.
//   2. in_flight() == Puts - Releases; peak_in_flight() is its maximum.
//   3. A buffer returns to its free list when the last packet holding it
//      is released; shared_puts() counts the Puts that shared one.
//
// Thread-safety: not thread-safe.
#ifndef ELARA_SIM_PACKET_POOL_H_
#define ELARA_SIM_PACKET_POOL_H_

#include <cassert>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

namespace elara::sim {

class PacketPool {
 public:
  static constexpr size_t kGranuleBytes = 64;
  static constexpr int kClasses = 1024;  // 64 B, 128 B, ..., 64 KiB
  static constexpr size_t kMaxBytes = kGranuleBytes * kClasses;
  static constexpr size_t kChunkBytes = 64 * 1024;

  static constexpr uint32_t kNoShare = UINT32_MAX;
  struct Packet {
    uint8_t* data = nullptr;
    uint32_t size = 0;
    uint32_t from = 0;
    uint32_t share = kNoShare;  // index into share_counts_ when shared
    std::span<const uint8_t> bytes() const { return {data, size}; }
  };

  PacketPool() = default;
  PacketPool(const PacketPool&) = delete;
  PacketPool& operator=(const PacketPool&) = delete;

  // Copies `bytes` into the pool. REQUIRES: bytes.size() <= kMaxBytes.
  uint32_t Put(uint32_t from, std::span<const uint8_t> bytes) {
    assert(bytes.size() <= kMaxBytes);
    uint32_t handle;
    if (!free_slots_.empty()) {
      handle = free_slots_.back();
      free_slots_.pop_back();
    } else {
      handle = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Packet& p = slots_[handle];
    p.size = static_cast<uint32_t>(bytes.size());
    p.from = from;
    p.share = kNoShare;
    if (SameAsLast(from, bytes)) {
      Share(&slots_[last_put_], &p);
    } else {
      p.data = TakeBuffer(ClassOf(bytes.size()));
      if (!bytes.empty()) std::memcpy(p.data, bytes.data(), bytes.size());
    }
    last_put_ = handle;
    ++in_flight_;
    if (in_flight_ > peak_in_flight_) peak_in_flight_ = in_flight_;
    return handle;
  }

  const Packet& Get(uint32_t handle) const {
    assert(handle < slots_.size());
    return slots_[handle];
  }

  // Cache hints for a packet about to be delivered: stage 0 loads its slot,
  // stage 1 (once the slot is in) the first bytes of the datagram.
  void Prefetch(uint32_t handle, int stage) const {
    if (handle >= slots_.size()) return;
    if (stage == 0) {
      __builtin_prefetch(&slots_[handle]);
    } else {
      __builtin_prefetch(slots_[handle].data);
      __builtin_prefetch(slots_[handle].data + 64);
    }
  }

  void Release(uint32_t handle) {
    assert(handle < slots_.size());
    assert(in_flight_ > 0);
    Packet& p = slots_[handle];
    assert(p.data != nullptr);
    if (p.share == kNoShare || --share_counts_[p.share] == 0) {
      free_buffers_[ClassOf(p.size)].push_back(p.data);
      if (p.share != kNoShare) free_shares_.push_back(p.share);
    }
    p.data = nullptr;
    p.share = kNoShare;
    free_slots_.push_back(handle);
    --in_flight_;
  }

  uint64_t in_flight() const { return in_flight_; }
  // Puts that took a reference to the previous Put's buffer.
  uint64_t shared_puts() const { return shared_puts_; }
  uint64_t peak_in_flight() const { return peak_in_flight_; }
  // Bytes of buffer memory the pool holds (in flight or free).
  uint64_t buffer_bytes() const { return buffer_bytes_; }

 private:
  // Class c holds buffers of (c + 1) * kGranuleBytes.
  static int ClassOf(size_t size) {
    if (size == 0) return 0;
    return static_cast<int>((size - 1) / kGranuleBytes);
  }

  // True when the previous Put is still in flight, from the same sender,
  // with the same bytes.
  bool SameAsLast(uint32_t from, std::span<const uint8_t> bytes) const {
    if (last_put_ >= slots_.size()) return false;
    const Packet& last = slots_[last_put_];
    return last.data != nullptr && last.from == from &&
           last.size == bytes.size() && !bytes.empty() &&
           std::memcmp(last.data, bytes.data(), bytes.size()) == 0;
  }

  // Makes `p` hold `last`'s buffer, counting the holders.
  void Share(Packet* last, Packet* p) {
    if (last->share == kNoShare) {
      if (free_shares_.empty()) {
        last->share = static_cast<uint32_t>(share_counts_.size());
        share_counts_.push_back(1);
      } else {
        last->share = free_shares_.back();
        free_shares_.pop_back();
        share_counts_[last->share] = 1;
      }
    }
    ++share_counts_[last->share];
    p->share = last->share;
    p->data = last->data;
    ++shared_puts_;
  }

  uint8_t* TakeBuffer(int c) {
    std::vector<uint8_t*>& free = free_buffers_[c];
    if (free.empty()) Carve(c);
    uint8_t* buffer = free.back();
    free.pop_back();
    return buffer;
  }

  // Allocates one chunk for class c and splits it into free buffers.
  void Carve(int c) {
    const size_t buffer = (static_cast<size_t>(c) + 1) * kGranuleBytes;
    const size_t count = buffer >= kChunkBytes ? 1 : kChunkBytes / buffer;
    // Default-initialised: no page is touched before it is used.
    chunks_.push_back(std::unique_ptr<uint8_t[]>(new uint8_t[buffer * count]));
    buffer_bytes_ += buffer * count;
    uint8_t* base = chunks_.back().get();
    for (size_t i = count; i > 0; --i) {
      free_buffers_[c].push_back(base + (i - 1) * buffer);
    }
  }

  std::vector<Packet> slots_;
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> share_counts_;  // holders of a shared buffer
  std::vector<uint32_t> free_shares_;
  uint32_t last_put_ = UINT32_MAX;
  uint64_t shared_puts_ = 0;
  std::vector<uint8_t*> free_buffers_[kClasses];
  std::vector<std::unique_ptr<uint8_t[]>> chunks_;
  uint64_t in_flight_ = 0;
  uint64_t peak_in_flight_ = 0;
  uint64_t buffer_bytes_ = 0;
};

}  // namespace elara::sim

#endif  // ELARA_SIM_PACKET_POOL_H_
