// File: transport/udp_socket.h
//
// A non-blocking UDP socket (IPv4 or IPv6) with batched I/O: `recvmmsg` into
// preallocated slot buffers and `sendmmsg` from caller-owned bytes. It moves
// datagrams and counts what happens to them; it knows nothing of the
// protocol.
//
// Guarantees:
//   - Receive path: no heap allocation per datagram. `ReceiveBatch` fills a
//     caller-owned vector (capacity reused) with spans into the socket's own
//     slot buffers; they stay valid until the next `ReceiveBatch` or the
//     socket's destruction.
//   - A datagram larger than `max_datagram_bytes` is detected (MSG_TRUNC),
//     counted in `receive_truncated` and never delivered in part.
//   - Every error has a counter: truncation, send-buffer full, oversized
//     sends (EMSGSIZE), ICMP errors reported by the kernel (ECONNREFUSED from
//     port unreachable, ...), full send queue, and any other errno by name.
//     Nothing fails silently; no error stops the socket.
//   - Sending never blocks. When the kernel's send buffer is full (EAGAIN),
//     the unsent datagrams are copied into a bounded send queue inside the
//     socket and go out, in order, on the next `SendBatch` or
//     `FlushSendQueue`. New datagrams queue behind old ones, so the order of
//     sends is kept. When the queue is full, datagrams are dropped and
//     counted in `send_queue_drops`.
//
// Addresses. Bind to an IPv4 address for an AF_INET socket, to an IPv6
// address for an AF_INET6 socket. Binding to [::] turns IPV6_V6ONLY off
// (unless `ipv6_only`), so one socket serves both families: IPv4 peers appear
// as IPv4 Addresses (never v4-mapped), and IPv4 destinations are sent as
// v4-mapped addresses. An IPv6 destination on an IPv4 socket (or an IPv4 one
// on an `ipv6_only` socket), or a kSim address, is counted in
// `send_destination_invalid` and dropped.
//
// ICMP errors. The socket sets IP_RECVERR / IPV6_RECVERR; without it Linux
// never reports ICMP errors on an unconnected UDP socket. Each ICMP error is
// counted once, from the socket's error queue, and its destination (the
// unreachable peer) is kept for `TakeUnreachablePeers`. A pending error also
// makes the next send or receive call fail once; the socket then reads the
// error queue and repeats the call, so that datagram is not lost. While the
// error queue is non-empty epoll reports EPOLLERR (level-triggered): call
// `DrainErrorQueue` then.
//
// Event loop use (level-triggered epoll, see transport/poller.h):
//   auto socket = UdpSocket::Bind(*Address::Parse("0.0.0.0:7000"), {});
//   poller.Add((*socket)->fd(), kPollReadable, token);
//   on readable:  while ((*socket)->ReceiveBatch(&batch, 64) > 0) {
//                   for (const ReceivedDatagram& d : batch) Handle(d);
//                 }
//   on error:     (*socket)->DrainErrorQueue();
//   when (*socket)->queued_datagrams() > 0: also watch kPollWritable and call
//                 FlushSendQueue() when writable.
//
// Thread-safety: not thread-safe; one socket belongs to one event loop.
#ifndef ELARA_TRANSPORT_UDP_SOCKET_H_
#define ELARA_TRANSPORT_UDP_SOCKET_H_

#include <sys/socket.h>
#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "absl/container/btree_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "core/address.h"
#include "transport/socket_calls.h"

namespace elara {

// Largest UDP payload the kernel can hand over (IPv6 allows 65527, IPv4
// 65507); a slot this big never truncates a real datagram.
inline constexpr size_t kMaxUdpSlotBytes = 65536;
// UIO_MAXIOV: the kernel's limit on messages per recvmmsg/sendmmsg call.
inline constexpr size_t kMaxBatchDatagrams = 1024;

// Largest send queue a socket may be given.
inline constexpr size_t kMaxSendQueueDatagrams = size_t{1} << 20;

struct UdpOptions {
  // Receive slot size. A datagram longer than this is counted as
  // `receive_truncated` and dropped. Range [1, kMaxUdpSlotBytes].
  size_t max_datagram_bytes = kMaxUdpSlotBytes;
  // Datagrams per recvmmsg/sendmmsg call (and number of receive slots).
  // Range [1, kMaxBatchDatagrams].
  size_t batch_datagrams = 64;
  // Requested SO_RCVBUF / SO_SNDBUF. The socket tries SO_*BUFFORCE (needs
  // CAP_NET_ADMIN) and falls back to the sysctl-capped SO_*BUF; the size
  // obtained is reported by receive_buffer_bytes() / send_buffer_bytes().
  // 0 keeps the kernel default.
  int receive_buffer_bytes = 4 << 20;
  int send_buffer_bytes = 4 << 20;
  // Bound of the send queue that holds datagrams the kernel refused with
  // EAGAIN. 0 means no queue: such datagrams are dropped and counted.
  // At most kMaxSendQueueDatagrams.
  size_t send_queue_datagrams = 1024;
  // Bound of the list of unreachable peers kept for TakeUnreachablePeers.
  size_t unreachable_peers_max = 256;
  // Only for an IPv6 wildcard bind: serve IPv6 alone (no v4-mapped peers).
  bool ipv6_only = false;
  // System call seam for fault-injection tests; nullptr = the kernel.
  SocketCalls* socket_calls = nullptr;
};

// A received datagram. `bytes` points into the socket's slot buffers and is
// valid until the next ReceiveBatch call or the socket's destruction.
struct ReceivedDatagram {
  Address from;
  std::span<const uint8_t> bytes;
};

// A datagram to send; `bytes` must stay valid for the SendBatch call only
// (queued datagrams are copied).
struct OutgoingDatagram {
  Address to;
  std::span<const uint8_t> bytes;
};

struct TransportCounters {
  // Traffic that made it through.
  uint64_t datagrams_received = 0;
  uint64_t bytes_received = 0;
  uint64_t datagrams_sent = 0;
  uint64_t bytes_sent = 0;
  uint64_t receive_calls = 0;  // recvmmsg calls made
  uint64_t send_calls = 0;     // sendmmsg calls made
  // Receive side: dropped datagrams.
  uint64_t receive_truncated = 0;       // longer than max_datagram_bytes
  uint64_t receive_source_invalid = 0;  // sender of an unknown family
  // Send side.
  uint64_t send_would_block = 0;  // EAGAIN: kernel send buffer full (events)
  uint64_t send_queued = 0;       // datagrams put into the send queue
  uint64_t send_queue_drops = 0;  // send queue full: datagram dropped
  uint64_t send_too_big = 0;      // EMSGSIZE: datagram dropped
  uint64_t send_destination_invalid = 0;  // not sendable on this socket
  // ICMP errors reported through the error queue (or a pending socket error
  // whose queue entry the kernel could not keep).
  uint64_t connection_refused = 0;       // ICMP port unreachable
  uint64_t unreachable_peers_drops = 0;  // unreachable-peer list full
  uint64_t error_queue_local = 0;  // local errors (already counted by errno)
  uint64_t error_queue_other = 0;  // entries of an origin we do not expect
  // Every other errno, by name ("ENOBUFS", "EHOSTUNREACH", ...).
  absl::btree_map<std::string, uint64_t> send_errors;
  absl::btree_map<std::string, uint64_t> receive_errors;
  absl::btree_map<std::string, uint64_t> icmp_errors;

  // Calls `visit(name, value)` for every counter, in a fixed order, e.g.
  // ("datagrams_received", 3), ("send_errors.ENOBUFS", 1).
  void ForEach(absl::FunctionRef<void(std::string_view name, uint64_t value)>
                   visit) const;
  // "name=value" pairs of the non-zero counters, space-separated.
  std::string ToString() const;
};

class UdpSocket {
 public:
  // Opens, configures and binds a socket to `local` (port 0 picks a free
  // port). Errors: InvalidArgument for a bad address or options, else the
  // errno of the failing call.
  static absl::StatusOr<std::unique_ptr<UdpSocket>> Bind(
      const Address& local, const UdpOptions& options = {});

  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;
  ~UdpSocket();  // closes the socket; queued datagrams are discarded

  // For epoll. The socket keeps ownership.
  int fd() const { return fd_; }
  // The bound address (with the port the kernel picked for port 0).
  const Address& local_address() const { return local_address_; }
  int family() const { return family_; }
  // Effective kernel buffer sizes (as getsockopt reports them: the kernel
  // doubles the requested value for its bookkeeping).
  int receive_buffer_bytes() const { return receive_buffer_bytes_; }
  int send_buffer_bytes() const { return send_buffer_bytes_; }
  const UdpOptions& options() const { return options_; }

  // Receives up to min(max, batch_datagrams) datagrams in one recvmmsg call
  // (a few more calls if every datagram of a call was dropped or a pending
  // error was read). Clears `out`, fills it and returns out->size(); 0 means
  // nothing is ready now, an error (counted), or a flood of dropped
  // datagrams longer than a few calls (level-triggered epoll reports the
  // socket readable again). Invalidates the spans of the previous call.
  size_t ReceiveBatch(std::vector<ReceivedDatagram>* out, size_t max);

  // Sends `batch` in order, after any queued datagrams. Returns how many of
  // `batch` were accepted: sent now or copied into the send queue. The rest
  // were dropped, each counted by cause (too big, invalid destination,
  // queue full, errno).
  size_t SendBatch(std::span<const OutgoingDatagram> batch);
  // Sends queued datagrams until the queue is empty or the kernel's buffer
  // is full. Returns how many left the queue.
  size_t FlushSendQueue();
  size_t queued_datagrams() const { return send_queue_size_; }

  // Reads the socket's error queue (ICMP errors) until empty, counting each
  // entry. Returns the number of entries read.
  size_t DrainErrorQueue();
  // Moves the destinations of ICMP unreachable errors seen since the last
  // call into `out` (cleared first), oldest first, one entry per ICMP message
  // (a peer may appear more than once); returns out->size(). The list keeps
  // at most unreachable_peers_max entries; further ones are counted in
  // unreachable_peers_drops.
  size_t TakeUnreachablePeers(std::vector<Address>* out);

  const TransportCounters& counters() const { return counters_; }

 private:
  struct QueuedDatagram {
    Address to;
    std::vector<uint8_t> bytes;  // capacity kept across reuse
  };
  enum class ErrorAction { kRetry, kDrop, kStop };
  enum class EntryKind { kNone, kIcmp, kOther };
  struct DrainResult {
    size_t entries = 0;
    size_t icmp_entries = 0;
  };

  UdpSocket(int fd, int family, const UdpOptions& options);
  absl::Status Configure(const Address& local);
  void AllocateBuffers();

  // Receive path.
  int ReceiveIntoSlots(size_t count);
  void DeliverSlots(size_t count, std::vector<ReceivedDatagram>* out);
  ErrorAction OnReceiveError(int error);

  // Send path.
  bool CanSendTo(const Address& to) const;
  size_t SendToKernel(std::span<const OutgoingDatagram> items, size_t* dropped);
  size_t PrepareSend(std::span<const OutgoingDatagram> items);
  void CountSent(size_t count);
  ErrorAction OnSendError(int error, int* retries_left);
  size_t Enqueue(std::span<const OutgoingDatagram> items);

  // ICMP errors.
  DrainResult DrainErrors();
  EntryKind ReadOneErrorQueueEntry();
  void CountIcmpError(int error, const Address* destination);

  const int fd_;
  const int family_;
  const UdpOptions options_;
  SocketCalls* const calls_;
  bool accepts_ipv4_destinations_ = false;
  Address local_address_;
  int receive_buffer_bytes_ = 0;
  int send_buffer_bytes_ = 0;

  // Receive slots: slot i is slot_bytes_[i * max_datagram_bytes, ...).
  std::unique_ptr<uint8_t[]> slot_bytes_;
  std::vector<mmsghdr> receive_headers_;
  std::vector<iovec> receive_iovecs_;
  std::vector<sockaddr_storage> receive_names_;

  // Send staging for one sendmmsg call.
  std::vector<mmsghdr> send_headers_;
  std::vector<iovec> send_iovecs_;
  std::vector<sockaddr_storage> send_names_;

  // Send queue: a ring of options_.send_queue_datagrams entries.
  std::vector<QueuedDatagram> send_queue_;
  size_t send_queue_head_ = 0;
  size_t send_queue_size_ = 0;
  std::vector<OutgoingDatagram> flush_staging_;

  std::vector<Address> unreachable_peers_;
  TransportCounters counters_;
};

}  // namespace elara

#endif  // ELARA_TRANSPORT_UDP_SOCKET_H_
