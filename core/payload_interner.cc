#include "core/payload_interner.h"

#include <algorithm>

namespace elara {

PayloadInterner::Payload SharedPayloadInterner::Intern(
    const MessageId& id, std::span<const uint8_t> bytes) {
  auto [it, inserted] = table_.try_emplace(id);
  if (!inserted) {
    if (Payload live = it->second.lock()) {
      if (std::equal(live->begin(), live->end(), bytes.begin(), bytes.end())) {
        ++shared_;
        return live;
      }
      ++mismatches_;
      return std::make_shared<const std::vector<uint8_t>>(bytes.begin(),
                                                          bytes.end());
    }
  }
  auto fresh =
      std::make_shared<const std::vector<uint8_t>>(bytes.begin(), bytes.end());
  it->second = fresh;
  if (table_.size() >= sweep_at_size_) SweepExpired();
  return fresh;
}

// Only erases; the order in which the table is walked reaches nothing.
void SharedPayloadInterner::SweepExpired() {
  absl::erase_if(table_,
                 [](const auto& entry) { return entry.second.expired(); });
  sweep_at_size_ = std::max<size_t>(1024, table_.size() * 2);
}

}  // namespace elara
