// File: transport/socket_address_test.cc
//
// Address <-> sockaddr conversion: round trips for both families, the
// v4-mapped mapping in both directions, and refusal of everything else.
#include "transport/socket_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cstring>

#include "gtest/gtest.h"

namespace elara {
namespace {

const sockaddr* AsSockaddr(const sockaddr_storage& storage) {
  return reinterpret_cast<const sockaddr*>(&storage);
}

TEST(SocketAddressTest, Ipv4RoundTrip) {
  const Address address = Address::Ipv4({192, 0, 2, 7}, 4242);
  sockaddr_storage storage;
  const socklen_t length = ToSockaddr(address, AF_INET, &storage);
  ASSERT_EQ(length, sizeof(sockaddr_in));
  const auto* sin = reinterpret_cast<const sockaddr_in*>(&storage);
  EXPECT_EQ(sin->sin_family, AF_INET);
  EXPECT_EQ(ntohs(sin->sin_port), 4242);
  EXPECT_EQ(ntohl(sin->sin_addr.s_addr), 0xC0000207u);
  EXPECT_EQ(FromSockaddr(AsSockaddr(storage), length), address);
}

TEST(SocketAddressTest, Ipv6RoundTrip) {
  const Address address = *Address::Parse("[2001:db8::1]:65535");
  sockaddr_storage storage;
  const socklen_t length = ToSockaddr(address, AF_INET6, &storage);
  ASSERT_EQ(length, sizeof(sockaddr_in6));
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  EXPECT_EQ(sin6->sin6_family, AF_INET6);
  EXPECT_EQ(ntohs(sin6->sin6_port), 65535);
  EXPECT_EQ(sin6->sin6_addr.s6_addr[0], 0x20);
  EXPECT_EQ(sin6->sin6_addr.s6_addr[15], 0x01);
  std::optional<Address> back = FromSockaddr(AsSockaddr(storage), length);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->kind(), Address::Kind::kIpv6);
  EXPECT_EQ(*back, address);
}

TEST(SocketAddressTest, Ipv4OnIpv6SocketIsV4MappedAndComesBackAsIpv4) {
  const Address address = Address::Ipv4({127, 0, 0, 1}, 9000);
  sockaddr_storage storage;
  const socklen_t length = ToSockaddr(address, AF_INET6, &storage);
  ASSERT_EQ(length, sizeof(sockaddr_in6));
  const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(&storage);
  EXPECT_TRUE(IN6_IS_ADDR_V4MAPPED(&sin6->sin6_addr));
  char text[INET6_ADDRSTRLEN];
  ASSERT_NE(inet_ntop(AF_INET6, &sin6->sin6_addr, text, sizeof(text)), nullptr);
  EXPECT_STREQ(text, "::ffff:127.0.0.1");
  std::optional<Address> back = FromSockaddr(AsSockaddr(storage), length);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->kind(), Address::Kind::kIpv4);
  EXPECT_EQ(*back, address);
}

TEST(SocketAddressTest, KernelV4MappedSockaddrBecomesIpv4) {
  // What recvmmsg reports on a dual-stack socket for an IPv4 peer.
  sockaddr_in6 sin6{};
  sin6.sin6_family = AF_INET6;
  sin6.sin6_port = htons(53);
  ASSERT_EQ(inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr), 1);
  std::optional<Address> from =
      FromSockaddr(reinterpret_cast<const sockaddr*>(&sin6), sizeof(sin6));
  ASSERT_TRUE(from.has_value());
  EXPECT_EQ(*from, Address::Ipv4({10, 1, 2, 3}, 53));
  EXPECT_EQ(from->ToString(), Address::Ipv4({10, 1, 2, 3}, 53).ToString());
}

TEST(SocketAddressTest, RefusesWhatASocketCannotUse) {
  sockaddr_storage storage;
  EXPECT_EQ(ToSockaddr(Address::Sim(3), AF_INET, &storage), 0u);
  EXPECT_EQ(ToSockaddr(Address::Sim(3), AF_INET6, &storage), 0u);
  EXPECT_EQ(ToSockaddr(Address(), AF_INET6, &storage), 0u);
  EXPECT_EQ(ToSockaddr(*Address::Parse("[::1]:1"), AF_INET, &storage), 0u);
  EXPECT_EQ(ToSockaddr(Address::Ipv4({1, 2, 3, 4}, 1), AF_UNIX, &storage), 0u);
  EXPECT_EQ(NativeFamily(Address::Sim(1)), AF_UNSPEC);
}

TEST(SocketAddressTest, RefusesUnknownFamiliesAndShortLengths) {
  sockaddr_un un{};
  un.sun_family = AF_UNIX;
  EXPECT_FALSE(
      FromSockaddr(reinterpret_cast<const sockaddr*>(&un), sizeof(un)));
  sockaddr_storage storage;
  const socklen_t v4 =
      ToSockaddr(Address::Ipv4({1, 2, 3, 4}, 5), AF_INET, &storage);
  EXPECT_FALSE(FromSockaddr(AsSockaddr(storage), v4 - 1));
  const socklen_t v6 =
      ToSockaddr(*Address::Parse("[::2]:5"), AF_INET6, &storage);
  EXPECT_FALSE(FromSockaddr(AsSockaddr(storage), v6 - 1));
  EXPECT_FALSE(FromSockaddr(AsSockaddr(storage), 0));
  EXPECT_FALSE(FromSockaddr(nullptr, sizeof(storage)));
}

}  // namespace
}  // namespace elara
