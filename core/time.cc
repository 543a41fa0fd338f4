#include "core/time.h"

#include "absl/strings/str_format.h"

namespace elara {

std::string Duration::ToString() const {
  if (IsInfinite()) return "inf";
  return absl::StrFormat("%dus", us_);
}

std::string Timestamp::ToString() const {
  if (IsInfinite()) return "inf";
  return absl::StrFormat("t=%dus", us_);
}

}  // namespace elara
