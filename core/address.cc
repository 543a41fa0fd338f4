#include "core/address.h"

#include <arpa/inet.h>

#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"

namespace elara {

Address Address::Ipv4(const std::array<uint8_t, 4>& ip, uint16_t port) {
  Address a;
  a.kind_ = Kind::kIpv4;
  a.port_ = port;
  std::memcpy(a.ip_.data(), ip.data(), ip.size());
  return a;
}

Address Address::Ipv6(const std::array<uint8_t, 16>& ip, uint16_t port) {
  Address a;
  a.kind_ = Kind::kIpv6;
  a.port_ = port;
  a.ip_ = ip;
  return a;
}

namespace {

std::optional<uint16_t> ParsePort(std::string_view text) {
  uint32_t port = 0;
  if (text.empty() ||
      !absl::SimpleAtoi(absl::string_view(text.data(), text.size()), &port) ||
      port > 65535) {
    return std::nullopt;
  }
  return static_cast<uint16_t>(port);
}

}  // namespace

std::optional<Address> Address::Parse(std::string_view text) {
  if (text.substr(0, 4) == "sim:") {
    uint32_t index = 0;
    std::string_view digits = text.substr(4);
    if (digits.empty() ||
        !absl::SimpleAtoi(absl::string_view(digits.data(), digits.size()),
                          &index)) {
      return std::nullopt;
    }
    return Sim(index);
  }
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() ||
        text[close + 1] != ':') {
      return std::nullopt;
    }
    std::string host(text.substr(1, close - 1));
    std::optional<uint16_t> port = ParsePort(text.substr(close + 2));
    std::array<uint8_t, 16> ip{};
    if (!port || inet_pton(AF_INET6, host.c_str(), ip.data()) != 1) {
      return std::nullopt;
    }
    return Ipv6(ip, *port);
  }
  size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  std::string host(text.substr(0, colon));
  std::optional<uint16_t> port = ParsePort(text.substr(colon + 1));
  std::array<uint8_t, 4> ip{};
  if (!port || inet_pton(AF_INET, host.c_str(), ip.data()) != 1) {
    return std::nullopt;
  }
  return Ipv4(ip, *port);
}

std::string Address::ToString() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (kind_) {
    case Kind::kNone:
      return "none";
    case Kind::kSim:
      return absl::StrFormat("sim:%d", sim_index());
    case Kind::kIpv4:
      inet_ntop(AF_INET, ip_.data(), buf, sizeof(buf));
      return absl::StrFormat("%s:%d", buf, port_);
    case Kind::kIpv6:
      inet_ntop(AF_INET6, ip_.data(), buf, sizeof(buf));
      return absl::StrFormat("[%s]:%d", buf, port_);
  }
  return "invalid";
}

}  // namespace elara
