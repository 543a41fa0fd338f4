// File: core/address.h
//
// An `Address` is opaque to the protocol: the core stores it, compares it and
// gossips it, and only the driver knows what it means. Three kinds exist:
//   - kSim:  a node index inside the simulator (32 bits);
//   - kIpv4: an IPv4 address and UDP port;
//   - kIpv6: an IPv6 address and UDP port.
// The value is 20 bytes, fixed, so it can sit in views and queues without
// allocation. The wire encoding is in core/wire.h.
//
// Thread-safety: value type, freely copyable.
#ifndef ELARA_CORE_ADDRESS_H_
#define ELARA_CORE_ADDRESS_H_

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace elara {

class Address {
 public:
  enum class Kind : uint8_t { kNone = 0, kSim = 1, kIpv4 = 2, kIpv6 = 3 };

  constexpr Address() = default;
  static Address Sim(uint32_t node_index) {
    Address a;
    a.kind_ = Kind::kSim;
    std::memcpy(a.ip_.data(), &node_index, sizeof(node_index));
    return a;
  }
  static Address Ipv4(const std::array<uint8_t, 4>& ip, uint16_t port);
  static Address Ipv6(const std::array<uint8_t, 16>& ip, uint16_t port);
  // Parses "1.2.3.4:5", "[::1]:5" or "sim:17". Returns nullopt on error.
  static std::optional<Address> Parse(std::string_view text);

  Kind kind() const { return kind_; }
  bool valid() const { return kind_ != Kind::kNone; }
  // REQUIRES: kind() == kSim.
  uint32_t sim_index() const {
    uint32_t index;
    std::memcpy(&index, ip_.data(), sizeof(index));
    return index;
  }
  uint16_t port() const { return port_; }
  // First 4 (IPv4) or 16 (IPv6) bytes are meaningful.
  const std::array<uint8_t, 16>& ip() const { return ip_; }

  std::string ToString() const;

  auto operator<=>(const Address&) const = default;
  // Memberwise, as the defaulted one would be, but the 16 address bytes
  // are compared as two words: GCC 12 compiles std::array's == into a
  // memcmp call, and the engine compares addresses for every frame it
  // sends (Flush groups frames by destination).
  friend bool operator==(const Address& a, const Address& b) {
    uint64_t a_ip[2];
    uint64_t b_ip[2];
    std::memcpy(a_ip, a.ip_.data(), sizeof(a_ip));
    std::memcpy(b_ip, b.ip_.data(), sizeof(b_ip));
    return a.kind_ == b.kind_ && a.port_ == b.port_ && a_ip[0] == b_ip[0] &&
           a_ip[1] == b_ip[1];
  }
  template <typename H>
  friend H AbslHashValue(H h, const Address& a) {
    return H::combine(std::move(h), a.kind_, a.port_, a.ip_);
  }

 private:
  Kind kind_ = Kind::kNone;
  uint16_t port_ = 0;
  std::array<uint8_t, 16> ip_{};
};

}  // namespace elara

#endif  // ELARA_CORE_ADDRESS_H_
