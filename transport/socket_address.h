// File: transport/socket_address.h
//
// Conversion between ELARA's opaque `Address` (core/address.h) and the
// kernel's `sockaddr_storage`.
//
// Guarantees:
//   - An IPv4 or IPv6 Address survives a round trip through a sockaddr of
//     its own family unchanged (ip bytes and host-order port).
//   - On an AF_INET6 socket an IPv4 Address is written as the v4-mapped
//     IPv6 address ::ffff:a.b.c.d, and a v4-mapped sockaddr_in6 read back
//     becomes an IPv4 Address again, so a peer reached over a dual-stack
//     socket compares equal to the same peer seen over an IPv4 socket.
//   - Nothing else is accepted: kSim/kNone addresses, an IPv6 Address on an
//     AF_INET socket, and unknown or too-short sockaddrs are refused (length
//     0 / nullopt). IPv6 flow labels and scope ids are not represented.
//
// Example:
//   sockaddr_storage ss;
//   socklen_t len = ToSockaddr(Address::Parse("1.2.3.4:5").value(),
//                              AF_INET6, &ss);   // ::ffff:1.2.3.4 port 5
//   std::optional<Address> back =
//       FromSockaddr(reinterpret_cast<const sockaddr*>(&ss), len);
//   // *back == 1.2.3.4:5, kind kIpv4
//
// Thread-safety: pure functions.
#ifndef ELARA_TRANSPORT_SOCKET_ADDRESS_H_
#define ELARA_TRANSPORT_SOCKET_ADDRESS_H_

#include <sys/socket.h>

#include <optional>

#include "core/address.h"

namespace elara {

// Writes `address` as a sockaddr usable on a socket of `socket_family`
// (AF_INET or AF_INET6) and returns its length, or 0 if it cannot be
// represented there.
socklen_t ToSockaddr(const Address& address, int socket_family,
                     sockaddr_storage* storage);

// The natural family of an address: AF_INET for kIpv4, AF_INET6 for kIpv6,
// AF_UNSPEC otherwise.
int NativeFamily(const Address& address);

// Reads a sockaddr_in / sockaddr_in6 (v4-mapped becomes kIpv4). Returns
// nullopt for any other family or a length too short for its family.
std::optional<Address> FromSockaddr(const sockaddr* sa, socklen_t length);

}  // namespace elara

#endif  // ELARA_TRANSPORT_SOCKET_ADDRESS_H_
