// Engine tests over the in-process harness: real encoded datagrams between
// a handful of engines, fake time. See core/test_tools/engine_harness.h.
#include "core/engine.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <thread>

#include "core/random.h"
#include "core/spare_buffer.h"
#include "core/state_sync.h"
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
  // Without link swaps: each one brings new (eager) links, and their first
  // messages are duplicates until pruned.
  DiffusionConfig c = SmallConfig();
  c.membership.swap_period = Duration::Zero();
  EngineHarness h(30, c, 3);
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
  // A node with a lazy peer (one that will announce the message by IHAVE).
  uint32_t target = 0;
  for (uint32_t i = 1; i < h.size() && target == 0; ++i) {
    if (h.engine(i).EagerPeers().size() < h.engine(i).ActiveView().size()) {
      target = i;
    }
  }
  ASSERT_NE(target, 0u) << "the tree left every node without a lazy peer";
  // Drop every datagram carrying a gossip payload into it, except from a
  // node it has sent a GRAFT or IWANT to: it can learn the message only
  // from an announcement, and must ask for it.
  std::set<uint32_t> asked;
  h.set_drop_rule([&asked, target](const EngineHarness::InFlight& f) {
    if (f.from == target) {
      DecodedDatagram d;
      if (DecodeDatagram(f.bytes, &d) == WireError::kOk) {
        for (const Frame& frame : d.frames) {
          if (std::holds_alternative<GraftFrame>(frame) ||
              std::holds_alternative<IWantFrame>(frame)) {
            asked.insert(f.to);
          }
        }
      }
    }
    return f.to == target && f.bytes.size() > 150 && !asked.contains(f.from);
  });
  ASSERT_TRUE(h.engine(0).Broadcast(h.now(), Payload(300)).ok());
  h.RunFor(Duration::Seconds(3));
  h.set_drop_rule(nullptr);
  EXPECT_EQ(h.delivered(target).size(), 4u);
  EXPECT_FALSE(asked.empty());
  EXPECT_GE(h.engine(target).counters().graft_sent +
                h.engine(target).counters().iwant_sent,
            1u);
  EXPECT_GE(h.engine(target).counters().messages_repaired, 1u);
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

// The engine hands Plumtree no "is active" answer of its own: the tree's
// peer table (eager and lazy peers) must be the active view at all times,
// through joins, evictions, shuffles, failures, losses and a leave.
TEST(EngineTest, BroadcastPeersAreTheActiveView) {
  EngineHarness h(30, SmallConfig(), 12);
  uint64_t drops = 0;
  h.set_drop_rule([&drops](const EngineHarness::InFlight& f) {
    return (++drops * 0x9E3779B97F4A7C15ull) % 11 == 0 ||
           (f.from + f.to) % 17 == 0;
  });
  for (size_t i = 1; i < h.size(); ++i) h.Join(i, 0);
  size_t checks = 0;
  for (int step = 0; step < 120; ++step) {
    if (step == 30) h.Crash(5);
    if (step == 50) h.engine(7).Leave(h.now());
    if (step % 10 == 0) {
      ASSERT_TRUE(h.engine(1).Broadcast(h.now(), Payload(50)).ok());
    }
    h.RunFor(Duration::Millis(250));
    for (size_t i = 0; i < h.size(); ++i) {
      if (h.crashed(i) || h.engine(i).left()) continue;
      std::vector<NodeId> active;
      for (const PeerEntry& p : h.engine(i).ActiveView())
        active.push_back(p.id);
      std::vector<NodeId> tree = h.engine(i).EagerPeers();
      for (NodeId id : h.engine(i).LazyPeers()) tree.push_back(id);
      std::sort(active.begin(), active.end());
      std::sort(tree.begin(), tree.end());
      ASSERT_EQ(tree, active) << "node " << i << " step " << step;
      ++checks;
    }
  }
  EXPECT_GT(checks, 3000u);
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

// Between calls an engine holds no queue storage (core/spare_buffer.h) and,
// until state is used, no state protocol: a million idle engines must not
// pay for either.
TEST(EngineTest, IdleEngineHoldsNoQueueStorageOrUnusedStateProtocol) {
  DiffusionConfig c;
  auto a = Engine::Create(c, NodeId(1), Address::Sim(1), 1);
  auto b = Engine::Create(c, NodeId(2), Address::Sim(2), 2);
  ASSERT_TRUE(a.ok() && b.ok());
  const Timestamp t0 = Timestamp::FromMicros(1'000'000);
  const size_t idle = (*a)->StateBytes();
  (*b)->Join(t0, Address::Sim(1));
  std::optional<Transmit> join = (*b)->PollTransmit();
  ASSERT_TRUE(join.has_value());
  (*a)->Prefetch(0);  // hints only: no effect on what follows
  (*a)->Prefetch(1);
  (*a)->HandleDatagram(t0, Address::Sim(2), join->bytes);
  const size_t pending = (*a)->StateBytes();  // JOIN_REPLY waits to be polled
  while ((*a)->PollTransmit().has_value()) {
  }
  while ((*a)->PollEvent().has_value()) {
  }
  const size_t drained = (*a)->StateBytes();
  EXPECT_LT(drained, pending);
  // What stays is the new active peer (its view entry and liveness, a
  // Plumtree peer table sized for the whole active view), not queues.
  EXPECT_LT(drained, idle + 640);
  EXPECT_EQ((*a)->StateDigest(), StateStore::EmptyDigest());
  ASSERT_TRUE((*a)->PropagateState(t0, StateId(7), Payload(16)).ok());
  EXPECT_GE((*a)->StateBytes(), drained + sizeof(StateSync));
}

// A driver that polls one datagram and queues the next before the queue
// is empty (never draining it) gets every datagram, in order, and the
// queue's storage stays bounded by what is queued, not by what went
// through it: a twin engine that drains after every call differs only by
// the queue.
TEST(EngineTest, TransmitQueueNeverDrainedStaysBounded) {
  DiffusionConfig c;
  std::unique_ptr<Engine> never, always;  // same seeds, same inputs
  for (std::unique_ptr<Engine>* e : {&never, &always}) {
    auto a = Engine::Create(c, NodeId(1), Address::Sim(1), 1);
    auto b = Engine::Create(c, NodeId(2), Address::Sim(2), 2);
    ASSERT_TRUE(a.ok() && b.ok());
    (*b)->Join(Timestamp::FromMicros(1'000'000), Address::Sim(1));
    std::optional<Transmit> join = (*b)->PollTransmit();
    ASSERT_TRUE(join.has_value());
    (*a)->HandleDatagram(Timestamp::FromMicros(1'000'000), Address::Sim(2),
                         join->bytes);
    while ((*a)->PollTransmit().has_value()) {
    }
    *e = std::move(*a);
  }
  Timestamp now = Timestamp::FromMicros(1'000'000);
  for (int m = 0; m < 300; ++m) {
    now = now + Duration::Micros(10);
    // One gossip datagram to the peer per broadcast.
    for (Engine* e : {never.get(), always.get()}) {
      ASSERT_TRUE(e->Broadcast(now, Payload(1000, uint8_t(m))).ok());
    }
    while (always->PollTransmit().has_value()) {
    }
    if (m == 0) continue;  // `never` keeps one datagram queued from here on
    std::optional<Transmit> t = never->PollTransmit();
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->to, Address::Sim(2));
    // The payload's fill byte says which broadcast it carries.
    EXPECT_EQ(t->bytes.back(), uint8_t(m - 1)) << m;
  }
  // A few datagrams' worth (capacity rounds up), not 300 x 1 KiB.
  EXPECT_LT(never->StateBytes(), always->StateBytes() + 8192);
}

// An engine created with the caller's counter block counts into it and
// holds none of its own (the simulator's engines: 440 bytes each), and
// CountInto moves its counting. Two twin pairs, same seeds and inputs: one
// counting into blocks of their own, one into a shared block until half
// way and into blocks of their own (from zero) after: every counter adds
// up the same, and nothing else differs.
TEST(EngineTest, CountsIntoTheCallersBlock) {
  auto config = std::make_shared<const DiffusionConfig>();
  CoreCounters shared;
  std::unique_ptr<Engine> own[2], sinking[2];
  for (int i = 0; i < 2; ++i) {
    auto o = Engine::Create(config, NodeId(i + 1), Address::Sim(i + 1), i + 5);
    auto s = Engine::Create(config, NodeId(i + 1), Address::Sim(i + 1), i + 5,
                            &shared);
    ASSERT_TRUE(o.ok() && s.ok());
    own[i] = std::move(*o);
    sinking[i] = std::move(*s);
  }
  Timestamp now = Timestamp::FromMicros(1'000'000);
  for (std::unique_ptr<Engine>* pair : {own, sinking}) {
    pair[1]->Join(now, Address::Sim(1));
  }
  for (int round = 0; round < 40; ++round) {
    now = now + Duration::Millis(100);
    if (round == 20) {
      EXPECT_EQ(sinking[0]->StateBytes() + sizeof(CoreCounters),
                own[0]->StateBytes());
      EXPECT_EQ(sinking[0]->counters().datagrams_in, 0u);
      EXPECT_GT(shared.datagrams_in, 0u);
      for (auto& e : sinking) e->CountInto(nullptr);
    }
    for (std::unique_ptr<Engine>* pair : {own, sinking}) {
      if (round % 4 == 0) {
        ASSERT_TRUE(pair[round % 2]->Broadcast(now, Payload(300 + round)).ok());
      }
      for (int i = 0; i < 2; ++i) {
        while (std::optional<Transmit> t = pair[i]->PollTransmit()) {
          pair[1 - i]->HandleDatagram(now, pair[i]->address(), t->bytes);
        }
        pair[i]->HandleTimeout(now);
      }
    }
  }
  CoreCounters want = own[0]->counters();
  want += own[1]->counters();
  CoreCounters got = shared;
  got += sinking[0]->counters();
  got += sinking[1]->counters();
  EXPECT_GT(sinking[0]->counters().datagrams_in, 0u);  // counted after 20
  EXPECT_GT(want.gossip_received, 0u);
  EXPECT_EQ(std::memcmp(&got, &want, sizeof(got)), 0);
  EXPECT_EQ(sinking[0]->StateBytes(), own[0]->StateBytes());
}

TEST(CoreCountersTest, PlusAddsEveryCounter) {
  CoreCounters a, b;
  a.datagrams_in = 1;
  b.datagrams_in = 2;
  a.bad_datagrams_by_error.back() = 3;
  b.bad_datagrams_by_error.back() = 4;
  b.joins_repeated = 5;  // the last field
  a += b;
  EXPECT_EQ(a.datagrams_in, 3u);
  EXPECT_EQ(a.bad_datagrams_by_error.back(), 7u);
  EXPECT_EQ(a.joins_repeated, 5u);
  EXPECT_EQ(a.bytes_in, 0u);
  EXPECT_EQ(b.datagrams_in, 2u);
}

// The state protocol is created on first use; a clock offset given before
// that still dates the first write, and an engine without state reports
// the empty store's digest.
TEST(EngineStateTest, ClockOffsetSetBeforeFirstUseDatesTheFirstWrite) {
  auto e = Engine::Create(DiffusionConfig{}, NodeId(1), Address::Sim(1), 1);
  ASSERT_TRUE(e.ok());
  const Timestamp now = Timestamp::FromMicros(1'000'000);
  const Duration offset = Duration::Seconds(1'700'000'000);
  (*e)->SetStateClockOffset(offset);
  EXPECT_EQ((*e)->StateDigest(), StateStore::EmptyDigest());
  ASSERT_TRUE((*e)->PropagateState(now, StateId(3), Payload(8)).ok());
  const std::optional<StateValue> value = (*e)->GetState(StateId(3));
  ASSERT_TRUE(value.has_value());
  EXPECT_EQ(value->version.wall_us, (now + offset).ToMicros());
  EXPECT_NE((*e)->StateDigest(), StateStore::EmptyDigest());
}

// Two engines, the second joining through the first, for `rounds` rounds
// of 100 ms: every fourth round one of them broadcasts, then each in turn
// hands its transmits to the other (`exchange(now, from, to)`), runs
// `after(i, engine)` and its timers.
template <typename Exchange, typename After>
void RunTwoEngines(int rounds, size_t payload_base, Exchange exchange,
                   After after) {
  DiffusionConfig c;
  auto a = Engine::Create(c, NodeId(1), Address::Sim(1), 5);
  auto b = Engine::Create(c, NodeId(2), Address::Sim(2), 6);
  ASSERT_TRUE(a.ok() && b.ok());
  Engine* engines[2] = {a->get(), b->get()};
  Timestamp now = Timestamp::FromMicros(1'000'000);
  engines[1]->Join(now, Address::Sim(1));
  for (int round = 0; round < rounds; ++round) {
    now = now + Duration::Millis(100);
    if (round % 4 == 0) {
      (void)engines[round % 2]->Broadcast(now, Payload(payload_base + round));
    }
    for (int i = 0; i < 2; ++i) {
      exchange(now, *engines[i], *engines[1 - i]);
      after(i, *engines[i]);
      engines[i]->HandleTimeout(now);
    }
  }
}

// Hands every queued transmit of `from` to `to` through PollTransmit.
void PollInto(Timestamp now, Engine& from, Engine& to) {
  while (std::optional<Transmit> t = from.PollTransmit()) {
    to.HandleDatagram(now, from.address(), t->bytes);
  }
}

// Recycled transmit buffers change allocation only, never the bytes.
TEST(EngineTest, RecycledTransmitBuffersCarryTheSameDatagrams) {
  enum class Out { kPoll, kPollRecycle, kDrain };
  auto datagrams = [](Out out) {
    std::vector<std::vector<uint8_t>> seen;
    auto exchange = [&](Timestamp now, Engine& from, Engine& to) {
      if (out == Out::kDrain) {
        std::vector<std::vector<uint8_t>> copies;
        from.DrainTransmits(
            [&](const Address& address, std::span<const uint8_t> bytes) {
              EXPECT_EQ(address, to.address());
              copies.emplace_back(bytes.begin(), bytes.end());
            });
        EXPECT_FALSE(from.PollTransmit().has_value());
        for (const std::vector<uint8_t>& bytes : copies) {
          seen.push_back(bytes);
          to.HandleDatagram(now, from.address(), bytes);
        }
      }
      while (std::optional<Transmit> t = from.PollTransmit()) {
        seen.push_back(t->bytes);
        to.HandleDatagram(now, from.address(), t->bytes);
        if (out == Out::kPollRecycle) {
          Engine::RecycleTransmit(std::move(*t));
        }
      }
    };
    RunTwoEngines(80, 300, exchange, [](int, Engine&) {});
    return seen;
  };
  const std::vector<std::vector<uint8_t>> plain = datagrams(Out::kPoll);
  EXPECT_GE(plain.size(), 12u);  // join, broadcasts, keep-alives
  EXPECT_EQ(datagrams(Out::kPollRecycle), plain);
  EXPECT_EQ(datagrams(Out::kDrain), plain);  // same datagrams, same order
}

// Flush packs a call's frames per destination as a DatagramBuilder would:
// one frame per destination gives one datagram each (the fast path); two
// frames for each destination share its datagram (the planned path). A
// fast-path gossip's DrainedPayload names the buffer its payload was
// copied from (one for every copy; the datagram ends with its bytes), a
// planned datagram's none.
TEST(EngineTest, FlushPacksEachDestinationsFramesLikeADatagramBuilder) {
  for (const int messages : {1, 2}) {
    SCOPED_TRACE(messages);
    DiffusionConfig c;
    auto made = Engine::Create(c, NodeId(1), Address::Sim(1), 3);
    ASSERT_TRUE(made.ok());
    Engine& e = **made;
    const Timestamp now = Timestamp::FromMicros(1'000'000);
    for (uint32_t p = 2; p <= 5; ++p) {
      ASSERT_TRUE(
          e.WarmStartAddActive(now, PeerEntry{NodeId(p), Address::Sim(p)}));
    }
    // Peer 2 relays `messages` new messages of origin 9 in one datagram.
    std::vector<std::vector<uint8_t>> payloads;
    DatagramBuilder in(NodeId(2), c.max_datagram_bytes);
    DatagramBuilder expected(NodeId(1), c.max_datagram_bytes);
    for (int m = 0; m < messages; ++m) {
      payloads.push_back(Payload(100 + m, static_cast<uint8_t>(m)));
    }
    for (int m = 0; m < messages; ++m) {
      const MessageId id{NodeId(9), static_cast<uint64_t>(m + 1)};
      ASSERT_EQ(in.Add(GossipFrame{id, 1, payloads[m]}), WireError::kOk);
      ASSERT_EQ(expected.Add(GossipFrame{id, 2, payloads[m]}), WireError::kOk);
    }
    e.HandleDatagram(now, Address::Sim(2), in.Finish());
    const std::vector<uint8_t> relayed = expected.Finish();
    std::set<uint32_t> destinations;
    const uint8_t* source = nullptr;
    e.DrainTransmits([&](const Address& to, std::span<const uint8_t> bytes) {
      EXPECT_TRUE(destinations.insert(to.sim_index()).second);
      EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), relayed);
      const std::span<const uint8_t> payload = Engine::DrainedPayload(to);
      if (messages > 1) {
        EXPECT_TRUE(payload.empty());
        return;
      }
      EXPECT_TRUE(std::equal(payload.begin(), payload.end(),
                             payloads[0].begin(), payloads[0].end()));
      EXPECT_TRUE(std::equal(payload.begin(), payload.end(),
                             bytes.end() - payload.size(), bytes.end()));
      if (source == nullptr) source = payload.data();
      EXPECT_EQ(payload.data(), source);
    });
    EXPECT_EQ(destinations, (std::set<uint32_t>{3, 4, 5}));
  }
}

// The spare storage a thread keeps: borrowing takes it, parking gives the
// larger of the two buffers back and leaves the parked vector without
// storage (the engine's idle guarantee), whatever the sizes.
TEST(SpareStorageTest, ParkKeepsTheLargerBufferAndLeavesNoneBehind) {
  SpareStorage<int>() = std::vector<int>();  // this thread's, for ints
  std::vector<int> a;
  BorrowStorage(&a);  // no spare yet
  EXPECT_EQ(a.capacity(), 0u);
  a.assign(100, 1);
  const size_t large = a.capacity();
  ParkStorage(&a);
  EXPECT_EQ(a.capacity(), 0u);
  EXPECT_EQ(SpareStorage<int>().capacity(), large);

  std::vector<int> b;
  BorrowStorage(&b);  // takes the spare, empty
  EXPECT_TRUE(b.empty());
  EXPECT_EQ(b.capacity(), large);
  EXPECT_EQ(SpareStorage<int>().capacity(), 0u);

  // A smaller buffer parked while the spare holds a larger one is freed.
  std::vector<int> small(3, 7);
  ParkStorage(&b);
  ParkStorage(&small);
  EXPECT_EQ(small.capacity(), 0u);
  EXPECT_EQ(SpareStorage<int>().capacity(), large);
  // A larger one replaces the spare.
  std::vector<int> larger(2 * large, 7);
  const size_t larger_capacity = larger.capacity();
  ParkStorage(&larger);
  EXPECT_EQ(larger.capacity(), 0u);
  EXPECT_EQ(SpareStorage<int>().capacity(), larger_capacity);
  SpareStorage<int>() = std::vector<int>();
}

// A gossip forwarded to each eager peer is queued once and pointed at by
// the other peers' datagrams: every peer still gets the whole datagram,
// whether the driver drains the queue or polls it, all or a few at a time
// while the engine queues more, then maybe drains the rest (the popped
// datagram's copies take its bytes over, before the queue drops what was
// popped).
TEST(EngineTest, ForwardedGossipCopiesCarryTheSameBytesHoweverPolled) {
  constexpr int kMessages = 12;
  constexpr uint32_t kPeers = 5;  // 2 relays to the others, 3..6
  DiffusionConfig c;
  // After each call, polls `polls_per_call` datagrams, then drains the
  // rest when `drain`.
  auto run = [&](int polls_per_call, bool drain) {
    std::vector<std::pair<uint32_t, std::vector<uint8_t>>> seen;
    auto made = Engine::Create(c, NodeId(1), Address::Sim(1), 3);
    EXPECT_TRUE(made.ok());
    Engine& e = **made;
    Timestamp now = Timestamp::FromMicros(1'000'000);
    for (uint32_t p = 2; p < 2 + kPeers; ++p) {
      EXPECT_TRUE(
          e.WarmStartAddActive(now, PeerEntry{NodeId(p), Address::Sim(p)}));
    }
    auto poll = [&] {
      std::optional<Transmit> t = e.PollTransmit();
      if (t.has_value()) seen.emplace_back(t->to.sim_index(), t->bytes);
      return t.has_value();
    };
    for (int m = 0; m < kMessages; ++m) {
      DatagramBuilder in(NodeId(2), c.max_datagram_bytes);
      const std::vector<uint8_t> payload =
          Payload(100 + 37 * m, static_cast<uint8_t>(m));
      EXPECT_EQ(in.Add(GossipFrame{MessageId{NodeId(9), uint64_t(m) + 1}, 1,
                                   payload}),
                WireError::kOk);
      e.HandleDatagram(now, Address::Sim(2), in.Finish());
      for (int i = 0; i < polls_per_call; ++i) poll();
      if (drain) {
        e.DrainTransmits([&](const Address& to,
                             std::span<const uint8_t> bytes) {
          seen.emplace_back(to.sim_index(),
                            std::vector<uint8_t>(bytes.begin(), bytes.end()));
        });
      }
      now = now + Duration::Millis(10);
    }
    while (poll()) {
    }
    return seen;
  };
  const auto drained = run(0, true);
  ASSERT_EQ(drained.size(), kMessages * (kPeers - 1));
  for (int m = 0; m < kMessages; ++m) {
    DatagramBuilder expected(NodeId(1), c.max_datagram_bytes);
    ASSERT_EQ(expected.Add(
                  GossipFrame{MessageId{NodeId(9), uint64_t(m) + 1}, 2,
                              Payload(100 + 37 * m, static_cast<uint8_t>(m))}),
              WireError::kOk);
    const std::vector<uint8_t> bytes = expected.Finish();
    std::set<uint32_t> destinations;
    for (uint32_t k = 0; k < kPeers - 1; ++k) {
      const auto& [to, datagram] = drained[m * (kPeers - 1) + k];
      destinations.insert(to);
      EXPECT_EQ(datagram, bytes);
    }
    EXPECT_EQ(destinations, (std::set<uint32_t>{3, 4, 5, 6}));
  }
  for (const int polls : {1, 2, 3, 5}) {
    SCOPED_TRACE(polls);
    EXPECT_EQ(run(polls, false), drained);
    EXPECT_EQ(run(polls, true), drained);
  }
}

// Engine 1 with peers 2..6 in its active view (warm start), all eager;
// nullptr (after a failed assertion) if that could not be built.
std::unique_ptr<Engine> EngineWithFivePeers(const DiffusionConfig& c,
                                            Timestamp now) {
  auto made = Engine::Create(c, NodeId(1), Address::Sim(1), 3);
  EXPECT_TRUE(made.ok());
  if (!made.ok()) return nullptr;
  for (uint32_t p = 2; p < 7; ++p) {
    if (!(*made)->WarmStartAddActive(now,
                                     PeerEntry{NodeId(p), Address::Sim(p)})) {
      ADD_FAILURE() << "peer " << p << " not added";
      return nullptr;
    }
  }
  return *std::move(made);
}

// The transmit queue's bound holds for a forwarded gossip's copies too:
// each copy refused is counted once, and what was queued is counted in
// datagrams_out / bytes_out exactly as whole datagrams would be.
TEST(EngineTest, ForwardedGossipCopiesRespectTheTransmitBound) {
  DiffusionConfig c;
  c.max_pending_transmits = 2;
  const Timestamp now = Timestamp::FromMicros(1'000'000);
  std::unique_ptr<Engine> made = EngineWithFivePeers(c, now);
  ASSERT_NE(made, nullptr);
  Engine& e = *made;
  DatagramBuilder expected(NodeId(1), c.max_datagram_bytes);
  for (int m = 0; m < 2; ++m) {
    SCOPED_TRACE(m);
    const MessageId id{NodeId(9), uint64_t(m) + 1};
    const std::vector<uint8_t> payload = Payload(300, static_cast<uint8_t>(m));
    DatagramBuilder in(NodeId(2), c.max_datagram_bytes);
    ASSERT_EQ(in.Add(GossipFrame{id, 1, payload}), WireError::kOk);
    const EngineCounters before = e.counters();
    e.HandleDatagram(now, Address::Sim(2), in.Finish());
    ASSERT_EQ(expected.Add(GossipFrame{id, 2, payload}), WireError::kOk);
    const std::vector<uint8_t> relayed = expected.Finish();
    const EngineCounters after = e.counters();
    // Four eager peers (3..6), room for two.
    EXPECT_EQ(after.transmits_dropped - before.transmits_dropped, 2u);
    EXPECT_EQ(after.datagrams_out - before.datagrams_out, 2u);
    EXPECT_EQ(after.bytes_out - before.bytes_out, 2 * relayed.size());
    size_t drained = 0;
    e.DrainTransmits([&](const Address&, std::span<const uint8_t> bytes) {
      ++drained;
      EXPECT_EQ(std::vector<uint8_t>(bytes.begin(), bytes.end()), relayed);
    });
    EXPECT_EQ(drained, 2u);
  }
}

// A gossip that fills a datagram exactly is forwarded in one of exactly
// that size; one more hop takes one more byte (hops 128 is a two-byte
// varint), so the copies do not fit: each is counted as too large and
// nothing is queued.
TEST(EngineTest, ForwardedGossipThatOutgrowsTheDatagramIsCounted) {
  DiffusionConfig c;
  const Timestamp now = Timestamp::FromMicros(1'000'000);
  std::unique_ptr<Engine> made = EngineWithFivePeers(c, now);
  ASSERT_NE(made, nullptr);
  Engine& e = *made;
  for (const uint32_t hops : {126u, 127u}) {
    SCOPED_TRACE(hops);
    const MessageId id{NodeId(9), hops};
    // 9 header bytes, then type, a 2-byte length, id (9), hops (1).
    const std::vector<uint8_t> payload =
        Payload(c.max_datagram_bytes - 22, static_cast<uint8_t>(hops));
    DatagramBuilder in(NodeId(2), c.max_datagram_bytes);
    ASSERT_EQ(in.Add(GossipFrame{id, hops, payload}), WireError::kOk);
    ASSERT_EQ(in.remaining_bytes(), 0u);
    const EngineCounters before = e.counters();
    e.HandleDatagram(now, Address::Sim(2), in.Finish());
    const EngineCounters after = e.counters();
    size_t drained = 0;
    e.DrainTransmits([&](const Address&, std::span<const uint8_t> bytes) {
      ++drained;
      EXPECT_EQ(bytes.size(), c.max_datagram_bytes);
    });
    const size_t fits = hops == 126 ? 4 : 0;  // to the eager peers 3..6
    EXPECT_EQ(drained, fits);
    EXPECT_EQ(after.datagrams_out - before.datagrams_out, fits);
    EXPECT_EQ(after.frames_too_large - before.frames_too_large, 4 - fits);
    EXPECT_EQ(after.transmits_dropped, before.transmits_dropped);
  }
}

// With the transmit queue full, a frame too large is still counted as too
// large and any other as dropped, and neither grows the queue's buffer
// (StateBytes counts it). On a thread of its own: its spare storage (per
// thread) starts empty, so the queue's first buffer holds one datagram of
// the maximum size and no more.
void FullTransmitQueueChecks() {
  DiffusionConfig c;
  c.max_pending_transmits = 1;
  const Timestamp now = Timestamp::FromMicros(1'000'000);
  std::unique_ptr<Engine> made = EngineWithFivePeers(c, now);
  ASSERT_NE(made, nullptr);
  Engine& e = *made;
  auto gossip = [&](uint64_t sequence, uint32_t hops, size_t bytes) {
    DatagramBuilder in(NodeId(2), c.max_datagram_bytes);
    EXPECT_EQ(in.Add(GossipFrame{MessageId{NodeId(9), sequence}, hops,
                                 Payload(bytes, 1)}),
              WireError::kOk);
    e.HandleDatagram(now, Address::Sim(2), in.Finish());
  };
  auto ping = [&](uint64_t nonce) {
    DatagramBuilder in(NodeId(2), c.max_datagram_bytes);
    EXPECT_EQ(in.Add(PingFrame{nonce}), WireError::kOk);
    e.HandleDatagram(now, Address::Sim(2), in.Finish());
  };
  // The PONG to a PING fills the queue.
  EngineCounters before = e.counters();
  ping(1);
  EXPECT_EQ(e.counters().datagrams_out - before.datagrams_out, 1u);
  // The next PONG is dropped, and the queue's storage stays as it was.
  const size_t state_bytes = e.StateBytes();
  before = e.counters();
  ping(2);
  EXPECT_EQ(e.counters().transmits_dropped - before.transmits_dropped, 1u);
  EXPECT_EQ(e.StateBytes(), state_bytes);
  // Copies of a gossip that would not fit a datagram are too large, not
  // dropped; copies that fit are dropped.
  before = e.counters();
  gossip(1, 127, c.max_datagram_bytes - 22);
  EXPECT_EQ(e.counters().frames_too_large - before.frames_too_large, 4u);
  EXPECT_EQ(e.counters().transmits_dropped, before.transmits_dropped);
  before = e.counters();
  gossip(2, 1, 300);
  EXPECT_EQ(e.counters().transmits_dropped - before.transmits_dropped, 4u);
  EXPECT_EQ(e.counters().frames_too_large, before.frames_too_large);
  size_t drained = 0;
  e.DrainTransmits([&](const Address& to, std::span<const uint8_t>) {
    ++drained;
    EXPECT_EQ(to, Address::Sim(2));
  });
  EXPECT_EQ(drained, 1u);
}

TEST(EngineTest, AFullTransmitQueueCountsAndReservesNothing) {
  std::thread(FullTransmitQueueChecks).join();
}

// DrainEvents hands out what PollEvent would, in the same order.
TEST(EngineTest, DrainEventsSeesWhatPollEventSees) {
  auto events = [](bool drain) {
    std::vector<std::pair<int, size_t>> seen;  // (engine, event index)
    RunTwoEngines(40, 100, PollInto, [&](int i, Engine& engine) {
      if (drain) {
        engine.DrainEvents(
            [&](EngineEvent&& event) { seen.emplace_back(i, event.index()); });
        EXPECT_FALSE(engine.PollEvent().has_value());
      }
      while (std::optional<EngineEvent> event = engine.PollEvent()) {
        seen.emplace_back(i, event->index());
      }
    });
    return seen;
  };
  const std::vector<std::pair<int, size_t>> polled = events(false);
  EXPECT_GE(polled.size(), 12u);  // peer ups and deliveries
  EXPECT_EQ(events(true), polled);
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

// --- State through the engine ---------------------------------------------

namespace elara {
namespace {

std::vector<uint8_t> StateValue8(uint64_t v) {
  std::vector<uint8_t> out(8);
  for (int i = 0; i < 8; ++i) out[i] = static_cast<uint8_t>(v >> (8 * i));
  return out;
}

bool StateConverged(test::EngineHarness& h) {
  for (size_t i = 1; i < h.size(); ++i) {
    if (h.crashed(i)) continue;
    if (h.engine(i).StateDigest() != h.engine(0).StateDigest()) return false;
  }
  return true;
}

TEST(EngineStateTest, PropagatesInEveryBroadcastMode) {
  for (BroadcastMode mode :
       {BroadcastMode::kHybrid, BroadcastMode::kPush, BroadcastMode::kPull}) {
    DiffusionConfig c = SmallConfig();
    c.broadcast.mode = mode;
    test::EngineHarness h(20, c, 41);
    JoinAll(h);
    for (uint64_t k = 0; k < 6; ++k) {
      ASSERT_TRUE(h.engine(k * 3)
                      .PropagateState(h.now(), StateId(k), StateValue8(k))
                      .ok());
      h.RunFor(Duration::Millis(20));
    }
    h.RunFor(Duration::Seconds(mode == BroadcastMode::kPull ? 20 : 2));
    for (size_t i = 0; i < h.size(); ++i) {
      for (uint64_t k = 0; k < 6; ++k) {
        std::optional<StateValue> v = h.engine(i).GetState(StateId(k));
        ASSERT_TRUE(v.has_value())
            << BroadcastModeName(mode) << " node " << i << " key " << k;
        EXPECT_EQ(*v->value, StateValue8(k));
        EXPECT_EQ(v->version.origin, h.engine(k * 3).id());
      }
      EXPECT_EQ(h.engine(i).StateKeyCount(), 6u);
    }
    EXPECT_TRUE(StateConverged(h)) << BroadcastModeName(mode);
    if (mode != BroadcastMode::kPull) {
      EXPECT_GT(h.Sum(&EngineCounters::state_updates_applied), 6u * 15);
    } else {
      EXPECT_EQ(h.Sum(&EngineCounters::state_updates_sent), 0u);
    }
  }
}

TEST(EngineStateTest, PartitionHealsToIdenticalDigests) {
  test::EngineHarness h(16, SmallConfig(), 42);
  JoinAll(h);
  // Half the swarm cannot reach the other half for 8 s: both halves keep
  // writing, the same keys included. Membership may tear links meanwhile.
  h.set_drop_rule([](const test::EngineHarness::InFlight& f) {
    return (f.from < 8) != (f.to < 8);
  });
  Random rng(43);
  for (int w = 0; w < 60; ++w) {
    const size_t node = rng.UniformBelow(h.size());
    const StateId key(rng.UniformBelow(25));
    if (rng.OneIn(5)) {
      ASSERT_TRUE(h.engine(node).DeleteState(h.now(), key).ok());
    } else {
      ASSERT_TRUE(h.engine(node)
                      .PropagateState(h.now(), key, StateValue8(rng.Next64()))
                      .ok());
    }
    h.RunFor(Duration::Millis(130));
  }
  EXPECT_FALSE(StateConverged(h));
  h.set_drop_rule(nullptr);
  bool converged = false;
  for (int step = 0; step < 120 && !converged; ++step) {
    h.RunFor(Duration::Millis(500));
    converged = StateConverged(h);
  }
  EXPECT_TRUE(converged);
  EXPECT_GT(h.Sum(&EngineCounters::state_rounds_decoded) +
                h.Sum(&EngineCounters::state_rounds_streamed),
            0u);
}

TEST(EngineStateTest, ConflictsAndSkewedClocksResolveTheSameEverywhere) {
  test::EngineHarness h(10, SmallConfig(), 44);
  JoinAll(h);
  h.engine(7).SetStateClockOffset(Duration::Seconds(-600));  // 10 min late
  ASSERT_TRUE(
      h.engine(2).PropagateState(h.now(), StateId(1), StateValue8(2)).ok());
  h.RunFor(Duration::Seconds(1));
  // Node 7 saw node 2's write: its own, later in real time, wins although
  // its clock is behind.
  ASSERT_TRUE(
      h.engine(7).PropagateState(h.now(), StateId(1), StateValue8(7)).ok());
  // Two nodes write another key at the same instant: the larger origin id
  // wins everywhere.
  ASSERT_TRUE(
      h.engine(3).PropagateState(h.now(), StateId(2), StateValue8(3)).ok());
  ASSERT_TRUE(
      h.engine(5).PropagateState(h.now(), StateId(2), StateValue8(5)).ok());
  h.RunFor(Duration::Seconds(3));
  ASSERT_TRUE(StateConverged(h));
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(*h.engine(i).GetState(StateId(1))->value, StateValue8(7)) << i;
    EXPECT_EQ(*h.engine(i).GetState(StateId(2))->value, StateValue8(5)) << i;
  }
}

TEST(EngineStateTest, DeleteRemovesEverywhere) {
  DiffusionConfig c = SmallConfig();
  c.state.tombstone_ttl = Duration::Seconds(20);
  test::EngineHarness h(8, c, 45);
  JoinAll(h);
  ASSERT_TRUE(
      h.engine(1).PropagateState(h.now(), StateId(9), StateValue8(1)).ok());
  h.RunFor(Duration::Seconds(1));
  ASSERT_TRUE(h.engine(4).DeleteState(h.now(), StateId(9)).ok());
  h.RunFor(Duration::Seconds(2));
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_FALSE(h.engine(i).GetState(StateId(9)).has_value()) << i;
    EXPECT_EQ(h.engine(i).StateKeyCount(), 0u);
  }
  const uint64_t digest_with_tombstone = h.engine(0).StateDigest();
  h.RunFor(Duration::Seconds(30));
  EXPECT_TRUE(StateConverged(h));
  EXPECT_NE(h.engine(0).StateDigest(), digest_with_tombstone) << "purged";
  EXPECT_EQ(h.Sum(&EngineCounters::state_tombstones_purged), 8u);
}

TEST(EngineStateTest, RefusalsAreErrors) {
  test::EngineHarness h(2, SmallConfig(), 46);
  JoinAll(h);
  Engine& e = h.engine(0);
  EXPECT_EQ(e.PropagateState(
                 h.now(), StateId(1),
                 std::vector<uint8_t>(e.config().state.max_value_bytes + 1))
                .code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(e.GetState(StateId(1)).has_value());
  const std::vector<StateId> too_many(kMaxListEntries * 4 + 1, StateId(1));
  EXPECT_EQ(e.PullState(h.now(), too_many, h.engine(1).address()).code(),
            absl::StatusCode::kInvalidArgument);
  e.Leave(h.now());
  EXPECT_EQ(e.PropagateState(h.now(), StateId(1), StateValue8(1)).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(e.DeleteState(h.now(), StateId(1)).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(EngineStateTest, StateConfigIsValidated) {
  const auto error_of = [](DiffusionConfig c) {
    return std::string(
        Engine::Create(c, NodeId(1), Address::Sim(1), 1).status().message());
  };
  DiffusionConfig c;
  c.state.max_tombstones = c.state.max_state_entries + 1;
  EXPECT_NE(error_of(c).find("state.max_tombstones"), std::string::npos);
  c = DiffusionConfig();
  c.state.anti_entropy_budget_bytes = 100;
  EXPECT_NE(error_of(c).find("state.anti_entropy_budget_bytes"),
            std::string::npos);
  c = DiffusionConfig();
  c.state.anti_entropy_period = Duration::Zero();
  EXPECT_NE(error_of(c).find("state.anti_entropy_period"), std::string::npos);
  c = DiffusionConfig();
  c.state.tombstone_ttl = Duration::Infinite();
  EXPECT_NE(error_of(c).find("state.tombstone_ttl"), std::string::npos);
  c = DiffusionConfig();
  c.state.max_clock_drift = Duration::Zero();
  EXPECT_NE(error_of(c).find("state.max_clock_drift"), std::string::npos);
  c = DiffusionConfig();
  c.state.max_clock_drift = Duration::Infinite();  // no bound: allowed
  EXPECT_TRUE(Engine::Create(c, NodeId(1), Address::Sim(1), 1).ok());
  // A small datagram caps the value bound instead of failing validation.
  c = DiffusionConfig();
  c.max_datagram_bytes = 300;
  auto e = Engine::Create(c, NodeId(1), Address::Sim(1), 1);
  ASSERT_TRUE(e.ok());
  const Timestamp now = Timestamp::FromMicros(1'000'000);
  EXPECT_TRUE(
      (*e)->PropagateState(now, StateId(1), std::vector<uint8_t>(236)).ok());
  EXPECT_FALSE(
      (*e)->PropagateState(now, StateId(2), std::vector<uint8_t>(237)).ok());
}

TEST(EngineStateTest, EnginesThatNeverTouchStateSendNoStateFrames) {
  test::EngineHarness h(12, SmallConfig(), 47);
  JoinAll(h);
  for (int m = 0; m < 5; ++m) {
    ASSERT_TRUE(h.engine(m).Broadcast(h.now(), Payload(100)).ok());
    h.RunFor(Duration::Millis(200));
  }
  h.RunFor(Duration::Seconds(5));
  EXPECT_EQ(h.Sum(&EngineCounters::state_sync_bytes_out), 0u);
  EXPECT_EQ(h.Sum(&EngineCounters::state_updates_sent), 0u);
  EXPECT_EQ(h.Sum(&EngineCounters::state_rounds_started), 0u);
}

TEST(EngineStateTest, StateBytesCountsTheStore) {
  test::EngineHarness h(2, SmallConfig(), 48);
  JoinAll(h);
  const size_t before = h.engine(0).StateBytes();
  for (uint64_t k = 0; k < 1000; ++k) {
    ASSERT_TRUE(
        h.engine(0)
            .PropagateState(h.now(), StateId(k), std::vector<uint8_t>(100, 1))
            .ok());
  }
  // The datagrams the writes queued count too (the transmit queue holds
  // their bytes): drop them, so that only the store is measured.
  while (h.engine(0).PollTransmit().has_value()) {
  }
  const size_t after = h.engine(0).StateBytes();
  EXPECT_GT(after, before + 1000 * 100);
  EXPECT_LT(after, before + 1000 * 400);
}

// Events need the engine's own queue: two engines wired by hand.
TEST(EngineStateTest, RemoteChangesRaiseStateChangedEvents) {
  DiffusionConfig c = SmallConfig();
  auto a = std::move(*Engine::Create(c, NodeId(1), Address::Sim(1), 1));
  auto b = std::move(*Engine::Create(c, NodeId(2), Address::Sim(2), 2));
  Timestamp now = Timestamp::FromMicros(5'000'000);
  ASSERT_TRUE(a->WarmStartAddActive(now, PeerEntry{b->id(), b->address()}));
  ASSERT_TRUE(b->WarmStartAddActive(now, PeerEntry{a->id(), a->address()}));
  const auto carry = [&](Engine& from, Engine& to) {
    while (std::optional<Transmit> t = from.PollTransmit()) {
      to.HandleDatagram(now, from.address(), t->bytes);
    }
  };
  ASSERT_TRUE(a->PropagateState(now, StateId(3), StateValue8(33)).ok());
  EXPECT_FALSE(a->PollEvent().has_value()) << "no event for one's own write";
  carry(*a, *b);
  std::optional<EngineEvent> event = b->PollEvent();
  ASSERT_TRUE(event.has_value());
  const auto* changed = std::get_if<StateChangedEvent>(&*event);
  ASSERT_NE(changed, nullptr);
  EXPECT_EQ(changed->key, StateId(3));
  EXPECT_EQ(*changed->value, StateValue8(33));
  EXPECT_FALSE(changed->deleted);
  EXPECT_EQ(changed->version.origin, NodeId(1));
  EXPECT_EQ(changed->hops, 1u);
  EXPECT_FALSE(changed->repaired);
  EXPECT_EQ(changed->at, now);
  // A duplicate changes nothing and raises nothing.
  ASSERT_TRUE(a->PushState(now, StateId(4), StateValue8(44),
                           std::vector<Address>{b->address()})
                  .ok());
  carry(*a, *b);
  ASSERT_TRUE(b->PollEvent().has_value());
  ASSERT_TRUE(a->DeleteState(now, StateId(3)).ok());
  carry(*a, *b);
  event = b->PollEvent();
  ASSERT_TRUE(event.has_value());
  changed = std::get_if<StateChangedEvent>(&*event);
  ASSERT_NE(changed, nullptr);
  EXPECT_TRUE(changed->deleted);
  EXPECT_EQ(changed->value, nullptr);
  EXPECT_FALSE(b->GetState(StateId(3)).has_value());
  EXPECT_FALSE(b->PollEvent().has_value());
}

}  // namespace
}  // namespace elara
