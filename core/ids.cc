#include "core/ids.h"

#include "absl/strings/str_format.h"

namespace elara {

std::string ToString(NodeId id) { return absl::StrFormat("%016x", id.value()); }

std::string ToString(MessageId id) {
  return absl::StrFormat("%016x/%d", id.origin.value(), id.sequence);
}

}  // namespace elara
