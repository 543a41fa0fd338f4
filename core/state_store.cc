// Entries are replaced whole (a new shared value buffer per write), so a
// span handed out for sending stays valid while its holder keeps the
// StateValueBytes pointer (StateSync pins what it queues).
#include "core/state_store.h"

#include <algorithm>
#include <limits>

#include "core/state_hash.h"

namespace elara {
namespace {

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

std::span<const uint8_t> Bytes(const StateValueBytes& value) {
  if (value == nullptr) return {};
  return std::span<const uint8_t>(*value);
}

}  // namespace

StateRecord StoredEntry::ToRecord(StateId key) const {
  return StateRecord{key, version, deleted(), Bytes(value)};
}

uint64_t EntryFingerprint(StateId key, const StateVersion& version,
                          bool deleted, std::span<const uint8_t> value) {
  uint64_t h = HashCombine(key.value(), version.wall_us);
  h = HashCombine(h, version.logical);
  h = HashCombine(h, version.origin.value());
  h = HashCombine(h, deleted ? 1 : 0);
  return HashCombine(h, deleted ? 0 : HashBytes(value));
}

int CompareEntries(const StateRecord& a, const StateRecord& b) {
  if (a.version != b.version) return a.version < b.version ? -1 : 1;
  if (a.deleted != b.deleted) return a.deleted ? 1 : -1;
  if (std::lexicographical_compare(a.value.begin(), a.value.end(),
                                   b.value.begin(), b.value.end())) {
    return -1;
  }
  if (std::lexicographical_compare(b.value.begin(), b.value.end(),
                                   a.value.begin(), a.value.end())) {
    return 1;
  }
  return 0;
}

StateStore::StateStore(const StateConfig& config, size_t max_value_bytes)
    : ttl_us_(config.tombstone_ttl.ToMicros()),
      max_entries_(config.max_state_entries),
      max_tombstones_(std::max<size_t>(config.max_tombstones, 1)),
      max_value_bytes_(max_value_bytes) {}

int64_t StateStore::ExpiryMicros(const StateVersion& version) const {
  // wall <= 2^62 and ttl < 2^63 - 2^62 in any sane config: saturate anyway.
  const uint64_t expiry = version.wall_us + static_cast<uint64_t>(ttl_us_);
  return expiry > static_cast<uint64_t>(kNever) ? kNever
                                                : static_cast<int64_t>(expiry);
}

const StoredEntry* StateStore::Find(StateId key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

bool StateStore::FullFor(StateId key) const {
  return entries_.size() >= max_entries_ && !entries_.contains(key);
}

uint64_t StateStore::Digest() const {
  return HashCombine(hash_, entries_.size());
}

uint64_t StateStore::EmptyDigest() { return HashCombine(0, 0); }

void StateStore::Insert(StateId key, StoredEntry entry) {
  hash_ ^= entry.fingerprint;
  if (entry.deleted()) {
    tombstone_expiry_.emplace(ExpiryMicros(entry.version), key);
  } else {
    value_bytes_ += entry.value->size();
  }
  entries_.insert_or_assign(key, std::move(entry));
}

void StateStore::Erase(StateId key) {
  auto it = entries_.find(key);
  if (it == entries_.end()) return;
  const StoredEntry& entry = it->second;
  hash_ ^= entry.fingerprint;
  if (entry.deleted()) {
    tombstone_expiry_.erase({ExpiryMicros(entry.version), key});
  } else {
    value_bytes_ -= entry.value->size();
  }
  entries_.erase(it);
}

void StateStore::EvictTombstoneIfFull() {
  if (tombstone_expiry_.size() < max_tombstones_) return;
  const StateId victim = tombstone_expiry_.begin()->second;
  Erase(victim);
  ++tombstones_evicted_;
}

MergeOutcome StateStore::Merge(int64_t physical_us, const StateRecord& record,
                               const StateValueBytes& shared_value) {
  if (!record.deleted && record.value.size() > max_value_bytes_) {
    return MergeOutcome::kRefusedValue;
  }
  auto it = entries_.find(record.key);
  if (it != entries_.end()) {
    const int order = CompareEntries(record, it->second.ToRecord(record.key));
    if (order == 0) return MergeOutcome::kSame;
    if (order < 0) return MergeOutcome::kOlder;
  }
  const bool exists = it != entries_.end();
  const bool expired =
      record.deleted && ExpiryMicros(record.version) <= physical_us;
  if (expired) {
    // It still beats what we hold: the older value goes, nothing stays.
    if (!exists) return MergeOutcome::kExpired;
    Erase(record.key);
    return MergeOutcome::kApplied;
  }
  if (!exists && entries_.size() >= max_entries_) {
    return MergeOutcome::kRefusedFull;
  }
  StoredEntry entry;
  entry.version = record.version;
  if (!record.deleted) {
    entry.value = shared_value != nullptr
                      ? shared_value
                      : std::make_shared<const std::vector<uint8_t>>(
                            record.value.begin(), record.value.end());
  }
  entry.fingerprint = EntryFingerprint(record.key, record.version,
                                       record.deleted, record.value);
  if (exists) Erase(record.key);
  if (record.deleted) EvictTombstoneIfFull();
  Insert(record.key, std::move(entry));
  return MergeOutcome::kApplied;
}

size_t StateStore::PurgeExpired(int64_t physical_us) {
  size_t purged = 0;
  while (!tombstone_expiry_.empty() &&
         tombstone_expiry_.begin()->first <= physical_us) {
    Erase(tombstone_expiry_.begin()->second);
    ++purged;
  }
  return purged;
}

int64_t StateStore::NextExpiryMicros() const {
  return tombstone_expiry_.empty() ? kNever : tombstone_expiry_.begin()->first;
}

size_t StateStore::MemoryBytes() const {
  // A std::set node: three pointers and a colour beside the value.
  constexpr size_t kSetNodeBytes = 4 * sizeof(void*);
  // A make_shared vector: control block (two counts, vtable) and the vector.
  constexpr size_t kValueOverheadBytes =
      2 * sizeof(long) + sizeof(void*) + sizeof(std::vector<uint8_t>);
  const size_t live_values = entries_.size() - tombstone_expiry_.size();
  return sizeof(*this) +
         entries_.capacity() *
             (sizeof(std::pair<const StateId, StoredEntry>) + 1) +
         value_bytes_ + live_values * kValueOverheadBytes +
         tombstone_expiry_.size() *
             (kSetNodeBytes + sizeof(std::pair<int64_t, StateId>));
}

}  // namespace elara
