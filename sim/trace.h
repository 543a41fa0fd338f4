// File: sim/trace.h
//
// The run's fingerprint and its optional written trace.
//
// TraceHash: a 64-bit hash over every datagram send (time, from, to, size)
// and every delivery (time, node, message origin, sequence, hops), in event
// order. It is FNV-1a applied to 64-bit words instead of bytes (xor the
// word, multiply by the FNV-64 prime) with an xor-shift fold after each
// word so high bits reach low bits, and splitmix64's finaliser on output.
// It is written here, not std::hash / absl::Hash: those are not stable
// across builds or processes (Abseil salts per process). Same run => same
// value on every platform.
//
// TraceWriter: the same records as JSON lines, for small runs (the
// simulator refuses a trace for more than Scenario::kMaxTraceNodes nodes):
//   {"t_us":1000123,"ev":"send","from":3,"to":9,"bytes":1100,"fate":"ok"}
//   {"t_us":1010456,"ev":"deliver","node":9,"origin":"00ab..","seq":1,"hops":2}
// "fate" is "ok" or the reason the datagram will not arrive ("loss",
// "burst", "uplink"); drops at arrival (crashed node, partition) are
// written as {"ev":"drop","reason":"dead"|"partition",...}. Drops are not
// part of the hash: they follow from the sends and the seed.
// The hash mixes records in the order the simulator made them (inside a
// lookahead window: node by node), the file is in time order, so the hash
// cannot be recomputed from the file; both are fixed by the run.
// Lines are in time order: the simulator brackets each lookahead window
// (whose events run node by node) with BeginWindow/EndWindow, and the
// window's lines are held and written sorted by time (stably: lines of one
// instant keep the order they were recorded in).
//
// Thread-safety: not thread-safe.
#ifndef ELARA_SIM_TRACE_H_
#define ELARA_SIM_TRACE_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace elara::sim {

class TraceHash {
 public:
  void AddSend(int64_t time_us, uint32_t from, uint32_t to, uint64_t bytes) {
    Mix(1);
    Mix(static_cast<uint64_t>(time_us));
    Mix((static_cast<uint64_t>(from) << 32) | to);
    Mix(bytes);
  }
  void AddDelivery(int64_t time_us, uint32_t node, uint64_t origin,
                   uint64_t sequence, uint32_t hops) {
    Mix(2);
    Mix(static_cast<uint64_t>(time_us));
    Mix((static_cast<uint64_t>(node) << 32) | hops);
    Mix(origin);
    Mix(sequence);
  }
  uint64_t value() const {
    uint64_t z = h_;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

 private:
  static constexpr uint64_t kFnvOffsetBasis = 0xcbf29ce484222325ULL;
  static constexpr uint64_t kFnvPrime = 0x100000001b3ULL;
  void Mix(uint64_t word) {
    h_ = (h_ ^ word) * kFnvPrime;
    h_ ^= h_ >> 29;
  }
  uint64_t h_ = kFnvOffsetBasis;
};

class TraceWriter {
 public:
  static absl::StatusOr<std::unique_ptr<TraceWriter>> Open(
      const std::string& path);
  ~TraceWriter();
  TraceWriter(const TraceWriter&) = delete;
  TraceWriter& operator=(const TraceWriter&) = delete;

  void Send(int64_t time_us, uint32_t from, uint32_t to, uint64_t bytes,
            const char* fate);
  void Drop(int64_t time_us, uint32_t from, uint32_t to, const char* reason);
  void Deliver(int64_t time_us, uint32_t node, uint64_t origin,
               uint64_t sequence, uint32_t hops);
  // Holds the lines recorded until EndWindow, which writes them sorted by
  // time.
  void BeginWindow() { holding_ = true; }
  void EndWindow();
  // Flushes and closes; an I/O error on any earlier write is reported here.
  absl::Status Close();

 private:
  explicit TraceWriter(std::FILE* file) : file_(file) {}
  void Write(int64_t time_us, std::string line);

  std::FILE* file_;
  bool holding_ = false;
  std::vector<std::pair<int64_t, std::string>> held_;
};

}  // namespace elara::sim

#endif  // ELARA_SIM_TRACE_H_
