// Tests of HyParView membership (core/membership.h) without the Engine: a
// tiny in-test network carries Frame values between Membership instances
// with a per-frame latency drawn from a seeded PRNG, and checks the view
// invariants after every step. Everything is deterministic (fixed seeds).
#include "core/membership.h"

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/engine.h"
#include "core/outbox.h"
#include "core/passive_view.h"
#include "core/random.h"
#include "core/spare_buffer.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

NodeId IdOf(size_t i) { return NodeId(0x1000 + i); }
PeerEntry EntryOf(size_t i) {
  return PeerEntry{IdOf(i), Address::Sim(static_cast<uint32_t>(i))};
}

struct ListenerCall {
  bool up = false;
  PeerEntry peer;
  PeerDownCause cause = PeerDownCause::kTimeout;
  Timestamp at;
};

class RecordingListener : public MembershipListener {
 public:
  void OnNeighborUp(Timestamp now, const PeerEntry& peer) override {
    calls.push_back(ListenerCall{true, peer, PeerDownCause::kTimeout, now});
  }
  void OnNeighborDown(Timestamp now, const PeerEntry& peer,
                      PeerDownCause cause) override {
    calls.push_back(ListenerCall{false, peer, cause, now});
  }
  std::vector<ListenerCall> calls;
};

// The event a listener call must match, as a ListenerCall.
ListenerCall AsCall(const EngineEvent& event) {
  if (const auto* up = std::get_if<PeerUpEvent>(&event)) {
    return ListenerCall{true, up->peer, PeerDownCause::kTimeout, up->at};
  }
  const auto& down = std::get<PeerDownEvent>(event);
  return ListenerCall{false, down.peer, down.cause, down.at};
}

// Checks invariants 1 and 2 of membership.h on one instance. Cheap (it
// runs after every step of every simulation), so it reports, not asserts.
void ExpectViewInvariants(const Membership& m, const MembershipConfig& config,
                          size_t node) {
  const auto& active = m.active_view();
  const auto& passive = m.passive_view();
  if (active.size() > config.active_view_size ||
      passive.size() > config.passive_view_size) {
    ADD_FAILURE() << "node " << node << ": view over its bound";
  }
  std::vector<NodeId> ids;
  ids.reserve(active.size() + passive.size());
  for (const PeerEntry& p : active) ids.push_back(p.id);
  for (const PeerEntry& p : passive) ids.push_back(p.id);
  if (std::find(ids.begin(), ids.end(), m.self().id) != ids.end()) {
    ADD_FAILURE() << "node " << node << ": holds itself";
  }
  std::sort(ids.begin(), ids.end());
  if (std::adjacent_find(ids.begin(), ids.end()) != ids.end()) {
    ADD_FAILURE() << "node " << node
                  << ": a duplicate in a view or an id in both views";
  }
}

// N Membership instances on Address::Sim(i), a fake clock, and frames
// delivered after 2..10 ms in (arrival, send order).
class Swarm {
 public:
  struct Node {
    explicit Node(uint64_t seed) : rng(seed) {}
    Random rng;
    Outbox outbox;
    EngineCounters counters;
    RecordingListener listener;
    std::unique_ptr<Membership> membership;
    std::vector<EngineEvent> events;  // every event emitted, in order
  };

  Swarm(size_t n, const MembershipConfig& config, uint64_t seed)
      : config_(config), rng_(seed) {
    for (size_t i = 0; i < n; ++i) {
      auto node = std::make_unique<Node>(rng_.DeriveSeed());
      node->membership = std::make_unique<Membership>(
          config_, EntryOf(i), &node->rng, &node->outbox, &node->counters,
          &node->listener);
      next_timeout_.push_back(node->membership->NextTimeout());
      nodes_.push_back(std::move(node));
    }
    crashed_.assign(n, false);
    cut_.assign(n, false);
  }

  size_t size() const { return nodes_.size(); }
  Membership& m(size_t i) { return *nodes_[i]->membership; }
  Node& node(size_t i) { return *nodes_[i]; }
  Timestamp now() const { return now_; }
  const MembershipConfig& config() const { return config_; }

  void Join(size_t i, size_t contact) {
    m(i).Join(now_, Address::Sim(static_cast<uint32_t>(contact)));
    Collect(i);
  }
  // Warm start: i and j hold each other active (no frames, no events).
  void WarmLink(size_t i, size_t j) {
    ASSERT_TRUE(m(i).WarmAddActive(now_, EntryOf(j)));
    ASSERT_TRUE(m(j).WarmAddActive(now_, EntryOf(i)));
    for (size_t k : {i, j}) {
      node(k).listener.calls.pop_back();  // WarmAddActive's OnNeighborUp
      Collect(k);
    }
  }
  void WarmPassive(size_t i, size_t j) {
    ASSERT_TRUE(m(i).WarmAddPassive(EntryOf(j)));
    Collect(i);
  }
  void Leave(size_t i) {
    m(i).Leave(now_);
    Collect(i);
  }
  void DetectNodeFailure(size_t i, NodeId peer) {
    m(i).DetectNodeFailure(now_, peer);
    Collect(i);
  }
  // A crashed node receives, sends and times out nothing from now on;
  // frames already on their way to or from it are lost.
  void Crash(size_t i) { crashed_[i] = true; }
  // All frames between `i` and anyone else are lost while cut.
  void Cut(size_t i) { cut_[i] = true; }
  void Heal(size_t i) { cut_[i] = false; }
  bool live(size_t i) const {
    return !crashed_[i] && !nodes_[i]->membership->left();
  }

  // Time frame `from` -> `to` was last delivered (for probe timing).
  Timestamp LastDelivery(size_t from, size_t to) const {
    auto it = last_delivery_.find({from, to});
    return it == last_delivery_.end() ? Timestamp::Zero() : it->second;
  }

  void RunFor(Duration d) { RunUntil(now_ + d); }
  void RunUntil(Timestamp until) {
    for (int steps = 0;; ++steps) {
      if (steps > 10'000'000) {
        ADD_FAILURE() << "simulation does not advance at " << now_.ToString();
        return;
      }
      Timestamp next = Timestamp::Infinite();
      if (!in_flight_.empty()) next = in_flight_.top().at;
      for (size_t i = 0; i < size(); ++i) {
        if (!crashed_[i]) next = std::min(next, next_timeout_[i]);
      }
      if (next > until) break;
      ASSERT_GE(next, now_) << "a deadline in the past";
      now_ = next;
      while (!in_flight_.empty() && in_flight_.top().at <= now_) {
        InFlight item = in_flight_.top();
        in_flight_.pop();
        Deliver(item);
      }
      for (size_t i = 0; i < size(); ++i) {
        if (crashed_[i] || next_timeout_[i] > now_) continue;
        m(i).HandleTimeout(now_);
        Collect(i);
        EXPECT_GT(next_timeout_[i], now_) << "node " << i;
      }
      for (size_t i : touched_) {
        if (live(i)) ExpectViewInvariants(m(i), config_, i);
      }
      touched_.clear();
      if (testing::Test::HasFailure()) return;
    }
    now_ = until;
  }

  // Pairs (i, j) of live nodes where i holds j active but j not i.
  std::set<std::pair<size_t, size_t>> AsymmetricPairs() {
    std::set<std::pair<size_t, size_t>> pairs;
    for (size_t i = 0; i < size(); ++i) {
      if (!live(i)) continue;
      for (const PeerEntry& p : m(i).active_view()) {
        const size_t j = p.address.sim_index();
        if (live(j) && m(j).FindActive(IdOf(i)) == nullptr) {
          pairs.insert({i, j});
        }
      }
    }
    return pairs;
  }
  size_t Asymmetries() { return AsymmetricPairs().size(); }
  // One-sided links that last: there now and still `grace` later (runs the
  // swarm that long). A link swap or a DISCONNECT on its way leaves one for
  // a round trip; a one-sided link left over is refused at the holder's
  // next ping (within 1.5 keep-alive intervals); one still there is a bug.
  size_t LastingAsymmetries() {
    const std::set<std::pair<size_t, size_t>> before = AsymmetricPairs();
    RunFor(config_.keep_alive_interval * 3);
    size_t lasting = 0;
    for (const auto& pair : AsymmetricPairs()) lasting += before.count(pair);
    return lasting;
  }

  // True when the live nodes' active views form one connected graph.
  bool Connected() {
    size_t start = size();
    size_t live_count = 0;
    for (size_t i = 0; i < size(); ++i) {
      if (!live(i)) continue;
      ++live_count;
      if (start == size()) start = i;
    }
    if (live_count == 0) return true;
    std::vector<bool> seen(size(), false);
    std::vector<size_t> frontier{start};
    seen[start] = true;
    size_t reached = 1;
    while (!frontier.empty()) {
      const size_t i = frontier.back();
      frontier.pop_back();
      for (const PeerEntry& p : m(i).active_view()) {
        const size_t j = p.address.sim_index();
        if (!live(j) || seen[j]) continue;
        seen[j] = true;
        ++reached;
        frontier.push_back(j);
      }
    }
    return reached == live_count;
  }

  // Down events of node i about `peer`.
  std::vector<PeerDownEvent> DownsOf(size_t i, NodeId peer) {
    std::vector<PeerDownEvent> out;
    for (const EngineEvent& e : node(i).events) {
      const auto* down = std::get_if<PeerDownEvent>(&e);
      if (down != nullptr && down->peer.id == peer) out.push_back(*down);
    }
    return out;
  }

  uint64_t Sum(uint64_t EngineCounters::*field) {
    uint64_t total = 0;
    for (auto& n : nodes_) total += n->counters.*field;
    return total;
  }
  uint64_t frames_delivered() const { return frames_delivered_; }
  // Frames delivered, by type.
  void PrintTraffic() const {
    for (auto [type, count] : frames_by_type_) {
      std::printf("  %-14s %llu\n", FrameTypeName(type),
                  static_cast<unsigned long long>(count));
    }
  }

 private:
  struct InFlight {
    Timestamp at;
    uint64_t sequence;
    size_t from;
    Address to;
    Frame frame;
  };
  struct Later {
    bool operator()(const InFlight& a, const InFlight& b) const {
      return std::tie(a.at, a.sequence) > std::tie(b.at, b.sequence);
    }
  };

  bool Lost(size_t from, size_t to) const {
    return crashed_[from] || crashed_[to] || cut_[from] || cut_[to];
  }

  void Deliver(const InFlight& item) {
    ASSERT_EQ(item.to.kind(), Address::Kind::kSim);
    const size_t to = item.to.sim_index();
    ASSERT_LT(to, size());
    if (Lost(item.from, to) || m(to).left()) return;
    const PeerEntry from = EntryOf(item.from);
    m(to).NoteAlive(now_, from);
    m(to).HandleFrame(now_, from, item.frame);
    last_delivery_[{item.from, to}] = now_;
    ++frames_delivered_;
    ++frames_by_type_[TypeOf(item.frame)];
    Collect(to);
  }

  // Moves node i's outbox to the network and its events to its log, and
  // checks the listener saw exactly the same thing at the same moments.
  void Collect(size_t i) {
    touched_.push_back(i);
    Node& n = node(i);
    next_timeout_[i] = n.membership->NextTimeout();
    for (Outbox::PendingFrame& f : n.outbox.pending()) {
      const Duration latency = Duration::Micros(
          2000 + static_cast<int64_t>(rng_.UniformBelow(8000)));
      in_flight_.push(InFlight{now_ + latency, next_sequence_++, i, f.to,
                               std::move(f.frame)});
    }
    n.outbox.pending().clear();
    for (EngineEvent& e : n.outbox.events()) n.events.push_back(std::move(e));
    n.outbox.events().clear();
    ASSERT_EQ(n.events.size(), n.listener.calls.size()) << "node " << i;
    for (size_t k = checked_[i]; k < n.events.size(); ++k) {
      const ListenerCall want = AsCall(n.events[k]);
      const ListenerCall& got = n.listener.calls[k];
      EXPECT_EQ(got.up, want.up);
      EXPECT_EQ(got.peer, want.peer);
      EXPECT_EQ(got.at, want.at);
      EXPECT_EQ(got.at, now_);
      if (!want.up) {
        EXPECT_EQ(got.cause, want.cause);
      }
    }
    checked_[i] = n.events.size();
  }

  MembershipConfig config_;
  Random rng_;
  Timestamp now_ = Timestamp::FromMicros(1'000'000);
  std::vector<std::unique_ptr<Node>> nodes_;
  std::priority_queue<InFlight, std::vector<InFlight>, Later> in_flight_;
  uint64_t next_sequence_ = 0;
  std::vector<bool> crashed_;
  std::vector<bool> cut_;
  std::vector<Timestamp> next_timeout_;  // of each node, after its last call
  std::map<std::pair<size_t, size_t>, Timestamp> last_delivery_;
  std::map<size_t, size_t> checked_;  // events compared with the listener
  uint64_t frames_delivered_ = 0;
  std::map<FrameType, uint64_t> frames_by_type_;
  std::vector<size_t> touched_;
};

// Nodes 1..n-1 join through node 0, `spacing` apart, then the swarm runs
// for `settle`.
std::unique_ptr<Swarm> JoinedSwarm(size_t n, uint64_t seed, Duration spacing,
                                   Duration settle,
                                   const MembershipConfig& config = {}) {
  // MEMBERSHIP_SEED_SWEEP=k shifts every scenario seed by 1000 k, to check
  // that assertions hold beyond the fixed seeds (0..40 were checked,
  // 2026-11-27, with link swaps; see SettlesWithin and
  // LastingAsymmetries for what swaps in flight leave at any instant).
  if (const char* sweep = std::getenv("MEMBERSHIP_SEED_SWEEP")) {
    seed += 1000 * static_cast<uint64_t>(std::atoi(sweep));
  }
  auto swarm = std::make_unique<Swarm>(n, config, seed);
  for (size_t i = 1; i < n; ++i) {
    swarm->Join(i, 0);
    if (spacing > Duration::Zero()) swarm->RunFor(spacing);
  }
  swarm->RunFor(settle);
  return swarm;
}

std::vector<size_t> ActiveSizes(Swarm& s, const std::vector<size_t>& nodes) {
  std::vector<size_t> sizes;
  for (size_t j : nodes) sizes.push_back(s.m(j).active_view().size());
  return sizes;
}

// How many of `nodes` have at least as many active peers as `before`.
size_t Regained(Swarm& s, const std::vector<size_t>& nodes,
                const std::vector<size_t>& before) {
  size_t regained = 0;
  for (size_t k = 0; k < nodes.size(); ++k) {
    regained += s.m(nodes[k]).active_view().size() >= before[k];
  }
  return regained;
}

// Active slots the live nodes leave unused, excluding node `except`.
size_t MissingSlots(Swarm& s, size_t except) {
  size_t missing = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == except || !s.live(i)) continue;
    missing += s.config().active_view_size - s.m(i).active_view().size();
  }
  return missing;
}

// Pairs (i, j) of live nodes, both below their bound and not linked, where
// i holds j in its passive view: a low-priority NEIGHBOR from i would be
// accepted. (Nodes below their bound whose candidates are all full may
// remain: HyParView never breaks a full node's link for them.)
std::set<std::pair<size_t, size_t>> MissedRepairs(Swarm& s) {
  std::set<std::pair<size_t, size_t>> missed;
  const size_t bound = s.config().active_view_size;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!s.live(i) || s.m(i).active_view().size() == bound) continue;
    for (const PeerEntry& p : s.m(i).passive_view()) {
      const size_t j = p.address.sim_index();
      if (s.live(j) && s.m(j).active_view().size() < bound) {
        missed.insert({i, j});
      }
    }
  }
  return missed;
}

// Repair leaves no opportunity unused for long: a pair missed now (i may
// have learnt of j a moment ago) is gone `grace` later.
void ExpectNoLastingMissedRepairs(Swarm& s, Duration grace) {
  const std::set<std::pair<size_t, size_t>> before = MissedRepairs(s);
  s.RunFor(grace);
  for (const auto& pair : MissedRepairs(s)) {
    EXPECT_EQ(before.count(pair), 0u)
        << "node " << pair.first << " below its bound never asked node "
        << pair.second << ", also below its bound";
  }
}

size_t FullViews(Swarm& s) {
  size_t full = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s.live(i) &&
        s.m(i).active_view().size() == s.config().active_view_size) {
      ++full;
    }
  }
  return full;
}

// Runs the swarm until `settled` holds (checked every 500 ms), for at most
// `limit`; returns whether it did. Link swaps keep moving a free slot from
// node to node (a handover in flight, a swap into a view with room), so a
// count taken at one instant may catch one more short view than the swarm
// settles at.
bool SettlesWithin(Swarm& s, Duration limit,
                   const std::function<bool()>& settled) {
  const Timestamp until = s.now() + limit;
  while (!settled()) {
    if (s.now() >= until) return false;
    s.RunFor(Duration::Millis(500));
  }
  return true;
}

// --- Joining ---------------------------------------------------------------

TEST(MembershipTest, TwoNodesJoin) {
  Swarm s(2, MembershipConfig{}, /*seed=*/1);
  s.Join(1, 0);
  s.RunFor(Duration::Seconds(5));
  ASSERT_EQ(s.m(0).active_view().size(), 1u);
  ASSERT_EQ(s.m(1).active_view().size(), 1u);
  EXPECT_EQ(s.m(0).active_view()[0], EntryOf(1));
  EXPECT_EQ(s.m(1).active_view()[0], EntryOf(0));
  EXPECT_TRUE(s.m(0).passive_view().empty());
  EXPECT_TRUE(s.m(1).passive_view().empty());
  // Exactly one up event each, nothing went down, no rejoin was needed.
  ASSERT_EQ(s.node(0).events.size(), 1u);
  ASSERT_EQ(s.node(1).events.size(), 1u);
  EXPECT_EQ(std::get<PeerUpEvent>(s.node(0).events[0]).peer, EntryOf(1));
  EXPECT_EQ(std::get<PeerUpEvent>(s.node(1).events[0]).peer, EntryOf(0));
  EXPECT_EQ(s.Sum(&EngineCounters::rejoins), 0u);
  EXPECT_EQ(s.Sum(&EngineCounters::peers_down), 0u);
}

TEST(MembershipTest, FiftyNodesJoinThroughOneContact) {
  auto s =
      JoinedSwarm(50, /*seed=*/7, Duration::Millis(50), Duration::Seconds(120));
  for (size_t i = 0; i < s->size(); ++i) {
    EXPECT_FALSE(s->m(i).active_view().empty()) << "node " << i;
  }
  EXPECT_EQ(s->LastingAsymmetries(), 0u);
  EXPECT_TRUE(s->Connected());
  // 50 x 5 is even, but a random graph rarely reaches every bound; most do.
  const size_t full = FullViews(*s);
  std::printf("full active views: %zu / 50\n", full);
  EXPECT_GE(full, 45u);
  ExpectNoLastingMissedRepairs(*s, Duration::Seconds(15));
  // Shuffles filled the passive views (49 other nodes exist, 5 are active).
  size_t passive_total = 0;
  for (size_t i = 0; i < s->size(); ++i) {
    EXPECT_GE(s->m(i).passive_view().size(), 20u) << "node " << i;
    passive_total += s->m(i).passive_view().size();
  }
  std::printf("mean passive view: %.1f\n",
              static_cast<double>(passive_total) / 50.0);
  EXPECT_GT(s->Sum(&EngineCounters::passive_view_evictions), 0u);
  std::printf("frames delivered in %s: %llu\n",
              (s->now() - Timestamp::FromMicros(1'000'000)).ToString().c_str(),
              static_cast<unsigned long long>(s->frames_delivered()));
  s->PrintTraffic();
  // No loss in this network: nobody timed out and nobody had to rejoin.
  for (size_t i = 0; i < s->size(); ++i) {
    for (const EngineEvent& e : s->node(i).events) {
      const auto* down = std::get_if<PeerDownEvent>(&e);
      if (down != nullptr) {
        EXPECT_NE(down->cause, PeerDownCause::kTimeout);
      }
    }
  }
  EXPECT_EQ(s->Sum(&EngineCounters::rejoins), 0u);
}

TEST(MembershipTest, FiftyNodesJoinAtTheSameInstant) {
  auto s =
      JoinedSwarm(50, /*seed=*/11, Duration::Zero(), Duration::Seconds(60));
  for (size_t i = 0; i < s->size(); ++i) {
    EXPECT_FALSE(s->m(i).active_view().empty()) << "node " << i;
  }
  EXPECT_EQ(s->LastingAsymmetries(), 0u);
  EXPECT_TRUE(s->Connected());
  EXPECT_GE(FullViews(*s), 45u);
}

TEST(MembershipTest, SameSeedSameRun) {
  auto a =
      JoinedSwarm(30, /*seed=*/5, Duration::Millis(20), Duration::Seconds(30));
  auto b =
      JoinedSwarm(30, /*seed=*/5, Duration::Millis(20), Duration::Seconds(30));
  EXPECT_EQ(a->frames_delivered(), b->frames_delivered());
  for (size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ(a->m(i).active_view(), b->m(i).active_view());
    EXPECT_EQ(a->m(i).passive_view(), b->m(i).passive_view());
    ASSERT_EQ(a->node(i).events.size(), b->node(i).events.size());
  }
  // And a different seed gives a different overlay.
  auto c =
      JoinedSwarm(30, /*seed=*/6, Duration::Millis(20), Duration::Seconds(30));
  bool differs = false;
  for (size_t i = 0; i < a->size(); ++i) {
    differs |= a->m(i).active_view() != c->m(i).active_view();
  }
  EXPECT_TRUE(differs);
}

// --- Failure detection and repair -----------------------------------------

TEST(MembershipTest, CrashedPeerTimesOutAfterProbeTimeoutAndIsReplaced) {
  auto s =
      JoinedSwarm(50, /*seed=*/3, Duration::Millis(50), Duration::Seconds(60));
  const size_t crashed = 17;
  // Its neighbours: the peers holding it too (a link swap in flight may
  // leave one side of a link for a round trip).
  std::vector<size_t> neighbors;
  for (const PeerEntry& p : s->m(crashed).active_view()) {
    const size_t j = p.address.sim_index();
    if (s->m(j).FindActive(IdOf(crashed)) != nullptr) neighbors.push_back(j);
  }
  ASSERT_FALSE(neighbors.empty());
  // Full live views other than the one about to crash.
  const size_t full_before =
      FullViews(*s) -
      (s->m(crashed).active_view().size() == s->config().active_view_size);
  const std::vector<size_t> sizes_before = ActiveSizes(*s, neighbors);
  const Timestamp crash_at = s->now();
  s->Crash(crashed);
  s->RunFor(Duration::Seconds(30));

  const Duration probe = s->config().probe_timeout;
  for (size_t j : neighbors) {
    SCOPED_TRACE(testing::Message() << "neighbour " << j);
    const std::vector<PeerDownEvent> downs = s->DownsOf(j, IdOf(crashed));
    const auto timeout =
        std::find_if(downs.begin(), downs.end(),
                     [&](const PeerDownEvent& d) { return d.at >= crash_at; });
    ASSERT_NE(timeout, downs.end());
    // A neighbour may have swapped the link away before the timeout.
    if (timeout->cause == PeerDownCause::kEvicted &&
        timeout->at < crash_at + probe) {
      EXPECT_EQ(s->m(j).FindActive(IdOf(crashed)), nullptr);
      continue;
    }
    EXPECT_EQ(timeout->cause, PeerDownCause::kTimeout);
    // Exactly probe_timeout after the crashed node was last heard, which
    // is after the crash minus one keep-alive interval at the earliest.
    EXPECT_EQ(timeout->at, s->LastDelivery(crashed, j) + probe);
    EXPECT_GT(timeout->at, crash_at);
    EXPECT_LE(timeout->at, crash_at + probe);
    EXPECT_EQ(s->m(j).FindActive(IdOf(crashed)), nullptr);
  }
  // Nobody else was suspected: the network loses nothing else.
  for (size_t i = 0; i < s->size(); ++i) {
    for (const EngineEvent& e : s->node(i).events) {
      const auto* down = std::get_if<PeerDownEvent>(&e);
      if (down != nullptr && down->cause == PeerDownCause::kTimeout) {
        EXPECT_EQ(down->peer.id, IdOf(crashed)) << "node " << i;
      }
    }
  }
  // Replacement from the passive views: each neighbour lost a link and got
  // one back, but 49 x 5 is odd, so one of them may stay one short.
  EXPECT_GE(Regained(*s, neighbors, sizes_before) + 1, neighbors.size());
  EXPECT_TRUE(SettlesWithin(*s, Duration::Seconds(30),
                            [&] { return FullViews(*s) + 1 >= full_before; }))
      << FullViews(*s) << " full views, " << full_before << " before";
  ExpectNoLastingMissedRepairs(*s, Duration::Seconds(15));
  EXPECT_EQ(s->LastingAsymmetries(), 0u);
  EXPECT_TRUE(s->Connected());
}

// A single instance, driven by hand: pings after keep_alive_interval of
// silence, repeated every interval, and the peer is declared down exactly
// probe_timeout after it was last heard.
class SingleMembership : public testing::Test {
 protected:
  SingleMembership()
      : rng_(99),
        m_(config_, EntryOf(0), &rng_, &outbox_, &counters_, &listener_) {}

  std::vector<Outbox::PendingFrame> TakeFrames() {
    std::vector<Outbox::PendingFrame> out = std::move(outbox_.pending());
    outbox_.pending().clear();
    return out;
  }
  std::vector<Outbox::PendingFrame> FramesOfType(FrameType type) {
    std::vector<Outbox::PendingFrame> out;
    for (auto& f : TakeFrames()) {
      if (TypeOfFrame(f.frame) == type) out.push_back(f);
    }
    return out;
  }
  static FrameType TypeOfFrame(const Frame& f) {
    // Index order of the Frame variant; membership frames only.
    static constexpr FrameType kTypes[] = {
        FrameType::kJoin,          FrameType::kJoinReply,
        FrameType::kForwardJoin,   FrameType::kNeighbor,
        FrameType::kNeighborReply, FrameType::kDisconnect,
        FrameType::kShuffle,       FrameType::kShuffleReply,
        FrameType::kPing,          FrameType::kPong};
    return f.index() < 10 ? kTypes[f.index()] : FrameType::kGossip;
  }
  void ExpectPingsThenTimeout(const PeerEntry& peer, Duration first_ping);
  // Peers 1-5 active (a full view), peer 6 passive; no frames left.
  void WarmFullView(Membership* m) {
    for (size_t i = 1; i <= 5; ++i) {
      ASSERT_TRUE(m->WarmAddActive(now_, EntryOf(i)));
    }
    ASSERT_TRUE(m->WarmAddPassive(EntryOf(6)));
    TakeFrames();
  }
  // Runs HandleTimeout at each deadline up to `until`.
  void RunUntil(Timestamp until) {
    for (int i = 0; i < 10000 && m_.NextTimeout() <= until; ++i) {
      now_ = m_.NextTimeout();
      m_.HandleTimeout(now_);
      ASSERT_GT(m_.NextTimeout(), now_);
      sent_.insert(sent_.end(), outbox_.pending().begin(),
                   outbox_.pending().end());
      times_.insert(times_.end(), outbox_.pending().size(), now_);
      outbox_.pending().clear();
    }
    now_ = until;
  }
  // Same, in 100 ms steps, hearing from every active peer after each.
  void RunHearingPeers(Duration d) {
    const Timestamp until = now_ + d;
    while (now_ < until) {
      RunUntil(std::min(until, now_ + Duration::Millis(100)));
      for (const PeerEntry& p : m_.active_view()) m_.NoteAlive(now_, p);
    }
  }

  MembershipConfig config_;
  Random rng_;
  Outbox outbox_;
  EngineCounters counters_;
  RecordingListener listener_;
  Membership m_;
  Timestamp now_ = Timestamp::FromMicros(5'000'000);
  std::vector<Outbox::PendingFrame> sent_;
  std::vector<Timestamp> times_;
};

// Pings `peer` at heard + first_ping, then every keep_alive_interval, and
// declares it down exactly probe_timeout after it was last heard.
void SingleMembership::ExpectPingsThenTimeout(const PeerEntry& peer,
                                              Duration first_ping) {
  ASSERT_TRUE(m_.WarmAddActive(now_, peer));
  const Timestamp t0 = now_;
  // Heard from at t0 + 0.9 s: the pings wait for that.
  RunUntil(t0 + Duration::Millis(900));
  m_.NoteAlive(now_, peer);
  // A pong that answers no ping of ours proves nothing.
  m_.HandleFrame(now_ + Duration::Millis(500), peer, PongFrame{12345});
  const Timestamp heard = now_;
  RunUntil(heard + config_.probe_timeout - Duration::Micros(1));
  EXPECT_TRUE(m_.FindActive(peer.id) != nullptr) << "down too early";
  EXPECT_TRUE(listener_.calls.size() == 1 && listener_.calls[0].up);
  std::vector<Timestamp> ping_times;
  for (size_t k = 0; k < sent_.size(); ++k) {
    if (std::holds_alternative<PingFrame>(sent_[k].frame)) {
      EXPECT_EQ(sent_[k].to, peer.address);
      ping_times.push_back(times_[k]);
    }
  }
  ASSERT_EQ(ping_times.size(), 2u);
  EXPECT_EQ(ping_times[0], heard + first_ping);
  EXPECT_EQ(ping_times[1], heard + first_ping + config_.keep_alive_interval);
  RunUntil(heard + config_.probe_timeout);
  EXPECT_EQ(m_.FindActive(peer.id), nullptr);
  EXPECT_TRUE(m_.active_view().empty());
  // Timed-out peers are not kept as backups.
  EXPECT_TRUE(m_.passive_view().empty());
  ASSERT_EQ(outbox_.events().size(), 1u);
  const auto& down = std::get<PeerDownEvent>(outbox_.events()[0]);
  EXPECT_EQ(down.peer, peer);
  EXPECT_EQ(down.cause, PeerDownCause::kTimeout);
  EXPECT_EQ(down.at, heard + config_.probe_timeout);
  ASSERT_EQ(listener_.calls.size(), 2u);
  EXPECT_FALSE(listener_.calls[1].up);
  EXPECT_EQ(listener_.calls[1].cause, PeerDownCause::kTimeout);
  EXPECT_EQ(listener_.calls[1].at, down.at);
  EXPECT_EQ(counters_.peers_down, 1u);
}

TEST_F(SingleMembership, KeepAlivePingsThenTimeout) {
  // Our id is the smaller one: we ping first.
  ExpectPingsThenTimeout(EntryOf(1), config_.keep_alive_interval);
}

TEST_F(SingleMembership, KeepAliveOfTheLargerIdWaitsLonger) {
  const PeerEntry peer{NodeId(1), Address::Sim(7)};  // smaller than ours
  ExpectPingsThenTimeout(peer, config_.keep_alive_interval * 3 / 2);
}

TEST_F(SingleMembership, PongWithMatchingNonceKeepsPeerUp) {
  const PeerEntry peer = EntryOf(1);
  ASSERT_TRUE(m_.WarmAddActive(now_, peer));
  for (int round = 0; round < 10; ++round) {
    RunUntil(now_ + config_.keep_alive_interval);
    const PingFrame* ping = nullptr;
    for (auto& f : sent_) {
      if (const auto* p = std::get_if<PingFrame>(&f.frame)) ping = p;
    }
    ASSERT_NE(ping, nullptr);
    ASSERT_NE(ping->nonce, 0u);
    // The pong alone (no NoteAlive) clears the probe.
    m_.HandleFrame(now_, peer, PongFrame{ping->nonce});
    sent_.clear();
  }
  EXPECT_NE(m_.FindActive(peer.id), nullptr);
  EXPECT_EQ(counters_.peers_down, 0u);
}

TEST_F(SingleMembership, PingIsAnsweredWithPong) {
  const PeerEntry peer = EntryOf(1);
  ASSERT_TRUE(m_.WarmAddActive(now_, peer));
  m_.HandleFrame(now_, peer, PingFrame{42});
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to, peer.address);
  EXPECT_EQ(std::get<PongFrame>(frames[0].frame).nonce, 42u);

  // A stranger holds us (it pings us): with room we take it (the reply
  // that would have told us was lost), and answer only PONG.
  const PeerEntry stranger = EntryOf(9);
  m_.HandleFrame(now_, stranger, PingFrame{7});
  frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to, stranger.address);
  EXPECT_EQ(std::get<PongFrame>(frames[0].frame).nonce, 7u);
  EXPECT_NE(m_.FindActive(stranger.id), nullptr);

  // A full view answers a stranger's PING too, and tells it it is not our
  // neighbour.
  for (size_t i = 2; m_.active_view().size() < config_.active_view_size; ++i) {
    ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(i)));
  }
  const PeerEntry other = EntryOf(20);
  m_.HandleFrame(now_, other, PingFrame{8});
  frames = TakeFrames();
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].to, other.address);
  EXPECT_EQ(std::get<PongFrame>(frames[0].frame).nonce, 8u);
  EXPECT_EQ(frames[1].to, other.address);
  EXPECT_FALSE(std::get<NeighborReplyFrame>(frames[1].frame).accepted);
  EXPECT_EQ(m_.FindActive(other.id), nullptr);
}

TEST_F(SingleMembership, FramesFromUnknownSendersAreIgnored) {
  const PeerEntry a = EntryOf(1), b = EntryOf(2), stranger = EntryOf(9);
  ASSERT_TRUE(m_.WarmAddActive(now_, a));
  ASSERT_TRUE(m_.WarmAddPassive(b));
  const size_t calls = listener_.calls.size();
  m_.HandleFrame(now_, stranger, DisconnectFrame{DisconnectReason::kEvicted});
  m_.HandleFrame(now_, stranger, DisconnectFrame{DisconnectReason::kLeaving});
  m_.HandleFrame(now_, stranger, PongFrame{5});
  m_.HandleFrame(now_, stranger, NeighborReplyFrame{true});
  m_.HandleFrame(now_, stranger, NeighborReplyFrame{false});
  EXPECT_EQ(counters_.unknown_sender_frames, 5u);
  // A frame claiming our own id, and a broadcast frame, are not ours.
  m_.HandleFrame(now_, EntryOf(0), JoinFrame{});
  m_.HandleFrame(now_, a, PruneFrame{});
  EXPECT_EQ(m_.active_view(), std::vector<PeerEntry>{a});
  EXPECT_EQ(m_.passive_view(), std::vector<PeerEntry>{b});
  EXPECT_TRUE(outbox_.events().empty());
  EXPECT_EQ(listener_.calls.size(), calls);
  EXPECT_TRUE(TakeFrames().empty());
  EXPECT_EQ(counters_.peers_down, 0u);
}

TEST_F(SingleMembership, ViewsRefuseSelfDuplicatesAndOverflow) {
  EXPECT_FALSE(m_.WarmAddActive(now_, EntryOf(0)));
  for (size_t i = 1; i <= config_.active_view_size; ++i) {
    EXPECT_TRUE(m_.WarmAddActive(now_, EntryOf(i)));
  }
  EXPECT_FALSE(m_.WarmAddActive(now_, EntryOf(1)));
  EXPECT_FALSE(m_.WarmAddActive(now_, EntryOf(100)));  // full
  EXPECT_FALSE(m_.WarmAddPassive(EntryOf(1)));         // already active
  EXPECT_FALSE(m_.WarmAddPassive(EntryOf(0)));
  for (size_t i = 0; i < config_.passive_view_size; ++i) {
    EXPECT_TRUE(m_.WarmAddPassive(EntryOf(10 + i)));
  }
  EXPECT_FALSE(m_.WarmAddPassive(EntryOf(1000)));  // full
  ExpectViewInvariants(m_, config_, 0);
  // A shuffle reply into a full passive view evicts, and counts it.
  const uint64_t before = counters_.passive_view_evictions;
  m_.HandleFrame(now_, EntryOf(1),
                 ShuffleReplyFrame{{EntryOf(500), EntryOf(501), EntryOf(0),
                                    EntryOf(2), EntryOf(500)}});
  EXPECT_EQ(counters_.passive_view_evictions, before + 2);
  EXPECT_EQ(m_.passive_view().size(), config_.passive_view_size);
  ExpectViewInvariants(m_, config_, 0);
}

// A shuffle reply into a full passive view evicts the ids our shuffle
// sent, first to last; an id evicted this way and then added back by the
// same reply is first in line again.
// A shuffle walk that goes on is forwarded with one hop less and the same
// peers, not back to its sender; a walk that ends is answered. Both lists
// are built in the storage Park took from the frames queued before it
// (Outbox::BorrowPeerList), which must not change what they hold.
TEST_F(SingleMembership, ShuffleListsAreBuiltInParkedStorage) {
  ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(1)));
  ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(2)));
  ASSERT_TRUE(m_.WarmAddPassive(EntryOf(50)));
  SpareStorage<PeerEntry>() = std::vector<PeerEntry>();
  const std::vector<PeerEntry> peers = {EntryOf(30), EntryOf(31), EntryOf(32)};
  m_.HandleFrame(now_, EntryOf(1), ShuffleFrame{EntryOf(9), 3, peers});
  ASSERT_EQ(outbox_.pending().size(), 1u);
  EXPECT_EQ(outbox_.pending()[0].to, EntryOf(2).address);
  const auto& forward = std::get<ShuffleFrame>(outbox_.pending()[0].frame);
  EXPECT_EQ(forward.origin, EntryOf(9));
  EXPECT_EQ(forward.time_to_live, 2);
  EXPECT_EQ(forward.peers, peers);
  const PeerEntry* const storage = forward.peers.data();
  outbox_.Park();
  EXPECT_EQ(outbox_.pending().capacity(), 0u);
  EXPECT_TRUE(SpareStorage<PeerEntry>().empty());
  EXPECT_EQ(SpareStorage<PeerEntry>().data(), storage);

  // The walk ends here: answered with the one passive peer, in that storage.
  m_.HandleFrame(now_, EntryOf(1), ShuffleFrame{EntryOf(9), 0, peers});
  ASSERT_EQ(outbox_.pending().size(), 1u);
  EXPECT_EQ(outbox_.pending()[0].to, EntryOf(9).address);
  const auto& reply = std::get<ShuffleReplyFrame>(outbox_.pending()[0].frame);
  EXPECT_EQ(reply.peers, std::vector<PeerEntry>{EntryOf(50)});
  EXPECT_EQ(reply.peers.data(), storage);
  EXPECT_EQ(SpareStorage<PeerEntry>().capacity(), 0u);
  outbox_.Park();
  EXPECT_EQ(SpareStorage<PeerEntry>().data(), storage);
  SpareStorage<PeerEntry>() = std::vector<PeerEntry>();
}

TEST_F(SingleMembership, ShuffleReplyEvictsWhatWeSentFirstToLast) {
  for (size_t i = 1; i <= config_.active_view_size; ++i) {
    ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(i)));
  }
  for (size_t i = 0; i < config_.passive_view_size; ++i) {
    ASSERT_TRUE(m_.WarmAddPassive(EntryOf(100 + i)));
  }
  // Keep every active peer heard from until our shuffle goes out.
  std::optional<ShuffleFrame> shuffle, probe;
  Address walk_to, probe_to;
  for (int i = 0; i < 1000 && !shuffle; ++i) {
    now_ = m_.NextTimeout();
    for (size_t p = 1; p <= config_.active_view_size; ++p) {
      m_.NoteAlive(now_, EntryOf(p));
    }
    m_.HandleTimeout(now_);
    for (auto& f : TakeFrames()) {
      auto* s = std::get_if<ShuffleFrame>(&f.frame);
      if (s == nullptr) continue;
      if (s->time_to_live > 0) {
        ASSERT_FALSE(shuffle.has_value());
        shuffle = *s;
        walk_to = f.to;
      } else {
        ASSERT_FALSE(probe.has_value());
        probe = *s;
        probe_to = f.to;
      }
    }
  }
  ASSERT_TRUE(shuffle.has_value());
  // The walk goes to an active peer; with it, the probe (only ourselves)
  // goes to a passive one.
  EXPECT_EQ(shuffle->time_to_live, config_.passive_random_walk_length);
  EXPECT_NE(m_.FindActive(EntryOf(walk_to.sim_index()).id), nullptr);
  ASSERT_TRUE(probe.has_value());
  EXPECT_EQ(probe->origin, m_.self());
  EXPECT_TRUE(probe->peers.empty());
  EXPECT_GE(probe_to.sim_index(), 100u);
  // What we sent from the passive view, in the order sent.
  const std::vector<PeerEntry> passive = m_.passive_view();
  std::vector<PeerEntry> sent_passive;
  for (const PeerEntry& p : shuffle->peers) {
    if (std::find(passive.begin(), passive.end(), p) != passive.end()) {
      sent_passive.push_back(p);
    }
  }
  ASSERT_GE(sent_passive.size(), 3u);
  const PeerEntry p0 = sent_passive[0], p1 = sent_passive[1];
  const PeerEntry fresh1 = EntryOf(900), fresh2 = EntryOf(901);
  m_.HandleFrame(now_, EntryOf(1), ShuffleReplyFrame{{fresh1, p0, fresh2}});
  // fresh1 evicts p0; p0 comes back and evicts p1; fresh2 evicts p0 again.
  auto in_view = [&](const PeerEntry& e) {
    const std::vector<PeerEntry>& v = m_.passive_view();
    return std::find(v.begin(), v.end(), e) != v.end();
  };
  EXPECT_TRUE(in_view(fresh1));
  EXPECT_TRUE(in_view(fresh2));
  EXPECT_FALSE(in_view(p0));
  EXPECT_FALSE(in_view(p1));
  for (size_t k = 2; k < sent_passive.size(); ++k) {
    EXPECT_TRUE(in_view(sent_passive[k])) << k;
  }
  EXPECT_EQ(m_.passive_view().size(), config_.passive_view_size);
  ExpectViewInvariants(m_, config_, 0);
}

TEST_F(SingleMembership, ContactsAreBounded) {
  for (uint32_t i = 1; i <= Membership::kMaxContacts + 2; ++i) {
    m_.Join(now_, Address::Sim(i));
  }
  m_.Join(now_, Address::Sim(3));  // a repeat is not a new contact
  m_.Join(now_, Address::Sim(0));  // our own address is never a contact
  EXPECT_EQ(counters_.contacts_dropped, 2u);
  EXPECT_EQ(FramesOfType(FrameType::kJoin).size(),
            Membership::kMaxContacts + 3);
}

TEST_F(SingleMembership, StaggeredFirstShuffle) {
  // Ten nodes with different seeds shuffle at different moments.
  std::set<Timestamp> first_shuffles;
  for (uint64_t seed = 1; seed <= 10; ++seed) {
    Random rng(seed);
    Outbox outbox;
    EngineCounters counters;
    RecordingListener listener;
    Membership m(config_, EntryOf(0), &rng, &outbox, &counters, &listener);
    // A peer that answers everything keeps NextTimeout on the keep-alives;
    // with a non-stop NoteAlive, only the shuffle remains.
    ASSERT_TRUE(m.WarmAddActive(now_, EntryOf(1)));
    Timestamp t = now_;
    for (int i = 0; i < 1000; ++i) {
      t = m.NextTimeout();
      m.NoteAlive(t, EntryOf(1));
      m.HandleTimeout(t);
      bool shuffled = false;
      for (auto& f : outbox.pending()) {
        shuffled |= std::holds_alternative<ShuffleFrame>(f.frame);
      }
      outbox.pending().clear();
      if (shuffled) break;
    }
    EXPECT_GT(t, now_);
    EXPECT_LE(t, now_ + config_.shuffle_period);
    first_shuffles.insert(t);
  }
  EXPECT_GE(first_shuffles.size(), 9u);
}

// --- Leaving, detection, rejection -----------------------------------------

TEST(MembershipTest, LeaveTellsPeersLeft) {
  auto s =
      JoinedSwarm(20, /*seed=*/21, Duration::Millis(50), Duration::Seconds(30));
  const size_t leaver = 4;
  // Its neighbours: the peers holding it too (a link swap in flight may
  // leave one side of a link for a round trip).
  std::vector<size_t> neighbors;
  for (const PeerEntry& p : s->m(leaver).active_view()) {
    const size_t j = p.address.sim_index();
    if (s->m(j).FindActive(IdOf(leaver)) != nullptr) neighbors.push_back(j);
  }
  ASSERT_FALSE(neighbors.empty());
  const std::vector<size_t> sizes_before = ActiveSizes(*s, neighbors);
  const size_t missing_before = MissingSlots(*s, leaver);
  const size_t leaver_events = s->node(leaver).events.size();
  const Timestamp leave_at = s->now();
  s->Leave(leaver);
  EXPECT_TRUE(s->m(leaver).left());
  EXPECT_EQ(s->m(leaver).NextTimeout(), Timestamp::Infinite());
  EXPECT_TRUE(s->m(leaver).active_view().empty());
  EXPECT_TRUE(s->m(leaver).passive_view().empty());
  s->RunFor(Duration::Seconds(20));
  for (size_t j : neighbors) {
    const std::vector<PeerDownEvent> downs = s->DownsOf(j, IdOf(leaver));
    ASSERT_FALSE(downs.empty()) << "neighbour " << j;
    EXPECT_EQ(downs.back().cause, PeerDownCause::kLeft);
    EXPECT_GT(downs.back().at, leave_at);
    EXPECT_EQ(s->m(j).FindActive(IdOf(leaver)), nullptr);
  }
  // Replaced from the passive views: the five slots the leaver freed are
  // used again, up to one (19 x 5 is odd), and no two short nodes that
  // know each other stay apart.
  EXPECT_TRUE(SettlesWithin(
      *s, Duration::Seconds(30),
      [&] { return MissingSlots(*s, leaver) <= missing_before + 1; }))
      << MissingSlots(*s, leaver) << " slots missing, " << missing_before
      << " before";
  EXPECT_GE(Regained(*s, neighbors, sizes_before) + 2, neighbors.size());
  ExpectNoLastingMissedRepairs(*s, Duration::Seconds(15));
  // The leaver said nothing more and answers nothing.
  EXPECT_EQ(s->node(leaver).events.size(), leaver_events);
  s->m(leaver).HandleFrame(s->now(), EntryOf(1), PingFrame{1});
  s->m(leaver).HandleFrame(s->now(), EntryOf(1), JoinFrame{});
  EXPECT_TRUE(s->node(leaver).outbox.pending().empty());
  EXPECT_LT(s->m(leaver).StateBytes(), sizeof(Membership) + 1);
  EXPECT_EQ(s->LastingAsymmetries(), 0u);
  EXPECT_TRUE(s->Connected());
}

TEST(MembershipTest, DetectNodeFailureAndOneSidedLinkIsRejected) {
  auto s =
      JoinedSwarm(20, /*seed=*/22, Duration::Millis(50), Duration::Seconds(30));
  const size_t i = 2;
  ASSERT_FALSE(s->m(i).active_view().empty());
  const PeerEntry peer = s->m(i).active_view()[0];
  const size_t p = peer.address.sim_index();
  const uint64_t downs_before = s->node(i).counters.peers_down;
  s->DetectNodeFailure(i, peer.id);
  const auto* last = std::get_if<PeerDownEvent>(&s->node(i).events.back());
  ASSERT_NE(last, nullptr);
  EXPECT_EQ(last->peer, peer);
  EXPECT_EQ(last->cause, PeerDownCause::kDetected);
  EXPECT_EQ(last->at, s->now());
  EXPECT_EQ(s->node(i).counters.peers_down, downs_before + 1);
  EXPECT_EQ(s->m(i).FindActive(peer.id), nullptr);
  for (const PeerEntry& e : s->m(i).passive_view()) EXPECT_NE(e.id, peer.id);
  // The peer still holds i. Either i takes it back (i is one short and p
  // may be its next candidate), or p's next ping is answered "not a
  // neighbour" and p drops the one-sided link (cause: rejected), unless p
  // dropped it first for another reason (a link swap, a joiner). Looked at
  // once that is settled: later the overlay moves on.
  const Timestamp detect_at = s->now();
  s->RunFor(s->config().keep_alive_interval * 3);
  bool rejected = false;
  for (const PeerDownEvent& d : s->DownsOf(p, IdOf(i))) {
    if (d.at > detect_at && d.cause == PeerDownCause::kRejected) {
      rejected = true;
      // Within the larger-id ping delay plus a round trip.
      EXPECT_LE(d.at, detect_at + s->config().keep_alive_interval * 3 / 2 +
                          Duration::Millis(20));
    }
  }
  const bool linked_again = s->m(i).FindActive(IdOf(p)) != nullptr;
  const bool dropped = s->m(p).FindActive(IdOf(i)) == nullptr;
  EXPECT_TRUE(rejected || linked_again || dropped);
  if (linked_again) {
    EXPECT_NE(s->m(p).FindActive(IdOf(i)), nullptr);
  }
  s->RunFor(Duration::Seconds(17));
  EXPECT_EQ(s->LastingAsymmetries(), 0u);
  EXPECT_TRUE(s->Connected());
}

TEST_F(SingleMembership, JoinAtAFullContactEvictsRepliesAndForwards) {
  for (size_t i = 1; i <= config_.active_view_size; ++i) {
    ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(i)));
  }
  const PeerEntry joiner = EntryOf(50);
  m_.HandleFrame(now_, joiner, JoinFrame{});
  ASSERT_EQ(m_.active_view().size(), config_.active_view_size);
  EXPECT_NE(m_.FindActive(joiner.id), nullptr);
  // One random peer was evicted: told so, kept as a backup, reported.
  ASSERT_EQ(m_.passive_view().size(), 1u);
  const PeerEntry evicted = m_.passive_view()[0];
  ASSERT_EQ(outbox_.events().size(), 2u);
  const auto& down = std::get<PeerDownEvent>(outbox_.events()[0]);
  EXPECT_EQ(down.peer, evicted);
  EXPECT_EQ(down.cause, PeerDownCause::kEvicted);
  EXPECT_EQ(std::get<PeerUpEvent>(outbox_.events()[1]).peer, joiner);
  size_t disconnects = 0, replies = 0, walks = 0;
  for (const auto& f : TakeFrames()) {
    if (const auto* d = std::get_if<DisconnectFrame>(&f.frame)) {
      EXPECT_EQ(f.to, evicted.address);
      EXPECT_EQ(d->reason, DisconnectReason::kEvicted);
      ++disconnects;
    } else if (std::holds_alternative<JoinReplyFrame>(f.frame)) {
      EXPECT_EQ(f.to, joiner.address);
      ++replies;
    } else if (const auto* w = std::get_if<ForwardJoinFrame>(&f.frame)) {
      EXPECT_NE(f.to, joiner.address);
      EXPECT_NE(f.to, evicted.address);
      EXPECT_EQ(w->joiner, joiner);
      EXPECT_EQ(w->time_to_live, config_.active_random_walk_length);
      ++walks;
    }
  }
  EXPECT_EQ(disconnects, 1u);
  EXPECT_EQ(replies, 1u);
  EXPECT_EQ(walks, config_.active_view_size - 1);
  // A retried JOIN is confirmed again without new walks or events.
  m_.HandleFrame(now_, joiner, JoinFrame{});
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<JoinReplyFrame>(frames[0].frame));
  EXPECT_EQ(outbox_.events().size(), 2u);
}

TEST_F(SingleMembership, ForwardJoinWalk) {
  ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(1)));
  ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(2)));
  const PeerEntry joiner = EntryOf(50);
  // At ttl == PRWL: kept as a backup, and passed on to a peer other than
  // the sender.
  m_.HandleFrame(now_, EntryOf(1),
                 ForwardJoinFrame{joiner, config_.passive_random_walk_length});
  EXPECT_EQ(m_.passive_view(), std::vector<PeerEntry>{joiner});
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to, EntryOf(2).address);
  EXPECT_EQ(std::get<ForwardJoinFrame>(frames[0].frame).time_to_live,
            config_.passive_random_walk_length - 1);
  // At ttl 0 the walk ends: the joiner becomes active and is told so.
  m_.HandleFrame(now_, EntryOf(2), ForwardJoinFrame{joiner, 0});
  EXPECT_NE(m_.FindActive(joiner.id), nullptr);
  EXPECT_TRUE(m_.passive_view().empty());
  frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to, joiner.address);
  EXPECT_TRUE(std::holds_alternative<JoinReplyFrame>(frames[0].frame));
  // A walk announcing ourselves is dropped.
  m_.HandleFrame(now_, EntryOf(2), ForwardJoinFrame{EntryOf(0), 0});
  EXPECT_TRUE(TakeFrames().empty());
  EXPECT_EQ(m_.active_view().size(), 3u);
}

// The passive view stores IPv6 peers apart (core/passive_view.h): they come
// back exactly, in order, and a forgotten one's place is reused.
TEST_F(SingleMembership, PassiveViewKeepsEveryKindOfAddress) {
  std::array<uint8_t, 16> ip{0x20, 0x01, 0x0d, 0xb8};
  ip[15] = 1;
  const PeerEntry v6{IdOf(70), Address::Ipv6(ip, 4433)};
  ip[15] = 2;
  const PeerEntry other_v6{IdOf(71), Address::Ipv6(ip, 4434)};
  const PeerEntry v4{IdOf(72), Address::Ipv4({10, 0, 0, 7}, 7000)};
  const PeerEntry sim = EntryOf(73);
  ASSERT_TRUE(m_.WarmAddPassive(v6));
  ASSERT_TRUE(m_.WarmAddPassive(v4));
  ASSERT_TRUE(m_.WarmAddPassive(sim));
  EXPECT_EQ(m_.passive_view(), (std::vector<PeerEntry>{v6, v4, sim}));
  m_.DetectNodeFailure(now_, v6.id);
  ASSERT_TRUE(m_.WarmAddPassive(other_v6));
  EXPECT_EQ(m_.passive_view(), (std::vector<PeerEntry>{v4, sim, other_v6}));
  // A shuffle walk ending here is answered from the passive view, exactly.
  m_.HandleFrame(now_, EntryOf(1), ShuffleFrame{EntryOf(1), 0, {v6, sim}});
  const auto replies = FramesOfType(FrameType::kShuffleReply);
  ASSERT_EQ(replies.size(), 1u);
  std::vector<PeerEntry> sent =
      std::get<ShuffleReplyFrame>(replies[0].frame).peers;
  std::sort(sent.begin(), sent.end());
  std::vector<PeerEntry> held = {v4, sim, other_v6};
  std::sort(held.begin(), held.end());
  EXPECT_EQ(sent, held);
}

TEST_F(SingleMembership, DisconnectEvictedKeepsThePeerAsBackup) {
  const PeerEntry a = EntryOf(1), b = EntryOf(2), c = EntryOf(3);
  ASSERT_TRUE(m_.WarmAddActive(now_, a));
  ASSERT_TRUE(m_.WarmAddActive(now_, b));
  ASSERT_TRUE(m_.WarmAddPassive(c));
  m_.HandleFrame(now_, b, DisconnectFrame{DisconnectReason::kEvicted});
  EXPECT_EQ(m_.active_view(), std::vector<PeerEntry>{a});
  EXPECT_EQ(m_.passive_view(), (std::vector<PeerEntry>{c, b}));
  ASSERT_EQ(outbox_.events().size(), 1u);
  EXPECT_EQ(std::get<PeerDownEvent>(outbox_.events()[0]).cause,
            PeerDownCause::kEvicted);
  // Repair asks c, not b. With a still active and four slots free, it
  // asks c to split a link for us (a SWAP offering ourselves).
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to, c.address);
  EXPECT_EQ(std::get<SwapFrame>(frames[0].frame).offer, EntryOf(0));
  // c accepts (it had room: no partner): it becomes active and leaves the
  // passive view.
  m_.HandleFrame(now_, c, SwapReplyFrame{true, std::nullopt});
  EXPECT_NE(m_.FindActive(c.id), nullptr);
  EXPECT_EQ(m_.passive_view(), std::vector<PeerEntry>{b});
  // A leaving peer is forgotten altogether.
  m_.HandleFrame(now_, a, DisconnectFrame{DisconnectReason::kLeaving});
  EXPECT_EQ(m_.FindActive(a.id), nullptr);
  for (const PeerEntry& p : m_.passive_view()) EXPECT_NE(p.id, a.id);
  EXPECT_EQ(std::get<PeerDownEvent>(outbox_.events().back()).cause,
            PeerDownCause::kLeft);
}

TEST_F(SingleMembership, RefusalFromAnActivePeerDropsTheLink) {
  const PeerEntry a = EntryOf(1), b = EntryOf(2);
  ASSERT_TRUE(m_.WarmAddActive(now_, a));
  ASSERT_TRUE(m_.WarmAddActive(now_, b));
  // b answers a ping of ours with "you are not my neighbour".
  m_.HandleFrame(now_, b, NeighborReplyFrame{false});
  EXPECT_EQ(m_.active_view(), std::vector<PeerEntry>{a});
  EXPECT_EQ(m_.passive_view(), std::vector<PeerEntry>{b});  // kept as backup
  ASSERT_EQ(outbox_.events().size(), 1u);
  const auto& down = std::get<PeerDownEvent>(outbox_.events()[0]);
  EXPECT_EQ(down.peer, b);
  EXPECT_EQ(down.cause, PeerDownCause::kRejected);
  ASSERT_EQ(listener_.calls.size(), 3u);  // up a, up b, down b
  EXPECT_FALSE(listener_.calls[2].up);
  EXPECT_EQ(listener_.calls[2].cause, PeerDownCause::kRejected);
  EXPECT_EQ(counters_.peers_down, 1u);
  // Repair starts at once; b, who just refused, is not asked first.
  bool asked_b = false;
  for (const auto& f : TakeFrames()) {
    asked_b |=
        f.to == b.address && std::holds_alternative<NeighborFrame>(f.frame);
  }
  EXPECT_FALSE(asked_b);
}

// --- Isolation and rejoin --------------------------------------------------

TEST(MembershipTest, IsolatedPairRejoinsThroughContact) {
  Swarm s(2, MembershipConfig{}, /*seed=*/31);
  s.Join(1, 0);
  s.RunFor(Duration::Seconds(5));
  ASSERT_EQ(s.m(1).active_view().size(), 1u);
  s.Cut(1);
  s.RunFor(Duration::Seconds(10));
  // Both sides timed out; neither keeps the other as a backup.
  EXPECT_TRUE(s.m(0).active_view().empty());
  EXPECT_TRUE(s.m(1).active_view().empty());
  EXPECT_TRUE(s.m(1).passive_view().empty());
  ASSERT_FALSE(s.DownsOf(1, IdOf(0)).empty());
  EXPECT_EQ(s.DownsOf(1, IdOf(0)).back().cause, PeerDownCause::kTimeout);
  const uint64_t rejoins_cut = s.node(1).counters.rejoins;
  EXPECT_GE(rejoins_cut, 1u);                 // tried while cut off
  EXPECT_EQ(s.node(0).counters.rejoins, 0u);  // node 0 has no contact
  // Backoff: at most one JOIN per 1, 2, 4, 8 s... in the cut-off 7 s.
  EXPECT_LE(rejoins_cut, 3u);
  s.Heal(1);
  s.RunFor(Duration::Seconds(40));
  EXPECT_GT(s.node(1).counters.rejoins, rejoins_cut);
  ASSERT_EQ(s.m(1).active_view().size(), 1u);
  ASSERT_EQ(s.m(0).active_view().size(), 1u);
  EXPECT_EQ(s.m(1).active_view()[0], EntryOf(0));
  // Rejoined, and then quiet: no more JOINs once in.
  const uint64_t rejoins_in = s.node(1).counters.rejoins;
  s.RunFor(Duration::Seconds(60));
  EXPECT_EQ(s.node(1).counters.rejoins, rejoins_in);
}

TEST(MembershipTest, CutOffNodeComesBackIntoTheSwarm) {
  auto s =
      JoinedSwarm(20, /*seed=*/33, Duration::Millis(50), Duration::Seconds(30));
  const size_t k = 9;
  s->Cut(k);
  s->RunFor(Duration::Seconds(120));
  EXPECT_TRUE(s->m(k).active_view().empty());
  EXPECT_GE(s->node(k).counters.rejoins, 1u);
  for (size_t i = 0; i < s->size(); ++i) {
    if (i != k) {
      EXPECT_EQ(s->m(i).FindActive(IdOf(k)), nullptr);
    }
  }
  s->Heal(k);
  s->RunFor(Duration::Seconds(60));
  EXPECT_FALSE(s->m(k).active_view().empty());
  EXPECT_EQ(s->LastingAsymmetries(), 0u);
  EXPECT_TRUE(s->Connected());
}

// A node whose JOIN was lost, and through which another node joined before
// the retry, holds that joiner but is not in the overlay: it must keep
// retrying its JOIN until a JOIN_REPLY comes (an active view filled by
// joiners is no sign of having got in). Here node 1's JOIN to node 0 is
// lost and node 2 joins through node 1: without the retry, {1, 2} and {0}
// stay apart for good (no node of either side knows one of the other).
TEST(MembershipTest, LostJoinIsRetriedAfterAJoinerFillsTheView) {
  Swarm s(3, MembershipConfig{}, /*seed=*/47);
  s.Cut(0);
  s.Join(1, 0);
  s.RunFor(Duration::Millis(20));  // the JOIN is lost
  s.Heal(0);
  s.Join(2, 1);
  s.RunFor(Duration::Millis(100));
  ASSERT_NE(s.m(1).FindActive(IdOf(2)), nullptr);
  // Node 1, not in yet, handed its joiner to its contact as well.
  ASSERT_EQ(s.m(0).active_view(), std::vector<PeerEntry>{EntryOf(2)});
  s.RunFor(Duration::Seconds(30));
  EXPECT_GE(s.node(1).counters.rejoins, 1u);
  EXPECT_NE(s.m(0).FindActive(IdOf(1)), nullptr);
  EXPECT_EQ(s.LastingAsymmetries(), 0u);
  EXPECT_TRUE(s.Connected());
  // In, and then quiet: no more JOINs once one was answered.
  const uint64_t rejoins_in = s.node(1).counters.rejoins;
  s.RunFor(Duration::Seconds(60));
  EXPECT_EQ(s.node(1).counters.rejoins, rejoins_in);
}

// The failure node_crash_test once hit: a node joins late, and before any
// shuffle every node it knew crashed, its contact included. Its own views
// cannot help it, and the survivors, whose views are full, never ask a
// passive peer for a link. Here: nodes 0..5 form a full clique, node 0
// holds node 6 in its passive view, and node 6 knows only its dead contact,
// node 7. The survivors' one-hop shuffle to a passive peer reaches node 6.
TEST(MembershipTest, IsolatedNodeThatKnowsNoLiveNodeIsFound) {
  Swarm s(8, MembershipConfig{}, /*seed=*/43);
  for (size_t i = 0; i < 6; ++i) {
    for (size_t j = i + 1; j < 6; ++j) s.WarmLink(i, j);
  }
  s.WarmPassive(0, 6);
  s.Crash(7);
  s.Join(6, 7);
  s.RunFor(Duration::Seconds(45));  // the first shuffles come within 10 s
  EXPECT_FALSE(s.m(6).active_view().empty());
  EXPECT_GE(s.node(6).counters.rejoins, 1u);  // the dead contact was tried
  EXPECT_EQ(s.LastingAsymmetries(), 0u);
  EXPECT_TRUE(s.Connected());
}

// --- Link swaps --------------------------------------------------------------

// A full view asked to swap takes the sender and hands a random peer of its
// own over to the offer: DISCONNECT(swapped, offer) to it, the peer in the
// SWAP_REPLY. Degrees stay as they were.
TEST_F(SingleMembership, FullViewSwapHandsAPeerOverToTheOffer) {
  for (size_t i = 1; i <= 5; ++i)
    ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(i)));
  TakeFrames();
  // An offer we already hold cannot take one of our links: refused.
  m_.HandleFrame(now_, EntryOf(8), SwapFrame{EntryOf(3)});
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to, EntryOf(8).address);
  EXPECT_EQ(std::get<SwapReplyFrame>(frames[0].frame),
            (SwapReplyFrame{false, std::nullopt}));
  EXPECT_EQ(m_.FindActive(IdOf(8)), nullptr);

  m_.HandleFrame(now_, EntryOf(8), SwapFrame{EntryOf(9)});
  frames = TakeFrames();
  ASSERT_EQ(frames.size(), 2u);
  const auto& disconnect = std::get<DisconnectFrame>(frames[0].frame);
  EXPECT_EQ(disconnect.reason, DisconnectReason::kSwapped);
  EXPECT_EQ(disconnect.replacement, EntryOf(9));
  const uint32_t dropped = frames[0].to.sim_index();
  EXPECT_GE(dropped, 1u);
  EXPECT_LE(dropped, 5u);
  EXPECT_EQ(frames[1].to, EntryOf(8).address);
  EXPECT_EQ(std::get<SwapReplyFrame>(frames[1].frame),
            (SwapReplyFrame{true, EntryOf(dropped)}));
  EXPECT_EQ(m_.active_view().size(), 5u);
  EXPECT_NE(m_.FindActive(IdOf(8)), nullptr);
  EXPECT_EQ(m_.FindActive(IdOf(dropped)), nullptr);
  EXPECT_EQ(m_.passive_view(), std::vector<PeerEntry>{EntryOf(dropped)});
  // A repeated SWAP (our reply lost) is confirmed, nothing else changes.
  m_.HandleFrame(now_, EntryOf(8), SwapFrame{EntryOf(9)});
  frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(std::get<SwapReplyFrame>(frames[0].frame).accepted);
  EXPECT_EQ(m_.active_view().size(), 5u);
}

// The initiator: every swap period (backed off after each, and from the
// longest interval for a warm view) a full view offers one of its peers to
// a passive one; on acceptance that peer is dropped and told whom to link
// with instead.
TEST_F(SingleMembership, AcceptedSwapDropsTheOfferedPeerWithThePartner) {
  config_.swap_period = Duration::Millis(100);
  for (size_t i = 1; i <= 5; ++i)
    ASSERT_TRUE(m_.WarmAddActive(now_, EntryOf(i)));
  ASSERT_TRUE(m_.WarmAddPassive(EntryOf(8)));
  RunUntil(now_ + config_.swap_period * 16);
  std::vector<size_t> swaps;
  for (size_t k = 0; k < sent_.size(); ++k) {
    if (std::holds_alternative<SwapFrame>(sent_[k].frame)) swaps.push_back(k);
  }
  ASSERT_EQ(swaps.size(), 1u);  // one within the longest interval
  const Outbox::PendingFrame swap = sent_[swaps[0]];
  EXPECT_EQ(swap.to, EntryOf(8).address);
  const PeerEntry offer = std::get<SwapFrame>(swap.frame).offer;
  ASSERT_NE(m_.FindActive(offer.id), nullptr);
  EXPECT_EQ(counters_.swaps_sent, 1u);

  m_.HandleFrame(now_, EntryOf(8), SwapReplyFrame{true, EntryOf(9)});
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].to, offer.address);
  EXPECT_EQ(std::get<DisconnectFrame>(frames[0].frame),
            (DisconnectFrame{DisconnectReason::kSwapped, EntryOf(9)}));
  EXPECT_EQ(m_.active_view().size(), 5u);
  EXPECT_NE(m_.FindActive(IdOf(8)), nullptr);
  EXPECT_EQ(m_.FindActive(offer.id), nullptr);
  EXPECT_EQ(m_.passive_view(), std::vector<PeerEntry>{offer});
  EXPECT_EQ(counters_.swaps_accepted, 1u);
  // A second reply answers nothing we asked.
  m_.HandleFrame(now_, EntryOf(8), SwapReplyFrame{true, std::nullopt});
  EXPECT_EQ(counters_.unknown_sender_frames, 1u);
}

// Dropped by a swap, a node asks the replacement before any passive peer.
TEST_F(SingleMembership, SwappedDisconnectAsksTheReplacementFirst) {
  WarmFullView(&m_);
  m_.HandleFrame(now_, EntryOf(2),
                 DisconnectFrame{DisconnectReason::kSwapped, EntryOf(9)});
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);  // one slot free: one request
  EXPECT_EQ(frames[0].to, EntryOf(9).address);
  EXPECT_FALSE(std::get<NeighborFrame>(frames[0].frame).high_priority);
  m_.HandleFrame(now_, EntryOf(9), NeighborReplyFrame{true});
  EXPECT_NE(m_.FindActive(IdOf(9)), nullptr);
  EXPECT_EQ(m_.active_view().size(), 5u);
}

// A swap whose two handed-over peers were already linked leaves both one
// short, each told to link with a peer it holds. The smaller id offers the
// other to a full view in a SWAP; accepted, it is full again and keeps the
// peer it offered. The larger id only repairs as usual.
TEST_F(SingleMembership, SwapOfLinkedPeersIsMendedByTheSmallerId) {
  WarmFullView(&m_);
  // Peer 2 swapped us away for peer 3, which we already hold.
  m_.HandleFrame(now_, EntryOf(2),
                 DisconnectFrame{DisconnectReason::kSwapped, EntryOf(3)});
  auto frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);  // one slot free: one request
  EXPECT_EQ(frames[0].to, EntryOf(6).address);
  EXPECT_EQ(std::get<SwapFrame>(frames[0].frame).offer, EntryOf(3));
  EXPECT_EQ(counters_.swaps_sent, 1u);
  // Peer 6, full, took us and handed its peer 7 over to peer 3.
  m_.HandleFrame(now_, EntryOf(6), SwapReplyFrame{true, EntryOf(7)});
  EXPECT_TRUE(TakeFrames().empty());  // nobody dropped
  EXPECT_EQ(m_.active_view().size(), 5u);
  EXPECT_NE(m_.FindActive(IdOf(3)), nullptr);
  EXPECT_NE(m_.FindActive(IdOf(6)), nullptr);
  EXPECT_EQ(counters_.swaps_accepted, 1u);

  // The larger id of such a pair: a plain NEIGHBOR to a passive peer.
  EngineCounters counters;
  Membership larger(config_, EntryOf(20), &rng_, &outbox_, &counters,
                    &listener_);
  WarmFullView(&larger);
  larger.HandleFrame(now_, EntryOf(2),
                     DisconnectFrame{DisconnectReason::kSwapped, EntryOf(3)});
  frames = TakeFrames();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(std::holds_alternative<NeighborFrame>(frames[0].frame));
  EXPECT_EQ(counters.swaps_sent, 0u);
}

// A short node whose passive view ran dry rejoins through a contact it does
// not hold; while its only contact is an active peer it does not.
TEST_F(SingleMembership, StrandedShortViewRejoinsThroughAContact) {
  const PeerEntry contact = EntryOf(1), peer = EntryOf(2);
  m_.Join(now_, contact.address);
  m_.HandleFrame(now_, contact, JoinReplyFrame{});
  ASSERT_TRUE(m_.WarmAddActive(now_, peer));
  RunHearingPeers(Duration::Seconds(60));
  EXPECT_EQ(counters_.rejoins, 0u);  // the contact is held
  // Evicted by the contact, which then ignores our NEIGHBOR requests until
  // it has left the passive view: nobody is left to ask.
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  sent_.clear();
  RunHearingPeers(Duration::Seconds(10));
  EXPECT_TRUE(m_.passive_view().empty());
  EXPECT_EQ(m_.active_view(), std::vector<PeerEntry>{peer});
  EXPECT_GE(counters_.rejoins, 1u);
  bool joined = false;
  for (const auto& f : sent_) {
    joined |=
        f.to == contact.address && std::holds_alternative<JoinFrame>(f.frame);
  }
  EXPECT_TRUE(joined);
}

// A node whose own datagrams are all lost (a burst on its uplink) hears
// nothing back: its peers time out and its NEIGHBOR requests go
// unanswered. It forgets at most kMaxUnprovenBlames of them and keeps the
// rest as candidates, so that it can get back once its uplink works; a
// reply (proof that it does) lets it forget the silent again.
TEST_F(SingleMembership, SilentUplinkForgetsAtMostABoundOfPeers) {
  WarmFullView(&m_);  // peers 1-5 active, 6 passive
  for (size_t i = 7; i <= 12; ++i) ASSERT_TRUE(m_.WarmAddPassive(EntryOf(i)));
  const size_t known = 12;
  RunUntil(now_ + Duration::Seconds(120));  // nothing ever comes back
  EXPECT_TRUE(m_.active_view().empty());
  EXPECT_EQ(m_.passive_view().size(), known - Membership::kMaxUnprovenBlames);
  EXPECT_GT(counters_.peers_spared, 0u);
  // Requests keep going out to the spared candidates.
  size_t requests = 0;
  for (const auto& f : sent_) {
    requests += std::holds_alternative<NeighborFrame>(f.frame);
  }
  EXPECT_GE(requests, known);

  // The uplink works again: the next candidate asked accepts.
  sent_.clear();
  RunUntil(now_ + Duration::Seconds(30));
  const Outbox::PendingFrame* request = nullptr;
  for (const auto& f : sent_) {
    if (std::holds_alternative<NeighborFrame>(f.frame)) request = &f;
  }
  ASSERT_NE(request, nullptr);
  std::optional<PeerEntry> asked;
  for (const PeerEntry& p : m_.passive_view()) {
    if (p.address == request->to) asked = p;
  }
  ASSERT_TRUE(asked.has_value());
  const PeerEntry accepting = *asked;
  m_.HandleFrame(now_, accepting, NeighborReplyFrame{true});
  EXPECT_EQ(m_.active_view(), std::vector<PeerEntry>{accepting});
  // With that proof, silent candidates are forgotten again (up to the
  // bound), while the view stays short and keeps asking.
  const size_t before = m_.passive_view().size();
  RunHearingPeers(Duration::Seconds(60));
  EXPECT_EQ(m_.passive_view().size(), before - Membership::kMaxUnprovenBlames);
}

// A full view with no passive peer cannot swap and is never short, so a
// group of such nodes holding only each other is closed for good: when a
// shuffle finds the passive view empty and the reply brings nobody, the
// node re-sends JOIN to a contact it does not hold (never a JOIN walk).
TEST_F(SingleMembership, FullViewWithEmptyPassiveViewRejoinsThroughAContact) {
  const PeerEntry contact = EntryOf(9);
  m_.Join(now_, contact.address);
  m_.HandleFrame(now_, contact, JoinReplyFrame{});
  // The contact evicts us (it becomes a passive peer, then leaves the view
  // as an unanswered candidate); five others fill the view.
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  for (size_t i = 1; i <= 5; ++i) {
    m_.HandleFrame(now_, EntryOf(i), JoinReplyFrame{});
  }
  ASSERT_EQ(m_.active_view().size(), 5u);
  TakeFrames();
  sent_.clear();
  RunHearingPeers(Duration::Seconds(60));
  ASSERT_TRUE(m_.passive_view().empty());
  EXPECT_EQ(m_.active_view().size(), 5u);
  bool joined = false, walked = false;
  for (const auto& f : sent_) {
    joined |=
        f.to == contact.address && std::holds_alternative<JoinFrame>(f.frame);
    walked |= std::holds_alternative<ForwardJoinFrame>(f.frame);
  }
  EXPECT_TRUE(joined);
  EXPECT_FALSE(walked);
  EXPECT_GE(counters_.rejoins, 1u);
}

// Whether `frames` hold a JOIN to `to`, and a FORWARD_JOIN handing
// `joiner` to `to` (time_to_live 0, so that it takes the joiner).
bool SendsJoin(const std::vector<Outbox::PendingFrame>& frames,
               const Address& to) {
  return std::any_of(frames.begin(), frames.end(), [&](const auto& f) {
    return f.to == to && std::holds_alternative<JoinFrame>(f.frame);
  });
}
bool HandsOver(const std::vector<Outbox::PendingFrame>& frames,
               const Address& to, const PeerEntry& joiner) {
  return std::any_of(frames.begin(), frames.end(), [&](const auto& f) {
    const auto* walk = std::get_if<ForwardJoinFrame>(&f.frame);
    return f.to == to && walk != nullptr && walk->joiner == joiner &&
           walk->time_to_live == 0;
  });
}

// The lone join link rule's tests: they join through `contact`.
class LoneJoinLink : public SingleMembership {
 protected:
  const PeerEntry contact = EntryOf(9);
  // Joins through the contact, which answers: our one join link so far.
  void JoinGettingTheContactsLinkOnly() {
    m_.Join(now_, contact.address);
    TakeFrames();  // its JOIN
    m_.HandleFrame(now_, contact, JoinReplyFrame{});
  }
};

// A lone join link: only the contact answered our JOIN (its walks were
// lost), a node joined through us, and the contact evicted us soon after.
// What we hold leads back to us, so the JOIN is sent again at once, and a
// joiner arriving before its answer is handed to the contact. Once the
// JOIN got us a second link, losing the contact's changes nothing.
TEST_F(LoneJoinLink, LostWhileNodesJoinThroughUsJoinsAgain) {
  JoinGettingTheContactsLinkOnly();
  m_.HandleFrame(now_, EntryOf(1), JoinFrame{});
  EXPECT_FALSE(SendsJoin(TakeFrames(), contact.address));
  now_ = now_ + Duration::Millis(300);
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  EXPECT_TRUE(SendsJoin(TakeFrames(), contact.address));
  EXPECT_EQ(counters_.joins_repeated, 1u);
  m_.HandleFrame(now_, EntryOf(2), JoinFrame{});
  EXPECT_TRUE(HandsOver(TakeFrames(), contact.address, EntryOf(2)));

  // The contact and a walk's end answer; the contact evicts us again.
  m_.HandleFrame(now_, contact, JoinReplyFrame{});
  m_.HandleFrame(now_, EntryOf(3), JoinReplyFrame{});
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  m_.HandleFrame(now_, EntryOf(4), JoinFrame{});
  EXPECT_FALSE(SendsJoin(TakeFrames(), contact.address));
  // Nor a retry a rejoin delay later: the JOIN was answered.
  sent_.clear();
  RunHearingPeers(Duration::Millis(1100));
  EXPECT_FALSE(SendsJoin(sent_, contact.address));
  EXPECT_EQ(counters_.joins_repeated, 1u);
  EXPECT_EQ(counters_.rejoins, 0u);
}

// The other order: the contact evicts us first, a node joins through us
// later (within shuffle_period of Join()): the JOIN goes out again then,
// and that joiner is handed to the contact too.
TEST_F(LoneJoinLink, LostThenANodeJoinsThroughUsJoinsAgain) {
  JoinGettingTheContactsLinkOnly();
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  EXPECT_FALSE(SendsJoin(TakeFrames(), contact.address));
  now_ = now_ + Duration::Millis(400);
  m_.HandleFrame(now_, EntryOf(1), JoinFrame{});
  const auto frames = TakeFrames();
  EXPECT_TRUE(SendsJoin(frames, contact.address));
  EXPECT_TRUE(HandsOver(frames, contact.address, EntryOf(1)));
  EXPECT_EQ(counters_.joins_repeated, 1u);
}

// Not when a walk's end answered too (the JOIN got two links), nor when
// the lost link is back or nobody joins through us before the watch
// (shuffle_period after Join()) ends.
TEST_F(LoneJoinLink, RuleNeedsOneLinkLostAndAJoiner) {
  JoinGettingTheContactsLinkOnly();
  m_.HandleFrame(now_, EntryOf(5), JoinReplyFrame{});  // a walk's end
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  m_.HandleFrame(now_, EntryOf(1), JoinFrame{});
  EXPECT_FALSE(SendsJoin(TakeFrames(), contact.address));

  // Joined again (a new watch): the contact's link only, lost and taken
  // back (it accepted our NEIGHBOR) before a node joins through us.
  JoinGettingTheContactsLinkOnly();
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  m_.HandleFrame(now_, contact, NeighborFrame{false});
  ASSERT_NE(m_.FindActive(contact.id), nullptr);
  m_.HandleFrame(now_, EntryOf(2), JoinFrame{});
  EXPECT_FALSE(SendsJoin(TakeFrames(), contact.address));

  // Once more, and the joiner comes after the watch.
  JoinGettingTheContactsLinkOnly();
  now_ = now_ + config_.shuffle_period;
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  m_.HandleFrame(now_, EntryOf(3), JoinFrame{});
  EXPECT_FALSE(SendsJoin(TakeFrames(), contact.address));
  EXPECT_EQ(counters_.joins_repeated, 0u);
}

// At most once per Join(), even when the repeated JOIN again got
// only the contact's link and loses it again.
TEST_F(LoneJoinLink, RepeatsOncePerJoin) {
  JoinGettingTheContactsLinkOnly();
  m_.HandleFrame(now_, EntryOf(1), JoinFrame{});
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  ASSERT_TRUE(SendsJoin(TakeFrames(), contact.address));
  m_.HandleFrame(now_, contact, JoinReplyFrame{});  // only the contact again
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  m_.HandleFrame(now_, EntryOf(2), JoinFrame{});
  EXPECT_FALSE(SendsJoin(TakeFrames(), contact.address));
  EXPECT_EQ(counters_.joins_repeated, 1u);
}

// A second JOIN_REPLY from the same peer (the answer to a retried
// JOIN) is not a second link.
TEST_F(LoneJoinLink, DuplicateJoinReplyIsNotASecondLink) {
  JoinGettingTheContactsLinkOnly();
  m_.HandleFrame(now_, contact, JoinReplyFrame{});
  m_.HandleFrame(now_, EntryOf(1), JoinFrame{});
  m_.HandleFrame(now_, contact, DisconnectFrame{DisconnectReason::kEvicted});
  EXPECT_TRUE(SendsJoin(TakeFrames(), contact.address));
  EXPECT_EQ(counters_.joins_repeated, 1u);
}

// A JOIN that gets no answer (the contact left before it arrived) is
// retried through the next contact the node was given (AddContact), not
// the same one again.
TEST_F(SingleMembership, UnansweredJoinRetriesThroughAnotherContact) {
  const PeerEntry gone = EntryOf(1), spare = EntryOf(2);
  m_.AddContact(spare.address);
  m_.Join(now_, gone.address);
  auto joins = FramesOfType(FrameType::kJoin);
  ASSERT_EQ(joins.size(), 1u);
  EXPECT_EQ(joins[0].to, gone.address);
  RunUntil(now_ + Duration::Millis(1100));
  std::vector<Address> joined;
  for (const auto& f : sent_) {
    if (std::holds_alternative<JoinFrame>(f.frame)) joined.push_back(f.to);
  }
  ASSERT_FALSE(joined.empty());
  EXPECT_EQ(joined[0], spare.address);
  EXPECT_EQ(counters_.rejoins, 1u);
}

// Two islands of full views (two 6-cliques) that know of each other only
// through passive views: HyParView alone never merges them, link swaps do,
// and every view stays full.
std::unique_ptr<Swarm> TwoFullIslands(const MembershipConfig& config) {
  auto s = std::make_unique<Swarm>(12, config, /*seed=*/53);
  for (size_t base : {0, 6}) {
    for (size_t i = base; i < base + 6; ++i) {
      for (size_t j = i + 1; j < base + 6; ++j) s->WarmLink(i, j);
    }
  }
  for (size_t i = 0; i < 6; ++i) {
    s->WarmPassive(i, 6 + (i + 1) % 6);
    s->WarmPassive(6 + i, (i + 2) % 6);
  }
  return s;
}

TEST(MembershipTest, LinkSwapsMergeIslandsOfFullViews) {
  MembershipConfig config;
  config.swap_period = Duration::Zero();
  auto apart = TwoFullIslands(config);
  apart->RunFor(Duration::Seconds(600));
  EXPECT_FALSE(apart->Connected());
  EXPECT_EQ(apart->Sum(&EngineCounters::swaps_sent), 0u);

  auto s = TwoFullIslands(MembershipConfig{});
  s->RunFor(Duration::Seconds(600));  // warm views swap within 16 periods
  EXPECT_TRUE(s->Connected());
  EXPECT_GE(s->Sum(&EngineCounters::swaps_accepted), 1u);
  EXPECT_EQ(s->LastingAsymmetries(), 0u);
  // A swap whose two dropped peers were already linked leaves both one
  // short until one more swap mends it (SwapOfLinkedPeersIsMendedBy-
  // TheSmallerId), and a swap in flight leaves a node one short for a
  // round trip; none loses more.
  for (size_t i = 0; i < s->size(); ++i) {
    EXPECT_GE(s->m(i).active_view().size(), 4u) << "node " << i;
  }
}

// Two nodes holding only each other, one of them knowing a node of a full
// clique: full views refuse NEIGHBOR requests, but a SWAP offering the
// asker itself splits one of their links, and nobody loses a peer.
TEST(MembershipTest, ShortNodeSplitsALinkOfAFullView) {
  MembershipConfig config;
  config.swap_period = Duration::Zero();  // splits only
  Swarm s(8, config, /*seed=*/59);
  for (size_t i = 0; i < 6; ++i) {
    for (size_t j = i + 1; j < 6; ++j) s.WarmLink(i, j);
  }
  s.WarmLink(6, 7);
  s.WarmPassive(6, 0);
  s.RunFor(Duration::Seconds(30));
  EXPECT_TRUE(s.Connected());
  EXPECT_GE(s.Sum(&EngineCounters::swaps_accepted), 1u);
  EXPECT_EQ(s.LastingAsymmetries(), 0u);
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_GE(s.m(i).active_view().size(), 4u) << "node " << i;
  }
  EXPECT_GE(s.m(6).active_view().size(), 3u);
}

// --- Memory ----------------------------------------------------------------

TEST(MembershipTest, StateBytesAtSteadyState) {
  auto s = JoinedSwarm(50, /*seed=*/41, Duration::Millis(50),
                       Duration::Seconds(120));
  size_t max_bytes = 0, total = 0;
  for (size_t i = 0; i < s->size(); ++i) {
    const size_t bytes = s->m(i).StateBytes();
    max_bytes = std::max(max_bytes, bytes);
    total += bytes;
    // At least the object (the active view is inline) and the reserved
    // passive view are counted.
    EXPECT_GE(bytes, sizeof(Membership) + PassiveView(30).HeapBytes());
  }
  std::printf(
      "Membership StateBytes (views 5/30): max %zu, mean %zu, sizeof %zu\n",
      max_bytes, total / s->size(), sizeof(Membership));
  EXPECT_LE(max_bytes, 2048u);
}

}  // namespace
}  // namespace elara
