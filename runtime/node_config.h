// File: runtime/node_config.h
//
// NodeConfig: everything one node process needs besides its identity's
// keys: who it is (node_id), where it listens (bind_addr, advertise_addr),
// the runtime's own bounds (max_peers, event_buffer_size, batch sizes) and
// the engine's DiffusionConfig.
//
// Validate() rejects an inconsistent config with InvalidArgument whose
// message starts with the field's name ("event_buffer_size: ..."), and
// prefixes the engine's own messages (which name the engine's field, e.g.
// "membership.active_view_size") with "diffusion: ". Node::Create refuses an
// invalid config.
//
// Thread-safety: a value type.
#ifndef ELARA_RUNTIME_NODE_CONFIG_H_
#define ELARA_RUNTIME_NODE_CONFIG_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "core/address.h"
#include "core/config.h"
#include "core/ids.h"

namespace elara::runtime {

// Largest event buffer and peer table a node may be given.
inline constexpr size_t kMaxEventBufferSize = size_t{1} << 24;
inline constexpr size_t kMaxPeersLimit = 65536;

struct NodeConfig {
  // This node's id (derived from its public key, see runtime/identity.h).
  // Must be non-zero.
  NodeId node_id;
  // Local UDP address to bind (IPv4 or IPv6; port 0 picks a free port).
  Address bind_addr = *Address::Parse("127.0.0.1:0");
  // Address other nodes should use to reach this one, gossiped by
  // membership. Invalid (the default) = the bound address.
  Address advertise_addr;
  // Bound of the peers this node knows: active + passive view sizes must fit
  // in it, and it bounds the runtime's table of active peers. Range
  // [active_view_size + passive_view_size, kMaxPeersLimit].
  size_t max_peers = 64;
  // Bound of the application-facing event buffer (deliveries, peer up/down)
  // between the engine and the application. When the application does not
  // drain it, further events are dropped and counted in
  // NodeCounters::events_overflowed. Range [1, kMaxEventBufferSize].
  size_t event_buffer_size = 4096;
  // Datagrams per recvmmsg/sendmmsg call. Range [1, 1024].
  size_t batch_datagrams = 64;
  // Datagrams the socket may hold back when the kernel's send buffer is
  // full. Range [0, 1048576].
  size_t send_queue_datagrams = 1024;
  // When the kernel reports an active peer's port unreachable (ICMP), tell
  // the engine it failed (Engine::DetectNodeFailure) instead of waiting for
  // keep-alive probes to time out.
  bool detect_unreachable = true;
  // The engine's protocol settings. Its max_datagram_bytes is also the
  // socket's receive slot size: a longer datagram is counted as truncated.
  DiffusionConfig diffusion;

  // OK, or InvalidArgument naming the field and its allowed range.
  absl::Status Validate() const;
};

}  // namespace elara::runtime

#endif  // ELARA_RUNTIME_NODE_CONFIG_H_
