// File: sim/packet_pool_test.cc
#include "sim/packet_pool.h"

#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara::sim {
namespace {

std::vector<uint8_t> Bytes(size_t n, uint8_t seed) {
  std::vector<uint8_t> v(n);
  for (size_t i = 0; i < n; ++i) v[i] = static_cast<uint8_t>(seed + i * 7);
  return v;
}

TEST(PacketPoolTest, KeepsBytesAndSenderUntilRelease) {
  PacketPool pool;
  std::vector<std::vector<uint8_t>> sent;
  std::vector<uint32_t> handles;
  for (size_t size : {size_t{0}, size_t{1}, size_t{63}, size_t{64}, size_t{65},
                      size_t{1100}, size_t{1452}, PacketPool::kMaxBytes}) {
    sent.push_back(Bytes(size, static_cast<uint8_t>(size)));
    handles.push_back(pool.Put(static_cast<uint32_t>(size), sent.back()));
  }
  EXPECT_EQ(pool.in_flight(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    const PacketPool::Packet& p = pool.Get(handles[i]);
    EXPECT_EQ(p.from, sent[i].size());
    ASSERT_EQ(p.size, sent[i].size());
    EXPECT_TRUE(
        std::equal(p.bytes().begin(), p.bytes().end(), sent[i].begin()));
  }
  for (uint32_t h : handles) pool.Release(h);
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_EQ(pool.peak_in_flight(), sent.size());
}

TEST(PacketPoolTest, IdenticalBackToBackCopiesShareOneBuffer) {
  PacketPool pool;
  const std::vector<uint8_t> gossip = Bytes(1100, 9);
  std::vector<uint32_t> copies;
  for (int i = 0; i < 4; ++i) copies.push_back(pool.Put(7, gossip));
  EXPECT_EQ(pool.shared_puts(), 3u);
  EXPECT_EQ(pool.in_flight(), 4u);
  // Another sender, or other bytes, or an empty datagram: no sharing.
  const uint32_t other_sender = pool.Put(8, gossip);
  std::vector<uint8_t> changed = gossip;
  changed.back() ^= 1;
  const uint32_t other_bytes = pool.Put(8, changed);
  EXPECT_EQ(pool.shared_puts(), 3u);
  EXPECT_NE(pool.Get(other_sender).data, pool.Get(copies[0]).data);
  EXPECT_NE(pool.Get(other_bytes).data, pool.Get(other_sender).data);
  const uint64_t buffers = pool.buffer_bytes();
  // Released out of order, the survivors keep their bytes; the buffer is
  // recycled only after the last holder is released.
  for (uint32_t h : {copies[2], copies[0], copies[3]}) {
    pool.Release(h);
    const PacketPool::Packet& p = pool.Get(copies[1]);
    ASSERT_TRUE(std::equal(p.bytes().begin(), p.bytes().end(), gossip.begin(),
                           gossip.end()));
  }
  const uint32_t fresh = pool.Put(9, Bytes(1100, 1));
  EXPECT_NE(pool.Get(fresh).data, pool.Get(copies[1]).data);
  pool.Release(copies[1]);
  pool.Release(other_sender);
  pool.Release(other_bytes);
  pool.Release(fresh);
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_EQ(pool.buffer_bytes(), buffers);
  // A copy of a released packet is not shared with it.
  const uint32_t a = pool.Put(7, gossip);
  pool.Release(a);
  const uint32_t b = pool.Put(7, gossip);
  EXPECT_EQ(pool.shared_puts(), 3u);
  pool.Release(b);
}

TEST(PacketPoolTest, ReusesSlotsAndBuffers) {
  PacketPool pool;
  Random rng(3);
  std::vector<uint32_t> live;
  std::vector<std::vector<uint8_t>> contents(1 << 12);
  for (int step = 0; step < 100000; ++step) {
    if (live.size() < 500 && (live.empty() || rng.OneIn(2))) {
      const size_t size = rng.UniformBelow(1500);
      const uint32_t h = pool.Put(0, Bytes(size, static_cast<uint8_t>(step)));
      ASSERT_LT(h, contents.size());
      contents[h] = Bytes(size, static_cast<uint8_t>(step));
      live.push_back(h);
    } else {
      const size_t at = rng.UniformBelow(live.size());
      const uint32_t h = live[at];
      const PacketPool::Packet& p = pool.Get(h);
      ASSERT_EQ(p.size, contents[h].size());
      ASSERT_TRUE(
          std::equal(p.bytes().begin(), p.bytes().end(), contents[h].begin()));
      pool.Release(h);
      live[at] = live.back();
      live.pop_back();
    }
  }
  EXPECT_LE(pool.peak_in_flight(), 500u);
  // Memory follows the peak in flight, not the 50,000 datagrams put: at
  // most 500 buffers of < 1.5 KiB plus one 64 KiB chunk per size class.
  EXPECT_LT(pool.buffer_bytes(), 500u * 1536 + 24u * 64 * 1024);
}

}  // namespace
}  // namespace elara::sim
