// File: runtime/metrics_server.h
//
// MetricsServer: a tiny HTTP/1.0 responder on a TCP socket, polled by the
// node's own event loop (Node::Watch), that answers
//   GET /metrics  (and GET /)  -> 200, Prometheus text (runtime/metrics.h)
//   any other path             -> 404
//   any other method           -> 405
//   a request header > 8 KiB   -> 400
// and closes the connection after each answer (HTTP/1.0, no keep-alive).
//
// Guarantees (bounds):
//   - At most kMaxConnections connections at once; one more is accepted and
//     closed at once, counted in connections_rejected.
//   - A connection that has not finished within kConnectionTimeout is
//     closed (counted in timeouts); call Tick() at NextDeadline().
//   - Nothing here blocks: every socket is non-blocking.
//
// Thread-safety: not thread-safe; lives on the node's loop thread.
#ifndef ELARA_RUNTIME_METRICS_SERVER_H_
#define ELARA_RUNTIME_METRICS_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/address.h"
#include "core/time.h"
#include "runtime/node.h"

namespace elara::runtime {

struct MetricsServerCounters {
  uint64_t requests_served = 0;       // 200 answers
  uint64_t requests_refused = 0;      // 4xx answers
  uint64_t connections_rejected = 0;  // over kMaxConnections
  uint64_t timeouts = 0;
  uint64_t accept_errors = 0;
};

class MetricsServer {
 public:
  static constexpr size_t kMaxConnections = 8;
  static constexpr size_t kMaxRequestBytes = 8192;
  static constexpr Duration kConnectionTimeout = Duration::Seconds(5);

  // Produces the response body of GET /metrics.
  using Render = std::function<std::string()>;

  // Listens on `listen` (IPv4 or IPv6; port 0 picks one) and watches the
  // listener on `node`'s loop. `node` must outlive the server.
  static absl::StatusOr<std::unique_ptr<MetricsServer>> Start(
      Node* node, const Address& listen, Render render);
  ~MetricsServer();  // stops watching and closes every socket
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  const Address& local_address() const { return local_address_; }
  // Closes connections past their deadline.
  void Tick(Timestamp now);
  // Earliest connection deadline; Timestamp::Infinite() when none.
  Timestamp NextDeadline() const;
  const MetricsServerCounters& counters() const { return counters_; }

 private:
  struct Connection {
    int fd = -1;
    Timestamp deadline;
    std::string request;
    std::string response;
    size_t sent = 0;
    bool responding = false;
  };

  MetricsServer(Node* node, int listen_fd, Address local, Render render);
  void OnListenerReady();
  void OnConnectionReady(int fd, const PollEvent& event);
  void ReadRequest(Connection* connection);
  void Respond(Connection* connection, std::string response);
  void WriteResponse(Connection* connection);
  void Close(int fd);
  Connection* Find(int fd);

  Node* const node_;
  const int listen_fd_;
  const Address local_address_;
  const Render render_;
  std::vector<std::unique_ptr<Connection>> connections_;
  MetricsServerCounters counters_;
};

}  // namespace elara::runtime

#endif  // ELARA_RUNTIME_METRICS_SERVER_H_
