// File: transport/udp_benchmark.cc
//
// Datagrams per second through the loopback device with batched send and
// receive of 1 KiB datagrams: one process, one thread, two UdpSockets. Each
// iteration sends one batch with SendBatch (one sendmmsg) and receives it
// with ReceiveBatch (recvmmsg) before the next, so the kernel's buffers never
// overflow. Args: {datagrams per batch, receive slot bytes}.
//
// The figure includes both directions' system-call and kernel work on one
// core: a receiving node that does not also send gets more.
//
//   bazel run -c opt //transport:udp_benchmark
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <vector>

#include "benchmark/benchmark.h"
#include "transport/udp_socket.h"

namespace elara {
namespace {

constexpr size_t kDatagramBytes = 1024;
// Receive attempts that find nothing before a datagram counts as lost
// (loopback delivers within the send call, so this is never reached).
constexpr int kEmptyReceivesMax = 1000;

std::unique_ptr<UdpSocket> BindLoopback(size_t batch, size_t slot_bytes) {
  UdpOptions options;
  options.batch_datagrams = batch;
  options.max_datagram_bytes = slot_bytes;
  auto socket = UdpSocket::Bind(*Address::Parse("127.0.0.1:0"), options);
  if (!socket.ok()) return nullptr;
  return std::move(*socket);
}

void BM_LoopbackBatch(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  const size_t slot_bytes = static_cast<size_t>(state.range(1));
  auto sender = BindLoopback(batch, slot_bytes);
  auto receiver = BindLoopback(batch, slot_bytes);
  if (sender == nullptr || receiver == nullptr) {
    state.SkipWithError("bind failed");
    return;
  }
  std::vector<uint8_t> payload(kDatagramBytes, 0x42);
  std::vector<OutgoingDatagram> outgoing(
      batch, OutgoingDatagram{receiver->local_address(), payload});
  std::vector<ReceivedDatagram> received;
  received.reserve(batch);
  uint64_t delivered = 0;
  uint64_t lost = 0;
  for (auto _ : state) {
    sender->SendBatch(outgoing);
    size_t got = 0;
    int empty = 0;
    while (got < batch && empty < kEmptyReceivesMax) {
      const size_t n = receiver->ReceiveBatch(&received, batch - got);
      if (n == 0) ++empty;
      for (const ReceivedDatagram& d : received) {
        benchmark::DoNotOptimize(d.bytes.data());
      }
      got += n;
    }
    delivered += got;
    lost += batch - got;
  }
  state.SetItemsProcessed(static_cast<int64_t>(delivered));
  state.SetBytesProcessed(static_cast<int64_t>(delivered * kDatagramBytes));
  state.counters["lost"] = static_cast<double>(lost);
  state.counters["send_calls_per_datagram"] =
      static_cast<double>(sender->counters().send_calls) /
      static_cast<double>(std::max<uint64_t>(1, delivered));
  state.counters["receive_calls_per_datagram"] =
      static_cast<double>(receiver->counters().receive_calls) /
      static_cast<double>(std::max<uint64_t>(1, delivered));
}

// The receive half alone: the sends (and with them the loopback device's
// delivery into the receiver's queue) are outside the timed region, so this
// is what the receiving thread itself pays per datagram: recvmmsg, the copy
// out of the kernel, and ReceiveBatch's bookkeeping.
void BM_ReceiveOnly(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  auto sender = BindLoopback(batch, 2048);
  auto receiver = BindLoopback(batch, 2048);
  if (sender == nullptr || receiver == nullptr) {
    state.SkipWithError("bind failed");
    return;
  }
  std::vector<uint8_t> payload(kDatagramBytes, 0x42);
  std::vector<OutgoingDatagram> outgoing(
      batch, OutgoingDatagram{receiver->local_address(), payload});
  std::vector<ReceivedDatagram> received;
  uint64_t delivered = 0;
  for (auto _ : state) {
    state.PauseTiming();
    sender->SendBatch(outgoing);
    state.ResumeTiming();
    size_t got = 0;
    for (int empty = 0; got < batch && empty < kEmptyReceivesMax;) {
      const size_t n = receiver->ReceiveBatch(&received, batch - got);
      if (n == 0) ++empty;
      got += n;
    }
    delivered += got;
  }
  state.SetItemsProcessed(static_cast<int64_t>(delivered));
}

// The same exchange as BM_LoopbackBatch with bare sendmmsg/recvmmsg and no
// bookkeeping: the kernel's floor, to show what UdpSocket adds.
void BM_BareSyscallsBaseline(benchmark::State& state) {
  const size_t batch = static_cast<size_t>(state.range(0));
  auto sender = BindLoopback(batch, 2048);  // used for its fd only
  auto receiver = BindLoopback(batch, 2048);
  if (sender == nullptr || receiver == nullptr) {
    state.SkipWithError("bind failed");
    return;
  }
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(receiver->local_address().port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<uint8_t> payload(kDatagramBytes, 0x42);
  std::vector<uint8_t> slots(batch * 2048);
  std::vector<mmsghdr> send_headers(batch), receive_headers(batch);
  std::vector<iovec> send_iovecs(batch), receive_iovecs(batch);
  std::vector<sockaddr_storage> names(batch);
  for (size_t i = 0; i < batch; ++i) {
    send_iovecs[i] = {payload.data(), payload.size()};
    send_headers[i].msg_hdr.msg_name = &to;
    send_headers[i].msg_hdr.msg_namelen = sizeof(to);
    send_headers[i].msg_hdr.msg_iov = &send_iovecs[i];
    send_headers[i].msg_hdr.msg_iovlen = 1;
    receive_iovecs[i] = {slots.data() + i * 2048, 2048};
    receive_headers[i].msg_hdr.msg_name = &names[i];
    receive_headers[i].msg_hdr.msg_iov = &receive_iovecs[i];
    receive_headers[i].msg_hdr.msg_iovlen = 1;
  }
  uint64_t delivered = 0;
  for (auto _ : state) {
    sendmmsg(sender->fd(), send_headers.data(), batch, 0);
    size_t got = 0;
    for (int empty = 0; got < batch && empty < kEmptyReceivesMax;) {
      for (size_t i = 0; i < batch - got; ++i) {
        receive_headers[i].msg_hdr.msg_namelen = sizeof(sockaddr_storage);
      }
      const int n = recvmmsg(receiver->fd(), receive_headers.data(),
                             batch - got, MSG_DONTWAIT, nullptr);
      if (n <= 0) {
        ++empty;
        continue;
      }
      got += static_cast<size_t>(n);
    }
    delivered += got;
  }
  state.SetItemsProcessed(static_cast<int64_t>(delivered));
}

BENCHMARK(BM_LoopbackBatch)
    ->ArgNames({"batch", "slot_bytes"})
    ->Args({1, 65536})
    ->Args({8, 65536})
    ->Args({32, 65536})
    ->Args({64, 65536})
    ->Args({64, 2048})
    ->Args({256, 2048});
BENCHMARK(BM_ReceiveOnly)->ArgName("batch")->Arg(1)->Arg(64);
BENCHMARK(BM_BareSyscallsBaseline)->ArgName("batch")->Arg(1)->Arg(64);

}  // namespace
}  // namespace elara
