// File: core/test_tools/engine_harness.h
//
// A tiny in-process network for Engine tests: N engines with sim addresses,
// a fake clock, and datagrams carried by hand (real encoded bytes, so the
// codec is exercised too). Delivery is in send order after a fixed latency;
// tests may drop datagrams by a rule, crash nodes, and partition them.
// It is deliberately simple; the real simulator lives in sim/.
//
// Thread-safety: single-threaded test helper.
#ifndef ELARA_CORE_TEST_TOOLS_ENGINE_HARNESS_H_
#define ELARA_CORE_TEST_TOOLS_ENGINE_HARNESS_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <vector>

#include "core/engine.h"

namespace elara::test {

class EngineHarness {
 public:
  struct InFlight {
    Timestamp arrival;
    uint64_t sequence;  // tie-break: send order
    uint32_t from;
    uint32_t to;
    std::vector<uint8_t> bytes;
  };
  // Returns true to drop the datagram.
  using DropRule = std::function<bool(const InFlight&)>;

  EngineHarness(size_t nodes, const DiffusionConfig& config, uint64_t seed,
                Duration latency = Duration::Millis(5));

  Engine& engine(size_t i) { return *engines_[i]; }
  size_t size() const { return engines_.size(); }
  Timestamp now() const { return now_; }
  static NodeId IdOf(size_t i) { return NodeId(0x1000 + i); }

  // Node i joins through node `contact` at the current time.
  void Join(size_t i, size_t contact);
  // Runs until `until` (datagrams, timeouts, in time order).
  void RunUntil(Timestamp until);
  void RunFor(Duration d) { RunUntil(now_ + d); }
  // A crashed node receives nothing, sends nothing, runs no timers.
  void Crash(size_t i) { crashed_.insert(i); }
  bool crashed(size_t i) const { return crashed_.count(i) > 0; }
  void set_drop_rule(DropRule rule) { drop_rule_ = std::move(rule); }
  // Injects raw bytes as a datagram from `from_address` to node `to`.
  void Inject(size_t to, const Address& from_address,
              std::vector<uint8_t> bytes);

  // Delivered events seen per node, and all peer up/down events.
  const std::vector<DeliveredEvent>& delivered(size_t i) const {
    return delivered_[i];
  }
  const std::vector<PeerDownEvent>& peer_downs(size_t i) const {
    return peer_downs_[i];
  }
  uint64_t datagrams_dropped() const { return dropped_; }
  // True when the active views of the live nodes form one connected graph.
  bool Connected() const;
  // Sum of a counter over all nodes.
  uint64_t Sum(uint64_t EngineCounters::*field) const;

 private:
  void Drain(size_t i);
  uint32_t IndexOf(const Address& a) const { return a.sim_index(); }

  Timestamp now_ = Timestamp::FromMicros(1'000'000);
  Duration latency_;
  std::vector<std::unique_ptr<Engine>> engines_;
  std::multimap<std::pair<Timestamp, uint64_t>, InFlight> in_flight_;
  uint64_t next_sequence_ = 0;
  std::set<size_t> crashed_;
  DropRule drop_rule_;
  uint64_t dropped_ = 0;
  std::vector<std::vector<DeliveredEvent>> delivered_;
  std::vector<std::vector<PeerDownEvent>> peer_downs_;
};

}  // namespace elara::test

#endif  // ELARA_CORE_TEST_TOOLS_ENGINE_HARNESS_H_
