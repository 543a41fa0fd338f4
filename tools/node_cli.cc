// elara-node's process: the node's loop plus stdin, stdout, signals and
// metrics. stdout is written without ever blocking the loop when it is a
// pipe or socket (O_NONBLOCK and a bounded byte buffer watched for
// writability); while that buffer is congested, events stay in the node's
// bounded event buffer, whose overflow is counted and reported with an
// "overflow" event. A terminal or a file is written directly.
#include "tools/node_cli.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "runtime/identity.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/metrics_server.h"
#include "runtime/node.h"
#include "runtime/shutdown_signals.h"
#include "tools/node_cli_control.h"
#include "tools/node_cli_options.h"
#include "transport/clock.h"

namespace elara::tools {
namespace {

using runtime::Log;
using runtime::LogLevel;
using runtime::Node;

// stdout, line by line, never blocking the loop when it is a pipe/socket.
class StdoutWriter {
 public:
  // Above this many unwritten bytes, the caller stops producing events.
  static constexpr size_t kCongestedBytes = 1 << 20;
  // Hard bound: a line that would exceed it is dropped and counted.
  static constexpr size_t kMaxPendingBytes = 8 << 20;

  StdoutWriter() {
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) == 0 &&
        (S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode))) {
      old_flags_ = fcntl(STDOUT_FILENO, F_GETFL);
      if (old_flags_ >= 0) {
        non_blocking_ =
            fcntl(STDOUT_FILENO, F_SETFL, old_flags_ | O_NONBLOCK) == 0;
      }
    }
  }
  ~StdoutWriter() {
    if (non_blocking_) fcntl(STDOUT_FILENO, F_SETFL, old_flags_);
  }
  StdoutWriter(const StdoutWriter&) = delete;
  StdoutWriter& operator=(const StdoutWriter&) = delete;

  bool non_blocking() const { return non_blocking_; }
  bool congested() const { return pending() > kCongestedBytes; }
  size_t pending() const { return buffer_.size() - offset_; }
  uint64_t lines_dropped() const { return lines_dropped_; }

  void WriteLine(std::string_view line) {
    if (broken_ || pending() + line.size() + 1 > kMaxPendingBytes) {
      ++lines_dropped_;
      return;
    }
    buffer_.append(line.data(), line.size());
    buffer_.push_back('\n');
    Flush();
  }

  // Writes what it can now. Returns true when everything is written.
  bool Flush() {
    while (offset_ < buffer_.size()) {
      const ssize_t n = write(STDOUT_FILENO, buffer_.data() + offset_,
                              buffer_.size() - offset_);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n <= 0) {  // EPIPE and friends: nobody reads stdout any more
        if (!broken_) {
          Log(LogLevel::kWarn, "stdout: ", strerror(errno),
              "; events are no longer written");
        }
        broken_ = true;
        buffer_.clear();
        offset_ = 0;
        return true;
      }
      offset_ += static_cast<size_t>(n);
    }
    if (offset_ == buffer_.size()) {
      buffer_.clear();
      offset_ = 0;
    } else if (offset_ > kCongestedBytes) {
      buffer_.erase(0, offset_);
      offset_ = 0;
    }
    return pending() == 0;
  }

  // At exit: waits (poll) up to `timeout` for the reader.
  void FlushBlocking(Duration timeout) {
    const Timestamp end = MonotonicNow() + timeout;
    while (!Flush()) {
      const Duration left = end - MonotonicNow();
      if (left <= Duration::Zero()) break;
      pollfd p{STDOUT_FILENO, POLLOUT, 0};
      poll(&p, 1, static_cast<int>(std::max<int64_t>(left.ToMillis(), 1)));
    }
  }

 private:
  std::string buffer_;
  size_t offset_ = 0;
  int old_flags_ = -1;
  bool non_blocking_ = false;
  bool broken_ = false;
  uint64_t lines_dropped_ = 0;
};

std::string SignalName(int signal) {
  if (signal == SIGINT) return "SIGINT";
  if (signal == SIGTERM) return "SIGTERM";
  return absl::StrCat("signal ", signal);
}

class NodeProcess {
 public:
  NodeProcess(NodeCliOptions options, std::unique_ptr<Node> node,
              std::unique_ptr<runtime::ShutdownSignals> signals)
      : options_(std::move(options)),
        node_(std::move(node)),
        signals_(std::move(signals)) {}

  int Run() {
    absl::Status status = Start();
    if (!status.ok()) {
      Log(LogLevel::kError, status.message());
      return kExitRuntimeError;
    }
    while (!stop_reason_) {
      status = node_->RunOnce(MaxWait());
      if (!status.ok()) {
        Log(LogLevel::kError, "event loop: ", status.message());
        return kExitRuntimeError;
      }
      if (metrics_) metrics_->Tick(MonotonicNow());
      WriteEvents();
    }
    Shutdown();
    return kExitOk;
  }

 private:
  absl::Status Start() {
    if (options_.metrics) {
      absl::StatusOr<std::unique_ptr<runtime::MetricsServer>> server =
          runtime::MetricsServer::Start(node_.get(), *options_.metrics, [this] {
            return runtime::RenderPrometheus(*node_, MonotonicNow());
          });
      if (!server.ok()) return server.status();
      metrics_ = std::move(*server);
      Log(LogLevel::kInfo, "metrics on http://",
          metrics_->local_address().ToString(), "/metrics");
    }
    absl::Status status =
        node_->Watch(signals_->fd(), kPollReadable, [this](const PollEvent&) {
          const int signal = signals_->Read();
          if (signal != 0) Stop(SignalName(signal));
        });
    if (!status.ok()) return status;
    Log(LogLevel::kInfo, "node ", ToString(node_->id()), " listening on ",
        node_->local_address().ToString(), " (advertised ",
        node_->advertised_address().ToString(), ")");
    writer_.WriteLine(
        ReadyJson(node_->id(), node_->advertised_address(),
                  metrics_ ? std::optional<Address>(metrics_->local_address())
                           : std::nullopt));
    for (const Address& contact : options_.join) {
      Log(LogLevel::kInfo, "joining through ", contact.ToString());
      node_->Join(contact);
    }
    WatchStdin();
    return absl::OkStatus();
  }

  Duration MaxWait() const {
    if (!metrics_) return Duration::Infinite();
    const Timestamp deadline = metrics_->NextDeadline();
    if (deadline.IsInfinite()) return Duration::Infinite();
    return std::max(deadline - MonotonicNow(), Duration::Zero());
  }

  void Stop(std::string reason) {
    if (stop_reason_) return;
    Log(LogLevel::kInfo, "stopping: ", reason);
    stop_reason_ = std::move(reason);
  }

  // --- stdin ---

  void WatchStdin() {
    absl::Status status = node_->Watch(
        STDIN_FILENO, kPollReadable, [this](const PollEvent&) { ReadStdin(); });
    if (status.ok()) return;
    // epoll refuses regular files and /dev/null (EPERM): they never block,
    // so read them to the end now.
    Log(LogLevel::kDebug, "stdin cannot be polled (", status.message(),
        "); reading it whole");
    while (!stdin_closed_ && !stop_reason_) ReadStdin();
  }

  void ReadStdin() {
    char buffer[64 * 1024];
    const ssize_t n = read(STDIN_FILENO, buffer, sizeof(buffer));
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) return;
    if (n <= 0) {
      CloseStdin(n == 0 ? "end of file" : strerror(errno));
      return;
    }
    lines_.clear();
    splitter_.Feed(std::string_view(buffer, static_cast<size_t>(n)), &lines_);
    for (const LineSplitter::Line& line : lines_) HandleLine(line);
  }

  void CloseStdin(const char* why) {
    stdin_closed_ = true;
    node_->Unwatch(STDIN_FILENO).IgnoreError();
    if (std::optional<LineSplitter::Line> last = splitter_.Finish()) {
      HandleLine(*last);
    }
    Log(LogLevel::kInfo, "stdin closed (", why, ")",
        options_.exit_on_eof ? "; exiting (--exit-on-eof)"
                             : "; still running (see --exit-on-eof)");
    if (options_.exit_on_eof) Stop("eof");
  }

  void HandleLine(const LineSplitter::Line& line) {
    if (line.too_long) {
      writer_.WriteLine(ErrorJson(
          absl::StrCat("line longer than ", kMaxControlLineBytes, " bytes"),
          line.text));
      return;
    }
    if (line.text.find_first_not_of(" \t\r") == std::string::npos) return;
    absl::StatusOr<ControlCommand> command = ParseControlLine(line.text);
    if (!command.ok()) {
      writer_.WriteLine(
          ErrorJson(std::string(command.status().message()), line.text));
      return;
    }
    Execute(*command, line.text);
  }

  void Execute(const ControlCommand& command, std::string_view line) {
    switch (command.op) {
      case ControlCommand::Op::kBroadcast: {
        const Timestamp sent = MonotonicNow();
        absl::StatusOr<MessageId> id = node_->Broadcast(command.data);
        if (!id.ok()) {
          writer_.WriteLine(ErrorJson(
              absl::StrCat("broadcast: ", id.status().message()), line));
          return;
        }
        writer_.WriteLine(BroadcastJson(*id, command.data.size(), sent));
        return;
      }
      case ControlCommand::Op::kLeave:
        Stop("leave");
        return;
      case ControlCommand::Op::kJoin:
        Log(LogLevel::kInfo, "joining through ", command.addr.ToString());
        node_->Join(command.addr);
        return;
      case ControlCommand::Op::kStats:
        writer_.WriteLine(StatsJson(Stats(), "request"));
        return;
      case ControlCommand::Op::kPeers:
        writer_.WriteLine(PeersJson(node_->engine().ActiveView(),
                                    node_->engine().PassiveView()));
        return;
      case ControlCommand::Op::kSet:
      case ControlCommand::Op::kGet:
      case ControlCommand::Op::kDelete:
        ExecuteState(command, line);
        return;
    }
  }

  void ExecuteState(const ControlCommand& command, std::string_view line) {
    const Engine& engine = node_->engine();
    if (command.op == ControlCommand::Op::kGet) {
      writer_.WriteLine(GetJson(command.key, engine.GetState(command.key)));
      return;
    }
    const bool set = command.op == ControlCommand::Op::kSet;
    const absl::Status status = set ? node_->SetState(command.key, command.data)
                                    : node_->DeleteState(command.key);
    if (!status.ok()) {
      writer_.WriteLine(ErrorJson(
          absl::StrCat(set ? "set: " : "delete: ", status.message()), line));
      return;
    }
    writer_.WriteLine(set ? SetJson(command.key, command.data.size(),
                                    engine.GetState(command.key))
                          : DeleteJson(command.key));
  }

  // --- stdout ---

  std::vector<std::pair<std::string, uint64_t>> Stats() const {
    std::vector<std::pair<std::string, uint64_t>> stats;
    runtime::ForEachStat(*node_, [&](std::string_view name, uint64_t value) {
      stats.emplace_back(std::string(name), value);
    });
    stats.emplace_back("stdout.lines_dropped", writer_.lines_dropped());
    if (metrics_) {
      const runtime::MetricsServerCounters& m = metrics_->counters();
      stats.emplace_back("metrics.requests_served", m.requests_served);
      stats.emplace_back("metrics.requests_refused", m.requests_refused);
      stats.emplace_back("metrics.connections_rejected",
                         m.connections_rejected);
      stats.emplace_back("metrics.timeouts", m.timeouts);
    }
    return stats;
  }

  void WriteEvents() {
    while (!writer_.congested()) {
      std::optional<EngineEvent> event = node_->PollEvent();
      if (!event) break;
      writer_.WriteLine(EngineEventJson(*event, !options_.no_data));
    }
    const uint64_t overflowed = node_->counters().events_overflowed;
    if (overflowed > overflow_reported_ && !writer_.congested()) {
      writer_.WriteLine(
          OverflowJson(overflowed - overflow_reported_, overflowed));
      overflow_reported_ = overflowed;
    }
    WatchStdoutWhilePending();
  }

  void WatchStdoutWhilePending() {
    const bool pending = writer_.pending() > 0;
    if (pending == stdout_watched_) return;
    if (pending) {
      stdout_watched_ =
          node_
              ->Watch(STDOUT_FILENO, kPollWritable,
                      [this](const PollEvent&) { writer_.Flush(); })
              .ok();
    } else {
      node_->Unwatch(STDOUT_FILENO).IgnoreError();
      stdout_watched_ = false;
    }
  }

  void Shutdown() {
    node_->Leave(options_.leave_timeout);
    while (std::optional<EngineEvent> event = node_->PollEvent()) {
      writer_.WriteLine(EngineEventJson(*event, !options_.no_data));
    }
    writer_.WriteLine(StatsJson(Stats(), *stop_reason_));
    writer_.WriteLine(ExitJson(*stop_reason_));
    writer_.FlushBlocking(Duration::Seconds(2));
    Log(LogLevel::kInfo, "left the swarm; exit 0");
  }

  const NodeCliOptions options_;
  std::unique_ptr<Node> node_;
  std::unique_ptr<runtime::ShutdownSignals> signals_;
  std::unique_ptr<runtime::MetricsServer> metrics_;
  StdoutWriter writer_;
  LineSplitter splitter_;
  std::vector<LineSplitter::Line> lines_;
  bool stdin_closed_ = false;
  bool stdout_watched_ = false;
  uint64_t overflow_reported_ = 0;
  std::optional<std::string> stop_reason_;
};

}  // namespace

int RunNodeCli(int argc, const char* const* argv) {
  NodeCliOptions options;
  if (std::optional<int> code =
          ParseNodeCommandLine(argc, argv, std::cout, std::cerr, &options)) {
    return *code;
  }
  runtime::SetLogLevel(options.log_level);

  runtime::Identity identity;
  if (options.identity_path.empty()) {
    identity = runtime::Identity::Generate();
    Log(LogLevel::kInfo, "no --identity: using a fresh in-memory identity ",
        ToString(identity.node_id));
  } else {
    bool created = false;
    absl::StatusOr<runtime::Identity> loaded =
        runtime::LoadOrCreateIdentityFile(options.identity_path, &created);
    if (!loaded.ok()) {
      Log(LogLevel::kError, loaded.status().message());
      return kExitRuntimeError;
    }
    identity = *loaded;
    Log(LogLevel::kInfo, created ? "created" : "loaded", " identity ",
        options.identity_path, " (node ", ToString(identity.node_id), ")");
  }
  options.node.node_id = identity.node_id;
  const uint64_t seed = options.seed.value_or(identity.EngineSeed());

  absl::StatusOr<std::unique_ptr<runtime::ShutdownSignals>> signals =
      runtime::ShutdownSignals::Install();
  if (!signals.ok()) {
    Log(LogLevel::kError, signals.status().message());
    return kExitRuntimeError;
  }
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Create(options.node, seed);
  if (!node.ok()) {
    Log(LogLevel::kError, node.status().message());
    return kExitRuntimeError;
  }
  NodeProcess process(std::move(options), std::move(*node),
                      std::move(*signals));
  return process.Run();
}

}  // namespace elara::tools
