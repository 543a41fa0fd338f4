// File: tools/sim_cli_options.h
//
// The settings of an `elara-sim` scenario, as one table shared by the
// command-line flags, the TOML config file (--config) and --help, so that a
// flag, its config key and its help text can never drift apart. Every flag
// of sim/scenario_flags.h is here (FailureReplay's output is accepted
// verbatim), plus the spellings --payload-bytes and --latency-ms.
//
// Precedence: Scenario defaults, then the config file, then flags.
// Text forms (DUR, FRACTION@START-END, ...) are those of
// sim/scenario_flags.h. Ranges are checked by Scenario::Validate() after
// everything is applied; here only syntax (and probabilities, so a config
// file's bad value points at its line).
//
// Config file (TOML): top-level keys are the flag names with '_' for '-'
// (nodes = 1000, mode = "hybrid", loss = 0.01, latency_ms = "10:80",
// partition = ["0.5@10s-30s"], warmup = "2s", ...); an [engine] table holds
// DiffusionConfig fields (active_view_size = 5, shuffle_period_ms = 10000,
// ...). Unknown keys, wrong types and syntax errors are errors naming
// FILE:LINE:COLUMN.
//
// Thread-safety: pure functions over caller-owned data.
#ifndef ELARA_TOOLS_SIM_CLI_OPTIONS_H_
#define ELARA_TOOLS_SIM_CLI_OPTIONS_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "sim/scenario.h"

namespace elara::tools {

// What a TOML value of a setting may be.
enum class TomlKind : uint8_t {
  kInteger,       // TOML integer
  kNumber,        // TOML integer or float
  kText,          // TOML string (the flag's text form)
  kTextOrNumber,  // latency_ms: "10:80" or 10
};

struct Setting {
  // TOML key: top level, or inside [engine] when engine_table.
  const char* key;
  bool engine_table;
  // CLI11 option names, comma-separated ("--payload-bytes,--payload"); empty
  // for config-file-only settings.
  const char* flags;
  const char* value_name;  // "N", "P", "DUR", ...
  // Meaning and allowed range; --help appends the default.
  const char* help;
  TomlKind toml_kind;
  bool repeatable;  // --partition, --crash: a flag per item, a TOML array
  // Applies one text value (a repeatable setting appends one item); the
  // error message does not name the flag (the caller adds the flag or
  // FILE:LINE: key).
  std::function<absl::Status(std::string_view text, sim::Scenario* scenario)>
      apply;
  // The current value as text (for --help's defaults).
  std::function<std::string(const sim::Scenario& scenario)> show;
  // Repeatable settings: empties the list before a source (config file or
  // command line) gives its items, so flags replace the file's list.
  std::function<void(sim::Scenario* scenario)> clear;
};

// Every setting, in the order they are applied (later wins within one
// source: --latency-min/--latency-max after --latency-ms).
std::span<const Setting> Settings();
// nullptr if no setting has this key.
const Setting* FindSetting(std::string_view key, bool engine_table);

// The first flag name of a setting, e.g. "--payload-bytes".
std::string PrimaryFlag(const Setting& setting);

// Applies `text` to `scenario` for `setting`; on error, InvalidArgument
// "--flag VALUE: message".
absl::Status ApplyFlag(const Setting& setting, std::string_view text,
                       sim::Scenario* scenario);

// What a config file set besides the scenario.
struct ConfigExtras {
  // `nodes = [256, 1024, ...]`: the sizes of a sweep (only when
  // allow_nodes_list).
  std::optional<std::vector<uint32_t>> sweep_nodes;
};

// Parses TOML `text` (named `source` in messages) and applies it to
// *scenario. InvalidArgument "SOURCE:LINE:COL: ..." on a syntax error, an
// unknown key, a wrong type or a bad value.
absl::Status ApplyConfigText(std::string_view text, std::string_view source,
                             bool allow_nodes_list, sim::Scenario* scenario,
                             ConfigExtras* extras);
// Reads `path` and applies it as above; InvalidArgument when empty, a
// directory or unreadable.
absl::Status ApplyConfigFile(const std::string& path, bool allow_nodes_list,
                             sim::Scenario* scenario, ConfigExtras* extras);

// "256,1024,4096" -> sizes (each 2..4294967295); InvalidArgument naming
// --nodes otherwise.
absl::Status ParseNodesList(std::string_view text,
                            std::vector<uint32_t>* nodes);

}  // namespace elara::tools

#endif  // ELARA_TOOLS_SIM_CLI_OPTIONS_H_
