// File: runtime/node.h
//
// Node: one ELARA node on the real clock and a real UDP socket. It drives
// the sans-IO `Engine` (core/engine.h) with CLOCK_MONOTONIC time:
//
//   socket readable  -> ReceiveBatch -> Engine::HandleDatagram (per datagram)
//   engine deadline  -> Engine::HandleTimeout
//   after each step  -> Engine::PollTransmit -> SendBatch (batched)
//                       Engine::PollEvent    -> the application's event buffer
//   socket EPOLLERR  -> DrainErrorQueue; ICMP "port unreachable" for an
//                       active peer -> Engine::DetectNodeFailure (optional)
//
// The engine's state clock (hybrid logical clock of keyed state versions,
// core/state_sync.h) runs on wall time: Create() sets its offset to
// CLOCK_REALTIME - CLOCK_MONOTONIC once, so versions written by different
// machines compare by when they were written (to the accuracy of their
// clock synchronisation), while every timer stays monotonic.
//
// The poll timeout is the engine's NextTimeout(), so an idle node wakes only
// for its own timers. Other descriptors (stdin, a signalfd, a metrics
// listener) can share the loop through Watch().
//
// Guarantees:
//   - The socket's receive slots are exactly diffusion.max_datagram_bytes,
//     so a longer datagram is counted as receive_truncated and never reaches
//     the engine.
//   - The application-facing event buffer holds at most event_buffer_size
//     events; an event that finds it full is dropped and counted in
//     counters().events_overflowed (never silently).
//   - Leave() tells the active peers (Engine::Leave), sends what the engine
//     queued and waits, up to a bound, for the kernel to take queued
//     datagrams.
//
// Usage:
//   auto node = Node::Create(config, identity.EngineSeed());
//   (*node)->Join(*Address::Parse("127.0.0.1:7000"));
//   while (running) {
//     (*node)->RunOnce(Duration::Infinite());
//     while (auto e = (*node)->PollEvent()) ...
//   }
//   (*node)->Leave(Duration::Millis(500));
//
// Thread-safety: not thread-safe; one thread runs one node.
#ifndef ELARA_RUNTIME_NODE_H_
#define ELARA_RUNTIME_NODE_H_

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "core/engine.h"
#include "runtime/node_config.h"
#include "transport/poller.h"
#include "transport/udp_socket.h"

namespace elara::runtime {

// What the runtime itself counts (the engine and the socket count the rest).
struct NodeCounters {
  uint64_t loop_iterations = 0;
  uint64_t receive_batches = 0;       // ReceiveBatch calls that returned data
  uint64_t send_batches = 0;          // SendBatch calls
  uint64_t transmits_refused = 0;     // datagrams SendBatch did not accept
  uint64_t events_overflowed = 0;     // event buffer full: event dropped
  uint64_t error_queue_wakeups = 0;   // EPOLLERR on the socket
  uint64_t unreachable_reports = 0;   // ICMP unreachable destinations seen
  uint64_t unreachable_detected = 0;  // ... that were active peers (dropped)
  uint64_t leave_flush_unsent = 0;    // datagrams still queued after Leave
};

// Hop counts of deliveries: cumulative buckets as Prometheus wants them.
class HopsHistogram {
 public:
  static constexpr std::array<uint32_t, 12> kBounds = {0, 1, 2,  3,  4,  5,
                                                       6, 8, 10, 12, 16, 32};
  void Add(uint32_t hops);
  // Deliveries with hops <= kBounds[i].
  uint64_t CumulativeCount(size_t i) const;
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }
  uint32_t max() const { return max_; }

 private:
  std::array<uint64_t, kBounds.size()> bucket_counts_{};  // not cumulative
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  uint32_t max_ = 0;
};

class Node {
 public:
  // Called with the poll event of a watched descriptor.
  using WatchHandler = std::function<void(const elara::PollEvent&)>;

  // Binds the socket and builds the engine. InvalidArgument when
  // config.Validate() fails; the socket's error when binding fails.
  static absl::StatusOr<std::unique_ptr<Node>> Create(const NodeConfig& config,
                                                      uint64_t seed);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  // --- Commands (each sends what it queued at once) ---
  void Join(const Address& contact);
  absl::StatusOr<MessageId> Broadcast(std::span<const uint8_t> payload);
  // Engine::PropagateState / DeleteState now (errors are the engine's:
  // ResourceExhausted for a value over the bound or a full store,
  // FailedPrecondition after Leave). Reads: engine().GetState(key).
  absl::Status SetState(StateId key, std::span<const uint8_t> value);
  absl::Status DeleteState(StateId key);
  // Engine::Leave, then flushes: waits up to `flush_timeout` for the kernel
  // to take the socket's queued datagrams. The node is quiet afterwards.
  void Leave(Duration flush_timeout);

  // --- Event loop ---
  // Waits until the socket or a watched descriptor is ready, the engine's
  // next deadline passes, or `max_wait` passes (whichever is first), then
  // handles everything that is ready. Errors: the poller's (bad
  // descriptors); datagram-level problems are counted, never returned.
  absl::Status RunOnce(Duration max_wait);

  // Adds `fd` to the loop; `handler` runs inside RunOnce when it is ready.
  // A handler may call Watch / ModifyWatch / Unwatch.
  absl::Status Watch(int fd, uint32_t interest, WatchHandler handler);
  absl::Status ModifyWatch(int fd, uint32_t interest);
  absl::Status Unwatch(int fd);

  // --- Application events (bounded buffer) ---
  std::optional<EngineEvent> PollEvent();
  size_t pending_events() const { return event_buffer_.size(); }

  // --- Introspection ---
  NodeId id() const { return config_.node_id; }
  const NodeConfig& config() const { return config_; }
  // The bound address (with the kernel's port for port 0).
  const Address& local_address() const { return socket_->local_address(); }
  // What membership gossips: advertise_addr, or the bound address.
  const Address& advertised_address() const { return engine_->address(); }
  const Engine& engine() const { return *engine_; }
  const UdpSocket& socket() const { return *socket_; }
  const NodeCounters& counters() const { return counters_; }
  const HopsHistogram& hops() const { return hops_; }
  Timestamp started_at() const { return started_at_; }

 private:
  struct Watcher {
    int fd = -1;
    uint32_t generation = 0;
    WatchHandler handler;
  };

  Node(const NodeConfig& config, std::unique_ptr<UdpSocket> socket,
       std::unique_ptr<Poller> poller);
  void Dispatch(const elara::PollEvent& event);
  void OnSocketEvent(const elara::PollEvent& event);
  void ReceiveDatagrams();
  // Sends the engine's transmits and moves its events to the buffer.
  void Pump();
  void SendTransmits();
  void TakeEvents();
  void HandleUnreachablePeers();
  void UpdateSocketInterest();
  Watcher* FindWatcher(int fd);

  const NodeConfig config_;
  std::unique_ptr<UdpSocket> socket_;
  std::unique_ptr<Poller> poller_;
  std::unique_ptr<Engine> engine_;
  Timestamp started_at_;
  bool socket_writable_interest_ = false;

  std::vector<Watcher> watchers_;  // token = generation << 32 | (index + 1)
  std::vector<elara::PollEvent> poll_events_;
  std::vector<elara::PollEvent> dispatch_events_;
  std::vector<ReceivedDatagram> received_;
  std::vector<Transmit> staged_transmits_;
  std::vector<OutgoingDatagram> outgoing_;
  std::vector<Address> unreachable_;
  std::deque<EngineEvent> event_buffer_;

  NodeCounters counters_;
  HopsHistogram hops_;
};

}  // namespace elara::runtime

#endif  // ELARA_RUNTIME_NODE_H_
