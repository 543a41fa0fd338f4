// Metric families are written in a fixed order with their HELP and TYPE
// lines; label values are escaped as the exposition format requires.
#include "runtime/metrics.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"

namespace elara::runtime {
namespace {

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

std::string EscapeLabel(std::string_view value) {
  return absl::StrReplaceAll(ToAbsl(value),
                             {{"\\", "\\\\"}, {"\"", "\\\""}, {"\n", "\\n"}});
}

class PromWriter {
 public:
  void Family(std::string_view name, std::string_view type,
              std::string_view help) {
    absl::StrAppend(&out_, "# HELP elara_", ToAbsl(name), " ", ToAbsl(help),
                    "\n# TYPE elara_", ToAbsl(name), " ", ToAbsl(type), "\n");
  }
  void Sample(std::string_view name, std::string_view labels, double value) {
    absl::StrAppend(&out_, "elara_", ToAbsl(name));
    if (!labels.empty()) absl::StrAppend(&out_, "{", ToAbsl(labels), "}");
    absl::StrAppend(&out_, " ", value, "\n");
  }
  void Sample(std::string_view name, std::string_view labels, uint64_t value) {
    absl::StrAppend(&out_, "elara_", ToAbsl(name));
    if (!labels.empty()) absl::StrAppend(&out_, "{", ToAbsl(labels), "}");
    absl::StrAppend(&out_, " ", value, "\n");
  }
  // A family with one unlabelled sample.
  void Single(std::string_view name, std::string_view type,
              std::string_view help, uint64_t value) {
    Family(name, type, help);
    Sample(name, "", value);
  }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string Label(std::string_view key, std::string_view value) {
  return absl::StrCat(ToAbsl(key), "=\"", EscapeLabel(value), "\"");
}

// (cause, count) of everything dropped, in a fixed order.
std::vector<std::pair<const char*, uint64_t>> DropsByCause(const Node& node) {
  const EngineCounters& e = node.engine().counters();
  const TransportCounters& t = node.socket().counters();
  const NodeCounters& n = node.counters();
  uint64_t send_errors = 0, receive_errors = 0;
  for (const auto& [name, value] : t.send_errors) send_errors += value;
  for (const auto& [name, value] : t.receive_errors) receive_errors += value;
  return {
      {"bad_datagram", e.bad_datagrams},
      {"unknown_sender", e.unknown_sender_frames},
      {"duplicate", e.gossip_duplicates},
      {"outside_dedup_window", e.gossip_outside_window},
      {"frame_too_large", e.frames_too_large},
      {"engine_event_queue_full", e.events_dropped},
      {"engine_transmit_queue_full", e.transmits_dropped},
      {"event_buffer_full", n.events_overflowed},
      {"receive_truncated", t.receive_truncated},
      {"receive_source_invalid", t.receive_source_invalid},
      {"receive_error", receive_errors},
      {"send_queue_full", t.send_queue_drops},
      {"send_too_big", t.send_too_big},
      {"send_destination_invalid", t.send_destination_invalid},
      {"send_error", send_errors},
      {"state_entry_refused", e.state_entries_refused},
      {"state_frame_ignored", e.state_frames_ignored},
      {"state_request_refused", e.state_requests_refused},
      {"state_correction_dropped", e.state_corrections_dropped},
  };
}

void WriteTransportCounters(const TransportCounters& t, PromWriter* w) {
  std::string keyed_family;  // the errno-keyed family being written
  t.ForEach([w, &keyed_family](std::string_view name, uint64_t value) {
    const size_t dot = name.find('.');
    if (dot == std::string_view::npos) {
      const std::string family =
          absl::StrCat("transport_", ToAbsl(name), "_total");
      w->Family(family, "counter", "Transport (UDP socket) counter");
      w->Sample(family, "", value);
      return;
    }
    // "send_errors.ENOBUFS": one family per map, its entries contiguous.
    const std::string family =
        absl::StrCat("transport_", ToAbsl(name.substr(0, dot)), "_total");
    if (family != keyed_family) {
      w->Family(family, "counter", "Transport errors by errno name");
      keyed_family = family;
    }
    w->Sample(family, Label("errno", name.substr(dot + 1)), value);
  });
}

bool IsStateCounter(std::string_view name) {
  return name.substr(0, 6) == "state_";
}

// Keyed state (core/state_sync.h): the live key count, then every state_*
// EngineCounters field as elara_<field>_total.
void WriteStateMetrics(const Engine& engine, PromWriter* w) {
  w->Single("state_keys", "gauge", "Keys with a live value in the state store",
            engine.StateKeyCount());
  ForEachEngineCounter(engine.counters(), [w](std::string_view name,
                                              uint64_t value) {
    if (!IsStateCounter(name)) return;
    const std::string family = absl::StrCat(ToAbsl(name), "_total");
    w->Family(family, "counter", "State propagation counter (core/engine.h)");
    w->Sample(family, "", value);
  });
}

}  // namespace

void ForEachEngineCounter(const EngineCounters& c, StatVisitor visit) {
  visit("datagrams_in", c.datagrams_in);
  visit("bytes_in", c.bytes_in);
  visit("datagrams_out", c.datagrams_out);
  visit("bytes_out", c.bytes_out);
  visit("bad_datagrams", c.bad_datagrams);
  for (size_t i = 1; i < c.bad_datagrams_by_error.size(); ++i) {
    visit(absl::StrCat("bad_datagrams_by_error.",
                       WireErrorName(static_cast<WireError>(i))),
          c.bad_datagrams_by_error[i]);
  }
  visit("unknown_sender_frames", c.unknown_sender_frames);
  visit("gossip_received", c.gossip_received);
  visit("gossip_duplicates", c.gossip_duplicates);
  visit("gossip_outside_window", c.gossip_outside_window);
  visit("deliveries", c.deliveries);
  visit("gossip_sent", c.gossip_sent);
  visit("ihave_sent", c.ihave_sent);
  visit("graft_sent", c.graft_sent);
  visit("prune_sent", c.prune_sent);
  visit("iwant_sent", c.iwant_sent);
  visit("messages_repaired", c.messages_repaired);
  visit("cache_evictions", c.cache_evictions);
  visit("origins_evicted", c.origins_evicted);
  visit("events_dropped", c.events_dropped);
  visit("transmits_dropped", c.transmits_dropped);
  visit("frames_too_large", c.frames_too_large);
  visit("missing_table_full", c.missing_table_full);
  visit("digest_answers_capped", c.digest_answers_capped);
  visit("contacts_dropped", c.contacts_dropped);
  visit("passive_view_evictions", c.passive_view_evictions);
  visit("peers_down", c.peers_down);
  visit("rejoins", c.rejoins);
  visit("swaps_sent", c.swaps_sent);
  visit("swaps_accepted", c.swaps_accepted);
  visit("peers_spared", c.peers_spared);
  visit("joins_repeated", c.joins_repeated);
  visit("state_writes", c.state_writes);
  visit("state_updates_sent", c.state_updates_sent);
  visit("state_updates_received", c.state_updates_received);
  visit("state_updates_applied", c.state_updates_applied);
  visit("state_entries_refused", c.state_entries_refused);
  visit("state_entries_repaired", c.state_entries_repaired);
  visit("state_tombstones_purged", c.state_tombstones_purged);
  visit("state_tombstones_evicted", c.state_tombstones_evicted);
  visit("state_clock_drift_clamped", c.state_clock_drift_clamped);
  visit("state_rounds_started", c.state_rounds_started);
  visit("state_rounds_in_sync", c.state_rounds_in_sync);
  visit("state_rounds_decoded", c.state_rounds_decoded);
  visit("state_rounds_streamed", c.state_rounds_streamed);
  visit("state_rounds_failed", c.state_rounds_failed);
  visit("state_rounds_abandoned", c.state_rounds_abandoned);
  visit("state_requests_refused", c.state_requests_refused);
  visit("state_frames_ignored", c.state_frames_ignored);
  visit("state_corrections_dropped", c.state_corrections_dropped);
  visit("state_sync_bytes_out", c.state_sync_bytes_out);
  visit("state_sync_bytes_in", c.state_sync_bytes_in);
}

void ForEachNodeCounter(const NodeCounters& c, StatVisitor visit) {
  visit("loop_iterations", c.loop_iterations);
  visit("receive_batches", c.receive_batches);
  visit("send_batches", c.send_batches);
  visit("transmits_refused", c.transmits_refused);
  visit("events_overflowed", c.events_overflowed);
  visit("error_queue_wakeups", c.error_queue_wakeups);
  visit("unreachable_reports", c.unreachable_reports);
  visit("unreachable_detected", c.unreachable_detected);
  visit("leave_flush_unsent", c.leave_flush_unsent);
}

void ForEachStat(const Node& node, StatVisitor visit) {
  const Engine& engine = node.engine();
  ForEachEngineCounter(engine.counters(), [&](std::string_view n, uint64_t v) {
    visit(absl::StrCat("engine.", ToAbsl(n)), v);
  });
  node.socket().counters().ForEach([&](std::string_view n, uint64_t v) {
    visit(absl::StrCat("transport.", ToAbsl(n)), v);
  });
  ForEachNodeCounter(node.counters(), [&](std::string_view n, uint64_t v) {
    visit(absl::StrCat("node.", ToAbsl(n)), v);
  });
  visit("peers.active", engine.ActiveView().size());
  visit("peers.passive", engine.PassiveView().size());
  visit("deliveries.hops_sum", node.hops().sum());
  visit("deliveries.hops_max", node.hops().max());
  visit("state_bytes", engine.StateBytes());
  visit("state.keys", engine.StateKeyCount());
  visit("state.digest", engine.StateDigest());
  visit("event_buffer.pending", node.pending_events());
}

std::string RenderPrometheus(const Node& node, Timestamp now) {
  const Engine& engine = node.engine();
  const EngineCounters& e = engine.counters();
  const TransportCounters& t = node.socket().counters();
  PromWriter w;

  w.Family("node_info", "gauge", "This node's id and advertised address");
  w.Sample("node_info",
           absl::StrCat(Label("id", ToString(node.id())), ",",
                        Label("addr", node.advertised_address().ToString())),
           uint64_t{1});
  w.Family("uptime_seconds", "gauge", "Seconds since the node started");
  w.Sample("uptime_seconds", "",
           static_cast<double>((now - node.started_at()).ToMicros()) / 1e6);
  w.Family("peers", "gauge", "Peers in the HyParView views");
  w.Sample("peers", Label("view", "active"),
           uint64_t{engine.ActiveView().size()});
  w.Sample("peers", Label("view", "passive"),
           uint64_t{engine.PassiveView().size()});
  w.Single("eager_peers", "gauge", "Active peers the broadcast tree pushes to",
           engine.EagerPeers().size());
  w.Single("state_bytes", "gauge", "Protocol state held by the engine",
           engine.StateBytes());
  w.Single("event_buffer_events", "gauge", "Events waiting for the application",
           node.pending_events());
  w.Single("event_buffer_capacity", "gauge", "Bound of the event buffer",
           node.config().event_buffer_size);

  w.Family("datagrams_total", "counter", "Datagrams through the socket");
  w.Sample("datagrams_total", Label("direction", "in"), t.datagrams_received);
  w.Sample("datagrams_total", Label("direction", "out"), t.datagrams_sent);
  w.Family("bytes_total", "counter", "UDP payload bytes through the socket");
  w.Sample("bytes_total", Label("direction", "in"), t.bytes_received);
  w.Sample("bytes_total", Label("direction", "out"), t.bytes_sent);

  w.Family("drops_total", "counter",
           "Datagrams, frames, state entries and events dropped, by cause");
  for (const auto& [cause, value] : DropsByCause(node)) {
    w.Sample("drops_total", Label("cause", cause), value);
  }
  w.Family("bad_datagrams_total", "counter",
           "Datagrams the wire decoder refused, by error");
  for (size_t i = 1; i < e.bad_datagrams_by_error.size(); ++i) {
    w.Sample("bad_datagrams_total",
             Label("error", WireErrorName(static_cast<WireError>(i))),
             e.bad_datagrams_by_error[i]);
  }

  w.Single("deliveries_total", "counter", "Broadcast messages delivered",
           e.deliveries);
  const HopsHistogram& hops = node.hops();
  w.Family("delivery_hops", "histogram", "Hop count of each delivery");
  for (size_t i = 0; i < HopsHistogram::kBounds.size(); ++i) {
    w.Sample("delivery_hops_bucket",
             Label("le", absl::StrCat(HopsHistogram::kBounds[i])),
             hops.CumulativeCount(i));
  }
  w.Sample("delivery_hops_bucket", Label("le", "+Inf"), hops.count());
  w.Sample("delivery_hops_sum", "", hops.sum());
  w.Sample("delivery_hops_count", "", hops.count());

  ForEachEngineCounter(e, [&w](std::string_view name, uint64_t value) {
    const size_t dot = name.find('.');
    if (dot != std::string_view::npos) return;  // by_error: bad_datagrams_total
    if (IsStateCounter(name)) return;           // below, as elara_state_*
    const std::string family = absl::StrCat("engine_", ToAbsl(name), "_total");
    w.Family(family, "counter", "Engine counter (core/engine.h)");
    w.Sample(family, "", value);
  });
  WriteStateMetrics(engine, &w);
  WriteTransportCounters(t, &w);
  ForEachNodeCounter(node.counters(), [&w](std::string_view name,
                                           uint64_t value) {
    const std::string family = absl::StrCat("runtime_", ToAbsl(name), "_total");
    w.Family(family, "counter", "Node runtime counter");
    w.Sample(family, "", value);
  });
  return w.Take();
}

}  // namespace elara::runtime
