// File: core/state_store.h
//
// StateStore: one node's keyed, versioned state, a last-writer-wins map
// (a state-based CRDT). Each key holds its newest entry: a value or a
// tombstone, with the StateVersion of the write that made it. Merge keeps,
// for every key, the greatest entry in one total order:
//
//   version (HLC wall, logical, origin), then tombstone over value, then the
//   value bytes (lexicographic)
//
// so merging is commutative, associative and idempotent, and every node
// that has merged the same entries holds the same state, whatever the order
// (the last two tie-breaks only matter if one origin reuses a version, e.g.
// after a restart with a clock that went back).
//
// Tombstones: a delete is an entry like any other, so it wins over older
// values everywhere it travels. It is purged when its HLC wall time plus
// tombstone_ttl has passed by the local clock (PurgeExpired); a tombstone
// that arrives already expired still deletes the older value it beats, and
// is then not kept. All nodes agree on the expiry moment up to their clock
// skew, so a purged tombstone is not handed back and forth.
//
// Bounds: at most max_state_entries keys (a new key beyond it is refused),
// at most max_tombstones tombstones (the one expiring first is evicted,
// counted), values of at most max_value_bytes (else refused).
//
// Digest: count and the XOR of every entry's 64-bit fingerprint (key,
// version, tombstone flag, value hash), kept up to date on every change, so
// two stores compare in O(1).
//
// Guarantees: deterministic; the hash map is used for lookups, and ForEach
// (its iteration) only feeds order-independent sums (XOR, counts) or sorts.
//
// Thread-safety: not thread-safe; owned by one StateSync.
#ifndef ELARA_CORE_STATE_STORE_H_
#define ELARA_CORE_STATE_STORE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <set>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/config.h"
#include "core/ids.h"
#include "core/wire.h"

namespace elara {

using StateValueBytes = std::shared_ptr<const std::vector<uint8_t>>;

struct StoredEntry {
  StateVersion version;
  StateValueBytes value;     // nullptr for a tombstone
  uint64_t fingerprint = 0;  // EntryFingerprint of this entry
  bool deleted() const { return value == nullptr; }
  // Wire form; `value` points into this entry's bytes.
  StateRecord ToRecord(StateId key) const;
};

enum class MergeOutcome : uint8_t {
  kApplied,       // the state of the key changed
  kSame,          // this very entry is already held
  kOlder,         // a greater entry is held
  kExpired,       // a tombstone past its ttl for an absent key: nothing kept
  kRefusedFull,   // a new key, and max_state_entries are held
  kRefusedValue,  // the value exceeds max_value_bytes
};

// Fingerprint of one entry; equal fingerprints mean equal entries (up to
// 64-bit collisions).
uint64_t EntryFingerprint(StateId key, const StateVersion& version,
                          bool deleted, std::span<const uint8_t> value);
// <0, 0, >0 as `a` orders before, equal to, after `b` (see file comment).
int CompareEntries(const StateRecord& a, const StateRecord& b);

class StateStore {
 public:
  // `max_value_bytes` overrides config.max_value_bytes (the engine caps it
  // to what fits a datagram).
  StateStore(const StateConfig& config, size_t max_value_bytes);
  StateStore(const StateStore&) = delete;
  StateStore& operator=(const StateStore&) = delete;

  // Merges `record` at local physical time `physical_us` (for tombstone
  // expiry). `shared_value`, when given, holds the record's value bytes and
  // is kept instead of a copy.
  MergeOutcome Merge(int64_t physical_us, const StateRecord& record,
                     const StateValueBytes& shared_value = nullptr);

  const StoredEntry* Find(StateId key) const;
  // Whether a merge of a new entry for `key` would be refused for space.
  bool FullFor(StateId key) const;

  size_t size() const { return entries_.size(); }
  size_t tombstones() const { return tombstone_expiry_.size(); }
  size_t live() const { return size() - tombstones(); }
  size_t max_value_bytes() const { return max_value_bytes_; }
  // XOR of all fingerprints, and a digest of (count, hash).
  uint64_t content_hash() const { return hash_; }
  uint64_t Digest() const;
  // Digest() of a store that holds nothing.
  static uint64_t EmptyDigest();
  // Sum of the values' bytes (for size estimates).
  size_t value_bytes() const { return value_bytes_; }

  // Removes tombstones whose expiry (HLC wall + ttl) <= physical_us;
  // returns how many.
  size_t PurgeExpired(int64_t physical_us);
  // Earliest tombstone expiry in physical microseconds; INT64_MAX if none.
  int64_t NextExpiryMicros() const;
  uint64_t tombstones_evicted() const { return tombstones_evicted_; }

  // Calls f(StateId, const StoredEntry&) for every entry, in no particular
  // order: use only for order-independent results.
  template <typename F>
  void ForEach(F&& f) const {
    for (const auto& [key, entry] : entries_) f(key, entry);
  }

  // Bytes held: the table, values, the tombstone index.
  size_t MemoryBytes() const;

 private:
  int64_t ExpiryMicros(const StateVersion& version) const;
  void Insert(StateId key, StoredEntry entry);
  void Erase(StateId key);
  void EvictTombstoneIfFull();

  int64_t ttl_us_;
  size_t max_entries_;
  size_t max_tombstones_;
  size_t max_value_bytes_;
  absl::flat_hash_map<StateId, StoredEntry> entries_;
  // (expiry in physical us, key) of every tombstone.
  std::set<std::pair<int64_t, StateId>> tombstone_expiry_;
  uint64_t hash_ = 0;
  size_t value_bytes_ = 0;
  uint64_t tombstones_evicted_ = 0;
};

}  // namespace elara

#endif  // ELARA_CORE_STATE_STORE_H_
