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
namespace {

// p[i] = p[i + 1] for i < n: memmove(p, p + 1, n) for the tags, which are
// a view's length (a few dozen bytes), inline. Every load of a step comes
// before its store: 16-byte steps forward (each reads past what the one
// before wrote), the last 16 bytes loaded first; under 16, two
// overlapping words.
template <typename Word>
void MoveDownOneWords(uint8_t* p, size_t n) {
  Word first, last;
  std::memcpy(&first, p + 1, sizeof first);
  std::memcpy(&last, p + 1 + n - sizeof last, sizeof last);
  std::memcpy(p, &first, sizeof first);
  std::memcpy(p + n - sizeof last, &last, sizeof last);
}
struct Bytes16 {
  uint64_t words[2];
};
inline void MoveDownOne(uint8_t* p, size_t n) {
  if (n >= 16) {
    Bytes16 tail;
    std::memcpy(&tail, p + 1 + n - 16, 16);
    for (size_t i = 0; i + 16 < n; i += 16) {
      Bytes16 step;
      std::memcpy(&step, p + 1 + i, 16);
      std::memcpy(p + i, &step, 16);
    }
    std::memcpy(p + n - 16, &tail, 16);
  } else if (n >= 8) {
    MoveDownOneWords<uint64_t>(p, n);
  } else if (n >= 4) {
    MoveDownOneWords<uint32_t>(p, n);
  } else if (n >= 2) {
    MoveDownOneWords<uint16_t>(p, n);
  } else if (n == 1) {
    p[0] = p[1];
  }
}

}  // namespace

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

inline void PassiveView::Store(size_t index, const PeerEntry& peer) {
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

void PassiveView::push_back(const PeerEntry& peer) {
  assert(!full());
  Store(size_++, peer);
}

void PassiveView::Erase(size_t index) {
  assert(index < size_);
  Release(index);
  const size_t after = size_ - 1 - index;
  std::memmove(&tags()[index], &tags()[index + 1], after);
  std::memmove(entry(index), entry(index + 1), after * kEntryBytes);
  --size_;
}

void PassiveView::EraseAndPush(size_t index, const PeerEntry& peer) {
  assert(index < size_);
  Release(index);
  const size_t last = size_ - 1;
  const size_t after = last - index;
  MoveDownOne(&tags()[index], after);
  std::memmove(entry(index), entry(index + 1), after * kEntryBytes);
  Store(last, peer);
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

void PassiveView::Release(size_t index) {
  const uint8_t* bytes = entry(index);
  if (static_cast<Address::Kind>(bytes[kKind]) == Address::Kind::kIpv6) {
    uint32_t slot;
    std::memcpy(&slot, bytes + kAddress, sizeof slot);
    FreeIpv6Slot(slot);
  }
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
