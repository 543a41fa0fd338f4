// File: runtime/log.h
//
// The node's log: one line per notable thing, on stderr, as
//   elara-node 12:34:56.789 I peer up 0123456789abcdef 127.0.0.1:7001
// (wall-clock time for people; the monotonic clock is in the events).
// Levels: error < warn < info < debug; lines above the threshold are
// skipped before they are formatted.
//
// Thread-safety: one global threshold; each line is written with one
// write(2) call, so concurrent lines do not interleave.
#ifndef ELARA_RUNTIME_LOG_H_
#define ELARA_RUNTIME_LOG_H_

#include <string_view>

#include "absl/strings/str_cat.h"

namespace elara::runtime {

enum class LogLevel : int { kError = 0, kWarn = 1, kInfo = 2, kDebug = 3 };

// "error" / "warn" / "info" / "debug".
const char* LogLevelName(LogLevel level);
// Parses the names above; false on anything else.
bool ParseLogLevel(std::string_view text, LogLevel* level);

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
inline bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) <= static_cast<int>(GetLogLevel());
}

// Writes one line (a newline is added).
void WriteLogLine(LogLevel level, std::string_view message);

// Log(kInfo, "peer up ", id) formats only when the level is enabled.
template <typename... Args>
void Log(LogLevel level, const Args&... args) {
  if (!LogEnabled(level)) return;
  const std::string line = absl::StrCat(args...);
  WriteLogLine(level, line);
}

}  // namespace elara::runtime

#endif  // ELARA_RUNTIME_LOG_H_
