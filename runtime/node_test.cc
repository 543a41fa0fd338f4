// Node on real loopback sockets, several nodes driven round-robin by one
// thread: join, broadcast, leave, hostile datagrams, the bounded event
// buffer, watched descriptors and the metrics endpoint. Waits are bounded
// by a generous deadline; nothing asserts on time.
#include "runtime/node.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <functional>
#include <map>
#include <memory>
#include <string>
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
