// Microbenchmarks of the per-message lookups of DedupWindow and
// MessageCache as a large simulation sees them: many small instances (one
// per node), each visited rarely, so every lookup starts cold in cache.
// Each iteration visits a random instance out of kInstances (tens of MB in
// all), so the figures are dominated by cache misses, like the simulator.
//
//   bazel run -c opt //core:dedup_cache_benchmark
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/dedup_window.h"
#include "core/message_cache.h"
#include "core/random.h"

namespace elara {
namespace {

constexpr size_t kInstances = 20000;
constexpr size_t kVisits = 1 << 16;

// A random visit order: (instance, origin) pairs.
struct Visit {
  uint32_t instance;
  uint32_t origin;
};

std::vector<Visit> Visits(size_t origins, uint64_t seed) {
  Random rng(seed);
  std::vector<Visit> visits(kVisits);
  for (Visit& v : visits) {
    v.instance = static_cast<uint32_t>(rng.UniformBelow(kInstances));
    v.origin = static_cast<uint32_t>(rng.UniformBelow(origins));
  }
  return visits;
}

// Every window knows `origins` origins; each iteration is what a gossip
// frame costs (Insert) plus what an IHAVE entry costs (Check), for a new
// message of a random origin: like a broadcast reaching a node.
void BM_DedupColdInsertAndCheck(benchmark::State& state) {
  const size_t origins = static_cast<size_t>(state.range(0));
  std::vector<std::unique_ptr<DedupWindow>> windows;
  windows.reserve(kInstances);
  std::vector<uint64_t> next(kInstances * origins, 2);
  for (size_t w = 0; w < kInstances; ++w) {
    windows.push_back(std::make_unique<DedupWindow>(1024, 4096));
    for (size_t o = 0; o < origins; ++o) {
      bool evicted = false;
      windows.back()->Insert(MessageId{NodeId(1000 + o * 7919), 1}, &evicted);
    }
  }
  const std::vector<Visit> visits = Visits(origins, 5);
  size_t i = 0;
  for (auto _ : state) {
    const Visit& v = visits[i++ % kVisits];
    DedupWindow& window = *windows[v.instance];
    uint64_t& sequence = next[v.instance * origins + v.origin];
    const MessageId id{NodeId(1000 + v.origin * 7919), sequence++};
    bool evicted = false;
    benchmark::DoNotOptimize(window.Insert(id, &evicted));
    benchmark::DoNotOptimize(window.Check(id));
  }
}
BENCHMARK(BM_DedupColdInsertAndCheck)->Arg(4)->Arg(20)->Arg(32)->Arg(64);

// Every cache holds `entries` messages; each iteration finds one (the
// lookup of an IHAVE tree optimisation or an IWANT answer).
void BM_MessageCacheColdFind(benchmark::State& state) {
  const size_t entries = static_cast<size_t>(state.range(0));
  std::vector<std::unique_ptr<MessageCache>> caches;
  caches.reserve(kInstances);
  const Timestamp now = Timestamp::FromMicros(1'000'000);
  std::vector<MessageCache::Payload> removed;
  for (size_t c = 0; c < kInstances; ++c) {
    caches.push_back(
        std::make_unique<MessageCache>(1024, Duration::Seconds(30)));
    for (size_t e = 0; e < entries; ++e) {
      MessageCache::Entry entry;
      entry.id = MessageId{NodeId(1000 + e * 7919), 1};
      entry.stored_at = now;
      caches.back()->Insert(std::move(entry), &removed);
    }
  }
  const std::vector<Visit> visits = Visits(entries, 6);
  size_t i = 0;
  for (auto _ : state) {
    const Visit& v = visits[i++ % kVisits];
    const MessageId id{NodeId(1000 + v.origin * 7919), 1};
    benchmark::DoNotOptimize(caches[v.instance]->Find(id, now));
  }
}
BENCHMARK(BM_MessageCacheColdFind)->Arg(4)->Arg(20)->Arg(64);

}  // namespace
}  // namespace elara
