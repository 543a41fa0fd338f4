// NodeConfig validation. The engine's own checks run last; their messages
// (which name the engine's field) are prefixed with "diffusion: ".
#include "runtime/node_config.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "transport/udp_socket.h"

namespace elara::runtime {
namespace {

absl::Status OutOfRange(const char* field, size_t value, size_t min,
                        size_t max) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": must be in ", min, "..", max, ", got ", value));
}

bool IsIpAddress(const Address& address) {
  return address.kind() == Address::Kind::kIpv4 ||
         address.kind() == Address::Kind::kIpv6;
}

}  // namespace

absl::Status NodeConfig::Validate() const {
  if (node_id.value() == 0) {
    return absl::InvalidArgumentError("node_id: must be non-zero");
  }
  if (!IsIpAddress(bind_addr)) {
    return absl::InvalidArgumentError(
        absl::StrCat("bind_addr: must be an IPv4 or IPv6 address, got '",
                     bind_addr.ToString(), "'"));
  }
  if (advertise_addr.valid() &&
      (!IsIpAddress(advertise_addr) || advertise_addr.port() == 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "advertise_addr: must be an IPv4 or IPv6 address with a port, got '",
        advertise_addr.ToString(), "'"));
  }
  const size_t views = diffusion.membership.active_view_size +
                       diffusion.membership.passive_view_size;
  if (max_peers < views || max_peers > kMaxPeersLimit) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_peers: must be in ", views, "..", kMaxPeersLimit,
        " (at least active_view_size + passive_view_size), got ", max_peers));
  }
  if (event_buffer_size < 1 || event_buffer_size > kMaxEventBufferSize) {
    return OutOfRange("event_buffer_size", event_buffer_size, 1,
                      kMaxEventBufferSize);
  }
  if (batch_datagrams < 1 || batch_datagrams > kMaxBatchDatagrams) {
    return OutOfRange("batch_datagrams", batch_datagrams, 1,
                      kMaxBatchDatagrams);
  }
  if (send_queue_datagrams > kMaxSendQueueDatagrams) {
    return OutOfRange("send_queue_datagrams", send_queue_datagrams, 0,
                      kMaxSendQueueDatagrams);
  }
  absl::Status status = diffusion.Validate();
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("diffusion: ", status.message()));
  }
  return absl::OkStatus();
}

}  // namespace elara::runtime
