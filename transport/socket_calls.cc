// File: transport/socket_calls.cc
//
// The kernel implementation of SocketCalls: direct system calls, no state.
#include "transport/socket_calls.h"

namespace elara {
namespace {

class KernelSocketCalls final : public SocketCalls {
 public:
  int SendMmsg(int fd, mmsghdr* messages, unsigned int count) override {
    return sendmmsg(fd, messages, count, MSG_DONTWAIT);
  }
  int RecvMmsg(int fd, mmsghdr* messages, unsigned int count) override {
    return recvmmsg(fd, messages, count, MSG_DONTWAIT, nullptr);
  }
  ssize_t RecvErrorQueue(int fd, msghdr* message) override {
    return recvmsg(fd, message, MSG_ERRQUEUE | MSG_DONTWAIT);
  }
};

}  // namespace

SocketCalls* SocketCalls::Kernel() {
  // Never destroyed, so it outlives every socket, including static ones.
  static KernelSocketCalls* const kernel = new KernelSocketCalls();
  return kernel;
}

}  // namespace elara
