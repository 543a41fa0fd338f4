#include "core/test_tools/state_sync_harness.h"

#include <algorithm>
#include <variant>

#include "core/random.h"

namespace elara::test {

class StateSyncHarness::Routing : public StateRouting {
 public:
  Routing(StateSyncHarness* h, size_t self) : h_(h), self_(self) {}
  BroadcastMode StateMode() const override { return h_->mode_; }
  std::vector<PeerEntry> StateActivePeers() const override {
    std::vector<PeerEntry> peers;
    for (size_t j : h_->nodes_[self_]->links) {
      peers.push_back(PeerEntry{IdOf(j), AddressOf(j)});
    }
    return peers;  // ids grow with indices: sorted
  }
  std::vector<NodeId> StateEagerPeers() const override {
    std::vector<NodeId> ids;
    for (size_t j : h_->nodes_[self_]->links) ids.push_back(IdOf(j));
    return ids;
  }
  size_t StatePushFanout() const override { return 3; }

 private:
  StateSyncHarness* h_;
  size_t self_;
};

StateSyncHarness::StateSyncHarness(size_t nodes, const StateConfig& config,
                                   uint64_t seed, BroadcastMode mode,
                                   size_t max_datagram_bytes, Duration latency)
    : latency_(latency), max_datagram_bytes_(max_datagram_bytes), mode_(mode) {
  Random seeds(seed);
  for (size_t i = 0; i < nodes; ++i) {
    auto node = std::make_unique<Node>();
    node->routing = std::make_unique<Routing>(this, i);
    node->sync = std::make_unique<StateSync>(
        config, IdOf(i), max_datagram_bytes, seeds.DeriveSeed(), &node->outbox,
        &node->counters, node->routing.get());
    nodes_.push_back(std::move(node));
  }
}

StateSyncHarness::~StateSyncHarness() = default;

void StateSyncHarness::Link(size_t a, size_t b) {
  if (a == b) return;
  nodes_[a]->links.insert(b);
  nodes_[b]->links.insert(a);
}

void StateSyncHarness::Unlink(size_t a, size_t b) {
  nodes_[a]->links.erase(b);
  nodes_[b]->links.erase(a);
}

void StateSyncHarness::LinkRing() {
  for (size_t i = 0; i < size(); ++i) Link(i, (i + 1) % size());
}

void StateSyncHarness::LinkRandom(size_t degree, uint64_t seed) {
  LinkRing();
  Random rng(seed);
  for (size_t i = 0; i < size(); ++i) {
    while (nodes_[i]->links.size() < degree) {
      Link(i, rng.UniformBelow(size()));
    }
  }
}

namespace {

// The anti-entropy round a frame belongs to (0: none).
uint32_t RoundOf(const Frame& frame) {
  return std::visit(
      [](const auto& f) -> uint32_t {
        if constexpr (requires { f.round; }) {
          return f.round;
        } else {
          return 0;
        }
      },
      frame);
}

}  // namespace

void StateSyncHarness::Flush(size_t i) {
  Node& node = *nodes_[i];
  std::vector<std::pair<Address, DatagramBuilder>> open;
  auto finish = [&](DatagramBuilder* builder, const Address& to) {
    if (builder->frame_count() == 0) return;
    std::vector<uint8_t> bytes = builder->Finish();
    bytes_sent_ += bytes.size();
    ++datagrams_sent_;
    const size_t dest = to.sim_index();
    if (dest >= nodes_.size() || (drop_rule_ && drop_rule_(i, dest))) return;
    in_flight_.emplace(std::make_pair(now_ + latency_, next_sequence_++),
                       InFlight{i, dest, std::move(bytes)});
  };
  for (Outbox::PendingFrame& item : node.outbox.pending()) {
    if (frame_filter_ && frame_filter_(i, item.to.sim_index(), item.frame)) {
      continue;
    }
    if (const uint32_t round = RoundOf(item.frame); round != 0) {
      round_bytes_[round] +=
          EncodedFrameBytes(item.frame) + kDatagramHeaderBytes;
    }
    auto it = std::find_if(open.begin(), open.end(),
                           [&](const auto& e) { return e.first == item.to; });
    if (it == open.end()) {
      open.emplace_back(item.to, DatagramBuilder(IdOf(i), max_datagram_bytes_));
      it = open.end() - 1;
    }
    WireError error = it->second.Add(item.frame);
    if (error == WireError::kTooLarge && it->second.frame_count() > 0) {
      finish(&it->second, it->first);
      error = it->second.Add(item.frame);
    }
    if (error != WireError::kOk) ++node.counters.frames_too_large;
  }
  for (auto& [to, builder] : open) finish(&builder, to);
  node.outbox.pending().clear();
  for (EngineEvent& event : node.outbox.events()) {
    if (auto* changed = std::get_if<StateChangedEvent>(&event)) {
      node.events.push_back(std::move(*changed));
    }
  }
  node.outbox.events().clear();
  node.sync->ReleaseSent();
}

void StateSyncHarness::Run(size_t i,
                           const std::function<void(StateSync&)>& command) {
  command(node(i));
  Flush(i);
}

void StateSyncHarness::Install(size_t i,
                               const std::vector<StateRecord>& records) {
  const PeerEntry installer{NodeId(0xfeed), Address::Sim(0xfffffff0)};
  for (size_t k = 0; k < records.size(); k += kMaxListEntries) {
    StateDeltaFrame delta{0, false, 0, {}};
    delta.records.assign(
        records.begin() + k,
        records.begin() + std::min(records.size(), k + kMaxListEntries));
    node(i).HandleFrame(now_, installer, delta);
  }
  nodes_[i]->outbox.pending().clear();
  nodes_[i]->outbox.events().clear();
  nodes_[i]->counters = EngineCounters();
  node(i).ReleaseSent();
}

void StateSyncHarness::Deliver(size_t from, size_t to,
                               const std::vector<uint8_t>& bytes) {
  DecodedDatagram decoded;
  if (DecodeDatagram(bytes, &decoded) != WireError::kOk) {
    ++nodes_[to]->counters.bad_datagrams;
    return;
  }
  const PeerEntry sender{decoded.sender, AddressOf(from)};
  for (const Frame& frame : decoded.frames) {
    node(to).HandleFrame(now_, sender, frame);
  }
  Flush(to);
}

void StateSyncHarness::RunUntil(Timestamp until) {
  while (true) {
    Timestamp next = Timestamp::Infinite();
    size_t timer_node = nodes_.size();
    for (size_t i = 0; i < nodes_.size(); ++i) {
      const Timestamp t = node(i).NextTimeout();
      if (t < next) {
        next = t;
        timer_node = i;
      }
    }
    const bool packet_first =
        !in_flight_.empty() && in_flight_.begin()->first.first <= next;
    if (packet_first) next = in_flight_.begin()->first.first;
    if (next > until) break;
    now_ = std::max(now_, next);
    if (packet_first) {
      InFlight f = std::move(in_flight_.begin()->second);
      in_flight_.erase(in_flight_.begin());
      Deliver(f.from, f.to, f.bytes);
    } else {
      node(timer_node).HandleTimeout(now_);
      Flush(timer_node);
    }
  }
  now_ = std::max(now_, until);
}

bool StateSyncHarness::Converged() const {
  for (size_t i = 1; i < nodes_.size(); ++i) {
    if (nodes_[i]->sync->store().Digest() !=
        nodes_[0]->sync->store().Digest()) {
      return false;
    }
  }
  return true;
}

bool StateSyncHarness::RunUntilConverged(Duration limit, Duration step) {
  const Timestamp deadline = now_ + limit;
  while (now_ < deadline) {
    if (Converged()) return true;
    RunFor(step);
  }
  return Converged();
}

uint64_t StateSyncHarness::Sum(uint64_t EngineCounters::*field) const {
  uint64_t total = 0;
  for (const auto& node : nodes_) total += node->counters.*field;
  return total;
}

namespace {

std::vector<uint8_t> RandomValue(Random& rng, size_t bytes) {
  std::vector<uint8_t> value(bytes);
  for (uint8_t& b : value) b = static_cast<uint8_t>(rng.Next64());
  return value;
}

}  // namespace

ReconciliationCost MeasureReconciliation(size_t keys, size_t newer_a,
                                         size_t newer_b, size_t only_a,
                                         const StateConfig& config,
                                         uint64_t seed, size_t value_bytes) {
  StateSyncHarness h(2, config, seed);
  const uint64_t now_us = static_cast<uint64_t>(h.now().ToMicros());
  const uint64_t old_us = now_us - 900'000'000;
  const uint64_t recent_us = now_us - 30'000'000;
  Random rng(seed);
  // Records point into `values`: reserve so it never moves.
  std::vector<std::vector<uint8_t>> values;
  values.reserve(keys + newer_a + newer_b + only_a);
  const auto record = [&](uint64_t key, uint64_t wall, uint64_t origin) {
    values.push_back(RandomValue(rng, value_bytes));
    return StateRecord{StateId(key), StateVersion{wall, 0, NodeId(origin)},
                       false, values.back()};
  };
  std::vector<StateRecord> base, a_extra, b_extra;
  for (size_t k = 0; k < keys; ++k) base.push_back(record(k, old_us, 7));
  // Differing keys are spread over the key space (every third key).
  for (size_t k = 0; k < newer_a; ++k) {
    a_extra.push_back(record(k * 3, recent_us, 8));
  }
  for (size_t k = 0; k < newer_b; ++k) {
    b_extra.push_back(record(k * 3 + 1, recent_us + 1, 9));
  }
  for (size_t k = 0; k < only_a; ++k) {
    a_extra.push_back(record(keys + k, old_us, 8));
  }
  h.Install(0, base);
  h.Install(1, base);
  h.Install(0, a_extra);
  h.Install(1, b_extra);
  ReconciliationCost cost;
  for (const std::vector<StateRecord>* set : {&a_extra, &b_extra}) {
    for (const StateRecord& r : *set) {
      cost.differing_bytes += EncodedRecordBytes(r);
      ++cost.differing_keys;
    }
  }
  const Timestamp start = h.now();
  h.Link(0, 1);
  cost.converged = h.RunUntilConverged(Duration::Seconds(600));
  cost.elapsed = h.now() - start;
  cost.bytes = h.bytes_sent();
  cost.rounds = h.round_bytes().size();
  for (const auto& [round, bytes] : h.round_bytes()) {
    cost.max_round_bytes = std::max(cost.max_round_bytes, bytes);
  }
  return cost;
}

}  // namespace elara::test
