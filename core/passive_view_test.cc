// Tests of the passive view's compact store (core/passive_view.h): exact
// round trips for every address kind, vector order under erasure, IPv6 side
// slots reused, the bound, and Find against a linear search.
#include "core/passive_view.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

PeerEntry SimPeer(uint32_t index) {
  return {NodeId(0x1000 + index), Address::Sim(index)};
}
PeerEntry Ipv4Peer(uint8_t last, uint16_t port) {
  return {NodeId(0x4000 + last), Address::Ipv4({192, 168, 7, last}, port)};
}
// Every byte differs, so a slot mixed up with another shows.
PeerEntry Ipv6Peer(uint8_t seed, uint16_t port) {
  std::array<uint8_t, 16> ip;
  for (size_t i = 0; i < ip.size(); ++i) {
    ip[i] = static_cast<uint8_t>(seed * 17 + i);
  }
  return {NodeId(0x6000 + seed), Address::Ipv6(ip, port)};
}

// 16 bytes an entry (a tag and 15), and a padding byte per tag up to a
// multiple of 32 entries.
TEST(PassiveViewTest, EntriesAreSixteenBytes) {
  PassiveView view(30);
  EXPECT_EQ(view.capacity(), 30u);
  EXPECT_EQ(view.HeapBytes(), 30u * 16 + 2);
  EXPECT_EQ(PassiveView(32).HeapBytes(), 32u * 16);
  EXPECT_EQ(sizeof(PassiveView), 24u);
}

TEST(PassiveViewTest, RoundTripsEveryKindExactly) {
  const std::vector<PeerEntry> peers = {
      SimPeer(0),
      SimPeer(0xFFFFFFFF),
      Ipv4Peer(1, 0),
      Ipv4Peer(255, 65535),
      Ipv6Peer(1, 4433),
      Ipv6Peer(2, 65535),
      {NodeId(~uint64_t{0}), *Address::Parse("[::1]:9")},
      {NodeId(0), *Address::Parse("10.0.0.1:7")},
  };
  PassiveView view(peers.size());
  for (const PeerEntry& peer : peers) view.push_back(peer);
  ASSERT_EQ(view.size(), peers.size());
  for (size_t i = 0; i < peers.size(); ++i) {
    EXPECT_EQ(view[i], peers[i]) << i;
    EXPECT_EQ(view.id(i), peers[i].id) << i;
  }
  EXPECT_EQ(view.ToVector(), peers);
}

TEST(PassiveViewTest, SimAndIpv4PeersNeedNoSideTable) {
  PassiveView view(4);
  view.push_back(SimPeer(3));
  view.push_back(Ipv4Peer(9, 80));
  EXPECT_EQ(view.HeapBytes(), 4u * 16 + 28);
  view.push_back(Ipv6Peer(5, 80));
  EXPECT_GT(view.HeapBytes(), 4u * 16 + 28);
}

TEST(PassiveViewTest, EraseKeepsTheOrderOfTheOthers) {
  PassiveView view(5);
  const std::vector<PeerEntry> peers = {
      SimPeer(1), Ipv6Peer(1, 1), Ipv4Peer(1, 1), Ipv6Peer(2, 2), SimPeer(2)};
  for (const PeerEntry& peer : peers) view.push_back(peer);
  view.Erase(1);
  EXPECT_EQ(view.ToVector(),
            (std::vector<PeerEntry>{peers[0], peers[2], peers[3], peers[4]}));
  view.Erase(3);
  view.Erase(0);
  EXPECT_EQ(view.ToVector(), (std::vector<PeerEntry>{peers[2], peers[3]}));
}

// A moved-from view is empty with no capacity (like a moved-from vector),
// not a size over storage it no longer owns.
TEST(PassiveViewTest, MovingLeavesTheSourceEmpty) {
  PassiveView view(4);
  view.push_back(SimPeer(1));
  view.push_back(Ipv6Peer(3, 3));
  PassiveView moved(std::move(view));
  EXPECT_EQ(view.size(), 0u);      // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(view.capacity(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(view.Find(SimPeer(1).id), -1);
  EXPECT_EQ(moved.ToVector(),
            (std::vector<PeerEntry>{SimPeer(1), Ipv6Peer(3, 3)}));
  PassiveView assigned(2);
  assigned = std::move(moved);
  EXPECT_EQ(moved.size(), 0u);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(moved.capacity(), 0u);
  EXPECT_EQ(assigned.Find(Ipv6Peer(3, 3).id), 1);
  EXPECT_EQ(assigned.capacity(), 4u);
}

TEST(PassiveViewTest, ErasedIpv6SlotsAreReused) {
  PassiveView view(8);
  for (uint8_t k = 0; k < 4; ++k) view.push_back(Ipv6Peer(k, k));
  view.Erase(2);
  view.Erase(0);
  const PeerEntry fresh1 = Ipv6Peer(10, 10), fresh2 = Ipv6Peer(11, 11);
  view.push_back(fresh1);
  view.push_back(fresh2);
  EXPECT_EQ(
      view.ToVector(),
      (std::vector<PeerEntry>{Ipv6Peer(1, 1), Ipv6Peer(3, 3), fresh1, fresh2}));
  // Many turns of the same: the side table stays at its high-water mark
  // (it would grow by a slot a turn if freed slots were not reused).
  const size_t bytes = view.HeapBytes();
  for (uint8_t round = 0; round < 100; ++round) {
    view.Erase(0);
    view.push_back(Ipv6Peer(static_cast<uint8_t>(20 + round), round));
  }
  EXPECT_EQ(view.HeapBytes(), bytes);
  EXPECT_EQ(view.ToVector(),
            (std::vector<PeerEntry>{Ipv6Peer(116, 96), Ipv6Peer(117, 97),
                                    Ipv6Peer(118, 98), Ipv6Peer(119, 99)}));
}

TEST(PassiveViewTest, BoundedByItsCapacity) {
  PassiveView view(3);
  EXPECT_FALSE(view.full());
  for (uint32_t i = 0; i < 3; ++i) view.push_back(SimPeer(i));
  EXPECT_TRUE(view.full());
  EXPECT_EQ(view.capacity(), 3u);
  EXPECT_EQ(view.HeapBytes(), 3u * 16 + 29);
  view.Erase(1);
  EXPECT_FALSE(view.full());
  view.push_back(SimPeer(7));
  EXPECT_TRUE(view.full());
  EXPECT_EQ(view.capacity(), 3u);

  const PassiveView none;
  EXPECT_TRUE(none.empty());
  EXPECT_TRUE(none.full());
  EXPECT_EQ(none.HeapBytes(), 0u);
}

// Find against a linear search, on ids drawn from a small set of which
// half share one scan tag (so the tag filter lets some through that are
// not there), in views of one, two and three tag blocks.
TEST(PassiveViewTest, FindMatchesALinearSearch) {
  std::vector<NodeId> pool;
  for (uint64_t k = 1; pool.size() < 24; ++k) {
    if (PassiveView::TagOf(NodeId(k)) == 0x5A) pool.push_back(NodeId(k));
  }
  for (uint64_t k = 1; pool.size() < 48; ++k) pool.push_back(NodeId(k << 40));
  for (const size_t capacity :
       {size_t{5}, size_t{30}, size_t{32}, size_t{33}, size_t{70}}) {
    Random rng(5 + capacity);
    PassiveView view(capacity);
    std::vector<NodeId> model;
    const auto draw = [&] { return pool[rng.UniformBelow(pool.size())]; };
    for (uint32_t step = 0; step < 20000; ++step) {
      const NodeId probe = draw();
      const auto it = std::find(model.begin(), model.end(), probe);
      const int expected =
          it == model.end() ? -1 : static_cast<int>(it - model.begin());
      ASSERT_EQ(view.Find(probe), expected)
          << "capacity " << capacity << " step " << step;
      // Grow to full more often than not, so every block is exercised.
      if (!model.empty() && (view.full() || rng.UniformBelow(3) == 0)) {
        const size_t index = rng.UniformBelow(model.size());
        view.Erase(index);
        model.erase(model.begin() + static_cast<ptrdiff_t>(index));
      } else {
        const NodeId id = draw();
        view.push_back({id, Address::Sim(step)});
        model.push_back(id);
      }
    }
  }
  const PassiveView none;
  EXPECT_EQ(none.Find(NodeId(0)), -1);
}

// EraseAndPush against Erase then push_back, at every index of full views
// of many sizes (the inline tag move has a path per length below 16, and
// steps of 16 above): the same entries in the same order, the same Find
// answers (which read the moved tags), the same side table.
TEST(PassiveViewTest, EraseAndPushIsEraseThenPush) {
  for (const size_t capacity :
       {size_t{1}, size_t{2}, size_t{5}, size_t{9}, size_t{16}, size_t{17},
        size_t{30}, size_t{32}, size_t{33}, size_t{70}}) {
    Random rng(capacity);
    PassiveView fused(capacity);
    PassiveView apart(capacity);
    uint32_t next = 0;
    const auto fresh = [&next] {
      const uint32_t n = next++;
      const uint8_t low = static_cast<uint8_t>(n);
      return n % 3 == 0   ? SimPeer(n)
             : n % 3 == 1 ? Ipv4Peer(low, low)
                          : Ipv6Peer(low, low);
    };
    while (!fused.full()) {
      const PeerEntry peer = fresh();
      fused.push_back(peer);
      apart.push_back(peer);
    }
    for (uint32_t step = 0; step < 3000; ++step) {
      const size_t index = step < capacity ? step : rng.UniformBelow(capacity);
      const PeerEntry peer = fresh();
      fused.EraseAndPush(index, peer);
      apart.Erase(index);
      apart.push_back(peer);
      const std::vector<PeerEntry> peers = apart.ToVector();
      ASSERT_EQ(fused.ToVector(), peers)
          << "capacity " << capacity << " step " << step;
      for (size_t i = 0; i < peers.size(); ++i) {
        ASSERT_EQ(fused.Find(peers[i].id), static_cast<int>(i))
            << "capacity " << capacity << " step " << step;
      }
      ASSERT_EQ(fused.HeapBytes(), apart.HeapBytes());
    }
  }
}

// Random pushes and erasures of mixed kinds, against a std::vector.
TEST(PassiveViewTest, MatchesAVectorUnderRandomUse) {
  constexpr size_t kCapacity = 30;
  Random rng(17);
  PassiveView view(kCapacity);
  std::vector<PeerEntry> model;
  for (uint32_t step = 0; step < 20000; ++step) {
    if (!model.empty() && (view.full() || rng.OneIn(2))) {
      const size_t index = rng.UniformBelow(model.size());
      view.Erase(index);
      model.erase(model.begin() + static_cast<ptrdiff_t>(index));
    } else {
      const uint8_t n = static_cast<uint8_t>(step);
      const PeerEntry peer = step % 3 == 0   ? SimPeer(step)
                             : step % 3 == 1 ? Ipv4Peer(n, n)
                                             : Ipv6Peer(n, n);
      view.push_back(peer);
      model.push_back(peer);
    }
    ASSERT_EQ(view.ToVector(), model) << "step " << step;
  }
  // The side table never outgrew the bound.
  EXPECT_LE(view.HeapBytes(), kCapacity * 16 + 64 + 2 * kCapacity * (16 + 4));
}

}  // namespace
}  // namespace elara
