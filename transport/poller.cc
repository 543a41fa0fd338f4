// File: transport/poller.cc
//
// epoll in level-triggered mode. The timeout goes to epoll_pwait2 as a
// timespec (microseconds kept); older kernels get epoll_wait with the
// timeout rounded up to milliseconds, so a timer is never fired early.
#include "transport/poller.h"

#include <errno.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"

namespace elara {
namespace {

uint32_t ToEpollEvents(uint32_t interest) {
  uint32_t events = EPOLLRDHUP;  // EPOLLERR and EPOLLHUP are implicit
  if (interest & kPollReadable) events |= EPOLLIN;
  if (interest & kPollWritable) events |= EPOLLOUT;
  return events;
}

PollEvent FromEpollEvent(const epoll_event& e) {
  PollEvent event;
  event.token = e.data.u64;
  event.readable = (e.events & EPOLLIN) != 0;
  event.writable = (e.events & EPOLLOUT) != 0;
  event.error = (e.events & EPOLLERR) != 0;
  event.hangup = (e.events & (EPOLLHUP | EPOLLRDHUP)) != 0;
  return event;
}

// Milliseconds for epoll_wait: -1 forever, rounded up, capped at INT_MAX.
int TimeoutMillisRoundedUp(Duration timeout) {
  if (timeout.IsInfinite()) return -1;
  const int64_t us = std::max<int64_t>(timeout.ToMicros(), 0);
  const int64_t ms = (us + 999) / 1000;
  return static_cast<int>(
      std::min<int64_t>(ms, std::numeric_limits<int>::max()));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Poller>> Poller::Create(size_t max_events) {
  if (max_events == 0 ||
      max_events > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return absl::InvalidArgumentError("max_events out of range");
  }
  const int epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd < 0) return absl::ErrnoToStatus(errno, "epoll_create1");
  return std::unique_ptr<Poller>(new Poller(epoll_fd, max_events));
}

Poller::Poller(int epoll_fd, size_t max_events)
    : epoll_fd_(epoll_fd), ready_events_(max_events) {}

Poller::~Poller() { close(epoll_fd_); }

absl::Status Poller::Add(int fd, uint32_t interest, uint64_t token) {
  epoll_event e{};
  e.events = ToEpollEvents(interest);
  e.data.u64 = token;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &e) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("epoll_ctl ADD fd ", fd));
  }
  return absl::OkStatus();
}

absl::Status Poller::Modify(int fd, uint32_t interest, uint64_t token) {
  epoll_event e{};
  e.events = ToEpollEvents(interest);
  e.data.u64 = token;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &e) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("epoll_ctl MOD fd ", fd));
  }
  return absl::OkStatus();
}

absl::Status Poller::Remove(int fd) {
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("epoll_ctl DEL fd ", fd));
  }
  return absl::OkStatus();
}

absl::StatusOr<PollResult> Poller::Wait(Duration timeout,
                                        std::vector<PollEvent>* events) {
  events->clear();
  const int ready = WaitSystemCall(timeout);
  if (ready < 0) {
    if (errno == EINTR) return PollResult::kInterrupted;
    return absl::ErrnoToStatus(errno, "epoll_wait");
  }
  for (int i = 0; i < ready; ++i) {
    events->push_back(FromEpollEvent(ready_events_[i]));
  }
  return ready == 0 ? PollResult::kTimeout : PollResult::kReady;
}

// Returns what epoll_pwait2 / epoll_wait returned, errno set on -1.
int Poller::WaitSystemCall(Duration timeout) {
  const int capacity = static_cast<int>(ready_events_.size());
  if (has_pwait2_) {
    timespec ts;
    timespec* ts_pointer = nullptr;  // null: wait forever
    if (!timeout.IsInfinite()) {
      const int64_t us = std::max<int64_t>(timeout.ToMicros(), 0);
      ts.tv_sec = us / 1000000;
      ts.tv_nsec = (us % 1000000) * 1000;
      ts_pointer = &ts;
    }
    const int ready = epoll_pwait2(epoll_fd_, ready_events_.data(), capacity,
                                   ts_pointer, nullptr);
    if (ready >= 0 || errno != ENOSYS) return ready;
    has_pwait2_ = false;
  }
  return epoll_wait(epoll_fd_, ready_events_.data(), capacity,
                    TimeoutMillisRoundedUp(timeout));
}

// ---------------------------------------------------------------------------
// Waker

absl::StatusOr<std::unique_ptr<Waker>> Waker::Create() {
  const int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (fd < 0) return absl::ErrnoToStatus(errno, "eventfd");
  return std::unique_ptr<Waker>(new Waker(fd));
}

Waker::~Waker() { close(fd_); }

absl::Status Waker::Wake() {
  const uint64_t one = 1;
  if (write(fd_, &one, sizeof(one)) != sizeof(one)) {
    // EAGAIN only if the counter would overflow 2^64-2: still readable.
    if (errno == EAGAIN) return absl::OkStatus();
    return absl::ErrnoToStatus(errno, "eventfd write");
  }
  return absl::OkStatus();
}

uint64_t Waker::Drain() {
  uint64_t count = 0;
  if (read(fd_, &count, sizeof(count)) != sizeof(count)) return 0;
  return count;
}

}  // namespace elara
