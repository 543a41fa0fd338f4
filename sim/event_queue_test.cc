// File: sim/event_queue_test.cc
//
// The event queue pops by (time, scheduling order), for every arity, and
// agrees with a sorted reference on random workloads.
#include "sim/event_queue.h"

#include <algorithm>
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

}  // namespace
}  // namespace elara::sim
