// File: runtime/metrics.h
//
// What a node reports about itself, in two forms from the same counters:
//   - RenderPrometheus: the Prometheus text exposition format (version
//     0.0.4), served by runtime/metrics_server.h on --metrics;
//   - ForEachStat: flat (name, value) pairs ("engine.bad_datagrams",
//     "transport.receive_truncated", "node.events_overflowed", ...) for the
//     node's JSON "stats" line.
//
// Prometheus families (all prefixed elara_; counters end in _total):
//   node_info{id,addr}, uptime_seconds, peers{view=active|passive},
//   eager_peers, state_bytes (the engine's protocol state, all of it),
//   event_buffer_events, event_buffer_capacity,
//   datagrams_total{direction=in|out}, bytes_total{direction=in|out}
//     (what crossed the socket),
//   drops_total{cause=...} (every datagram, frame, state entry or event
//     dropped, by cause), bad_datagrams_total{error=...} (by wire error),
//   deliveries_total, delivery_hops (histogram: _bucket{le}, _sum, _count),
//   engine_<counter>_total (every EngineCounters field but the state ones),
//   state_keys (live keys), state_<counter>_total (every state_* field of
//     EngineCounters, named as the field: state_writes_total, ...),
//   transport_<counter>_total (every TransportCounters field; errno-keyed
//     ones as transport_send_errors_total{errno="ENOBUFS"}, ...),
//   runtime_<counter>_total (every NodeCounters field).
//
// Thread-safety: pure functions over a Node the caller owns.
#ifndef ELARA_RUNTIME_METRICS_H_
#define ELARA_RUNTIME_METRICS_H_

#include <cstdint>
#include <string>
#include <string_view>

#include "absl/functional/function_ref.h"
#include "core/engine.h"
#include "core/time.h"
#include "runtime/node.h"

namespace elara::runtime {

using StatVisitor =
    absl::FunctionRef<void(std::string_view name, uint64_t value)>;

// Every EngineCounters field (bad_datagrams_by_error as
// "bad_datagrams_by_error.<error name>"), in declaration order.
void ForEachEngineCounter(const EngineCounters& counters, StatVisitor visit);
// Every NodeCounters field, in declaration order.
void ForEachNodeCounter(const NodeCounters& counters, StatVisitor visit);
// Everything, flat and prefixed: "engine.", "transport.", "node.", plus
// "peers.active", "peers.passive", "deliveries.hops_sum",
// "deliveries.hops_max", "state_bytes", "state.keys", "state.digest"
// (Engine::StateDigest: equal on two nodes that hold the same state),
// "event_buffer.pending".
void ForEachStat(const Node& node, StatVisitor visit);

// The Prometheus text of `node` at monotonic time `now`.
std::string RenderPrometheus(const Node& node, Timestamp now);

}  // namespace elara::runtime

#endif  // ELARA_RUNTIME_METRICS_H_
