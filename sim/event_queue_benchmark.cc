// File: sim/event_queue_benchmark.cc
//
// Hold-model benchmark of the event queue: the queue holds `range(0)`
// pending events; each iteration pops the earliest and schedules a new one
// a random increment later (uniform in [1, 2 * mean]), as a running
// simulation does. Compares arities of DaryEventHeap and std::priority_queue
// (a binary heap) on the same 24-byte events.
//
//   bazel run -c opt //sim:event_queue_benchmark
//
// The measured figures that chose the arity are in the report / commit
// message; EventQueue is the fastest arity at 10^6 pending events.
#include <cstdint>
#include <queue>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/random.h"
#include "sim/event_queue.h"

namespace elara::sim {
namespace {

constexpr uint64_t kMeanIncrementUs = 50'000;

template <int kArity>
void BM_HoldDary(benchmark::State& state) {
  const size_t pending = static_cast<size_t>(state.range(0));
  Random rng(42);
  DaryEventHeap<kArity> queue;
  queue.Reserve(pending + 1);
  for (size_t i = 0; i < pending; ++i) {
    queue.Push(static_cast<int64_t>(rng.UniformBelow(2 * kMeanIncrementUs)),
               EventKind::kPacket, static_cast<uint32_t>(i), 0);
  }
  for (auto _ : state) {
    const Event e = queue.Pop();
    queue.Push(e.time_us + static_cast<int64_t>(
                               rng.UniformBetween(1, 2 * kMeanIncrementUs)),
               e.kind(), e.node, e.handle);
  }
  state.SetItemsProcessed(state.iterations());
}

struct StdEventAfter {
  bool operator()(const Event& a, const Event& b) const {
    return EventBefore(b, a);
  }
};

void BM_HoldStdPriorityQueue(benchmark::State& state) {
  const size_t pending = static_cast<size_t>(state.range(0));
  Random rng(42);
  std::priority_queue<Event, std::vector<Event>, StdEventAfter> queue;
  uint64_t seq = 0;
  auto push = [&](int64_t time_us, uint32_t node) {
    queue.push(Event{time_us, (seq++ << 8) | 1, node, 0});
  };
  for (size_t i = 0; i < pending; ++i) {
    push(static_cast<int64_t>(rng.UniformBelow(2 * kMeanIncrementUs)),
         static_cast<uint32_t>(i));
  }
  for (auto _ : state) {
    const Event e = queue.top();
    queue.pop();
    push(e.time_us +
             static_cast<int64_t>(rng.UniformBetween(1, 2 * kMeanIncrementUs)),
         e.node);
  }
  state.SetItemsProcessed(state.iterations());
}

// Calendar queue; range(1) = bucket width shift, range(2) = bucket count
// shift.
void BM_HoldCalendar(benchmark::State& state) {
  const size_t pending = static_cast<size_t>(state.range(0));
  Random rng(42);
  CalendarEventQueue queue(static_cast<int>(state.range(1)),
                           static_cast<int>(state.range(2)));
  for (size_t i = 0; i < pending; ++i) {
    queue.Push(static_cast<int64_t>(rng.UniformBelow(2 * kMeanIncrementUs)),
               EventKind::kPacket, static_cast<uint32_t>(i), 0);
  }
  for (auto _ : state) {
    const Event e = queue.Pop();
    queue.Push(e.time_us + static_cast<int64_t>(
                               rng.UniformBetween(1, 2 * kMeanIncrementUs)),
               e.kind(), e.node, e.handle);
  }
  state.SetItemsProcessed(state.iterations());
}

// A simulation-like mix: 70 % datagrams (10-80 ms latency), 25 % timers
// (1 s keep-alive +- 10 %), 5 % immediate (same microsecond).
template <typename Queue>
void HoldSimLike(benchmark::State& state, Queue& queue) {
  const size_t pending = static_cast<size_t>(state.range(0));
  Random rng(7);
  auto increment = [&rng]() -> int64_t {
    const uint64_t r = rng.UniformBelow(100);
    if (r < 70) return static_cast<int64_t>(rng.UniformBetween(10'000, 80'000));
    if (r < 95) {
      return static_cast<int64_t>(rng.UniformBetween(900'000, 1'100'000));
    }
    return 0;
  };
  for (size_t i = 0; i < pending; ++i) {
    queue.Push(1'000'000 + increment(), EventKind::kPacket,
               static_cast<uint32_t>(i), 0);
  }
  for (auto _ : state) {
    const Event e = queue.Pop();
    queue.Push(e.time_us + increment(), e.kind(), e.node, e.handle);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_SimLikeDary4(benchmark::State& state) {
  DaryEventHeap<4> queue;
  HoldSimLike(state, queue);
}
void BM_SimLikeCalendar(benchmark::State& state) {
  CalendarEventQueue queue;
  HoldSimLike(state, queue);
}

BENCHMARK(BM_HoldStdPriorityQueue)->Arg(1000)->Arg(1'000'000);
BENCHMARK_TEMPLATE(BM_HoldDary, 2)->Arg(1000)->Arg(1'000'000);
BENCHMARK_TEMPLATE(BM_HoldDary, 4)->Arg(1000)->Arg(1'000'000);
BENCHMARK_TEMPLATE(BM_HoldDary, 8)->Arg(1000)->Arg(1'000'000);
BENCHMARK(BM_HoldCalendar)
    ->Args({1000, 8, 14})
    ->Args({1'000'000, 6, 14})
    ->Args({1'000'000, 8, 14})
    ->Args({1'000'000, 10, 12});
BENCHMARK(BM_SimLikeDary4)->Arg(100'000)->Arg(1'000'000);
BENCHMARK(BM_SimLikeCalendar)->Arg(100'000)->Arg(1'000'000);

}  // namespace
}  // namespace elara::sim
