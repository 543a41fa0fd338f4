// The passive view in 16 bytes an entry. A Sim or IPv4 address has nothing
// past its fourth byte (Address's factories zero the rest, and its port is
// 0 for Sim), so the entry holds it whole; only IPv6 needs the side table.
#include "core/passive_view.h"

#include <algorithm>
#include <cassert>
#include <cstring>

namespace elara {

PassiveView::PassiveView(size_t capacity)
    : words_(std::make_unique<uint32_t[]>(kRestWords * capacity +
                                          LowWords(capacity))),
      capacity_(static_cast<uint32_t>(capacity)) {
  assert(capacity < (size_t{1} << 30));
}

PeerEntry PassiveView::operator[](size_t index) const {
  assert(index < size_);
  return Decode(index);
}

int PassiveView::Find(NodeId id) const {
  // Four low words a vector (SSE2 on x86-64, NEON on Arm), two a block.
  using Lanes = uint32_t __attribute__((vector_size(16)));
  static_assert(kLowBlock * sizeof(uint32_t) == 2 * sizeof(Lanes));
  const uint64_t value = id.value();
  const uint32_t id_low = static_cast<uint32_t>(value);
  const uint32_t id_high = static_cast<uint32_t>(value >> 32);
  const size_t n = size_;
  const uint32_t* words = lows();
  // Every block that holds an entry, padding and all: no early exit and no
  // tail, so a few instructions a block. A match in the padding (zero, or a
  // word left by Erase) only costs the exact search below.
  const Lanes target = Lanes{} + id_low;
  Lanes seen{};
  for (size_t i = 0; i < n; i += kLowBlock) {
    Lanes first, second;
    std::memcpy(&first, &words[i], sizeof first);
    std::memcpy(&second, &words[i + kLowBlock / 2], sizeof second);
    seen |= static_cast<Lanes>((first == target) | (second == target));
  }
  uint64_t halves[2];
  std::memcpy(halves, &seen, sizeof halves);
  if ((halves[0] | halves[1]) == 0) return -1;
  // The low words alone, then the high word of each that matches.
  const uint32_t* end = words + n;
  for (const uint32_t* p = words;; ++p) {
    p = std::find(p, end, id_low);
    if (p == end) return -1;
    const size_t i = static_cast<size_t>(p - words);
    if (rest(i)[kHigh] == id_high) return static_cast<int>(i);
  }
}

std::vector<PeerEntry> PassiveView::ToVector() const {
  std::vector<PeerEntry> peers;
  peers.reserve(size_);
  for (size_t i = 0; i < size_; ++i) peers.push_back(Decode(i));
  return peers;
}

void PassiveView::push_back(const PeerEntry& peer) {
  assert(!full());
  const size_t index = size_++;
  const uint64_t id = peer.id.value();
  const Address& address = peer.address;
  lows()[index] = static_cast<uint32_t>(id);
  uint32_t* entry = rest(index);
  entry[kHigh] = static_cast<uint32_t>(id >> 32);
  if (address.kind() == Address::Kind::kIpv6) {
    entry[kAddress] = TakeIpv6Slot(address.ip());
  } else {
    std::memcpy(&entry[kAddress], address.ip().data(), 4);
  }
  entry[kPortAndKind] =
      uint32_t{address.port()} | static_cast<uint32_t>(address.kind()) << 16;
  assert(Decode(index) == peer);  // exact, whatever the kind
}

void PassiveView::Erase(size_t index) {
  assert(index < size_);
  const uint32_t* entry = rest(index);
  if (static_cast<Address::Kind>(entry[kPortAndKind] >> 16) ==
      Address::Kind::kIpv6) {
    ipv6_->free.push_back(entry[kAddress]);
  }
  const size_t after = size_ - 1 - index;
  std::memmove(&lows()[index], &lows()[index + 1], after * sizeof(uint32_t));
  std::memmove(rest(index), rest(index + 1),
               after * kRestWords * sizeof(uint32_t));
  --size_;
}

size_t PassiveView::HeapBytes() const {
  size_t bytes =
      (kRestWords * capacity_ + LowWords(capacity_)) * sizeof(uint32_t);
  if (ipv6_ != nullptr) {
    bytes += sizeof(Ipv6Slots) + ipv6_->bytes.capacity() * sizeof(Ipv6Bytes) +
             ipv6_->free.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

PeerEntry PassiveView::Decode(size_t index) const {
  const uint32_t* entry = rest(index);
  const NodeId peer_id = id(index);
  const uint16_t port = static_cast<uint16_t>(entry[kPortAndKind]);
  switch (static_cast<Address::Kind>(entry[kPortAndKind] >> 16)) {
    case Address::Kind::kSim:
      return {peer_id, Address::Sim(entry[kAddress])};
    case Address::Kind::kIpv4: {
      std::array<uint8_t, 4> ip;
      std::memcpy(ip.data(), &entry[kAddress], ip.size());
      return {peer_id, Address::Ipv4(ip, port)};
    }
    case Address::Kind::kIpv6:
      return {peer_id, Address::Ipv6(ipv6_->bytes[entry[kAddress]], port)};
    case Address::Kind::kNone:
      break;
  }
  return {peer_id, Address()};
}

// A freed slot if there is one, else a new one: the table never holds more
// slots than IPv6 entries were stored at once.
uint32_t PassiveView::TakeIpv6Slot(const Ipv6Bytes& ip) {
  if (ipv6_ == nullptr) ipv6_ = std::make_unique<Ipv6Slots>();
  uint32_t slot;
  if (!ipv6_->free.empty()) {
    slot = ipv6_->free.back();
    ipv6_->free.pop_back();
    ipv6_->bytes[slot] = ip;
  } else {
    slot = static_cast<uint32_t>(ipv6_->bytes.size());
    ipv6_->bytes.push_back(ip);
  }
  return slot;
}

}  // namespace elara
