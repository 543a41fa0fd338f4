// File: core/payload_interner.h
//
// PayloadInterner: an optional hook through which the engines of one
// process share the bytes of a message they all received, instead of each
// keeping its own copy. The simulator installs one for all its engines, so a
// million nodes caching one 1 KiB message hold one buffer, not a million.
// A real node never needs it.
//
// It changes memory only, never behaviour: Intern must return a buffer
// whose bytes equal `bytes` exactly (an implementation compares before it
// shares). Engine::StateBytes() still counts every cached payload in full,
// as a node on its own would hold it.
//
// Thread-safety: up to the implementation; the simulator's is
// single-threaded like the simulator.
#ifndef ELARA_CORE_PAYLOAD_INTERNER_H_
#define ELARA_CORE_PAYLOAD_INTERNER_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/ids.h"

namespace elara {

class PayloadInterner {
 public:
  using Payload = std::shared_ptr<const std::vector<uint8_t>>;
  virtual ~PayloadInterner() = default;
  // A buffer equal to `bytes`, shared with other callers that interned the
  // same message with the same bytes.
  virtual Payload Intern(const MessageId& id,
                         std::span<const uint8_t> bytes) = 0;
};

// The simulator's interner: a table from message id to the live shared
// buffer. Entries whose buffer every engine has dropped are swept once the
// table doubles since the last sweep, so it holds about what is alive.
// A second, different payload under the same id (a hostile or buggy origin)
// gets its own buffer and is counted in mismatches().
class SharedPayloadInterner : public PayloadInterner {
 public:
  Payload Intern(const MessageId& id, std::span<const uint8_t> bytes) override;

  size_t size() const { return table_.size(); }
  uint64_t shared() const { return shared_; }
  uint64_t mismatches() const { return mismatches_; }

 private:
  void SweepExpired();

  absl::flat_hash_map<MessageId, std::weak_ptr<const std::vector<uint8_t>>>
      table_;
  size_t sweep_at_size_ = 1024;
  uint64_t shared_ = 0;
  uint64_t mismatches_ = 0;
};

}  // namespace elara

#endif  // ELARA_CORE_PAYLOAD_INTERNER_H_
