// The [engine] key table (engine_config_keys.h). Each key is one line: a
// factory takes the key, its kind and range, its help text and a generic
// lambda returning a reference to the DiffusionConfig field.
#include "tools/engine_config_keys.h"

#include <cmath>
#include <limits>
#include <optional>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"

namespace elara::tools {
namespace {

constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();

absl::Status Expected(std::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("expected ", absl::string_view(what.data(), what.size())));
}

// V: the EngineValue alternative of `kind`.
template <typename V, typename Field>
EngineKey Key(const char* key, EngineKeyKind kind, uint64_t max,
              const char* help, Field field) {
  return EngineKey{key,
                   kind,
                   max,
                   help,
                   [field](const EngineValue& value, DiffusionConfig* config) {
                     auto& target = field(*config);
                     target =
                         static_cast<std::remove_reference_t<decltype(target)>>(
                             std::get<V>(value));
                   },
                   [field](const DiffusionConfig& config) -> EngineValue {
                     return static_cast<V>(field(config));
                   }};
}

template <typename Field>
EngineKey Size(const char* key, uint64_t max, const char* help, Field field) {
  return Key<uint64_t>(key, EngineKeyKind::kInteger, max, help, field);
}

template <typename Field>
EngineKey Millis(const char* key, const char* help, Field field) {
  return Key<Duration>(key, EngineKeyKind::kMillis, 0, help, field);
}

template <typename Field>
EngineKey Number(const char* key, const char* help, Field field) {
  return Key<double>(key, EngineKeyKind::kNumber, 0, help, field);
}

#define ELARA_M(f) \
  [](auto& c) -> auto& { return c.membership.f; }
#define ELARA_B(f) \
  [](auto& c) -> auto& { return c.broadcast.f; }
#define ELARA_S(f) \
  [](auto& c) -> auto& { return c.state.f; }
#define ELARA_D(f) \
  [](auto& c) -> auto& { return c.f; }

void AddMembershipKeys(std::vector<EngineKey>* t) {
  t->push_back(Size("active_view_size", kU32,
                    "HyParView active view bound, 1..64",
                    ELARA_M(active_view_size)));
  t->push_back(Size("passive_view_size", kU32,
                    "HyParView passive view bound, 0..1024",
                    ELARA_M(passive_view_size)));
  t->push_back(Size("active_random_walk_length", 255, "ARWL, 1..32",
                    ELARA_M(active_random_walk_length)));
  t->push_back(Size("passive_random_walk_length", 255, "PRWL, 0..ARWL",
                    ELARA_M(passive_random_walk_length)));
  t->push_back(Size("shuffle_active_count", kU32, "ka, 0..active_view_size",
                    ELARA_M(shuffle_active_count)));
  t->push_back(Size("shuffle_passive_count", kU32, "kp, 0..passive_view_size",
                    ELARA_M(shuffle_passive_count)));
  t->push_back(Millis("shuffle_period_ms", "SHUFFLE period, > 0",
                      ELARA_M(shuffle_period)));
  t->push_back(Millis("keep_alive_interval_ms",
                      "Ping a silent active peer after, > 0",
                      ELARA_M(keep_alive_interval)));
  t->push_back(Millis("probe_timeout_ms",
                      "Declare an unanswering peer down after, > "
                      "keep_alive_interval_ms",
                      ELARA_M(probe_timeout)));
  t->push_back(Millis("repair_period_ms",
                      "Refill a short active view every, > 0",
                      ELARA_M(repair_period)));
  t->push_back(Millis("neighbor_timeout_ms", "NEIGHBOR request timeout, > 0",
                      ELARA_M(neighbor_timeout)));
  t->push_back(Millis("swap_period_ms",
                      "Link swap period of a full active view, 0 (off) or > 0",
                      ELARA_M(swap_period)));
}

void AddBroadcastKeys(std::vector<EngineKey>* t) {
  t->push_back(Size("initial_fanout", kU32,
                    "Eager fanout / initial eager degree, 1..max_fanout",
                    ELARA_B(initial_fanout)));
  t->push_back(Size("max_fanout", kU32, "Adaptive eager fanout bound, 1..64",
                    ELARA_B(max_fanout)));
  t->push_back(Number("adaptive_threshold",
                      "Per-peer loss rate above which an eager peer is "
                      "added, 0..1",
                      ELARA_B(adaptive_threshold)));
  t->push_back(Number("redundancy_factor",
                      "Extra eager pushes per message, 0..max_fanout",
                      ELARA_B(redundancy_factor)));
  t->push_back(Millis("graft_timeout_ms", "IHAVE -> GRAFT wait, > 0",
                      ELARA_B(graft_timeout)));
  t->push_back(Millis("ihave_batch_delay_ms", "IHAVE batching delay, >= 0",
                      ELARA_B(ihave_batch_delay)));
  t->push_back(Millis("pull_period_ms", "Pull exchange period, > 0",
                      ELARA_B(pull_period)));
  t->push_back(Size("optimization_hop_threshold", kU32,
                    "Tree optimisation hop gain, 1..255",
                    ELARA_B(optimization_hop_threshold)));
  t->push_back(Size("dedup_window", kU32,
                    "Sequence numbers per origin, 64..65536, multiple of 64",
                    ELARA_B(dedup_window)));
  t->push_back(Size("max_tracked_origins", kU32,
                    "Origins tracked for dedup, 1..16777216",
                    ELARA_B(max_tracked_origins)));
  t->push_back(Size("message_cache_entries", kU32,
                    "Payloads kept for GRAFT, 1..1048576",
                    ELARA_B(message_cache_entries)));
  t->push_back(Millis("message_cache_ttl_ms", "How long payloads are kept, > 0",
                      ELARA_B(message_cache_ttl)));
}

void AddStateAndQueueKeys(std::vector<EngineKey>* t) {
  t->push_back(Size("max_state_entries", kU32,
                    "State keys held (values and tombstones), 1..2^24",
                    ELARA_S(max_state_entries)));
  t->push_back(Size("max_tombstones", kU32,
                    "State tombstones held, 1..max_state_entries",
                    ELARA_S(max_tombstones)));
  t->push_back(Size("max_value_bytes", kU32, "Largest state value, 0..65507",
                    ELARA_S(max_value_bytes)));
  t->push_back(Millis("tombstone_ttl_ms",
                      "A state tombstone is purged this old, > 0",
                      ELARA_S(tombstone_ttl)));
  t->push_back(Millis("anti_entropy_period_ms",
                      "One state anti-entropy round every, > 0",
                      ELARA_S(anti_entropy_period)));
  t->push_back(Size("anti_entropy_budget_bytes", kU32,
                    "Wire bytes of one anti-entropy round, 4 x 256..2^24",
                    ELARA_S(anti_entropy_budget_bytes)));
  t->push_back(Millis(
      "max_clock_drift_ms",
      "A state version this far ahead advances the clock only this far, > 0",
      ELARA_S(max_clock_drift)));
  t->push_back(Size("max_datagram_bytes", kU32,
                    "Datagram size bound, 256..65507",
                    ELARA_D(max_datagram_bytes)));
  t->push_back(Size("max_pending_events", kU32,
                    "Engine event queue bound, 1..16777216",
                    ELARA_D(max_pending_events)));
  t->push_back(Size("max_pending_transmits", kU32,
                    "Engine transmit queue bound, 1..16777216",
                    ELARA_D(max_pending_transmits)));
}

#undef ELARA_M
#undef ELARA_B
#undef ELARA_S
#undef ELARA_D

}  // namespace

std::span<const EngineKey> EngineKeys() {
  static const std::vector<EngineKey>* const keys = [] {
    auto* t = new std::vector<EngineKey>();
    AddMembershipKeys(t);
    AddBroadcastKeys(t);
    AddStateAndQueueKeys(t);
    return t;
  }();
  return *keys;
}

const EngineKey* FindEngineKey(std::string_view key) {
  for (const EngineKey& k : EngineKeys()) {
    if (key == k.key) return &k;
  }
  return nullptr;
}

std::string EngineKeyExpectation(const EngineKey& key) {
  switch (key.kind) {
    case EngineKeyKind::kInteger:
      return absl::StrCat("an integer in 0..", key.max);
    case EngineKeyKind::kMillis:
      return "milliseconds, 0..2592000000";
    case EngineKeyKind::kNumber:
      break;
  }
  return "a number";
}

absl::StatusOr<uint64_t> TomlInteger(const toml::node& value, uint64_t max) {
  const std::optional<int64_t> n = value.value<int64_t>();
  if (!value.is_integer() || !n || *n < 0 || static_cast<uint64_t>(*n) > max) {
    return Expected(absl::StrCat("an integer in 0..", max));
  }
  return static_cast<uint64_t>(*n);
}

absl::StatusOr<Duration> TomlMillis(const toml::node& value) {
  const std::optional<double> ms = value.value<double>();
  if (!(value.is_integer() || value.is_floating_point()) || !ms ||
      !std::isfinite(*ms) || *ms < 0 || *ms > kMaxEngineMillis) {
    return Expected("milliseconds, 0..2592000000");
  }
  return Duration::Micros(std::llround(*ms * 1000.0));
}

absl::StatusOr<double> TomlNumber(const toml::node& value) {
  const std::optional<double> x = value.value<double>();
  if (!(value.is_integer() || value.is_floating_point()) || !x ||
      !std::isfinite(*x)) {
    return Expected("a number");
  }
  return *x;
}

absl::Status ApplyEngineToml(const EngineKey& key, const toml::node& value,
                             DiffusionConfig* config) {
  absl::StatusOr<EngineValue> parsed;
  switch (key.kind) {
    case EngineKeyKind::kInteger:
      parsed = TomlInteger(value, key.max);
      break;
    case EngineKeyKind::kMillis:
      parsed = TomlMillis(value);
      break;
    case EngineKeyKind::kNumber:
      parsed = TomlNumber(value);
      break;
  }
  if (!parsed.ok()) return parsed.status();
  key.set(*parsed, config);
  return absl::OkStatus();
}

}  // namespace elara::tools
