// File: transport/socket_address.cc
//
// Plain byte copies; ports are converted between host order (Address) and
// network order (sockaddr) here and nowhere else.
#include "transport/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <array>
#include <cstring>

namespace elara {
namespace {

// ::ffff:0:0/96, the prefix of v4-mapped IPv6 addresses (RFC 4291 2.5.5.2).
constexpr std::array<uint8_t, 12> kV4MappedPrefix = {0, 0, 0, 0, 0,    0,
                                                     0, 0, 0, 0, 0xff, 0xff};

socklen_t WriteIpv4(const Address& address, sockaddr_storage* storage) {
  auto* sin = reinterpret_cast<sockaddr_in*>(storage);
  std::memset(sin, 0, sizeof(*sin));
  sin->sin_family = AF_INET;
  sin->sin_port = htons(address.port());
  std::memcpy(&sin->sin_addr, address.ip().data(), 4);
  return sizeof(sockaddr_in);
}

socklen_t WriteIpv6(const Address& address, sockaddr_storage* storage) {
  auto* sin6 = reinterpret_cast<sockaddr_in6*>(storage);
  std::memset(sin6, 0, sizeof(*sin6));
  sin6->sin6_family = AF_INET6;
  sin6->sin6_port = htons(address.port());
  if (address.kind() == Address::Kind::kIpv4) {
    std::memcpy(sin6->sin6_addr.s6_addr, kV4MappedPrefix.data(),
                kV4MappedPrefix.size());
    std::memcpy(sin6->sin6_addr.s6_addr + 12, address.ip().data(), 4);
  } else {
    std::memcpy(sin6->sin6_addr.s6_addr, address.ip().data(), 16);
  }
  return sizeof(sockaddr_in6);
}

}  // namespace

int NativeFamily(const Address& address) {
  switch (address.kind()) {
    case Address::Kind::kIpv4:
      return AF_INET;
    case Address::Kind::kIpv6:
      return AF_INET6;
    default:
      return AF_UNSPEC;
  }
}

socklen_t ToSockaddr(const Address& address, int socket_family,
                     sockaddr_storage* storage) {
  const int family = NativeFamily(address);
  if (family == AF_UNSPEC) return 0;
  if (socket_family == AF_INET) {
    return family == AF_INET ? WriteIpv4(address, storage) : 0;
  }
  if (socket_family == AF_INET6) return WriteIpv6(address, storage);
  return 0;
}

std::optional<Address> FromSockaddr(const sockaddr* sa, socklen_t length) {
  if (sa == nullptr || length < static_cast<socklen_t>(sizeof(sa_family_t))) {
    return std::nullopt;
  }
  if (sa->sa_family == AF_INET) {
    if (length < static_cast<socklen_t>(sizeof(sockaddr_in))) {
      return std::nullopt;
    }
    sockaddr_in sin;
    std::memcpy(&sin, sa, sizeof(sin));
    std::array<uint8_t, 4> ip;
    std::memcpy(ip.data(), &sin.sin_addr, 4);
    return Address::Ipv4(ip, ntohs(sin.sin_port));
  }
  if (sa->sa_family == AF_INET6) {
    if (length < static_cast<socklen_t>(sizeof(sockaddr_in6))) {
      return std::nullopt;
    }
    sockaddr_in6 sin6;
    std::memcpy(&sin6, sa, sizeof(sin6));
    const uint8_t* bytes = sin6.sin6_addr.s6_addr;
    if (std::memcmp(bytes, kV4MappedPrefix.data(), kV4MappedPrefix.size()) ==
        0) {
      std::array<uint8_t, 4> ip;
      std::memcpy(ip.data(), bytes + 12, 4);
      return Address::Ipv4(ip, ntohs(sin6.sin6_port));
    }
    std::array<uint8_t, 16> ip;
    std::memcpy(ip.data(), bytes, 16);
    return Address::Ipv6(ip, ntohs(sin6.sin6_port));
  }
  return std::nullopt;
}

}  // namespace elara
