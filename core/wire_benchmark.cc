// File: core/wire_benchmark.cc
//
// Cost of the wire codec on the broadcast hot path: one gossip frame with a
// 1 KiB payload encoded (into a fresh vector, and into a reused one) and
// decoded (into a reused DecodedDatagram), and an IHave batch of 32 entries.
//
//   bazel run -c opt //core:wire_benchmark
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"
#include "core/wire.h"

namespace elara {
namespace {

constexpr size_t kPayloadBytes = 1024;
constexpr size_t kIHaveEntries = 32;

GossipFrame MakeGossip(const std::vector<uint8_t>& payload) {
  return GossipFrame{MessageId{NodeId(0x1234567890abcdef), 123456}, 7, payload};
}

IHaveFrame MakeIHave() {
  IHaveFrame frame;
  for (size_t i = 0; i < kIHaveEntries; ++i) {
    frame.entries.push_back(
        IHaveEntry{MessageId{NodeId(0x1000 + i * 7919), 1000 + i * 31},
                   static_cast<uint32_t>(3 + i % 5)});
  }
  return frame;
}

std::vector<uint8_t> Encode(const Frame& frame) {
  DatagramBuilder builder(NodeId(42), kDefaultMaxDatagramBytes);
  if (builder.Add(frame) != WireError::kOk) std::abort();
  return builder.Finish();
}

// Builder reused, Finish() hands out a new vector each time (one allocation).
void BM_EncodeGossip1KiB(benchmark::State& state) {
  const std::vector<uint8_t> payload(kPayloadBytes, 0xab);
  const Frame frame = MakeGossip(payload);
  DatagramBuilder builder(NodeId(42), kDefaultMaxDatagramBytes);
  for (auto _ : state) {
    if (builder.Add(frame) != WireError::kOk) std::abort();
    std::vector<uint8_t> datagram = builder.Finish();
    benchmark::DoNotOptimize(datagram.data());
  }
  state.SetBytesProcessed(state.iterations() * kPayloadBytes);
}
BENCHMARK(BM_EncodeGossip1KiB);

// Builder and output reused through FinishInto(): no allocation.
void BM_EncodeGossip1KiBReusedBuffer(benchmark::State& state) {
  const std::vector<uint8_t> payload(kPayloadBytes, 0xab);
  const Frame frame = MakeGossip(payload);
  DatagramBuilder builder(NodeId(42), kDefaultMaxDatagramBytes);
  std::vector<uint8_t> datagram;
  for (auto _ : state) {
    if (builder.Add(frame) != WireError::kOk) std::abort();
    builder.FinishInto(&datagram);
    benchmark::DoNotOptimize(datagram.data());
  }
  state.SetBytesProcessed(state.iterations() * kPayloadBytes);
}
BENCHMARK(BM_EncodeGossip1KiBReusedBuffer);

void BM_DecodeGossip1KiB(benchmark::State& state) {
  const std::vector<uint8_t> payload(kPayloadBytes, 0xab);
  const std::vector<uint8_t> bytes = Encode(MakeGossip(payload));
  DecodedDatagram out;
  for (auto _ : state) {
    if (DecodeDatagram(bytes, &out) != WireError::kOk) std::abort();
    benchmark::DoNotOptimize(out.frames.data());
  }
  state.SetBytesProcessed(state.iterations() * kPayloadBytes);
}
BENCHMARK(BM_DecodeGossip1KiB);

void BM_EncodeIHave32(benchmark::State& state) {
  const Frame frame = MakeIHave();
  DatagramBuilder builder(NodeId(42), kDefaultMaxDatagramBytes);
  std::vector<uint8_t> datagram;
  for (auto _ : state) {
    if (builder.Add(frame) != WireError::kOk) std::abort();
    builder.FinishInto(&datagram);
    benchmark::DoNotOptimize(datagram.data());
  }
  state.SetItemsProcessed(state.iterations() * kIHaveEntries);
}
BENCHMARK(BM_EncodeIHave32);

// Decoding a list allocates the entries vector (one allocation per frame).
void BM_DecodeIHave32(benchmark::State& state) {
  const std::vector<uint8_t> bytes = Encode(MakeIHave());
  DecodedDatagram out;
  for (auto _ : state) {
    if (DecodeDatagram(bytes, &out) != WireError::kOk) std::abort();
    benchmark::DoNotOptimize(out.frames.data());
  }
  state.SetItemsProcessed(state.iterations() * kIHaveEntries);
}
BENCHMARK(BM_DecodeIHave32);

}  // namespace
}  // namespace elara
