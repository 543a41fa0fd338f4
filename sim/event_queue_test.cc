// File: sim/event_queue_test.cc
//
// The event queue pops by (time, scheduling order), for every arity, and
// agrees with a sorted reference on random workloads.
#include "sim/event_queue.h"

#include <algorithm>
#include <queue>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara::sim {
namespace {

TEST(EventQueueTest, EventIsSmallPod) {
  EXPECT_EQ(sizeof(Event), 24u);
  Event e{5, (uint64_t{9} << 8) | static_cast<uint64_t>(EventKind::kCrash), 1,
          2};
  EXPECT_EQ(e.seq(), 9u);
  EXPECT_EQ(e.kind(), EventKind::kCrash);
}

TEST(EventQueueTest, PopsInTimeOrder) {
  EventQueue queue;
  queue.Push(30, EventKind::kTimer, 3, 0);
  queue.Push(10, EventKind::kPacket, 1, 7);
  queue.Push(20, EventKind::kBroadcast, 2, 0);
  ASSERT_EQ(queue.size(), 3u);
  Event a = queue.Pop();
  EXPECT_EQ(a.time_us, 10);
  EXPECT_EQ(a.node, 1u);
  EXPECT_EQ(a.handle, 7u);
  EXPECT_EQ(a.kind(), EventKind::kPacket);
  EXPECT_EQ(queue.Pop().time_us, 20);
  EXPECT_EQ(queue.Pop().time_us, 30);
  EXPECT_TRUE(queue.empty());
}

TEST(EventQueueTest, TiesPopInSchedulingOrder) {
  EventQueue queue;
  // Kinds deliberately in decreasing order so kind cannot decide ties.
  for (uint32_t i = 0; i < 100; ++i) {
    queue.Push(1000, static_cast<EventKind>(7 - i % 8), i, 0);
  }
  queue.Push(999, EventKind::kEnd, 500, 0);
  EXPECT_EQ(queue.Pop().node, 500u);
  for (uint32_t i = 0; i < 100; ++i) {
    Event e = queue.Pop();
    EXPECT_EQ(e.node, i);
    EXPECT_EQ(e.seq(), i);
  }
}

TEST(EventQueueTest, SequenceNumbersCountPushes) {
  EventQueue queue;
  EXPECT_EQ(queue.Push(5, EventKind::kTimer, 0, 0), 0u);
  EXPECT_EQ(queue.Push(1, EventKind::kTimer, 0, 0), 1u);
  queue.Pop();
  EXPECT_EQ(queue.Push(1, EventKind::kTimer, 0, 0), 2u);
  EXPECT_EQ(queue.next_seq(), 3u);
}

// Interleaved pushes and pops against a sorted reference.
template <typename Queue>
void CheckAgainstReference(uint64_t seed) {
  Random rng(seed);
  Queue queue;
  std::vector<Event> reference;  // kept sorted descending; min at back
  uint64_t seq = 0;
  int64_t now = 0;
  for (int step = 0; step < 20000; ++step) {
    if (reference.empty() || rng.UniformBelow(3) != 0) {
      // Small time range forces many ties.
      const int64_t t = now + static_cast<int64_t>(rng.UniformBelow(50));
      const uint32_t node = static_cast<uint32_t>(rng.UniformBelow(1000));
      queue.Push(t, EventKind::kPacket, node, static_cast<uint32_t>(step));
      Event e{t, (seq++ << 8) | 1, node, static_cast<uint32_t>(step)};
      reference.insert(std::upper_bound(reference.begin(), reference.end(), e,
                                        [](const Event& a, const Event& b) {
                                          return EventBefore(b, a);
                                        }),
                       e);
    } else {
      Event want = reference.back();
      reference.pop_back();
      Event got = queue.Pop();
      ASSERT_EQ(got.time_us, want.time_us);
      ASSERT_EQ(got.seq(), want.seq());
      ASSERT_EQ(got.node, want.node);
      ASSERT_EQ(got.handle, want.handle);
      ASSERT_GE(got.time_us, now);
      now = got.time_us;
    }
    ASSERT_EQ(queue.size(), reference.size());
  }
}

TEST(EventQueueTest, BinaryHeapMatchesReference) {
  CheckAgainstReference<DaryEventHeap<2>>(1);
}
TEST(EventQueueTest, QuaternaryHeapMatchesReference) {
  CheckAgainstReference<DaryEventHeap<4>>(2);
}
TEST(EventQueueTest, OctaryHeapMatchesReference) {
  CheckAgainstReference<DaryEventHeap<8>>(3);
}

// A calendar queue with tiny buckets and a tiny ring, so the reference run
// crosses the ring window, the far heap and empty-bucket jumps.
class SmallCalendar : public CalendarEventQueue {
 public:
  SmallCalendar()
      : CalendarEventQueue(/*bucket_width_shift=*/2,
                           /*bucket_count_shift=*/3) {}
};
TEST(EventQueueTest, CalendarQueueMatchesReference) {
  CheckAgainstReference<SmallCalendar>(4);
  CheckAgainstReference<CalendarEventQueue>(5);
}

TEST(EventQueueTest, CalendarQueueHandlesFarFutureAndPast) {
  SmallCalendar queue;
  queue.Push(1'000'000, EventKind::kTimer, 1, 0);  // far beyond the window
  queue.Push(10, EventKind::kTimer, 2, 0);
  queue.Push(10, EventKind::kPacket, 3, 0);
  EXPECT_EQ(queue.Pop().node, 2u);
  // Scheduled earlier than the current bucket: still pops first.
  queue.Push(5, EventKind::kTimer, 4, 0);
  queue.Push(500, EventKind::kTimer, 5, 0);
  EXPECT_EQ(queue.Top().node, 4u);
  EXPECT_EQ(queue.Pop().node, 4u);
  EXPECT_EQ(queue.Pop().node, 3u);
  EXPECT_EQ(queue.Pop().node, 5u);
  EXPECT_EQ(queue.Pop().node, 1u);
  EXPECT_TRUE(queue.empty());
  // Empty again: the window restarts wherever the next push lands.
  queue.Push(7, EventKind::kTimer, 6, 0);
  queue.Push(3'000'000, EventKind::kTimer, 7, 0);
  queue.Push(7, EventKind::kTimer, 8, 0);
  EXPECT_EQ(queue.Pop().node, 6u);
  EXPECT_EQ(queue.Pop().node, 8u);
  EXPECT_EQ(queue.Pop().node, 7u);
}

TEST(EventQueueTest, CalendarTiesPopInSchedulingOrder) {
  CalendarEventQueue queue;
  for (uint32_t i = 0; i < 100; ++i) {
    queue.Push(1000 + (i % 3) * 5'000'000, static_cast<EventKind>(7 - i % 8), i,
               0);
  }
  for (int64_t round = 0; round < 3; ++round) {
    for (uint32_t i = static_cast<uint32_t>(round); i < 100; i += 3) {
      Event e = queue.Pop();
      EXPECT_EQ(e.time_us, 1000 + round * 5'000'000);
      EXPECT_EQ(e.node, i);
    }
  }
  EXPECT_TRUE(queue.empty());
}

// A simulation-like mix against std::priority_queue: same-microsecond
// pushes, pushes into the bucket being served, ring-range and far-future
// events (beyond the window, entering it later while direct pushes land on
// the same microseconds), on coarse time grids so equal times are common.
struct ReferenceAfter {
  bool operator()(const Event& a, const Event& b) const {
    return EventBefore(b, a);
  }
};
template <typename Queue>
void CheckMixAgainstPriorityQueue(Queue& queue, uint64_t seed, int steps) {
  Random rng(seed);
  std::priority_queue<Event, std::vector<Event>, ReferenceAfter> reference;
  int64_t now = 0;
  for (int step = 0; step < steps; ++step) {
    const uint64_t action = rng.UniformBelow(100);
    if (!reference.empty() && action < 45) {
      const Event want = reference.top();
      reference.pop();
      ASSERT_EQ(queue.Top().seq(), want.seq());
      const Event got = queue.Pop();
      ASSERT_EQ(got.time_us, want.time_us) << "step " << step;
      ASSERT_EQ(got.seq(), want.seq()) << "step " << step;
      ASSERT_EQ(got.kind(), want.kind());
      ASSERT_EQ(got.node, want.node);
      ASSERT_EQ(got.handle, want.handle);
      now = got.time_us;
      if constexpr (requires { queue.Upcoming(); }) {
        for (const Event& next : queue.Upcoming().first(
                 std::min<size_t>(4, queue.Upcoming().size()))) {
          ASSERT_GE(next.time_us, now);
        }
      }
    } else {
      const uint64_t r = rng.UniformBelow(100);
      int64_t t;
      if (r < 10) {
        t = now;  // same microsecond
      } else if (r < 25) {
        t = now + static_cast<int64_t>(rng.UniformBelow(300));
      } else if (r < 75) {
        t = now + 1000 * static_cast<int64_t>(rng.UniformBetween(10, 80));
      } else if (r < 95) {
        t = now + 100'000 * static_cast<int64_t>(rng.UniformBetween(9, 11));
      } else {
        t = (now / 1'000'000 + 1 + static_cast<int64_t>(rng.UniformBelow(8))) *
            1'000'000;  // far future, on whole seconds
      }
      const auto kind = static_cast<EventKind>(rng.UniformBelow(10));
      const auto node = static_cast<uint32_t>(rng.UniformBelow(1000));
      const uint64_t seq =
          queue.Push(t, kind, node, static_cast<uint32_t>(step));
      reference.push(Event{t, (seq << 8) | static_cast<uint64_t>(kind), node,
                           static_cast<uint32_t>(step)});
    }
    ASSERT_EQ(queue.size(), reference.size());
  }
  while (!reference.empty()) {
    const Event want = reference.top();
    reference.pop();
    const Event got = queue.Pop();
    ASSERT_EQ(got.time_us, want.time_us);
    ASSERT_EQ(got.seq(), want.seq());
  }
  ASSERT_TRUE(queue.empty());
}

TEST(EventQueueTest, CalendarMixMatchesPriorityQueue) {
  for (int width : {0, 3, 8, 12}) {
    for (int count : {1, 4, 14}) {
      SCOPED_TRACE(testing::Message()
                   << "width " << width << " count " << count);
      CalendarEventQueue queue(width, count);
      CheckMixAgainstPriorityQueue(queue, 100 + width * 16 + count, 30000);
      // The same queue, drained, serves a second run (window restarts).
      CheckMixAgainstPriorityQueue(queue, 200 + width * 16 + count, 30000);
    }
  }
  DaryEventHeap<4> heap;
  CheckMixAgainstPriorityQueue(heap, 7, 30000);
}

// An event parked in the far heap enters its bucket before a later direct
// push at the same microsecond: it must still pop first.
TEST(EventQueueTest, CalendarFarEventBeforeLaterTie) {
  SmallCalendar queue;  // 4 us buckets, 8 of them: window < 32 us
  queue.Push(0, EventKind::kTimer, 0, 0);
  queue.Push(100, EventKind::kTimer, 1, 0);  // far
  queue.Push(100, EventKind::kTimer, 2, 0);  // far
  EXPECT_EQ(queue.Pop().node, 0u);
  for (uint32_t i = 0; i < 30; ++i) {
    queue.Push(80 + i, EventKind::kPacket, 10 + i, 0);
  }
  // Serving time 80 puts bucket 25 (time 100) inside the window.
  EXPECT_EQ(queue.Pop().time_us, 80);
  queue.Push(100, EventKind::kTimer, 3, 0);
  queue.Push(100, EventKind::kTimer, 4, 0);
  std::vector<uint32_t> at_100;
  while (!queue.empty()) {
    const Event e = queue.Pop();
    if (e.time_us == 100) at_100.push_back(e.node);
  }
  EXPECT_EQ(at_100, (std::vector<uint32_t>{1, 2, 30, 3, 4}));
}

// A push more than kNearBuckets (512) buckets ahead waits in the pending
// buffer; once the window has moved on, a push to the same bucket is
// appended at once. Ties at one microsecond still pop in push order.
TEST(EventQueueTest, CalendarPendingThenNearTiesPopInPushOrder) {
  CalendarEventQueue queue(/*bucket_width_shift=*/0, /*bucket_count_shift=*/14);
  queue.Push(0, EventKind::kTimer, 0, 0);
  EXPECT_EQ(queue.Pop().node, 0u);
  queue.Push(1000, EventKind::kTimer, 1, 0);  // 1000 buckets ahead: pending
  queue.Push(1000, EventKind::kTimer, 2, 0);
  queue.Push(10, EventKind::kPacket, 3, 0);  // near: appended at once
  queue.Push(600, EventKind::kPacket, 4, 0);
  EXPECT_EQ(queue.Pop().node, 3u);
  EXPECT_EQ(queue.Pop().node, 4u);  // serving 600: 1000 is 400 ahead, near
  queue.Push(1000, EventKind::kPacket, 5, 0);
  queue.Push(999, EventKind::kPacket, 6, 0);
  queue.Push(1000, EventKind::kTimer, 7, 0);
  std::vector<uint32_t> order;
  while (!queue.empty()) order.push_back(queue.Pop().node);
  EXPECT_EQ(order, (std::vector<uint32_t>{6, 1, 2, 5, 7}));
}

// StableSortByNode against std::stable_sort, for short lists (insertion
// path), for radix passes of every width RadixDigitBits picks over node
// ranges of one to 32 bits, and with many events per node (stability is
// visible).
TEST(EventQueueTest, StableSortByNodeMatchesStableSort) {
  Random rng(77);
  std::vector<Event> scratch;
  for (const size_t n :
       {0u, 1u, 5u, 31u, 32u, 100u, 255u, 256u, 1000u, 3000u, 20000u}) {
    for (const uint64_t nodes : {uint64_t{1}, uint64_t{7}, uint64_t{2048},
                                 uint64_t{300000}, uint64_t{1} << 32}) {
      std::vector<Event> events(n);
      for (size_t i = 0; i < n; ++i) {
        events[i] = Event{static_cast<int64_t>(i), i << 8,
                          static_cast<uint32_t>(rng.UniformBelow(nodes)),
                          static_cast<uint32_t>(i)};
      }
      std::vector<Event> expected = events;
      std::stable_sort(
          expected.begin(), expected.end(),
          [](const Event& a, const Event& b) { return a.node < b.node; });
      StableSortByNode(&events, &scratch);
      ASSERT_EQ(events.size(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(events[i].node, expected[i].node) << n << " " << nodes;
        ASSERT_EQ(events[i].handle, expected[i].handle) << n << " " << nodes;
      }
    }
  }
}

// The digit width covers the node bits in at most three passes of at most
// 11 bits, and trades passes for counters with the list's length.
TEST(EventQueueTest, RadixDigitBitsPicksCheapestPasses) {
  for (int bits = 1; bits <= 32; ++bits) {
    for (const size_t n : {32u, 300u, 5000u, 1000000u}) {
      const int digit = RadixDigitBits(n, bits);
      EXPECT_LE(digit, 11);
      EXPECT_GE(3 * digit, bits);
    }
  }
  EXPECT_EQ(RadixDigitBits(300, 11), 6);       // two passes of 64 counters
  EXPECT_EQ(RadixDigitBits(1000, 11), 11);     // one pass
  EXPECT_EQ(RadixDigitBits(100000, 11), 11);   // one pass
  EXPECT_EQ(RadixDigitBits(100000, 17), 9);    // two passes
  EXPECT_EQ(RadixDigitBits(1000000, 32), 11);  // three passes
}

// n events over `nodes` nodes, at random times and sequence numbers (so
// each node's run is out of time order), each's handle its input index.
std::vector<Event> RandomWindow(Random* rng, size_t n, uint64_t nodes) {
  std::vector<Event> events(n);
  for (size_t i = 0; i < n; ++i) {
    events[i] = Event{static_cast<int64_t>(rng->UniformBelow(40)),
                      rng->UniformBelow(1000) << 8,
                      static_cast<uint32_t>(rng->UniformBelow(nodes)),
                      static_cast<uint32_t>(i)};
  }
  return events;
}

// `events` sorted by (node, time, seq) with std::sort, equal keys in input
// order.
std::vector<Event> FullSortByNodeThenTime(std::vector<Event> events) {
  std::sort(events.begin(), events.end(), [](const Event& a, const Event& b) {
    if (a.node != b.node) return a.node < b.node;
    if (EventBefore(a, b) != EventBefore(b, a)) return EventBefore(a, b);
    return a.handle < b.handle;
  });
  return events;
}

// SortByNodeThenTime against std::sort by (node, time, seq), on lists
// whose per-node runs are out of time order.
TEST(EventQueueTest, SortByNodeThenTimeMatchesFullSort) {
  Random rng(78);
  std::vector<Event> scratch;
  for (const size_t n : {0u, 1u, 2u, 200u, 256u, 5000u}) {
    for (const uint64_t nodes : {uint64_t{1}, uint64_t{3}, uint64_t{5000}}) {
      std::vector<Event> events = RandomWindow(&rng, n, nodes);
      const std::vector<Event> expected = FullSortByNodeThenTime(events);
      SortByNodeThenTime(&events, &scratch);
      ASSERT_EQ(events.size(), n);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(events[i].handle, expected[i].handle) << n << " " << nodes;
      }
    }
  }
}

// WindowSorter against std::sort by (node, time, seq), on one sorter reused
// across lists (its per-node state must come back clean), through both its
// node chains (node range up to 64 per event) and its fallback (wider, or
// short lists), with node ranges growing between calls.
TEST(EventQueueTest, WindowSorterMatchesFullSort) {
  Random rng(79);
  WindowSorter sorter;
  for (int round = 0; round < 3; ++round) {
    for (const size_t n : {0u, 1u, 31u, 32u, 33u, 200u, 256u, 5000u}) {
      for (const uint64_t nodes :
           {uint64_t{1}, uint64_t{3}, uint64_t{64}, uint64_t{2000},
            uint64_t{5000}, uint64_t{300000}}) {
        std::vector<Event> events = RandomWindow(&rng, n, nodes);
        const std::vector<Event> expected = FullSortByNodeThenTime(events);
        sorter.SortByNodeThenTime(&events);
        ASSERT_EQ(events.size(), n);
        for (size_t i = 0; i < n; ++i) {
          ASSERT_EQ(events[i].handle, expected[i].handle)
              << n << " " << nodes << " " << round;
        }
      }
    }
  }
}

// TakeWindow moves exactly the events Pop() would have returned one by one
// (before end_us, up to the first event `keep` refuses) and returns where
// it stopped; a twin queue fed the same pushes is popped as the reference.
// Windows of many buckets, pushes between windows into the ring, the far
// heap and the current bucket, and refused kinds inside whole buckets.
void CheckTakeWindowAgainstPop(int width, int count, uint64_t seed) {
  CalendarEventQueue queue(width, count);
  CalendarEventQueue twin(width, count);
  Random rng(seed);
  const auto keep = [](const Event& e) {
    return e.kind() == EventKind::kTimer || e.kind() == EventKind::kPacket;
  };
  int64_t now = 0;
  auto push = [&](int64_t t) {
    const uint64_t r = rng.UniformBelow(100);
    const EventKind kind = r < 2    ? EventKind::kCrash
                           : r < 50 ? EventKind::kPacket
                                    : EventKind::kTimer;
    const uint32_t node = static_cast<uint32_t>(rng.UniformBelow(300));
    queue.Push(t, kind, node, 0);
    twin.Push(t, kind, node, 0);
  };
  for (int i = 0; i < 2000; ++i) {
    push(static_cast<int64_t>(rng.UniformBelow(5000)));
  }
  std::vector<Event> got;
  for (int round = 0; round < 400 && !queue.empty(); ++round) {
    const int64_t span = static_cast<int64_t>(rng.UniformBelow(600));
    const int64_t end = queue.Top().time_us + span;
    got.clear();
    const int64_t stop = queue.TakeWindow(end, keep, &got);
    std::vector<Event> want;
    while (!twin.empty() && twin.Top().time_us < end && keep(twin.Top())) {
      want.push_back(twin.Pop());
    }
    const int64_t want_stop =
        twin.empty() || twin.Top().time_us >= end ? end : twin.Top().time_us;
    ASSERT_EQ(stop, want_stop) << "round " << round;
    ASSERT_EQ(queue.size(), twin.size());
    std::vector<Event> sorted = got;
    std::sort(sorted.begin(), sorted.end(), EventBefore);
    ASSERT_EQ(sorted.size(), want.size()) << "round " << round;
    for (size_t i = 0; i < want.size(); ++i) {
      ASSERT_EQ(sorted[i].time_us, want[i].time_us);
      ASSERT_EQ(sorted[i].seq_kind, want[i].seq_kind);
      ASSERT_EQ(sorted[i].node, want[i].node);
    }
    if (!want.empty()) now = want.back().time_us;
    // A refused event at the front runs alone, as the simulator does.
    if (!queue.empty() && !keep(queue.Top())) {
      ASSERT_EQ(queue.Pop().seq_kind, twin.Pop().seq_kind);
    }
    for (int i = 0, k = static_cast<int>(rng.UniformBelow(40)); i < k; ++i) {
      push(std::max<int64_t>(stop, now) +
           static_cast<int64_t>(rng.UniformBelow(i % 4 == 0 ? 20000 : 900)));
    }
  }
}

// A queue emptied by Pop or by TakeWindow takes its next pushes (a few
// buckets ahead of the last, where Push's fast path would store them
// straight into the ring, into slots a lap of the small ring used before)
// through staging again, and pops them in order.
TEST(EventQueueTest, CalendarRefillsAfterEmptying) {
  CalendarEventQueue queue(/*bucket_width_shift=*/2, /*bucket_count_shift=*/3);
  Random rng(77);
  const auto keep = [](const Event&) { return true; };
  int64_t now = 0;
  std::vector<Event> got;
  for (int round = 0; round < 200; ++round) {
    std::vector<int64_t> times;
    for (int i = 0, k = 1 + static_cast<int>(rng.UniformBelow(30)); i < k;
         ++i) {
      times.push_back(now + 1 + static_cast<int64_t>(rng.UniformBelow(40)));
      queue.Push(times.back(), EventKind::kPacket, 0, 0);
    }
    std::stable_sort(times.begin(), times.end());
    if (round % 2 == 0) {
      for (const int64_t t : times) ASSERT_EQ(queue.Pop().time_us, t);
    } else {
      got.clear();
      ASSERT_EQ(queue.TakeWindow(times.back() + 1, keep, &got),
                times.back() + 1);
      std::vector<int64_t> got_times;
      for (const Event& e : got) got_times.push_back(e.time_us);
      std::sort(got_times.begin(), got_times.end());
      ASSERT_EQ(got_times, times) << "round " << round;
    }
    ASSERT_TRUE(queue.empty());
    now = times.back();
  }
}

TEST(EventQueueTest, TakeWindowMatchesPopOneByOne) {
  for (int width : {0, 2, 4, 8}) {
    for (int count : {1, 3, 8, 14}) {
      SCOPED_TRACE(testing::Message()
                   << "width " << width << " count " << count);
      CheckTakeWindowAgainstPop(width, count, 300 + width * 16 + count);
    }
  }
}

}  // namespace
}  // namespace elara::sim
