// Tests of MessageCache: lookup, the entry bound, TTL expiry, newest-first
// order across ring growth and wrap-around, and memory given back when idle.
#include "core/message_cache.h"

#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "gtest/gtest.h"

namespace elara {
namespace {

Timestamp At(int64_t ms) {
  return Timestamp::FromMicros(1'000'000 + ms * 1000);
}

MessageCache::Entry Make(uint64_t sequence, int64_t ms) {
  MessageCache::Entry entry;
  entry.id = MessageId{NodeId(9), sequence};
  entry.hops = static_cast<uint32_t>(sequence);
  entry.parent = NodeId(2);
  entry.stored_at = At(ms);
  entry.payload = std::make_shared<const std::vector<uint8_t>>(
      std::vector<uint8_t>(10, static_cast<uint8_t>(sequence)));
  return entry;
}

MessageId Id(uint64_t sequence) { return MessageId{NodeId(9), sequence}; }

TEST(MessageCacheTest, FindsWhatWasStored) {
  MessageCache cache(8, Duration::Seconds(30));
  std::vector<MessageCache::Payload> removed;
  MessageCache::Entry entry = Make(1, 0);
  const auto* payload = entry.payload.get();
  EXPECT_FALSE(cache.Insert(std::move(entry), &removed));
  const MessageCache::Entry* found = cache.Find(Id(1), At(1));
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->payload.get(), payload);  // shared, not copied
  EXPECT_EQ(found->hops, 1u);
  EXPECT_EQ(found->parent, NodeId(2));
  EXPECT_EQ(cache.Find(Id(2), At(1)), nullptr);
  // A second insert of the same id is ignored.
  EXPECT_FALSE(cache.Insert(Make(1, 5), &removed));
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_TRUE(removed.empty());
}

TEST(MessageCacheTest, FullCacheEvictsOldest) {
  MessageCache cache(4, Duration::Seconds(30));
  std::vector<MessageCache::Payload> removed;
  int evictions = 0;
  for (uint64_t s = 1; s <= 10; ++s) {
    if (cache.Insert(Make(s, static_cast<int64_t>(s)), &removed)) ++evictions;
  }
  EXPECT_EQ(evictions, 6);
  EXPECT_EQ(removed.size(), 6u);
  EXPECT_EQ(cache.size(), 4u);
  for (uint64_t s = 1; s <= 6; ++s)
    EXPECT_EQ(cache.Find(Id(s), At(20)), nullptr);
  for (uint64_t s = 7; s <= 10; ++s)
    EXPECT_NE(cache.Find(Id(s), At(20)), nullptr);
  // Newest first, across the ring's wrap-around.
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(cache.Newest(i).id, Id(10 - i));
}

TEST(MessageCacheTest, DuplicateInsertIntoFullCacheEvictsNothing) {
  MessageCache cache(3, Duration::Seconds(30));
  std::vector<MessageCache::Payload> removed;
  for (uint64_t s = 1; s <= 3; ++s) {
    EXPECT_FALSE(cache.Insert(Make(s, static_cast<int64_t>(s)), &removed));
  }
  // Already stored: ignored, and the oldest entry stays.
  EXPECT_FALSE(cache.Insert(Make(2, 4), &removed));
  EXPECT_TRUE(removed.empty());
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_NE(cache.Find(Id(1), At(5)), nullptr);
  EXPECT_EQ(cache.Find(Id(2), At(5))->stored_at, At(2));
  // A new id evicts the oldest, and every survivor is still found where
  // the ring put it.
  EXPECT_TRUE(cache.Insert(Make(4, 5), &removed));
  ASSERT_EQ(removed.size(), 1u);
  EXPECT_EQ((*removed[0])[0], 1);
  EXPECT_EQ(cache.Find(Id(1), At(6)), nullptr);
  for (uint64_t s = 2; s <= 4; ++s) {
    const MessageCache::Entry* found = cache.Find(Id(s), At(6));
    ASSERT_NE(found, nullptr) << s;
    EXPECT_EQ(found->id, Id(s));
    EXPECT_EQ(found->hops, s);
  }
  // An evicted id can be stored again.
  EXPECT_TRUE(cache.Insert(Make(1, 6), &removed));
  EXPECT_EQ(cache.Newest(0).id, Id(1));
  EXPECT_EQ(cache.Find(Id(2), At(7)), nullptr);
}

// InsertUnseen (no duplicate lookup) against Insert, for fresh ids through
// growth, eviction of a full cache and expiry: same answers, same entries.
TEST(MessageCacheTest, InsertUnseenMatchesInsertForFreshIds) {
  MessageCache checked(20, Duration::Millis(30));
  MessageCache unseen(20, Duration::Millis(30));
  std::vector<MessageCache::Payload> removed_checked;
  std::vector<MessageCache::Payload> removed_unseen;
  for (uint64_t s = 1; s <= 100; ++s) {
    const int64_t ms = static_cast<int64_t>(s);
    if (s % 37 == 0) {  // a quiet spell: everything expires
      EXPECT_EQ(checked.Expire(At(ms + 40), &removed_checked),
                unseen.Expire(At(ms + 40), &removed_unseen));
    }
    EXPECT_EQ(checked.Insert(Make(s, ms), &removed_checked),
              unseen.InsertUnseen(Make(s, ms), &removed_unseen))
        << s;
    ASSERT_EQ(checked.size(), unseen.size());
    ASSERT_EQ(removed_checked.size(), removed_unseen.size());
    for (size_t i = 0; i < removed_checked.size(); ++i) {
      EXPECT_EQ(*removed_checked[i], *removed_unseen[i]);
    }
    for (size_t i = 0; i < checked.size(); ++i) {
      EXPECT_EQ(checked.Newest(i).id, unseen.Newest(i).id);
    }
    for (uint64_t t = 1; t <= s; ++t) {
      EXPECT_EQ(checked.Find(Id(t), At(ms)) != nullptr,
                unseen.Find(Id(t), At(ms)) != nullptr);
    }
  }
}

TEST(MessageCacheTest, ExpiresAfterTtl) {
  MessageCache cache(16, Duration::Millis(100));
  std::vector<MessageCache::Payload> removed;
  cache.Insert(Make(1, 0), &removed);
  cache.Insert(Make(2, 50), &removed);
  EXPECT_EQ(cache.NextExpiry(), At(100));
  EXPECT_NE(cache.Find(Id(1), At(99)), nullptr);
  EXPECT_EQ(cache.Find(Id(1), At(100)), nullptr);  // never served late
  EXPECT_EQ(cache.Expire(At(120), &removed), 1u);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(cache.NextExpiry(), At(150));
  EXPECT_EQ(cache.Expire(At(150), &removed), 1u);
  EXPECT_TRUE(cache.empty());
  EXPECT_EQ(cache.NextExpiry(), Timestamp::Infinite());
  EXPECT_EQ(removed.size(), 2u);
}

TEST(MessageCacheTest, IdleCacheGivesMemoryBack) {
  MessageCache cache(1024, Duration::Millis(100));
  EXPECT_EQ(cache.HeapBytes(), 0u);
  std::vector<MessageCache::Payload> removed;
  for (uint64_t s = 1; s <= 100; ++s) cache.Insert(Make(s, 0), &removed);
  EXPECT_GT(cache.HeapBytes(), 100u * 10);
  cache.Expire(At(100), &removed);
  EXPECT_EQ(cache.HeapBytes(), 0u);
  // Still usable afterwards.
  cache.Insert(Make(101, 200), &removed);
  EXPECT_NE(cache.Find(Id(101), At(201)), nullptr);
}

TEST(MessageCacheTest, GrowsOnDemand) {
  MessageCache cache(1024, Duration::Seconds(30));
  std::vector<MessageCache::Payload> removed;
  cache.Insert(Make(1, 0), &removed);
  const size_t small = cache.HeapBytes();
  for (uint64_t s = 2; s <= 500; ++s) cache.Insert(Make(s, 0), &removed);
  EXPECT_GT(cache.HeapBytes(), small * 50);
  for (uint64_t s = 1; s <= 500; ++s) {
    ASSERT_NE(cache.Find(Id(s), At(1)), nullptr) << s;
    EXPECT_EQ(cache.Find(Id(s), At(1))->hops, s);
  }
  EXPECT_TRUE(removed.empty());
}

// Every payload is held once while stored (growth moves it, never copies
// it) and let go when evicted, expired or when the cache is destroyed: the
// ring constructs an entry only in a live slot and destroys it on leaving.
TEST(MessageCacheTest, HoldsEachPayloadOnceAndLetsItGo) {
  std::vector<std::weak_ptr<const std::vector<uint8_t>>> stored;
  {
    MessageCache cache(50, Duration::Millis(100));
    std::vector<MessageCache::Payload> removed;
    for (uint64_t s = 1; s <= 80; ++s) {  // grows, then evicts 30
      MessageCache::Entry entry = Make(s, static_cast<int64_t>(s));
      stored.push_back(entry.payload);
      cache.Insert(std::move(entry), &removed);
    }
    ASSERT_EQ(removed.size(), 30u);
    for (uint64_t s = 1; s <= 80; ++s) {
      EXPECT_EQ(stored[s - 1].use_count(), 1) << s;  // cache or removed
    }
    removed.clear();
    for (uint64_t s = 1; s <= 30; ++s) EXPECT_TRUE(stored[s - 1].expired());
    cache.Expire(At(140), &removed);  // stored at 31..40 expire
    ASSERT_EQ(removed.size(), 10u);
    removed.clear();
    for (uint64_t s = 31; s <= 40; ++s) EXPECT_TRUE(stored[s - 1].expired());
    EXPECT_EQ(stored[40].use_count(), 1);
  }
  for (const auto& payload : stored) EXPECT_TRUE(payload.expired());
}

// Random inserts (repeated ids among them), lookups and expiry against a
// plain map, with the ring growing, wrapping, evicting, and shrinking back
// to nothing when idle; sizes on both sides of kScanSlots (tag scan, then
// lookup table, entered with live entries in the ring).
TEST(MessageCacheTest, MatchesReference) {
  for (const size_t max_entries : {size_t{1}, size_t{5}, size_t{32}, size_t{33},
                                   size_t{64}, size_t{65}, size_t{100}}) {
    const Duration ttl = Duration::Millis(500);
    MessageCache cache(max_entries, ttl);
    std::map<MessageId, Timestamp> reference;  // id -> stored_at
    std::deque<MessageId> order;               // arrival order
    std::vector<MessageCache::Payload> removed;
    uint64_t rng = 12345 + max_entries;
    auto next = [&rng](uint64_t n) {
      rng = rng * 6364136223846793005u + 1442695040888963407u;
      return (rng >> 33) % n;
    };
    int64_t ms = 0;
    size_t evictions = 0;
    for (int step = 0; step < 20000; ++step) {
      // Mostly busy, now and then idle long enough to expire everything.
      ms += next(100) == 0 ? 1000 : static_cast<int64_t>(next(3));
      const Timestamp now = At(ms);
      const MessageId id{NodeId(1 + next(3)), 1 + next(3 * max_entries + 3)};
      switch (next(3)) {
        case 0: {
          MessageCache::Entry entry;
          entry.id = id;
          entry.stored_at = now;
          const bool known = reference.contains(id);
          const bool full = !known && reference.size() == max_entries;
          ASSERT_EQ(cache.Insert(std::move(entry), &removed), full)
              << "max " << max_entries << " step " << step;
          if (full) {
            reference.erase(order.front());
            order.pop_front();
            ++evictions;
          }
          if (!known) {
            reference.emplace(id, now);
            order.push_back(id);
          }
          break;
        }
        case 1: {
          const MessageCache::Entry* found = cache.Find(id, now);
          auto it = reference.find(id);
          const bool live = it != reference.end() && it->second + ttl > now;
          ASSERT_EQ(found != nullptr, live)
              << "max " << max_entries << " step " << step;
          if (found != nullptr) {
            EXPECT_EQ(found->id, id);
            EXPECT_EQ(found->stored_at, it->second);
          }
          break;
        }
        default: {
          size_t expired = 0;
          while (!order.empty() && reference[order.front()] + ttl <= now) {
            reference.erase(order.front());
            order.pop_front();
            ++expired;
          }
          ASSERT_EQ(cache.Expire(now, &removed), expired);
          if (order.empty()) {
            EXPECT_EQ(cache.HeapBytes(), 0u);
          }
          break;
        }
      }
      ASSERT_EQ(cache.size(), order.size());
      for (size_t i = 0; i < order.size(); ++i) {
        ASSERT_EQ(cache.Newest(i).id, order[order.size() - 1 - i]);
      }
    }
    EXPECT_GT(evictions, 10u) << max_entries;
  }
}

}  // namespace
}  // namespace elara
