// The simulator's event loop and bookkeeping. Everything per node lives in
// contiguous vectors indexed by the node's slot (its sim address); events
// are 24-byte PODs; datagram bytes sit in a recycling pool
// (sim/packet_pool.h says why they are copied there). See simulator.h for the
// run's shape and the metric definitions.
#include "sim/simulator.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cassert>
#include <cmath>
#include <cstring>
#include <limits>
#include <span>
#include <thread>
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

// Adds the engines' bound counters to *b (all but the simulator's own):
// the core ones, summed over all engines, and one engine's state ones.
void AddBounds(const CoreCounters& c, BoundsHit* b) {
  b->cache_evictions += c.cache_evictions;
  b->origins_evicted += c.origins_evicted;
  b->gossip_outside_window += c.gossip_outside_window;
  b->missing_table_full += c.missing_table_full;
  b->digest_answers_capped += c.digest_answers_capped;
  b->frames_too_large += c.frames_too_large;
  b->transmits_dropped += c.transmits_dropped;
  b->events_dropped += c.events_dropped;
  b->contacts_dropped += c.contacts_dropped;
  b->passive_view_evictions += c.passive_view_evictions;
}
void AddBounds(const StateCounters& c, BoundsHit* b) {
  b->state_entries_refused += c.state_entries_refused;
  b->state_tombstones_evicted += c.state_tombstones_evicted;
  b->state_requests_refused += c.state_requests_refused;
  b->state_corrections_dropped += c.state_corrections_dropped;
}

}  // namespace

PayloadInterner::Payload PooledPayloadInterner::Intern(
    const MessageId& id, std::span<const uint8_t> bytes) {
  if (locked_) {
    std::lock_guard<std::mutex> lock(mu_);
    return inner_.Intern(id, bytes);
  }
  const PacketPool::TailId tail = pool_->LastJoinedTail();
  // Bytes that end inside a held tail and begin at most kHeadBytes before
  // it, in the packet's head (a gossip header is shorter than the head:
  // the payload starts there). Compared as addresses: they may lie
  // anywhere.
  const auto at = reinterpret_cast<uintptr_t>(bytes.data());
  const auto end = at + bytes.size();
  const auto begin = reinterpret_cast<uintptr_t>(tail.bytes.data());
  if (tail.serial == 0 || at + PacketPool::kHeadBytes < begin || end < begin ||
      end > begin + tail.bytes.size()) {
    return inner_.Intern(id, bytes);
  }
  const int64_t offset = static_cast<int64_t>(at - begin);  // may be < 0
  if (tail.index < memo_.size()) {
    const TailMemo& memo = memo_[tail.index];
    // The part in the tail is the memo's (same bytes, same place); the
    // part in the head is this packet's own: compared.
    const size_t in_head = at < begin ? begin - at : 0;
    if (memo.serial == tail.serial && memo.offset == offset &&
        memo.payload->size() == bytes.size() && memo.id == id &&
        std::memcmp(memo.payload->data(), bytes.data(), in_head) == 0) {
      assert(std::equal(memo.payload->begin(), memo.payload->end(),
                        bytes.begin(), bytes.end()));
      ++memo_hits_;
      return memo.payload;
    }
  }
  return InternAndRemember(id, bytes, tail, offset);
}

PayloadInterner::Payload PooledPayloadInterner::InternAndRemember(
    const MessageId& id, std::span<const uint8_t> bytes,
    const PacketPool::TailId& tail, int64_t offset) {
  if (tail.index >= memo_.size()) memo_.resize(tail.index + 1);
  Payload payload = inner_.Intern(id, bytes);
  memo_[tail.index] = TailMemo{tail.serial, offset, id, payload};
  // A payload that ends the tail is where its bytes come from: the pool
  // keeps it with the tail, and a forwarder's copy of it (the engine
  // forwards this very buffer) is known by address.
  if (offset <= 0 && offset + static_cast<int64_t>(bytes.size()) ==
                         static_cast<int64_t>(tail.bytes.size())) {
    pool_->SetTailSource(tail, payload);
  }
  return payload;
}

absl::StatusOr<std::unique_ptr<Simulator>> Simulator::Create(
    const Scenario& scenario) {
  absl::Status status = scenario.Validate();
  if (!status.ok()) return status;
  std::unique_ptr<Simulator> sim(new Simulator(scenario));
  status = sim->Init();
  if (!status.ok()) return status;
  return sim;
}

// A thread that runs one deferred lane of each split window: Start hands it
// its events, Wait returns once it has run them. Between windows it sleeps
// (a futex wait on `go_`, after a short spin).
class Simulator::Worker {
 public:
  explicit Worker(Simulator* sim) : sim_(sim) {
    thread_ = std::thread([this] { Loop(); });
  }
  ~Worker() {
    stop_.store(true, std::memory_order_release);
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_one();
    thread_.join();
  }
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // REQUIRES: the previous Start was waited for.
  void Start(std::span<const Event> events) {
    events_ = events;
    go_.fetch_add(1, std::memory_order_release);
    go_.notify_one();
  }
  void Wait() {
    const uint32_t want = go_.load(std::memory_order_relaxed);
    AwaitValue(done_, want);
  }

  Lane lane;

 private:
  // Returns once `a` holds `want`.
  static void AwaitValue(const std::atomic<uint32_t>& a, uint32_t want) {
    AwaitChange(a, [want](uint32_t v) { return v == want; });
  }
  // Returns once `a`'s value satisfies `done` (a short spin, then futex
  // waits).
  template <typename Done>
  static void AwaitChange(const std::atomic<uint32_t>& a, Done done) {
    for (int spin = 0; spin < 4096; ++spin) {
      if (done(a.load(std::memory_order_acquire))) return;
#if defined(__x86_64__) || defined(__i386__)
      __builtin_ia32_pause();
#endif
    }
    for (uint32_t seen; !done(seen = a.load(std::memory_order_acquire));) {
      a.wait(seen, std::memory_order_acquire);
    }
  }
  void Loop() {
    // Any new value of go_ is work or (with stop_) the end: a Start and the
    // destructor's wake-up may come together (the main thread unwinding
    // between Start and Wait), and the end wins.
    for (uint32_t seen = 0;;) {
      AwaitChange(go_, [seen](uint32_t v) { return v != seen; });
      seen = go_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_acquire)) return;
      sim_->RunNodes<true>(lane, events_);
      done_.store(seen, std::memory_order_release);
      done_.notify_one();
    }
  }

  Simulator* const sim_;
  std::span<const Event> events_;
  std::atomic<uint32_t> go_{0};
  std::atomic<uint32_t> done_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;  // last: starts once everything above exists
};

Simulator::Simulator(const Scenario& scenario)
    : scenario_(scenario),
      origin_(kOrigin),
      now_us_(kOrigin.ToMicros()),
      network_(scenario, kOrigin, scenario.nodes),
      fault_rng_(StreamSeed(scenario.seed, SeedStream::kFaults)),
      workload_rng_(StreamSeed(scenario.seed, SeedStream::kWorkload)),
      bootstrap_rng_(StreamSeed(scenario.seed, SeedStream::kBootstrap)),
      contact_rng_(StreamSeed(scenario.seed, SeedStream::kContacts)),
      payload_interner_(&packets_, scenario.threads > 1),
      engine_config_(std::make_shared<const DiffusionConfig>(scenario.engine)),
      state_rng_(StreamSeed(scenario.seed, SeedStream::kState)) {}

Simulator::~Simulator() {
  // Join the workers before any engine they might be running goes away
  // (only if a call unwound mid-window: otherwise they are idle).
  workers_.clear();
}

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
  end_us_ = last_publish_us + scenario_.Drain().ToMicros();
  if (scenario_.state_workload()) {
    state_ = std::make_unique<StateTracker>(scenario_.state_keys,
                                            scenario_.partitions.size());
    state_interval_us_ =
        std::max<int64_t>(1, std::llround(1e6 / scenario_.state_writes_per_s));
    state_writes_end_us_ = (origin_ + scenario_.StateWritesEnd()).ToMicros();
    state_settle_us_ = (origin_ + scenario_.StateSettle()).ToMicros();
    end_us_ = std::max(last_publish_us, state_settle_us_) +
              scenario_.Drain().ToMicros();
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
  // Windows split over threads only without a trace file (whose lines the
  // lanes would have to hold too).
  if (lookahead_us_ > 0 && trace_ == nullptr) {
    for (uint32_t t = 1; t < scenario_.threads; ++t) {
      workers_.push_back(std::make_unique<Worker>(this));
    }
  }
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
                     StreamSeed(scenario_.seed, SeedStream::kEngine, creation),
                     &main_lane_.engine_counters);
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
  AddBounds(EngineAt(node)->state_counters(), &bounds_retired_);
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
  for (uint32_t i = 0; i < n; ++i) AfterCall(Main(), i, now_us_);
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
      RunWindow();
    } else {
      const Event e = queue_.Pop();
      assert(e.time_us >= now_us_);
      now_us_ = e.time_us;
      PrefetchAhead<false>(queue_.Upcoming());
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

void Simulator::RunWindow() {
  const int64_t start_us = queue_.Top().time_us;
  // Never past the run's end, but not cut at a RunUntil limit: where a
  // window ends must not depend on where a caller stopped to look.
  int64_t end_us = std::min(start_us + lookahead_us_, end_us_ + 1);
  window_.clear();
  // Cut short by another kind of event: it runs next, before anything a
  // window node would schedule at or after its time.
  end_us = queue_.TakeWindow(
      end_us, [](const Event& e) { return IsNodeEvent(e); }, &window_);
  window_sorter_.SortByNodeThenTime(&window_);
  const std::span<const Event> events(window_);
  ++counters_.windows;
  if (trace_ != nullptr) trace_->BeginWindow();
  int64_t latest_us = now_us_;
  const size_t lanes = workers_.size() + 1;
  if (lanes == 1) {
    Lane& lane = Main();
    lane.window_end_us = end_us;
    RunNodes<false>(lane, events);
    latest_us = lane.latest_us;
  } else {
    // In chunks of at most kMaxEventsPerLane events per thread (cut at node
    // boundaries), which bounds what the lanes hold; chunks run and are
    // applied in window order.
    bool split = false;
    for (size_t begin = 0; begin < events.size();) {
      const size_t end =
          NodeBoundary(events, begin, begin + kMaxEventsPerLane * lanes);
      const std::span<const Event> chunk = events.subspan(begin, end - begin);
      if (chunk.size() < kMinEventsPerLane * lanes) {
        Lane& lane = Main();
        lane.window_end_us = end_us;
        RunNodes<false>(lane, chunk);
        latest_us = std::max(latest_us, lane.latest_us);
      } else {
        latest_us = std::max(latest_us, RunSplit(chunk, end_us));
        split = true;
      }
      begin = end;
    }
    if (split) ++counters_.split_windows;
  }
  now_us_ = std::max(now_us_, latest_us);
  if (trace_ != nullptr) trace_->EndWindow();
}

size_t Simulator::NodeBoundary(std::span<const Event> events, size_t begin,
                               size_t at) {
  size_t end = std::clamp(at, begin, events.size());
  while (end > begin && end < events.size() &&
         events[end].node == events[end - 1].node) {
    ++end;
  }
  return end;
}

int64_t Simulator::RunSplit(std::span<const Event> events, int64_t end_us) {
  // Runs of about equal length at node boundaries: lane 0 on this thread,
  // lane k on worker k - 1. Their outputs are then applied in lane order,
  // which is the order one thread would have made them in.
  const size_t lanes = workers_.size() + 1;
  std::span<const Event> own;
  size_t begin = 0;
  for (size_t k = 0; k < lanes; ++k) {
    const size_t end =
        k + 1 == lanes
            ? events.size()
            : NodeBoundary(events, begin, events.size() * (k + 1) / lanes);
    Lane& lane = k == 0 ? split_lane_ : workers_[k - 1]->lane;
    lane.now_us = now_us_;
    lane.latest_us = now_us_;
    lane.window_end_us = end_us;
    if (k == 0) {
      own = events.subspan(begin, end - begin);
    } else {
      workers_[k - 1]->Start(events.subspan(begin, end - begin));
    }
    begin = end;
  }
  RunNodes<true>(split_lane_, own);
  // Every lane reads the packet pool until it is done; applying writes it.
  for (const std::unique_ptr<Worker>& worker : workers_) worker->Wait();
  int64_t latest_us = split_lane_.latest_us;
  Main().window_end_us = end_us;  // Send's lookahead check while applying
  Apply(&split_lane_);
  for (const std::unique_ptr<Worker>& worker : workers_) {
    latest_us = std::max(latest_us, worker->lane.latest_us);
    Apply(&worker->lane);
  }
  return latest_us;
}

template <bool kDeferred>
void Simulator::RunNodes(Lane& lane, std::span<const Event> events) {
  const size_t n = events.size();
  int64_t latest_us = lane.latest_us;
  for (size_t i = 0; i < n;) {
    const uint32_t node = events[i].node;
    lane.window_node = node;
    lane.window_wake_us = kNoWake;
    // The node's events in (time, seq) order, merged with the timer its
    // own calls schedule inside the window (which comes after any queued
    // event of the same instant: it was scheduled later). Its first event
    // is a queued one: no timer of its own is pending yet.
    do {
      lane.now_us = events[i].time_us;
      PrefetchAhead<true>(events.subspan(i + 1));
      DispatchNode<kDeferred>(lane, events[i]);
      ++i;
      while (lane.window_wake_us != kNoWake &&
             (i == n || events[i].node != node ||
              lane.window_wake_us < events[i].time_us)) {
        const Event timer{lane.window_wake_us,
                          static_cast<uint64_t>(EventKind::kTimer), node, 0};
        lane.window_wake_us = kNoWake;
        lane.now_us = timer.time_us;
        OnTimer<kDeferred>(lane, timer);  // counts itself when it does work
      }
    } while (i < n && events[i].node == node);
    latest_us = std::max(latest_us, lane.now_us);
  }
  lane.latest_us = latest_us;
  lane.window_node = kNoNode;
}

Simulator::Lane& Simulator::Main() {
  main_lane_.now_us = now_us_;
  main_lane_.latest_us = now_us_;
  main_lane_.window_node = kNoNode;
  main_lane_.window_end_us = std::numeric_limits<int64_t>::min();
  return main_lane_;
}

void Simulator::Apply(Lane* lane) {
  Lane& main = main_lane_;
  const std::span<const Lane::Output> outputs(lane->outputs);
  // The slots to release were last read on another core (or long ago).
  constexpr size_t kAhead = 8;
  for (size_t i = 0; i < std::min(kAhead, outputs.size()); ++i) {
    if (outputs[i].kind == Lane::OutputKind::kRelease) {
      packets_.PrefetchRelease(outputs[i].index);
    }
  }
  for (size_t i = 0; i < outputs.size(); ++i) {
    const Lane::Output& out = outputs[i];
    if (i + kAhead < outputs.size() &&
        outputs[i + kAhead].kind == Lane::OutputKind::kRelease) {
      packets_.PrefetchRelease(outputs[i + kAhead].index);
    }
    main.now_us = out.time_us;
    switch (out.kind) {
      case Lane::OutputKind::kSend: {
        const Lane::SentDatagram& d = lane->sends[out.index];
        Send<false>(
            main, out.node, d.to,
            std::span<const uint8_t>(lane->bytes).subspan(d.offset, d.size));
        break;
      }
      case Lane::OutputKind::kWake:
        queue_.Push(out.time_us, EventKind::kTimer, out.node, 0);
        break;
      case Lane::OutputKind::kEvent:
        OnEngineEvent(main, out.node, std::move(lane->events[out.index]));
        break;
      case Lane::OutputKind::kRelease:
        packets_.Release(out.index);
        break;
    }
  }
  lane->outputs.clear();
  lane->sends.clear();
  lane->bytes.clear();
  lane->events.clear();
  SimCounters& c = lane->own_counters;
  counters_.events += c.events;
  counters_.stale_timers += c.stale_timers;
  counters_.postponed_timers += c.postponed_timers;
  counters_.timer_stalls += c.timer_stalls;
  counters_.dropped_dead += c.dropped_dead;
  counters_.dropped_partition += c.dropped_partition;
  c = SimCounters();
}

template <bool kDeferred>
void Simulator::ScheduleWake(Lane& lane, uint32_t node, int64_t wake_us) {
  assert(lane.window_node == kNoNode || node == lane.window_node);
  if (node == lane.window_node && wake_us < lane.window_end_us) {
    // A timer already waiting here is stale now, as it would be in the
    // queue: count it as the queue would when popping it.
    if (lane.window_wake_us != kNoWake) {
      ++CountersOf<kDeferred>(lane).stale_timers;
    }
    lane.window_wake_us = wake_us;
    return;
  }
  if constexpr (kDeferred) {
    lane.Record({wake_us, node, Lane::OutputKind::kWake, 0});
    return;
  }
  queue_.Push(wake_us, EventKind::kTimer, node, 0);
}

template <bool kDeferred>
void Simulator::ReleasePacket(Lane& lane, uint32_t handle) {
  if constexpr (kDeferred) {
    lane.Record({lane.now_us, kNoNode, Lane::OutputKind::kRelease, handle});
    return;
  }
  packets_.Release(handle);
}

// Each event touches an engine nobody touched for a while: at 10^5 nodes
// and more, its state is in no cache and the loads behind one another
// (node record -> engine state -> its views) cost most of the event. The
// events that run next are known (the window, or the calendar queue's
// sorted run), so those loads are started a few events early: the node
// record (which holds the engine object) three events ahead, the engine's
// state two ahead, the blocks the state points to just before the call.
// Prefetches never change behaviour; a wrong guess only wastes a load.
// Inlined into the loops that call it: a call per event cost more than a
// tenth of the function (callgrind).
template <bool kWindowEvents>
[[gnu::always_inline]] inline void Simulator::PrefetchAhead(
    std::span<const Event> next) const {
  auto node_event = [this, next](size_t k) -> const Event* {
    if (k >= next.size()) return nullptr;
    const Event* e = &next[k];
    if constexpr (kWindowEvents) return e;
    return IsNodeEvent(*e) && e->node < hot_.size() ? e : nullptr;
  };
  if (const Event* e = node_event(3)) {
    __builtin_prefetch(&hot_[e->node]);
    if (e->kind() == EventKind::kPacket) packets_.PrefetchSlot(e->handle);
  }
  if (const Event* e = node_event(2)) {
    // A packet's first bytes (in its slot, loaded at distance 3) tell the
    // engine which protocol's state the call will read; the same read of
    // the slot finds its tail or buffer.
    std::span<const uint8_t> head;
    if (e->kind() == EventKind::kPacket) {
      head = packets_.PrefetchStorage(e->handle);
    }
    if (const Engine* engine = EngineAt(e->node)) engine->Prefetch(0, head);
  }
  if (const Event* e = node_event(0)) {
    if (const Engine* engine = EngineAt(e->node)) {
      engine->Prefetch(1, e->kind() == EventKind::kPacket
                              ? packets_.InlineHead(e->handle)
                              : std::span<const uint8_t>());
    }
  }
}

template <bool kDeferred>
void Simulator::DispatchNode(Lane& lane, const Event& e) {
  if (e.kind() == EventKind::kTimer) {
    OnTimer<kDeferred>(lane, e);  // counts itself when it does work
    return;
  }
  OnPacket<kDeferred>(lane, e);
  ++CountersOf<kDeferred>(lane).events;
}

void Simulator::Dispatch(const Event& e) {
  switch (e.kind()) {
    case EventKind::kTimer:
    case EventKind::kPacket:
      DispatchNode<false>(Main(), e);
      return;
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

template <bool kDeferred>
void Simulator::OnTimer(Lane& lane, const Event& e) {
  SimCounters& counters = CountersOf<kDeferred>(lane);
  const uint32_t node = e.node;
  Hot& hot = hot_[node];
  if (!hot.engine || hot.wake_us != e.time_us) {
    ++counters.stale_timers;
    return;
  }
  if (hot.next_us > lane.now_us) {
    // The deadline moved later since this event was scheduled (a datagram
    // postponed a keep-alive, say). An engine's deadline changes only when
    // it is called, and next_us holds it as of the last call: reschedule
    // without touching the engine's memory. No engine work: not an event.
    // Every call into an engine ends in AfterCall, which refreshes
    // next_us; a call path that skipped it would make this stale.
    assert(hot.next_us == (hot.engine->NextTimeout().IsInfinite()
                               ? kNoWake
                               : hot.engine->NextTimeout().ToMicros()));
    ++counters.postponed_timers;
    hot.wake_us = hot.next_us;
    if (hot.next_us != kNoWake) {
      ScheduleWake<kDeferred>(lane, node, hot.next_us);
    }
    return;
  }
  ++counters.events;
  hot.wake_us = kNoWake;
  hot.engine->CountInto(&lane.engine_counters);
  hot.engine->HandleTimeout(Timestamp::FromMicros(lane.now_us));
  // Never wake the same node twice at one instant for the same deadline.
  AfterEvent<kDeferred>(lane, node, lane.now_us + 1);
}

template <bool kDeferred>
void Simulator::OnPacket(Lane& lane, const Event& e) {
  const uint32_t to = e.node;
  const uint32_t from = packets_.from(e.handle);
  Engine* engine = EngineAt(to);
  assert(!kDeferred || trace_ == nullptr);  // the writer is not shared
  if (engine == nullptr) {
    ++CountersOf<kDeferred>(lane).dropped_dead;
    if (trace_ != nullptr) trace_->Drop(lane.now_us, from, to, "dead");
    ReleasePacket<kDeferred>(lane, e.handle);
    return;
  }
  if (network_.has_partitions() && network_.Cut(lane.now_us, from, to)) {
    ++CountersOf<kDeferred>(lane).dropped_partition;
    if (trace_ != nullptr) trace_->Drop(lane.now_us, from, to, "partition");
    ReleasePacket<kDeferred>(lane, e.handle);
    return;
  }
  engine->CountInto(&lane.engine_counters);
  // A deferred lane shares the pool with other threads: it joins a split
  // packet in its own scratch, not in place.
  engine->HandleDatagram(Timestamp::FromMicros(lane.now_us), Address::Sim(from),
                         kDeferred ? packets_.Bytes(e.handle, &lane.joined)
                                   : packets_.Bytes(e.handle));
  // Before AfterEvent: Send may grow the pool.
  ReleasePacket<kDeferred>(lane, e.handle);
  AfterEvent<kDeferred>(lane, to, lane.now_us);
}

void Simulator::OnJoin(uint32_t node) {
  if (EngineAt(node) != nullptr) {
    const uint32_t contact =
        static_cast<uint32_t>(bootstrap_rng_.UniformBelow(node));
    EngineAt(node)->Join(Timestamp::FromMicros(now_us_), Address::Sim(contact));
    AfterCall(Main(), node, now_us_);
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
#ifndef NDEBUG
    published_.push_back(payload_);
#endif
  } else {
    ++counters_.broadcasts_failed;
  }
  AfterCall(Main(), origin, now_us_);
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
    AfterCall(Main(), leaver, now_us_);
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
    // Like a real node's seed list: a few more live nodes, remembered for a
    // retry. With the contact alone, a joiner whose contact leaves before
    // the JOIN arrives knows no live node at all (nor does anyone joining
    // through it later): an island for good.
    if (live_.size() > 2) {
      for (int k = 0; k < kFallbackContacts; ++k) {
        uint32_t other = contact;
        while (other == contact) other = RandomLiveNode(&contact_rng_, node);
        EngineAt(node)->AddContact(Address::Sim(other));
      }
    }
    EngineAt(node)->Join(Timestamp::FromMicros(now_us_), Address::Sim(contact));
  }
  AfterCall(Main(), node, now_us_);
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
  AfterCall(Main(), writer, now_us_);
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
  return {node, engine.StateDigest(),
          engine.state_counters().state_sync_bytes_out};
}

// --- Engine outputs ---------------------------------------------------------

void Simulator::AfterCall(Lane& lane, uint32_t node, int64_t earliest_wake_us) {
  AfterEvent<false>(lane, node, earliest_wake_us);
}

template <bool kDeferred>
void Simulator::AfterEvent(Lane& lane, uint32_t node,
                           int64_t earliest_wake_us) {
  const int64_t now_us = lane.now_us;
#ifndef NDEBUG
  // Whatever the event order, each node's calls come in time order.
  assert(now_us >= last_call_us_[node]);
  last_call_us_[node] = now_us;
#endif
  // (No call below adds a node slot: the reference stays valid.)
  Hot& hot = hot_[node];
  Engine& engine = *hot.engine;
  // Send copies each datagram into the packet pool (a deferred lane
  // records it); the engine then reuses its queue's storage. One object
  // takes both kinds of output: built once (two lambdas each stored their
  // captures on every call, whether or not the engine had output;
  // callgrind).
  if constexpr (kDeferred) {
    struct Recorded {
      Lane* lane;
      uint32_t node;
      void operator()(const Address& to,
                      std::span<const uint8_t> datagram) const {
        lane->RecordSend(node, to, datagram);  // not Put (other threads)
      }
      void operator()(EngineEvent&& event) const {
        lane->RecordEvent(node, std::move(event));
      }
    };
    const Recorded recorded{&lane, node};
    engine.DrainTransmits(recorded);
    engine.DrainEvents(recorded);
  } else {
    struct Drained {
      Simulator* sim;
      Lane* lane;
      uint32_t node;
      void operator()(const Address& to,
                      std::span<const uint8_t> datagram) const {
        sim->Send<true>(*lane, node, to, datagram);
      }
      void operator()(EngineEvent&& event) const {
        sim->OnEngineEvent(*lane, node, std::move(event));
      }
    };
    const Drained drained{this, &lane, node};
    // A forwarded gossip comes as one span per eager peer: shared by
    // address, not compared (see PacketPool::BeginStableRun); Send names
    // its payload's source (an interned buffer), by which it finds its
    // tail without a comparison either (PacketPool::Put).
    packets_.BeginStableRun();
    engine.DrainTransmits(drained);
    packets_.EndStableRun();
    engine.DrainEvents(drained);
  }
  if (state_tracking_) state_->Observe(now_us, StateOf(node));
  const Timestamp next = engine.NextTimeout();
  hot.next_us = next.IsInfinite() ? kNoWake : next.ToMicros();
  if (next.IsInfinite()) return;
  // A deadline at or before now right after HandleTimeout(now) means the
  // engine did not handle it; wake it 1 us later rather than spin.
  if (earliest_wake_us > now_us && next.ToMicros() <= now_us) {
    ++CountersOf<kDeferred>(lane).timer_stalls;
  }
  const int64_t wake_us = std::max(next.ToMicros(), earliest_wake_us);
  if (wake_us < hot.wake_us) {
    hot.wake_us = wake_us;
    ScheduleWake<kDeferred>(lane, node, wake_us);
  }
}

template <bool kDrained>
void Simulator::Send(Lane& lane, uint32_t from, const Address& to_address,
                     std::span<const uint8_t> datagram) {
  assert(&lane == &main_lane_);
  const int64_t now_us = lane.now_us;
  const uint64_t bytes = datagram.size();
  ++counters_.datagrams_sent;
  counters_.bytes_sent += bytes;
  if (to_address.kind() != Address::Kind::kSim ||
      to_address.sim_index() >= hot_.size() || bytes > PacketPool::kMaxBytes) {
    ++counters_.dropped_misaddressed;
    trace_hash_.AddSend(now_us, from, kNoNode, bytes);
    return;
  }
  const uint32_t to = to_address.sim_index();
  trace_hash_.AddSend(now_us, from, to, bytes);
  const NetworkModel::Decision decision =
      network_.Send(now_us, from, to, bytes);
  if (trace_ != nullptr) {
    trace_->Send(now_us, from, to, bytes, DatagramFateName(decision.fate));
  }
  if (decision.fate != DatagramFate::kDelivered) return;
  if (packets_.in_flight() >= kMaxPacketsInFlight) {
    ++counters_.dropped_pool_full;
    return;
  }
  // Copied, then the engine's buffer is recycled (see packet_pool.h). A
  // datagram long enough to have a pool tail, drained from an engine (in
  // the pool's stable run; deferred lanes' replays are not), is Put with
  // the source the engine names for its payload: a buffer the pool's
  // tails keep alive (SetTailSource) is none the engine freed since it
  // copied from it: payloads are interned while an engine handles its
  // input, before it writes its datagrams at the end of that call, and
  // the drain follows the call at once.
  uint32_t handle;
  if constexpr (kDrained) {
    std::span<const uint8_t> payload;
    if (datagram.size() >= PacketPool::kTailMinBytes) {
      payload = Engine::DrainedPayload(to_address);
    }
    handle = packets_.PutInRun(from, datagram, payload);
  } else {
    handle = packets_.Put(from, datagram);
  }
  // The lookahead invariant: nothing a window runs reaches another node
  // inside the window.
  assert(decision.arrival_us >= lane.window_end_us);
  queue_.Push(decision.arrival_us, EventKind::kPacket, to, handle);
}

void Simulator::OnEngineEvent(Lane& lane, uint32_t node, EngineEvent&& event) {
  assert(&lane == &main_lane_);
  if (const auto* delivered = std::get_if<DeliveredEvent>(&event)) {
    OnDelivered(node, *delivered, lane.now_us);
  } else if (std::holds_alternative<PeerUpEvent>(event)) {
    ++counters_.peer_up;
  } else if (std::holds_alternative<PeerDownEvent>(event)) {
    ++counters_.peer_down;
  } else if (std::holds_alternative<StateChangedEvent>(event)) {
    ++counters_.state_changes;
  }
}

void Simulator::OnDelivered(uint32_t node, const DeliveredEvent& event,
                            int64_t now_us) {
  const auto it = message_index_.find(event.id);
  if (it == message_index_.end()) {
    ++counters_.unknown_deliveries;
    return;
  }
  MessageRecord& m = messages_[it->second];
  assert(event.payload != nullptr && *event.payload == published_[it->second]);
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
  last_delivery_us_ = std::max(last_delivery_us_, now_us);
  // A node that joined or restarted after the publication is not counted
  // by reliability (TallyMessage); without such nodes, every one is.
  if (late_starts_ == 0 || started_us_[node] <= m.published.ToMicros()) {
    last_counted_delivery_us_ = std::max(last_counted_delivery_us_, now_us);
  }
  convergence_us_.Add(static_cast<uint64_t>(now_us - m.published.ToMicros()));
  trace_hash_.AddDelivery(now_us, node, event.id.origin.value(),
                          event.id.sequence, event.hops);
  if (trace_ != nullptr) {
    trace_->Deliver(now_us, node, event.id.origin.value(), event.id.sequence,
                    event.hops);
  }
}

void Simulator::StartMeasurement() {
  bytes_sent_before_ = counters_.bytes_sent;
  gossip_received_before_ = EngineCountersTotal().gossip_received;
}

CoreCounters Simulator::EngineCountersTotal() const {
  CoreCounters total = main_lane_.engine_counters;
  total += split_lane_.engine_counters;
  for (const std::unique_ptr<Worker>& worker : workers_) {
    total += worker->lane.engine_counters;
  }
  return total;
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

int64_t Simulator::JoinSettleUs() const {
  const MembershipConfig& m = scenario_.engine.membership;
  const Duration latency =
      std::max(scenario_.latency_min, scenario_.latency_max);
  return (std::max(m.neighbor_timeout, m.repair_period) + latency * 2)
      .ToMicros();
}

// Union-find over node slots (no hash map: nothing here depends on a
// container's iteration order); a link to a node that is not live, or that
// is still joining (JoinSettleUs), is ignored.
void Simulator::MeasureOverlay(RunResult* r) const {
  std::vector<uint32_t> parent(hot_.size());
  for (uint32_t i = 0; i < parent.size(); ++i) parent[i] = i;
  auto root = [&parent](uint32_t x) {
    while (parent[x] != x) {
      parent[x] = parent[parent[x]];
      x = parent[x];
    }
    return x;
  };
  const size_t bound = scenario_.engine.membership.active_view_size;
  const int64_t settle_us = JoinSettleUs();
  // (Engines started at the origin -- the warm overlay, the first of a
  // protocol bootstrap -- are never "joining", however short the run.)
  auto joining = [&](uint32_t node) {
    return started_us_[node] > origin_.ToMicros() &&
           now_us_ - started_us_[node] < settle_us;
  };
  for (uint32_t node : live_) {
    if (joining(node)) {
      ++r->joining_nodes;
      continue;
    }
    const std::vector<PeerEntry> active = EngineAt(node)->ActiveView();
    if (active.size() < bound) ++r->short_active_views;
    for (const PeerEntry& peer : active) {
      if (peer.address.kind() != Address::Kind::kSim) continue;
      const uint32_t other = peer.address.sim_index();
      if (other >= hot_.size() || !live(other) || joining(other)) continue;
      const uint32_t a = root(node);
      const uint32_t b = root(other);
      if (a != b) parent[std::max(a, b)] = std::min(a, b);
    }
  }
  for (uint32_t node : live_) {
    if (!joining(node) && root(node) == node) ++r->overlay_components;
  }
}

RunResult Simulator::Collect() {
  RunResult r;
  r.nodes = scenario_.nodes;
  r.seed = scenario_.seed;
  r.mode = BroadcastModeName(scenario_.engine.broadcast.mode);
  r.messages = messages_.size();
  r.live_nodes = static_cast<uint32_t>(live_.size());
  MeasureOverlay(&r);

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

  const CoreCounters engine_counters = EngineCountersTotal();
  const uint64_t gossip_received_now = engine_counters.gossip_received;
  size_t state_bytes = 0;
  r.bounds_hit = bounds_retired_;
  AddBounds(engine_counters, &r.bounds_hit);
  for (uint32_t node : live_) {
    state_bytes += EngineAt(node)->StateBytes();
    AddBounds(EngineAt(node)->state_counters(), &r.bounds_hit);
  }
  r.bounds_hit.packet_pool_full = counters_.dropped_pool_full;
  r.bounds_hit.burst_sojourns_capped =
      network_.counters().burst_sojourns_capped;
  const double others = static_cast<double>(scenario_.nodes - 1);
  if (r.messages > 0) {
    const double per_message =
        static_cast<double>(gossip_received_now - gossip_received_before_) /
        static_cast<double>(r.messages);
    r.rmr = per_message / others - 1.0;
    r.byte_overhead =
        static_cast<double>(counters_.bytes_sent - bytes_sent_before_) /
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
  r.lookahead_windows = counters_.windows;
  r.split_windows = counters_.split_windows;
  r.threads = static_cast<uint32_t>(workers_.size()) + 1;
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
