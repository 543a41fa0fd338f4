// File: core/message_cache.h
//
// MessageCache: the payloads a node keeps to answer GRAFT and IWANT
// requests and to build pull digests. Entries are kept in arrival order in
// a ring that grows on demand (an empty cache holds no heap memory) up to
// `max_entries`. A ring of up to kScanSlots slots is searched by a scan of
// 32-bit tags (one per slot, 4 bytes: a 64-slot ring's tags are 4 cache
// lines beside the ring, no table); a larger one gets a lookup table by
// MessageId.
//
// Guarantees:
//   - At most max_entries entries: storing into a full cache evicts the
//     oldest entry (the caller counts it as a cache eviction).
//   - An entry is served for `ttl` after it was stored and never after:
//     Find treats an expired entry as absent even before Expire removes it.
//   - Payloads are shared: the cache holds a shared_ptr and hands out the
//     same pointer the DeliveredEvent carries; nothing is copied.
//   - Removed payloads are handed to the caller (never freed here), so a
//     caller that queued a span into one can keep it alive until it is sent.
//
// Determinism: the lookup table is never iterated; Newest(i) walks the ring;
// tags are a fixed function of the id (no per-process salt).
//
// Thread-safety: not thread-safe; owned by one Plumtree.
#ifndef ELARA_CORE_MESSAGE_CACHE_H_
#define ELARA_CORE_MESSAGE_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/ids.h"
#include "core/time.h"

namespace elara {

class MessageCache {
 public:
  using Payload = std::shared_ptr<const std::vector<uint8_t>>;

  struct Entry {
    MessageId id;
    uint32_t hops = 0;  // hops at which this node received it; 0 = own
    NodeId parent;      // the peer it came from (this node for its own)
    Timestamp stored_at;
    Payload payload;
  };

  // REQUIRES: max_entries >= 1 (0 is taken as 1); a max_entries above
  // UINT32_MAX is taken as that (a validated config's is at most 2^20).
  MessageCache(size_t max_entries, Duration ttl);
  MessageCache(const MessageCache&) = delete;
  MessageCache& operator=(const MessageCache&) = delete;
  ~MessageCache();

  // Stores `entry` (ignored when its id is already stored). REQUIRES:
  // entry.stored_at is not earlier than any stored entry's. Returns true
  // when the cache was full and its oldest entry was evicted; that entry's
  // payload is appended to *removed.
  bool Insert(Entry&& entry, std::vector<Payload>* removed);
  // Insert for an id known not to be stored, expired or not (the caller's
  // DedupWindow vouches for it): the same result without the lookup.
  // REQUIRES: no entry with entry.id is stored.
  bool InsertUnseen(Entry&& entry, std::vector<Payload>* removed);
  // The live entry for `id`, or nullptr when absent or expired at `now`.
  // The pointer is valid until the next Insert or Expire.
  const Entry* Find(MessageId id, Timestamp now) const;
  // Removes entries expired at `now`, appending their payloads to *removed.
  // Returns how many were removed.
  size_t Expire(Timestamp now, std::vector<Payload>* removed);
  // When the oldest entry expires; Timestamp::Infinite() when empty.
  Timestamp NextExpiry() const;

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The i-th newest entry. REQUIRES: i < size().
  const Entry& Newest(size_t i) const;
  // Rings up to this many slots are searched by tag scan, not a table.
  static constexpr size_t kScanSlots = 64;

  // Heap bytes held (ring, tags, lookup table, payloads); not
  // sizeof(*this).
  size_t HeapBytes() const;
  // Cache hint: starts loading this object's fields. No effect on behaviour.
  void Prefetch() const {
    __builtin_prefetch(this);
    __builtin_prefetch(reinterpret_cast<const char*>(this) + 64);
  }

 private:
  static constexpr size_t kNotFound = SIZE_MAX;
  static uint32_t TagOf(MessageId id);
  size_t SlotOf(uint64_t ordinal) const;
  // The slot holding `id` (expired or not), or kNotFound.
  size_t FindSlot(MessageId id) const;
  bool Indexed() const { return capacity_ > kScanSlots; }
  // Allocates a block for `capacity` slots (tags, then room for Entries,
  // none constructed).
  static void Allocate(size_t capacity, uint32_t** tags, Entry** ring);
  // Frees a block (its tags pointer) whose Entries are all destroyed.
  static void Release(uint32_t* tags);
  static size_t RingOffset(size_t capacity);
  void Grow();
  Payload PopOldest();
  bool Expired(const Entry& entry, Timestamp now) const;

  // What Find reads comes first, so that it shares one or two lines.
  // One heap block of capacity_ slots: the tags first, then the ring, so
  // that a lookup's tag scan and the entry it finds share pages. Only the
  // count_ live slots from head_ hold a constructed Entry: a slot's Entry
  // is constructed when stored and destroyed when popped or moved by Grow,
  // so growing and emptying touch no dead slot.
  // The counts and slots are 4 bytes (they are at most max_entries_, at
  // most UINT32_MAX): 64 bytes, one line, where size_t fields took 80.
  uint32_t* tags_ = nullptr;  // TagOf(ring_[s].id) for live slots s
  Entry* ring_ = nullptr;
  uint32_t capacity_ = 0;
  uint32_t head_ = 0;   // slot of the oldest entry
  uint32_t count_ = 0;  // entries stored
  uint32_t max_entries_;
  // id -> arrival ordinal; non-null exactly while Indexed() (null: 8
  // bytes per cache instead of a 40-byte empty map).
  std::unique_ptr<absl::flat_hash_map<MessageId, uint64_t>> index_;
  uint64_t first_ordinal_ = 0;  // arrival ordinal of the oldest entry
  Duration ttl_;
  size_t payload_bytes_ = 0;  // sum of stored payload capacities
};

}  // namespace elara

#endif  // ELARA_CORE_MESSAGE_CACHE_H_
