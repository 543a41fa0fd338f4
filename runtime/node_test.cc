// Node on real loopback sockets, several nodes driven round-robin by one
// thread: join, broadcast, leave, hostile datagrams, the bounded event
// buffer, watched descriptors, keyed state and the metrics endpoint. Waits are
// bounded by a generous deadline; nothing asserts on how long anything takes.
#include "runtime/node.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/metrics.h"
#include "runtime/metrics_server.h"
#include "transport/clock.h"
#include "transport/socket_address.h"
#include "transport/udp_socket.h"

namespace elara::runtime {
namespace {

constexpr Duration kDeadline = Duration::Seconds(20);

struct Harness {
  std::vector<std::unique_ptr<Node>> nodes;
  // Deliveries per node: message id -> count.
  std::vector<std::map<MessageId, int>> delivered;
  std::vector<std::vector<PeerDownEvent>> downs;
  std::vector<std::vector<StateChangedEvent>> state_changes;
  bool drain = true;

  Node* Add(size_t event_buffer_size = 4096) {
    NodeConfig config;
    config.node_id = NodeId(1000 + nodes.size());
    config.event_buffer_size = event_buffer_size;
    absl::StatusOr<std::unique_ptr<Node>> node =
        Node::Create(config, /*seed=*/nodes.size() + 1);
    EXPECT_TRUE(node.ok()) << node.status();
    nodes.push_back(std::move(*node));
    delivered.emplace_back();
    downs.emplace_back();
    state_changes.emplace_back();
    return nodes.back().get();
  }

  void Step() {
    for (size_t i = 0; i < nodes.size(); ++i) {
      ASSERT_TRUE(nodes[i]->RunOnce(Duration::Millis(1)).ok());
      if (!drain) continue;
      while (auto event = nodes[i]->PollEvent()) {
        if (auto* d = std::get_if<DeliveredEvent>(&*event)) {
          ++delivered[i][d->id];
        } else if (auto* down = std::get_if<PeerDownEvent>(&*event)) {
          downs[i].push_back(*down);
        } else if (auto* s = std::get_if<StateChangedEvent>(&*event)) {
          state_changes[i].push_back(*s);
        }
      }
    }
  }

  // Steps until `done` holds; false if the deadline passed first.
  bool RunUntil(const std::function<bool()>& done) {
    const Timestamp end = MonotonicNow() + kDeadline;
    while (!done()) {
      if (MonotonicNow() > end) return false;
      Step();
    }
    return true;
  }

  bool AllJoined() {
    for (const auto& node : nodes) {
      if (node->engine().ActiveView().empty()) return false;
    }
    return true;
  }
};

std::vector<uint8_t> Bytes(const std::string& text) {
  return std::vector<uint8_t>(text.begin(), text.end());
}

TEST(NodeTest, CreateRefusesInvalidConfig) {
  NodeConfig config;  // node_id 0
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Create(config, 1);
  ASSERT_FALSE(node.ok());
  EXPECT_TRUE(absl::StartsWith(node.status().message(), "node_id"));
}

TEST(NodeTest, BindFailureNamesTheAddress) {
  Harness h;
  Node* a = h.Add();
  NodeConfig config;
  config.node_id = NodeId(7);
  config.bind_addr = a->local_address();  // already taken
  absl::StatusOr<std::unique_ptr<Node>> node = Node::Create(config, 1);
  ASSERT_FALSE(node.ok());
  EXPECT_NE(node.status().message().find(a->local_address().ToString()),
            std::string::npos);
}

TEST(NodeTest, BindsAnEphemeralPortAndAdvertisesIt) {
  Harness h;
  Node* a = h.Add();
  EXPECT_NE(a->local_address().port(), 0);
  EXPECT_EQ(a->advertised_address(), a->local_address());
  EXPECT_EQ(a->socket().options().max_datagram_bytes,
            a->config().diffusion.max_datagram_bytes);
}

TEST(NodeTest, ThreeNodesJoinBroadcastAndLeave) {
  Harness h;
  Node* a = h.Add();
  Node* b = h.Add();
  Node* c = h.Add();
  b->Join(a->local_address());
  c->Join(a->local_address());
  ASSERT_TRUE(h.RunUntil([&] { return h.AllJoined(); }));

  absl::StatusOr<MessageId> id = b->Broadcast(Bytes("hello swarm"));
  ASSERT_TRUE(id.ok()) << id.status();
  ASSERT_TRUE(h.RunUntil([&] {
    for (auto& d : h.delivered) {
      if (d.count(*id) == 0) return false;
    }
    return true;
  }));
  for (int i = 0; i < 20; ++i) h.Step();  // room for duplicates to show
  for (auto& d : h.delivered) EXPECT_EQ(d[*id], 1);
  EXPECT_EQ(b->hops().count(), 1u);  // its own delivery, 0 hops
  EXPECT_GE(a->hops().count(), 1u);

  const NodeId c_id = c->id();
  c->Leave(Duration::Millis(200));
  EXPECT_TRUE(c->engine().left());
  EXPECT_EQ(c->counters().leave_flush_unsent, 0u);
  ASSERT_TRUE(h.RunUntil([&] {
    for (const PeerDownEvent& down : h.downs[0]) {
      if (down.peer.id == c_id && down.cause == PeerDownCause::kLeft) {
        return true;
      }
    }
    return false;
  }));
}

TEST(NodeTest, PortUnreachablePeerIsDroppedAsDetected) {
  Harness h;
  Node* a = h.Add();
  Node* b = h.Add();
  b->Join(a->local_address());
  ASSERT_TRUE(h.RunUntil([&] { return h.AllJoined(); }));
  const NodeId b_id = b->id();
  h.nodes.pop_back();  // closes b's socket without a word: a crash
  // a's next datagram to b draws an ICMP port unreachable.
  ASSERT_TRUE(a->Broadcast(Bytes("anyone?")).ok());
  ASSERT_TRUE(h.RunUntil([&] {
    for (const PeerDownEvent& down : h.downs[0]) {
      if (down.peer.id == b_id) return true;
    }
    return false;
  }));
  EXPECT_EQ(h.downs[0].back().cause, PeerDownCause::kDetected);
  EXPECT_GE(a->counters().unreachable_detected, 1u);
  EXPECT_GE(a->socket().counters().connection_refused, 1u);
}

TEST(NodeTest, HostileDatagramsAreCountedAndDropped) {
  Harness h;
  Node* a = h.Add();
  Node* b = h.Add();
  b->Join(a->local_address());
  ASSERT_TRUE(h.RunUntil([&] { return h.AllJoined(); }));

  absl::StatusOr<std::unique_ptr<UdpSocket>> attacker =
      UdpSocket::Bind(*Address::Parse("127.0.0.1:0"));
  ASSERT_TRUE(attacker.ok());
  const uint64_t bad_before = a->engine().counters().bad_datagrams;
  std::vector<uint8_t> garbage = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3};
  std::vector<uint8_t> truncated = {kWireVersion, 1, 2, 3};  // half a header
  std::vector<uint8_t> oversized(a->config().diffusion.max_datagram_bytes + 1,
                                 0x42);
  const OutgoingDatagram batch[] = {
      {a->local_address(), garbage},
      {a->local_address(), truncated},
      {a->local_address(), oversized},
  };
  ASSERT_EQ((*attacker)->SendBatch(batch), 3u);
  ASSERT_TRUE(h.RunUntil([&] {
    return a->engine().counters().bad_datagrams >= bad_before + 2 &&
           a->socket().counters().receive_truncated >= 1;
  }));
  EXPECT_EQ(a->engine().counters().bad_datagrams, bad_before + 2);
  EXPECT_EQ(a->socket().counters().receive_truncated, 1u);

  // Still delivering.
  absl::StatusOr<MessageId> id = a->Broadcast(Bytes("still here"));
  ASSERT_TRUE(id.ok());
  ASSERT_TRUE(h.RunUntil([&] { return h.delivered[1].count(*id) == 1; }));

  const std::string text = RenderPrometheus(*a, MonotonicNow());
  EXPECT_NE(text.find("elara_drops_total{cause=\"receive_truncated\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("elara_drops_total{cause=\"bad_datagram\"} 2\n"),
            std::string::npos);
  EXPECT_NE(text.find("elara_bad_datagrams_total{error=\"truncated\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("elara_peers{view=\"active\"} 1\n"), std::string::npos);
}

// CLOCK_REALTIME in microseconds, read directly (not through the code under
// test).
int64_t RealtimeMicros() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return int64_t{ts.tv_sec} * 1000000 + ts.tv_nsec / 1000;
}

TEST(NodeTest, StateSpreadsWithWallClockVersionsAndIsExported) {
  Harness h;
  Node* a = h.Add();
  Node* b = h.Add();
  Node* c = h.Add();
  b->Join(a->local_address());
  c->Join(a->local_address());
  ASSERT_TRUE(h.RunUntil([&] { return h.AllJoined(); }));

  const StateId key(77);
  const int64_t before_us = RealtimeMicros();
  ASSERT_TRUE(a->SetState(key, Bytes("blue")).ok());
  const int64_t after_us = RealtimeMicros();
  ASSERT_TRUE(h.RunUntil([&] {
    for (const auto& node : h.nodes) {
      if (!node->engine().GetState(key)) return false;
    }
    return true;
  }));
  const std::optional<StateValue> at_a = a->engine().GetState(key);
  for (size_t i = 0; i < h.nodes.size(); ++i) {
    const std::optional<StateValue> held = h.nodes[i]->engine().GetState(key);
    EXPECT_EQ(*held->value, Bytes("blue")) << i;
    EXPECT_EQ(held->version, at_a->version) << i;
  }
  // The HLC runs on wall time (the monotonic clock is seconds since boot).
  EXPECT_EQ(at_a->version.origin, a->id());
  EXPECT_GE(static_cast<int64_t>(at_a->version.wall_us), before_us - 1000000);
  EXPECT_LE(static_cast<int64_t>(at_a->version.wall_us), after_us + 1000000);
  // The others heard it as a change; the writer did not.
  EXPECT_TRUE(h.state_changes[0].empty());
  ASSERT_FALSE(h.state_changes[1].empty());
  EXPECT_EQ(h.state_changes[1].back().key, key);
  EXPECT_EQ(*h.state_changes[1].back().value, Bytes("blue"));

  // Bounds and errors are the engine's, passed through.
  const std::vector<uint8_t> huge(a->config().diffusion.max_datagram_bytes);
  EXPECT_EQ(a->SetState(StateId(78), huge).code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_FALSE(a->engine().GetState(StateId(78)).has_value());

  const std::string text_a = RenderPrometheus(*a, MonotonicNow());
  const std::string text_b = RenderPrometheus(*b, MonotonicNow());
  EXPECT_NE(text_a.find("# TYPE elara_state_keys gauge\nelara_state_keys 1\n"),
            std::string::npos)
      << text_a;
  EXPECT_NE(text_a.find("elara_state_writes_total 1\n"), std::string::npos);
  EXPECT_NE(text_b.find("elara_state_writes_total 0\n"), std::string::npos);
  // b took the write once: pushed (normally) or by anti-entropy.
  const EngineCounters& counters_b = b->engine().counters();
  EXPECT_EQ(
      counters_b.state_updates_applied + counters_b.state_entries_repaired, 1u);
  EXPECT_NE(text_b.find(absl::StrCat("elara_state_updates_applied_total ",
                                     counters_b.state_updates_applied, "\n")),
            std::string::npos)
      << text_b;
  EXPECT_NE(text_b.find("# TYPE elara_state_sync_bytes_in_total counter\n"),
            std::string::npos);
  EXPECT_NE(text_b.find("elara_drops_total{cause=\"state_entry_refused\"} 0\n"),
            std::string::npos);
  EXPECT_EQ(text_a.find("elara_engine_state_"), std::string::npos);
  // Flat stats: state.keys, state.digest (equal where the state is), and
  // the state counters under engine.
  std::map<std::string, uint64_t> stats_a, stats_c;
  ForEachStat(
      *a, [&](std::string_view n, uint64_t v) { stats_a[std::string(n)] = v; });
  ForEachStat(
      *c, [&](std::string_view n, uint64_t v) { stats_c[std::string(n)] = v; });
  EXPECT_EQ(stats_a.at("state.keys"), 1u);
  EXPECT_EQ(stats_a.at("state.digest"), a->engine().StateDigest());
  EXPECT_EQ(stats_a.at("state.digest"), stats_c.at("state.digest"));
  EXPECT_EQ(stats_a.at("engine.state_writes"), 1u);

  ASSERT_TRUE(a->DeleteState(key).ok());
  ASSERT_TRUE(h.RunUntil([&] {
    for (const auto& node : h.nodes) {
      if (node->engine().GetState(key)) return false;
    }
    return true;
  }));
  EXPECT_TRUE(h.state_changes[2].back().deleted);
  EXPECT_NE(RenderPrometheus(*b, MonotonicNow()).find("elara_state_keys 0\n"),
            std::string::npos);

  a->Leave(Duration::Millis(100));
  EXPECT_EQ(a->SetState(key, Bytes("late")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(a->DeleteState(key).code(), absl::StatusCode::kFailedPrecondition);
}

TEST(NodeTest, FullEventBufferCountsOverflow) {
  Harness h;
  Node* a = h.Add(/*event_buffer_size=*/2);
  Node* b = h.Add();
  b->Join(a->local_address());
  // Undrained: a's buffer fills with the peer-up event and deliveries.
  h.drain = false;
  ASSERT_TRUE(h.RunUntil([&] { return h.AllJoined(); }));
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(b->Broadcast(Bytes("m")).ok());
  ASSERT_TRUE(
      h.RunUntil([&] { return a->engine().counters().deliveries == 5; }));
  EXPECT_EQ(a->pending_events(), 2u);
  // 1 peer-up + 5 deliveries, 2 kept.
  EXPECT_EQ(a->counters().events_overflowed, 4u);
  int drained = 0;
  while (a->PollEvent()) ++drained;
  EXPECT_EQ(drained, 2);
  EXPECT_EQ(a->hops().count(), 5u);  // counted even when dropped
}

TEST(NodeTest, WatchedDescriptorRunsItsHandler) {
  Harness h;
  Node* a = h.Add();
  int fds[2];
  ASSERT_EQ(pipe2(fds, O_NONBLOCK | O_CLOEXEC), 0);
  int calls = 0;
  ASSERT_TRUE(a->Watch(fds[0], kPollReadable, [&](const PollEvent& e) {
                 char buffer[16];
                 EXPECT_TRUE(e.readable);
                 while (read(fds[0], buffer, sizeof(buffer)) > 0) {
                 }
                 ++calls;
               }).ok());
  EXPECT_FALSE(a->Watch(fds[0], kPollReadable, nullptr).ok());  // twice
  ASSERT_EQ(write(fds[1], "x", 1), 1);
  ASSERT_TRUE(h.RunUntil([&] { return calls == 1; }));
  ASSERT_TRUE(a->Unwatch(fds[0]).ok());
  ASSERT_EQ(write(fds[1], "y", 1), 1);
  for (int i = 0; i < 5; ++i) h.Step();
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(a->Unwatch(fds[0]).ok());
  close(fds[0]);
  close(fds[1]);
}

// A blocking-free HTTP client step: connect, send, read until close.
std::string HttpGet(Harness* h, const Address& server,
                    const std::string& path) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  sockaddr_storage storage;
  const socklen_t length = ToSockaddr(server, AF_INET, &storage);
  connect(fd, reinterpret_cast<sockaddr*>(&storage), length);
  const std::string request =
      absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: x\r\n\r\n");
  bool sent = false, closed = false;
  std::string response;
  h->RunUntil([&] {
    if (!sent) {
      sent = send(fd, request.data(), request.size(), MSG_NOSIGNAL) ==
             static_cast<ssize_t>(request.size());
      return false;
    }
    char buffer[4096];
    ssize_t n;
    while ((n = read(fd, buffer, sizeof(buffer))) > 0) {
      response.append(buffer, n);
    }
    closed = n == 0;
    return closed;
  });
  close(fd);
  return response;
}

TEST(NodeTest, MetricsServerAnswersOnTheNodeLoop) {
  Harness h;
  Node* a = h.Add();
  absl::StatusOr<std::unique_ptr<MetricsServer>> server = MetricsServer::Start(
      a, *Address::Parse("127.0.0.1:0"),
      [a] { return RenderPrometheus(*a, MonotonicNow()); });
  ASSERT_TRUE(server.ok()) << server.status();
  const Address at = (*server)->local_address();
  ASSERT_NE(at.port(), 0);

  const std::string ok = HttpGet(&h, at, "/metrics");
  EXPECT_TRUE(absl::StartsWith(ok, "HTTP/1.0 200 OK\r\n")) << ok;
  EXPECT_NE(ok.find("# TYPE elara_delivery_hops histogram"), std::string::npos);
  EXPECT_NE(ok.find("elara_engine_bad_datagrams_total 0"), std::string::npos);
  EXPECT_NE(ok.find("elara_transport_receive_truncated_total 0"),
            std::string::npos);
  EXPECT_NE(ok.find(absl::StrCat("elara_node_info{id=\"", ToString(a->id()))),
            std::string::npos);
  const std::string missing = HttpGet(&h, at, "/nope");
  EXPECT_TRUE(absl::StartsWith(missing, "HTTP/1.0 404")) << missing;
  EXPECT_EQ((*server)->counters().requests_served, 1u);
  EXPECT_EQ((*server)->counters().requests_refused, 1u);
  EXPECT_EQ((*server)->NextDeadline(), Timestamp::Infinite());
}

TEST(NodeTest, HopsHistogramIsCumulative) {
  HopsHistogram hops;
  hops.Add(0);
  hops.Add(3);
  hops.Add(7);
  hops.Add(100);
  EXPECT_EQ(hops.CumulativeCount(0), 1u);   // le 0
  EXPECT_EQ(hops.CumulativeCount(3), 2u);   // le 3
  EXPECT_EQ(hops.CumulativeCount(7), 3u);   // le 8
  EXPECT_EQ(hops.CumulativeCount(11), 3u);  // le 32
  EXPECT_EQ(hops.count(), 4u);
  EXPECT_EQ(hops.sum(), 110u);
  EXPECT_EQ(hops.max(), 100u);
}

}  // namespace
}  // namespace elara::runtime
