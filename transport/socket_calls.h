// File: transport/socket_calls.h
//
// The three batched socket system calls the UDP transport makes on its hot
// paths, behind an interface so tests can inject faults the loopback device
// never produces (a full send buffer, EINTR, ENOBUFS, a partial batch), in
// the manner of LevelDB's Env. Production code uses `SocketCalls::Kernel()`.
//
// Contract of every method: exactly that of the system call named (return
// -1 and set errno on failure), with MSG_DONTWAIT added to the flags.
//
// Thread-safety: Kernel() is stateless and thread-safe; fakes need not be.
#ifndef ELARA_TRANSPORT_SOCKET_CALLS_H_
#define ELARA_TRANSPORT_SOCKET_CALLS_H_

#include <sys/socket.h>
#include <sys/types.h>

namespace elara {

class SocketCalls {
 public:
  virtual ~SocketCalls() = default;

  // sendmmsg(fd, messages, count, MSG_DONTWAIT).
  virtual int SendMmsg(int fd, mmsghdr* messages, unsigned int count) = 0;
  // recvmmsg(fd, messages, count, MSG_DONTWAIT, nullptr).
  virtual int RecvMmsg(int fd, mmsghdr* messages, unsigned int count) = 0;
  // recvmsg(fd, message, MSG_ERRQUEUE | MSG_DONTWAIT).
  virtual ssize_t RecvErrorQueue(int fd, msghdr* message) = 0;

  // The real system calls. Never null; lives for the whole process.
  static SocketCalls* Kernel();
};

}  // namespace elara

#endif  // ELARA_TRANSPORT_SOCKET_CALLS_H_
