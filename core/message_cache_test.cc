// Tests of MessageCache: lookup, the entry bound, TTL expiry, newest-first
// order across ring growth and wrap-around, and memory given back when idle.
#include "core/message_cache.h"

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

}  // namespace
}  // namespace elara
