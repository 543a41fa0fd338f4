// File: transport/udp_socket.cc
//
// Why it is built this way:
//   - One recvmmsg / sendmmsg per batch amortises the system call, which
//     dominates the cost of small datagrams.
//   - Receive slots, iovecs and sockaddrs are allocated once in the
//     constructor; the hot paths only reset two fields per slot.
//   - Errors are classified by what they mean for the datagram in hand:
//     retry it (EINTR, or a pending ICMP error that belongs to an earlier
//     datagram), drop it (EMSGSIZE, invalid destination, other errno), or
//     stop and queue the rest (EAGAIN). Each outcome has a counter.
#include "transport/udp_socket.h"

#include <errno.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "transport/socket_address.h"

namespace elara {
namespace {

// Receive calls per ReceiveBatch when whole batches are dropped (truncated)
// or a pending error is read; bounds the work one call can be made to do.
constexpr int kMaxReceiveRounds = 8;
// Repeats of one datagram's send after a pending ICMP error surfaced on it.
constexpr int kPendingErrorRetries = 2;
// Entries read per DrainErrorQueue call (the kernel bounds the queue by
// SO_RCVBUF; this bounds our loop even if entries arrive as fast as we read).
constexpr size_t kMaxErrorQueueEntriesPerDrain = 1024;

std::string ErrnoName(int error) {
  const char* name = strerrorname_np(error);
  return name != nullptr ? std::string(name) : absl::StrCat("errno_", error);
}

bool IsWouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

// Errors the kernel turns ICMP messages into (net/ipv4/icmp.c
// icmp_err_convert, net/ipv6/icmp.c icmpv6_err_convert).
bool IsIcmpReportedError(int error) {
  switch (error) {
    case ECONNREFUSED:
    case EHOSTUNREACH:
    case ENETUNREACH:
    case EHOSTDOWN:
    case ENONET:
    case ENOPROTOOPT:
    case EPROTO:
    case EACCES:
    case EOPNOTSUPP:
      return true;
    default:
      return false;
  }
}

absl::Status SetIntOption(int fd, int level, int option, int value,
                          absl::string_view what) {
  if (setsockopt(fd, level, option, &value, sizeof(value)) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("setsockopt ", what));
  }
  return absl::OkStatus();
}

int GetIntOption(int fd, int level, int option) {
  int value = 0;
  socklen_t length = sizeof(value);
  if (getsockopt(fd, level, option, &value, &length) != 0) return -1;
  return value;
}

// SO_*BUFFORCE ignores net.core.[rw]mem_max but needs CAP_NET_ADMIN; the
// plain option is capped by the sysctl. The result is read back by Bind.
absl::Status SetBufferBytes(int fd, int force_option, int option, int bytes,
                            absl::string_view what) {
  if (bytes <= 0) return absl::OkStatus();
  if (setsockopt(fd, SOL_SOCKET, force_option, &bytes, sizeof(bytes)) == 0) {
    return absl::OkStatus();
  }
  return SetIntOption(fd, SOL_SOCKET, option, bytes, what);
}

bool IsWildcard(const Address& address) {
  const auto& ip = address.ip();
  return std::all_of(ip.begin(), ip.end(), [](uint8_t b) { return b == 0; });
}

absl::Status ValidateOptions(const UdpOptions& options) {
  if (options.max_datagram_bytes < 1 ||
      options.max_datagram_bytes > kMaxUdpSlotBytes) {
    return absl::InvalidArgumentError("max_datagram_bytes out of range");
  }
  if (options.batch_datagrams < 1 ||
      options.batch_datagrams > kMaxBatchDatagrams) {
    return absl::InvalidArgumentError("batch_datagrams out of range");
  }
  if (options.send_queue_datagrams > kMaxSendQueueDatagrams) {
    return absl::InvalidArgumentError("send_queue_datagrams too large");
  }
  if (options.receive_buffer_bytes < 0 || options.send_buffer_bytes < 0) {
    return absl::InvalidArgumentError("negative buffer size");
  }
  return absl::OkStatus();
}

}  // namespace

// ---------------------------------------------------------------------------
// TransportCounters

void TransportCounters::ForEach(
    absl::FunctionRef<void(std::string_view, uint64_t)> visit) const {
  visit("datagrams_received", datagrams_received);
  visit("bytes_received", bytes_received);
  visit("datagrams_sent", datagrams_sent);
  visit("bytes_sent", bytes_sent);
  visit("receive_calls", receive_calls);
  visit("send_calls", send_calls);
  visit("receive_truncated", receive_truncated);
  visit("receive_source_invalid", receive_source_invalid);
  visit("send_would_block", send_would_block);
  visit("send_queued", send_queued);
  visit("send_queue_drops", send_queue_drops);
  visit("send_too_big", send_too_big);
  visit("send_destination_invalid", send_destination_invalid);
  visit("connection_refused", connection_refused);
  visit("unreachable_peers_drops", unreachable_peers_drops);
  visit("error_queue_local", error_queue_local);
  visit("error_queue_other", error_queue_other);
  for (const auto& [name, value] : send_errors) {
    visit(absl::StrCat("send_errors.", name), value);
  }
  for (const auto& [name, value] : receive_errors) {
    visit(absl::StrCat("receive_errors.", name), value);
  }
  for (const auto& [name, value] : icmp_errors) {
    visit(absl::StrCat("icmp_errors.", name), value);
  }
}

std::string TransportCounters::ToString() const {
  std::string text;
  ForEach([&text](std::string_view name, uint64_t value) {
    if (value == 0) return;
    absl::StrAppend(&text, text.empty() ? "" : " ",
                    absl::string_view(name.data(), name.size()), "=", value);
  });
  return text;
}

// ---------------------------------------------------------------------------
// Construction

absl::StatusOr<std::unique_ptr<UdpSocket>> UdpSocket::Bind(
    const Address& local, const UdpOptions& options) {
  if (absl::Status status = ValidateOptions(options); !status.ok()) {
    return status;
  }
  const int family = NativeFamily(local);
  if (family == AF_UNSPEC) {
    return absl::InvalidArgumentError(
        absl::StrCat("not an IP address: ", local.ToString()));
  }
  const int fd =
      socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  // From here the destructor closes fd on every path.
  std::unique_ptr<UdpSocket> udp(new UdpSocket(fd, family, options));
  if (absl::Status status = udp->Configure(local); !status.ok()) {
    return status;
  }
  udp->AllocateBuffers();
  return udp;
}

UdpSocket::UdpSocket(int fd, int family, const UdpOptions& options)
    : fd_(fd),
      family_(family),
      options_(options),
      calls_(options.socket_calls != nullptr ? options.socket_calls
                                             : SocketCalls::Kernel()) {}

UdpSocket::~UdpSocket() { close(fd_); }

absl::Status UdpSocket::Configure(const Address& local) {
  absl::Status status;
  accepts_ipv4_destinations_ = family_ == AF_INET;
  if (family_ == AF_INET6) {
    status.Update(SetIntOption(fd_, IPPROTO_IPV6, IPV6_V6ONLY,
                               options_.ipv6_only ? 1 : 0, "IPV6_V6ONLY"));
    status.Update(
        SetIntOption(fd_, IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR"));
    // A socket bound to one IPv6 address cannot reach IPv4 peers.
    accepts_ipv4_destinations_ = !options_.ipv6_only && IsWildcard(local);
  }
  // Without IP_RECVERR Linux reports no ICMP error on an unconnected UDP
  // socket. On a dual-stack socket it governs the IPv4 peers.
  if (family_ == AF_INET || accepts_ipv4_destinations_) {
    status.Update(SetIntOption(fd_, IPPROTO_IP, IP_RECVERR, 1, "IP_RECVERR"));
  }
  status.Update(SetBufferBytes(fd_, SO_RCVBUFFORCE, SO_RCVBUF,
                               options_.receive_buffer_bytes, "SO_RCVBUF"));
  status.Update(SetBufferBytes(fd_, SO_SNDBUFFORCE, SO_SNDBUF,
                               options_.send_buffer_bytes, "SO_SNDBUF"));
  if (!status.ok()) return status;

  sockaddr_storage storage;
  const socklen_t length = ToSockaddr(local, family_, &storage);
  if (bind(fd_, reinterpret_cast<const sockaddr*>(&storage), length) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", local.ToString()));
  }
  socklen_t bound_length = sizeof(storage);
  if (getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &bound_length) !=
      0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  std::optional<Address> bound =
      FromSockaddr(reinterpret_cast<const sockaddr*>(&storage), bound_length);
  if (!bound) return absl::InternalError("getsockname: unknown family");
  local_address_ = *bound;
  receive_buffer_bytes_ = GetIntOption(fd_, SOL_SOCKET, SO_RCVBUF);
  send_buffer_bytes_ = GetIntOption(fd_, SOL_SOCKET, SO_SNDBUF);
  return absl::OkStatus();
}

void UdpSocket::AllocateBuffers() {
  const size_t batch = options_.batch_datagrams;
  const size_t slot = options_.max_datagram_bytes;
  slot_bytes_ = std::make_unique_for_overwrite<uint8_t[]>(batch * slot);
  receive_headers_.resize(batch);
  receive_iovecs_.resize(batch);
  receive_names_.resize(batch);
  send_headers_.resize(batch);
  send_iovecs_.resize(batch);
  send_names_.resize(batch);
  for (size_t i = 0; i < batch; ++i) {
    receive_iovecs_[i] = iovec{slot_bytes_.get() + i * slot, slot};
    msghdr& in = receive_headers_[i].msg_hdr;
    in.msg_name = &receive_names_[i];
    in.msg_iov = &receive_iovecs_[i];
    in.msg_iovlen = 1;
    msghdr& out = send_headers_[i].msg_hdr;
    out.msg_name = &send_names_[i];
    out.msg_iov = &send_iovecs_[i];
    out.msg_iovlen = 1;
  }
  send_queue_.resize(options_.send_queue_datagrams);
  flush_staging_.reserve(batch);
}

// ---------------------------------------------------------------------------
// Receive path

size_t UdpSocket::ReceiveBatch(std::vector<ReceivedDatagram>* out, size_t max) {
  out->clear();
  const size_t count = std::min(max, options_.batch_datagrams);
  if (count == 0) return 0;
  out->reserve(count);
  // More than one round only when a whole round was dropped or an error was
  // read, so that 0 keeps meaning "nothing ready now".
  for (int round = 0; round < kMaxReceiveRounds && out->empty(); ++round) {
    const int got = ReceiveIntoSlots(count);
    if (got == 0) break;
    if (got > 0) DeliverSlots(static_cast<size_t>(got), out);
  }
  return out->size();
}

// Returns the number of slots filled, 0 when nothing more can be read now,
// -1 when the call should be repeated.
int UdpSocket::ReceiveIntoSlots(size_t count) {
  for (size_t i = 0; i < count; ++i) {
    msghdr& header = receive_headers_[i].msg_hdr;
    header.msg_namelen = sizeof(sockaddr_storage);
    header.msg_flags = 0;
  }
  ++counters_.receive_calls;
  const int got = calls_->RecvMmsg(fd_, receive_headers_.data(),
                                   static_cast<unsigned int>(count));
  if (got >= 0) return got;
  return OnReceiveError(errno) == ErrorAction::kRetry ? -1 : 0;
}

void UdpSocket::DeliverSlots(size_t count, std::vector<ReceivedDatagram>* out) {
  for (size_t i = 0; i < count; ++i) {
    const mmsghdr& slot = receive_headers_[i];
    if (slot.msg_hdr.msg_flags & MSG_TRUNC) {
      ++counters_.receive_truncated;
      continue;
    }
    std::optional<Address> from =
        FromSockaddr(static_cast<const sockaddr*>(slot.msg_hdr.msg_name),
                     slot.msg_hdr.msg_namelen);
    if (!from) {
      ++counters_.receive_source_invalid;
      continue;
    }
    const auto* bytes =
        static_cast<const uint8_t*>(slot.msg_hdr.msg_iov->iov_base);
    out->push_back(ReceivedDatagram{*from, {bytes, slot.msg_len}});
    ++counters_.datagrams_received;
    counters_.bytes_received += slot.msg_len;
  }
}

UdpSocket::ErrorAction UdpSocket::OnReceiveError(int error) {
  if (error == EINTR) return ErrorAction::kRetry;
  if (IsWouldBlock(error)) return ErrorAction::kStop;
  // A pending error from an ICMP message: count it from the error queue.
  if (DrainErrorQueue() > 0) return ErrorAction::kRetry;
  if (IsIcmpReportedError(error)) {
    // The kernel could not keep the queue entry; count the error itself.
    CountIcmpError(error, nullptr);
    return ErrorAction::kRetry;
  }
  ++counters_.receive_errors[ErrnoName(error)];
  return ErrorAction::kStop;
}

// ---------------------------------------------------------------------------
// Send path

size_t UdpSocket::SendBatch(std::span<const OutgoingDatagram> batch) {
  if (send_queue_size_ > 0) FlushSendQueue();
  // Still queued: send nothing ahead of the queue, so order is kept.
  if (send_queue_size_ > 0) return Enqueue(batch);
  size_t dropped = 0;
  const size_t consumed = SendToKernel(batch, &dropped);
  return consumed - dropped + Enqueue(batch.subspan(consumed));
}

size_t UdpSocket::FlushSendQueue() {
  const size_t capacity = send_queue_.size();
  size_t left_queue = 0;
  while (send_queue_size_ > 0) {
    const size_t staged = std::min(send_queue_size_, options_.batch_datagrams);
    flush_staging_.clear();
    for (size_t k = 0; k < staged; ++k) {
      const QueuedDatagram& queued =
          send_queue_[(send_queue_head_ + k) % capacity];
      flush_staging_.push_back(OutgoingDatagram{queued.to, queued.bytes});
    }
    size_t dropped = 0;
    const size_t consumed = SendToKernel(flush_staging_, &dropped);
    send_queue_head_ = (send_queue_head_ + consumed) % capacity;
    send_queue_size_ -= consumed;
    left_queue += consumed;
    if (consumed < staged) break;  // kernel buffer full again
  }
  return left_queue;
}

bool UdpSocket::CanSendTo(const Address& to) const {
  switch (to.kind()) {
    case Address::Kind::kIpv4:
      return accepts_ipv4_destinations_;
    case Address::Kind::kIpv6:
      return family_ == AF_INET6;
    default:
      return false;
  }
}

size_t UdpSocket::Enqueue(std::span<const OutgoingDatagram> items) {
  const size_t capacity = send_queue_.size();
  size_t queued = 0;
  for (const OutgoingDatagram& item : items) {
    if (!CanSendTo(item.to)) {
      ++counters_.send_destination_invalid;
      continue;
    }
    if (send_queue_size_ == capacity) {
      ++counters_.send_queue_drops;
      continue;
    }
    QueuedDatagram& slot =
        send_queue_[(send_queue_head_ + send_queue_size_) % capacity];
    slot.to = item.to;
    slot.bytes.assign(item.bytes.begin(), item.bytes.end());
    ++send_queue_size_;
    ++counters_.send_queued;
    ++queued;
  }
  return queued;
}

// Hands `items` to the kernel in order. Returns how many were consumed (sent
// or dropped; the dropped ones also counted in *dropped). Stops early only
// when the kernel's send buffer is full.
size_t UdpSocket::SendToKernel(std::span<const OutgoingDatagram> items,
                               size_t* dropped) {
  size_t done = 0;
  int retries_left = kPendingErrorRetries;
  while (done < items.size()) {
    const size_t prepared = PrepareSend(items.subspan(done));
    if (prepared == 0) {
      ++counters_.send_destination_invalid;
      ++*dropped;
      ++done;
      continue;
    }
    ++counters_.send_calls;
    const int sent = calls_->SendMmsg(fd_, send_headers_.data(),
                                      static_cast<unsigned int>(prepared));
    const int error = errno;
    if (sent > 0) {
      CountSent(static_cast<size_t>(sent));
      done += static_cast<size_t>(sent);
      retries_left = kPendingErrorRetries;
      continue;
    }
    if (sent == 0) {
      // sendmmsg never does this for a non-empty batch; stop rather than spin.
      ++counters_.send_errors["NO_PROGRESS"];
      return done;
    }
    switch (OnSendError(error, &retries_left)) {
      case ErrorAction::kRetry:
        break;
      case ErrorAction::kDrop:
        ++*dropped;
        ++done;
        break;
      case ErrorAction::kStop:
        return done;
    }
  }
  return done;
}

// Fills the send headers with the longest valid prefix of `items` (at most
// one batch). Returns its length; 0 if items[0] cannot be sent here.
size_t UdpSocket::PrepareSend(std::span<const OutgoingDatagram> items) {
  const size_t limit = std::min(items.size(), options_.batch_datagrams);
  size_t k = 0;
  for (; k < limit; ++k) {
    const OutgoingDatagram& item = items[k];
    if (!CanSendTo(item.to)) break;
    msghdr& header = send_headers_[k].msg_hdr;
    header.msg_namelen = ToSockaddr(item.to, family_, &send_names_[k]);
    send_iovecs_[k].iov_base = const_cast<uint8_t*>(item.bytes.data());
    send_iovecs_[k].iov_len = item.bytes.size();
  }
  return k;
}

void UdpSocket::CountSent(size_t count) {
  counters_.datagrams_sent += count;
  for (size_t i = 0; i < count; ++i) {
    counters_.bytes_sent += send_headers_[i].msg_len;
  }
}

UdpSocket::ErrorAction UdpSocket::OnSendError(int error, int* retries_left) {
  if (error == EINTR) return ErrorAction::kRetry;
  if (IsWouldBlock(error)) {
    ++counters_.send_would_block;
    return ErrorAction::kStop;
  }
  // The error may be a pending one, left by an ICMP message about an earlier
  // datagram; then this datagram was not at fault and is sent again.
  // ECONNREFUSED is never a direct error of an unconnected UDP send.
  const size_t icmp_entries = DrainErrors().icmp_entries;
  const bool pending = icmp_entries > 0 || error == ECONNREFUSED;
  if (pending && *retries_left > 0) {
    --*retries_left;
    if (icmp_entries == 0) CountIcmpError(error, nullptr);
    return ErrorAction::kRetry;
  }
  if (error == EMSGSIZE) {
    ++counters_.send_too_big;
  } else {
    ++counters_.send_errors[ErrnoName(error)];
  }
  return ErrorAction::kDrop;
}

// ---------------------------------------------------------------------------
// ICMP errors

size_t UdpSocket::DrainErrorQueue() { return DrainErrors().entries; }

UdpSocket::DrainResult UdpSocket::DrainErrors() {
  DrainResult result;
  while (result.entries < kMaxErrorQueueEntriesPerDrain) {
    const EntryKind kind = ReadOneErrorQueueEntry();
    if (kind == EntryKind::kNone) break;
    ++result.entries;
    if (kind == EntryKind::kIcmp) ++result.icmp_entries;
  }
  // No SO_ERROR read is needed afterwards: taking an ICMP entry re-arms the
  // socket error with the next entry's errno, and taking the last one
  // clears it (net/core/skbuff.c sock_dequeue_err_skb), so no ICMP message
  // is reported twice. DrainErrorQueueCountsOnceAndClearsThePendingError
  // checks this.
  return result;
}

UdpSocket::EntryKind UdpSocket::ReadOneErrorQueueEntry() {
  sockaddr_storage name;
  uint8_t payload[64];  // the offending datagram; not needed, may truncate
  alignas(cmsghdr) uint8_t control[256];
  iovec iov{payload, sizeof(payload)};
  msghdr message{};
  message.msg_name = &name;
  message.msg_namelen = sizeof(name);
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof(control);
  if (calls_->RecvErrorQueue(fd_, &message) < 0) {
    const int error = errno;
    if (!IsWouldBlock(error)) {
      ++counters_.receive_errors[absl::StrCat("errqueue.", ErrnoName(error))];
    }
    return EntryKind::kNone;
  }
  for (cmsghdr* c = CMSG_FIRSTHDR(&message); c != nullptr;
       c = CMSG_NXTHDR(&message, c)) {
    const bool is_error =
        (c->cmsg_level == SOL_IP && c->cmsg_type == IP_RECVERR) ||
        (c->cmsg_level == SOL_IPV6 && c->cmsg_type == IPV6_RECVERR);
    if (!is_error) continue;
    sock_extended_err extended;
    std::memcpy(&extended, CMSG_DATA(c), sizeof(extended));
    if (extended.ee_origin == SO_EE_ORIGIN_ICMP ||
        extended.ee_origin == SO_EE_ORIGIN_ICMP6) {
      std::optional<Address> destination = FromSockaddr(
          reinterpret_cast<const sockaddr*>(&name), message.msg_namelen);
      CountIcmpError(static_cast<int>(extended.ee_errno),
                     destination ? &*destination : nullptr);
      return EntryKind::kIcmp;
    }
    if (extended.ee_origin == SO_EE_ORIGIN_LOCAL) {
      // E.g. EMSGSIZE: already counted from the failing send's errno.
      ++counters_.error_queue_local;
      return EntryKind::kOther;
    }
  }
  ++counters_.error_queue_other;
  return EntryKind::kOther;
}

void UdpSocket::CountIcmpError(int error, const Address* destination) {
  if (error == ECONNREFUSED) {
    ++counters_.connection_refused;
  } else {
    ++counters_.icmp_errors[ErrnoName(error)];
  }
  // "Fragmentation needed" is about path MTU, not reachability.
  if (destination == nullptr || error == EMSGSIZE) return;
  if (unreachable_peers_.size() >= options_.unreachable_peers_max) {
    ++counters_.unreachable_peers_drops;
    return;
  }
  unreachable_peers_.push_back(*destination);
}

size_t UdpSocket::TakeUnreachablePeers(std::vector<Address>* out) {
  out->clear();
  std::swap(*out, unreachable_peers_);
  return out->size();
}

}  // namespace elara
