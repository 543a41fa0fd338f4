// File: core/address_test.cc
//
// Tests of Address: Parse/ToString round trips for all three kinds (fixed
// cases and seeded random values), rejection of malformed text, and the
// equality, ordering and hashing that views and queues rely on.
#include "core/address.h"

#include <array>
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "core/random.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

TEST(AddressTest, DefaultIsInvalid) {
  const Address a;
  EXPECT_EQ(a.kind(), Address::Kind::kNone);
  EXPECT_FALSE(a.valid());
  EXPECT_EQ(a.ToString(), "none");
  EXPECT_EQ(a, Address());
}

TEST(AddressTest, SimRoundTrip) {
  for (uint32_t index : {0u, 1u, 17u, 4294967295u}) {
    const Address a = Address::Sim(index);
    EXPECT_TRUE(a.valid());
    EXPECT_EQ(a.kind(), Address::Kind::kSim);
    EXPECT_EQ(a.sim_index(), index);
    EXPECT_EQ(a.port(), 0);
    EXPECT_EQ(a.ToString(), "sim:" + std::to_string(index));
    EXPECT_EQ(Address::Parse(a.ToString()), a);
  }
  EXPECT_EQ(Address::Parse("sim:17"), Address::Sim(17));
}

TEST(AddressTest, Ipv4RoundTrip) {
  const Address a = Address::Ipv4({192, 168, 1, 20}, 8080);
  EXPECT_EQ(a.kind(), Address::Kind::kIpv4);
  EXPECT_EQ(a.port(), 8080);
  EXPECT_EQ(a.ip()[0], 192);
  EXPECT_EQ(a.ip()[3], 20);
  EXPECT_EQ(a.ToString(), "192.168.1.20:8080");
  EXPECT_EQ(Address::Parse("192.168.1.20:8080"), a);
  EXPECT_EQ(Address::Parse("0.0.0.0:0"), Address::Ipv4({0, 0, 0, 0}, 0));
  EXPECT_EQ(Address::Parse("255.255.255.255:65535"),
            Address::Ipv4({255, 255, 255, 255}, 65535));
}

TEST(AddressTest, Ipv6RoundTrip) {
  std::array<uint8_t, 16> ip{};
  ip[0] = 0x20;
  ip[1] = 0x01;
  ip[2] = 0x0d;
  ip[3] = 0xb8;
  ip[15] = 0x01;
  const Address a = Address::Ipv6(ip, 443);
  EXPECT_EQ(a.kind(), Address::Kind::kIpv6);
  EXPECT_EQ(a.ip(), ip);
  EXPECT_EQ(a.ToString(), "[2001:db8::1]:443");
  EXPECT_EQ(Address::Parse("[2001:db8::1]:443"), a);
  std::array<uint8_t, 16> loopback{};
  loopback[15] = 1;
  EXPECT_EQ(Address::Parse("[::1]:5"), Address::Ipv6(loopback, 5));
  EXPECT_EQ(Address::Ipv6(loopback, 5).ToString(), "[::1]:5");
}

TEST(AddressTest, SeededRandomRoundTrips) {
  Random rng(2718);
  for (int i = 0; i < 3000; ++i) {
    Address a;
    const auto port = static_cast<uint16_t>(rng.Next64());
    switch (i % 3) {
      case 0:
        a = Address::Sim(static_cast<uint32_t>(rng.Next64()));
        break;
      case 1: {
        std::array<uint8_t, 4> ip;
        for (uint8_t& b : ip) b = static_cast<uint8_t>(rng.Next64());
        a = Address::Ipv4(ip, port);
        break;
      }
      default: {
        std::array<uint8_t, 16> ip;
        for (uint8_t& b : ip) {
          // Zero runs exercise the "::" compression.
          b = rng.OneIn(2) ? 0 : static_cast<uint8_t>(rng.Next64());
        }
        a = Address::Ipv6(ip, port);
      }
    }
    const std::optional<Address> parsed = Address::Parse(a.ToString());
    ASSERT_TRUE(parsed.has_value()) << a.ToString();
    EXPECT_EQ(*parsed, a) << a.ToString();
  }
}

TEST(AddressTest, RejectsMalformedText) {
  for (
      const char* text :
      {"",          "1.2.3.4", "1.2.3.4:",    "1.2.3.4:99999",  "1.2.3.4:65536",
       "1.2.3.4:x", "1.2.3:5", "256.1.1.1:5", "[::1]",          "[::1]:",
       "[::1]5",    "[::1:5",  "::1:5",       "[1.2.3.4]:5",    "[::g]:5",
       "sim:",      "sim:x",   "sim:-1",      "sim:4294967296", "SIM:1",
       "host:80",   ":80"}) {
    EXPECT_EQ(Address::Parse(text), std::nullopt) << '"' << text << '"';
  }
}

TEST(AddressTest, EqualityAndOrdering) {
  const Address sim = Address::Sim(5);
  const Address v4 = Address::Ipv4({10, 0, 0, 1}, 80);
  const Address v6 = Address::Ipv6({}, 80);
  // Kind orders first.
  EXPECT_LT(Address(), sim);
  EXPECT_LT(sim, v4);
  EXPECT_LT(v4, v6);
  // Then port, then ip bytes.
  EXPECT_LT(Address::Ipv4({10, 0, 0, 9}, 80), Address::Ipv4({10, 0, 0, 1}, 81));
  EXPECT_LT(Address::Ipv4({10, 0, 0, 1}, 80), Address::Ipv4({10, 0, 0, 2}, 80));
  EXPECT_LT(Address::Sim(1), Address::Sim(2));
  EXPECT_EQ(Address::Sim(5), sim);
  EXPECT_NE(Address::Sim(6), sim);
  EXPECT_NE(Address::Ipv4({10, 0, 0, 1}, 81), v4);
  // Same bytes, different kind: never equal.
  EXPECT_NE(Address::Ipv4({0, 0, 0, 0}, 80), v6);
  std::set<Address> sorted = {v6, v4, sim, Address::Sim(1)};
  EXPECT_EQ(std::vector<Address>(sorted.begin(), sorted.end()),
            (std::vector<Address>{Address::Sim(1), sim, v4, v6}));
}

TEST(AddressTest, HashAgreesWithEquality) {
  absl::flat_hash_set<Address> set;
  set.insert(Address::Sim(1));
  set.insert(Address::Sim(1));
  set.insert(*Address::Parse("10.0.0.1:80"));
  set.insert(Address::Ipv4({10, 0, 0, 1}, 80));
  set.insert(Address::Ipv4({10, 0, 0, 1}, 81));
  EXPECT_EQ(set.size(), 3u);
  EXPECT_TRUE(set.contains(Address::Sim(1)));
  EXPECT_FALSE(set.contains(Address::Sim(2)));
}

}  // namespace
}  // namespace elara
