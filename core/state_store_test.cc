// Tests of the last-writer-wins store: the merge order (and that merging is
// order-independent), the digest, tombstone expiry and purge, and every
// bound.
#include "core/state_store.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

constexpr int64_t kSecond = 1'000'000;

StateConfig SmallConfig() {
  StateConfig c;
  c.max_state_entries = 100;
  c.max_tombstones = 10;
  c.tombstone_ttl = Duration::Seconds(60);
  return c;
}

struct Write {
  StateId key;
  StateVersion version;
  bool deleted = false;
  std::vector<uint8_t> value;
  StateRecord record() const { return {key, version, deleted, value}; }
};

Write Put(uint64_t key, uint64_t wall, uint64_t origin,
          std::vector<uint8_t> value = {1}) {
  return Write{StateId(key), StateVersion{wall, 0, NodeId(origin)}, false,
               std::move(value)};
}
Write Del(uint64_t key, uint64_t wall, uint64_t origin) {
  return Write{StateId(key), StateVersion{wall, 0, NodeId(origin)}, true, {}};
}

// The engine reports EmptyDigest() before it creates its store.
TEST(StateStoreTest, EmptyDigestIsAFreshStoresDigest) {
  StateStore store(SmallConfig(), 1024);
  EXPECT_EQ(store.Digest(), StateStore::EmptyDigest());
}

TEST(StateStoreTest, LastWriterWinsWithOriginTieBreak) {
  StateStore store(SmallConfig(), 1024);
  EXPECT_EQ(store.Merge(0, Put(1, 100, 5, {1}).record()),
            MergeOutcome::kApplied);
  EXPECT_EQ(store.Merge(0, Put(1, 100, 5, {1}).record()), MergeOutcome::kSame);
  EXPECT_EQ(store.Merge(0, Put(1, 99, 9, {2}).record()), MergeOutcome::kOlder);
  EXPECT_EQ(store.Merge(0, Put(1, 100, 4, {3}).record()), MergeOutcome::kOlder);
  EXPECT_EQ(store.Merge(0, Put(1, 100, 6, {4}).record()),
            MergeOutcome::kApplied);
  const StoredEntry* e = store.Find(StateId(1));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(*e->value, std::vector<uint8_t>{4});
  EXPECT_EQ(e->version.origin, NodeId(6));
  // The logical counter orders writes within one wall value.
  Write later = Put(1, 100, 1, {5});
  later.version.logical = 1;
  EXPECT_EQ(store.Merge(0, later.record()), MergeOutcome::kApplied);
  EXPECT_EQ(*store.Find(StateId(1))->value, std::vector<uint8_t>{5});
}

TEST(StateStoreTest, ReusedVersionIsOrderedByContent) {
  // Same version, different content (an origin that restarted with its
  // clock back): every node must still pick the same one.
  StateStore a(SmallConfig(), 1024), b(SmallConfig(), 1024);
  const Write x = Put(1, 100, 5, {1, 2});
  const Write y = Put(1, 100, 5, {1, 3});
  const Write z = Del(1, 100, 5);
  for (const Write* w : {&x, &y, &z}) a.Merge(0, w->record());
  for (const Write* w : {&z, &y, &x}) b.Merge(0, w->record());
  EXPECT_EQ(a.Digest(), b.Digest());
  EXPECT_TRUE(a.Find(StateId(1))->deleted());  // tombstone wins the tie
}

TEST(StateStoreTest, MergeOrderDoesNotMatter) {
  Random rng(11);
  std::vector<Write> writes;
  for (int i = 0; i < 400; ++i) {
    const uint64_t key = rng.UniformBelow(40);
    const uint64_t wall = 1000 + rng.UniformBelow(50);
    const uint64_t origin = rng.UniformBelow(4);
    writes.push_back(rng.OneIn(5) ? Del(key, wall, origin)
                                  : Put(key, wall, origin,
                                        {static_cast<uint8_t>(rng.Next64())}));
  }
  // Within the bounds (an evicted tombstone depends on arrival order).
  StateConfig c = SmallConfig();
  c.max_tombstones = 100;
  StateStore first(c, 1024);
  for (const Write& w : writes) first.Merge(0, w.record());
  EXPECT_GT(first.tombstones(), 5u);
  for (int trial = 0; trial < 10; ++trial) {
    rng.Shuffle(writes.data(), writes.size());
    StateStore other(c, 1024);
    for (const Write& w : writes) {
      other.Merge(0, w.record());
      other.Merge(0, w.record());  // idempotent
    }
    EXPECT_EQ(other.Digest(), first.Digest()) << trial;
    EXPECT_EQ(other.size(), first.size());
    EXPECT_EQ(other.tombstones(), first.tombstones());
  }
}

TEST(StateStoreTest, DigestTracksContent) {
  StateStore a(SmallConfig(), 1024), b(SmallConfig(), 1024);
  EXPECT_EQ(a.Digest(), b.Digest());
  a.Merge(0, Put(1, 10, 1, {7}).record());
  EXPECT_NE(a.Digest(), b.Digest());
  b.Merge(0, Put(1, 10, 1, {8}).record());  // same version, other bytes
  EXPECT_NE(a.Digest(), b.Digest());
  b.Merge(0, Put(1, 10, 1, {7}).record());  // loses to {8}
  EXPECT_NE(a.Digest(), b.Digest());
  a.Merge(0, Put(1, 10, 1, {8}).record());
  EXPECT_EQ(a.Digest(), b.Digest());
  EXPECT_EQ(a.content_hash(), b.content_hash());
  EXPECT_EQ(a.value_bytes(), 1u);
}

TEST(StateStoreTest, TombstonesDeleteAndArePurgedAfterTtl) {
  StateStore store(SmallConfig(), 1024);
  const int64_t t0 = 1000 * kSecond;
  store.Merge(t0, Put(1, t0, 1).record());
  store.Merge(t0, Put(2, t0, 1).record());
  EXPECT_EQ(store.Merge(t0, Del(1, t0 + 1, 2).record()),
            MergeOutcome::kApplied);
  EXPECT_TRUE(store.Find(StateId(1))->deleted());
  EXPECT_EQ(store.live(), 1u);
  EXPECT_EQ(store.tombstones(), 1u);
  // An older write does not bring it back.
  EXPECT_EQ(store.Merge(t0, Put(1, t0, 3).record()), MergeOutcome::kOlder);
  EXPECT_EQ(store.NextExpiryMicros(), t0 + 1 + 60 * kSecond);
  EXPECT_EQ(store.PurgeExpired(t0 + 60 * kSecond), 0u);
  EXPECT_EQ(store.PurgeExpired(t0 + 1 + 60 * kSecond), 1u);
  EXPECT_EQ(store.Find(StateId(1)), nullptr);
  EXPECT_EQ(store.size(), 1u);
  EXPECT_EQ(store.NextExpiryMicros(), std::numeric_limits<int64_t>::max());
}

TEST(StateStoreTest, ExpiredTombstoneStillDeletesButIsNotKept) {
  StateStore store(SmallConfig(), 1024);
  const int64_t now = 5000 * kSecond;
  const int64_t old = now - 61 * kSecond;
  store.Merge(now, Put(1, old - 5, 1).record());
  // Beats the held value: the value goes, nothing stays.
  EXPECT_EQ(store.Merge(now, Del(1, old, 2).record()), MergeOutcome::kApplied);
  EXPECT_EQ(store.Find(StateId(1)), nullptr);
  // For an absent key it is dropped.
  EXPECT_EQ(store.Merge(now, Del(2, old, 2).record()), MergeOutcome::kExpired);
  EXPECT_EQ(store.size(), 0u);
  // A newer value wins over an expired tombstone.
  store.Merge(now, Put(3, old + 1, 1).record());
  EXPECT_EQ(store.Merge(now, Del(3, old, 2).record()), MergeOutcome::kOlder);
  EXPECT_NE(store.Find(StateId(3)), nullptr);
}

TEST(StateStoreTest, BoundsAreEnforced) {
  StateConfig c = SmallConfig();
  c.max_state_entries = 5;
  c.max_tombstones = 2;
  StateStore store(c, 4);
  EXPECT_EQ(store.Merge(0, Put(1, 10, 1, {1, 2, 3, 4, 5}).record()),
            MergeOutcome::kRefusedValue);
  for (uint64_t k = 1; k <= 5; ++k) {
    EXPECT_EQ(store.Merge(0, Put(k, 10, 1, {1, 2, 3, 4}).record()),
              MergeOutcome::kApplied);
  }
  EXPECT_TRUE(store.FullFor(StateId(6)));
  EXPECT_FALSE(store.FullFor(StateId(5)));
  EXPECT_EQ(store.Merge(0, Put(6, 10, 1).record()), MergeOutcome::kRefusedFull);
  EXPECT_EQ(store.Merge(0, Del(6, 10, 1).record()), MergeOutcome::kRefusedFull);
  // Replacing a held key is fine when full.
  EXPECT_EQ(store.Merge(0, Put(5, 11, 1).record()), MergeOutcome::kApplied);
  // Three deletes, two tombstones allowed: the earliest expiry is evicted.
  store.Merge(0, Del(1, 20, 1).record());
  store.Merge(0, Del(2, 21, 1).record());
  store.Merge(0, Del(3, 22, 1).record());
  EXPECT_EQ(store.tombstones(), 2u);
  EXPECT_EQ(store.tombstones_evicted(), 1u);
  EXPECT_EQ(store.Find(StateId(1)), nullptr);
  EXPECT_TRUE(store.Find(StateId(3))->deleted());
  EXPECT_EQ(store.size(), 4u);
  EXPECT_GT(store.MemoryBytes(), sizeof(StateStore));
}

}  // namespace
}  // namespace elara
