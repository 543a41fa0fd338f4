// The simulator's event loop and bookkeeping. Everything per node lives in
// contiguous vectors indexed by the node's slot (its sim address); events
// are 24-byte PODs; datagram bytes sit in a recycling pool
// (sim/packet_pool.h says why they are copied there). See simulator.h for the
// run's shape and the metric definitions.
#include "sim/simulator.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>
#include <limits>
#include <span>
#include <utility>
#include <variant>

#include "sim/seed_streams.h"
#include "sim/warm_overlay.h"

namespace elara::sim {
namespace {

constexpr int64_t kNoWake = std::numeric_limits<int64_t>::max();
constexpr uint32_t kNotLive = std::numeric_limits<uint32_t>::max();
constexpr uint32_t kNoNode = std::numeric_limits<uint32_t>::max();
// Virtual time zero of every run, one second above the clock's zero
// (ARCHITECTURE.md: the simulator starts its clock above zero).
constexpr Timestamp kOrigin = Timestamp::FromMicros(1'000'000);

// Events that touch one node's engine and nothing of other nodes but
// through the network: the ones a lookahead window runs.
bool IsNodeEvent(const Event& e) {
  return e.kind() == EventKind::kTimer || e.kind() == EventKind::kPacket;
}

bool TestBit(const std::vector<uint64_t>& bits, uint32_t i) {
  const size_t word = i / 64;
  return word < bits.size() && (bits[word] >> (i % 64)) & 1;
}

void ClearBit(std::vector<uint64_t>* bits, uint32_t i) {
  const size_t word = i / 64;
  if (word < bits->size()) (*bits)[word] &= ~(uint64_t{1} << (i % 64));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(
    const Scenario& scenario) {
  absl::Status status = scenario.Validate();
  if (!status.ok()) return status;
  std::unique_ptr<Simulator> sim(new Simulator(scenario));
  status = sim->Init();
  if (!status.ok()) return status;
  return sim;
}

Simulator::Simulator(const Scenario& scenario)
    : scenario_(scenario),
      origin_(kOrigin),
      now_us_(kOrigin.ToMicros()),
      network_(scenario, kOrigin, scenario.nodes),
      fault_rng_(StreamSeed(scenario.seed, SeedStream::kFaults)),
      workload_rng_(StreamSeed(scenario.seed, SeedStream::kWorkload)),
      bootstrap_rng_(StreamSeed(scenario.seed, SeedStream::kBootstrap)),
      engine_config_(std::make_shared<const DiffusionConfig>(scenario.engine)),
      state_rng_(StreamSeed(scenario.seed, SeedStream::kState)) {}

Simulator::~Simulator() = default;

absl::Status Simulator::Init() {
  if (!scenario_.trace_path.empty()) {
    absl::StatusOr<std::unique_ptr<TraceWriter>> trace =
        TraceWriter::Open(scenario_.trace_path);
    if (!trace.ok()) return trace.status();
    trace_ = std::move(*trace);
  }
  const int64_t bootstrap_us = scenario_.bootstrap == Bootstrap::kProtocol
                                   ? scenario_.join_spread.ToMicros()
                                   : 0;
  first_publish_us_ =
      origin_.ToMicros() + bootstrap_us + scenario_.warmup.ToMicros();
  const int64_t last_publish_us =
      first_publish_us_ + (scenario_.broadcasts == 0
                               ? 0
                               : scenario_.broadcast_interval.ToMicros() *
                                     (scenario_.broadcasts - 1));
  end_us_ = last_publish_us + scenario_.drain.ToMicros();
  if (scenario_.state_workload()) {
    state_ = std::make_unique<StateTracker>(scenario_.state_keys,
                                            scenario_.partitions.size());
    state_interval_us_ =
        std::max<int64_t>(1, std::llround(1e6 / scenario_.state_writes_per_s));
    state_writes_end_us_ = (origin_ + scenario_.StateWritesEnd()).ToMicros();
    state_settle_us_ = (origin_ + scenario_.StateSettle()).ToMicros();
    end_us_ = std::max(last_publish_us, state_settle_us_) +
              scenario_.drain.ToMicros();
  }

  // Slots: initial nodes plus the churn joins the run will make.
  size_t slots = scenario_.nodes;
  if (scenario_.churn_per_s > 0) {
    churn_interval_us_ =
        std::max<int64_t>(1, std::llround(1e6 / scenario_.churn_per_s));
    slots += static_cast<size_t>(
        (end_us_ - origin_.ToMicros() - bootstrap_us) / churn_interval_us_ + 1);
  }
  node_ids_.reserve(slots);
  hot_.reserve(slots);
  started_us_.reserve(slots);
  live_index_.reserve(slots);
  live_.reserve(slots);
  queue_.Reserve(2 * static_cast<size_t>(scenario_.nodes) + 1024);

  for (uint32_t i = 0; i < scenario_.nodes; ++i) {
    const uint32_t node = AddSlot();
    absl::Status status = StartEngine(node);
    if (!status.ok()) return status;
  }
  if (scenario_.bootstrap == Bootstrap::kWarm) {
    WarmStart();
  } else if (scenario_.nodes > 1) {
    queue_.Push(JoinTimeUs(1), EventKind::kJoin, 1, 0);
  }
  ScheduleFaultsAndWorkload(origin_.ToMicros() + bootstrap_us);
  // The state workload's convergence tracker reads every node's state in
  // time order: it runs events one at a time.
  lookahead_us_ = scenario_.event_order == EventOrder::kLookahead &&
                          !scenario_.state_workload()
                      ? network_.min_latency_us()
                      : 0;
  return absl::OkStatus();
}

// --- Node slots and engines -------------------------------------------------

uint32_t Simulator::AddSlot() {
  const uint32_t node = static_cast<uint32_t>(hot_.size());
  node_ids_.emplace_back();
  hot_.push_back(Hot{std::nullopt, kNoWake, kNoWake});
#ifndef NDEBUG
  last_call_us_.push_back(0);
#endif
  started_us_.push_back(0);
  live_index_.push_back(kNotLive);
  network_.Grow(node + 1);
  return node;
}

absl::Status Simulator::StartEngine(uint32_t node) {
  assert(EngineAt(node) == nullptr);
  const uint64_t creation = engines_created_++;
  node_ids_[node] = NodeIdFor(scenario_.seed, creation);
  absl::StatusOr<std::unique_ptr<Engine>> engine =
      Engine::Create(engine_config_, node_ids_[node], Address::Sim(node),
                     StreamSeed(scenario_.seed, SeedStream::kEngine, creation));
  if (!engine.ok()) return engine.status();
  hot_[node].engine.emplace(std::move(**engine));
  EngineAt(node)->SetPayloadInterner(&payload_interner_);
  const int64_t skew_us = scenario_.state_clock_skew.ToMicros();
  if (state_ != nullptr && skew_us > 0) {
    Random clock_rng(
        StreamSeed(scenario_.seed, SeedStream::kStateClock, creation));
    EngineAt(node)->SetStateClockOffset(Duration::Micros(static_cast<int64_t>(
        clock_rng.UniformBelow(static_cast<uint64_t>(skew_us) + 1))));
  }
  started_us_[node] = now_us_;
  if (now_us_ > origin_.ToMicros()) ++late_starts_;
  hot_[node].wake_us = kNoWake;
  hot_[node].next_us = kNoWake;
  AddLive(node);
  if (state_tracking_) state_->Add(now_us_, StateOf(node));
  return absl::OkStatus();
}

void Simulator::StopEngine(uint32_t node) {
  assert(EngineAt(node) != nullptr);
  if (measuring_) {
    gossip_received_retired_ += EngineAt(node)->counters().gossip_received;
  }
  if (state_tracking_) state_->Remove(now_us_, node);
  hot_[node].engine.reset();
  hot_[node].wake_us = kNoWake;  // its pending timer event is now stale
  hot_[node].next_us = kNoWake;
  RemoveLive(node);
}

void Simulator::AddLive(uint32_t node) {
  assert(live_index_[node] == kNotLive);
  live_index_[node] = static_cast<uint32_t>(live_.size());
  live_.push_back(node);
}

void Simulator::RemoveLive(uint32_t node) {
  const uint32_t at = live_index_[node];
  assert(at != kNotLive);
  const uint32_t last = live_.back();
  live_[at] = last;
  live_index_[last] = at;
  live_.pop_back();
  live_index_[node] = kNotLive;
}

uint32_t Simulator::RandomLiveNode(Random* rng, uint32_t except) {
  if (live_.empty()) return kNoNode;
  if (live_.size() == 1 && live_[0] == except) return kNoNode;
  for (;;) {
    const uint32_t pick = live_[rng->UniformBelow(live_.size())];
    if (pick != except) return pick;
  }
}

int64_t Simulator::JoinTimeUs(uint32_t node) const {
  const unsigned __int128 spread =
      static_cast<unsigned __int128>(scenario_.join_spread.ToMicros()) * node /
      scenario_.nodes;
  return origin_.ToMicros() + static_cast<int64_t>(spread);
}

// --- Bootstrap and schedule -------------------------------------------------

void Simulator::WarmStart() {
  const MembershipConfig& m = scenario_.engine.membership;
  const Timestamp now = Timestamp::FromMicros(now_us_);
  const uint32_t n = scenario_.nodes;
  WarmOverlay overlay =
      BuildWarmOverlay(n, static_cast<uint32_t>(m.active_view_size),
                       StreamSeed(scenario_.seed, SeedStream::kOverlay));
  Random passive_rng(StreamSeed(scenario_.seed, SeedStream::kOverlay, 1));
  std::vector<uint32_t> passive;
  // Initial node i was created i-th, so its id is computed, not loaded:
  // node_ids_[peer] at random peers was a cache miss per view entry.
  const uint64_t id_key = StreamSeed(scenario_.seed, SeedStream::kNodeId);
  auto entry = [id_key](uint32_t peer) {
    return PeerEntry{NodeIdForKey(id_key, peer), Address::Sim(peer)};
  };
  // Each node's links are installed at a random instant of the keep-alive
  // interval before the origin, as if last heard from then: in a running
  // swarm keep-alive phases are spread out. Installing all at the origin
  // made every node ping at the same microsecond one interval later (1M
  // nodes: 2.6M datagrams in flight at once). Each engine still sees
  // monotonic time: this is its first input, and the origin is 1 s above
  // zero.
  Random phase_rng(StreamSeed(scenario_.seed, SeedStream::kOverlay, 2));
  const uint64_t phase_us = static_cast<uint64_t>(
      std::min(m.keep_alive_interval.ToMicros(), origin_.ToMicros()));
  for (uint32_t i = 0; i < n; ++i) {
    assert(node_ids_[i] == NodeIdForKey(id_key, i));
    Engine& engine = *EngineAt(i);
    const Timestamp installed =
        now - Duration::Micros(static_cast<int64_t>(
                  phase_us == 0 ? 0 : phase_rng.UniformBelow(phase_us)));
    for (uint32_t peer : overlay.ActiveOf(i)) {
      if (engine.WarmStartAddActive(installed, entry(peer))) {
        ++counters_.warm_active_links;
      }
    }
    DrawWarmPassiveView(overlay, i, static_cast<uint32_t>(m.passive_view_size),
                        &passive_rng, &passive);
    for (uint32_t peer : passive) {
      if (engine.WarmStartAddPassive(entry(peer))) {
        ++counters_.warm_passive_entries;
      }
    }
  }
  overlay = WarmOverlay();  // free before the run
  for (uint32_t i = 0; i < n; ++i) AfterCall(i, now_us_);
}

void Simulator::ScheduleFaultsAndWorkload(int64_t bootstrap_end_us) {
  if (scenario_.broadcasts > 0) {
    queue_.Push(first_publish_us_, EventKind::kBroadcast, 0, 0);
  }
  for (size_t c = 0; c < scenario_.crashes.size(); ++c) {
    queue_.Push((origin_ + scenario_.crashes[c].at).ToMicros(),
                EventKind::kCrash, 0, static_cast<uint32_t>(c));
  }
  if (churn_interval_us_ > 0) {
    queue_.Push(bootstrap_end_us + churn_interval_us_, EventKind::kChurn, 0, 0);
  }
  if (state_ != nullptr) {
    if (first_publish_us_ < state_writes_end_us_) {
      queue_.Push(first_publish_us_, EventKind::kStateWrite, 0, 0);
    }
    queue_.Push(state_settle_us_, EventKind::kStateSettle, 0, 0);
  }
}

// --- Event loop -------------------------------------------------------------

RunResult Simulator::Run(const std::function<void(double)>& progress) {
  assert(!finished_);
  RunLoop(end_us_, progress);
  now_us_ = end_us_;
  finished_ = true;
  if (progress) progress(1.0);
  if (trace_ != nullptr) trace_status_ = trace_->Close();
  return Collect();
}

void Simulator::RunUntil(Duration t) {
  assert(!finished_);
  RunLoop(std::min(end_us_, (origin_ + t).ToMicros()), {});
}

void Simulator::RunLoop(int64_t limit_us,
                        const std::function<void(double)>& progress) {
  const int64_t origin_us = origin_.ToMicros();
  const int64_t span_us = std::max<int64_t>(1, end_us_ - origin_us);
  // Report every kProgressEvents events or 1 % of virtual time, whichever
  // comes first.
  uint64_t progress_events = counters_.events + kProgressEvents;
  int64_t next_progress_us = now_us_;
  while (!queue_.empty() && queue_.Top().time_us <= limit_us) {
    if (lookahead_us_ > 0 && IsNodeEvent(queue_.Top())) {
      RunWindow(limit_us);
    } else {
      const Event e = queue_.Pop();
      assert(e.time_us >= now_us_);
      now_us_ = e.time_us;
      PrefetchAhead(queue_.Upcoming());
      Dispatch(e);
    }
    if (progress &&
        (counters_.events >= progress_events || now_us_ >= next_progress_us)) {
      progress_events = counters_.events + kProgressEvents;
      next_progress_us = now_us_ + span_us / 100;
      progress(static_cast<double>(now_us_ - origin_us) /
               static_cast<double>(span_us));
    }
  }
}

void Simulator::RunWindow(int64_t limit_us) {
  const int64_t start_us = queue_.Top().time_us;
  window_end_us_ = std::min(start_us + lookahead_us_, limit_us + 1);
  window_.clear();
  while (!queue_.empty() && queue_.Top().time_us < window_end_us_ &&
         IsNodeEvent(queue_.Top())) {
    window_.push_back(queue_.Pop());
  }
  // Cut short by another kind of event: it runs next, before anything a
  // window node would schedule at or after its time.
  if (!queue_.empty() && queue_.Top().time_us < window_end_us_) {
    window_end_us_ = queue_.Top().time_us;
  }
  StableSortByNode(&window_, &window_scratch_);
  if (trace_ != nullptr) trace_->BeginWindow();
  int64_t latest_us = now_us_;
  const std::span<const Event> events(window_);
  for (size_t i = 0; i < events.size();) {
    window_node_ = events[i].node;
    window_wake_us_ = kNoWake;
    // The node's events in (time, seq) order, merged with the timer its
    // own calls schedule inside the window (which comes after any queued
    // event of the same instant: it was scheduled later).
    for (;;) {
      const bool queued = i < events.size() && events[i].node == window_node_;
      if (window_wake_us_ != kNoWake &&
          (!queued || window_wake_us_ < events[i].time_us)) {
        const Event timer{window_wake_us_,
                          static_cast<uint64_t>(EventKind::kTimer),
                          window_node_, 0};
        window_wake_us_ = kNoWake;
        now_us_ = timer.time_us;
        Dispatch(timer);
      } else if (queued) {
        now_us_ = events[i].time_us;
        PrefetchAhead(events.subspan(i + 1));
        Dispatch(events[i]);
        ++i;
      } else {
        break;
      }
    }
    latest_us = std::max(latest_us, now_us_);
  }
  window_node_ = kNoNode;
  now_us_ = latest_us;
  if (trace_ != nullptr) trace_->EndWindow();
}

void Simulator::ScheduleWake(uint32_t node, int64_t wake_us) {
  assert(window_node_ == kNoNode || node == window_node_);
  if (node == window_node_ && wake_us < window_end_us_) {
    // A timer already waiting here is stale now, as it would be in the
    // queue: count it as the queue would when popping it.
    if (window_wake_us_ != kNoWake) ++counters_.stale_timers;
    window_wake_us_ = wake_us;
    return;
  }
  queue_.Push(wake_us, EventKind::kTimer, node, 0);
}

// Each event touches an engine nobody touched for a while: at 10^5 nodes
// and more, its state is in no cache and the loads behind one another
// (node record -> engine state -> its views) cost most of the event. The
// events that run next are known (the window, or the calendar queue's
// sorted run), so those loads are started a few events early: the node
// record (which holds the engine object) three events ahead, the engine's
// state two ahead, the blocks the state points to just before the call.
// Prefetches never change behaviour; a wrong guess only wastes a load.
void Simulator::PrefetchAhead(std::span<const Event> next) const {
  auto node_event = [this, next](size_t k) -> const Event* {
    if (k >= next.size()) return nullptr;
    const Event* e = &next[k];
    return IsNodeEvent(*e) && e->node < hot_.size() ? e : nullptr;
  };
  if (const Event* e = node_event(3)) {
    __builtin_prefetch(&hot_[e->node]);
    if (e->kind() == EventKind::kPacket) packets_.Prefetch(e->handle, 0);
  }
  // A packet's first bytes (in its slot, loaded at distance 3) tell the
  // engine which protocol's state the call will read.
  auto head = [this](const Event* e) {
    return e->kind() == EventKind::kPacket ? packets_.InlineHead(e->handle)
                                           : std::span<const uint8_t>();
  };
  if (const Event* e = node_event(2)) {
    if (const Engine* engine = EngineAt(e->node)) engine->Prefetch(0, head(e));
    if (e->kind() == EventKind::kPacket) packets_.Prefetch(e->handle, 1);
  }
  if (const Event* e = node_event(0)) {
    if (const Engine* engine = EngineAt(e->node)) engine->Prefetch(1, head(e));
  }
}

void Simulator::Dispatch(const Event& e) {
  switch (e.kind()) {
    case EventKind::kTimer:
      OnTimer(e);
      return;
    case EventKind::kPacket:
      OnPacket(e);
      break;
    case EventKind::kBroadcast:
      OnBroadcast();
      break;
    case EventKind::kJoin:
      OnJoin(e.node);
      break;
    case EventKind::kCrash:
      OnCrash(e.handle);
      break;
    case EventKind::kRestart:
      OnRestart(e.node);
      break;
    case EventKind::kChurn:
      OnChurn();
      break;
    case EventKind::kStateWrite:
      OnStateWrite();
      break;
    case EventKind::kStateSettle:
      OnStateSettle();
      break;
    case EventKind::kEnd:
      break;
  }
  ++counters_.events;
}

void Simulator::OnTimer(const Event& e) {
  const uint32_t node = e.node;
  Hot& hot = hot_[node];
  if (!hot.engine || hot.wake_us != e.time_us) {
    ++counters_.stale_timers;
    return;
  }
  if (hot.next_us > now_us_) {
    // The deadline moved later since this event was scheduled (a datagram
    // postponed a keep-alive, say). An engine's deadline changes only when
    // it is called, and next_us holds it as of the last call: reschedule
    // without touching the engine's memory. No engine work: not an event.
    // Every call into an engine ends in AfterCall, which refreshes
    // next_us; a call path that skipped it would make this stale.
    assert(hot.next_us == (hot.engine->NextTimeout().IsInfinite()
                               ? kNoWake
                               : hot.engine->NextTimeout().ToMicros()));
    ++counters_.postponed_timers;
    hot.wake_us = hot.next_us;
    if (hot.next_us != kNoWake) {
      ScheduleWake(node, hot.next_us);
    }
    return;
  }
  ++counters_.events;
  hot.wake_us = kNoWake;
  hot.engine->HandleTimeout(Timestamp::FromMicros(now_us_));
  // Never wake the same node twice at one instant for the same deadline.
  AfterCall(node, now_us_ + 1);
}

void Simulator::OnPacket(const Event& e) {
  const uint32_t to = e.node;
  const uint32_t from = packets_.from(e.handle);
  Engine* engine = EngineAt(to);
  if (engine == nullptr) {
    ++counters_.dropped_dead;
    if (trace_ != nullptr) trace_->Drop(now_us_, from, to, "dead");
    packets_.Release(e.handle);
    return;
  }
  if (network_.has_partitions() && network_.Cut(now_us_, from, to)) {
    ++counters_.dropped_partition;
    if (trace_ != nullptr) trace_->Drop(now_us_, from, to, "partition");
    packets_.Release(e.handle);
    return;
  }
  engine->HandleDatagram(Timestamp::FromMicros(now_us_), Address::Sim(from),
                         packets_.Bytes(e.handle));
  packets_.Release(e.handle);  // before AfterCall: Send may grow the pool
  AfterCall(to, now_us_);
}

void Simulator::OnJoin(uint32_t node) {
  if (EngineAt(node) != nullptr) {
    const uint32_t contact =
        static_cast<uint32_t>(bootstrap_rng_.UniformBelow(node));
    EngineAt(node)->Join(Timestamp::FromMicros(now_us_), Address::Sim(contact));
    AfterCall(node, now_us_);
  }
  if (node + 1 < scenario_.nodes) {
    queue_.Push(JoinTimeUs(node + 1), EventKind::kJoin, node + 1, 0);
  }
}

void Simulator::OnBroadcast() {
  const uint32_t k = broadcasts_done_++;
  if (k == 0) StartMeasurement();
  if (k + 1 < scenario_.broadcasts) {
    queue_.Push(now_us_ + scenario_.broadcast_interval.ToMicros(),
                EventKind::kBroadcast, 0, 0);
  }
  const uint32_t origin = RandomLiveNode(&workload_rng_, kNoNode);
  if (origin == kNoNode) {
    ++counters_.broadcasts_no_live_node;
    return;
  }
  payload_.resize(scenario_.payload_bytes);
  for (size_t i = 0; i < payload_.size(); ++i) {
    payload_[i] = static_cast<uint8_t>(k * 131 + i);
  }
  const Timestamp now = Timestamp::FromMicros(now_us_);
  absl::StatusOr<MessageId> id = EngineAt(origin)->Broadcast(now, payload_);
  if (id.ok() && message_index_.find(*id) == message_index_.end()) {
    MessageRecord record;
    record.id = *id;
    record.published = now;
    record.origin_index = origin;
    record.delivered.assign((hot_.size() + 63) / 64, 0);
    message_index_.emplace(*id, static_cast<uint32_t>(messages_.size()));
    messages_.push_back(std::move(record));
  } else {
    ++counters_.broadcasts_failed;
  }
  AfterCall(origin, now_us_);
}

void Simulator::OnCrash(uint32_t spec) {
  const CrashSpec& crash = scenario_.crashes[spec];
  const size_t count = static_cast<size_t>(
      std::llround(crash.fraction * static_cast<double>(live_.size())));
  // Partial Fisher-Yates over a copy of the live list: `count` distinct
  // victims, O(live) time.
  std::vector<uint32_t> victims = live_;
  for (size_t i = 0; i < count; ++i) {
    const size_t j = i + fault_rng_.UniformBelow(victims.size() - i);
    std::swap(victims[i], victims[j]);
  }
  victims.resize(count);
  for (uint32_t node : victims) {
    StopEngine(node);
    ++counters_.crashes;
    if (!crash.restart_after.IsInfinite()) {
      queue_.Push(now_us_ + crash.restart_after.ToMicros(), EventKind::kRestart,
                  node, 0);
    }
  }
}

void Simulator::OnRestart(uint32_t node) {
  if (EngineAt(node) != nullptr) return;  // restarted already
  absl::Status status = StartEngine(node);
  assert(status.ok());  // the config was valid at Create
  (void)status;
  ++counters_.restarts;
  for (MessageRecord& m : messages_) ClearBit(&m.delivered, node);
  JoinThroughRandomContact(node);
}

void Simulator::OnChurn() {
  if (now_us_ + churn_interval_us_ <= end_us_) {
    queue_.Push(now_us_ + churn_interval_us_, EventKind::kChurn, 0, 0);
  }
  const uint32_t leaver = RandomLiveNode(&fault_rng_, kNoNode);
  if (leaver != kNoNode) {
    EngineAt(leaver)->Leave(Timestamp::FromMicros(now_us_));
    AfterCall(leaver, now_us_);
    StopEngine(leaver);
    ++counters_.churn_leaves;
  }
  const uint32_t joiner = AddSlot();
  absl::Status status = StartEngine(joiner);
  assert(status.ok());
  (void)status;
  ++counters_.churn_joins;
  JoinThroughRandomContact(joiner);
}

void Simulator::JoinThroughRandomContact(uint32_t node) {
  const uint32_t contact = RandomLiveNode(&fault_rng_, node);
  if (contact != kNoNode) {
    EngineAt(node)->Join(Timestamp::FromMicros(now_us_), Address::Sim(contact));
  }
  AfterCall(node, now_us_);
}

// --- State workload ---------------------------------------------------------

void Simulator::StateValue(uint64_t write_index, uint32_t bytes,
                           std::vector<uint8_t>* out) {
  out->resize(bytes);
  for (uint32_t i = 0; i < bytes; ++i) {
    (*out)[i] = i < 8 ? static_cast<uint8_t>(write_index >> (8 * i))
                      : static_cast<uint8_t>(write_index * 131 + i);
  }
}

void Simulator::OnStateWrite() {
  const uint64_t k = state_writes_scheduled_++;
  if (now_us_ + state_interval_us_ < state_writes_end_us_) {
    queue_.Push(now_us_ + state_interval_us_, EventKind::kStateWrite, 0, 0);
  }
  const uint32_t writer = RandomLiveNode(&state_rng_, kNoNode);
  if (writer == kNoNode) {
    ++counters_.state_writes_no_live_node;
    return;
  }
  const uint32_t key =
      static_cast<uint32_t>(state_rng_.UniformBelow(scenario_.state_keys));
  StateValue(k, scenario_.state_value_bytes, &state_value_);
  Engine& engine = *EngineAt(writer);
  const absl::Status status = engine.PropagateState(
      Timestamp::FromMicros(now_us_), StateKey(key), state_value_);
  if (status.ok()) {
    ++counters_.state_writes;
    state_->RecordWrite(key, engine.GetState(StateKey(key))->version, k);
    RecordStateSides(writer, key);
  } else {
    ++counters_.state_writes_failed;
  }
  AfterCall(writer, now_us_);
}

void Simulator::RecordStateSides(uint32_t writer, uint32_t key) {
  const Duration since_origin = Duration::Micros(now_us_ - origin_.ToMicros());
  for (size_t p = 0; p < scenario_.partitions.size(); ++p) {
    const PartitionSpec& spec = scenario_.partitions[p];
    if (spec.start <= since_origin && since_origin < spec.end) {
      state_->RecordSide(p, key, network_.OnSideA(p, writer));
    }
  }
}

void Simulator::OnStateSettle() {
  std::vector<StateTracker::NodeState> nodes;
  nodes.reserve(live_.size());
  for (uint32_t node : live_) nodes.push_back(StateOf(node));
  state_->Begin(now_us_, nodes);
  state_tracking_ = true;
}

StateTracker::NodeState Simulator::StateOf(uint32_t node) const {
  const Engine& engine = *EngineAt(node);
  return {node, engine.StateDigest(), engine.counters().state_sync_bytes_out};
}

// --- Engine outputs ---------------------------------------------------------

void Simulator::AfterCall(uint32_t node, int64_t earliest_wake_us) {
#ifndef NDEBUG
  // Whatever the event order, each node's calls come in time order.
  assert(now_us_ >= last_call_us_[node]);
  last_call_us_[node] = now_us_;
#endif
  Engine& engine = *hot_[node].engine;
  // Send copies each datagram into the packet pool; the engine then
  // recycles the buffers.
  engine.DrainTransmits(
      [&](const Transmit& transmit) { Send(node, transmit); });
  while (std::optional<EngineEvent> event = engine.PollEvent()) {
    OnEngineEvent(node, *event);
  }
  if (state_tracking_) state_->Observe(now_us_, StateOf(node));
  const Timestamp next = engine.NextTimeout();
  hot_[node].next_us = next.IsInfinite() ? kNoWake : next.ToMicros();
  if (next.IsInfinite()) return;
  // A deadline at or before now right after HandleTimeout(now) means the
  // engine did not handle it; wake it 1 us later rather than spin.
  if (earliest_wake_us > now_us_ && next.ToMicros() <= now_us_) {
    ++counters_.timer_stalls;
  }
  const int64_t wake_us = std::max(next.ToMicros(), earliest_wake_us);
  if (wake_us < hot_[node].wake_us) {
    hot_[node].wake_us = wake_us;
    ScheduleWake(node, wake_us);
  }
}

void Simulator::Send(uint32_t from, const Transmit& transmit) {
  const uint64_t bytes = transmit.bytes.size();
  ++counters_.datagrams_sent;
  counters_.bytes_sent += bytes;
  if (measuring_) bytes_sent_window_ += bytes;
  if (transmit.to.kind() != Address::Kind::kSim ||
      transmit.to.sim_index() >= hot_.size() || bytes > PacketPool::kMaxBytes) {
    ++counters_.dropped_misaddressed;
    trace_hash_.AddSend(now_us_, from, kNoNode, bytes);
    return;
  }
  const uint32_t to = transmit.to.sim_index();
  trace_hash_.AddSend(now_us_, from, to, bytes);
  const NetworkModel::Decision decision =
      network_.Send(now_us_, from, to, bytes);
  if (trace_ != nullptr) {
    trace_->Send(now_us_, from, to, bytes, DatagramFateName(decision.fate));
  }
  if (decision.fate != DatagramFate::kDelivered) return;
  if (packets_.in_flight() >= kMaxPacketsInFlight) {
    ++counters_.dropped_pool_full;
    return;
  }
  // Copied, then the engine's buffer is recycled (see packet_pool.h).
  const uint32_t handle = packets_.Put(from, transmit.bytes);
  // The lookahead invariant: nothing a window runs reaches another node
  // inside the window.
  assert(window_node_ == kNoNode || decision.arrival_us >= window_end_us_);
  queue_.Push(decision.arrival_us, EventKind::kPacket, to, handle);
}

void Simulator::OnEngineEvent(uint32_t node, const EngineEvent& event) {
  if (const auto* delivered = std::get_if<DeliveredEvent>(&event)) {
    OnDelivered(node, *delivered);
  } else if (std::holds_alternative<PeerUpEvent>(event)) {
    ++counters_.peer_up;
  } else if (std::holds_alternative<PeerDownEvent>(event)) {
    ++counters_.peer_down;
  } else if (std::holds_alternative<StateChangedEvent>(event)) {
    ++counters_.state_changes;
  }
}

void Simulator::OnDelivered(uint32_t node, const DeliveredEvent& event) {
  const auto it = message_index_.find(event.id);
  if (it == message_index_.end()) {
    ++counters_.unknown_deliveries;
    return;
  }
  MessageRecord& m = messages_[it->second];
  const size_t word = node / 64;
  if (word >= m.delivered.size()) m.delivered.resize(hot_.size() / 64 + 1);
  const uint64_t bit = uint64_t{1} << (node % 64);
  if (m.delivered[word] & bit) {
    ++counters_.duplicate_deliveries;
    return;
  }
  m.delivered[word] |= bit;
  ++m.deliveries;
  ++counters_.deliveries;
  m.max_hops = std::max(m.max_hops, event.hops);
  ldh_ = std::max(ldh_, event.hops);
  last_delivery_us_ = std::max(last_delivery_us_, now_us_);
  // A node that joined or restarted after the publication is not counted
  // by reliability (TallyMessage); without such nodes, every one is.
  if (late_starts_ == 0 || started_us_[node] <= m.published.ToMicros()) {
    last_counted_delivery_us_ = std::max(last_counted_delivery_us_, now_us_);
  }
  convergence_us_.Add(static_cast<uint64_t>(now_us_ - m.published.ToMicros()));
  trace_hash_.AddDelivery(now_us_, node, event.id.origin.value(),
                          event.id.sequence, event.hops);
  if (trace_ != nullptr) {
    trace_->Deliver(now_us_, node, event.id.origin.value(), event.id.sequence,
                    event.hops);
  }
}

void Simulator::StartMeasurement() {
  measuring_ = true;
  gossip_received_before_ = 0;
  for (uint32_t node : live_) {
    gossip_received_before_ += EngineAt(node)->counters().gossip_received;
  }
}

// --- Metrics ----------------------------------------------------------------

Simulator::Tally Simulator::TallyMessage(const MessageRecord& m,
                                         const std::vector<uint64_t>& live_mask,
                                         std::span<const uint32_t> late) const {
  // Every live node whose engine started by the publish qualifies. Nodes
  // that started at the origin always do; `late` lists the others.
  Tally t;
  const size_t words = std::min(m.delivered.size(), live_mask.size());
  for (size_t w = 0; w < words; ++w) {
    t.delivered +=
        static_cast<uint64_t>(std::popcount(m.delivered[w] & live_mask[w]));
  }
  t.qualifying = live_.size();
  const int64_t published_us = m.published.ToMicros();
  for (uint32_t node : late) {
    if (started_us_[node] <= published_us) continue;
    --t.qualifying;
    if (TestBit(m.delivered, node)) --t.delivered;
  }
  return t;
}

std::vector<uint64_t> Simulator::LiveMask(std::vector<uint32_t>* late) const {
  std::vector<uint64_t> mask((hot_.size() + 63) / 64, 0);
  for (uint32_t node : live_) {
    mask[node / 64] |= uint64_t{1} << (node % 64);
    if (started_us_[node] > origin_.ToMicros()) late->push_back(node);
  }
  return mask;
}

double Simulator::MessageReliability(size_t message) const {
  std::vector<uint32_t> late;
  const std::vector<uint64_t> mask = LiveMask(&late);
  const Tally t = TallyMessage(messages_[message], mask, late);
  return t.qualifying == 0 ? 0.0
                           : static_cast<double>(t.delivered) /
                                 static_cast<double>(t.qualifying);
}

RunResult Simulator::Collect() {
  RunResult r;
  r.nodes = scenario_.nodes;
  r.seed = scenario_.seed;
  r.mode = BroadcastModeName(scenario_.engine.broadcast.mode);
  r.messages = messages_.size();
  r.live_nodes = static_cast<uint32_t>(live_.size());

  std::vector<uint32_t> late;
  const std::vector<uint64_t> mask = LiveMask(&late);
  uint64_t delivered = 0;
  uint64_t qualifying = 0;
  for (const MessageRecord& m : messages_) {
    const Tally t = TallyMessage(m, mask, late);
    delivered += t.delivered;
    qualifying += t.qualifying;
  }
  // A run that publishes nothing (a state-only workload) misses nothing:
  // reliability 1. Published messages with no qualifying node stay 0.
  if (scenario_.broadcasts == 0) {
    r.reliability = 1.0;
  } else {
    r.reliability = qualifying == 0 ? 0.0
                                    : static_cast<double>(delivered) /
                                          static_cast<double>(qualifying);
  }
  r.ldh = ldh_;
  if (last_counted_delivery_us_ >= 0) {
    r.last_counted_delivery =
        Duration::Micros(last_counted_delivery_us_ - origin_.ToMicros());
  }
  if (last_delivery_us_ >= 0) {
    r.last_delivery = Duration::Micros(last_delivery_us_ - origin_.ToMicros());
  }

  uint64_t gossip_received_now = gossip_received_retired_;
  size_t state_bytes = 0;
  for (uint32_t node : live_) {
    gossip_received_now += EngineAt(node)->counters().gossip_received;
    state_bytes += EngineAt(node)->StateBytes();
  }
  const double others = static_cast<double>(scenario_.nodes - 1);
  if (r.messages > 0) {
    const double per_message =
        static_cast<double>(gossip_received_now - gossip_received_before_) /
        static_cast<double>(r.messages);
    r.rmr = per_message / others - 1.0;
    r.byte_overhead = static_cast<double>(bytes_sent_window_) /
                          (others * scenario_.payload_bytes *
                           static_cast<double>(r.messages)) -
                      1.0;
  }
  r.convergence_ms.p50 =
      static_cast<double>(convergence_us_.Percentile(0.5)) / 1000.0;
  r.convergence_ms.p99 =
      static_cast<double>(convergence_us_.Percentile(0.99)) / 1000.0;
  r.convergence_ms.max = static_cast<double>(convergence_us_.Max()) / 1000.0;
  r.events = counters_.events;
  r.timer_pops_skipped = counters_.stale_timers + counters_.postponed_timers;
  r.state_bytes_per_node = live_.empty()
                               ? 0.0
                               : static_cast<double>(state_bytes) /
                                     static_cast<double>(live_.size());
  r.trace_hash = trace_hash_.value();
  r.datagrams_sent = counters_.datagrams_sent;
  const NetworkCounters& net = network_.counters();
  r.datagrams_lost = net.lost_random + net.lost_burst +
                     net.lost_uplink_overflow + counters_.dropped_partition +
                     counters_.dropped_dead + counters_.dropped_misaddressed +
                     counters_.dropped_pool_full;
  r.bytes_sent = counters_.bytes_sent;
  r.broadcasts_failed = counters_.broadcasts_failed;
  r.broadcasts_no_live_node = counters_.broadcasts_no_live_node;
  r.duplicate_deliveries = counters_.duplicate_deliveries;
  if (state_ != nullptr) CollectState(&r);
  return r;
}

void Simulator::CollectState(RunResult* r) const {
  r->state_workload = true;
  r->state_writes = counters_.state_writes;
  r->state_writes_failed = counters_.state_writes_failed;
  r->state_writes_no_live_node = counters_.state_writes_no_live_node;
  r->state_conflicting_keys = state_->conflicting_keys();
  r->state_settle_ms =
      static_cast<double>(state_settle_us_ - origin_.ToMicros()) / 1000.0;
  if (!state_->begun()) return;  // the run stopped before the settle point
  if (const std::optional<int64_t> since = state_->converged_since_us()) {
    r->state_convergence_ms =
        static_cast<double>(*since - state_settle_us_) / 1000.0;
  }
  const StateTracker::Majority majority = state_->MajorityDigest();
  r->state_divergent_nodes = state_->tracked_nodes() - majority.nodes;
  r->reconciliation_bytes = state_->reconciliation_bytes();
  for (uint32_t node : live_) {
    if (EngineAt(node)->StateDigest() == majority.digest) {
      r->state_keys_held = EngineAt(node)->StateKeyCount();
      break;
    }
  }
}

}  // namespace elara::sim
