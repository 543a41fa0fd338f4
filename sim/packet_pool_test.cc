// File: sim/packet_pool_test.cc
#include "sim/packet_pool.h"

#include <algorithm>
#include <memory>
#include <span>
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
  for (size_t size :
       {size_t{0}, size_t{1}, PacketPool::kInlineBytes,
        PacketPool::kInlineBytes + 1, size_t{63}, size_t{64}, size_t{65},
        PacketPool::kTailMinBytes - 1, PacketPool::kTailMinBytes, size_t{1100},
        size_t{1452}, PacketPool::kMaxBytes}) {
    sent.push_back(Bytes(size, static_cast<uint8_t>(size)));
    handles.push_back(pool.Put(static_cast<uint32_t>(size), sent.back()));
  }
  EXPECT_EQ(pool.in_flight(), sent.size());
  for (size_t i = 0; i < sent.size(); ++i) {
    EXPECT_EQ(pool.from(handles[i]), sent[i].size());
    const std::span<const uint8_t> bytes = pool.Bytes(handles[i]);
    EXPECT_TRUE(
        std::equal(bytes.begin(), bytes.end(), sent[i].begin(), sent[i].end()));
  }
  for (uint32_t h : handles) pool.Release(h);
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_EQ(pool.peak_in_flight(), sent.size());
}

bool Holds(PacketPool& pool, uint32_t handle,
           const std::vector<uint8_t>& bytes) {
  const std::span<const uint8_t> held = pool.Bytes(handle);
  return std::equal(held.begin(), held.end(), bytes.begin(), bytes.end());
}

// A datagram as a node forwards it: its own header, then a payload that
// every forwarder sends alike.
std::vector<uint8_t> Forwarded(uint8_t sender,
                               const std::vector<uint8_t>& tail) {
  std::vector<uint8_t> d;
  d.reserve(PacketPool::kHeadBytes + tail.size());
  for (size_t i = 0; i < PacketPool::kHeadBytes; ++i) d.push_back(sender);
  for (uint8_t b : tail) d.push_back(b);
  return d;
}

TEST(PacketPoolTest, IdenticalBackToBackCopiesShareStorage) {
  PacketPool pool;
  const std::vector<uint8_t> gossip = Bytes(1100, 9);
  std::vector<uint32_t> copies;
  for (int i = 0; i < 4; ++i) copies.push_back(pool.Put(7, gossip));
  EXPECT_EQ(pool.shared_puts(), 3u);
  EXPECT_EQ(pool.in_flight(), 4u);
  // Another sender, other bytes, a small datagram: not back-to-back copies.
  const uint32_t other_sender = pool.Put(8, gossip);
  std::vector<uint8_t> changed = gossip;
  changed.front() ^= 1;
  const uint32_t other_bytes = pool.Put(8, changed);
  const uint32_t small = pool.Put(8, Bytes(100, 3));
  const uint32_t small_copy = pool.Put(8, Bytes(100, 3));
  EXPECT_EQ(pool.shared_puts(), 4u);
  const uint64_t buffers = pool.buffer_bytes();
  // Released out of order, the survivors keep their bytes.
  for (uint32_t h : {copies[2], copies[0], copies[3], small}) {
    pool.Release(h);
    ASSERT_TRUE(Holds(pool, copies[1], gossip));
    ASSERT_TRUE(Holds(pool, small_copy, Bytes(100, 3)));
  }
  // New datagrams take freed buffers only, never one still held.
  const uint32_t fresh = pool.Put(9, Bytes(1100, 1));
  const uint32_t fresh_small = pool.Put(9, Bytes(100, 77));
  EXPECT_TRUE(Holds(pool, copies[1], gossip));
  EXPECT_TRUE(Holds(pool, small_copy, Bytes(100, 3)));
  EXPECT_TRUE(Holds(pool, other_sender, gossip));
  EXPECT_TRUE(Holds(pool, other_bytes, changed));
  EXPECT_TRUE(Holds(pool, fresh, Bytes(1100, 1)));
  EXPECT_TRUE(Holds(pool, fresh_small, Bytes(100, 77)));
  for (uint32_t h :
       {copies[1], other_sender, other_bytes, small_copy, fresh, fresh_small}) {
    pool.Release(h);
  }
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_EQ(pool.buffer_bytes(), buffers);
  // A copy of a released packet is not shared with it.
  const uint32_t a = pool.Put(7, gossip);
  pool.Release(a);
  const uint32_t b = pool.Put(7, gossip);
  EXPECT_EQ(pool.shared_puts(), 4u);
  pool.Release(b);
}

TEST(PacketPoolTest, StableRunSharesTheSameSpanAndComparesElsewhere) {
  PacketPool pool;
  std::vector<uint8_t> gossip = Bytes(1100, 9);
  std::vector<uint8_t> ihave = Bytes(30, 5);
  std::vector<uint32_t> held;
  // In a run: the same span again is shared (by address), an equal copy
  // elsewhere still by comparing, other bytes not at all.
  pool.BeginStableRun();
  for (int i = 0; i < 3; ++i) held.push_back(pool.PutInRun(7, gossip));
  const std::vector<uint8_t> gossip_copy = gossip;
  held.push_back(pool.PutInRun(7, gossip_copy));
  held.push_back(pool.PutInRun(7, ihave));
  held.push_back(pool.PutInRun(7, ihave));
  pool.EndStableRun();
  EXPECT_EQ(pool.shared_puts(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_TRUE(Holds(pool, held[i], gossip));
  EXPECT_TRUE(Holds(pool, held[4], ihave));
  EXPECT_TRUE(Holds(pool, held[5], ihave));
  // Outside a run, a span rewritten in place is compared: not shared.
  const uint32_t before = pool.Put(7, gossip);
  gossip[600] ^= 1;
  const uint32_t after = pool.Put(7, gossip);
  // A new run forgets the last one's spans: the span a run ended with,
  // rewritten in place, is compared in the next run (no Put in between).
  pool.BeginStableRun();
  gossip[700] ^= 1;
  const uint32_t in_run = pool.PutInRun(7, gossip);
  pool.EndStableRun();
  pool.BeginStableRun();
  gossip[800] ^= 1;
  const uint32_t in_new_run = pool.PutInRun(7, gossip);
  pool.EndStableRun();
  // A Put in a run (compared) comes between: the next PutInRun of the
  // span before it is compared with the Put's bytes, not shared by address.
  const std::vector<uint8_t> other = Bytes(1100, 3);
  pool.BeginStableRun();
  gossip[900] ^= 1;
  const uint32_t first = pool.PutInRun(7, gossip);
  const uint32_t between = pool.Put(7, other);
  const uint32_t again = pool.PutInRun(7, gossip);
  pool.EndStableRun();
  EXPECT_EQ(pool.shared_puts(), 4u);
  EXPECT_TRUE(Holds(pool, between, other));
  std::vector<uint8_t> expected = Bytes(1100, 9);
  EXPECT_TRUE(Holds(pool, before, expected));
  expected[600] ^= 1;
  EXPECT_TRUE(Holds(pool, after, expected));
  expected[700] ^= 1;
  EXPECT_TRUE(Holds(pool, in_run, expected));
  expected[800] ^= 1;
  EXPECT_TRUE(Holds(pool, in_new_run, expected));
  expected[900] ^= 1;
  EXPECT_TRUE(Holds(pool, first, expected));
  EXPECT_TRUE(Holds(pool, again, expected));
  for (uint32_t h : held) pool.Release(h);
  for (uint32_t h :
       {before, after, in_run, in_new_run, first, between, again}) {
    pool.Release(h);
  }
  EXPECT_EQ(pool.in_flight(), 0u);
}

TEST(PacketPoolTest, ForwardersShareThePayloadTail) {
  PacketPool pool;
  const std::vector<uint8_t> payload = Bytes(1024, 5);
  std::vector<uint32_t> handles;
  for (uint8_t sender = 0; sender < 100; ++sender) {
    handles.push_back(pool.Put(sender, Forwarded(sender, payload)));
  }
  EXPECT_EQ(pool.shared_tails(), 99u);
  // 100 heads in their slots and one 1 KiB tail: one chunk (100 tails of
  // 1 KiB would need two).
  EXPECT_LE(pool.buffer_bytes(), 2 * PacketPool::kChunkBytes);
  for (uint8_t sender = 0; sender < 100; ++sender) {
    ASSERT_TRUE(Holds(pool, handles[sender], Forwarded(sender, payload)));
  }
  // A different payload of the same size gets its own tail.
  std::vector<uint8_t> other = payload;
  other.back() ^= 0xff;
  const uint32_t h = pool.Put(200, Forwarded(200, other));
  EXPECT_EQ(pool.shared_tails(), 99u);
  EXPECT_TRUE(Holds(pool, h, Forwarded(200, other)));
  // The tail outlives any subset of its holders.
  for (size_t i = 0; i < 99; ++i) pool.Release(handles[i]);
  EXPECT_TRUE(Holds(pool, handles[99], Forwarded(99, payload)));
  pool.Release(handles[99]);
  // Released, it is found no more: the next one stores a fresh tail.
  const uint32_t again = pool.Put(1, Forwarded(1, payload));
  EXPECT_EQ(pool.shared_tails(), 99u);
  EXPECT_TRUE(Holds(pool, again, Forwarded(1, payload)));
  pool.Release(again);
  pool.Release(h);
  EXPECT_EQ(pool.in_flight(), 0u);
}

// A tail kept with the buffer its bytes came from (SetTailSource) is found
// by where a Put's copied payload ends, when that copy covers the tail;
// otherwise the bytes are compared as ever. The tail keeps its source alive
// until it is freed.
TEST(PacketPoolTest, TailSourceSharesByAddressWhenTheCopyCoversTheTail) {
  PacketPool pool;
  auto source = std::make_shared<const std::vector<uint8_t>>(Bytes(1024, 5));
  constexpr size_t kFrameHead = 20;  // the payload starts in the head
  auto datagram = [&](uint8_t sender) {
    std::vector<uint8_t> d(kFrameHead, sender);
    d.insert(d.end(), source->begin(), source->end());
    return d;
  };
  const std::vector<uint8_t> first = datagram(1);
  const uint32_t h1 = pool.Put(1, first);
  ASSERT_TRUE(Holds(pool, h1, first));  // joins its tail
  const PacketPool::TailId tail = pool.LastJoinedTail();
  ASSERT_NE(tail.serial, 0u);
  pool.SetTailSource(tail, source);
  EXPECT_EQ(source.use_count(), 2);

  std::vector<uint32_t> held = {h1};
  std::vector<std::vector<uint8_t>> sent = {first};
  // The whole source copied: shared by address (debug builds check the
  // bytes), for each sender's head.
  for (uint8_t sender = 2; sender < 6; ++sender) {
    sent.push_back(datagram(sender));
    held.push_back(pool.Put(sender, sent.back(), *source));
  }
  EXPECT_EQ(pool.shared_tails(), 4u);
  // A shorter copy of the source's end that does not cover the tail (the
  // tail's first bytes are the datagram's own): compared, not shared.
  std::vector<uint8_t> partial(PacketPool::kHeadBytes + 40, 7);
  partial.insert(partial.end(), source->begin() + 60, source->end());
  ASSERT_EQ(partial.size(), first.size());
  sent.push_back(partial);
  held.push_back(
      pool.Put(7, partial, std::span<const uint8_t>(*source).subspan(60)));
  EXPECT_EQ(pool.shared_tails(), 4u);
  // Equal bytes from another buffer: found by comparing.
  const std::vector<uint8_t> copy = *source;
  sent.push_back(datagram(8));
  held.push_back(pool.Put(8, sent.back(), copy));
  EXPECT_EQ(pool.shared_tails(), 5u);
  for (size_t i = 0; i < held.size(); ++i) {
    EXPECT_TRUE(Holds(pool, held[i], sent[i])) << i;
  }
  for (uint32_t h : held) pool.Release(h);
  EXPECT_EQ(pool.in_flight(), 0u);
  EXPECT_EQ(source.use_count(), 1);  // the freed tail let go of it
}

// Bytes(handle) joins a split packet in place (its head in front of the
// shared tail), Bytes(handle, scratch) in the scratch: each read is exact
// whatever was read before it, and neither changes the tail that later
// Puts compare against.
TEST(PacketPoolTest, SplitPacketsReadInPlaceOrInScratch) {
  PacketPool pool;
  const std::vector<uint8_t> payload = Bytes(1024, 3);
  std::vector<uint32_t> handles;
  for (uint8_t sender = 0; sender < 4; ++sender) {
    handles.push_back(pool.Put(sender, Forwarded(sender, payload)));
  }
  EXPECT_EQ(pool.shared_tails(), 3u);
  std::vector<uint8_t> scratch;
  for (int round = 0; round < 3; ++round) {
    for (uint8_t sender = 0; sender < 4; ++sender) {
      const std::vector<uint8_t> want = Forwarded(sender, payload);
      ASSERT_TRUE(Holds(pool, handles[sender], want)) << int{sender};
      const uint8_t other = static_cast<uint8_t>((sender + 1) % 4);
      const std::span<const uint8_t> in_scratch =
          pool.Bytes(handles[other], &scratch);
      const std::vector<uint8_t> want_other = Forwarded(other, payload);
      ASSERT_TRUE(std::equal(in_scratch.begin(), in_scratch.end(),
                             want_other.begin(), want_other.end()));
    }
  }
  const uint32_t next = pool.Put(9, Forwarded(9, payload));
  EXPECT_EQ(pool.shared_tails(), 4u);
  EXPECT_TRUE(Holds(pool, next, Forwarded(9, payload)));
  pool.Release(next);
  for (uint32_t h : handles) pool.Release(h);
  EXPECT_EQ(pool.in_flight(), 0u);
}

// Tails are looked up by a key over a sample of their bytes; tails that
// differ only between the sampled windows share a key and must still come
// back exactly as Put, each with its own storage.
TEST(PacketPoolTest, TailsDifferingOutsideTheKeySampleStayApart) {
  PacketPool pool;
  const std::vector<uint8_t> payload = Bytes(1024, 9);
  std::vector<std::vector<uint8_t>> variants;
  for (size_t k = 0; k < 8; ++k) {
    std::vector<uint8_t> v = payload;
    v[100 + k * 25] ^= 0x5a;  // one byte, between the first two windows
    variants.push_back(v);
  }
  std::vector<uint32_t> handles;
  for (size_t k = 0; k < variants.size(); ++k) {
    handles.push_back(
        pool.Put(static_cast<uint32_t>(k), Forwarded(1, variants[k])));
  }
  EXPECT_EQ(pool.shared_tails(), 0u);
  for (size_t k = 0; k < variants.size(); ++k) {
    EXPECT_TRUE(Holds(pool, handles[k], Forwarded(1, variants[k]))) << k;
  }
  // An equal tail after them still shares (with the newest holder of the
  // key, the last variant).
  const uint32_t same = pool.Put(50, Forwarded(2, variants.back()));
  EXPECT_EQ(pool.shared_tails(), 1u);
  EXPECT_TRUE(Holds(pool, same, Forwarded(2, variants.back())));
  for (uint32_t h : handles) pool.Release(h);
  pool.Release(same);
  EXPECT_EQ(pool.in_flight(), 0u);
}

TEST(PacketPoolTest, SmallDatagramsNeedNoBuffer) {
  PacketPool pool;
  std::vector<uint32_t> handles;
  for (uint8_t i = 0; i < 200; ++i) {
    handles.push_back(pool.Put(i, Bytes(1 + i % PacketPool::kInlineBytes, i)));
  }
  EXPECT_EQ(pool.buffer_bytes(), 0u);
  for (uint8_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(
        Holds(pool, handles[i], Bytes(1 + i % PacketPool::kInlineBytes, i)));
  }
  // Back-to-back copies of a small datagram are counted as shared too.
  const uint32_t a = pool.Put(7, Bytes(20, 1));
  const uint32_t b = pool.Put(7, Bytes(20, 1));
  EXPECT_EQ(pool.shared_puts(), 1u);
  pool.Release(a);
  EXPECT_TRUE(Holds(pool, b, Bytes(20, 1)));
  pool.Release(b);
  for (uint32_t h : handles) pool.Release(h);
  EXPECT_EQ(pool.in_flight(), 0u);
}

// Releases a random handle of *live; false if it did not hold
// contents[handle] up to then.
bool ReleaseOneAtRandom(PacketPool& pool, Random& rng,
                        const std::vector<std::vector<uint8_t>>& contents,
                        std::vector<uint32_t>* live) {
  const size_t at = rng.UniformBelow(live->size());
  const uint32_t h = (*live)[at];
  const bool held = Holds(pool, h, contents[h]);
  pool.Release(h);
  (*live)[at] = live->back();
  live->pop_back();
  return held;
}

// Forwards of a few payloads (some equal but for their last byte, some
// of other sizes) interleaved in random order with releases, so the tail
// found last is sometimes the right one, sometimes another payload's, and
// sometimes freed: every packet still reads back exactly, and equal
// tails in flight at once share one buffer.
TEST(PacketPoolTest, InterleavedForwardsReadBackExactly) {
  PacketPool pool;
  Random rng(11);
  std::vector<std::vector<uint8_t>> payloads;
  for (uint8_t k = 0; k < 4; ++k) {
    payloads.push_back(Bytes(1024, 40));
    payloads.back().back() ^= k;  // differ only in the last byte
  }
  payloads.push_back(Bytes(600, 41));
  payloads.push_back(Bytes(1400, 42));
  std::vector<uint32_t> live;
  std::vector<std::vector<uint8_t>> contents(1 << 12);
  uint64_t tails_put = 0;
  for (int step = 0; step < 20000; ++step) {
    if (live.size() < 300 && (live.empty() || !rng.OneIn(3))) {
      const size_t p = rng.UniformBelow(payloads.size());
      const auto sender = static_cast<uint8_t>(rng.UniformBelow(256));
      std::vector<uint8_t> d = Forwarded(sender, payloads[p]);
      const uint32_t h = pool.Put(sender, d);
      ASSERT_LT(h, contents.size());
      contents[h] = std::move(d);
      live.push_back(h);
      ++tails_put;
    } else {
      ASSERT_TRUE(ReleaseOneAtRandom(pool, rng, contents, &live));
    }
    if (step % 97 == 0) {
      for (uint32_t h : live) ASSERT_TRUE(Holds(pool, h, contents[h]));
    }
  }
  // Six payloads: all but a few puts found a tail to share (a back-to-back
  // copy shares its predecessor's whole storage instead).
  EXPECT_GT(pool.shared_tails() + pool.shared_puts(), tails_put * 9 / 10);
  for (uint32_t h : live) pool.Release(h);
  EXPECT_EQ(pool.in_flight(), 0u);
}

// LastJoinedTail names the tail of the split packet Bytes() last joined in
// place, with its bytes; a whole packet's Bytes() leaves it; a freed tail
// reads as none, and a tail made later in the same place gets a new serial.
TEST(PacketPoolTest, LastJoinedTailNamesTheTailJoined) {
  PacketPool pool;
  EXPECT_EQ(pool.LastJoinedTail().serial, 0u);
  std::vector<uint8_t> a = Bytes(700, 1);
  const uint32_t ha = pool.Put(0, a);
  pool.Bytes(ha);
  const PacketPool::TailId ta = pool.LastJoinedTail();
  ASSERT_NE(ta.serial, 0u);
  EXPECT_TRUE(std::equal(ta.bytes.begin(), ta.bytes.end(),
                         a.begin() + PacketPool::kHeadBytes, a.end()));
  const uint32_t small = pool.Put(0, Bytes(20, 2));
  pool.Bytes(small);
  EXPECT_EQ(pool.LastJoinedTail().serial, ta.serial);
  pool.Release(ha);
  EXPECT_EQ(pool.LastJoinedTail().serial, 0u);
  std::vector<uint8_t> b = Bytes(700, 3);
  const uint32_t hb = pool.Put(1, b);
  pool.Bytes(hb);
  const PacketPool::TailId tb = pool.LastJoinedTail();
  EXPECT_EQ(tb.index, ta.index);  // the freed tail's place, reused
  EXPECT_NE(tb.serial, ta.serial);
  EXPECT_TRUE(std::equal(tb.bytes.begin(), tb.bytes.end(),
                         b.begin() + PacketPool::kHeadBytes, b.end()));
  pool.Release(hb);
  pool.Release(small);
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
      ASSERT_TRUE(ReleaseOneAtRandom(pool, rng, contents, &live));
    }
  }
  EXPECT_LE(pool.peak_in_flight(), 500u);
  // Memory follows the peak in flight, not the 50,000 datagrams put: at
  // most 500 buffers of < 1.5 KiB plus one 64 KiB chunk per size class.
  EXPECT_LT(pool.buffer_bytes(), 500u * 1536 + 24u * 64 * 1024);
}

}  // namespace
}  // namespace elara::sim
