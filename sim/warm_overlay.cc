#include "sim/warm_overlay.h"

#include <algorithm>
#include <cassert>
#include <numeric>

namespace elara::sim {
namespace {

// Consecutive failed random picks after which filling stops: by then the
// few nodes with room left are (almost) all linked to each other.
constexpr uint32_t kMaxConsecutiveFailures = 256;

class Builder {
 public:
  Builder(uint32_t nodes, uint32_t k, uint64_t seed) : rng_(seed) {
    overlay_.nodes = nodes;
    overlay_.active_view_size = k;
    overlay_.active.assign(static_cast<size_t>(nodes) * k, 0);
    overlay_.degree.assign(nodes, 0);
  }

  WarmOverlay Build() {
    const uint32_t n = overlay_.nodes;
    const uint32_t k = overlay_.active_view_size;
    std::vector<uint32_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    rng_.Shuffle(order.data(), order.size());
    if (k >= 2) {
      AddRing(order);
    } else {
      for (uint32_t i = 0; i + 1 < n; i += 2) Link(order[i], order[i + 1]);
    }
    FillRandomly(std::move(order));
    return std::move(overlay_);
  }

 private:
  void Link(uint32_t a, uint32_t b) {
    const uint32_t k = overlay_.active_view_size;
    assert(a != b && !overlay_.Linked(a, b));
    assert(overlay_.degree[a] < k && overlay_.degree[b] < k);
    overlay_.active[static_cast<size_t>(a) * k + overlay_.degree[a]++] = b;
    overlay_.active[static_cast<size_t>(b) * k + overlay_.degree[b]++] = a;
  }

  void AddRing(const std::vector<uint32_t>& order) {
    const uint32_t n = overlay_.nodes;
    if (n < 2) return;
    for (uint32_t i = 0; i + 1 < n; ++i) Link(order[i], order[i + 1]);
    if (n >= 3) Link(order[n - 1], order[0]);
  }

  // Random links between nodes with room. `open` lists nodes with room;
  // position_ lets a full node leave it in O(1).
  void FillRandomly(std::vector<uint32_t> open) {
    const uint32_t k = overlay_.active_view_size;
    std::vector<uint32_t> position(overlay_.nodes);
    size_t count = 0;
    for (uint32_t node : open) {
      if (overlay_.degree[node] < k) {
        position[node] = static_cast<uint32_t>(count);
        open[count++] = node;
      }
    }
    open.resize(count);
    auto close = [&](uint32_t node) {
      const uint32_t at = position[node];
      const uint32_t last = open.back();
      open[at] = last;
      position[last] = at;
      open.pop_back();
    };
    uint32_t failures = 0;
    while (open.size() >= 2 && failures < kMaxConsecutiveFailures) {
      const uint32_t a = open[rng_.UniformBelow(open.size())];
      const uint32_t b = open[rng_.UniformBelow(open.size())];
      if (a == b || overlay_.Linked(a, b)) {
        ++failures;
        continue;
      }
      failures = 0;
      Link(a, b);
      if (overlay_.degree[a] == k) close(a);
      if (overlay_.degree[b] == k) close(b);
    }
  }

  Random rng_;
  WarmOverlay overlay_;
};

}  // namespace

bool WarmOverlay::Linked(uint32_t a, uint32_t b) const {
  for (uint32_t peer : ActiveOf(a)) {
    if (peer == b) return true;
  }
  return false;
}

WarmOverlay BuildWarmOverlay(uint32_t nodes, uint32_t active_view_size,
                             uint64_t seed) {
  assert(active_view_size >= 1);
  return Builder(nodes, active_view_size, seed).Build();
}

void DrawWarmPassiveView(const WarmOverlay& overlay, uint32_t node,
                         uint32_t passive_view_size, Random* rng,
                         std::vector<uint32_t>* out) {
  out->clear();
  const uint32_t n = overlay.nodes;
  const std::span<const uint32_t> active = overlay.ActiveOf(node);
  const uint64_t eligible = n - 1 - active.size();
  const uint32_t want =
      static_cast<uint32_t>(std::min<uint64_t>(passive_view_size, eligible));
  // Rejection sampling; the attempt bound only matters when nearly every
  // node is eligible-and-taken (tiny swarms), where a short view is fine.
  const uint64_t max_attempts = 8 * static_cast<uint64_t>(want) + 64;
  for (uint64_t attempt = 0; out->size() < want && attempt < max_attempts;
       ++attempt) {
    const uint32_t candidate = static_cast<uint32_t>(rng->UniformBelow(n));
    if (candidate == node) continue;
    if (std::find(active.begin(), active.end(), candidate) != active.end()) {
      continue;
    }
    if (std::find(out->begin(), out->end(), candidate) != out->end()) continue;
    out->push_back(candidate);
  }
}

}  // namespace elara::sim
