// The ring is a plain vector indexed modulo its size, grown by doubling so
// that a node that caches three messages holds three entries, not
// max_entries. Arrival ordinals (not slots) sit in the lookup table so that
// growing the ring does not invalidate it.
#include "core/message_cache.h"

#include <algorithm>
#include <utility>

namespace elara {
namespace {

// Rough size of a shared_ptr control block plus the vector header it owns,
// counted per stored payload.
constexpr size_t kPayloadOverheadBytes = 48;

}  // namespace

MessageCache::MessageCache(size_t max_entries, Duration ttl)
    : ttl_(ttl), max_entries_(std::max<size_t>(max_entries, 1)) {}

size_t MessageCache::SlotOf(uint64_t ordinal) const {
  return (head_ + static_cast<size_t>(ordinal - first_ordinal_)) % ring_.size();
}

bool MessageCache::Expired(const Entry& entry, Timestamp now) const {
  return entry.stored_at + ttl_ <= now;
}

void MessageCache::Grow() {
  const size_t capacity =
      std::min(max_entries_, std::max<size_t>(1, ring_.size() * 2));
  std::vector<Entry> ring;
  ring.reserve(capacity);
  for (size_t i = 0; i < count_; ++i) {
    ring.push_back(std::move(ring_[(head_ + i) % ring_.size()]));
  }
  ring.resize(capacity);
  ring_ = std::move(ring);
  head_ = 0;
}

MessageCache::Payload MessageCache::PopOldest() {
  Entry& oldest = ring_[head_];
  index_.erase(oldest.id);
  Payload payload = std::move(oldest.payload);
  if (payload != nullptr) payload_bytes_ -= payload->capacity();
  oldest = Entry{};
  head_ = (head_ + 1) % ring_.size();
  --count_;
  ++first_ordinal_;
  return payload;
}

bool MessageCache::Insert(Entry entry, std::vector<Payload>* removed) {
  // A full cache evicts first (after checking the id is new), so the index
  // never holds more than max_entries ids; otherwise one lookup inserts.
  // The ordinal does not depend on an eviction: PopOldest advances
  // first_ordinal_ and drops count_ together.
  bool evicted = false;
  if (count_ == max_entries_) {
    if (index_.contains(entry.id)) return false;
    removed->push_back(PopOldest());
    evicted = true;
  }
  const uint64_t ordinal = first_ordinal_ + count_;
  if (!index_.try_emplace(entry.id, ordinal).second) return false;
  if (count_ == ring_.size()) Grow();
  ++count_;
  if (entry.payload != nullptr) payload_bytes_ += entry.payload->capacity();
  ring_[SlotOf(ordinal)] = std::move(entry);
  return evicted;
}

const MessageCache::Entry* MessageCache::Find(MessageId id,
                                              Timestamp now) const {
  auto it = index_.find(id);
  if (it == index_.end()) return nullptr;
  const Entry& entry = ring_[SlotOf(it->second)];
  return Expired(entry, now) ? nullptr : &entry;
}

size_t MessageCache::Expire(Timestamp now, std::vector<Payload>* removed) {
  size_t expired = 0;
  while (count_ > 0 && Expired(ring_[head_], now)) {
    removed->push_back(PopOldest());
    ++expired;
  }
  if (count_ == 0 && !ring_.empty()) {
    // An idle node gives its ring and lookup table back.
    ring_ = std::vector<Entry>();
    index_ = absl::flat_hash_map<MessageId, uint64_t>();
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
  return ring_.capacity() * sizeof(Entry) +
         index_.capacity() *
             (sizeof(std::pair<const MessageId, uint64_t>) + 1) +
         payload_bytes_ + count_ * kPayloadOverheadBytes;
}

}  // namespace elara
