// File: transport/poller.h
//
// A small epoll wrapper for a node's event loop, and a `Waker` (eventfd)
// that another thread or a signal handler can use to end a wait.
//
// Guarantees:
//   - Level-triggered: a file descriptor stays ready until the caller has
//     drained it (what UdpSocket's batch calls expect).
//   - Wait's timeout has microsecond resolution (epoll_pwait2); on kernels
//     without it, it is rounded up to whole milliseconds, so Wait never
//     returns kTimeout before `timeout` has passed.
//   - Any file descriptor can be watched: sockets, stdin, a signalfd, a
//     Waker. Errors and hang-ups are always reported (epoll does so whatever
//     the interest).
//   - Wait reports at most `max_events` events per call; the rest stay
//     ready for the next call.
//
// Example:
//   auto poller = Poller::Create();
//   (*poller)->Add(socket->fd(), kPollReadable, /*token=*/1);
//   (*poller)->Add(STDIN_FILENO, kPollReadable, /*token=*/2);
//   std::vector<PollEvent> events;
//   absl::StatusOr<PollResult> r = (*poller)->Wait(Duration::Millis(5),
//                                                  &events);
//   if (r.ok() && *r == PollResult::kReady) { for (auto& e : events) ... }
//
// Thread-safety: a Poller belongs to one thread. Waker::Wake is thread-safe
// and async-signal-safe.
#ifndef ELARA_TRANSPORT_POLLER_H_
#define ELARA_TRANSPORT_POLLER_H_

#include <sys/epoll.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/time.h"

namespace elara {

// Interest bits for Poller::Add / Modify.
inline constexpr uint32_t kPollReadable = 1u << 0;
inline constexpr uint32_t kPollWritable = 1u << 1;

struct PollEvent {
  uint64_t token = 0;  // as given to Add / Modify
  bool readable = false;
  bool writable = false;
  bool error = false;   // EPOLLERR (for a UDP socket: its error queue)
  bool hangup = false;  // EPOLLHUP / EPOLLRDHUP (e.g. stdin closed)
};

enum class PollResult {
  kReady,        // at least one event in `events`
  kTimeout,      // the timeout passed with nothing ready
  kInterrupted,  // a signal arrived (EINTR); `events` is empty
};

class Poller {
 public:
  // `max_events` bounds the events one Wait reports (at least 1).
  static absl::StatusOr<std::unique_ptr<Poller>> Create(size_t max_events = 64);

  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;
  ~Poller();

  absl::Status Add(int fd, uint32_t interest, uint64_t token);
  absl::Status Modify(int fd, uint32_t interest, uint64_t token);
  absl::Status Remove(int fd);

  // Waits until something is ready or `timeout` passes. Duration::Infinite()
  // waits forever; zero or negative polls without waiting. Clears `events`
  // and fills it. Errors other than EINTR (bad descriptors) are returned.
  absl::StatusOr<PollResult> Wait(Duration timeout,
                                  std::vector<PollEvent>* events);

 private:
  Poller(int epoll_fd, size_t max_events);
  int WaitSystemCall(Duration timeout);

  const int epoll_fd_;
  std::vector<epoll_event> ready_events_;  // max_events entries
  bool has_pwait2_ = true;                 // false once the kernel said ENOSYS
};

// An eventfd: Wake() makes fd() readable until Drain().
class Waker {
 public:
  static absl::StatusOr<std::unique_ptr<Waker>> Create();

  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;
  ~Waker();

  int fd() const { return fd_; }
  // Makes fd() readable. Thread-safe and async-signal-safe.
  absl::Status Wake();
  // Makes fd() not readable; returns how many Wake calls it absorbed.
  uint64_t Drain();

 private:
  explicit Waker(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace elara

#endif  // ELARA_TRANSPORT_POLLER_H_
