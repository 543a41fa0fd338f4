// File: tools/node_cli_options.h
//
// The settings of one `elara-node` process: command-line flags (CLI11) and
// the TOML config file (--config, toml++). Precedence: built-in defaults,
// then the config file, then flags.
//
// Config file: top-level keys for the node (bind, advertise, join = [..],
// identity, metrics, log_level, seed, max_peers, event_buffer_size,
// batch_datagrams, send_queue_datagrams, detect_unreachable, exit_on_eof,
// no_data, leave_timeout_ms) and an [engine] table for DiffusionConfig
// (mode, then the keys of tools/engine_config_keys.h, shared with
// elara-sim's [engine]: active_view_size, ..., max_state_entries, ...,
// max_pending_transmits). An unknown key, a wrong type or a TOML syntax
// error is an error naming FILE:LINE:COLUMN; ranges are then checked by
// NodeConfig::Validate (whose message names the field).
//
// Exit codes of a failed parse: 2 (usage). --help prints help, exit 0.
//
// Thread-safety: pure functions over caller-owned data.
#ifndef ELARA_TOOLS_NODE_CLI_OPTIONS_H_
#define ELARA_TOOLS_NODE_CLI_OPTIONS_H_

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/address.h"
#include "runtime/log.h"
#include "runtime/node_config.h"

namespace elara::tools {

inline constexpr int kExitOk = 0;
inline constexpr int kExitRuntimeError = 1;
inline constexpr int kExitUsage = 2;

struct NodeCliOptions {
  // node_id stays 0 here: it comes from the identity.
  runtime::NodeConfig node;
  std::vector<Address> join;
  std::string identity_path;  // empty: an ephemeral identity
  std::optional<Address> metrics;
  std::optional<uint64_t> seed;  // engine seed; default from the identity
  runtime::LogLevel log_level = runtime::LogLevel::kInfo;
  bool exit_on_eof = false;
  bool no_data = false;
  Duration leave_timeout = Duration::Millis(500);
};

// Resolves "HOST:PORT" ("1.2.3.4:5", "[::1]:5", or a host name such as
// "localhost:7000" through getaddrinfo). InvalidArgument otherwise.
absl::StatusOr<Address> ParseHostPort(std::string_view text);

// Applies TOML `text` (named `source` in messages) to *options.
absl::Status ApplyNodeConfigText(std::string_view text, std::string_view source,
                                 NodeCliOptions* options);
absl::Status ApplyNodeConfigFile(const std::string& path,
                                 NodeCliOptions* options);

// Parses argv into *options. Returns nullopt to go on running, or the exit
// code to stop with (0 after --help, 2 after an error, which is printed on
// `err` naming the flag and its allowed values).
std::optional<int> ParseNodeCommandLine(int argc, const char* const* argv,
                                        std::ostream& out, std::ostream& err,
                                        NodeCliOptions* options);

}  // namespace elara::tools

#endif  // ELARA_TOOLS_NODE_CLI_OPTIONS_H_
