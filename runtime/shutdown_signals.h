// File: runtime/shutdown_signals.h
//
// ShutdownSignals: turns SIGINT and SIGTERM into a readable descriptor
// (signalfd) that the node's loop watches, so a signal ends the loop at a
// clean point (Engine::Leave, flush, exit 0) instead of interrupting it.
// It also ignores SIGPIPE, so a closed stdout is an EPIPE error, not death.
//
// Install() blocks SIGINT and SIGTERM for the calling thread (call it before
// starting any thread); the destructor restores the previous mask and
// SIGPIPE disposition.
//
// Thread-safety: one instance per process, used by the loop thread.
#ifndef ELARA_RUNTIME_SHUTDOWN_SIGNALS_H_
#define ELARA_RUNTIME_SHUTDOWN_SIGNALS_H_

#include <signal.h>

#include <memory>

#include "absl/status/statusor.h"

namespace elara::runtime {

class ShutdownSignals {
 public:
  static absl::StatusOr<std::unique_ptr<ShutdownSignals>> Install();
  ~ShutdownSignals();
  ShutdownSignals(const ShutdownSignals&) = delete;
  ShutdownSignals& operator=(const ShutdownSignals&) = delete;

  // Readable when a signal is pending.
  int fd() const { return fd_; }
  // Consumes pending signals; returns the last one's number, 0 if none.
  int Read();

 private:
  ShutdownSignals(int fd, const sigset_t& old_mask,
                  const struct sigaction& old_pipe);
  const int fd_;
  const sigset_t old_mask_;
  const struct sigaction old_pipe_;
};

}  // namespace elara::runtime

#endif  // ELARA_RUNTIME_SHUTDOWN_SIGNALS_H_
