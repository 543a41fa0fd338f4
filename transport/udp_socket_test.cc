// File: transport/udp_socket_test.cc
//
// UdpSocket over the real loopback device (IPv4, IPv6, dual stack) and over
// a fault-injecting SocketCalls for the errors loopback never produces.
// Waits use a Poller with a generous bound that only guards against hangs;
// no test measures time.
#include "transport/udp_socket.h"

#include <errno.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "transport/poller.h"

namespace elara {
namespace {

constexpr Duration kHangGuard = Duration::Seconds(10);

struct Copied {
  Address from;
  std::vector<uint8_t> bytes;
};

std::unique_ptr<UdpSocket> BindOrNull(std::string_view text,
                                      const UdpOptions& options = {}) {
  absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
      UdpSocket::Bind(*Address::Parse(text), options);
  if (!socket.ok()) return nullptr;
  return std::move(*socket);
}

// Datagram `index` of a test stream: 1..1400 bytes, the index in the first
// four bytes, then a pattern that depends on index and position.
std::vector<uint8_t> Payload(uint32_t index) {
  std::vector<uint8_t> bytes(4 + (index * 37) % 1397);
  std::memcpy(bytes.data(), &index, 4);
  for (size_t k = 4; k < bytes.size(); ++k) {
    bytes[k] = static_cast<uint8_t>(index * 7 + k);
  }
  return bytes;
}

uint32_t IndexOf(const std::vector<uint8_t>& bytes) {
  uint32_t index = 0;
  std::memcpy(&index, bytes.data(), 4);
  return index;
}

// Receives until `want` datagrams arrived. Fails (and returns what it has)
// if the socket stays silent for kHangGuard.
std::vector<Copied> ReceiveAtLeast(UdpSocket& socket, size_t want,
                                   size_t batch = 64) {
  auto poller = std::move(*Poller::Create());
  EXPECT_TRUE(poller->Add(socket.fd(), kPollReadable, 0).ok());
  std::vector<Copied> copies;
  std::vector<ReceivedDatagram> received;
  std::vector<PollEvent> events;
  while (copies.size() < want) {
    const size_t got = socket.ReceiveBatch(&received, batch);
    EXPECT_LE(got, batch);
    EXPECT_EQ(got, received.size());
    for (const ReceivedDatagram& d : received) {
      copies.push_back({d.from, {d.bytes.begin(), d.bytes.end()}});
    }
    if (got > 0) continue;
    absl::StatusOr<PollResult> result = poller->Wait(kHangGuard, &events);
    if (!result.ok() || *result == PollResult::kTimeout) {
      ADD_FAILURE() << "no datagram for 10 s; have " << copies.size() << " of "
                    << want;
      break;
    }
  }
  return copies;
}

// Waits until the socket reports EPOLLERR (its error queue has an entry).
bool WaitForErrorQueue(UdpSocket& socket) {
  auto poller = std::move(*Poller::Create());
  EXPECT_TRUE(poller->Add(socket.fd(), 0, 0).ok());
  std::vector<PollEvent> events;
  absl::StatusOr<PollResult> result = poller->Wait(kHangGuard, &events);
  return result.ok() && *result == PollResult::kReady && events[0].error;
}

// An address on which nothing listens: bound once, then closed.
Address ClosedPort(std::string_view any_port) {
  auto socket = BindOrNull(any_port);
  EXPECT_NE(socket, nullptr);
  return socket->local_address();
}

// Sends `count` test datagrams from `from` to `to` in batches of `batch`.
uint64_t SendStream(UdpSocket& from, const Address& to, uint32_t count,
                    size_t batch) {
  uint64_t bytes_total = 0;
  std::vector<std::vector<uint8_t>> payloads;
  std::vector<OutgoingDatagram> outgoing;
  for (uint32_t start = 0; start < count; start += batch) {
    payloads.clear();
    outgoing.clear();
    for (uint32_t i = start; i < std::min<uint32_t>(count, start + batch);
         ++i) {
      payloads.push_back(Payload(i));
      bytes_total += payloads.back().size();
    }
    for (const auto& p : payloads) outgoing.push_back({to, p});
    EXPECT_EQ(from.SendBatch(outgoing), outgoing.size());
  }
  return bytes_total;
}

// Checks that `copies` are exactly datagrams 0..count-1 of the test stream,
// each once, intact, from `sender`.
void ExpectStream(const std::vector<Copied>& copies, uint32_t count,
                  const Address& sender) {
  ASSERT_EQ(copies.size(), count);
  std::vector<bool> seen(count, false);
  for (const Copied& c : copies) {
    EXPECT_EQ(c.from, sender);
    ASSERT_GE(c.bytes.size(), 4u);
    const uint32_t index = IndexOf(c.bytes);
    ASSERT_LT(index, count);
    EXPECT_FALSE(seen[index]) << "duplicate " << index;
    seen[index] = true;
    EXPECT_EQ(c.bytes, Payload(index)) << "datagram " << index;
  }
}

void ExchangeBatches(std::string_view any_port) {
  auto a = BindOrNull(any_port);
  auto b = BindOrNull(any_port);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  constexpr uint32_t kCount = 500;
  constexpr size_t kBatch = 50;
  const uint64_t bytes_ab = SendStream(*a, b->local_address(), kCount, kBatch);
  ExpectStream(ReceiveAtLeast(*b, kCount), kCount, a->local_address());
  const uint64_t bytes_ba = SendStream(*b, a->local_address(), kCount, kBatch);
  ExpectStream(ReceiveAtLeast(*a, kCount), kCount, b->local_address());

  for (UdpSocket* s : {a.get(), b.get()}) {
    const TransportCounters& c = s->counters();
    EXPECT_EQ(c.datagrams_sent, kCount);
    EXPECT_EQ(c.datagrams_received, kCount);
    EXPECT_EQ(c.send_calls, kCount / kBatch);  // one sendmmsg per batch
    EXPECT_EQ(c.send_queued, 0u);
    EXPECT_EQ(c.receive_truncated, 0u);
    EXPECT_TRUE(c.send_errors.empty());
    EXPECT_TRUE(c.receive_errors.empty());
  }
  EXPECT_EQ(a->counters().bytes_sent, bytes_ab);
  EXPECT_EQ(b->counters().bytes_received, bytes_ab);
  EXPECT_EQ(b->counters().bytes_sent, bytes_ba);
  EXPECT_EQ(a->counters().bytes_received, bytes_ba);
}

TEST(UdpSocketTest, BindPortZeroReportsTheChosenPort) {
  auto socket = BindOrNull("127.0.0.1:0");
  ASSERT_NE(socket, nullptr);
  EXPECT_EQ(socket->family(), AF_INET);
  EXPECT_EQ(socket->local_address().kind(), Address::Kind::kIpv4);
  EXPECT_NE(socket->local_address().port(), 0);
  EXPECT_EQ(socket->local_address(),
            Address::Ipv4({127, 0, 0, 1}, socket->local_address().port()));
  EXPECT_GT(socket->receive_buffer_bytes(), 0);
  EXPECT_GT(socket->send_buffer_bytes(), 0);
  // The port is taken: a second bind to it fails with a status, not a crash.
  absl::StatusOr<std::unique_ptr<UdpSocket>> again =
      UdpSocket::Bind(socket->local_address());
  EXPECT_FALSE(again.ok());
}

TEST(UdpSocketTest, BindRejectsNonIpAddressesAndBadOptions) {
  EXPECT_EQ(UdpSocket::Bind(Address::Sim(1)).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UdpSocket::Bind(Address()).status().code(),
            absl::StatusCode::kInvalidArgument);
  const Address loopback = *Address::Parse("127.0.0.1:0");
  UdpOptions options;
  options.max_datagram_bytes = 0;
  EXPECT_FALSE(UdpSocket::Bind(loopback, options).ok());
  options = {};
  options.max_datagram_bytes = kMaxUdpSlotBytes + 1;
  EXPECT_FALSE(UdpSocket::Bind(loopback, options).ok());
  options = {};
  options.batch_datagrams = kMaxBatchDatagrams + 1;
  EXPECT_FALSE(UdpSocket::Bind(loopback, options).ok());
  options = {};
  options.send_queue_datagrams = kMaxSendQueueDatagrams + 1;
  EXPECT_FALSE(UdpSocket::Bind(loopback, options).ok());
}

TEST(UdpSocketTest, Ipv4LoopbackExchangesBatchesIntact) {
  ExchangeBatches("127.0.0.1:0");
}

TEST(UdpSocketTest, Ipv6LoopbackExchangesBatchesIntact) {
  if (BindOrNull("[::1]:0") == nullptr) {
    GTEST_SKIP() << "no IPv6 loopback ([::1]) on this machine";
  }
  ExchangeBatches("[::1]:0");
}

TEST(UdpSocketTest, DualStackWildcardServesIpv4PeersAsIpv4Addresses) {
  auto dual = BindOrNull("[::]:0");
  if (dual == nullptr) GTEST_SKIP() << "no IPv6 on this machine";
  auto v4 = BindOrNull("127.0.0.1:0");
  ASSERT_NE(v4, nullptr);
  const Address dual_via_v4 =
      Address::Ipv4({127, 0, 0, 1}, dual->local_address().port());

  SendStream(*v4, dual_via_v4, 3, 3);
  std::vector<Copied> at_dual = ReceiveAtLeast(*dual, 3);
  ExpectStream(at_dual, 3, v4->local_address());
  ASSERT_FALSE(at_dual.empty());
  EXPECT_EQ(at_dual[0].from.kind(), Address::Kind::kIpv4);  // not v4-mapped

  // Reply to the IPv4 Address from the IPv6 socket.
  SendStream(*dual, at_dual[0].from, 2, 2);
  ExpectStream(ReceiveAtLeast(*v4, 2), 2, dual_via_v4);
}

TEST(UdpSocketTest, DestinationsTheSocketCannotReachAreCounted) {
  auto v4 = BindOrNull("127.0.0.1:0");
  ASSERT_NE(v4, nullptr);
  const std::array<uint8_t, 1> bytes = {0};
  const std::array<OutgoingDatagram, 3> outgoing = {{
      {*Address::Parse("[::1]:9"), bytes},
      {Address::Sim(4), bytes},
      {Address(), bytes},
  }};
  EXPECT_EQ(v4->SendBatch(outgoing), 0u);
  EXPECT_EQ(v4->counters().send_destination_invalid, 3u);
  EXPECT_EQ(v4->counters().datagrams_sent, 0u);

  UdpOptions v6_only;
  v6_only.ipv6_only = true;
  auto v6 = BindOrNull("[::]:0", v6_only);
  if (v6 == nullptr) return;
  const OutgoingDatagram to_v4{v4->local_address(), bytes};
  EXPECT_EQ(v6->SendBatch({&to_v4, 1}), 0u);
  EXPECT_EQ(v6->counters().send_destination_invalid, 1u);
}

TEST(UdpSocketTest, OversizedDatagramIsCountedAsTruncatedNotDelivered) {
  UdpOptions small;
  small.max_datagram_bytes = 1000;
  auto receiver = BindOrNull("127.0.0.1:0", small);
  auto sender = BindOrNull("127.0.0.1:0");
  ASSERT_NE(receiver, nullptr);
  ASSERT_NE(sender, nullptr);
  const Address to = receiver->local_address();

  // Alone: the whole batch is dropped, ReceiveBatch reports nothing.
  std::vector<uint8_t> too_big(1001, 0xAB);
  const OutgoingDatagram big{to, too_big};
  ASSERT_EQ(sender->SendBatch({&big, 1}), 1u);
  auto poller = std::move(*Poller::Create());
  ASSERT_TRUE(poller->Add(receiver->fd(), kPollReadable, 0).ok());
  std::vector<PollEvent> events;
  ASSERT_EQ(*poller->Wait(kHangGuard, &events), PollResult::kReady);
  std::vector<ReceivedDatagram> received;
  EXPECT_EQ(receiver->ReceiveBatch(&received, 64), 0u);
  EXPECT_EQ(receiver->counters().receive_truncated, 1u);

  // Among others: exactly the fitting ones arrive, whole.
  std::vector<uint8_t> fits(1000, 0xCD);
  std::vector<uint8_t> tiny = {1, 2, 3};
  const std::array<OutgoingDatagram, 3> mixed = {
      {{to, too_big}, {to, fits}, {to, tiny}}};
  ASSERT_EQ(sender->SendBatch(mixed), 3u);
  std::vector<Copied> copies = ReceiveAtLeast(*receiver, 2);
  ASSERT_EQ(copies.size(), 2u);
  std::sort(copies.begin(), copies.end(), [](const Copied& x, const Copied& y) {
    return x.bytes.size() < y.bytes.size();
  });
  EXPECT_EQ(copies[0].bytes, tiny);
  EXPECT_EQ(copies[1].bytes, fits);
  EXPECT_EQ(receiver->counters().receive_truncated, 2u);
  EXPECT_EQ(receiver->counters().datagrams_received, 2u);
  EXPECT_EQ(receiver->counters().bytes_received, 1003u);
}

TEST(UdpSocketTest, ClosedPortSurfacesConnectionRefusedOnReceive) {
  auto socket = BindOrNull("127.0.0.1:0");
  ASSERT_NE(socket, nullptr);
  const Address dead = ClosedPort("127.0.0.1:0");
  constexpr uint32_t kSends = 3;
  SendStream(*socket, dead, kSends, 1);
  EXPECT_EQ(socket->counters().datagrams_sent, kSends);

  // The ICMP errors arrive asynchronously; each is counted exactly once.
  std::vector<ReceivedDatagram> received;
  for (int round = 0;
       round < 100 && socket->counters().connection_refused < kSends; ++round) {
    ASSERT_TRUE(WaitForErrorQueue(*socket)) << socket->counters().ToString();
    EXPECT_EQ(socket->ReceiveBatch(&received, 64), 0u);
  }
  EXPECT_EQ(socket->counters().connection_refused, kSends);
  EXPECT_TRUE(socket->counters().receive_errors.empty())
      << socket->counters().ToString();
  std::vector<Address> unreachable;
  EXPECT_EQ(socket->TakeUnreachablePeers(&unreachable), kSends);
  for (const Address& peer : unreachable) EXPECT_EQ(peer, dead);
  EXPECT_EQ(socket->TakeUnreachablePeers(&unreachable), 0u);

  // Error queue empty and no pending error left: nothing more is counted.
  auto poller = std::move(*Poller::Create());
  ASSERT_TRUE(poller->Add(socket->fd(), kPollReadable, 0).ok());
  std::vector<PollEvent> events;
  EXPECT_EQ(*poller->Wait(Duration::Zero(), &events), PollResult::kTimeout);
  EXPECT_EQ(socket->ReceiveBatch(&received, 64), 0u);
  EXPECT_EQ(socket->counters().connection_refused, kSends);
}

TEST(UdpSocketTest, PendingConnectionRefusedDoesNotLoseTheNextSend) {
  auto socket = BindOrNull("127.0.0.1:0");
  auto live = BindOrNull("127.0.0.1:0");
  ASSERT_NE(socket, nullptr);
  ASSERT_NE(live, nullptr);
  SendStream(*socket, ClosedPort("127.0.0.1:0"), 1, 1);
  ASSERT_TRUE(WaitForErrorQueue(*socket));

  // The pending error fails this sendmmsg once; the datagram is sent again.
  SendStream(*socket, live->local_address(), 1, 1);
  EXPECT_EQ(socket->counters().connection_refused, 1u);
  EXPECT_EQ(socket->counters().datagrams_sent, 2u);
  EXPECT_EQ(socket->counters().send_calls, 3u);  // 1 + failed + repeated
  EXPECT_TRUE(socket->counters().send_errors.empty())
      << socket->counters().ToString();
  ExpectStream(ReceiveAtLeast(*live, 1), 1, socket->local_address());
}

TEST(UdpSocketTest, DrainErrorQueueCountsOnceAndClearsThePendingError) {
  auto socket = BindOrNull("127.0.0.1:0");
  auto live = BindOrNull("127.0.0.1:0");
  ASSERT_NE(socket, nullptr);
  ASSERT_NE(live, nullptr);
  SendStream(*socket, ClosedPort("127.0.0.1:0"), 1, 1);
  ASSERT_TRUE(WaitForErrorQueue(*socket));
  EXPECT_EQ(socket->DrainErrorQueue(), 1u);
  EXPECT_EQ(socket->counters().connection_refused, 1u);

  // No second report of the same ICMP message on the next send.
  SendStream(*socket, live->local_address(), 1, 1);
  EXPECT_EQ(socket->counters().send_calls, 2u);
  EXPECT_EQ(socket->counters().connection_refused, 1u);
  ExpectStream(ReceiveAtLeast(*live, 1), 1, socket->local_address());
}

TEST(UdpSocketTest, Ipv6ClosedPortSurfacesConnectionRefused) {
  auto socket = BindOrNull("[::1]:0");
  if (socket == nullptr) GTEST_SKIP() << "no IPv6 loopback on this machine";
  const Address dead = ClosedPort("[::1]:0");
  SendStream(*socket, dead, 1, 1);
  ASSERT_TRUE(WaitForErrorQueue(*socket));
  std::vector<ReceivedDatagram> received;
  EXPECT_EQ(socket->ReceiveBatch(&received, 64), 0u);
  EXPECT_EQ(socket->counters().connection_refused, 1u)
      << socket->counters().ToString();
  std::vector<Address> unreachable;
  ASSERT_EQ(socket->TakeUnreachablePeers(&unreachable), 1u);
  EXPECT_EQ(unreachable[0], dead);
}

TEST(UdpSocketTest, DualStackSocketReportsIpv4UnreachablePeerAsIpv4) {
  auto dual = BindOrNull("[::]:0");
  if (dual == nullptr) GTEST_SKIP() << "no IPv6 on this machine";
  const Address dead = ClosedPort("127.0.0.1:0");
  SendStream(*dual, dead, 1, 1);
  ASSERT_TRUE(WaitForErrorQueue(*dual));
  EXPECT_EQ(dual->DrainErrorQueue(), 1u);
  EXPECT_EQ(dual->counters().connection_refused, 1u)
      << dual->counters().ToString();
  std::vector<Address> unreachable;
  ASSERT_EQ(dual->TakeUnreachablePeers(&unreachable), 1u);
  EXPECT_EQ(unreachable[0], dead);
  EXPECT_EQ(unreachable[0].kind(), Address::Kind::kIpv4);
}

TEST(UdpSocketTest, UnreachablePeerListIsBoundedAndCounted) {
  UdpOptions options;
  options.unreachable_peers_max = 2;
  auto socket = BindOrNull("127.0.0.1:0", options);
  ASSERT_NE(socket, nullptr);
  const Address dead = ClosedPort("127.0.0.1:0");
  for (int i = 0; i < 4; ++i) {
    SendStream(*socket, dead, 1, 1);
    ASSERT_TRUE(WaitForErrorQueue(*socket));
    ASSERT_EQ(socket->DrainErrorQueue(), 1u);
  }
  EXPECT_EQ(socket->counters().connection_refused, 4u);
  EXPECT_EQ(socket->counters().unreachable_peers_drops, 2u);
  std::vector<Address> unreachable;
  EXPECT_EQ(socket->TakeUnreachablePeers(&unreachable), 2u);
}

void ExpectSeventyKilobytesTooBig(std::string_view any_port) {
  auto sender = BindOrNull(any_port);
  auto receiver = BindOrNull(any_port);
  ASSERT_NE(sender, nullptr);
  ASSERT_NE(receiver, nullptr);
  const Address to = receiver->local_address();
  std::vector<uint8_t> huge(70000, 1);
  std::vector<uint8_t> just_over(65530, 2);  // over the IPv4 limit of 65507
  std::vector<uint8_t> small = {7};
  const std::array<OutgoingDatagram, 3> outgoing = {
      {{to, huge}, {to, small}, {to, huge}}};
  EXPECT_EQ(sender->SendBatch(outgoing), 1u);
  EXPECT_EQ(sender->counters().send_too_big, 2u);
  EXPECT_EQ(sender->counters().datagrams_sent, 1u);
  EXPECT_EQ(sender->counters().bytes_sent, 1u);
  std::vector<Copied> copies = ReceiveAtLeast(*receiver, 1);
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].bytes, small);

  if (sender->family() == AF_INET) {
    const OutgoingDatagram over{to, just_over};
    EXPECT_EQ(sender->SendBatch({&over, 1}), 0u);
    EXPECT_EQ(sender->counters().send_too_big, 3u);
    sender->DrainErrorQueue();  // the kernel may also queue a local error
    EXPECT_EQ(sender->counters().send_too_big, 3u);  // counted once
  }
  EXPECT_TRUE(sender->counters().send_errors.empty())
      << sender->counters().ToString();
}

TEST(UdpSocketTest, SeventyKilobyteSendIsCountedAsTooBigIpv4) {
  ExpectSeventyKilobytesTooBig("127.0.0.1:0");
}

TEST(UdpSocketTest, SeventyKilobyteSendIsCountedAsTooBigIpv6) {
  if (BindOrNull("[::1]:0") == nullptr) {
    GTEST_SKIP() << "no IPv6 loopback on this machine";
  }
  ExpectSeventyKilobytesTooBig("[::1]:0");
}

TEST(UdpSocketTest, ReceiveBatchRespectsMaxAndReusesSlots) {
  UdpOptions options;
  options.batch_datagrams = 8;
  auto receiver = BindOrNull("127.0.0.1:0", options);
  auto sender = BindOrNull("127.0.0.1:0");
  ASSERT_NE(receiver, nullptr);
  ASSERT_NE(sender, nullptr);
  SendStream(*sender, receiver->local_address(), 20, 20);
  std::vector<Copied> copies;
  std::vector<ReceivedDatagram> received;
  auto poller = std::move(*Poller::Create());
  ASSERT_TRUE(poller->Add(receiver->fd(), kPollReadable, 0).ok());
  std::vector<PollEvent> events;
  while (copies.size() < 20) {
    ASSERT_EQ(*poller->Wait(kHangGuard, &events), PollResult::kReady);
    // max below the batch size is honoured; above it is capped at 8.
    const size_t got = receiver->ReceiveBatch(&received, 3);
    EXPECT_LE(got, 3u);
    for (const auto& d : received) {
      copies.push_back({d.from, {d.bytes.begin(), d.bytes.end()}});
    }
    EXPECT_LE(receiver->ReceiveBatch(&received, 100), 8u);
    for (const auto& d : received) {
      copies.push_back({d.from, {d.bytes.begin(), d.bytes.end()}});
    }
  }
  ExpectStream(copies, 20, sender->local_address());
  EXPECT_EQ(receiver->ReceiveBatch(&received, 0), 0u);
}

// ---------------------------------------------------------------------------
// Fault injection: errors loopback does not produce on demand.

// Passes calls to the kernel, except that scripted sendmmsg/recvmmsg calls
// fail with a given errno or are cut to a given number of messages. Records
// the first byte of every datagram the kernel accepted, in order.
class ScriptedSocketCalls : public SocketCalls {
 public:
  struct Step {
    int error = 0;           // fail with this errno
    unsigned int limit = 0;  // else pass at most this many (0: all)
  };
  std::deque<Step> send_script;
  std::deque<Step> receive_script;
  std::vector<uint8_t> sent_first_bytes;

  int SendMmsg(int fd, mmsghdr* messages, unsigned int count) override {
    if (!send_script.empty()) {
      const Step step = send_script.front();
      send_script.pop_front();
      if (step.error != 0) {
        errno = step.error;
        return -1;
      }
      if (step.limit != 0) count = std::min(count, step.limit);
    }
    const int sent = Kernel()->SendMmsg(fd, messages, count);
    for (int i = 0; i < sent; ++i) {
      const iovec* iov = messages[i].msg_hdr.msg_iov;
      sent_first_bytes.push_back(
          iov->iov_len > 0 ? static_cast<const uint8_t*>(iov->iov_base)[0] : 0);
    }
    return sent;
  }
  int RecvMmsg(int fd, mmsghdr* messages, unsigned int count) override {
    if (!receive_script.empty()) {
      const Step step = receive_script.front();
      receive_script.pop_front();
      if (step.error != 0) {
        errno = step.error;
        return -1;
      }
      if (step.limit != 0) count = std::min(count, step.limit);
    }
    return Kernel()->RecvMmsg(fd, messages, count);
  }
  ssize_t RecvErrorQueue(int fd, msghdr* message) override {
    return Kernel()->RecvErrorQueue(fd, message);
  }
};

// Datagrams whose first byte is its position in the stream.
struct NumberedBatch {
  std::vector<std::array<uint8_t, 2>> payloads;
  std::vector<OutgoingDatagram> outgoing;
  NumberedBatch(const Address& to, uint8_t first, uint8_t count) {
    payloads.reserve(count);
    for (uint8_t i = 0; i < count; ++i) {
      payloads.push_back({static_cast<uint8_t>(first + i), 0x5A});
    }
    for (const auto& p : payloads) outgoing.push_back({to, p});
  }
};

class FaultInjectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    receiver_ = BindOrNull("127.0.0.1:0");
    ASSERT_NE(receiver_, nullptr);
  }
  std::unique_ptr<UdpSocket> Sender(size_t send_queue_datagrams = 1024) {
    UdpOptions options;
    options.socket_calls = &calls_;
    options.send_queue_datagrams = send_queue_datagrams;
    auto sender = BindOrNull("127.0.0.1:0", options);
    EXPECT_NE(sender, nullptr);
    return sender;
  }
  std::vector<uint8_t> FirstBytesReceived(size_t count) {
    std::vector<uint8_t> first;
    for (const Copied& c : ReceiveAtLeast(*receiver_, count)) {
      first.push_back(c.bytes[0]);
    }
    std::sort(first.begin(), first.end());
    return first;
  }
  static std::vector<uint8_t> Range(uint8_t count) {
    std::vector<uint8_t> range(count);
    for (uint8_t i = 0; i < count; ++i) range[i] = i;
    return range;
  }

  ScriptedSocketCalls calls_;
  std::unique_ptr<UdpSocket> receiver_;
};

TEST_F(FaultInjectionTest, WouldBlockQueuesTheRestAndKeepsOrder) {
  auto sender = Sender();
  const Address to = receiver_->local_address();
  // The kernel takes 3 of 10, then its buffer is full.
  calls_.send_script = {{0, 3}, {EAGAIN, 0}};
  NumberedBatch first(to, 0, 10);
  EXPECT_EQ(sender->SendBatch(first.outgoing), 10u);
  EXPECT_EQ(sender->counters().datagrams_sent, 3u);
  EXPECT_EQ(sender->counters().send_would_block, 1u);
  EXPECT_EQ(sender->queued_datagrams(), 7u);
  EXPECT_EQ(sender->counters().send_queued, 7u);

  // The queue goes first, then the new batch, in send order. `first` may be
  // destroyed: the queue holds copies.
  first = NumberedBatch(to, 99, 0);
  NumberedBatch second(to, 10, 5);
  EXPECT_EQ(sender->SendBatch(second.outgoing), 5u);
  EXPECT_EQ(sender->queued_datagrams(), 0u);
  EXPECT_EQ(sender->counters().datagrams_sent, 15u);
  EXPECT_EQ(calls_.sent_first_bytes, Range(15));
  EXPECT_EQ(FirstBytesReceived(15), Range(15));
}

TEST_F(FaultInjectionTest, NewDatagramsWaitBehindTheQueue) {
  auto sender = Sender();
  const Address to = receiver_->local_address();
  calls_.send_script = {{EAGAIN, 0}, {EAGAIN, 0}};
  NumberedBatch first(to, 0, 4);
  NumberedBatch second(to, 4, 4);
  EXPECT_EQ(sender->SendBatch(first.outgoing), 4u);
  // The flush fails again: the new datagrams queue behind the old ones.
  EXPECT_EQ(sender->SendBatch(second.outgoing), 4u);
  EXPECT_EQ(sender->queued_datagrams(), 8u);
  EXPECT_EQ(sender->counters().send_would_block, 2u);
  EXPECT_EQ(sender->FlushSendQueue(), 8u);
  EXPECT_EQ(sender->queued_datagrams(), 0u);
  EXPECT_EQ(calls_.sent_first_bytes, Range(8));
  EXPECT_EQ(FirstBytesReceived(8), Range(8));
}

TEST_F(FaultInjectionTest, FullSendQueueDropsAndCounts) {
  auto sender = Sender(/*send_queue_datagrams=*/4);
  const Address to = receiver_->local_address();
  calls_.send_script = {{EAGAIN, 0}, {EAGAIN, 0}};
  NumberedBatch ten(to, 0, 10);
  EXPECT_EQ(sender->SendBatch(ten.outgoing), 4u);
  EXPECT_EQ(sender->counters().send_queue_drops, 6u);
  NumberedBatch two(to, 10, 2);
  EXPECT_EQ(sender->SendBatch(two.outgoing), 0u);
  EXPECT_EQ(sender->counters().send_queue_drops, 8u);
  EXPECT_EQ(sender->FlushSendQueue(), 4u);
  EXPECT_EQ(calls_.sent_first_bytes, Range(4));
  EXPECT_EQ(FirstBytesReceived(4), Range(4));
}

TEST_F(FaultInjectionTest, NoQueueMeansDropsAreCounted) {
  auto sender = Sender(/*send_queue_datagrams=*/0);
  calls_.send_script = {{EWOULDBLOCK, 0}};
  NumberedBatch three(receiver_->local_address(), 0, 3);
  EXPECT_EQ(sender->SendBatch(three.outgoing), 0u);
  EXPECT_EQ(sender->counters().send_queue_drops, 3u);
  EXPECT_EQ(sender->FlushSendQueue(), 0u);
}

TEST_F(FaultInjectionTest, EintrIsRetriedWithoutLoss) {
  auto sender = Sender();
  calls_.send_script = {{EINTR, 0}, {0, 2}, {EINTR, 0}};
  NumberedBatch five(receiver_->local_address(), 0, 5);
  EXPECT_EQ(sender->SendBatch(five.outgoing), 5u);
  EXPECT_EQ(sender->counters().datagrams_sent, 5u);
  EXPECT_TRUE(sender->counters().send_errors.empty());
  EXPECT_EQ(FirstBytesReceived(5), Range(5));
}

TEST_F(FaultInjectionTest, OtherSendErrnoIsCountedByNameAndDropsOne) {
  auto sender = Sender();
  calls_.send_script = {{ENOBUFS, 0}, {0, 2}, {EPERM, 0}};
  NumberedBatch five(receiver_->local_address(), 0, 5);
  EXPECT_EQ(sender->SendBatch(five.outgoing), 3u);
  EXPECT_EQ(sender->counters().send_errors.at("ENOBUFS"), 1u);
  EXPECT_EQ(sender->counters().send_errors.at("EPERM"), 1u);
  EXPECT_EQ(sender->counters().datagrams_sent, 3u);
  // Datagram 0 failed with ENOBUFS, 1-2 were sent, 3 failed with EPERM.
  EXPECT_EQ(calls_.sent_first_bytes, (std::vector<uint8_t>{1, 2, 4}));
  EXPECT_NE(sender->counters().ToString().find("send_errors.ENOBUFS=1"),
            std::string::npos);
}

TEST_F(FaultInjectionTest, ReceiveErrnoIsCountedByNameThenReceivingGoesOn) {
  UdpOptions options;
  options.socket_calls = &calls_;
  auto receiver = BindOrNull("127.0.0.1:0", options);
  auto sender = BindOrNull("127.0.0.1:0");
  ASSERT_NE(receiver, nullptr);
  SendStream(*sender, receiver->local_address(), 4, 4);
  calls_.receive_script = {{ENOMEM, 0}, {EINTR, 0}, {0, 1}};
  auto poller = std::move(*Poller::Create());
  ASSERT_TRUE(poller->Add(receiver->fd(), kPollReadable, 0).ok());
  std::vector<PollEvent> events;
  ASSERT_EQ(*poller->Wait(kHangGuard, &events), PollResult::kReady);
  std::vector<ReceivedDatagram> received;
  EXPECT_EQ(receiver->ReceiveBatch(&received, 64), 0u);
  EXPECT_EQ(receiver->counters().receive_errors.at("ENOMEM"), 1u);
  // EINTR is repeated inside the call; the next step passes one datagram.
  ASSERT_EQ(receiver->ReceiveBatch(&received, 64), 1u);
  std::vector<Copied> copies = {
      {received[0].from, {received[0].bytes.begin(), received[0].bytes.end()}}};
  for (Copied& c : ReceiveAtLeast(*receiver, 3)) copies.push_back(c);
  ExpectStream(copies, 4, sender->local_address());
}

TEST(TransportCountersTest, ForEachVisitsEveryCounterInAFixedOrder) {
  TransportCounters counters;
  counters.datagrams_received = 5;
  counters.send_errors["EPERM"] = 2;
  counters.receive_errors["ENOMEM"] = 1;
  counters.icmp_errors["EHOSTUNREACH"] = 3;
  std::vector<std::string> names;
  std::map<std::string, uint64_t> values;
  counters.ForEach([&](std::string_view name, uint64_t value) {
    names.emplace_back(name);
    values[std::string(name)] = value;
  });
  EXPECT_EQ(names.front(), "datagrams_received");
  EXPECT_EQ(names.size(), 20u);
  EXPECT_EQ(values["datagrams_received"], 5u);
  EXPECT_EQ(values["send_errors.EPERM"], 2u);
  EXPECT_EQ(values["receive_errors.ENOMEM"], 1u);
  EXPECT_EQ(values["icmp_errors.EHOSTUNREACH"], 3u);
  EXPECT_EQ(counters.ToString(),
            "datagrams_received=5 send_errors.EPERM=2 "
            "receive_errors.ENOMEM=1 icmp_errors.EHOSTUNREACH=3");
}

}  // namespace
}  // namespace elara
