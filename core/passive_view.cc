// The passive view in 16-byte entries. A Sim or IPv4 address has nothing
// past its fourth byte (Address's factories zero the rest, and its port is
// 0 for Sim), so the entry holds it whole; only IPv6 needs the side table.
#include "core/passive_view.h"

#include <cassert>
#include <cstring>

namespace elara {

PassiveView::PassiveView(size_t capacity) { entries_.reserve(capacity); }

PeerEntry PassiveView::operator[](size_t index) const {
  assert(index < entries_.size());
  return Decode(entries_[index]);
}

std::vector<PeerEntry> PassiveView::ToVector() const {
  std::vector<PeerEntry> peers;
  peers.reserve(entries_.size());
  for (const Entry& entry : entries_) peers.push_back(Decode(entry));
  return peers;
}

void PassiveView::push_back(const PeerEntry& peer) {
  assert(!full());
  entries_.push_back(Encode(peer));
  assert(Decode(entries_.back()) == peer);  // exact, whatever the kind
}

void PassiveView::Erase(size_t index) {
  assert(index < entries_.size());
  const Entry& entry = entries_[index];
  if (entry.kind == Address::Kind::kIpv6) {
    ipv6_->free.push_back(entry.address_word);
  }
  entries_.erase(entries_.begin() + static_cast<ptrdiff_t>(index));
}

size_t PassiveView::HeapBytes() const {
  size_t bytes = entries_.capacity() * sizeof(Entry);
  if (ipv6_ != nullptr) {
    bytes += sizeof(Ipv6Slots) + ipv6_->bytes.capacity() * sizeof(Ipv6Bytes) +
             ipv6_->free.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

PassiveView::Entry PassiveView::Encode(const PeerEntry& peer) {
  const Address& address = peer.address;
  Entry entry{peer.id, 0, address.port(), address.kind()};
  if (address.kind() == Address::Kind::kIpv6) {
    entry.address_word = TakeIpv6Slot(address.ip());
  } else {
    std::memcpy(&entry.address_word, address.ip().data(), 4);
  }
  return entry;
}

PeerEntry PassiveView::Decode(const Entry& entry) const {
  switch (entry.kind) {
    case Address::Kind::kSim:
      return {entry.id, Address::Sim(entry.address_word)};
    case Address::Kind::kIpv4: {
      std::array<uint8_t, 4> ip;
      std::memcpy(ip.data(), &entry.address_word, ip.size());
      return {entry.id, Address::Ipv4(ip, entry.port)};
    }
    case Address::Kind::kIpv6:
      return {entry.id,
              Address::Ipv6(ipv6_->bytes[entry.address_word], entry.port)};
    case Address::Kind::kNone:
      break;
  }
  return {entry.id, Address()};
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
