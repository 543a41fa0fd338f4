// signalfd instead of a handler: nothing runs in signal context, and the
// loop sees the signal as one more ready descriptor.
#include "runtime/shutdown_signals.h"

#include <errno.h>
#include <sys/signalfd.h>
#include <unistd.h>

namespace elara::runtime {

absl::StatusOr<std::unique_ptr<ShutdownSignals>> ShutdownSignals::Install() {
  sigset_t mask;
  sigemptyset(&mask);
  sigaddset(&mask, SIGINT);
  sigaddset(&mask, SIGTERM);
  sigset_t old_mask;
  if (sigprocmask(SIG_BLOCK, &mask, &old_mask) != 0) {
    return absl::ErrnoToStatus(errno, "sigprocmask");
  }
  const int fd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) {
    const int error = errno;
    sigprocmask(SIG_SETMASK, &old_mask, nullptr);
    return absl::ErrnoToStatus(error, "signalfd");
  }
  struct sigaction ignore = {};
  ignore.sa_handler = SIG_IGN;
  sigemptyset(&ignore.sa_mask);
  struct sigaction old_pipe = {};
  sigaction(SIGPIPE, &ignore, &old_pipe);
  return std::unique_ptr<ShutdownSignals>(
      new ShutdownSignals(fd, old_mask, old_pipe));
}

ShutdownSignals::ShutdownSignals(int fd, const sigset_t& old_mask,
                                 const struct sigaction& old_pipe)
    : fd_(fd), old_mask_(old_mask), old_pipe_(old_pipe) {}

ShutdownSignals::~ShutdownSignals() {
  close(fd_);
  sigaction(SIGPIPE, &old_pipe_, nullptr);
  sigprocmask(SIG_SETMASK, &old_mask_, nullptr);
}

int ShutdownSignals::Read() {
  int last = 0;
  signalfd_siginfo info;
  for (;;) {
    const ssize_t n = read(fd_, &info, sizeof(info));
    if (n < 0 && errno == EINTR) continue;
    if (n != static_cast<ssize_t>(sizeof(info))) return last;
    last = static_cast<int>(info.ssi_signo);
  }
}

}  // namespace elara::runtime
