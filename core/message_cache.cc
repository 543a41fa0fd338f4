// The ring is a plain array indexed modulo its capacity, grown from
// kFirstRingEntries by NextBlockCapacity (by four, then by half) so that a
// node that caches three messages holds four entries, not max_entries.
// Each slot's tag sits at the same index of the tag array that precedes
// the ring in the same heap block (one allocation, one page for a lookup);
// both move when it grows. A ring past kScanSlots also keeps a lookup
// table: arrival ordinals (not slots) sit in it so that growing the ring
// does not invalidate it.
#include "core/message_cache.h"

#include <algorithm>
#include <cassert>
#include <cstddef>
#include <new>
#include <utility>

#include "core/block_growth.h"

namespace elara {
namespace {

// Rough size of a shared_ptr control block plus the vector header it owns,
// counted per stored payload.
constexpr size_t kPayloadOverheadBytes = 48;

// A ring's first size. Not more than one: a million nodes that each cache
// one message would hold ~180 MB of empty entries at 4 (measured: the 1M
// one-broadcast run's peak RSS went 3.71 -> 3.95 GiB).
constexpr size_t kFirstRingEntries = 1;

}  // namespace

MessageCache::MessageCache(size_t max_entries, Duration ttl)
    : max_entries_(static_cast<uint32_t>(
          std::clamp<size_t>(max_entries, 1, UINT32_MAX))),
      ttl_(ttl) {}

size_t MessageCache::SlotOf(uint64_t ordinal) const {
  return (head_ + static_cast<size_t>(ordinal - first_ordinal_)) % capacity_;
}

bool MessageCache::Expired(const Entry& entry, Timestamp now) const {
  return entry.stored_at + ttl_ <= now;
}

uint32_t MessageCache::TagOf(MessageId id) {
  const uint64_t h =
      (id.origin.value() ^ (id.sequence * 0x9e3779b97f4a7c15ull)) *
      0xbf58476d1ce4e5b9ull;
  return static_cast<uint32_t>(h >> 32);
}

size_t MessageCache::FindSlot(MessageId id) const {
  if (Indexed()) {
    auto it = index_->find(id);
    return it == index_->end() ? kNotFound : SlotOf(it->second);
  }
  // Live slots run from head_ for count_ slots, wrapping once at most.
  // Scanned newest first: most lookups (an IHAVE, a GRAFT, a duplicate)
  // are for a message that arrived recently, and an id is stored at most
  // once, so the order cannot change the answer.
  const uint32_t tag = TagOf(id);
  const size_t capacity = capacity_;
  const size_t end = size_t{head_} + count_;
  for (size_t s = end > capacity ? end - capacity : 0; s-- > 0;) {
    if (tags_[s] == tag && ring_[s].id == id) return s;
  }
  for (size_t s = std::min(end, capacity); s-- > head_;) {
    if (tags_[s] == tag && ring_[s].id == id) return s;
  }
  return kNotFound;
}

size_t MessageCache::RingOffset(size_t capacity) {
  const size_t align = alignof(Entry);
  return (capacity * sizeof(uint32_t) + align - 1) / align * align;
}

void MessageCache::Allocate(size_t capacity, uint32_t** tags, Entry** ring) {
  const size_t offset = RingOffset(capacity);
  std::byte* block = static_cast<std::byte*>(
      ::operator new(offset + capacity * sizeof(Entry)));
  *tags = reinterpret_cast<uint32_t*>(block);
  *ring = reinterpret_cast<Entry*>(block + offset);
}

void MessageCache::Release(uint32_t* tags) {
  ::operator delete(static_cast<void*>(tags));
}

MessageCache::~MessageCache() {
  for (size_t i = 0; i < count_; ++i) ring_[(head_ + i) % capacity_].~Entry();
  Release(tags_);
}

void MessageCache::Grow() {
  const size_t capacity = std::min<size_t>(
      max_entries_, std::max(kFirstRingEntries, NextBlockCapacity(capacity_)));
  uint32_t* tags;
  Entry* ring;
  Allocate(capacity, &tags, &ring);
  for (size_t i = 0; i < count_; ++i) {
    const size_t slot = (head_ + i) % capacity_;
    tags[i] = tags_[slot];
    new (ring + i) Entry(std::move(ring_[slot]));
    ring_[slot].~Entry();
  }
  const bool was_indexed = Indexed();
  Release(tags_);
  tags_ = tags;
  ring_ = ring;
  capacity_ = static_cast<uint32_t>(capacity);  // <= max_entries_
  head_ = 0;
  if (Indexed() && !was_indexed) {
    index_ = std::make_unique<absl::flat_hash_map<MessageId, uint64_t>>();
    for (size_t i = 0; i < count_; ++i) {
      index_->try_emplace(ring_[i].id, first_ordinal_ + i);
    }
  }
}

MessageCache::Payload MessageCache::PopOldest() {
  Entry& oldest = ring_[head_];
  if (Indexed()) index_->erase(oldest.id);
  Payload payload = std::move(oldest.payload);
  if (payload != nullptr) payload_bytes_ -= payload->capacity();
  oldest.~Entry();
  head_ = (head_ + 1) % capacity_;
  --count_;
  ++first_ordinal_;
  return payload;
}

bool MessageCache::Insert(Entry&& entry, std::vector<Payload>* removed) {
  // Checked before anything moves: a duplicate evicts nothing.
  if (FindSlot(entry.id) != kNotFound) return false;
  return InsertUnseen(std::move(entry), removed);
}

bool MessageCache::InsertUnseen(Entry&& entry, std::vector<Payload>* removed) {
  assert(FindSlot(entry.id) == kNotFound);
  // A full cache evicts first, so the index never holds more than
  // max_entries ids. The ordinal does not depend on an eviction: PopOldest
  // advances first_ordinal_ and drops count_ together.
  bool evicted = false;
  if (count_ == max_entries_) {
    removed->push_back(PopOldest());
    evicted = true;
  }
  const uint64_t ordinal = first_ordinal_ + count_;
  if (count_ == capacity_) Grow();
  if (Indexed()) index_->try_emplace(entry.id, ordinal);
  ++count_;
  if (entry.payload != nullptr) payload_bytes_ += entry.payload->capacity();
  const size_t slot = SlotOf(ordinal);
  tags_[slot] = TagOf(entry.id);
  new (ring_ + slot) Entry(std::move(entry));
  return evicted;
}

const MessageCache::Entry* MessageCache::Find(MessageId id,
                                              Timestamp now) const {
  const size_t slot = FindSlot(id);
  if (slot == kNotFound) return nullptr;
  const Entry& entry = ring_[slot];
  return Expired(entry, now) ? nullptr : &entry;
}

size_t MessageCache::Expire(Timestamp now, std::vector<Payload>* removed) {
  size_t expired = 0;
  while (count_ > 0 && Expired(ring_[head_], now)) {
    removed->push_back(PopOldest());
    ++expired;
  }
  if (count_ == 0 && capacity_ != 0) {
    // An idle node gives its ring and lookup table back.
    Release(tags_);
    tags_ = nullptr;
    ring_ = nullptr;
    capacity_ = 0;
    index_.reset();
    head_ = 0;
  }
  return expired;
}

Timestamp MessageCache::NextExpiry() const {
  if (count_ == 0) return Timestamp::Infinite();
  return ring_[head_].stored_at + ttl_;
}

const MessageCache::Entry& MessageCache::Newest(size_t i) const {
  return ring_[SlotOf(first_ordinal_ + count_ - 1 - i)];
}

size_t MessageCache::HeapBytes() const {
  return (capacity_ == 0 ? 0
                         : RingOffset(capacity_) + capacity_ * sizeof(Entry)) +
         (index_ == nullptr
              ? 0
              : sizeof(*index_) +
                    index_->capacity() *
                        (sizeof(std::pair<const MessageId, uint64_t>) + 1)) +
         payload_bytes_ + count_ * kPayloadOverheadBytes;
}

}  // namespace elara
