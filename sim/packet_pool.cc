// The packet pool's storage: size-class buffers, back-to-back sharing and
// shared tails (see packet_pool.h for why).
#include "sim/packet_pool.h"

#include <cassert>
#include <cstring>

namespace elara::sim {
namespace {

// Multiply-xor over 8-byte words in four independent lanes (the lanes'
// multiplies overlap instead of waiting on one another: ~4x faster per
// KiB than one chain). Only a table key: equal hashes are confirmed by
// comparing the bytes, so the mix only has to spread payloads apart.
uint64_t HashBytes(std::span<const uint8_t> bytes) {
  constexpr uint64_t kMul = 0x100000001b3ull;
  uint64_t lane[4] = {0x9e3779b97f4a7c15ull ^ bytes.size(),
                      0xc2b2ae3d27d4eb4full, 0x165667b19e3779f9ull,
                      0x27d4eb2f165667c5ull};
  const uint8_t* p = bytes.data();
  size_t n = bytes.size();
  for (; n >= 32; p += 32, n -= 32) {
    for (int k = 0; k < 4; ++k) {
      uint64_t word;
      std::memcpy(&word, p + 8 * k, 8);
      lane[k] = (lane[k] ^ word) * kMul;
      lane[k] ^= lane[k] >> 29;
    }
  }
  uint64_t h = lane[0] ^ (lane[1] * 3) ^ (lane[2] * 5) ^ (lane[3] * 7);
  for (; n >= 8; p += 8, n -= 8) {
    uint64_t word;
    std::memcpy(&word, p, 8);
    h = (h ^ word) * kMul;
    h ^= h >> 29;
  }
  for (; n > 0; ++p, --n) h = (h ^ *p) * kMul;
  return h ^ (h >> 32);
}

// The tail table's key: the size and four 32-byte windows (start, thirds,
// end) instead of every byte. A 1 KiB payload hashed whole cost ~600
// instructions per first forward (4 % of a 30k-node run's instructions);
// tails that differ only outside the windows get equal keys and are told
// apart by the byte comparison that confirms every match (the older one
// then stops being shared: memory only, never the bytes). Out of line:
// only when no recent tail matched, and inlined its sample array gave
// every Put (Send) a stack-protector canary.
[[gnu::noinline]] uint64_t TailKey(std::span<const uint8_t> bytes) {
  constexpr size_t kWindow = 32;
  const size_t n = bytes.size();
  if (n < 8 * kWindow) return HashBytes(bytes);
  uint8_t sample[4 * kWindow];
  const size_t starts[4] = {0, n / 3, 2 * n / 3, n - kWindow};
  for (int i = 0; i < 4; ++i) {
    std::memcpy(sample + i * kWindow, bytes.data() + starts[i], kWindow);
  }
  return HashBytes(sample) ^ (n * 0x9e3779b97f4a7c15ull);
}

}  // namespace

size_t PacketPool::RecentSlot(std::span<const uint8_t> tail) {
  uint64_t word;
  std::memcpy(&word, tail.data(), sizeof(word));  // tails are >= 8 bytes
  const uint64_t mixed = (word ^ tail.size()) * 0x9e3779b97f4a7c15ull;
  return static_cast<size_t>(mixed >> (64 - kRecentTailsShift));
}

size_t PacketPool::SourceSlot(const uint8_t* source_end) {
  const uint64_t mixed =
      reinterpret_cast<uintptr_t>(source_end) * 0x9e3779b97f4a7c15ull;
  return static_cast<size_t>(mixed >> (64 - kSourceTailsShift));
}

uint32_t PacketPool::Put(uint32_t from, std::span<const uint8_t> bytes,
                         std::span<const uint8_t> payload) {
  return PutImpl<false>(from, bytes, payload);
}

uint32_t PacketPool::PutInRun(uint32_t from, std::span<const uint8_t> bytes,
                              std::span<const uint8_t> payload) {
  assert(in_stable_run_);
  return PutImpl<true>(from, bytes, payload);
}

template <bool kInRun>
uint32_t PacketPool::PutImpl(uint32_t from, std::span<const uint8_t> bytes,
                             std::span<const uint8_t> payload) {
  assert(bytes.size() <= kMaxBytes);
  uint32_t handle = free_slot_;
  if (handle != kNone) {
    free_slot_ = SlotAt(handle).from;
  } else {
    handle = NewSlot();
  }
  const bool same_as_last = SameAsLast(from, bytes);
  // Every field but the inline bytes (only the first `size` of them, or
  // of a split packet's kHeadBytes, are ever read).
  Slot& slot = SlotAt(handle);
  slot.size = static_cast<uint32_t>(bytes.size());
  slot.from = from;
  slot.tail = kNone;
  slot.buffer_share = kNone;
  slot.buffer = nullptr;
  if (same_as_last) {
    ShareLast(&slot);
  } else if (bytes.size() >= kTailMinBytes) {
    std::memcpy(slot.inline_bytes, bytes.data(), kHeadBytes);
    slot.tail = FindOrAddTail(bytes.subspan(kHeadBytes), payload);
  } else if (bytes.size() > kInlineBytes) {
    slot.buffer = TakeBuffer(ClassOf(bytes.size()));
    std::memcpy(slot.buffer, bytes.data(), bytes.size());
  } else if (!bytes.empty()) {
    std::memcpy(slot.inline_bytes, bytes.data(), bytes.size());
  }
  last_put_ = handle;
  last_source_ = kInRun ? bytes.data() : nullptr;
  ++in_flight_;
  if (in_flight_ > peak_in_flight_) peak_in_flight_ = in_flight_;
  return handle;
}

std::span<const uint8_t> PacketPool::Bytes(uint32_t handle) {
  assert(handle < slot_count_);
  const Slot& slot = SlotAt(handle);
  if (slot.tail == kNone) return {HeadData(slot), slot.size};
  uint8_t* const joined = tails_[slot.tail].data - kHeadBytes;
  std::memcpy(joined, slot.inline_bytes, kHeadBytes);
  joined_tail_ = slot.tail;
  return {joined, slot.size};
}

std::span<const uint8_t> PacketPool::Bytes(
    uint32_t handle, std::vector<uint8_t>* scratch) const {
  assert(handle < slot_count_);
  const Slot& slot = SlotAt(handle);
  if (slot.tail == kNone) return {HeadData(slot), slot.size};
  const Tail& tail = tails_[slot.tail];
  scratch->resize(slot.size);
  std::memcpy(scratch->data(), slot.inline_bytes, kHeadBytes);
  std::memcpy(scratch->data() + kHeadBytes, tail.data, tail.size);
  return *scratch;
}

uint32_t PacketPool::NewSlot() {
  const uint32_t handle = slot_count_++;
  if ((handle >> kSlotBlockShift) == slot_blocks_.size()) {
    slot_blocks_.push_back(std::make_unique<Slot[]>(kSlotsPerBlock));
  }
  return handle;
}

void PacketPool::ReleaseInBuffer(uint32_t handle) {
  Slot& slot = SlotAt(handle);
  ReleaseBuffer(slot);
  assert(slot.tail == kNone || tails_[slot.tail].refs > 0);
  if (slot.tail != kNone && --tails_[slot.tail].refs == 0) FreeTail(slot.tail);
  FreeSlot(slot, handle);
}

void PacketPool::ReleaseBuffer(const Slot& slot) {
  if (slot.buffer_share != kNone && --buffer_refs_[slot.buffer_share] > 0) {
    return;
  }
  free_buffers_[ClassOf(slot.size)].push_back(slot.buffer);
  if (slot.buffer_share != kNone) {
    free_buffer_refs_.push_back(slot.buffer_share);
  }
}

bool PacketPool::SameBytesAsLast(const Slot& last,
                                 std::span<const uint8_t> bytes) const {
  if (last.tail == kNone) {
    return std::memcmp(HeadData(last), bytes.data(), last.size) == 0;
  }
  // The head in five words, inline (a memcmp call cost more than the
  // compare), then the tail.
  static_assert(kHeadBytes % 8 == 0);
  uint64_t differ = 0;
  for (size_t i = 0; i < kHeadBytes; i += 8) {
    uint64_t a;
    uint64_t b;
    std::memcpy(&a, last.inline_bytes + i, 8);
    std::memcpy(&b, bytes.data() + i, 8);
    differ |= a ^ b;
  }
  if (differ != 0) return false;
  const Tail& tail = tails_[last.tail];
  return std::memcmp(tail.data, bytes.data() + kHeadBytes, tail.size) == 0;
}

// Makes `slot` hold the previous Put's bytes: its inline bytes copied, its
// buffer (counted) or tail (a ref) shared.
void PacketPool::ShareLast(Slot* slot) {
  Slot& last = SlotAt(last_put_);
  if (InBuffer(last)) {
    if (last.buffer_share == kNone) {
      if (free_buffer_refs_.empty()) {
        last.buffer_share = static_cast<uint32_t>(buffer_refs_.size());
        buffer_refs_.push_back(1);
      } else {
        last.buffer_share = free_buffer_refs_.back();
        free_buffer_refs_.pop_back();
        buffer_refs_[last.buffer_share] = 1;
      }
    }
    ++buffer_refs_[last.buffer_share];
    slot->buffer = last.buffer;
    slot->buffer_share = last.buffer_share;
  } else {
    std::memcpy(slot->inline_bytes, last.inline_bytes, kInlineBytes);
  }
  slot->tail = last.tail;
  if (slot->tail != kNone) ++tails_[slot->tail].refs;
  ++shared_puts_;
}

void PacketPool::SetTailSource(
    const TailId& id, std::shared_ptr<const std::vector<uint8_t>> source) {
  Tail& tail = tails_[id.index];
  assert(tail.serial == id.serial && tail.refs > 0);
  assert(
      source->size() >= tail.size &&
      std::equal(tail.data, tail.data + tail.size, source->end() - tail.size));
  tail.source_end = source->data() + source->size();
  tail.source = std::move(source);
  source_tails_[SourceSlot(tail.source_end)] = id.index;
}

bool PacketPool::HoldsTail(const Tail& held, std::span<const uint8_t> tail,
                           std::span<const uint8_t> payload) {
  assert(held.size == tail.size());
  // The datagram's copy of `payload` covers its tail, and ends where the
  // held tail's source ends: a live buffer (the tail holds it), so
  // `payload` lies in it (a non-empty span ends in one buffer only), and
  // both tails are that buffer's last tail.size() bytes.
  if (payload.size() >= tail.size() &&
      payload.data() + payload.size() == held.source_end) {
    assert(std::memcmp(held.data, tail.data(), tail.size()) == 0);
    return true;
  }
  return std::memcmp(held.data, tail.data(), tail.size()) == 0;
}

uint32_t PacketPool::FindOrAddTail(std::span<const uint8_t> bytes,
                                   std::span<const uint8_t> payload) {
  // First a tail kept with the buffer the payload was copied from (a
  // forwarded gossip): no byte of it read.
  if (payload.size() >= bytes.size()) {
    const uint8_t* const payload_end = payload.data() + payload.size();
    const uint32_t index = source_tails_[SourceSlot(payload_end)];
    if (index != kNone) {
      Tail& held = tails_[index];
      if (held.source_end == payload_end && held.size == bytes.size()) {
        assert(std::memcmp(held.data, bytes.data(), bytes.size()) == 0);
        ++held.refs;
        ++shared_tails_;
        return index;
      }
    }
  }
  // First the recent tail of the same size and first word: the forwarders
  // of the few messages being flooded at once follow one another, and the
  // key (a hash over 128 bytes) and its lookup cost more than a compare
  // that fails (payloads differ early).
  uint32_t& recent = recent_tails_[RecentSlot(bytes)];
  if (recent != kNone) {
    Tail& held = tails_[recent];
    if (held.size == bytes.size() && HoldsTail(held, bytes, payload)) {
      ++held.refs;
      ++shared_tails_;
      return recent;
    }
  }
  const uint64_t hash = TailKey(bytes);
  auto it = tail_by_hash_.find(hash);
  if (it != tail_by_hash_.end()) {
    Tail& held = tails_[it->second];
    if (held.size == bytes.size() && HoldsTail(held, bytes, payload)) {
      ++held.refs;
      ++shared_tails_;
      recent = it->second;
      return it->second;
    }
  }
  uint32_t index;
  if (!free_tails_.empty()) {
    index = free_tails_.back();
    free_tails_.pop_back();
  } else {
    index = static_cast<uint32_t>(tails_.size());
    tails_.emplace_back();
  }
  Tail& tail = tails_[index];
  tail.data = TakeBuffer(ClassOf(kHeadBytes + bytes.size())) + kHeadBytes;
  tail.size = static_cast<uint32_t>(bytes.size());
  tail.refs = 1;
  tail.hash = hash;
  tail.serial = ++tails_made_;
  std::memcpy(tail.data, bytes.data(), bytes.size());
  tail_by_hash_[hash] = index;  // a colliding older tail just stops sharing
  recent = index;
  return index;
}

void PacketPool::FreeTail(uint32_t index) {
  Tail& tail = tails_[index];
  assert(tail.refs == 0);
  free_buffers_[ClassOf(kHeadBytes + tail.size)].push_back(tail.data -
                                                           kHeadBytes);
  auto it = tail_by_hash_.find(tail.hash);
  if (it != tail_by_hash_.end() && it->second == index) tail_by_hash_.erase(it);
  uint32_t& recent = recent_tails_[RecentSlot({tail.data, tail.size})];
  if (recent == index) recent = kNone;
  if (tail.source_end != nullptr) {
    uint32_t& by_source = source_tails_[SourceSlot(tail.source_end)];
    if (by_source == index) by_source = kNone;
  }
  tail = Tail{};
  free_tails_.push_back(index);
}

uint8_t* PacketPool::TakeBuffer(int c) {
  std::vector<uint8_t*>& free = free_buffers_[c];
  if (free.empty()) Carve(c);
  uint8_t* buffer = free.back();
  free.pop_back();
  return buffer;
}

// Allocates one chunk for class c and splits it into free buffers.
void PacketPool::Carve(int c) {
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

}  // namespace elara::sim
