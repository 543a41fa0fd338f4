// Engine microbenchmarks: the cost of one HandleDatagram for a gossip frame
// (new message: dedup, deliver, cache, forward to eager peers; and a
// duplicate), and the engine's state bytes at steady state.
//
//   bazel run -c opt //core:engine_benchmark
#include <vector>

#include "benchmark/benchmark.h"
#include "core/engine.h"
#include "core/wire.h"

namespace elara {
namespace {

constexpr size_t kPayloadBytes = 1024;

std::unique_ptr<Engine> MakeEngine(size_t active, size_t passive) {
  DiffusionConfig config;
  auto engine = Engine::Create(config, NodeId(1), Address::Sim(1), 7);
  Timestamp now = Timestamp::FromMicros(1'000'000);
  for (size_t i = 0; i < active; ++i) {
    (*engine)->WarmStartAddActive(
        now, PeerEntry{NodeId(100 + i), Address::Sim(100 + i)});
  }
  for (size_t i = 0; i < passive; ++i) {
    (*engine)->WarmStartAddPassive(
        PeerEntry{NodeId(1000 + i), Address::Sim(1000 + i)});
  }
  return std::move(*engine);
}

std::vector<uint8_t> GossipDatagram(NodeId sender, uint64_t sequence,
                                    const std::vector<uint8_t>& payload) {
  DatagramBuilder builder(sender, kDefaultMaxDatagramBytes);
  builder.Add(GossipFrame{MessageId{NodeId(77), sequence}, 3, payload});
  return builder.Finish();
}

// Polls everything, giving datagram buffers back as the simulator does.
void Drain(Engine& engine) {
  while (auto t = engine.PollTransmit()) {
    benchmark::DoNotOptimize(t->bytes);
    Engine::RecycleTransmit(std::move(*t));
  }
  while (auto e = engine.PollEvent()) benchmark::DoNotOptimize(*e);
}

// A new message from the tree parent: delivered and forwarded eagerly.
void BM_HandleDatagramNewGossip(benchmark::State& state) {
  std::unique_ptr<Engine> engine = MakeEngine(5, 30);
  const std::vector<uint8_t> payload(kPayloadBytes, 0x5a);
  // Pre-encode a window's worth so encoding is not measured.
  std::vector<std::vector<uint8_t>> datagrams;
  for (uint64_t s = 1; s <= 512; ++s) {
    datagrams.push_back(GossipDatagram(NodeId(100), s, payload));
  }
  Timestamp now = Timestamp::FromMicros(2'000'000);
  size_t i = 0;
  uint64_t base = 0;
  for (auto _ : state) {
    if (i == datagrams.size()) {
      // Fresh engine for the next window so every frame is new.
      state.PauseTiming();
      engine = MakeEngine(5, 30);
      i = 0;
      base += datagrams.size();
      state.ResumeTiming();
    }
    engine->HandleDatagram(now, Address::Sim(100), datagrams[i++]);
    Drain(*engine);
    now = now + Duration::Micros(10);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HandleDatagramNewGossip);

// A duplicate: dedup hit, PRUNE to the sender.
void BM_HandleDatagramDuplicateGossip(benchmark::State& state) {
  std::unique_ptr<Engine> engine = MakeEngine(5, 30);
  const std::vector<uint8_t> payload(kPayloadBytes, 0x5a);
  std::vector<uint8_t> datagram = GossipDatagram(NodeId(100), 1, payload);
  std::vector<uint8_t> duplicate = GossipDatagram(NodeId(101), 1, payload);
  Timestamp now = Timestamp::FromMicros(2'000'000);
  engine->HandleDatagram(now, Address::Sim(100), datagram);
  Drain(*engine);
  for (auto _ : state) {
    engine->HandleDatagram(now, Address::Sim(101), duplicate);
    Drain(*engine);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HandleDatagramDuplicateGossip);

// State bytes at steady state: full 5/30 views, 20 origins seen.
void BM_StateBytesSteadyState(benchmark::State& state) {
  std::unique_ptr<Engine> engine = MakeEngine(5, 30);
  const std::vector<uint8_t> payload(64, 0x5a);
  Timestamp now = Timestamp::FromMicros(2'000'000);
  for (uint64_t origin = 0; origin < 20; ++origin) {
    DatagramBuilder builder(NodeId(100), kDefaultMaxDatagramBytes);
    builder.Add(GossipFrame{MessageId{NodeId(5000 + origin), 1}, 2, payload});
    engine->HandleDatagram(now, Address::Sim(100), builder.Finish());
    Drain(*engine);
  }
  // Let the message cache expire (ttl 30 s), with keep-alives answered.
  now = now + Duration::Seconds(60);
  engine->HandleTimeout(now);
  Drain(*engine);
  size_t bytes = 0;
  for (auto _ : state) benchmark::DoNotOptimize(bytes = engine->StateBytes());
  state.counters["state_bytes"] = static_cast<double>(bytes);
  std::unique_ptr<Engine> idle = MakeEngine(5, 30);
  state.counters["state_bytes_no_origins"] =
      static_cast<double>(idle->StateBytes());
}
BENCHMARK(BM_StateBytesSteadyState);

}  // namespace
}  // namespace elara
