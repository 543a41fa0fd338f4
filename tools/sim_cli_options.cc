// The settings table (sim_cli_options.h) and the TOML config reader. Each
// setting is built by a small factory per value type, so a new Scenario or
// engine field costs one line here and shows up in flags, config and --help.
#include "tools/sim_cli_options.h"

#include <sys/stat.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "core/config.h"
#include "sim/scenario_flags.h"
#include "toml++/toml.h"
#include "tools/engine_config_keys.h"

namespace elara::tools {
namespace {

using sim::Scenario;

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

absl::Status Expected(std::string_view what, std::string_view text) {
  return Invalid(
      absl::StrCat("expected ", ToAbsl(what), ", got '", ToAbsl(text), "'"));
}

bool ParseUnsigned(std::string_view text, uint64_t max, uint64_t* out) {
  if (text.empty()) return false;
  for (char c : text) {
    if (c < '0' || c > '9') return false;  // no sign, no exponent
  }
  return absl::SimpleAtoi(ToAbsl(text), out) && *out <= max;
}

bool ParseFinite(std::string_view text, double* out) {
  return !text.empty() && absl::SimpleAtod(ToAbsl(text), out) &&
         std::isfinite(*out);
}

// Milliseconds as a number ("10", "0.5") -> Duration; at most 30 days.
bool ParseMillis(std::string_view text, Duration* out) {
  double ms = 0;
  if (!ParseFinite(text, &ms) || ms < 0 || ms > 30.0 * 24 * 3600 * 1000) {
    return false;
  }
  *out = Duration::Micros(std::llround(ms * 1000.0));
  return true;
}

std::string ShowMillis(Duration d) {
  if (d.ToMicros() % 1000 == 0) return absl::StrCat(d.ToMicros() / 1000);
  return absl::StrFormat("%.3f", static_cast<double>(d.ToMicros()) / 1000.0);
}

// Factories. `field` is a generic lambda returning a reference to the
// scenario's field, for const and non-const scenarios alike.
// `range` is the allowed range as the message of a value that does not
// parse shows it ("2..50000000"); Scenario::Validate checks it, `max` only
// bounds the parse to the field's type.
template <typename Field>
Setting Unsigned(const char* key, bool engine, const char* flags,
                 const char* help, const char* range, uint64_t max,
                 Field field) {
  return Setting{key,
                 engine,
                 flags,
                 "N",
                 help,
                 TomlKind::kInteger,
                 false,
                 [field, max, range](std::string_view text, Scenario* s) {
                   uint64_t value = 0;
                   if (!ParseUnsigned(text, max, &value)) {
                     return Expected(absl::StrCat("an integer in ", range),
                                     text);
                   }
                   using T = std::remove_reference_t<decltype(field(*s))>;
                   field(*s) = static_cast<T>(value);
                   return absl::OkStatus();
                 },
                 [field](const Scenario& s) {
                   return absl::StrCat(static_cast<uint64_t>(field(s)));
                 },
                 nullptr};
}

template <typename Field>
Setting Number(const char* key, bool engine, const char* flags,
               const char* value_name, const char* help, Field field) {
  return Setting{
      key,
      engine,
      flags,
      value_name,
      help,
      TomlKind::kNumber,
      false,
      [field](std::string_view text, Scenario* s) {
        double value = 0;
        if (!ParseFinite(text, &value)) return Expected("a number", text);
        field(*s) = value;
        return absl::OkStatus();
      },
      [field](const Scenario& s) { return sim::FormatNumber(field(s)); },
      nullptr};
}

template <typename Field>
Setting Probability(const char* key, const char* flags, const char* help,
                    Field field) {
  Setting setting = Number(key, false, flags, "P", help, field);
  setting.apply = [field](std::string_view text, Scenario* s) {
    double value = 0;
    if (!ParseFinite(text, &value) || value < 0 || value > 1) {
      return Expected("a probability in 0..1", text);
    }
    field(*s) = value;
    return absl::OkStatus();
  };
  return setting;
}

// A DUR value (the text form of sim/scenario_flags.h): a finite duration
// with a unit. `out` is a Duration or an optional one; left alone on error.
template <typename Out>
absl::Status ParseFiniteDuration(std::string_view text, Out* out) {
  std::optional<Duration> d = sim::ParseDuration(text);
  if (!d || d->IsInfinite()) {
    return Expected("a duration with a unit (us, ms, s), e.g. 250ms", text);
  }
  *out = *d;
  return absl::OkStatus();
}

// A duration setting.
template <typename Field>
Setting Dur(const char* key, const char* flags, const char* help, Field field) {
  return Setting{
      key,
      false,
      flags,
      "DUR",
      help,
      TomlKind::kText,
      false,
      [field](std::string_view text, Scenario* s) {
        return ParseFiniteDuration(text, &field(*s));
      },
      [field](const Scenario& s) { return sim::FormatDuration(field(s)); },
      nullptr};
}

// --drain. Unset, the default depends on the mode and N (Scenario::Drain);
// --help shows that rule.
Setting DrainSetting() {
  return Setting{
      "drain",
      false,
      "--drain",
      "DUR",
      "Time after the last broadcast for deliveries and repairs",
      TomlKind::kText,
      false,
      [](std::string_view text, Scenario* s) {
        return ParseFiniteDuration(text, &s->drain);
      },
      [](const Scenario& s) {
        return s.drain ? sim::FormatDuration(*s.drain)
                       : absl::StrCat(
                             sim::FormatDuration(Scenario::kDefaultDrain),
                             "; pull mode: 2 ceil(log2 N) + 5 pull periods "
                             "if longer");
      },
      nullptr};
}

absl::Status ApplyMode(std::string_view text, Scenario* s) {
  if (!ParseBroadcastMode(text, &s->engine.broadcast.mode)) {
    return Expected("push, pull or hybrid", text);
  }
  return absl::OkStatus();
}

absl::Status ApplyLatencyModel(std::string_view text, Scenario* s) {
  std::optional<sim::LatencyModel> model = sim::ParseLatencyModel(text);
  if (!model) return Expected("fixed, uniform or pareto", text);
  s->latency_model = *model;
  return absl::OkStatus();
}

// "MIN:MAX" (uniform unless --latency says pareto) or "V" (fixed), in ms.
absl::Status ApplyLatencyMs(std::string_view text, Scenario* s) {
  const size_t colon = text.find(':');
  Duration min, max;
  const bool ok = colon == std::string_view::npos
                      ? ParseMillis(text, &min)
                      : ParseMillis(text.substr(0, colon), &min) &&
                            ParseMillis(text.substr(colon + 1), &max);
  if (!ok) {
    return Expected("MIN:MAX or a single value in milliseconds, e.g. 10:80",
                    text);
  }
  if (colon == std::string_view::npos) {
    s->latency_model = sim::LatencyModel::kFixed;
    max = min;
  } else {
    if (max < min)
      return Invalid(
          absl::StrCat("MAX must be >= MIN, got '", ToAbsl(text), "'"));
    if (s->latency_model == sim::LatencyModel::kFixed) {
      s->latency_model = sim::LatencyModel::kUniform;
    }
  }
  s->latency_min = min;
  s->latency_max = max;
  return absl::OkStatus();
}

std::string ShowLatencyMs(const Scenario& s) {
  if (s.latency_model == sim::LatencyModel::kFixed) {
    return ShowMillis(s.latency_min);
  }
  return absl::StrCat(ShowMillis(s.latency_min), ":",
                      ShowMillis(s.latency_max));
}

absl::Status ApplyPartition(std::string_view text, Scenario* s) {
  std::optional<sim::PartitionSpec> p = sim::ParsePartition(text);
  if (!p) {
    return Expected("FRACTION@START-END, e.g. 0.5@10s-30s (END may be inf)",
                    text);
  }
  if (p->end <= p->start) {
    return Invalid(absl::StrCat("the window must end after it starts, got '",
                                ToAbsl(text), "'"));
  }
  s->partitions.push_back(*p);
  return absl::OkStatus();
}

std::string ShowPartitions(const Scenario& s) {
  std::vector<std::string> items;
  for (const sim::PartitionSpec& p : s.partitions) {
    items.push_back(sim::FormatPartition(p));
  }
  return items.empty() ? "none" : absl::StrJoin(items, " ");
}

absl::Status ApplyCrash(std::string_view text, Scenario* s) {
  std::optional<sim::CrashSpec> c = sim::ParseCrash(text);
  if (!c) {
    return Expected("FRACTION@AT or FRACTION@AT+RESTART, e.g. 0.2@5s", text);
  }
  s->crashes.push_back(*c);
  return absl::OkStatus();
}

std::string ShowCrashes(const Scenario& s) {
  std::vector<std::string> items;
  for (const sim::CrashSpec& c : s.crashes) {
    items.push_back(sim::FormatCrash(c));
  }
  return items.empty() ? "none" : absl::StrJoin(items, " ");
}

absl::Status ApplyBootstrap(std::string_view text, Scenario* s) {
  std::optional<sim::Bootstrap> b = sim::ParseBootstrap(text);
  if (!b) return Expected("protocol or warm", text);
  s->bootstrap = *b;
  return absl::OkStatus();
}

absl::Status ApplyEventOrder(std::string_view text, Scenario* s) {
  std::optional<sim::EventOrder> order = sim::ParseEventOrder(text);
  if (!order) return Expected("lookahead or exact", text);
  s->event_order = *order;
  return absl::OkStatus();
}

Setting Text(const char* key, const char* flags, const char* value_name,
             const char* help,
             absl::Status (*apply)(std::string_view, Scenario*),
             std::string (*show)(const Scenario&)) {
  return Setting{key,   false, flags, value_name, help, TomlKind::kText,
                 false, apply, show,  nullptr};
}

constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kU64 = std::numeric_limits<uint64_t>::max();

absl::Status ApplyStateWritesUntil(std::string_view text, Scenario* s) {
  std::optional<std::optional<Duration>> until =
      sim::ParseStateWritesUntil(text);
  if (!until) {
    return Expected("heal or a duration with a unit (us, ms, s), e.g. 30s",
                    text);
  }
  s->state_writes_until = *until;
  return absl::OkStatus();
}

// The keyed-state workload (sim/scenario.h); off unless
// --state-writes-per-s > 0.
void AddStateWorkloadSettings(std::vector<Setting>* t) {
  t->push_back(Number(
      "state_writes_per_s", false, "--state-writes-per-s", "R",
      "State workload: writes per second across the swarm, each by a random "
      "live node to a random key, from the workload start (--warmup) until "
      "--state-writes-until; 0..1000000, 0 = off",
      [](auto& s) -> auto& { return s.state_writes_per_s; }));
  t->push_back(
      Text("state_writes_until", "--state-writes-until", "DUR|heal",
           "When the state writes stop (time since the start), or heal: at the "
           "end of the last --partition that heals",
           &ApplyStateWritesUntil, [](const Scenario& s) {
             return sim::FormatStateWritesUntil(s.state_writes_until);
           }));
  t->push_back(Unsigned(
      "state_keys", false, "--state-keys",
      "State workload: keys written (random, so both sides of a partition "
      "write overlapping keys), 1..engine max_state_entries",
      "1..engine max_state_entries", kU32,
      [](auto& s) -> auto& { return s.state_keys; }));
  t->push_back(Unsigned(
      "state_value_bytes", false, "--state-value-bytes",
      "State workload: bytes per value, 1..engine max_value_bytes (and "
      "max_datagram_bytes - 64)",
      "1..engine max_value_bytes", kU32,
      [](auto& s) -> auto& { return s.state_value_bytes; }));
  t->push_back(Dur(
      "state_clock_skew", "--state-clock-skew",
      "Each node's state clock runs ahead of virtual time by a random "
      "offset in 0..DUR (<= 1 hour); 0 = none",
      [](auto& s) -> auto& { return s.state_clock_skew; }));
}

std::vector<Setting> ScenarioSettings() {
  std::vector<Setting> t;
  t.push_back(Unsigned(
      "seed", false, "--seed",
      "Seed of every random choice of the run (0..2^64-1)", "0..2^64-1", kU64,
      [](auto& s) -> auto& { return s.seed; }));
  t.push_back(Unsigned(
      "nodes", false, "--nodes", "Nodes in the swarm, 2..50000000",
      "2..50000000", kU32, [](auto& s) -> auto& { return s.nodes; }));
  t.push_back(Text("mode", "--mode", "MODE",
                   "Broadcast mode: push (eager fanout), pull (digest "
                   "exchange) or hybrid (Plumtree + pull repair)",
                   &ApplyMode, [](const Scenario& s) {
                     return std::string(
                         BroadcastModeName(s.engine.broadcast.mode));
                   }));
  t.push_back(Unsigned(
      "active_view", false, "--active-view",
      "HyParView active view size, 1..64", "1..64", kU32,
      [](auto& s) -> auto& { return s.engine.membership.active_view_size; }));
  t.push_back(Unsigned(
      "passive_view", false, "--passive-view",
      "HyParView passive view size, 0..1024", "0..1024", kU32,
      [](auto& s) -> auto& { return s.engine.membership.passive_view_size; }));
  t.push_back(Unsigned(
      "fanout", false, "--fanout",
      "Eager fanout (push) / initial eager degree (hybrid), "
      "1..--max-fanout",
      "1..--max-fanout", kU32,
      [](auto& s) -> auto& { return s.engine.broadcast.initial_fanout; }));
  t.push_back(Unsigned(
      "max_fanout", false, "--max-fanout",
      "Upper bound of the adaptive eager fanout, 1..64", "1..64", kU32,
      [](auto& s) -> auto& { return s.engine.broadcast.max_fanout; }));
  t.push_back(Number(
      "redundancy", false, "--redundancy", "X",
      "Extra eager pushes per message to random lazy peers, "
      "0..--max-fanout",
      [](auto& s) -> auto& { return s.engine.broadcast.redundancy_factor; }));
  Setting latency_ms = Text("latency_ms", "--latency-ms", "MIN:MAX",
                            "One-way latency in ms: MIN:MAX (uniform, or "
                            "pareto with --latency) or one value (fixed)",
                            &ApplyLatencyMs, &ShowLatencyMs);
  latency_ms.toml_kind = TomlKind::kTextOrNumber;
  t.push_back(latency_ms);
  t.push_back(Text("latency", "--latency", "MODEL",
                   "Latency model: fixed (--latency-min), uniform or pareto "
                   "(heavy tail capped at --latency-max)",
                   &ApplyLatencyModel, [](const Scenario& s) {
                     return std::string(sim::LatencyModelName(s.latency_model));
                   }));
  t.push_back(Dur(
      "latency_min", "--latency-min",
      "Lowest one-way latency (overrides --latency-ms)",
      [](auto& s) -> auto& { return s.latency_min; }));
  t.push_back(Dur(
      "latency_max", "--latency-max",
      "Highest one-way latency, >= --latency-min",
      [](auto& s) -> auto& { return s.latency_max; }));
  t.push_back(Probability(
      "loss", "--loss", "Independent loss probability per datagram, 0..1",
      [](auto& s) -> auto& { return s.loss; }));
  t.push_back(Probability(
      "burst_enter", "--burst-enter",
      "Bursty (Gilbert-Elliott) loss: P(good -> bad) per step (a datagram "
      "the sender sends, or --burst-slot of time), 0..1; 0 = off",
      [](auto& s) -> auto& { return s.burst_loss_enter; }));
  t.push_back(Probability(
      "burst_exit", "--burst-exit",
      "Bursty loss: P(bad -> good) per step, 0..1",
      [](auto& s) -> auto& { return s.burst_loss_exit; }));
  t.push_back(Probability(
      "burst_bad", "--burst-bad",
      "Bursty loss: loss probability in the bad state, 0..1",
      [](auto& s) -> auto& { return s.burst_loss_bad; }));
  t.push_back(Dur(
      "burst_slot", "--burst-slot",
      "Bursty loss: a step of the sender's chain is this much virtual time "
      "(bursts last --burst-slot / --burst-exit on average, sending or "
      "not), 0..3600s; 0 = one step per datagram it sends",
      [](auto& s) -> auto& { return s.burst_slot; }));
  t.push_back(Unsigned(
      "bandwidth", false, "--bandwidth",
      "Uplink per node in bytes/s, 0..2^64-1; 0 = unlimited", "0..2^64-1", kU64,
      [](auto& s) -> auto& { return s.bandwidth_bytes_per_s; }));
  Setting partition =
      Text("partition", "--partition", "F@START-END",
           "Repeatable. Split off fraction F (0..1) of the nodes from START to "
           "END (END > START, or inf), e.g. 0.5@10s-30s",
           &ApplyPartition, &ShowPartitions);
  partition.repeatable = true;
  partition.clear = [](Scenario* s) { s->partitions.clear(); };
  t.push_back(partition);
  Setting crash = Text(
      "crash", "--crash", "F@AT[+RESTART]",
      "Repeatable. Crash fraction F (0..1) of the live nodes at AT; restart "
      "them RESTART later on fresh engines, e.g. 0.2@5s or 0.2@5s+10s",
      &ApplyCrash, &ShowCrashes);
  crash.repeatable = true;
  crash.clear = [](Scenario* s) { s->crashes.clear(); };
  t.push_back(crash);
  t.push_back(Number(
      "churn", false, "--churn", "PER_S",
      "Nodes leaving (and fresh nodes joining) per second, "
      "0..1000000",
      [](auto& s) -> auto& { return s.churn_per_s; }));
  t.push_back(
      Text("event_order", "--event-order", "ORDER",
           "lookahead (default: events less than the minimum latency apart run "
           "node by node, faster at scale) or exact (one at a time in time "
           "order); same model, different trace hash",
           &ApplyEventOrder, [](const Scenario& s) {
             return std::string(sim::EventOrderName(s.event_order));
           }));
  t.push_back(Unsigned(
      "threads", false, "--threads",
      "Threads that run the nodes of each lookahead window, 1..64; the "
      "result (trace hash included) is the same with any count, only wall "
      "time changes; events_per_s is then no longer single-threaded",
      "1..64", kU32, [](auto& s) -> auto& { return s.threads; }));
  t.push_back(Text("bootstrap", "--bootstrap", "HOW",
                   "warm (overlay built directly) or protocol (nodes JOIN "
                   "over --join-spread)",
                   &ApplyBootstrap, [](const Scenario& s) {
                     return std::string(sim::BootstrapName(s.bootstrap));
                   }));
  t.push_back(Dur(
      "join_spread", "--join-spread",
      "Protocol bootstrap: joins spread over this long",
      [](auto& s) -> auto& { return s.join_spread; }));
  t.push_back(Dur(
      "warmup", "--warmup",
      "Quiet time after the bootstrap, before the first broadcast",
      [](auto& s) -> auto& { return s.warmup; }));
  t.push_back(Unsigned(
      "broadcasts", false, "--broadcasts",
      "Messages published, each by a random live node, "
      "0..10000000",
      "0..10000000", kU32, [](auto& s) -> auto& { return s.broadcasts; }));
  t.push_back(Unsigned(
      "payload_bytes", false, "--payload-bytes,--payload",
      "Payload bytes per message, 1..max_datagram_bytes",
      "1..max_datagram_bytes", kU32,
      [](auto& s) -> auto& { return s.payload_bytes; }));
  t.push_back(Dur(
      "interval", "--interval", "Time between two broadcasts",
      [](auto& s) -> auto& { return s.broadcast_interval; }));
  t.push_back(DrainSetting());
  AddStateWorkloadSettings(&t);
  t.push_back(Text(
      "trace", "--trace", "PATH",
      "Write every send and delivery as JSON lines to PATH (run only; "
      "--nodes <= 10000)",
      [](std::string_view text, Scenario* s) {
        if (text.empty()) return Expected("a file path", text);
        s->trace_path = std::string(text);
        return absl::OkStatus();
      },
      [](const Scenario& s) {
        return s.trace_path.empty() ? std::string("none") : s.trace_path;
      }));
  return t;
}

// An [engine] key (tools/engine_config_keys.h) as a config-file-only
// setting, parsed from its text form like the flags'.
std::optional<EngineValue> ParseEngineText(const EngineKey& key,
                                           std::string_view text) {
  uint64_t n = 0;
  Duration d;
  double x = 0;
  switch (key.kind) {
    case EngineKeyKind::kInteger:
      if (ParseUnsigned(text, key.max, &n)) return n;
      break;
    case EngineKeyKind::kMillis:
      if (ParseMillis(text, &d)) return d;
      break;
    case EngineKeyKind::kNumber:
      if (ParseFinite(text, &x)) return x;
      break;
  }
  return std::nullopt;
}

std::string ShowEngineValue(const EngineValue& value) {
  if (const uint64_t* n = std::get_if<uint64_t>(&value)) {
    return absl::StrCat(*n);
  }
  if (const Duration* d = std::get_if<Duration>(&value)) return ShowMillis(*d);
  return sim::FormatNumber(std::get<double>(value));
}

Setting EngineSetting(const EngineKey& key) {
  const EngineKey* k = &key;  // EngineKeys() lives for the process
  const bool integer = k->kind == EngineKeyKind::kInteger;
  return Setting{
      k->key,
      true,
      "",
      integer                             ? "N"
      : k->kind == EngineKeyKind::kMillis ? "MS"
                                          : "X",
      k->help,
      integer ? TomlKind::kInteger : TomlKind::kNumber,
      false,
      [k](std::string_view text, Scenario* s) {
        std::optional<EngineValue> value = ParseEngineText(*k, text);
        if (!value) return Expected(EngineKeyExpectation(*k), text);
        k->set(*value, &s->engine);
        return absl::OkStatus();
      },
      [k](const Scenario& s) { return ShowEngineValue(k->get(s.engine)); },
      nullptr};
}

// [engine]: every DiffusionConfig field but the mode (top-level `mode`);
// config file only.
void AddEngineSettings(std::vector<Setting>* t) {
  for (const EngineKey& key : EngineKeys()) t->push_back(EngineSetting(key));
}

// --- TOML ---

std::string Position(const toml::source_region& region,
                     std::string_view source) {
  return absl::StrCat(ToAbsl(source), ":", region.begin.line, ":",
                      region.begin.column);
}

const char* TomlTypeName(const toml::node& value) {
  switch (value.type()) {
    case toml::node_type::table:
      return "a table";
    case toml::node_type::array:
      return "an array";
    case toml::node_type::string:
      return "a string";
    case toml::node_type::integer:
      return "an integer";
    case toml::node_type::floating_point:
      return "a float";
    case toml::node_type::boolean:
      return "a boolean";
    default:
      return "a date/time";
  }
}

// The TOML value as the setting's text form, or an error message.
absl::Status ValueText(const toml::node& value, TomlKind kind,
                       std::string* text) {
  if (value.is_integer() && kind != TomlKind::kText) {
    *text = absl::StrCat(value.as_integer()->get());
    return absl::OkStatus();
  }
  if (value.is_floating_point() &&
      (kind == TomlKind::kNumber || kind == TomlKind::kTextOrNumber)) {
    *text = sim::FormatNumber(value.as_floating_point()->get());
    return absl::OkStatus();
  }
  if (value.is_string() &&
      (kind == TomlKind::kText || kind == TomlKind::kTextOrNumber)) {
    *text = value.as_string()->get();
    return absl::OkStatus();
  }
  const char* expected = kind == TomlKind::kInteger  ? "an integer"
                         : kind == TomlKind::kNumber ? "a number"
                         : kind == TomlKind::kText   ? "a string"
                                                     : "a string or a number";
  return Invalid(
      absl::StrCat("expected ", expected, ", got ", TomlTypeName(value)));
}

absl::Status ApplyTomlValue(const Setting& setting, const toml::node& value,
                            std::string_view source, Scenario* scenario) {
  auto fail = [&](const toml::node& at, const absl::Status& status) {
    return Invalid(absl::StrCat(Position(at.source(), source), ": ",
                                setting.engine_table ? "engine." : "",
                                setting.key, ": ", status.message()));
  };
  std::vector<const toml::node*> items;
  if (setting.repeatable && value.is_array()) {
    for (const toml::node& item : *value.as_array()) items.push_back(&item);
    setting.clear(scenario);
  } else {
    items.push_back(&value);
    if (setting.repeatable) setting.clear(scenario);
  }
  for (const toml::node* item : items) {
    std::string text;
    absl::Status status = ValueText(*item, setting.toml_kind, &text);
    if (status.ok()) status = setting.apply(text, scenario);
    if (!status.ok()) return fail(*item, status);
  }
  return absl::OkStatus();
}

std::string AllowedKeys(bool engine_table) {
  std::vector<std::string> keys;
  for (const Setting& s : Settings()) {
    if (s.engine_table == engine_table) keys.push_back(s.key);
  }
  if (!engine_table) keys.push_back("[engine]");
  return absl::StrJoin(keys, ", ");
}

absl::Status UnknownKey(const toml::key& key, std::string_view source,
                        bool engine_table) {
  return Invalid(absl::StrCat(Position(key.source(), source), ": unknown key '",
                              engine_table ? "engine." : "", ToAbsl(key.str()),
                              "' (allowed: ", AllowedKeys(engine_table), ")"));
}

absl::Status ApplyNodesList(const toml::array& array, std::string_view source,
                            ConfigExtras* extras) {
  if (array.empty()) {
    return Invalid(absl::StrCat(
        Position(array.source(), source),
        ": nodes: expected at least one size (integers in 2..50000000)"));
  }
  std::vector<uint32_t> sizes;
  for (const toml::node& item : array) {
    const std::optional<int64_t> n = item.value<int64_t>();
    if (!item.is_integer() || !n || *n < 0 ||
        static_cast<uint64_t>(*n) > kU32) {
      return Invalid(absl::StrCat(Position(item.source(), source),
                                  ": nodes: expected integers in 2..50000000"));
    }
    sizes.push_back(static_cast<uint32_t>(*n));
  }
  extras->sweep_nodes = std::move(sizes);
  return absl::OkStatus();
}

// Every key of `table` must name a setting (or be the [engine] table).
absl::Status CheckKeys(const toml::table& table, std::string_view source,
                       bool engine_table) {
  for (auto&& [key, value] : table) {
    if (!engine_table && key.str() == "engine") {
      if (!value.is_table()) {
        return Invalid(absl::StrCat(Position(key.source(), source),
                                    ": engine: expected a table ([engine])"));
      }
      absl::Status status = CheckKeys(*value.as_table(), source, true);
      if (!status.ok()) return status;
      continue;
    }
    if (FindSetting(key.str(), engine_table) == nullptr) {
      return UnknownKey(key, source, engine_table);
    }
  }
  return absl::OkStatus();
}

// Applies the keys in the order of Settings() (not the file's), so that
// precedence within a file matches the flags': latency_min after latency_ms,
// [engine] after the top level.
absl::Status ApplyTables(const toml::table& top, std::string_view source,
                         bool allow_nodes_list, Scenario* scenario,
                         ConfigExtras* extras) {
  const toml::table* engine = top["engine"].as_table();
  for (const Setting& setting : Settings()) {
    const toml::table* table = setting.engine_table ? engine : &top;
    const toml::node* value =
        table == nullptr ? nullptr : table->get(setting.key);
    if (value == nullptr) continue;
    const bool is_nodes =
        !setting.engine_table && std::string_view(setting.key) == "nodes";
    if (is_nodes && value->is_array()) {
      if (!allow_nodes_list) {
        return Invalid(absl::StrCat(
            Position(value->source(), source),
            ": nodes: expected an integer (a list only for sweep)"));
      }
      absl::Status status = ApplyNodesList(*value->as_array(), source, extras);
      if (!status.ok()) return status;
      continue;
    }
    absl::Status status = ApplyTomlValue(setting, *value, source, scenario);
    if (!status.ok()) return status;
    if (is_nodes && allow_nodes_list) {
      extras->sweep_nodes = std::vector<uint32_t>{scenario->nodes};
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::span<const Setting> Settings() {
  static const std::vector<Setting>* const table = [] {
    auto* t = new std::vector<Setting>(ScenarioSettings());
    AddEngineSettings(t);
    return t;
  }();
  return *table;
}

const Setting* FindSetting(std::string_view key, bool engine_table) {
  for (const Setting& s : Settings()) {
    if (s.engine_table == engine_table && key == s.key) return &s;
  }
  return nullptr;
}

std::string PrimaryFlag(const Setting& setting) {
  std::string_view flags = setting.flags;
  return std::string(flags.substr(0, flags.find(',')));
}

absl::Status ApplyFlag(const Setting& setting, std::string_view text,
                       Scenario* scenario) {
  absl::Status status = setting.apply(text, scenario);
  if (status.ok()) return status;
  return Invalid(absl::StrCat(PrimaryFlag(setting), " ",
                              text.empty() ? "''" : ToAbsl(text), ": ",
                              status.message()));
}

absl::Status ApplyConfigText(std::string_view text, std::string_view source,
                             bool allow_nodes_list, Scenario* scenario,
                             ConfigExtras* extras) {
  toml::parse_result result = toml::parse(text, source);
  if (!result) {
    const toml::parse_error& error = result.error();
    return Invalid(
        absl::StrCat(Position(error.source(), source),
                     ": TOML syntax error: ", ToAbsl(error.description())));
  }
  absl::Status status = CheckKeys(result.table(), source, false);
  if (!status.ok()) return status;
  return ApplyTables(result.table(), source, allow_nodes_list, scenario,
                     extras);
}

// A config file is a few hundred bytes; this bounds what a mistaken path
// (a log, a device) can make us hold.
constexpr size_t kMaxConfigBytes = 1 << 20;

absl::Status ApplyConfigFile(const std::string& path, bool allow_nodes_list,
                             Scenario* scenario, ConfigExtras* extras) {
  if (path.empty()) return Invalid("--config: expected a file path, got ''");
  // A directory opens as a stream on Linux and reads as nothing: refuse it
  // (and anything else not a regular file that fails to read) by name.
  struct stat info;
  if (::stat(path.c_str(), &info) == 0 && S_ISDIR(info.st_mode)) {
    return Invalid(
        absl::StrCat("--config ", path, ": cannot read: is a directory"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return Invalid(absl::StrCat("--config ", path,
                                ": cannot read: ", std::strerror(errno)));
  }
  // istream::read, not `<< rdbuf()`: a read error (EIO, /proc/self/mem)
  // then sets badbit on `in` instead of only failbit on the copy's target.
  std::string text;
  char chunk[1 << 14];
  while (in.read(chunk, sizeof(chunk)) || in.gcount() > 0) {
    text.append(chunk, static_cast<size_t>(in.gcount()));
    if (text.size() > kMaxConfigBytes) {
      return Invalid(absl::StrCat("--config ", path, ": larger than ",
                                  kMaxConfigBytes, " bytes"));
    }
  }
  if (in.bad()) {
    return Invalid(absl::StrCat("--config ", path, ": cannot read"));
  }
  return ApplyConfigText(text, path, allow_nodes_list, scenario, extras);
}

absl::Status ParseNodesList(std::string_view text,
                            std::vector<uint32_t>* nodes) {
  nodes->clear();
  for (absl::string_view item : absl::StrSplit(ToAbsl(text), ',')) {
    uint64_t n = 0;
    if (!ParseUnsigned(std::string_view(item.data(), item.size()), kU32, &n)) {
      return Invalid(absl::StrCat(
          "--nodes ", ToAbsl(text),
          ": expected sizes separated by commas, e.g. 256,1024,4096"));
    }
    nodes->push_back(static_cast<uint32_t>(n));
  }
  return absl::OkStatus();
}

}  // namespace elara::tools
