// File: transport/poller_test.cc
//
// The Poller reports the state it ended in (ready / timeout), never how long
// it took: readable sockets, writable sockets, a Waker (eventfd), a pipe
// like stdin including hang-up, Modify and Remove.
#include "transport/poller.h"

#include <unistd.h>

#include <array>
#include <cstdint>
#include <vector>

#include "gtest/gtest.h"
#include "transport/udp_socket.h"

namespace elara {
namespace {

// Upper bound on a wait that must end with kReady: only guards against a
// hang, the tests never measure time.
constexpr Duration kHangGuard = Duration::Seconds(10);

std::unique_ptr<Poller> NewPoller() {
  absl::StatusOr<std::unique_ptr<Poller>> poller = Poller::Create();
  EXPECT_TRUE(poller.ok()) << poller.status();
  return std::move(*poller);
}

std::unique_ptr<UdpSocket> BindLoopback() {
  auto socket = UdpSocket::Bind(*Address::Parse("127.0.0.1:0"));
  EXPECT_TRUE(socket.ok()) << socket.status();
  return std::move(*socket);
}

TEST(PollerTest, TimesOutWhenNothingIsReady) {
  auto poller = NewPoller();
  auto socket = BindLoopback();
  ASSERT_TRUE(poller->Add(socket->fd(), kPollReadable, 7).ok());
  std::vector<PollEvent> events;
  absl::StatusOr<PollResult> result =
      poller->Wait(Duration::Millis(20), &events);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(*result, PollResult::kTimeout);
  EXPECT_TRUE(events.empty());
  // A zero timeout polls.
  result = poller->Wait(Duration::Zero(), &events);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, PollResult::kTimeout);
}

TEST(PollerTest, WakesOnReadableSocketUntilDrained) {
  auto poller = NewPoller();
  auto receiver = BindLoopback();
  auto sender = BindLoopback();
  ASSERT_TRUE(poller->Add(receiver->fd(), kPollReadable, 42).ok());

  const std::array<uint8_t, 3> bytes = {1, 2, 3};
  const OutgoingDatagram datagram{receiver->local_address(), bytes};
  ASSERT_EQ(sender->SendBatch({&datagram, 1}), 1u);

  std::vector<PollEvent> events;
  absl::StatusOr<PollResult> result = poller->Wait(kHangGuard, &events);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ(*result, PollResult::kReady);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].token, 42u);
  EXPECT_TRUE(events[0].readable);
  EXPECT_FALSE(events[0].writable);
  EXPECT_FALSE(events[0].error);

  // Level-triggered: still ready until read.
  result = poller->Wait(Duration::Zero(), &events);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, PollResult::kReady);

  std::vector<ReceivedDatagram> received;
  ASSERT_EQ(receiver->ReceiveBatch(&received, 16), 1u);
  result = poller->Wait(Duration::Zero(), &events);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, PollResult::kTimeout);
}

TEST(PollerTest, ReportsWritableOnlyWhenAsked) {
  auto poller = NewPoller();
  auto socket = BindLoopback();
  ASSERT_TRUE(poller->Add(socket->fd(), kPollReadable, 1).ok());
  std::vector<PollEvent> events;
  absl::StatusOr<PollResult> result = poller->Wait(Duration::Zero(), &events);
  ASSERT_TRUE(result.ok());
  EXPECT_EQ(*result, PollResult::kTimeout);

  ASSERT_TRUE(
      poller->Modify(socket->fd(), kPollReadable | kPollWritable, 2).ok());
  result = poller->Wait(kHangGuard, &events);
  ASSERT_TRUE(result.ok());
  ASSERT_EQ(*result, PollResult::kReady);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].token, 2u);
  EXPECT_TRUE(events[0].writable);
  EXPECT_FALSE(events[0].readable);
}

TEST(PollerTest, WakerWakesTheWaitAndDrains) {
  auto poller = NewPoller();
  absl::StatusOr<std::unique_ptr<Waker>> waker = Waker::Create();
  ASSERT_TRUE(waker.ok()) << waker.status();
  ASSERT_TRUE(poller->Add((*waker)->fd(), kPollReadable, 9).ok());
  std::vector<PollEvent> events;
  ASSERT_EQ(*poller->Wait(Duration::Zero(), &events), PollResult::kTimeout);

  ASSERT_TRUE((*waker)->Wake().ok());
  ASSERT_TRUE((*waker)->Wake().ok());
  ASSERT_EQ(*poller->Wait(Duration::Infinite(), &events), PollResult::kReady);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].token, 9u);
  EXPECT_TRUE(events[0].readable);

  EXPECT_EQ((*waker)->Drain(), 2u);
  EXPECT_EQ(*poller->Wait(Duration::Zero(), &events), PollResult::kTimeout);
  EXPECT_EQ((*waker)->Drain(), 0u);
}

TEST(PollerTest, WatchesAPipeLikeStdinAndReportsHangup) {
  auto poller = NewPoller();
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  ASSERT_TRUE(poller->Add(fds[0], kPollReadable, 5).ok());
  std::vector<PollEvent> events;
  EXPECT_EQ(*poller->Wait(Duration::Millis(1), &events), PollResult::kTimeout);

  ASSERT_EQ(write(fds[1], "x", 1), 1);
  ASSERT_EQ(*poller->Wait(kHangGuard, &events), PollResult::kReady);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].readable);
  EXPECT_FALSE(events[0].hangup);

  close(fds[1]);
  ASSERT_EQ(*poller->Wait(kHangGuard, &events), PollResult::kReady);
  ASSERT_EQ(events.size(), 1u);
  EXPECT_TRUE(events[0].hangup);
  close(fds[0]);
}

TEST(PollerTest, RemoveStopsReportsAndErrorsAreReturned) {
  auto poller = NewPoller();
  auto waker = std::move(*Waker::Create());
  ASSERT_TRUE(poller->Add(waker->fd(), kPollReadable, 1).ok());
  // Adding twice is an error (EEXIST), not silently accepted.
  EXPECT_FALSE(poller->Add(waker->fd(), kPollReadable, 1).ok());
  ASSERT_TRUE(waker->Wake().ok());
  ASSERT_TRUE(poller->Remove(waker->fd()).ok());
  std::vector<PollEvent> events;
  EXPECT_EQ(*poller->Wait(Duration::Zero(), &events), PollResult::kTimeout);
  EXPECT_FALSE(poller->Remove(waker->fd()).ok());
  EXPECT_FALSE(poller->Modify(-1, kPollReadable, 1).ok());
}

TEST(PollerTest, ReportsAtMostMaxEventsPerWait) {
  auto created = Poller::Create(/*max_events=*/2);
  ASSERT_TRUE(created.ok());
  auto& poller = *created;
  std::vector<std::unique_ptr<Waker>> wakers;
  for (uint64_t i = 0; i < 3; ++i) {
    wakers.push_back(std::move(*Waker::Create()));
    ASSERT_TRUE(poller->Add(wakers.back()->fd(), kPollReadable, i).ok());
    ASSERT_TRUE(wakers.back()->Wake().ok());
  }
  std::vector<PollEvent> events;
  ASSERT_EQ(*poller->Wait(kHangGuard, &events), PollResult::kReady);
  EXPECT_EQ(events.size(), 2u);
  EXPECT_FALSE(Poller::Create(0).ok());
}

}  // namespace
}  // namespace elara
