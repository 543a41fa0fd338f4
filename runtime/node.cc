// The node's loop. Received datagrams are handed to the engine one batch at
// a time and the engine's output is pumped after every batch, so a
// forwarded message leaves within the same wake-up it arrived in. Reading
// is bounded per wake-up (kMaxBatchesPerWake) so timers and other
// descriptors are not starved by a flood; epoll is level-triggered, so what
// is left is reported again at once.
#include "runtime/node.h"

#include <poll.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/log.h"
#include "transport/clock.h"

namespace elara::runtime {
namespace {

constexpr uint64_t kSocketToken = 0;
constexpr size_t kMaxBatchesPerWake = 16;

bool IsWildcard(const Address& address) {
  const auto& ip = address.ip();
  return std::all_of(ip.begin(), ip.end(), [](uint8_t b) { return b == 0; });
}

}  // namespace

void HopsHistogram::Add(uint32_t hops) {
  size_t i = 0;
  while (i < kBounds.size() && hops > kBounds[i]) ++i;
  if (i < kBounds.size()) ++bucket_counts_[i];
  ++count_;
  sum_ += hops;
  max_ = std::max(max_, hops);
}

uint64_t HopsHistogram::CumulativeCount(size_t i) const {
  uint64_t total = 0;
  for (size_t j = 0; j <= i && j < bucket_counts_.size(); ++j) {
    total += bucket_counts_[j];
  }
  return total;
}

absl::StatusOr<std::unique_ptr<Node>> Node::Create(const NodeConfig& config,
                                                   uint64_t seed) {
  absl::Status status = config.Validate();
  if (!status.ok()) return status;
  UdpOptions options;
  options.max_datagram_bytes = config.diffusion.max_datagram_bytes;
  options.batch_datagrams = config.batch_datagrams;
  options.send_queue_datagrams = config.send_queue_datagrams;
  absl::StatusOr<std::unique_ptr<UdpSocket>> socket =
      UdpSocket::Bind(config.bind_addr, options);
  if (!socket.ok()) {
    return absl::Status(socket.status().code(),
                        absl::StrCat("bind ", config.bind_addr.ToString(), ": ",
                                     socket.status().message()));
  }
  absl::StatusOr<std::unique_ptr<Poller>> poller = Poller::Create();
  if (!poller.ok()) return poller.status();
  status = (*poller)->Add((*socket)->fd(), kPollReadable, kSocketToken);
  if (!status.ok()) return status;

  const Address advertised = config.advertise_addr.valid()
                                 ? config.advertise_addr
                                 : (*socket)->local_address();
  if (!config.advertise_addr.valid() && IsWildcard(advertised)) {
    Log(LogLevel::kWarn, "bound to the wildcard address ",
        advertised.ToString(),
        "; peers will be told that address: set an advertised address");
  }
  absl::StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Create(config.diffusion, config.node_id, advertised, seed);
  if (!engine.ok()) return engine.status();
  (*engine)->SetStateClockOffset(WallClockOffset());

  std::unique_ptr<Node> node(
      new Node(config, std::move(*socket), std::move(*poller)));
  node->engine_ = std::move(*engine);
  return node;
}

Node::Node(const NodeConfig& config, std::unique_ptr<UdpSocket> socket,
           std::unique_ptr<Poller> poller)
    : config_(config),
      socket_(std::move(socket)),
      poller_(std::move(poller)),
      started_at_(MonotonicNow()) {}

Node::~Node() = default;

// --- Commands ---------------------------------------------------------------

void Node::Join(const Address& contact) {
  engine_->Join(MonotonicNow(), contact);
  Pump();
}

absl::StatusOr<MessageId> Node::Broadcast(std::span<const uint8_t> payload) {
  absl::StatusOr<MessageId> id = engine_->Broadcast(MonotonicNow(), payload);
  Pump();
  return id;
}

absl::Status Node::SetState(StateId key, std::span<const uint8_t> value) {
  absl::Status status = engine_->PropagateState(MonotonicNow(), key, value);
  Pump();
  return status;
}

absl::Status Node::DeleteState(StateId key) {
  absl::Status status = engine_->DeleteState(MonotonicNow(), key);
  Pump();
  return status;
}

void Node::Leave(Duration flush_timeout) {
  Timestamp now = MonotonicNow();
  engine_->Leave(now);
  Pump();
  const Timestamp deadline = now + flush_timeout;
  while (socket_->queued_datagrams() > 0 && now < deadline) {
    pollfd p{socket_->fd(), POLLOUT, 0};
    const int64_t wait_ms = std::max<int64_t>((deadline - now).ToMillis(), 1);
    poll(&p, 1, static_cast<int>(std::min<int64_t>(wait_ms, 1000)));
    socket_->FlushSendQueue();
    now = MonotonicNow();
  }
  counters_.leave_flush_unsent += socket_->queued_datagrams();
}

// --- Loop -------------------------------------------------------------------

absl::Status Node::RunOnce(Duration max_wait) {
  ++counters_.loop_iterations;
  Timestamp now = MonotonicNow();
  Duration wait = max_wait;
  const Timestamp deadline = engine_->NextTimeout();
  if (!deadline.IsInfinite()) {
    wait = std::min(wait, std::max(deadline - now, Duration::Zero()));
  }
  absl::StatusOr<PollResult> result = poller_->Wait(wait, &poll_events_);
  if (!result.ok()) return result.status();
  // Handlers may Watch/Unwatch (and so touch the poller): iterate over a
  // copy of this wake-up's events (capacity reused, no allocation).
  dispatch_events_.assign(poll_events_.begin(), poll_events_.end());
  for (const elara::PollEvent& event : dispatch_events_) Dispatch(event);
  now = MonotonicNow();
  if (engine_->NextTimeout() <= now) engine_->HandleTimeout(now);
  Pump();
  return absl::OkStatus();
}

void Node::Dispatch(const elara::PollEvent& event) {
  if (event.token == kSocketToken) {
    OnSocketEvent(event);
    return;
  }
  const size_t index = static_cast<size_t>(event.token & 0xffffffffu) - 1;
  const uint32_t generation = static_cast<uint32_t>(event.token >> 32);
  if (index >= watchers_.size()) return;
  Watcher& watcher = watchers_[index];
  // A watcher removed (or replaced) earlier in this wake-up.
  if (watcher.fd < 0 || watcher.generation != generation) return;
  // Copy: the handler may Unwatch itself, which resets watcher.handler.
  const WatchHandler handler = watcher.handler;
  handler(event);
}

void Node::OnSocketEvent(const elara::PollEvent& event) {
  if (event.error) {
    ++counters_.error_queue_wakeups;
    socket_->DrainErrorQueue();
  }
  if (event.readable) ReceiveDatagrams();
  if (event.writable) socket_->FlushSendQueue();
  HandleUnreachablePeers();
}

void Node::ReceiveDatagrams() {
  for (size_t batch = 0; batch < kMaxBatchesPerWake; ++batch) {
    if (socket_->ReceiveBatch(&received_, config_.batch_datagrams) == 0) {
      return;
    }
    ++counters_.receive_batches;
    const Timestamp now = MonotonicNow();
    for (const ReceivedDatagram& datagram : received_) {
      engine_->HandleDatagram(now, datagram.from, datagram.bytes);
    }
    Pump();
  }
}

void Node::Pump() {
  SendTransmits();
  TakeEvents();
  HandleUnreachablePeers();
  UpdateSocketInterest();
}

void Node::SendTransmits() {
  for (;;) {
    staged_transmits_.clear();
    while (staged_transmits_.size() < config_.batch_datagrams) {
      std::optional<Transmit> transmit = engine_->PollTransmit();
      if (!transmit) break;
      staged_transmits_.push_back(std::move(*transmit));
    }
    if (staged_transmits_.empty()) return;
    outgoing_.clear();
    for (const Transmit& t : staged_transmits_) {
      outgoing_.push_back(OutgoingDatagram{t.to, t.bytes});
    }
    const size_t accepted = socket_->SendBatch(outgoing_);
    ++counters_.send_batches;
    counters_.transmits_refused += outgoing_.size() - accepted;
  }
}

void Node::TakeEvents() {
  while (std::optional<EngineEvent> event = engine_->PollEvent()) {
    if (const auto* delivered = std::get_if<DeliveredEvent>(&*event)) {
      hops_.Add(delivered->hops);
    } else if (const auto* up = std::get_if<PeerUpEvent>(&*event)) {
      Log(LogLevel::kInfo, "peer up ", ToString(up->peer.id), " ",
          up->peer.address.ToString());
    } else if (const auto* down = std::get_if<PeerDownEvent>(&*event)) {
      Log(LogLevel::kInfo, "peer down ", ToString(down->peer.id), " ",
          down->peer.address.ToString(), " (", PeerDownCauseName(down->cause),
          ")");
    }
    if (event_buffer_.size() >= config_.event_buffer_size) {
      if (counters_.events_overflowed++ == 0) {
        Log(LogLevel::kWarn, "event buffer full (", config_.event_buffer_size,
            " events): dropping events; counted in events_overflowed");
      }
      continue;
    }
    event_buffer_.push_back(std::move(*event));
  }
}

// ICMP port unreachable from an active peer's address: it is gone (on
// loopback and LANs this arrives within a round trip, far sooner than the
// keep-alive probes would notice).
void Node::HandleUnreachablePeers() {
  if (socket_->TakeUnreachablePeers(&unreachable_) == 0) return;
  counters_.unreachable_reports += unreachable_.size();
  if (!config_.detect_unreachable) return;
  std::vector<PeerEntry> active = engine_->ActiveView();
  for (const Address& address : unreachable_) {
    // One ICMP error per datagram sent: a peer may appear several times.
    auto it =
        std::find_if(active.begin(), active.end(),
                     [&](const PeerEntry& p) { return p.address == address; });
    if (it == active.end()) continue;
    ++counters_.unreachable_detected;
    Log(LogLevel::kInfo, "peer ", ToString(it->id), " ", address.ToString(),
        " unreachable (ICMP): dropping it");
    engine_->DetectNodeFailure(MonotonicNow(), it->id);
    active.erase(it);
  }
  // DetectNodeFailure may queue transmits and events.
  SendTransmits();
  TakeEvents();
}

void Node::UpdateSocketInterest() {
  const bool want_writable = socket_->queued_datagrams() > 0;
  if (want_writable == socket_writable_interest_) return;
  const uint32_t interest =
      kPollReadable | (want_writable ? kPollWritable : 0u);
  if (poller_->Modify(socket_->fd(), interest, kSocketToken).ok()) {
    socket_writable_interest_ = want_writable;
  }
}

// --- Watchers ---------------------------------------------------------------

Node::Watcher* Node::FindWatcher(int fd) {
  for (Watcher& w : watchers_) {
    if (w.fd == fd) return &w;
  }
  return nullptr;
}

absl::Status Node::Watch(int fd, uint32_t interest, WatchHandler handler) {
  if (fd < 0 || FindWatcher(fd) != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("watch: fd ", fd, " is invalid or already watched"));
  }
  size_t index = 0;
  while (index < watchers_.size() && watchers_[index].fd >= 0) ++index;
  if (index == watchers_.size()) watchers_.emplace_back();
  Watcher& w = watchers_[index];
  const uint32_t generation = w.generation + 1;
  const uint64_t token = (uint64_t{generation} << 32) | (index + 1);
  absl::Status status = poller_->Add(fd, interest, token);
  if (!status.ok()) return status;
  w.fd = fd;
  w.generation = generation;
  w.handler = std::move(handler);
  return absl::OkStatus();
}

absl::Status Node::ModifyWatch(int fd, uint32_t interest) {
  Watcher* w = FindWatcher(fd);
  if (w == nullptr) {
    return absl::NotFoundError(absl::StrCat("watch: fd ", fd, " not watched"));
  }
  const uint64_t token = (uint64_t{w->generation} << 32) |
                         (static_cast<uint64_t>(w - watchers_.data()) + 1);
  return poller_->Modify(fd, interest, token);
}

absl::Status Node::Unwatch(int fd) {
  Watcher* w = FindWatcher(fd);
  if (w == nullptr) {
    return absl::NotFoundError(absl::StrCat("watch: fd ", fd, " not watched"));
  }
  w->fd = -1;
  w->handler = nullptr;
  return poller_->Remove(fd);
}

// --- Events -----------------------------------------------------------------

std::optional<EngineEvent> Node::PollEvent() {
  if (event_buffer_.empty()) return std::nullopt;
  EngineEvent event = std::move(event_buffer_.front());
  event_buffer_.pop_front();
  return event;
}

}  // namespace elara::runtime
