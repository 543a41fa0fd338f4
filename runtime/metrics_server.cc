// The HTTP handling is the least that curl, wget and Prometheus accept: read
// the head up to the blank line, look at the request line only, answer with
// Content-Length and close.
#include "runtime/metrics_server.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "runtime/log.h"
#include "transport/clock.h"
#include "transport/socket_address.h"

namespace elara::runtime {
namespace {

std::string HttpResponse(int code, const char* reason, const char* type,
                         const std::string& body) {
  return absl::StrCat("HTTP/1.0 ", code, " ", reason,
                      "\r\nContent-Type: ", type,
                      "\r\nContent-Length: ", body.size(),
                      "\r\nConnection: close\r\n\r\n", body);
}

std::string ErrorResponse(int code, const char* reason) {
  return HttpResponse(code, reason, "text/plain; charset=utf-8",
                      absl::StrCat(code, " ", reason, "\n"));
}

}  // namespace

absl::StatusOr<std::unique_ptr<MetricsServer>> MetricsServer::Start(
    Node* node, const Address& listen_address, Render render) {
  const int family = NativeFamily(listen_address);
  if (family != AF_INET && family != AF_INET6) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics: not an IP address: ", listen_address.ToString()));
  }
  const int fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "metrics: socket");
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_storage storage;
  const socklen_t length = ToSockaddr(listen_address, family, &storage);
  if (bind(fd, reinterpret_cast<const sockaddr*>(&storage), length) != 0 ||
      ::listen(fd, 16) != 0) {
    const int error = errno;
    close(fd);
    return absl::ErrnoToStatus(error, absl::StrCat("metrics: bind/listen ",
                                                   listen_address.ToString()));
  }
  socklen_t bound_length = sizeof(storage);
  getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &bound_length);
  const Address local =
      FromSockaddr(reinterpret_cast<const sockaddr*>(&storage), bound_length)
          .value_or(listen_address);
  std::unique_ptr<MetricsServer> server(
      new MetricsServer(node, fd, local, std::move(render)));
  absl::Status status = node->Watch(
      fd, kPollReadable,
      [s = server.get()](const PollEvent&) { s->OnListenerReady(); });
  if (!status.ok()) return status;  // the destructor closes fd
  return server;
}

MetricsServer::MetricsServer(Node* node, int listen_fd, Address local,
                             Render render)
    : node_(node),
      listen_fd_(listen_fd),
      local_address_(local),
      render_(std::move(render)) {}

MetricsServer::~MetricsServer() {
  while (!connections_.empty()) Close(connections_.back()->fd);
  node_->Unwatch(listen_fd_).IgnoreError();
  close(listen_fd_);
}

void MetricsServer::OnListenerReady() {
  for (;;) {
    const int fd =
        accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        ++counters_.accept_errors;
      }
      return;
    }
    if (connections_.size() >= kMaxConnections) {
      ++counters_.connections_rejected;
      close(fd);
      continue;
    }
    auto connection = std::make_unique<Connection>();
    connection->fd = fd;
    connection->deadline = MonotonicNow() + kConnectionTimeout;
    absl::Status status = node_->Watch(
        fd, kPollReadable,
        [this, fd](const PollEvent& e) { OnConnectionReady(fd, e); });
    if (!status.ok()) {
      ++counters_.accept_errors;
      close(fd);
      continue;
    }
    connections_.push_back(std::move(connection));
  }
}

void MetricsServer::OnConnectionReady(int fd, const PollEvent& event) {
  Connection* connection = Find(fd);
  if (connection == nullptr) return;
  if (connection->responding) {
    WriteResponse(connection);
    return;
  }
  if (event.readable || event.hangup || event.error) ReadRequest(connection);
}

void MetricsServer::ReadRequest(Connection* c) {
  char buffer[2048];
  for (;;) {
    const ssize_t n = read(c->fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    if (n <= 0) {  // closed before a whole request, or an error
      Close(c->fd);
      return;
    }
    c->request.append(buffer, static_cast<size_t>(n));
    const size_t end =
        std::min(c->request.find("\r\n\r\n"), c->request.find("\n\n"));
    if (end == std::string::npos) {
      if (c->request.size() > kMaxRequestBytes) {
        ++counters_.requests_refused;
        Respond(c, ErrorResponse(400, "Bad Request"));
        return;
      }
      continue;
    }
    const std::string line = c->request.substr(0, c->request.find('\n'));
    std::vector<std::string> parts =
        absl::StrSplit(line, absl::ByAnyChar(" \r"), absl::SkipEmpty());
    if (parts.size() < 2) {
      ++counters_.requests_refused;
      Respond(c, ErrorResponse(400, "Bad Request"));
    } else if (parts[0] != "GET") {
      ++counters_.requests_refused;
      Respond(c, ErrorResponse(405, "Method Not Allowed"));
    } else if (parts[1] != "/metrics" && parts[1] != "/") {
      ++counters_.requests_refused;
      Respond(c, ErrorResponse(404, "Not Found"));
    } else {
      ++counters_.requests_served;
      Respond(
          c, HttpResponse(200, "OK", "text/plain; version=0.0.4; charset=utf-8",
                          render_()));
    }
    return;
  }
}

void MetricsServer::Respond(Connection* c, std::string response) {
  c->responding = true;
  c->response = std::move(response);
  c->sent = 0;
  WriteResponse(c);
}

void MetricsServer::WriteResponse(Connection* c) {
  while (c->sent < c->response.size()) {
    const ssize_t n = send(c->fd, c->response.data() + c->sent,
                           c->response.size() - c->sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      node_->ModifyWatch(c->fd, kPollWritable).IgnoreError();
      return;
    }
    if (n <= 0) break;  // the client went away
    c->sent += static_cast<size_t>(n);
  }
  Close(c->fd);
}

void MetricsServer::Close(int fd) {
  auto it = std::find_if(connections_.begin(), connections_.end(),
                         [fd](const auto& c) { return c->fd == fd; });
  if (it == connections_.end()) return;
  node_->Unwatch(fd).IgnoreError();
  close(fd);
  connections_.erase(it);
}

MetricsServer::Connection* MetricsServer::Find(int fd) {
  for (auto& c : connections_) {
    if (c->fd == fd) return c.get();
  }
  return nullptr;
}

void MetricsServer::Tick(Timestamp now) {
  for (size_t i = connections_.size(); i-- > 0;) {
    if (connections_[i]->deadline <= now) {
      ++counters_.timeouts;
      Close(connections_[i]->fd);
    }
  }
}

Timestamp MetricsServer::NextDeadline() const {
  Timestamp next = Timestamp::Infinite();
  for (const auto& c : connections_) next = std::min(next, c->deadline);
  return next;
}

}  // namespace elara::runtime
