// Tests of StateSync over the in-process harness (real datagrams, fake
// clock): dissemination in every broadcast mode, conflict resolution,
// clocks, tombstones, partitions, the cost of anti-entropy against the size
// of the difference, budgets, bounds, and hostile frames.
#include "core/state_sync.h"

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/state_hash.h"
#include "core/test_tools/state_sync_harness.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

using test::StateSyncHarness;

std::vector<uint8_t> Value(uint64_t v, size_t bytes = 8) {
  std::vector<uint8_t> out(bytes);
  for (size_t i = 0; i < bytes; ++i)
    out[i] = static_cast<uint8_t>(v >> (i % 8 * 8));
  return out;
}

// Records that own their value bytes (StateRecord only points to them).
struct RecordSet {
  std::vector<std::vector<uint8_t>> values;
  std::vector<StateRecord> records;
  void Add(uint64_t key, uint64_t wall_us, uint64_t origin,
           std::vector<uint8_t> value) {
    values.reserve(20000);  // spans into it must not move
    values.push_back(std::move(value));
    records.push_back(StateRecord{StateId(key),
                                  StateVersion{wall_us, 0, NodeId(origin)},
                                  false, values.back()});
  }
};

std::vector<uint8_t> ValueAt(const StateSync& node, uint64_t key) {
  std::optional<StateValue> v = node.Get(StateId(key));
  return v.has_value() ? *v->value : std::vector<uint8_t>{};
}

TEST(StateSyncTest, WriteIsReadableAndVersioned) {
  StateSyncHarness h(1, StateConfig(), 1);
  h.Run(0, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(5), Value(1)).ok());
  });
  std::optional<StateValue> v = h.node(0).Get(StateId(5));
  ASSERT_TRUE(v.has_value());
  EXPECT_EQ(*v->value, Value(1));
  EXPECT_EQ(v->version.origin, StateSyncHarness::IdOf(0));
  EXPECT_EQ(v->version.wall_us, static_cast<uint64_t>(h.now().ToMicros()));
  EXPECT_FALSE(h.node(0).Get(StateId(6)).has_value());
  h.Run(0,
        [&](StateSync& s) { ASSERT_TRUE(s.Delete(h.now(), StateId(5)).ok()); });
  EXPECT_FALSE(h.node(0).Get(StateId(5)).has_value());
  EXPECT_EQ(h.node(0).store().tombstones(), 1u);
  EXPECT_EQ(h.counters(0).state_writes, 2u);
}

TEST(StateSyncTest, PropagateReachesEveryNodeInEveryMode) {
  for (BroadcastMode mode :
       {BroadcastMode::kHybrid, BroadcastMode::kPush, BroadcastMode::kPull}) {
    StateSyncHarness h(24, StateConfig(), 2, mode);
    h.LinkRandom(4, 7);
    for (uint64_t k = 0; k < 5; ++k) {
      h.Run(k * 3, [&](StateSync& s) {
        ASSERT_TRUE(s.Propagate(h.now(), StateId(k), Value(k)).ok());
      });
    }
    // Push modes spread within a few hops; pull relies on anti-entropy.
    h.RunFor(mode == BroadcastMode::kPull ? Duration::Seconds(30)
                                          : Duration::Millis(200));
    for (size_t i = 0; i < h.size(); ++i) {
      for (uint64_t k = 0; k < 5; ++k) {
        EXPECT_EQ(ValueAt(h.node(i), k), Value(k))
            << static_cast<int>(mode) << " node " << i << " key " << k;
      }
    }
    EXPECT_TRUE(h.Converged()) << static_cast<int>(mode);
    if (mode == BroadcastMode::kPull) {
      EXPECT_EQ(h.Sum(&EngineCounters::state_updates_sent), 0u);
      EXPECT_GT(h.Sum(&EngineCounters::state_entries_repaired), 0u);
    } else {
      EXPECT_GT(h.Sum(&EngineCounters::state_updates_applied), 5u * 20);
    }
  }
}

TEST(StateSyncTest, HybridRelaysOnlyWhatChangedTheState) {
  StateSyncHarness h(16, StateConfig(), 3);
  h.LinkRandom(4, 9);
  h.Run(0, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(1), Value(1)).ok());
  });
  h.RunFor(Duration::Millis(300));
  // Each node applies it once and relays it once over each other link: the
  // rest are duplicates, which are not relayed again.
  EXPECT_EQ(h.Sum(&EngineCounters::state_updates_applied), 15u);
  const uint64_t sent = h.Sum(&EngineCounters::state_updates_sent);
  EXPECT_EQ(sent, h.Sum(&EngineCounters::state_updates_received));
  uint64_t links = 0;
  for (size_t i = 0; i < h.size(); ++i) {
    links += h.counters(i).state_updates_sent;
  }
  EXPECT_LT(sent, 16u * 8);
  EXPECT_EQ(links, sent);
  // Events: one per node that learned it, with hop counts.
  for (size_t i = 1; i < h.size(); ++i) {
    ASSERT_EQ(h.events(i).size(), 1u) << i;
    EXPECT_GE(h.events(i)[0].hops, 1u);
    EXPECT_FALSE(h.events(i)[0].repaired);
    EXPECT_EQ(*h.events(i)[0].value, Value(1));
  }
  EXPECT_TRUE(h.events(0).empty()) << "no event for the node's own write";
}

TEST(StateSyncTest, ConflictingWritesResolveTheSameWayEverywhere) {
  StateSyncHarness h(12, StateConfig(), 4);
  h.LinkRandom(3, 11);
  // Five nodes write key 9 at the same instant: same wall time, so the
  // origin id decides; then two of them write again, later.
  for (size_t w : {1, 4, 7, 8, 10}) {
    h.Run(w, [&](StateSync& s) {
      ASSERT_TRUE(s.Propagate(h.now(), StateId(9), Value(100 + w)).ok());
    });
  }
  h.RunFor(Duration::Seconds(5));
  ASSERT_TRUE(h.Converged());
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(ValueAt(h.node(i), 9), Value(110)) << "largest origin wins";
  }
  h.RunFor(Duration::Millis(1));
  h.Run(2, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(9), Value(2)).ok());
  });
  h.Run(1, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(9), Value(1)).ok());
  });
  h.RunFor(Duration::Seconds(5));
  ASSERT_TRUE(h.Converged());
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(ValueAt(h.node(i), 9), Value(2)) << i;
  }
}

TEST(StateSyncTest, SkewedClockNodeStillOrdersItsOwnWrites) {
  StateSyncHarness h(6, StateConfig(), 5);
  h.LinkRing();
  // Node 5's clock is an hour behind the others.
  h.node(5).set_clock_offset(Duration::Seconds(-3600));
  h.Run(0, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(1), Value(0)).ok());
  });
  h.RunFor(Duration::Seconds(2));
  ASSERT_EQ(ValueAt(h.node(5), 1), Value(0));
  // Its writes come after what it saw, and after each other, even within
  // one instant: the HLC carries the received time and counts.
  for (uint64_t v = 1; v <= 3; ++v) {
    h.Run(5, [&](StateSync& s) {
      ASSERT_TRUE(s.Propagate(h.now(), StateId(1), Value(50 + v)).ok());
    });
  }
  h.RunFor(Duration::Seconds(2));
  ASSERT_TRUE(h.Converged());
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(ValueAt(h.node(i), 1), Value(53)) << i;
  }
  // A fresh key: its writes are ordered among themselves although its wall
  // clock is an hour behind every version the others make.
  h.Run(5, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(2), Value(1)).ok());
    ASSERT_TRUE(s.Propagate(h.now(), StateId(2), Value(2)).ok());
  });
  h.RunFor(Duration::Seconds(2));
  EXPECT_EQ(ValueAt(h.node(0), 2), Value(2));
}

TEST(StateSyncTest, DriftBoundKeepsClocksButLaterWritesStillWin) {
  StateConfig c;
  c.max_clock_drift = Duration::Seconds(10);
  StateSyncHarness h(4, c, 6);
  h.LinkRing();
  h.node(3).set_clock_offset(Duration::Seconds(7200));  // two hours ahead
  h.Run(3, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(1), Value(3)).ok());
  });
  h.RunFor(Duration::Seconds(2));
  EXPECT_GT(h.counters(0).state_clock_drift_clamped, 0u);
  EXPECT_LE(
      h.node(0).clock().last().wall_us,
      static_cast<uint64_t>((h.now() + Duration::Seconds(10)).ToMicros()));
  // Node 0 writes after it saw node 3's value: its write wins although its
  // clock did not follow node 3's.
  h.Run(0, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(1), Value(0)).ok());
  });
  h.RunFor(Duration::Seconds(2));
  ASSERT_TRUE(h.Converged());
  EXPECT_EQ(ValueAt(h.node(3), 1), Value(0));
}

TEST(StateSyncTest, TombstonesDeleteEverywhereAndArePurgedAfterTtl) {
  StateConfig c;
  c.tombstone_ttl = Duration::Seconds(30);
  StateSyncHarness h(10, c, 7);
  h.LinkRandom(3, 13);
  for (uint64_t k = 0; k < 20; ++k) {
    h.Run(k % 10, [&](StateSync& s) {
      ASSERT_TRUE(s.Propagate(h.now(), StateId(k), Value(k)).ok());
    });
  }
  h.RunFor(Duration::Seconds(3));
  ASSERT_TRUE(h.Converged());
  // Node 4 misses the deletes (all its datagrams are lost); anti-entropy
  // brings the tombstones to it later.
  h.set_drop_rule([](size_t from, size_t to) { return from == 4 || to == 4; });
  for (uint64_t k = 0; k < 10; ++k) {
    h.Run(9 - k % 3, [&](StateSync& s) {
      ASSERT_TRUE(s.Delete(h.now(), StateId(k)).ok());
    });
  }
  h.RunFor(Duration::Seconds(2));
  EXPECT_EQ(h.node(4).store().live(), 20u);
  h.set_drop_rule(nullptr);
  h.RunFor(Duration::Seconds(8));
  ASSERT_TRUE(h.Converged());
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h.node(i).store().live(), 10u) << i;
    EXPECT_EQ(h.node(i).store().tombstones(), 10u) << i;
    EXPECT_FALSE(h.node(i).Get(StateId(3)).has_value());
    EXPECT_TRUE(h.node(i).Get(StateId(13)).has_value());
  }
  // Deleted on node 4 by anti-entropy: its events say so.
  size_t deleted_events = 0;
  for (const StateChangedEvent& e : h.events(4)) {
    if (e.deleted) {
      ++deleted_events;
      EXPECT_TRUE(e.repaired);
      EXPECT_EQ(e.value, nullptr);
    }
  }
  EXPECT_EQ(deleted_events, 10u);
  // Past the ttl (plus the purge batching slack) every tombstone is gone,
  // everywhere, and nothing comes back.
  h.RunFor(Duration::Seconds(40));
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h.node(i).store().tombstones(), 0u) << i;
    EXPECT_EQ(h.node(i).store().size(), 10u) << i;
  }
  EXPECT_TRUE(h.Converged());
  EXPECT_EQ(h.Sum(&EngineCounters::state_tombstones_purged), 100u);
}

TEST(StateSyncTest, PartitionHealsToIdenticalDigests) {
  StateSyncHarness h(20, StateConfig(), 8);
  h.LinkRandom(4, 17);
  const auto side = [](size_t i) { return i < 10 ? 0 : 1; };
  h.set_drop_rule(
      [&](size_t from, size_t to) { return side(from) != side(to); });
  Random rng(19);
  // Both sides write, overlapping keys included, for a while.
  for (int round = 0; round < 40; ++round) {
    const size_t writer = rng.UniformBelow(h.size());
    const uint64_t key = rng.UniformBelow(30);
    h.Run(writer, [&](StateSync& s) {
      if (rng.OneIn(6)) {
        ASSERT_TRUE(s.Delete(h.now(), StateId(key)).ok());
      } else {
        ASSERT_TRUE(
            s.Propagate(h.now(), StateId(key), Value(rng.Next64())).ok());
      }
    });
    h.RunFor(Duration::Millis(100));
  }
  h.RunFor(Duration::Seconds(5));
  EXPECT_FALSE(h.Converged());
  // Each side agrees with itself.
  for (size_t i = 2; i < h.size(); ++i) {
    EXPECT_EQ(h.node(i).store().Digest(),
              h.node(side(i) * 10).store().Digest());
  }
  h.set_drop_rule(nullptr);
  EXPECT_TRUE(h.RunUntilConverged(Duration::Seconds(60)));
  EXPECT_GT(h.Sum(&EngineCounters::state_rounds_decoded), 0u);
  EXPECT_EQ(h.Sum(&EngineCounters::state_entries_refused), 0u);
}

// --- The cost of anti-entropy -----------------------------------------------

using test::MeasureReconciliation;
using test::ReconciliationCost;

TEST(StateSyncCostTest, OnePercentOfTenThousandCostsAboutTheDifference) {
  const StateConfig config;
  struct Case {
    const char* name;
    size_t newer_a, newer_b, only_a;
  };
  for (const Case& c :
       {Case{"new_keys", 0, 0, 100}, Case{"newer_on_one_side", 100, 0, 0},
        Case{"newer_on_both_sides", 50, 50, 0}}) {
    const ReconciliationCost r = MeasureReconciliation(
        10000, c.newer_a, c.newer_b, c.only_a, config, 21);
    ASSERT_TRUE(r.converged) << c.name;
    const double ratio =
        static_cast<double>(r.bytes) / static_cast<double>(r.differing_bytes);
    RecordProperty(std::string(c.name) + "_bytes", static_cast<int>(r.bytes));
    RecordProperty(std::string(c.name) + "_ratio", std::to_string(ratio));
    std::printf(
        "%s: %llu bytes for %llu bytes of differing entries (x%.2f), "
        "%zu rounds\n",
        c.name, static_cast<unsigned long long>(r.bytes),
        static_cast<unsigned long long>(r.differing_bytes), ratio, r.rounds);
    EXPECT_LE(ratio, 4.0) << c.name;
    // A digest of all 10,000 keys alone would be 80,000 bytes.
    EXPECT_LT(r.bytes, 10000u * 8 / 4) << c.name;
    EXPECT_LE(r.max_round_bytes, config.anti_entropy_budget_bytes) << c.name;
  }
}

TEST(StateSyncCostTest, AgeHintsShipOnlyTheNewerSideAndTiesAreCorrected) {
  // Node 1 never starts a round (its digests are dropped): every exchange
  // is node 0's. Node 0 holds keys 0-19 older than node 1 by minutes
  // (different age hints: node 0 requests them, sending nothing), and keys
  // 20-39 older by one origin id at the same instant (equal hints: node 0
  // sends its own, node 1 corrects).
  StateSyncHarness h(2, StateConfig(), 35);
  h.set_frame_filter([](size_t from, size_t, const Frame& frame) {
    return from == 1 && std::holds_alternative<StateDigestFrame>(frame);
  });
  const uint64_t now_us = static_cast<uint64_t>(h.now().ToMicros());
  RecordSet base, older, newer;
  for (uint64_t k = 0; k < 500; ++k) {
    base.Add(1000 + k, now_us - 900'000'000, 3, Value(k));
  }
  for (uint64_t k = 0; k < 20; ++k) {
    older.Add(k, now_us - 600'000'000, 4, Value(k));
    newer.Add(k, now_us - 1'000'000, 4, Value(k + 100));
  }
  for (uint64_t k = 20; k < 40; ++k) {
    older.Add(k, now_us - 1'000'000, 4, Value(k));
    newer.Add(k, now_us - 1'000'000, 5, Value(k + 100));
  }
  h.Install(0, base.records);
  h.Install(1, base.records);
  h.Install(0, older.records);
  h.Install(1, newer.records);
  h.Link(0, 1);
  ASSERT_TRUE(h.RunUntilConverged(Duration::Seconds(30)));
  for (uint64_t k = 0; k < 40; ++k) {
    EXPECT_EQ(ValueAt(h.node(0), k), Value(k + 100)) << k;
  }
  EXPECT_EQ(h.counters(0).state_entries_repaired, 40u);
  // Node 1 got only the 20 tied entries of node 0 (older: not applied).
  EXPECT_EQ(h.counters(1).state_entries_repaired, 0u);
  EXPECT_EQ(h.Sum(&EngineCounters::state_rounds_decoded), 1u);
  uint64_t entries_bytes = 0;
  for (const StateRecord& r : newer.records)
    entries_bytes += EncodedRecordBytes(r);
  // 40 newer entries, 20 older tied ones, 20 request keys, the sketch of 80
  // elements and one round's fixed frames.
  EXPECT_LT(h.bytes_sent(), entries_bytes * 3 / 2 + 80 * 2 * 13 + 1000);
}

TEST(StateSyncCostTest, SyncedPairExchangesOneSmallDatagramPerRound) {
  StateSyncHarness h(2, StateConfig(), 22);
  RecordSet base;
  for (size_t k = 0; k < 10000; ++k) base.Add(k, 1'000'000, 7, Value(k));
  h.Install(0, base.records);
  h.Install(1, base.records);
  h.Link(0, 1);
  h.RunFor(Duration::Seconds(10));
  ASSERT_TRUE(h.Converged());
  // Two initiators, one round each per second: ~20 digests, no answers.
  EXPECT_GE(h.datagrams_sent(), 16u);
  EXPECT_LE(h.datagrams_sent(), 24u);
  EXPECT_LE(h.bytes_sent(), h.datagrams_sent() * 30);
  EXPECT_EQ(h.Sum(&EngineCounters::state_rounds_started), h.datagrams_sent());
  // Every digest answered "in sync" (none silenced by a crossing round).
  EXPECT_EQ(h.Sum(&EngineCounters::state_rounds_in_sync), h.datagrams_sent());
  EXPECT_EQ(h.Sum(&EngineCounters::state_rounds_decoded), 0u);
}

TEST(StateSyncCostTest, BacklogLargerThanTheBudgetFlowsOverRoundsWithinIt) {
  StateConfig config;
  const ReconciliationCost r =
      MeasureReconciliation(4000, 600, 600, 300, config, 23);
  ASSERT_TRUE(r.converged);
  EXPECT_GT(r.rounds, 5u);
  EXPECT_LE(r.max_round_bytes, config.anti_entropy_budget_bytes);
  const double ratio =
      static_cast<double>(r.bytes) / static_cast<double>(r.differing_bytes);
  std::printf(
      "backlog: %llu bytes for %llu differing (x%.2f), %zu rounds, "
      "largest round %llu\n",
      static_cast<unsigned long long>(r.bytes),
      static_cast<unsigned long long>(r.differing_bytes), ratio, r.rounds,
      static_cast<unsigned long long>(r.max_round_bytes));
  EXPECT_LE(ratio, 4.5);
}

TEST(StateSyncCostTest, NewNodeBootstrapsByStreamingWithinBudget) {
  StateConfig config;
  StateSyncHarness h(2, config, 24);
  RecordSet base;
  for (size_t k = 0; k < 5000; ++k) base.Add(k, 1'000'000, 7, Value(k, 16));
  h.Install(0, base.records);
  uint64_t entries_bytes = 0;
  for (const StateRecord& record : base.records) {
    entries_bytes += EncodedRecordBytes(record);
  }
  h.Link(0, 1);
  ASSERT_TRUE(h.RunUntilConverged(Duration::Seconds(300)));
  EXPECT_EQ(h.node(1).store().live(), 5000u);
  EXPECT_GT(h.Sum(&EngineCounters::state_rounds_streamed), 10u);
  for (const auto& [round, bytes] : h.round_bytes()) {
    EXPECT_LE(bytes, config.anti_entropy_budget_bytes) << round;
  }
  EXPECT_LE(h.bytes_sent(), entries_bytes * 13 / 10);
}

// --- Commands, bounds, events -----------------------------------------------

TEST(StateSyncTest, RefusedWritesAreErrorsAndChangeNothing) {
  StateConfig c;
  c.max_state_entries = 3;
  c.max_tombstones = 2;
  c.max_value_bytes = 16;
  StateSyncHarness h(2, c, 25);
  h.Link(0, 1);
  StateSync& s = h.node(0);
  EXPECT_EQ(s.Propagate(h.now(), StateId(1), Value(1, 17)).code(),
            absl::StatusCode::kResourceExhausted);
  for (uint64_t k = 1; k <= 3; ++k) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(k), Value(k, 16)).ok());
  }
  EXPECT_EQ(s.Propagate(h.now(), StateId(4), Value(4)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(s.Delete(h.now(), StateId(4)).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_TRUE(s.Propagate(h.now(), StateId(3), Value(9)).ok());  // held key
  EXPECT_EQ(s.store().size(), 3u);
  EXPECT_EQ(h.counters(0).state_writes, 4u);
  // The datagram budget caps the value too.
  StateConfig big;
  big.max_value_bytes = 60000;
  StateSyncHarness small(1, big, 26, BroadcastMode::kHybrid, 512);
  EXPECT_EQ(small.node(0).max_value_bytes(), 512u - 64);
  EXPECT_FALSE(
      small.node(0).Propagate(small.now(), StateId(1), Value(1, 449)).ok());
  EXPECT_TRUE(
      small.node(0).Propagate(small.now(), StateId(1), Value(1, 448)).ok());
}

TEST(StateSyncTest, ReceivedEntriesOverABoundAreCountedAndDropped) {
  StateConfig c;
  c.max_state_entries = 5;
  StateSyncHarness h(2, StateConfig(), 27);
  StateSyncHarness bounded(2, c, 27);
  RecordSet many;
  for (uint64_t k = 0; k < 8; ++k) many.Add(k, 1000, 3, Value(k));
  bounded.Install(0, many.records);
  // Install resets counters; count with a fresh delta.
  bounded.Run(0, [&](StateSync& s) {
    StateDeltaFrame delta{0, false, 0, many.records};
    s.HandleFrame(bounded.now(), PeerEntry{NodeId(99), Address::Sim(1)}, delta);
  });
  EXPECT_EQ(bounded.node(0).store().size(), 5u);
  EXPECT_EQ(bounded.counters(0).state_entries_refused, 3u);
}

TEST(StateSyncTest, PushedTargetsDoNotRelayAndPullFetches) {
  StateSyncHarness h(5, StateConfig(), 28);
  for (size_t i = 1; i < 5; ++i) h.Link(0, i);
  h.Link(1, 2);
  const std::vector<Address> targets = {StateSyncHarness::AddressOf(1)};
  h.Run(0, [&](StateSync& s) {
    ASSERT_TRUE(s.Push(h.now(), StateId(1), Value(1), targets).ok());
  });
  h.RunFor(Duration::Millis(50));
  EXPECT_EQ(ValueAt(h.node(1), 1), Value(1));
  EXPECT_TRUE(ValueAt(h.node(2), 1).empty()) << "pushed, not relayed";
  EXPECT_EQ(h.counters(1).state_updates_sent, 0u);
  // Node 2 pulls it from node 1 (and a key nobody has).
  const std::vector<StateId> keys = {StateId(1), StateId(77)};
  h.Run(2, [&](StateSync& s) {
    ASSERT_TRUE(s.Pull(h.now(), keys, StateSyncHarness::AddressOf(1)).ok());
  });
  h.RunFor(Duration::Millis(50));
  EXPECT_EQ(ValueAt(h.node(2), 1), Value(1));
  ASSERT_EQ(h.events(2).size(), 1u);
  EXPECT_TRUE(h.events(2)[0].repaired);
  EXPECT_EQ(h.events(2)[0].key, StateId(1));
  // Pulling what one already has gets no answer (the tags agree).
  const uint64_t before = h.bytes_sent();
  h.Run(2, [&](StateSync& s) {
    ASSERT_TRUE(s.Pull(h.now(), keys, StateSyncHarness::AddressOf(1)).ok());
  });
  h.RunFor(Duration::Millis(50));
  EXPECT_EQ(h.datagrams_sent() > 0, true);
  EXPECT_LT(h.bytes_sent() - before, 60u);
  // Anti-entropy spreads the pushed value to the rest.
  EXPECT_TRUE(h.RunUntilConverged(Duration::Seconds(20)));
  std::vector<StateId> too_many(kMaxPullKeys + 1, StateId(1));
  EXPECT_EQ(
      h.node(2).Pull(h.now(), too_many, StateSyncHarness::AddressOf(1)).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      h.node(0)
          .Push(h.now(), StateId(1), Value(1), std::vector<Address>{Address()})
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(StateSyncTest, EmptyStoreSchedulesNothing) {
  StateSyncHarness h(3, StateConfig(), 29);
  h.LinkRing();
  for (size_t i = 0; i < h.size(); ++i) {
    EXPECT_EQ(h.node(i).NextTimeout(), Timestamp::Infinite());
  }
  h.RunFor(Duration::Seconds(10));
  EXPECT_EQ(h.bytes_sent(), 0u);
  h.Run(0, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(1), Value(1)).ok());
  });
  EXPECT_LT(h.node(0).NextTimeout(), Timestamp::Infinite());
}

TEST(StateSyncTest, SameSeedSameBytes) {
  const auto run = [](uint64_t seed) {
    StateSyncHarness h(12, StateConfig(), seed);
    h.LinkRandom(3, seed);
    h.set_drop_rule(
        [](size_t from, size_t to) { return (from * 7 + to) % 5 == 0; });
    Random rng(seed);
    for (int i = 0; i < 30; ++i) {
      h.Run(rng.UniformBelow(12), [&](StateSync& s) {
        ASSERT_TRUE(s.Propagate(h.now(), StateId(rng.UniformBelow(10)),
                                Value(rng.Next64()))
                        .ok());
      });
      h.RunFor(Duration::Millis(137));
    }
    h.RunFor(Duration::Seconds(10));
    return std::make_pair(h.bytes_sent(), h.node(0).store().Digest());
  };
  EXPECT_EQ(run(31), run(31));
  EXPECT_NE(run(31).first, run(32).first);
}

TEST(StateSyncTest, HostileFramesNeverCrashAndOutOfRoundFramesAreIgnored) {
  StateSyncHarness h(2, StateConfig(), 33);
  h.Link(0, 1);
  h.Run(0, [&](StateSync& s) {
    ASSERT_TRUE(s.Propagate(h.now(), StateId(1), Value(1)).ok());
  });
  Random rng(34);
  const PeerEntry stranger{NodeId(0xbad), Address::Sim(1)};
  std::vector<uint8_t> bytes(64, 0x5a);
  for (int i = 0; i < 3000; ++i) {
    const uint32_t round =
        rng.OneIn(2) ? 0 : static_cast<uint32_t>(rng.Next64());
    Frame frame;
    switch (rng.UniformBelow(8)) {
      case 0:
        frame = StateRangesFrame{
            round, std::vector<StateSliceDigest>(rng.UniformBelow(70))};
        break;
      case 1:
        frame = StateSketchFrame{
            round, rng.Next64(), rng.Next64(),
            rng.UniformBelow(kMaxSketchIndex),
            std::vector<SketchCell>(rng.UniformBelow(10),
                                    SketchCell{1, rng.Next64(), 3})};
        break;
      case 2:
        frame = StateSketchRequestFrame{
            round, rng.Next64(), rng.Next64() >> 2, rng.UniformBelow(1000),
            1 + rng.UniformBelow(kMaxSketchIndex - 1000)};
        break;
      case 3:
        frame =
            StateRequestFrame{round,
                              rng.Next64() >> 32,
                              {{StateId(1), 5}, {StateId(rng.Next64()), 0}}};
        break;
      case 4: {
        uint64_t a = rng.Next64(), b = rng.Next64();
        if (a > b) std::swap(a, b);
        frame = StateStreamRequestFrame{round, a, b, rng.Next64() >> 32};
        break;
      }
      case 5:
        frame = StateDigestFrame{round, rng.UniformBelow(5), rng.Next64()};
        break;
      case 6: {
        // Entries in a round the node never heard of: merged like any
        // others, and remembered for correction (bounded).
        StateDeltaFrame delta{round, false, 0, {}};
        for (int r = 0; r < 40; ++r) {
          delta.records.push_back(StateRecord{
              StateId(rng.UniformBelow(2000)),
              StateVersion{rng.UniformBelow(1000), 0, NodeId(rng.Next64())},
              rng.OneIn(3),
              {}});
        }
        frame = delta;
        break;
      }
      default:
        frame = StateUpdateFrame{
            rng.OneIn(2), static_cast<uint32_t>(rng.Next64()),
            StateRecord{
                StateId(rng.UniformBelow(5)),
                StateVersion{rng.Next64() >> 2, 0, NodeId(rng.Next64())},
                rng.OneIn(3),
                {}}};
    }
    h.Run(0, [&](StateSync& s) { s.HandleFrame(h.now(), stranger, frame); });
    if (i % 100 == 0) h.RunFor(Duration::Millis(300));
  }
  EXPECT_GT(h.Sum(&EngineCounters::state_frames_ignored), 0u);
  EXPECT_GT(h.counters(0).state_requests_refused, 0u);
  // Still converges with its real peer.
  EXPECT_TRUE(h.RunUntilConverged(Duration::Seconds(30)));
  // Hostile entries are entries: bounded by the store's bounds, and the
  // accounting follows them.
  EXPECT_LE(h.node(0).store().size(), StateConfig().max_state_entries);
  EXPECT_GT(h.node(0).store().size(), 1000u);
  EXPECT_LE(h.node(0).StateBytes(), h.node(0).store().size() * 256 + 65536);
}

}  // namespace
}  // namespace elara
