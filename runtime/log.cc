// The log line is assembled in memory and written with one write(2) on
// stderr (unbuffered, so nothing is lost when the process is killed).
#include "runtime/log.h"

#include <unistd.h>

#include <atomic>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace elara::runtime {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};

char LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return 'E';
    case LogLevel::kWarn:
      return 'W';
    case LogLevel::kInfo:
      return 'I';
    case LogLevel::kDebug:
      return 'D';
  }
  return '?';
}

}  // namespace

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kError:
      return "error";
    case LogLevel::kWarn:
      return "warn";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kDebug:
      return "debug";
  }
  return "unknown";
}

bool ParseLogLevel(std::string_view text, LogLevel* level) {
  for (LogLevel l :
       {LogLevel::kError, LogLevel::kWarn, LogLevel::kInfo, LogLevel::kDebug}) {
    if (text == LogLevelName(l)) {
      *level = l;
      return true;
    }
  }
  return false;
}

void SetLogLevel(LogLevel level) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

LogLevel GetLogLevel() {
  return static_cast<LogLevel>(g_level.load(std::memory_order_relaxed));
}

void WriteLogLine(LogLevel level, std::string_view message) {
  std::string line = absl::StrCat(
      "elara-node ",
      absl::FormatTime("%H:%M:%E3S", absl::Now(), absl::LocalTimeZone()), " ",
      std::string(1, LevelLetter(level)), " ",
      absl::string_view(message.data(), message.size()), "\n");
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n =
        write(STDERR_FILENO, line.data() + done, line.size() - done);
    if (n <= 0) return;  // stderr gone or full: logging must not stop the node
    done += static_cast<size_t>(n);
  }
}

}  // namespace elara::runtime
