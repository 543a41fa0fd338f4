#include "core/test_tools/engine_harness.h"

#include <cassert>
#include <deque>
#include <variant>

namespace elara::test {

EngineHarness::EngineHarness(size_t nodes, const DiffusionConfig& config,
                             uint64_t seed, Duration latency)
    : latency_(latency), delivered_(nodes), peer_downs_(nodes) {
  for (size_t i = 0; i < nodes; ++i) {
    auto engine =
        Engine::Create(config, IdOf(i), Address::Sim(static_cast<uint32_t>(i)),
                       seed * 1000003 + i);
    assert(engine.ok());
    engines_.push_back(std::move(*engine));
  }
}

void EngineHarness::Join(size_t i, size_t contact) {
  engines_[i]->Join(now_, Address::Sim(static_cast<uint32_t>(contact)));
  Drain(i);
}

void EngineHarness::Inject(size_t to, const Address& from_address,
                           std::vector<uint8_t> bytes) {
  engines_[to]->HandleDatagram(now_, from_address, bytes);
  Drain(to);
}

void EngineHarness::Drain(size_t i) {
  Engine& e = *engines_[i];
  while (std::optional<Transmit> t = e.PollTransmit()) {
    if (crashed(i)) continue;
    InFlight f{now_ + latency_, next_sequence_++, static_cast<uint32_t>(i),
               IndexOf(t->to), std::move(t->bytes)};
    if (f.to >= engines_.size() || (drop_rule_ && drop_rule_(f))) {
      ++dropped_;
      continue;
    }
    auto key = std::make_pair(f.arrival, f.sequence);
    in_flight_.emplace(key, std::move(f));
  }
  while (std::optional<EngineEvent> ev = e.PollEvent()) {
    if (auto* d = std::get_if<DeliveredEvent>(&*ev)) {
      delivered_[i].push_back(*d);
    } else if (auto* down = std::get_if<PeerDownEvent>(&*ev)) {
      peer_downs_[i].push_back(*down);
    }
  }
}

void EngineHarness::RunUntil(Timestamp until) {
  while (true) {
    Timestamp next = Timestamp::Infinite();
    size_t timer_node = engines_.size();
    for (size_t i = 0; i < engines_.size(); ++i) {
      if (crashed(i)) continue;
      Timestamp t = engines_[i]->NextTimeout();
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
      if (crashed(f.to)) continue;
      engines_[f.to]->HandleDatagram(now_, Address::Sim(f.from), f.bytes);
      Drain(f.to);
    } else {
      engines_[timer_node]->HandleTimeout(now_);
      Drain(timer_node);
    }
  }
  now_ = std::max(now_, until);
}

bool EngineHarness::Connected() const {
  size_t start = engines_.size();
  size_t live = 0;
  for (size_t i = 0; i < engines_.size(); ++i) {
    if (crashed(i) || engines_[i]->left()) continue;
    ++live;
    if (start == engines_.size()) start = i;
  }
  if (live == 0) return true;
  std::vector<bool> seen(engines_.size(), false);
  std::deque<size_t> frontier{start};
  seen[start] = true;
  size_t reached = 1;
  while (!frontier.empty()) {
    size_t i = frontier.front();
    frontier.pop_front();
    for (const PeerEntry& p : engines_[i]->ActiveView()) {
      size_t j = p.address.sim_index();
      if (j >= engines_.size() || seen[j] || crashed(j) ||
          engines_[j]->left()) {
        continue;
      }
      seen[j] = true;
      ++reached;
      frontier.push_back(j);
    }
  }
  return reached == live;
}

uint64_t EngineHarness::Sum(uint64_t EngineCounters::*field) const {
  uint64_t total = 0;
  for (const auto& e : engines_) total += e->counters().*field;
  return total;
}

}  // namespace elara::test
