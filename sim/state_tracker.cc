// StateTracker (state_tracker.h): the state workload's reference winners,
// partition sides, and the digest tally behind state convergence.
#include "sim/state_tracker.h"

#include <cassert>
#include <limits>

namespace elara::sim {
namespace {

constexpr uint64_t kNeverWritten = std::numeric_limits<uint64_t>::max();

}  // namespace

StateTracker::StateTracker(uint32_t keys, size_t partitions)
    : best_version_(keys),
      best_write_(keys, kNeverWritten),
      sides_(partitions),
      conflicting_(keys, 0) {}

void StateTracker::RecordWrite(uint32_t key, const StateVersion& version,
                               uint64_t write_index) {
  assert(key < best_write_.size());
  if (best_write_[key] == kNeverWritten || version > best_version_[key]) {
    best_version_[key] = version;
    best_write_[key] = write_index;
  }
}

void StateTracker::RecordSide(size_t partition, uint32_t key, bool side_a) {
  std::vector<uint8_t>& sides = sides_[partition];
  if (sides.empty()) sides.assign(best_write_.size(), 0);
  sides[key] |= side_a ? 1 : 2;
  if (sides[key] == 3 && !conflicting_[key]) {
    conflicting_[key] = 1;
    ++conflicting_keys_;
  }
}

std::optional<StateTracker::Winner> StateTracker::winner(uint32_t key) const {
  if (key >= best_write_.size() || best_write_[key] == kNeverWritten) {
    return std::nullopt;
  }
  return Winner{best_version_[key], best_write_[key]};
}

void StateTracker::Begin(int64_t now_us, std::span<const NodeState> nodes) {
  assert(!begun_);
  begun_ = true;
  for (const NodeState& n : nodes) {
    Grow(n.node);
    assert(!tracked_[n.node]);
    tracked_[n.node] = 1;
    ++tracked_count_;
    digest_[n.node] = n.digest;
    bytes_seen_[n.node] = n.sync_bytes_out;
    CountDigest(n.digest, +1);
  }
  converged_ = digest_counts_.size() <= 1;
  since_us_ = now_us;
}

void StateTracker::Add(int64_t now_us, const NodeState& state) {
  assert(begun_);
  Grow(state.node);
  assert(!tracked_[state.node]);
  tracked_[state.node] = 1;
  ++tracked_count_;
  digest_[state.node] = state.digest;
  bytes_seen_[state.node] = state.sync_bytes_out;
  CountDigest(state.digest, +1);
  UpdateConverged(now_us);
}

void StateTracker::Observe(int64_t now_us, const NodeState& state) {
  assert(begun_ && state.node < tracked_.size() && tracked_[state.node]);
  const uint32_t node = state.node;
  if (!converged_) {
    reconciliation_bytes_ += state.sync_bytes_out - bytes_seen_[node];
  }
  bytes_seen_[node] = state.sync_bytes_out;
  if (state.digest == digest_[node]) return;
  CountDigest(digest_[node], -1);
  CountDigest(state.digest, +1);
  digest_[node] = state.digest;
  UpdateConverged(now_us);
}

void StateTracker::Remove(int64_t now_us, uint32_t node) {
  assert(begun_ && node < tracked_.size() && tracked_[node]);
  tracked_[node] = 0;
  --tracked_count_;
  CountDigest(digest_[node], -1);
  UpdateConverged(now_us);
}

StateTracker::Majority StateTracker::MajorityDigest() const {
  Majority best;
  for (const auto& [digest, count] : digest_counts_) {
    if (count > best.nodes || (count == best.nodes && digest < best.digest)) {
      best = Majority{digest, count};
    }
  }
  return best;
}

void StateTracker::Grow(uint32_t node) {
  if (node < tracked_.size()) return;
  digest_.resize(node + 1, 0);
  bytes_seen_.resize(node + 1, 0);
  tracked_.resize(node + 1, 0);
}

void StateTracker::CountDigest(uint64_t digest, int delta) {
  if (delta > 0) {
    ++digest_counts_[digest];
    return;
  }
  const auto it = digest_counts_.find(digest);
  assert(it != digest_counts_.end() && it->second > 0);
  if (--it->second == 0) digest_counts_.erase(it);
}

void StateTracker::UpdateConverged(int64_t now_us) {
  const bool converged = digest_counts_.size() <= 1;
  if (converged && !converged_) since_us_ = now_us;
  converged_ = converged;
}

}  // namespace elara::sim
