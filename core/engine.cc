// The Engine glues the sub-protocols together and owns everything they
// share: the PRNG, the counters, the outbox, and the bounded output queues.
//
// Pipeline of HandleDatagram (ARCHITECTURE.md): decode and validate ->
// dispatch by frame type (1-15 membership, 16-31 broadcast, 32-47 state) ->
// the sub-protocol updates its state -> Flush() packs what they queued into
// datagrams, one destination at a time, in the order it was queued.
//
// State (StateSync) draws from its own PRNG, seeded from the engine's seed
// without consuming the engine's stream, and schedules nothing while its
// store is empty: an engine that never touches state behaves, bit for bit,
// as one without it.
#include "core/engine.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "core/membership.h"
#include "core/outbox.h"
#include "core/plumtree.h"
#include "core/random.h"
#include "core/state_sync.h"

namespace elara {

const char* PeerDownCauseName(PeerDownCause cause) {
  switch (cause) {
    case PeerDownCause::kTimeout:
      return "timeout";
    case PeerDownCause::kLeft:
      return "left";
    case PeerDownCause::kEvicted:
      return "evicted";
    case PeerDownCause::kDetected:
      return "detected";
    case PeerDownCause::kRejected:
      return "rejected";
  }
  return "unknown";
}

namespace {

bool IsMembershipFrame(FrameType type) {
  return static_cast<uint8_t>(type) < 16;
}
bool IsStateFrame(FrameType type) {
  const auto t = static_cast<uint8_t>(type);
  return t >= 32 && t < 48;
}

uint64_t StateSeed(uint64_t seed) {
  uint64_t state = seed ^ 0x57a7e5eedull;
  return SplitMix64(&state);
}

// A FIFO over a vector: cheap when drained after every call, and no
// std::deque (whose empty footprint is ~600 bytes, times a million nodes).
template <typename T>
class DrainQueue {
 public:
  size_t size() const { return items_.size() - head_; }
  void Push(T item) { items_.push_back(std::move(item)); }
  std::optional<T> Pop() {
    if (head_ == items_.size()) return std::nullopt;
    T item = std::move(items_[head_++]);
    if (head_ == items_.size()) {
      items_.clear();
      head_ = 0;
    }
    return item;
  }
  size_t CapacityBytes() const { return items_.capacity() * sizeof(T); }

 private:
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace

struct Engine::Impl : public MembershipListener, public StateRouting {
  Impl(const DiffusionConfig& config, NodeId self_id, Address self_address,
       uint64_t seed)
      : config(config),
        self{self_id, self_address},
        rng(seed),
        membership(config.membership, self, &rng, &outbox, &counters, this),
        plumtree(config.broadcast, self_id, config.max_datagram_bytes, &rng,
                 &outbox, &counters),
        state(config.state, self_id, config.max_datagram_bytes, StateSeed(seed),
              &outbox, &counters, this) {}

  BroadcastMode StateMode() const override { return plumtree.mode(); }
  std::vector<PeerEntry> StateActivePeers() const override {
    return membership.active_view();
  }
  std::vector<NodeId> StateEagerPeers() const override {
    return plumtree.EagerPeers();
  }
  size_t StatePushFanout() const override { return plumtree.fanout(); }

  void OnNeighborUp(Timestamp now, const PeerEntry& peer) override {
    plumtree.OnNeighborUp(now, peer);
  }
  void OnNeighborDown(Timestamp now, const PeerEntry& peer,
                      PeerDownCause /*cause*/) override {
    plumtree.OnNeighborDown(now, peer);
  }

  void Dispatch(Timestamp now, const PeerEntry& from, const Frame& frame) {
    if (IsMembershipFrame(TypeOf(frame))) {
      membership.HandleFrame(now, from, frame);
    } else if (IsStateFrame(TypeOf(frame))) {
      state.HandleFrame(now, from, frame);
    } else {
      const bool from_is_active = membership.FindActive(from.id) != nullptr;
      plumtree.HandleFrame(now, from, from_is_active, frame);
    }
  }

  void Flush();
  void FinishDatagram(DatagramBuilder* builder, const Address& to);

  DiffusionConfig config;
  PeerEntry self;
  Random rng;
  EngineCounters counters;
  Outbox outbox;
  Membership membership;
  Plumtree plumtree;
  StateSync state;
  DrainQueue<Transmit> transmits;
  DrainQueue<EngineEvent> events;
  DecodedDatagram decoded;
  bool left = false;
};

void Engine::Impl::FinishDatagram(DatagramBuilder* builder, const Address& to) {
  if (builder->frame_count() == 0) return;
  std::vector<uint8_t> bytes = builder->Finish();
  if (transmits.size() >= config.max_pending_transmits) {
    ++counters.transmits_dropped;
    return;
  }
  ++counters.datagrams_out;
  counters.bytes_out += bytes.size();
  transmits.Push(Transmit{to, std::move(bytes)});
}

// Packs the outbox into datagrams. Frames for one destination share
// datagrams in the order they were queued; destinations are emitted in the
// order of their first frame, so the output depends on nothing but the
// queue's order.
void Engine::Impl::Flush() {
  std::vector<Outbox::PendingFrame>& pending = outbox.pending();
  if (!pending.empty()) {
    std::vector<std::pair<Address, DatagramBuilder>> open;
    for (Outbox::PendingFrame& item : pending) {
      auto it = std::find_if(open.begin(), open.end(), [&](const auto& entry) {
        return entry.first == item.to;
      });
      if (it == open.end()) {
        open.emplace_back(item.to,
                          DatagramBuilder(self.id, config.max_datagram_bytes));
        it = open.end() - 1;
      }
      WireError error = it->second.Add(item.frame);
      if (error == WireError::kTooLarge && it->second.frame_count() > 0) {
        FinishDatagram(&it->second, it->first);
        error = it->second.Add(item.frame);
      }
      if (error != WireError::kOk) ++counters.frames_too_large;
    }
    for (auto& [to, builder] : open) FinishDatagram(&builder, to);
    pending.clear();
  }
  state.ReleaseSent();
  std::vector<EngineEvent>& emitted = outbox.events();
  for (EngineEvent& event : emitted) {
    if (events.size() >= config.max_pending_events) {
      ++counters.events_dropped;
      continue;
    }
    events.Push(std::move(event));
  }
  emitted.clear();
}

absl::StatusOr<std::unique_ptr<Engine>> Engine::Create(
    const DiffusionConfig& config, NodeId self_id, Address self_address,
    uint64_t seed) {
  absl::Status status = config.Validate();
  if (!status.ok()) return status;
  if (!self_address.valid()) {
    return absl::InvalidArgumentError("engine: self address must be valid");
  }
  return std::unique_ptr<Engine>(
      new Engine(config, self_id, self_address, seed));
}

Engine::Engine(const DiffusionConfig& config, NodeId self_id,
               Address self_address, uint64_t seed)
    : impl_(std::make_unique<Impl>(config, self_id, self_address, seed)) {}

Engine::~Engine() = default;

void Engine::HandleDatagram(Timestamp now, const Address& from,
                            std::span<const uint8_t> bytes) {
  Impl& e = *impl_;
  ++e.counters.datagrams_in;
  e.counters.bytes_in += bytes.size();
  if (e.left) return;
  WireError error = DecodeDatagram(bytes, &e.decoded);
  if (error == WireError::kOk && e.decoded.sender == e.self.id) {
    error = WireError::kBadField;  // our own id from elsewhere: a reflection
  }
  if (error != WireError::kOk) {
    ++e.counters.bad_datagrams;
    ++e.counters.bad_datagrams_by_error[static_cast<size_t>(error)];
    return;
  }
  const PeerEntry sender{e.decoded.sender, from};
  e.membership.NoteAlive(now, sender);
  for (const Frame& frame : e.decoded.frames) e.Dispatch(now, sender, frame);
  e.Flush();
}

void Engine::HandleTimeout(Timestamp now) {
  Impl& e = *impl_;
  if (e.left) return;
  if (e.membership.NextTimeout() <= now) e.membership.HandleTimeout(now);
  if (e.plumtree.NextTimeout() <= now) e.plumtree.HandleTimeout(now);
  if (e.state.NextTimeout() <= now) e.state.HandleTimeout(now);
  e.Flush();
}

void Engine::Join(Timestamp now, const Address& contact) {
  Impl& e = *impl_;
  if (e.left) return;
  e.membership.Join(now, contact);
  e.Flush();
}

void Engine::Leave(Timestamp now) {
  Impl& e = *impl_;
  if (e.left) return;
  e.membership.Leave(now);
  e.Flush();
  e.left = true;
}

absl::StatusOr<MessageId> Engine::Broadcast(Timestamp now,
                                            std::span<const uint8_t> payload) {
  Impl& e = *impl_;
  if (e.left) {
    return absl::FailedPreconditionError("broadcast: the node has left");
  }
  absl::StatusOr<MessageId> id = e.plumtree.Broadcast(now, payload);
  e.Flush();
  return id;
}

void Engine::SetMode(Timestamp now, BroadcastMode mode) {
  impl_->plumtree.SetMode(now, mode);
  impl_->Flush();
}

absl::Status Engine::SetRedundancyFactor(double factor) {
  return impl_->plumtree.SetRedundancyFactor(factor);
}

void Engine::DetectNodeFailure(Timestamp now, NodeId peer) {
  impl_->membership.DetectNodeFailure(now, peer);
  impl_->Flush();
}

void Engine::RebuildRouting(Timestamp now) {
  impl_->plumtree.RebuildRouting(now);
  impl_->Flush();
}

bool Engine::WarmStartAddActive(Timestamp now, const PeerEntry& peer) {
  return impl_->membership.WarmAddActive(now, peer);
}

bool Engine::WarmStartAddPassive(const PeerEntry& peer) {
  return impl_->membership.WarmAddPassive(peer);
}

void Engine::SetPayloadInterner(PayloadInterner* interner) {
  impl_->plumtree.set_payload_interner(interner);
}

absl::Status Engine::PropagateState(Timestamp now, StateId key,
                                    std::span<const uint8_t> value) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.state.Propagate(now, key, value);
  e.Flush();
  return status;
}

absl::Status Engine::PushState(Timestamp now, StateId key,
                               std::span<const uint8_t> value,
                               std::span<const Address> targets) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.state.Push(now, key, value, targets);
  e.Flush();
  return status;
}

absl::Status Engine::PullState(Timestamp now, std::span<const StateId> keys,
                               const Address& source) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.state.Pull(now, keys, source);
  e.Flush();
  return status;
}

absl::Status Engine::DeleteState(Timestamp now, StateId key) {
  Impl& e = *impl_;
  if (e.left) return absl::FailedPreconditionError("state: the node has left");
  absl::Status status = e.state.Delete(now, key);
  e.Flush();
  return status;
}

std::optional<StateValue> Engine::GetState(StateId key) const {
  return impl_->state.Get(key);
}

uint64_t Engine::StateDigest() const { return impl_->state.store().Digest(); }

size_t Engine::StateKeyCount() const { return impl_->state.store().live(); }

void Engine::SetStateClockOffset(Duration offset) {
  impl_->state.set_clock_offset(offset);
}

std::optional<Transmit> Engine::PollTransmit() {
  return impl_->transmits.Pop();
}

std::optional<EngineEvent> Engine::PollEvent() { return impl_->events.Pop(); }

Timestamp Engine::NextTimeout() const {
  if (impl_->left) return Timestamp::Infinite();
  return std::min({impl_->membership.NextTimeout(),
                   impl_->plumtree.NextTimeout(), impl_->state.NextTimeout()});
}

NodeId Engine::id() const { return impl_->self.id; }
const Address& Engine::address() const { return impl_->self.address; }
const DiffusionConfig& Engine::config() const { return impl_->config; }
BroadcastMode Engine::mode() const { return impl_->plumtree.mode(); }
bool Engine::left() const { return impl_->left; }
const EngineCounters& Engine::counters() const { return impl_->counters; }

std::vector<PeerEntry> Engine::ActiveView() const {
  return impl_->membership.active_view();
}
std::vector<PeerEntry> Engine::PassiveView() const {
  return impl_->membership.passive_view();
}
std::vector<NodeId> Engine::EagerPeers() const {
  return impl_->plumtree.EagerPeers();
}

size_t Engine::StateBytes() const {
  const Impl& e = *impl_;
  // The sub-protocols count their own object; subtract it once from Impl.
  return sizeof(Engine) + sizeof(Impl) - sizeof(Membership) - sizeof(Plumtree) -
         sizeof(StateSync) + e.membership.StateBytes() +
         e.plumtree.StateBytes() + e.state.StateBytes() +
         e.transmits.CapacityBytes() + e.events.CapacityBytes() +
         e.decoded.frames.capacity() * sizeof(Frame) + e.outbox.CapacityBytes();
}

}  // namespace elara
