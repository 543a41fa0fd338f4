// File: core/test_tools/state_sync_harness.h
//
// A small in-process network of StateSync instances for tests and
// benchmarks: each node has a fake StateRouting (its active peers are the
// links the test sets; in hybrid mode every active peer is eager), frames
// are packed into real datagrams per destination (as Engine::Flush does),
// carried after a fixed latency and decoded at the receiver, so codec and
// byte counts are real. Tests may drop datagrams by rule (partitions),
// skew a node's clock, and read per-round byte totals.
//
// Thread-safety: single-threaded test helper.
#ifndef ELARA_CORE_TEST_TOOLS_STATE_SYNC_HARNESS_H_
#define ELARA_CORE_TEST_TOOLS_STATE_SYNC_HARNESS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "core/engine.h"
#include "core/outbox.h"
#include "core/state_sync.h"

namespace elara::test {

class StateSyncHarness {
 public:
  // Returns true to drop a datagram from `from` to `to`.
  using DropRule = std::function<bool(size_t from, size_t to)>;
  // Returns true to drop one frame before it is packed.
  using FrameFilter =
      std::function<bool(size_t from, size_t to, const Frame& frame)>;

  StateSyncHarness(size_t nodes, const StateConfig& config, uint64_t seed,
                   BroadcastMode mode = BroadcastMode::kHybrid,
                   size_t max_datagram_bytes = kDefaultMaxDatagramBytes,
                   Duration latency = Duration::Millis(5));
  ~StateSyncHarness();

  StateSync& node(size_t i) { return *nodes_[i]->sync; }
  size_t size() const { return nodes_.size(); }
  Timestamp now() const { return now_; }
  static NodeId IdOf(size_t i) { return NodeId(0x1000 + i); }
  static Address AddressOf(size_t i) {
    return Address::Sim(static_cast<uint32_t>(i));
  }

  // Active links (symmetric).
  void Link(size_t a, size_t b);
  void Unlink(size_t a, size_t b);
  void LinkRing();
  void LinkRandom(size_t degree, uint64_t seed);  // plus a ring: connected
  void set_mode(BroadcastMode mode) { mode_ = mode; }
  void set_drop_rule(DropRule rule) { drop_rule_ = std::move(rule); }
  void set_frame_filter(FrameFilter filter) {
    frame_filter_ = std::move(filter);
  }

  // Runs one command (or anything) on node i at the current time, then
  // sends what it queued.
  void Run(size_t i, const std::function<void(StateSync&)>& command);
  // Installs records in node i as if received (no events kept, nothing
  // relayed further than node i's own reaction).
  void Install(size_t i, const std::vector<StateRecord>& records);

  void RunUntil(Timestamp until);
  void RunFor(Duration d) { RunUntil(now_ + d); }
  // Runs until every node's digest is equal (true) or `limit` passes.
  bool RunUntilConverged(Duration limit, Duration step = Duration::Millis(50));
  bool Converged() const;

  // Bytes of all datagrams sent, and of those carrying anti-entropy.
  uint64_t bytes_sent() const { return bytes_sent_; }
  uint64_t datagrams_sent() const { return datagrams_sent_; }
  // Per anti-entropy round (by round id): frame bytes plus a datagram
  // header per frame, both directions (the protocol's own accounting).
  const std::map<uint32_t, uint64_t>& round_bytes() const {
    return round_bytes_;
  }
  const std::vector<StateChangedEvent>& events(size_t i) const {
    return nodes_[i]->events;
  }
  EngineCounters& counters(size_t i) { return nodes_[i]->counters; }
  uint64_t Sum(uint64_t EngineCounters::*field) const;

 private:
  struct Node {
    Outbox outbox;
    EngineCounters counters;
    std::unique_ptr<StateRouting> routing;
    std::unique_ptr<StateSync> sync;
    std::set<size_t> links;
    std::vector<StateChangedEvent> events;
  };
  class Routing;

  void Flush(size_t i);
  void Deliver(size_t from, size_t to, const std::vector<uint8_t>& bytes);

  Timestamp now_ = Timestamp::FromMicros(1'000'000'000);
  Duration latency_;
  size_t max_datagram_bytes_;
  BroadcastMode mode_;
  std::vector<std::unique_ptr<Node>> nodes_;
  struct InFlight {
    size_t from;
    size_t to;
    std::vector<uint8_t> bytes;
  };
  std::multimap<std::pair<Timestamp, uint64_t>, InFlight> in_flight_;
  uint64_t next_sequence_ = 0;
  DropRule drop_rule_;
  FrameFilter frame_filter_;
  uint64_t bytes_sent_ = 0;
  uint64_t datagrams_sent_ = 0;
  std::map<uint32_t, uint64_t> round_bytes_;
};

// Anti-entropy between two nodes that share `keys` keys written 15 minutes
// ago, of which `newer_a` are newer on node 0 and `newer_b` newer on node 1
// (written in the last minute), and `only_a` exist on node 0 only. Nothing
// else happens: the bytes are those of anti-entropy until the digests agree.
struct ReconciliationCost {
  bool converged = false;
  uint64_t bytes = 0;            // every datagram, both directions
  uint64_t differing_bytes = 0;  // encoded size of the differing entries
  uint64_t differing_keys = 0;
  uint64_t max_round_bytes = 0;
  size_t rounds = 0;
  Duration elapsed;
};
ReconciliationCost MeasureReconciliation(size_t keys, size_t newer_a,
                                         size_t newer_b, size_t only_a,
                                         const StateConfig& config,
                                         uint64_t seed, size_t value_bytes = 8);

}  // namespace elara::test

#endif  // ELARA_CORE_TEST_TOOLS_STATE_SYNC_HARNESS_H_
