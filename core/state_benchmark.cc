// State benchmarks: the bytes anti-entropy spends per differing key (1% and
// 10% of 10,000 keys differ, as new keys or as newer versions), merge cost
// per entry, and the rateless sketch's encode / decode cost.
//
//   bazel run -c opt //core:state_benchmark
//
// Reconciliation figures are reported as counters (bytes are exact and
// deterministic; only the time columns vary between machines).
#include <cstdint>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/random.h"
#include "core/state_sketch.h"
#include "core/state_store.h"
#include "core/test_tools/state_sync_harness.h"

namespace elara {
namespace {

// Args: percent differing, kind (0 new keys on one side, 1 newer versions
// on one side, 2 newer versions split between the sides).
void BM_ReconcileTenThousandKeys(benchmark::State& state) {
  const size_t differing = static_cast<size_t>(state.range(0)) * 100;
  const int64_t kind = state.range(1);
  test::ReconciliationCost cost;
  for (auto _ : state) {
    cost = test::MeasureReconciliation(10000,
                                       kind == 1   ? differing
                                       : kind == 2 ? differing / 2
                                                   : 0,
                                       kind == 2 ? differing / 2 : 0,
                                       kind == 0 ? differing : 0, StateConfig(),
                                       /*seed=*/7);
  }
  if (!cost.converged) state.SkipWithError("did not converge");
  state.counters["bytes"] = static_cast<double>(cost.bytes);
  state.counters["bytes_per_key"] = static_cast<double>(cost.bytes) /
                                    static_cast<double>(cost.differing_keys);
  state.counters["x_entries"] = static_cast<double>(cost.bytes) /
                                static_cast<double>(cost.differing_bytes);
  state.counters["rounds"] = static_cast<double>(cost.rounds);
  state.counters["max_round_bytes"] = static_cast<double>(cost.max_round_bytes);
  state.counters["virtual_s"] =
      static_cast<double>(cost.elapsed.ToMillis()) / 1000.0;
}
BENCHMARK(BM_ReconcileTenThousandKeys)
    ->ArgNames({"pct", "kind"})
    ->ArgsProduct({{1, 10}, {0, 1, 2}})
    ->Unit(benchmark::kMillisecond)
    ->Iterations(1);

std::vector<StateRecord> Records(size_t n, uint64_t wall,
                                 const std::vector<uint8_t>& value) {
  std::vector<StateRecord> records;
  for (size_t k = 0; k < n; ++k) {
    records.push_back(StateRecord{
        StateId(k * 7919), StateVersion{wall, 0, NodeId(3)}, false, value});
  }
  return records;
}

// Merging a newer entry over a held key (the common update).
void BM_MergeNewerEntry(benchmark::State& state) {
  const std::vector<uint8_t> value(static_cast<size_t>(state.range(0)), 0x5a);
  constexpr size_t kKeys = 10000;
  StateStore store(StateConfig(), 1024);
  for (const StateRecord& r : Records(kKeys, 1, value)) store.Merge(0, r);
  uint64_t wall = 2;
  std::vector<StateRecord> batch = Records(kKeys, wall, value);
  size_t i = 0;
  for (auto _ : state) {
    if (i == kKeys) {
      batch = Records(kKeys, ++wall, value);
      i = 0;
    }
    benchmark::DoNotOptimize(store.Merge(0, batch[i++]));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeNewerEntry)->Arg(8)->Arg(256);

// Merging an entry already held (a duplicate push): compare and drop.
void BM_MergeDuplicateEntry(benchmark::State& state) {
  const std::vector<uint8_t> value(64, 0x5a);
  constexpr size_t kKeys = 10000;
  StateStore store(StateConfig(), 1024);
  const std::vector<StateRecord> records = Records(kKeys, 1, value);
  for (const StateRecord& r : records) store.Merge(0, r);
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(store.Merge(0, records[i]));
    i = i + 1 == kKeys ? 0 : i + 1;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MergeDuplicateEntry);

std::vector<SketchElement> Elements(Random& rng, uint64_t salt, size_t n) {
  std::vector<SketchElement> out;
  for (size_t i = 0; i < n; ++i) {
    const StateId key(rng.Next64());
    out.push_back(
        SketchElement{key.value(), SketchTag(salt, key, rng.Next64(), 0)});
  }
  return out;
}

// The responder's work: the first `cells` cells of a set of 10,000.
void BM_EncodeSketch(benchmark::State& state) {
  Random rng(1);
  const std::vector<SketchElement> set = Elements(rng, 9, 10000);
  std::vector<SketchCell> cells(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    std::fill(cells.begin(), cells.end(), SketchCell{});
    AddToSketch(9, set, 0, cells);
    benchmark::DoNotOptimize(cells.data());
  }
  state.SetItemsProcessed(state.iterations() * 10000);
}
BENCHMARK(BM_EncodeSketch)->Arg(64)->Arg(320);

// The initiator's work: decode a difference of `d` elements between two
// sets of ~10,000 (cells fed 16 at a time, as frames arrive).
void BM_DecodeSketch(benchmark::State& state) {
  const size_t d = static_cast<size_t>(state.range(0));
  Random rng(2);
  const uint64_t salt = 11;
  std::vector<SketchElement> local = Elements(rng, salt, 10000);
  std::vector<SketchElement> peer(local.begin() + d / 2, local.end());
  const std::vector<SketchElement> extra = Elements(rng, salt, d - d / 2);
  peer.insert(peer.end(), extra.begin(), extra.end());
  std::vector<SketchCell> cells(3 * d + 32);
  AddToSketch(salt, peer, 0, cells);
  double used = 0;
  for (auto _ : state) {
    SketchDecoder decoder(salt, local, cells.size());
    size_t fed = 0;
    while (!decoder.decoded() && fed < cells.size()) {
      const size_t n = std::min<size_t>(16, cells.size() - fed);
      decoder.AddPeerCells(fed,
                           std::span<const SketchCell>(cells).subspan(fed, n));
      fed += n;
    }
    used = static_cast<double>(fed);
    benchmark::DoNotOptimize(decoder.peer_only().data());
  }
  state.counters["cells_per_element"] = used / static_cast<double>(d);
}
BENCHMARK(BM_DecodeSketch)->Arg(10)->Arg(100)->Arg(1000);

}  // namespace
}  // namespace elara
