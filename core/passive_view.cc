// The passive view in 16 bytes an entry (a scan tag and 15). A Sim or IPv4
// address has nothing past its fourth byte (Address's factories zero the rest,
// and its port is 0 for Sim), so the entry holds it whole; only IPv6 needs the
// side table.
#include "core/passive_view.h"

#include <bit>
#include <cassert>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace elara {

PassiveView::PassiveView(size_t capacity)
    : bytes_(std::make_unique<uint8_t[]>(kEntryBytes * capacity +
                                         TagBytes(capacity))),
      capacity_(static_cast<uint32_t>(capacity)) {
  assert(capacity < (size_t{1} << 30));
}

PeerEntry PassiveView::operator[](size_t index) const {
  assert(index < size_);
  return Decode(index);
}

int PassiveView::Find(NodeId id) const {
  const uint64_t value = id.value();
  const uint8_t tag = TagOf(id);
  const uint8_t* tags = this->tags();
  const size_t n = size_;
#if defined(__SSE2__)
  // Whole blocks, two vectors each: the padding to a multiple of kTagBlock
  // is allocated and zeroed, and its lanes are masked off here.
  static_assert(kTagBlock == 2 * sizeof(__m128i));
  const __m128i target = _mm_set1_epi8(static_cast<char>(tag));
  for (size_t i = 0; i < n; i += kTagBlock) {
    const __m128i first =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(tags + i));
    const __m128i second =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(tags + i + 16));
    // One mask bit a tag.
    uint32_t matches =
        static_cast<uint32_t>(
            _mm_movemask_epi8(_mm_cmpeq_epi8(first, target))) |
        static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(second, target)))
            << 16;
    if (n - i < kTagBlock) matches &= (uint32_t{1} << (n - i)) - 1;
    while (matches != 0) {
      const size_t index = i + static_cast<size_t>(std::countr_zero(matches));
      if (IdAt(index) == value) return static_cast<int>(index);
      matches &= matches - 1;
    }
  }
#else
  for (size_t i = 0; i < n; ++i) {
    if (tags[i] == tag && IdAt(i) == value) return static_cast<int>(i);
  }
#endif
  return -1;
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
  tags()[index] = TagOf(peer.id);
  uint8_t* bytes = entry(index);
  std::memcpy(bytes + kId, &id, sizeof id);
  if (address.kind() == Address::Kind::kIpv6) {
    const uint32_t slot = TakeIpv6Slot(address.ip());
    std::memcpy(bytes + kAddress, &slot, sizeof slot);
  } else {
    std::memcpy(bytes + kAddress, address.ip().data(), 4);
  }
  const uint16_t port = address.port();
  std::memcpy(bytes + kPort, &port, sizeof port);
  bytes[kKind] = static_cast<uint8_t>(address.kind());
  assert(Decode(index) == peer);  // exact, whatever the kind
}

void PassiveView::Erase(size_t index) {
  assert(index < size_);
  const uint8_t* bytes = entry(index);
  if (static_cast<Address::Kind>(bytes[kKind]) == Address::Kind::kIpv6) {
    uint32_t slot;
    std::memcpy(&slot, bytes + kAddress, sizeof slot);
    FreeIpv6Slot(slot);
  }
  const size_t after = size_ - 1 - index;
  std::memmove(&tags()[index], &tags()[index + 1], after);
  std::memmove(entry(index), entry(index + 1), after * kEntryBytes);
  --size_;
}

size_t PassiveView::HeapBytes() const {
  size_t bytes = kEntryBytes * capacity_ + TagBytes(capacity_);
  if (ipv6_ != nullptr) {
    bytes += sizeof(Ipv6Slots) + ipv6_->bytes.capacity() * sizeof(Ipv6Bytes) +
             ipv6_->free.capacity() * sizeof(uint32_t);
  }
  return bytes;
}

PeerEntry PassiveView::Decode(size_t index) const {
  const uint8_t* bytes = entry(index);
  const NodeId peer_id(IdAt(index));
  uint32_t word;
  std::memcpy(&word, bytes + kAddress, sizeof word);
  uint16_t port;
  std::memcpy(&port, bytes + kPort, sizeof port);
  switch (static_cast<Address::Kind>(bytes[kKind])) {
    case Address::Kind::kSim:
      return {peer_id, Address::Sim(word)};
    case Address::Kind::kIpv4: {
      std::array<uint8_t, 4> ip;
      std::memcpy(ip.data(), &word, ip.size());
      return {peer_id, Address::Ipv4(ip, port)};
    }
    case Address::Kind::kIpv6:
      return {peer_id, Address::Ipv6(ipv6_->bytes[word], port)};
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

void PassiveView::FreeIpv6Slot(uint32_t slot) { ipv6_->free.push_back(slot); }

}  // namespace elara
