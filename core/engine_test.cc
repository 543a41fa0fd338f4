// Engine tests over the in-process harness: real encoded datagrams between
// a handful of engines, fake time. See core/test_tools/engine_harness.h.
#include "core/engine.h"

#include <algorithm>
#include <set>

#include "core/random.h"
#include "core/test_tools/engine_harness.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

using test::EngineHarness;

DiffusionConfig SmallConfig() {
  DiffusionConfig c;
  c.membership.active_view_size = 4;
  c.membership.passive_view_size = 12;
  return c;
}

// All nodes join node 0, one every 10 ms, then the overlay settles.
void JoinAll(EngineHarness& h) {
  for (size_t i = 1; i < h.size(); ++i) {
    h.Join(i, 0);
    h.RunFor(Duration::Millis(10));
  }
  h.RunFor(Duration::Seconds(5));
}

std::vector<uint8_t> Payload(size_t n, uint8_t fill = 0xab) {
  return std::vector<uint8_t>(n, fill);
}

// Count of distinct messages delivered at node i, and whether any repeats.
size_t DistinctDeliveries(const EngineHarness& h, size_t i, bool* repeated) {
  std::set<MessageId> ids;
  for (const DeliveredEvent& d : h.delivered(i)) {
    if (!ids.insert(d.id).second) *repeated = true;
  }
  return ids.size();
}

TEST(EngineTest, RejectsInvalidConfig) {
  DiffusionConfig c;
  c.broadcast.initial_fanout = 9;
  c.broadcast.max_fanout = 8;
  auto e = Engine::Create(c, NodeId(1), Address::Sim(1), 1);
  ASSERT_FALSE(e.ok());
  EXPECT_NE(e.status().message().find("broadcast.initial_fanout"),
            std::string::npos)
      << e.status();
  c = DiffusionConfig();
  c.max_datagram_bytes = 10;
  EXPECT_FALSE(Engine::Create(c, NodeId(1), Address::Sim(1), 1).ok());
  EXPECT_FALSE(Engine::Create(DiffusionConfig(), NodeId(1), Address(), 1).ok());
}

TEST(EngineTest, JoinBuildsBoundedConnectedOverlay) {
  DiffusionConfig c = SmallConfig();
  EngineHarness h(40, c, /*seed=*/1);
  for (size_t i = 1; i < h.size(); ++i) {
    h.Join(i, 0);
    h.RunFor(Duration::Millis(10));
    for (size_t j = 0; j < h.size(); ++j) {
      ASSERT_LE(h.engine(j).ActiveView().size(), 4u);
      ASSERT_LE(h.engine(j).PassiveView().size(), 12u);
    }
  }
  h.RunFor(Duration::Seconds(30));
  EXPECT_TRUE(h.Connected());
  for (size_t i = 0; i < h.size(); ++i) {
    std::vector<PeerEntry> active = h.engine(i).ActiveView();
    EXPECT_FALSE(active.empty()) << "node " << i;
    for (const PeerEntry& p : active) {
      EXPECT_NE(p.id, h.engine(i).id());
      // Symmetric links once settled.
      std::vector<PeerEntry> back =
          h.engine(p.address.sim_index()).ActiveView();
      EXPECT_TRUE(std::any_of(
          back.begin(), back.end(),
          [&](const PeerEntry& q) { return q.id == h.engine(i).id(); }))
          << i << " -> " << p.address.sim_index() << " not symmetric";
    }
  }
}

TEST(EngineTest, BroadcastReachesEveryNodeExactlyOnce) {
  EngineHarness h(30, SmallConfig(), 2);
  JoinAll(h);
  for (int m = 0; m < 10; ++m) {
    auto id = h.engine(m % 30).Broadcast(h.now(), Payload(200));
    ASSERT_TRUE(id.ok()) << id.status();
    h.RunFor(Duration::Millis(100));
  }
  h.RunFor(Duration::Seconds(5));
  for (size_t i = 0; i < h.size(); ++i) {
    bool repeated = false;
    EXPECT_EQ(DistinctDeliveries(h, i, &repeated), 10u) << "node " << i;
    EXPECT_FALSE(repeated) << "node " << i;
  }
  EXPECT_GT(h.Sum(&EngineCounters::gossip_duplicates), 0u)
      << "the first messages travel a graph, not a tree: duplicates expected";
}

TEST(EngineTest, PruneMakesATreeSoSteadyStateRmrIsZero) {
  EngineHarness h(30, SmallConfig(), 3);
  JoinAll(h);
  // Warm the tree up from one origin.
  for (int m = 0; m < 5; ++m) {
    ASSERT_TRUE(h.engine(0).Broadcast(h.now(), Payload(100)).ok());
    h.RunFor(Duration::Millis(300));
  }
  h.RunFor(Duration::Seconds(2));
  const uint64_t received_before = h.Sum(&EngineCounters::gossip_received);
  const int kMessages = 10;
  for (int m = 0; m < kMessages; ++m) {
    ASSERT_TRUE(h.engine(0).Broadcast(h.now(), Payload(100)).ok());
    h.RunFor(Duration::Millis(300));
  }
  h.RunFor(Duration::Seconds(2));
  const double received = static_cast<double>(
      h.Sum(&EngineCounters::gossip_received) - received_before);
  const double rmr = received / (kMessages * (h.size() - 1)) - 1.0;
  EXPECT_NEAR(rmr, 0.0, 0.02);
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h.delivered(i).size(), 15u) << "node " << i;
  }
}

TEST(EngineTest, GraftRepairsADroppedEagerPush) {
  EngineHarness h(20, SmallConfig(), 4);
  JoinAll(h);
  for (int m = 0; m < 3; ++m) {
    ASSERT_TRUE(h.engine(0).Broadcast(h.now(), Payload(100)).ok());
    h.RunFor(Duration::Millis(500));
  }
  // Drop every datagram carrying a gossip payload into node 7 for a while:
  // it can learn the message only from IHAVE, and must GRAFT it.
  h.set_drop_rule([](const EngineHarness::InFlight& f) {
    return f.to == 7 && f.bytes.size() > 150;
  });
  ASSERT_TRUE(h.engine(0).Broadcast(h.now(), Payload(300)).ok());
  h.RunFor(Duration::Millis(100));
  h.set_drop_rule(nullptr);
  h.RunFor(Duration::Seconds(3));
  EXPECT_EQ(h.delivered(7).size(), 4u);
  EXPECT_GE(
      h.engine(7).counters().graft_sent + h.engine(7).counters().iwant_sent,
      1u);
  EXPECT_GE(h.engine(7).counters().messages_repaired, 1u);
}

TEST(EngineTest, FailedActivePeerIsDetectedAndReplaced) {
  DiffusionConfig c = SmallConfig();
  EngineHarness h(25, c, 5);
  JoinAll(h);
  std::vector<PeerEntry> before = h.engine(3).ActiveView();
  ASSERT_FALSE(before.empty());
  const size_t victim = before[0].address.sim_index();
  const Timestamp crash_time = h.now();
  h.Crash(victim);
  h.RunFor(Duration::Seconds(20));
  bool saw_timeout = false;
  for (const PeerDownEvent& d : h.peer_downs(3)) {
    if (d.peer.id == before[0].id && d.cause == PeerDownCause::kTimeout) {
      saw_timeout = true;
      // Silent for probe_timeout since it was last heard, which was at most
      // one keep-alive interval (plus a hop) before the crash.
      EXPECT_GE(d.at - crash_time, c.membership.probe_timeout -
                                       c.membership.keep_alive_interval -
                                       Duration::Millis(5));
    }
  }
  EXPECT_TRUE(saw_timeout);
  std::vector<PeerEntry> after = h.engine(3).ActiveView();
  EXPECT_EQ(after.size(), c.membership.active_view_size);
  for (const PeerEntry& p : after) EXPECT_NE(p.address.sim_index(), victim);
  EXPECT_TRUE(h.Connected());
  // Broadcasts still reach every live node.
  ASSERT_TRUE(h.engine(3).Broadcast(h.now(), Payload(64)).ok());
  h.RunFor(Duration::Seconds(3));
  for (size_t i = 0; i < h.size(); ++i) {
    if (i == victim) continue;
    EXPECT_EQ(h.delivered(i).size(), 1u) << "node " << i;
  }
}

TEST(EngineTest, IsolatedNodeRejoinsByItself) {
  EngineHarness h(10, SmallConfig(), 6);
  JoinAll(h);
  // Cut node 9 off completely for long enough to lose every peer.
  h.set_drop_rule([](const EngineHarness::InFlight& f) {
    return f.to == 9 || f.from == 9;
  });
  h.RunFor(Duration::Seconds(30));
  EXPECT_TRUE(h.engine(9).ActiveView().empty());
  h.set_drop_rule(nullptr);
  h.RunFor(Duration::Seconds(30));
  EXPECT_FALSE(h.engine(9).ActiveView().empty());
  EXPECT_TRUE(h.Connected());
  ASSERT_TRUE(h.engine(0).Broadcast(h.now(), Payload(64)).ok());
  h.RunFor(Duration::Seconds(3));
  EXPECT_EQ(h.delivered(9).size(), 1u);
}

TEST(EngineTest, LeaveTellsPeers) {
  EngineHarness h(8, SmallConfig(), 7);
  JoinAll(h);
  std::vector<PeerEntry> peers = h.engine(2).ActiveView();
  ASSERT_FALSE(peers.empty());
  h.engine(2).Leave(h.now());
  EXPECT_TRUE(h.engine(2).left());
  EXPECT_FALSE(h.engine(2).Broadcast(h.now(), Payload(10)).ok());
  h.RunFor(Duration::Seconds(1));
  const size_t peer = peers[0].address.sim_index();
  bool saw_left = false;
  for (const PeerDownEvent& d : h.peer_downs(peer)) {
    saw_left |=
        d.peer.id == h.engine(2).id() && d.cause == PeerDownCause::kLeft;
  }
  EXPECT_TRUE(saw_left);
}

TEST(EngineTest, ModesDeliverAndSwitchAtRunTime) {
  for (BroadcastMode mode :
       {BroadcastMode::kPush, BroadcastMode::kPull, BroadcastMode::kHybrid}) {
    DiffusionConfig c = SmallConfig();
    c.broadcast.mode = mode;
    EngineHarness h(20, c, 8);
    JoinAll(h);
    ASSERT_TRUE(h.engine(1).Broadcast(h.now(), Payload(50)).ok());
    h.RunFor(Duration::Seconds(15));
    // Switch every node to the next mode and broadcast again.
    BroadcastMode next =
        static_cast<BroadcastMode>((static_cast<int>(mode) + 1) % 3);
    for (size_t i = 0; i < h.size(); ++i) h.engine(i).SetMode(h.now(), next);
    EXPECT_EQ(h.engine(0).mode(), next);
    ASSERT_TRUE(h.engine(2).Broadcast(h.now(), Payload(50)).ok());
    // Pull spreads by one digest per node per pull_period: give it rounds.
    h.RunFor(Duration::Seconds(15));
    for (size_t i = 0; i < h.size(); ++i) {
      bool repeated = false;
      EXPECT_EQ(DistinctDeliveries(h, i, &repeated), 2u)
          << BroadcastModeName(mode) << " node " << i;
      EXPECT_FALSE(repeated);
    }
  }
}

TEST(EngineTest, BadDatagramsAreCountedAndDropped) {
  EngineHarness h(6, SmallConfig(), 9);
  JoinAll(h);
  Random rng(99);
  uint64_t injected = 0;
  for (int k = 0; k < 2000; ++k) {
    std::vector<uint8_t> junk(rng.UniformBelow(64));
    for (uint8_t& b : junk) b = static_cast<uint8_t>(rng.Next64());
    if (!junk.empty())
      junk[0] = static_cast<uint8_t>(2 + rng.UniformBelow(250));
    h.Inject(0, Address::Sim(5), std::move(junk));
    ++injected;
  }
  // A datagram that claims to come from the node itself is refused too.
  DatagramBuilder self_builder(h.engine(0).id(), 1452);
  ASSERT_EQ(self_builder.Add(PingFrame{1}), WireError::kOk);
  h.Inject(0, Address::Sim(5), self_builder.Finish());
  ++injected;
  EXPECT_EQ(h.engine(0).counters().bad_datagrams, injected);
  // Still works.
  ASSERT_TRUE(h.engine(0).Broadcast(h.now(), Payload(64)).ok());
  h.RunFor(Duration::Seconds(3));
  for (size_t i = 0; i < h.size(); ++i) EXPECT_EQ(h.delivered(i).size(), 1u);
}

TEST(EngineTest, OversizedBroadcastIsAnErrorNotADrop) {
  EngineHarness h(3, SmallConfig(), 10);
  JoinAll(h);
  auto id = h.engine(0).Broadcast(h.now(), Payload(1452));
  EXPECT_EQ(id.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(h.engine(0).Broadcast(h.now(), Payload(1400)).ok());
}

TEST(EngineTest, SameSeedSameDatagrams) {
  auto run = [](uint64_t seed) {
    EngineHarness h(15, SmallConfig(), seed);
    JoinAll(h);
    for (int m = 0; m < 5; ++m) {
      (void)h.engine(m).Broadcast(h.now(), Payload(80));
      h.RunFor(Duration::Millis(50));
    }
    h.RunFor(Duration::Seconds(2));
    std::vector<uint64_t> fingerprint;
    for (size_t i = 0; i < h.size(); ++i) {
      fingerprint.push_back(h.engine(i).counters().bytes_out);
      for (const PeerEntry& p : h.engine(i).ActiveView()) {
        fingerprint.push_back(p.id.value());
      }
    }
    return fingerprint;
  };
  EXPECT_EQ(run(11), run(11));
  EXPECT_NE(run(11), run(12));
}

TEST(EngineTest, StateBytesIsBoundedForDefaultViews) {
  DiffusionConfig c;  // 5 / 30
  EngineHarness h(60, c, 13);
  JoinAll(h);
  for (int m = 0; m < 20; ++m) {
    (void)h.engine(m).Broadcast(h.now(), Payload(100));
    h.RunFor(Duration::Millis(100));
  }
  h.RunFor(Duration::Seconds(40));  // caches expire
  size_t max_bytes = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    max_bytes = std::max(max_bytes, h.engine(i).StateBytes());
  }
  RecordProperty("max_state_bytes", static_cast<int>(max_bytes));
  // Views of 35 entries dominate; 20 origins' dedup windows come next.
  EXPECT_LT(max_bytes, 16384u);
}

}  // namespace
}  // namespace elara

namespace elara {
namespace {

TEST(EngineTest, PayloadInternerSharesBuffersWithoutChangingDelivery) {
  auto payload_pointers = [](PayloadInterner* interner) {
    test::EngineHarness h(12, SmallConfig(), 21);
    for (size_t i = 0; i < h.size(); ++i) {
      h.engine(i).SetPayloadInterner(interner);
    }
    JoinAll(h);
    EXPECT_TRUE(h.engine(0).Broadcast(h.now(), Payload(300, 0x42)).ok());
    h.RunFor(Duration::Seconds(3));
    std::set<const void*> buffers;
    for (size_t i = 1; i < h.size(); ++i) {
      EXPECT_EQ(h.delivered(i).size(), 1u);
      if (h.delivered(i).empty()) continue;
      EXPECT_EQ(*h.delivered(i)[0].payload, Payload(300, 0x42));
      buffers.insert(h.delivered(i)[0].payload.get());
    }
    return buffers.size();
  };
  SharedPayloadInterner interner;
  EXPECT_EQ(payload_pointers(&interner), 1u);
  EXPECT_GE(interner.shared(), 10u);
  EXPECT_EQ(payload_pointers(nullptr), 11u);
}

TEST(SharedPayloadInternerTest, DifferentBytesUnderOneIdAreNotShared) {
  SharedPayloadInterner interner;
  const std::vector<uint8_t> a(10, 1), b(10, 2);
  MessageId id{NodeId(5), 1};
  auto pa = interner.Intern(id, a);
  auto pb = interner.Intern(id, b);
  EXPECT_NE(pa.get(), pb.get());
  EXPECT_EQ(*pb, b);
  EXPECT_EQ(interner.mismatches(), 1u);
  EXPECT_EQ(interner.Intern(id, a).get(), pa.get());
  // Once every holder dropped it, the id maps to a fresh buffer.
  const void* old = pa.get();
  pa.reset();
  auto pc = interner.Intern(MessageId{NodeId(5), 2}, a);
  EXPECT_EQ(*pc, a);
  (void)old;
}

}  // namespace
}  // namespace elara
