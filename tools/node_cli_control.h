// File: tools/node_cli_control.h
//
// elara-node's scripting interface, as pure functions:
//   - control lines read from stdin (JSON objects, one per line) become
//     `ControlCommand`s; a malformed line is an error value, never a crash;
//   - engine events and the node's own notices become JSON lines for
//     stdout;
//   - `LineSplitter` cuts a byte stream into lines with a length bound.
//
// Schemas are documented in README.md ("Run a real node").
//
// Keyed state: a key is a JSON integer 0..2^64-1 (core's StateId); a value
// is base64 in "value", as broadcast payloads are in "data". A version is
// {"wall_us", "logical", "origin"}: the write's hybrid-logical-clock time
// (wall microseconds since the Unix epoch on elara-node) and its writer.
//
// Thread-safety: pure functions; a LineSplitter is single-threaded.
#ifndef ELARA_TOOLS_NODE_CLI_CONTROL_H_
#define ELARA_TOOLS_NODE_CLI_CONTROL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "core/address.h"
#include "core/engine.h"

namespace elara::tools {

// Longest control line accepted (a 64 KiB payload in base64 fits).
inline constexpr size_t kMaxControlLineBytes = 256 * 1024;

std::string Base64Encode(std::span<const uint8_t> bytes);
// nullopt on anything that is not canonical padded base64.
std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text);

struct ControlCommand {
  enum class Op {
    kBroadcast,
    kLeave,
    kJoin,
    kStats,
    kPeers,
    kSet,
    kGet,
    kDelete
  };
  Op op = Op::kStats;
  std::vector<uint8_t> data;  // kBroadcast payload, kSet value
  Address addr;               // kJoin
  StateId key;                // kSet, kGet, kDelete
};

// Parses one control line. InvalidArgument with a message fit for the
// error event otherwise.
absl::StatusOr<ControlCommand> ParseControlLine(std::string_view line);

// --- stdout events (each a JSON object without the trailing newline) -------

std::string ReadyJson(NodeId id, const Address& addr,
                      const std::optional<Address>& metrics);
// deliver / peer_up / peer_down / state_changed. `include_data`: the
// deliver's "data" and the state_changed's "value".
std::string EngineEventJson(const EngineEvent& event, bool include_data);
std::string BroadcastJson(const MessageId& id, size_t bytes, Timestamp sent);
// Answers of set / get / delete. `written` is the value now held (nullopt
// only if the write was already overwritten, which a local write cannot be).
std::string SetJson(StateId key, size_t bytes,
                    const std::optional<StateValue>& written);
// {"event":"get","key":K,"found":false} when absent or deleted.
std::string GetJson(StateId key, const std::optional<StateValue>& value);
std::string DeleteJson(StateId key);
// `line` (possibly cut) is echoed to help the script find its mistake.
std::string ErrorJson(std::string_view message, std::string_view line);
std::string OverflowJson(uint64_t dropped, uint64_t dropped_total);
std::string PeersJson(const std::vector<PeerEntry>& active,
                      const std::vector<PeerEntry>& passive);
// `stats` are (name, value) pairs, e.g. from runtime::ForEachStat.
std::string StatsJson(
    const std::vector<std::pair<std::string, uint64_t>>& stats,
    std::string_view reason);
std::string ExitJson(std::string_view reason);

// Cuts bytes into lines ('\n', an optional '\r' before it is dropped).
// A line longer than kMaxControlLineBytes is reported once as too long and
// skipped up to its newline.
class LineSplitter {
 public:
  struct Line {
    std::string text;
    bool too_long = false;
  };
  // Appends `bytes` and moves complete lines into *lines.
  void Feed(std::string_view bytes, std::vector<Line>* lines);
  // At end of input: the unterminated last line, if any.
  std::optional<Line> Finish();

 private:
  std::string partial_;
  bool skipping_ = false;  // inside a line already reported too long
};

}  // namespace elara::tools

#endif  // ELARA_TOOLS_NODE_CLI_CONTROL_H_
