// File: tools/engine_config_keys.h
//
// The [engine] table of the elara-sim and elara-node config files: one entry
// per numeric DiffusionConfig field (core/config.h) with its TOML key, value
// kind, accepted range and help text. Both command lines build their
// [engine] keys from this one table, so a new DiffusionConfig field is added
// here once and both accept it with the same name.
//
// Here only a value's type and representable range are checked (integers in
// 0..max of the field's type, durations in milliseconds 0..30 days, finite
// numbers); the real ranges, which often depend on other fields, are checked
// by DiffusionConfig::Validate after every source is applied.
//
// Not here: the broadcast mode, a string that each command line spells its
// own way (elara-sim: top-level `mode` / --mode; elara-node: [engine] `mode`
// / --mode).
//
// Thread-safety: EngineKeys() is built once (thread-safe static); the rest
// are pure functions over caller-owned data.
#ifndef ELARA_TOOLS_ENGINE_CONFIG_KEYS_H_
#define ELARA_TOOLS_ENGINE_CONFIG_KEYS_H_

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/config.h"
#include "core/time.h"
#include "toml++/toml.h"

namespace elara::tools {

enum class EngineKeyKind : uint8_t {
  kInteger,  // a TOML integer in 0..max
  kMillis,   // a Duration given in milliseconds (integer or float)
  kNumber,   // a finite double (integer or float)
};

// Largest duration accepted in milliseconds: 30 days.
inline constexpr double kMaxEngineMillis = 30.0 * 24 * 3600 * 1000;

// A value by kind: uint64_t (kInteger), Duration (kMillis), double (kNumber).
using EngineValue = std::variant<uint64_t, Duration, double>;

struct EngineKey {
  const char* key;  // inside [engine], e.g. "shuffle_period_ms"
  EngineKeyKind kind;
  uint64_t max;      // kInteger: accepted 0..max (the field type's bound)
  const char* help;  // meaning and valid range, for --help
  // Stores a value of this key's kind (already range-checked).
  std::function<void(const EngineValue& value, DiffusionConfig* config)> set;
  // The field's current value, of this key's kind.
  std::function<EngineValue(const DiffusionConfig& config)> get;
};

// Every key, in the order both command lines list and apply them.
std::span<const EngineKey> EngineKeys();
// nullptr if no [engine] key has this name.
const EngineKey* FindEngineKey(std::string_view key);

// What a value of `key` must be: "an integer in 0..255",
// "milliseconds, 0..2592000000" or "a number".
std::string EngineKeyExpectation(const EngineKey& key);

// TOML value checks shared by the config readers; InvalidArgument
// "expected ..." (without key or position: the caller adds them).
absl::StatusOr<uint64_t> TomlInteger(const toml::node& value, uint64_t max);
absl::StatusOr<Duration> TomlMillis(const toml::node& value);
absl::StatusOr<double> TomlNumber(const toml::node& value);

// Checks `value` against `key` and stores it in *config; on error,
// InvalidArgument "expected <EngineKeyExpectation(key)>".
absl::Status ApplyEngineToml(const EngineKey& key, const toml::node& value,
                             DiffusionConfig* config);

}  // namespace elara::tools

#endif  // ELARA_TOOLS_ENGINE_CONFIG_KEYS_H_
