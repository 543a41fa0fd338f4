// memory_probe: what memory costs on this machine, measured, so that the
// simulator's figures in BENCHMARKS.md can be read against it.
//
//   bazel run -c opt //tools:memory_probe -- [--touch-mib N] [--chase-mib LIST]
//                                            [--chains LIST]
//
// Prints three tables:
//   - first touch: ms per MiB to fault in N MiB of fresh anonymous memory
//     (one write per 4 KiB), with transparent huge pages advised
//     (MADV_HUGEPAGE, as elara-sim's heap) and refused (MADV_NOHUGEPAGE);
//     three rounds each, every round unmapping what the round before
//     touched (round 1 gets memory the kernel may have to obtain from the
//     hypervisor; later rounds may get the pages just given back).
//   - dependent loads: ns per load of a random pointer chase over each
//     working set in LIST (MiB, one pointer per 64-byte line), huge pages
//     advised and refused: cache, TLB and page-walk latency together.
//   - misses in flight: k independent chases at once through 1 GiB (huge
//     pages), million lines per second for each k in --chains, and the
//     rate of independent software prefetches there: how many misses one
//     core overlaps, i.e. what an event loop could reach if its misses
//     did not wait on one another.
//   - spread: the same 16 MiB of lines placed 64, 16, 4 or 1 to a 4 KiB
//     page (one chain, and as many chains as the last of --chains): how
//     much of a miss is address translation rather than the load.
// Flags out of range exit 2 naming the flag and its range.
#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

namespace {

constexpr size_t kMiB = size_t{1} << 20;
constexpr size_t kHugePage = 2 * kMiB;

double Seconds() {
  return std::chrono::duration<double>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Anonymous memory, 2 MiB aligned, advised for or against huge pages.
// Returns the aligned start; *base/*length are what to unmap.
char* MapAligned(size_t bytes, bool huge, void** base, size_t* length) {
  *length = bytes + kHugePage;
  *base = mmap(nullptr, *length, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (*base == MAP_FAILED) {
    std::perror("mmap");
    std::exit(1);
  }
  const uintptr_t start = reinterpret_cast<uintptr_t>(*base);
  char* p = reinterpret_cast<char*>((start + kHugePage - 1) & ~(kHugePage - 1));
  if (madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE) != 0) {
    std::perror(huge ? "madvise(MADV_HUGEPAGE): figures are for default pages"
                     : "madvise(MADV_NOHUGEPAGE): figures are for default "
                       "pages");
  }
  return p;
}

double FirstTouchMsPerMiB(size_t mib, bool huge) {
  void* base;
  size_t length;
  char* p = MapAligned(mib * kMiB, huge, &base, &length);
  const double t0 = Seconds();
  for (size_t i = 0; i < mib * kMiB; i += 4096) p[i] = 1;
  const double t1 = Seconds();
  munmap(base, length);
  return (t1 - t0) * 1e3 / static_cast<double>(mib);
}

// Line i of a set spread `per_page` lines to each 4 KiB page from p (64:
// packed, every line used).
char* LineAt(char* p, size_t i, size_t per_page) {
  return p + i / per_page * 4096 + i % per_page * 64;
}

// Links `lines` 64-byte lines at p, `per_page` of them in each 4 KiB page,
// into one fixed random cycle (each line's first 8 bytes point at the
// next); returns the lines in cycle order.
std::vector<uint32_t> LinkRandomCycle(char* p, size_t lines,
                                      size_t per_page = 64) {
  std::vector<uint32_t> order(lines);
  for (size_t i = 0; i < lines; ++i) order[i] = static_cast<uint32_t>(i);
  uint64_t x = 0x9e3779b97f4a7c15ull;  // xorshift64: a fixed permutation
  for (size_t i = lines - 1; i > 0; --i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    std::swap(order[i], order[x % (i + 1)]);
  }
  for (size_t i = 0; i < lines; ++i) {
    char* next = LineAt(p, order[(i + 1) % lines], per_page);
    std::memcpy(LineAt(p, order[i], per_page), &next, sizeof(next));
  }
  return order;
}

double ChaseNs(size_t mib, bool huge) {
  void* base;
  size_t length;
  char* p = MapAligned(mib * kMiB, huge, &base, &length);
  const size_t lines = mib * kMiB / 64;
  const std::vector<uint32_t> order = LinkRandomCycle(p, lines);
  char* q = p + size_t{order[0]} * 64;
  constexpr size_t kLoads = 20'000'000;
  const double t0 = Seconds();
  for (size_t i = 0; i < kLoads; ++i) std::memcpy(&q, q, sizeof(q));
  const double t1 = Seconds();
  if (q == nullptr) std::puts("");  // keeps the chase from being elided
  munmap(base, length);
  return (t1 - t0) * 1e9 / kLoads;
}

// Million lines per second with `chains` independent chases at once, each
// starting at an even share of the cycle in `order`.
double ChainsMlinesPerS(char* p, const std::vector<uint32_t>& order,
                        size_t chains, size_t per_page = 64) {
  constexpr size_t kMaxChains = 64;
  char* q[kMaxChains];
  for (size_t c = 0; c < chains; ++c) {
    q[c] = LineAt(p, order[order.size() / chains * c], per_page);
  }
  const size_t steps = 20'000'000 / chains;
  const double t0 = Seconds();
  for (size_t i = 0; i < steps; ++i) {
    for (size_t c = 0; c < chains; ++c) std::memcpy(&q[c], q[c], sizeof(q[c]));
  }
  const double t1 = Seconds();
  for (size_t c = 0; c < chains; ++c) {
    if (q[c] == nullptr) std::puts("");  // keeps the chases
  }
  return static_cast<double>(steps * chains) / (t1 - t0) / 1e6;
}

// Million independent random prefetches per second over `lines` lines.
double PrefetchMlinesPerS(const char* p, size_t lines) {
  constexpr size_t kPrefetches = 20'000'000;
  uint64_t x = 0x2545f4914f6cdd1dull;
  const double t0 = Seconds();
  for (size_t i = 0; i < kPrefetches; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    __builtin_prefetch(p + (x % lines) * 64);
  }
  const double t1 = Seconds();
  return static_cast<double>(kPrefetches) / (t1 - t0) / 1e6;
}

void PrintMissesInFlight(const std::vector<size_t>& chains) {
  constexpr size_t kMib = 1024;
  void* base;
  size_t length;
  char* p = MapAligned(kMib * kMiB, /*huge=*/true, &base, &length);
  const size_t lines = kMib * kMiB / 64;
  const std::vector<uint32_t> order = LinkRandomCycle(p, lines);
  std::printf(
      "misses in flight, 1 GiB, huge pages: million lines per second\n");
  for (const size_t k : chains) {
    std::printf("  %2zu chains %12.1f\n", k, ChainsMlinesPerS(p, order, k));
  }
  std::printf("  prefetches %12.1f\n", PrefetchMlinesPerS(p, lines));
  munmap(base, length);
}

// The same 262,144 lines (16 MiB of them) placed 64, 16, 4 or 1 to a
// 4 KiB page, so spread over 16 MiB .. 1 GiB: every load misses the
// caches either way, and what grows with the spread is the number of
// pages, i.e. address translation (TLB misses and page walks, which under
// a hypervisor walk the host's tables too).
void PrintSpread(size_t chains) {
  constexpr size_t kLines = size_t{1} << 18;
  std::printf(
      "the same 16 MiB of lines spread over more pages, huge pages advised\n"
      "  %-14s %10s %14s %16s\n",
      "lines per page", "MiB", "ns per load", "M lines/s");
  for (const size_t per_page : {64, 16, 4, 1}) {
    const size_t mib = kLines / per_page * 4096 / kMiB;
    void* base;
    size_t length;
    char* p = MapAligned(mib * kMiB, /*huge=*/true, &base, &length);
    const std::vector<uint32_t> order = LinkRandomCycle(p, kLines, per_page);
    const double one = 1e3 / ChainsMlinesPerS(p, order, 1, per_page);
    const double many = ChainsMlinesPerS(p, order, chains, per_page);
    std::printf("  %-14zu %10zu %14.1f %10.1f (%zu chains)\n", per_page, mib,
                one, many, chains);
    munmap(base, length);
  }
}

[[noreturn]] void Usage(const char* message) {
  std::fprintf(stderr,
               "memory_probe: %s\nusage: memory_probe [--touch-mib N (16 to "
               "16384, default 512)] [--chase-mib LIST (comma-separated, each "
               "1 to 16384, default 4,16,64,256,1024)] [--chains LIST "
               "(comma-separated, each 1 to 64, default 1,2,4,8,16,24)]\n",
               message);
  std::exit(2);
}

bool ParseInRange(const std::string& text, long long max, size_t* out) {
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || v < 1 || v > max) return false;
  *out = static_cast<size_t>(v);
  return true;
}

// A comma-separated list of integers from 1 to max; false if any is not.
bool ParseList(const std::string& value, long long max,
               std::vector<size_t>* out) {
  out->clear();
  size_t start = 0;
  while (start <= value.size()) {
    const size_t comma = std::min(value.find(',', start), value.size());
    size_t v;
    if (!ParseInRange(value.substr(start, comma - start), max, &v)) {
      return false;
    }
    out->push_back(v);
    start = comma + 1;
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  size_t touch_mib = 512;
  std::vector<size_t> chase_mib = {4, 16, 64, 256, 1024};
  std::vector<size_t> chains = {1, 2, 4, 8, 16, 24};
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::printf(
          "memory_probe [--touch-mib N] [--chase-mib LIST] [--chains LIST]: "
          "first-touch cost, dependent-load latency and misses in flight of "
          "this machine's memory (see the header of "
          "tools/memory_probe.cc).\n");
      return 0;
    }
    if (i + 1 >= argc) Usage(("missing value for " + flag).c_str());
    const std::string value = argv[++i];
    if (flag == "--touch-mib") {
      if (!ParseInRange(value, 16384, &touch_mib) || touch_mib < 16) {
        Usage("--touch-mib must be an integer from 16 to 16384");
      }
    } else if (flag == "--chase-mib") {
      if (!ParseList(value, 16384, &chase_mib)) {
        Usage("--chase-mib must list integers from 1 to 16384");
      }
    } else if (flag == "--chains") {
      if (!ParseList(value, 64, &chains)) {
        Usage("--chains must list integers from 1 to 64");
      }
    } else {
      Usage(("unknown flag " + flag).c_str());
    }
  }
  std::printf("first touch of %zu MiB, ms per MiB (rounds 1, 2, 3)\n",
              touch_mib);
  for (const bool huge : {true, false}) {
    std::printf("  %-16s", huge ? "huge pages" : "4 KiB pages");
    for (int round = 0; round < 3; ++round) {
      std::printf(" %8.3f", FirstTouchMsPerMiB(touch_mib, huge));
    }
    std::printf("\n");
  }
  std::printf("dependent random loads, ns per load\n  %-10s %12s %12s\n", "MiB",
              "huge pages", "4 KiB pages");
  for (const size_t mib : chase_mib) {
    std::printf("  %-10zu %12.1f %12.1f\n", mib, ChaseNs(mib, true),
                ChaseNs(mib, false));
  }
  PrintMissesInFlight(chains);
  PrintSpread(chains.back());
  return 0;
}
