// File: core/wire_test.cc
//
// Tests of the wire codec: seeded random round trips of every frame type
// (extremes included), multi-frame datagrams, the builder's size budget, and
// hostile input (every prefix, every single-byte mutation, random garbage)
// which must decode to a value or an error and never crash. Because the
// encoding is canonical, any input that decodes must re-encode to the very
// same bytes; the hostile tests check that too. Run under ASan in CI.
#include "core/wire.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "core/random.h"
#include "gtest/gtest.h"

namespace elara {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();
constexpr size_t kFrameKinds = std::variant_size_v<Frame>;

// Shared pool of payload bytes; GossipFrame payloads are spans into it.
const std::vector<uint8_t>& PayloadPool() {
  static const std::vector<uint8_t>* pool = [] {
    auto* bytes = new std::vector<uint8_t>(kMaxMaxDatagramBytes);
    Random rng(99);
    for (uint8_t& b : *bytes) b = static_cast<uint8_t>(rng.Next64());
    return bytes;
  }();
  return *pool;
}

// Generates random frames with field values biased towards the extremes.
class FrameGenerator {
 public:
  // `max_list` and `max_payload_bytes` bound the sizes; datagrams built with
  // the defaults fit in kMaxMaxDatagramBytes.
  FrameGenerator(uint64_t seed, size_t max_list = kMaxListEntries,
                 size_t max_payload_bytes = kMaxMaxDatagramBytes)
      : rng_(seed),
        max_list_(max_list),
        max_payload_bytes_(max_payload_bytes) {}

  Random& rng() { return rng_; }

  uint64_t U64() {
    switch (rng_.UniformBelow(8)) {
      case 0:
        return 0;
      case 1:
        return kU64Max;
      case 2:
        return 1;
      case 3:  // A varint length boundary: 2^(7k) - 1 or 2^(7k).
        return (uint64_t{1} << (7 * rng_.UniformBetween(1, 9))) -
               rng_.UniformBelow(2);
      case 4:
        return uint64_t{1} << 63;
      default:  // Random bit width.
        return rng_.Next64() >> rng_.UniformBelow(64);
    }
  }
  uint32_t U32() {
    switch (rng_.UniformBelow(4)) {
      case 0:
        return 0;
      case 1:
        return kU32Max;
      default:
        return static_cast<uint32_t>(U64());
    }
  }
  uint16_t Port() {
    switch (rng_.UniformBelow(4)) {
      case 0:
        return 0;
      case 1:
        return 65535;
      default:
        return static_cast<uint16_t>(rng_.Next64());
    }
  }
  bool Bool() { return rng_.OneIn(2); }
  NodeId Id() { return NodeId(U64()); }
  MessageId Message() {
    uint64_t sequence = U64();
    if (sequence == 0) sequence = rng_.OneIn(2) ? 1 : kU64Max;
    return MessageId{Id(), sequence};
  }
  Address Addr() {
    switch (rng_.UniformBelow(3)) {
      case 0:
        return Address::Sim(U32());
      case 1: {
        std::array<uint8_t, 4> ip;
        for (uint8_t& b : ip) b = static_cast<uint8_t>(rng_.Next64());
        return Address::Ipv4(ip, Port());
      }
      default: {
        std::array<uint8_t, 16> ip;
        for (uint8_t& b : ip) b = static_cast<uint8_t>(rng_.Next64());
        return Address::Ipv6(ip, Port());
      }
    }
  }
  PeerEntry Peer() { return PeerEntry{Id(), Addr()}; }
  size_t ListSize() {
    switch (rng_.UniformBelow(4)) {
      case 0:
        return 0;
      case 1:
        return max_list_;
      default:
        return rng_.UniformBelow(max_list_ + 1);
    }
  }
  std::vector<PeerEntry> Peers() {
    std::vector<PeerEntry> peers(ListSize());
    for (PeerEntry& p : peers) p = Peer();
    return peers;
  }
  std::vector<MessageId> Ids() {
    std::vector<MessageId> ids(ListSize());
    for (MessageId& id : ids) id = Message();
    return ids;
  }
  GossipFrame Gossip() {
    GossipFrame f{Message(), U32(), {}};
    // Largest payload whose frame still fits a kMaxMaxDatagramBytes datagram
    // (the frame length needs 3 varint bytes at that size).
    const size_t fit = kMaxMaxDatagramBytes - kDatagramHeaderBytes - 1 - 3 - 8 -
                       VarintBytes(f.id.sequence) - VarintBytes(f.hops);
    const size_t max = std::min(fit, max_payload_bytes_);
    size_t n = 0;
    switch (rng_.UniformBelow(4)) {
      case 0:
        n = 0;
        break;
      case 1:
        n = max;
        break;
      default:
        n = rng_.UniformBelow(max + 1);
    }
    const size_t offset = rng_.UniformBelow(PayloadPool().size() - n + 1);
    f.payload = std::span<const uint8_t>(PayloadPool().data() + offset, n);
    return f;
  }

  // A byte span of the payload pool, at most max_bytes long (extremes
  // likely).
  std::span<const uint8_t> Bytes(size_t max_bytes) {
    size_t n = 0;
    switch (rng_.UniformBelow(4)) {
      case 0:
        n = 0;
        break;
      case 1:
        n = max_bytes;
        break;
      default:
        n = rng_.UniformBelow(max_bytes + 1);
    }
    const size_t offset = rng_.UniformBelow(PayloadPool().size() - n + 1);
    return std::span<const uint8_t>(PayloadPool().data() + offset, n);
  }
  StateVersion Version() {
    uint64_t wall = U64();
    if (wall > kMaxHlcWallMicros) wall = rng_.OneIn(2) ? kMaxHlcWallMicros : 0;
    return StateVersion{wall, U32(), Id()};
  }
  StateRecord Record(size_t max_value_bytes) {
    StateRecord r{StateId(U64()), Version(), rng_.OneIn(3), {}};
    if (!r.deleted) r.value = Bytes(max_value_bytes);
    return r;
  }
  uint64_t Count32() {
    const uint64_t v = U64();
    return v > kU32Max ? (rng_.OneIn(2) ? kU32Max : v >> 32) : v;
  }
  StateDeltaFrame Delta() {
    StateDeltaFrame f;
    f.round = U32();
    f.has_resume = Bool();
    if (f.has_resume) f.resume = U64();
    f.records.resize(ListSize());
    // Keep a 256-record delta well inside kMaxMaxDatagramBytes.
    const size_t value_max =
        std::min<size_t>(max_payload_bytes_, 8000 / (f.records.size() + 1));
    for (StateRecord& r : f.records) r = Record(value_max);
    return f;
  }
  StateSketchFrame Sketch() {
    StateSketchFrame f{U32(), U64(), U64(), 0, {}};
    f.cells.resize(ListSize());
    f.start = rng_.OneIn(4)
                  ? kMaxSketchIndex - f.cells.size()
                  : rng_.UniformBelow(kMaxSketchIndex - f.cells.size() + 1);
    for (SketchCell& c : f.cells) {
      c = SketchCell{static_cast<uint8_t>(U64()), U64(), U32()};
    }
    return f;
  }
  StateSketchRequestFrame SketchRequest() {
    StateSketchRequestFrame f{U32(), U64(), Version().wall_us, 0, 0};
    f.start = rng_.UniformBelow(kMaxSketchIndex);
    f.cells = rng_.OneIn(4) ? kMaxSketchIndex - f.start
                            : 1 + rng_.UniformBelow(kMaxSketchIndex - f.start);
    return f;
  }

  // A random frame of the Frame alternative `index`.
  Frame Make(size_t index) {
    switch (index) {
      case 0:
        return JoinFrame{};
      case 1:
        return JoinReplyFrame{};
      case 2:
        return ForwardJoinFrame{Peer(), static_cast<uint8_t>(U64())};
      case 3:
        return NeighborFrame{Bool()};
      case 4:
        return NeighborReplyFrame{Bool()};
      case 5:
        switch (rng_.UniformBelow(3)) {
          case 0:
            return DisconnectFrame{DisconnectReason::kEvicted};
          case 1:
            return DisconnectFrame{DisconnectReason::kLeaving};
          default:
            return DisconnectFrame{DisconnectReason::kSwapped, Peer()};
        }
      case 6:
        return ShuffleFrame{Peer(), static_cast<uint8_t>(U64()), Peers()};
      case 7:
        return ShuffleReplyFrame{Peers()};
      case 8:
        return PingFrame{U64()};
      case 9:
        return PongFrame{U64()};
      case 10:
        return Gossip();
      case 11: {
        IHaveFrame f;
        f.entries.resize(ListSize());
        for (IHaveEntry& e : f.entries) e = IHaveEntry{Message(), U32()};
        return f;
      }
      case 12:
        return GraftFrame{Ids()};
      case 13:
        return PruneFrame{};
      case 14:
        return IWantFrame{Ids()};
      case 15:
        return StateUpdateFrame{
            Bool(), U32(), Record(std::min<size_t>(max_payload_bytes_, 60000))};
      case 16:
        return StateDigestFrame{U32(), Count32(), U64()};
      case 17: {
        StateRangesFrame f{U32(), {}};
        f.slices.resize(ListSize());
        for (StateSliceDigest& d : f.slices) {
          d = StateSliceDigest{Count32(), static_cast<uint16_t>(U64())};
        }
        return f;
      }
      case 18:
        return SketchRequest();
      case 19:
        return Sketch();
      case 20:
        return Delta();
      case 21: {
        StateRequestFrame f{U32(), Count32(), {}};
        f.keys.resize(ListSize());
        for (StateKeyTag& k : f.keys) k = StateKeyTag{StateId(U64()), U32()};
        return f;
      }
      case 22: {
        uint64_t a = U64(), b = U64();
        if (a > b) std::swap(a, b);
        return StateStreamRequestFrame{U32(), a, b, Count32()};
      }
      case 23:
        return SwapFrame{Peer()};
      case 25: {
        DigestFrame f;
        f.entries.resize(ListSize());
        for (IHaveEntry& e : f.entries) e = IHaveEntry{Message(), U32()};
        return f;
      }
      default: {
        const bool accepted = Bool();
        return SwapReplyFrame{accepted, accepted && Bool()
                                            ? std::optional<PeerEntry>(Peer())
                                            : std::nullopt};
      }
    }
  }
  Frame Any() { return Make(rng_.UniformBelow(kFrameKinds)); }

 private:
  Random rng_;
  size_t max_list_;
  size_t max_payload_bytes_;
};

std::vector<uint8_t> Encode(NodeId sender, const std::vector<Frame>& frames) {
  DatagramBuilder builder(sender, kMaxMaxDatagramBytes);
  for (const Frame& f : frames) {
    EXPECT_EQ(builder.Add(f), WireError::kOk) << FrameTypeName(TypeOf(f));
  }
  return builder.Finish();
}

// The hostile-input property: decoding never crashes, an error leaves no
// frames, and a success re-encodes to exactly the input (canonical form).
void ExpectDecodesCanonicallyOrFails(std::span<const uint8_t> bytes) {
  DecodedDatagram out;
  const WireError error = DecodeDatagram(bytes, &out);
  if (error != WireError::kOk) {
    EXPECT_TRUE(out.frames.empty());
    EXPECT_LT(error, WireError::kTooLarge) << WireErrorName(error);
    return;
  }
  ASSERT_FALSE(out.frames.empty());
  const std::vector<uint8_t> again = Encode(out.sender, out.frames);
  EXPECT_TRUE(
      std::equal(bytes.begin(), bytes.end(), again.begin(), again.end()));
}

std::vector<uint8_t> Header(uint8_t version = kWireVersion) {
  std::vector<uint8_t> bytes = {version};
  for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(0x10 + i));
  return bytes;
}

// Header plus one frame with the given raw type, length and body.
std::vector<uint8_t> RawFrame(uint8_t type, const std::vector<uint8_t>& body) {
  std::vector<uint8_t> bytes = Header();
  bytes.push_back(type);
  AppendVarint(body.size(), &bytes);
  bytes.insert(bytes.end(), body.begin(), body.end());
  return bytes;
}

WireError Decode(const std::vector<uint8_t>& bytes) {
  DecodedDatagram out;
  return DecodeDatagram(bytes, &out);
}

std::vector<uint8_t> Le64(uint64_t v) {
  std::vector<uint8_t> bytes;
  for (int i = 0; i < 8; ++i)
    bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
  return bytes;
}

std::vector<uint8_t> Concat(std::vector<std::vector<uint8_t>> parts) {
  std::vector<uint8_t> all;
  for (const auto& p : parts) all.insert(all.end(), p.begin(), p.end());
  return all;
}

// --- Varints -------------------------------------------------------------

TEST(VarintTest, KnownEncodings) {
  const std::vector<std::pair<uint64_t, std::vector<uint8_t>>> cases = {
      {0, {0x00}},
      {1, {0x01}},
      {127, {0x7f}},
      {128, {0x80, 0x01}},
      {300, {0xac, 0x02}},
      {16383, {0xff, 0x7f}},
      {16384, {0x80, 0x80, 0x01}},
      {kU64Max, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
  };
  for (const auto& [value, expected] : cases) {
    std::vector<uint8_t> out = {0xee};
    AppendVarint(value, &out);
    EXPECT_EQ(out, Concat({{0xee}, expected})) << value;
    EXPECT_EQ(VarintBytes(value), expected.size()) << value;
  }
}

TEST(VarintTest, BytesMatchesAppendAtEveryBoundary) {
  for (int bits = 0; bits <= 64; ++bits) {
    for (uint64_t delta : {uint64_t{0}, uint64_t{1}}) {
      const uint64_t v = bits == 64 ? kU64Max : (uint64_t{1} << bits) - delta;
      std::vector<uint8_t> out;
      AppendVarint(v, &out);
      EXPECT_EQ(out.size(), VarintBytes(v)) << v;
      EXPECT_EQ(out.size(), v == 0 ? 1u : (std::bit_width(v) + 6) / 7) << v;
    }
  }
}

// --- Names ---------------------------------------------------------------

TEST(WireNamesTest, ErrorNamesAreDistinct) {
  std::vector<std::string> names;
  for (int i = 0; i < static_cast<int>(WireError::kCount); ++i) {
    std::string name = WireErrorName(static_cast<WireError>(i));
    EXPECT_NE(name, "unknown") << i;
    EXPECT_EQ(std::count(names.begin(), names.end(), name), 0) << name;
    names.push_back(name);
  }
  EXPECT_STREQ(WireErrorName(WireError::kTruncated), "truncated");
  EXPECT_STREQ(WireErrorName(WireError::kCount), "unknown");
}

TEST(WireNamesTest, TypeOfAndNamesCoverEveryFrame) {
  FrameGenerator gen(1);
  std::vector<std::string> names;
  std::vector<FrameType> types;
  for (size_t i = 0; i < kFrameKinds; ++i) {
    const FrameType type = TypeOf(gen.Make(i));
    std::string name = FrameTypeName(type);
    EXPECT_NE(name, "unknown");
    EXPECT_EQ(std::count(names.begin(), names.end(), name), 0) << name;
    EXPECT_EQ(std::count(types.begin(), types.end(), type), 0) << name;
    names.push_back(name);
    types.push_back(type);
  }
  EXPECT_EQ(TypeOf(GossipFrame{}), FrameType::kGossip);
  EXPECT_EQ(TypeOf(JoinReplyFrame{}), FrameType::kJoinReply);
  EXPECT_STREQ(FrameTypeName(FrameType::kIHave), "ihave");
  EXPECT_STREQ(FrameTypeName(static_cast<FrameType>(200)), "unknown");
}

// --- Exact layout ----------------------------------------------------------

TEST(WireLayoutTest, GossipDatagramBytesArePinned) {
  const std::vector<uint8_t> payload = {0xaa, 0xbb, 0xcc};
  DatagramBuilder builder(NodeId(0x0102030405060708), kDefaultMaxDatagramBytes);
  ASSERT_EQ(builder.Add(GossipFrame{MessageId{NodeId(0x11), 300}, 2, payload}),
            WireError::kOk);
  ASSERT_EQ(builder.Add(PingFrame{0x8877665544332211}), WireError::kOk);
  ASSERT_EQ(builder.Add(ForwardJoinFrame{
                PeerEntry{NodeId(5), Address::Ipv4({10, 0, 0, 1}, 0x1f90)}, 6}),
            WireError::kOk);
  ASSERT_EQ(builder.Add(JoinFrame{}), WireError::kOk);
  const std::vector<uint8_t> expected = {
      // Header: version, sender LE.
      0x01, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01,
      // Gossip: type 16, length 14, origin LE, sequence 300, hops 2, payload.
      0x10, 0x0e, 0x11, 0, 0, 0, 0, 0, 0, 0, 0xac, 0x02, 0x02, 0xaa, 0xbb, 0xcc,
      // Ping: type 8, length 8, nonce LE.
      0x08, 0x08, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
      // ForwardJoin: type 2, length 16, id, kind 2, ip, port LE, ttl.
      0x02, 0x10, 0x05, 0, 0, 0, 0, 0, 0, 0, 0x02, 10, 0, 0, 1, 0x90, 0x1f,
      0x06,
      // Join: type 1, length 0.
      0x01, 0x00};
  EXPECT_EQ(builder.size(), expected.size());
  EXPECT_EQ(builder.frame_count(), 4u);
  EXPECT_EQ(builder.Finish(), expected);
}

// --- Round trips -----------------------------------------------------------

class RoundTripTest : public testing::TestWithParam<size_t> {};

TEST_P(RoundTripTest, SeededRandomFramesRoundTrip) {
  const size_t index = GetParam();
  constexpr uint64_t kSeed = 20240601;
  FrameGenerator gen(kSeed + index);
  DecodedDatagram out;
  for (int i = 0; i < 2000; ++i) {
    const Frame frame = gen.Make(index);
    ASSERT_EQ(frame.index(), index);
    const NodeId sender = gen.Id();
    DatagramBuilder builder(sender, kMaxMaxDatagramBytes);
    ASSERT_EQ(builder.Add(frame), WireError::kOk) << "iteration " << i;
    EXPECT_EQ(builder.size(), kDatagramHeaderBytes + EncodedFrameBytes(frame));
    const std::vector<uint8_t> bytes = builder.Finish();
    EXPECT_EQ(builder.size(), kDatagramHeaderBytes);
    EXPECT_EQ(builder.frame_count(), 0u);

    ASSERT_EQ(DecodeDatagram(bytes, &out), WireError::kOk)
        << "seed " << kSeed + index << " iteration " << i;
    EXPECT_EQ(out.sender, sender);
    ASSERT_EQ(out.frames.size(), 1u);
    EXPECT_EQ(TypeOf(out.frames[0]), TypeOf(frame));
    EXPECT_TRUE(out.frames[0] == frame)
        << "seed " << kSeed + index << " iteration " << i;
    EXPECT_EQ(Encode(out.sender, out.frames), bytes);
  }
}

// The engine's two-step encoding (MeasureFrame, then WriteFrame after
// WriteDatagramHeader) writes what a DatagramBuilder writes.
TEST_P(RoundTripTest, TwoStepEncodingMatchesBuilder) {
  const size_t index = GetParam();
  FrameGenerator gen(20240917 + index);
  for (int i = 0; i < 500; ++i) {
    const Frame frame = gen.Make(index);
    const NodeId sender = gen.Id();
    DatagramBuilder builder(sender, kMaxMaxDatagramBytes);
    ASSERT_EQ(builder.Add(frame), WireError::kOk);
    const std::vector<uint8_t> expected = builder.Finish();

    size_t body_bytes = 0;
    ASSERT_EQ(MeasureFrame(frame, &body_bytes), WireError::kOk);
    const size_t frame_bytes = EncodedFrameBytesForBody(body_bytes);
    EXPECT_EQ(frame_bytes, EncodedFrameBytes(frame));
    // One spare byte, so that a write past the end shows.
    std::vector<uint8_t> bytes(kDatagramHeaderBytes + frame_bytes + 1, 0xee);
    uint8_t* end = WriteDatagramHeader(sender, bytes.data());
    EXPECT_EQ(end, bytes.data() + kDatagramHeaderBytes);
    end = WriteFrame(frame, body_bytes, end);
    ASSERT_EQ(end, bytes.data() + expected.size()) << "iteration " << i;
    EXPECT_EQ(bytes.back(), 0xee);
    bytes.pop_back();
    EXPECT_EQ(bytes, expected) << "iteration " << i;
  }
}

// WriteFrameWithin writes what a DatagramBuilder writes when the frame
// fits its room exactly, and nothing (kTooLarge) one byte short of that.
TEST_P(RoundTripTest, OneVisitEncodingMatchesBuilder) {
  const size_t index = GetParam();
  FrameGenerator gen(20261128 + index);
  for (int i = 0; i < 500; ++i) {
    const Frame frame = gen.Make(index);
    const NodeId sender = gen.Id();
    DatagramBuilder builder(sender, kMaxMaxDatagramBytes);
    ASSERT_EQ(builder.Add(frame), WireError::kOk);
    const std::vector<uint8_t> expected = builder.Finish();
    const size_t frame_bytes = expected.size() - kDatagramHeaderBytes;

    // One spare byte, so that a write past the end shows.
    std::vector<uint8_t> bytes(expected.size() + 1, 0xee);
    uint8_t* const body = WriteDatagramHeader(sender, bytes.data());
    const FrameWritten short_by_one =
        WriteFrameWithin(frame, frame_bytes - 1, body);
    EXPECT_EQ(short_by_one.end, nullptr);
    EXPECT_EQ(short_by_one.error, WireError::kTooLarge);
    EXPECT_TRUE(std::all_of(body, bytes.data() + bytes.size(),
                            [](uint8_t b) { return b == 0xee; }))
        << "iteration " << i;
    const FrameWritten written = WriteFrameWithin(frame, frame_bytes, body);
    ASSERT_EQ(written.error, WireError::kOk);
    ASSERT_EQ(written.end, bytes.data() + expected.size()) << "iteration " << i;
    EXPECT_EQ(bytes.back(), 0xee);
    bytes.pop_back();
    EXPECT_EQ(bytes, expected) << "iteration " << i;
  }
}

TEST(WireTwoStepTest, FrameBytesForBodyAtVarintBoundaries) {
  for (size_t body : {size_t{0}, size_t{1}, size_t{127}, size_t{128},
                      size_t{16383}, size_t{16384}, size_t{1} << 21}) {
    EXPECT_EQ(EncodedFrameBytesForBody(body), 1 + VarintBytes(body) + body)
        << body;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryFrameType, RoundTripTest,
                         testing::Range<size_t>(0, kFrameKinds),
                         [](const testing::TestParamInfo<size_t>& info) {
                           FrameGenerator gen(0);
                           return std::string(
                               FrameTypeName(TypeOf(gen.Make(info.param))));
                         });

TEST(WireRoundTripTest, GossipPayloadPointsIntoInputAndCapacityIsReused) {
  const std::vector<uint8_t> payload(1024, 0x5a);
  DatagramBuilder builder(NodeId(1), kDefaultMaxDatagramBytes);
  ASSERT_EQ(builder.Add(GossipFrame{MessageId{NodeId(2), 3}, 1, payload}),
            WireError::kOk);
  const std::vector<uint8_t> bytes = builder.Finish();
  DecodedDatagram out;
  out.frames.reserve(4);
  const Frame* storage = out.frames.data();
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(DecodeDatagram(bytes, &out), WireError::kOk);
    ASSERT_EQ(out.frames.size(), 1u);
    EXPECT_EQ(out.frames.data(), storage);  // no reallocation
    const auto& gossip = std::get<GossipFrame>(out.frames[0]);
    EXPECT_EQ(gossip.payload.size(), 1024u);
    EXPECT_GE(gossip.payload.data(), bytes.data());
    EXPECT_EQ(gossip.payload.data() + gossip.payload.size(),
              bytes.data() + bytes.size());
  }
}

// A reused DecodedDatagram hands a decoded list's storage to the next frame
// with a list of that kind (no allocation once warm), even after a datagram
// that failed half-way; a frame decoded into such storage holds exactly its
// own entries. (The round trips above check the values on random frames.)
TEST(WireRoundTripTest, ListStorageIsReusedAcrossDecodes) {
  const auto encode = [](const Frame& frame) {
    DatagramBuilder builder(NodeId(1), kMaxMaxDatagramBytes);
    EXPECT_EQ(builder.Add(frame), WireError::kOk);
    return builder.Finish();
  };
  const auto peers = [](size_t n) {
    std::vector<PeerEntry> list;
    for (size_t i = 0; i < n; ++i) {
      list.push_back({NodeId(100 + i), Address::Sim(static_cast<uint32_t>(i))});
    }
    return list;
  };
  const auto ids = [](size_t n) {
    std::vector<MessageId> list;
    for (size_t i = 0; i < n; ++i) list.push_back({NodeId(9), 1 + i});
    return list;
  };
  const auto entries = [](size_t n) {
    IHaveList list;
    for (size_t i = 0; i < n; ++i) list.push_back({{NodeId(8), 1 + i}, 3});
    return list;
  };
  DecodedDatagram out;
  ASSERT_EQ(DecodeDatagram(encode(ShuffleReplyFrame{peers(30)}), &out),
            WireError::kOk);
  const PeerEntry* peer_storage =
      std::get<ShuffleReplyFrame>(out.frames[0]).peers.data();
  ASSERT_EQ(DecodeDatagram(encode(GraftFrame{ids(20)}), &out), WireError::kOk);
  const MessageId* id_storage = std::get<GraftFrame>(out.frames[0]).ids.data();
  ASSERT_EQ(DecodeDatagram(encode(DigestFrame{entries(20)}), &out),
            WireError::kOk);
  const IHaveEntry* entry_storage =
      std::get<DigestFrame>(out.frames[0]).entries.data();

  // A valid shuffle, then a frame of unknown type: the datagram fails.
  const ShuffleFrame shuffle{{NodeId(5), Address::Sim(5)}, 3, peers(4)};
  std::vector<uint8_t> failing = encode(shuffle);
  failing.insert(failing.end(), {0x7f, 0x00});
  ASSERT_EQ(DecodeDatagram(failing, &out), WireError::kUnknownFrameType);
  EXPECT_TRUE(out.frames.empty());

  ASSERT_EQ(DecodeDatagram(encode(shuffle), &out), WireError::kOk);
  EXPECT_EQ(std::get<ShuffleFrame>(out.frames[0]).peers.data(), peer_storage);
  EXPECT_TRUE(out.frames[0] == Frame(shuffle));
  const IWantFrame iwant{ids(3)};
  ASSERT_EQ(DecodeDatagram(encode(iwant), &out), WireError::kOk);
  EXPECT_EQ(std::get<IWantFrame>(out.frames[0]).ids.data(), id_storage);
  EXPECT_TRUE(out.frames[0] == Frame(iwant));
  const IHaveFrame ihave{entries(5)};
  ASSERT_EQ(DecodeDatagram(encode(ihave), &out), WireError::kOk);
  EXPECT_EQ(std::get<IHaveFrame>(out.frames[0]).entries.data(), entry_storage);
  EXPECT_TRUE(out.frames[0] == Frame(ihave));
  // An empty list decodes empty.
  ASSERT_EQ(DecodeDatagram(encode(ShuffleReplyFrame{}), &out), WireError::kOk);
  EXPECT_TRUE(std::get<ShuffleReplyFrame>(out.frames[0]).peers.empty());

  out.Clear();
  EXPECT_TRUE(out.frames.empty());
  EXPECT_EQ(out.spare.peers.data(), peer_storage);
  // The IWANT and the IHAVE gave their storage back too, for the next.
  ASSERT_EQ(DecodeDatagram(encode(GraftFrame{ids(3)}), &out), WireError::kOk);
  EXPECT_EQ(std::get<GraftFrame>(out.frames[0]).ids.data(), id_storage);
  ASSERT_EQ(DecodeDatagram(encode(DigestFrame{entries(5)}), &out),
            WireError::kOk);
  EXPECT_EQ(std::get<DigestFrame>(out.frames[0]).entries.data(), entry_storage);
}

TEST(WireRoundTripTest, MultiFrameDatagramsRoundTrip) {
  constexpr uint64_t kSeed = 777;
  FrameGenerator gen(kSeed, /*max_list=*/12, /*max_payload_bytes=*/600);
  DecodedDatagram out;
  size_t most_frames = 0;
  for (int i = 0; i < 2000; ++i) {
    const size_t max_bytes = gen.rng().UniformBetween(
        kMinMaxDatagramBytes, 4 * kDefaultMaxDatagramBytes);
    DatagramBuilder builder(NodeId(i), max_bytes);
    std::vector<Frame> added;
    // Add until the builder refuses a few times in a row.
    for (int refusals = 0; refusals < 3;) {
      Frame frame = gen.Any();
      const bool fits = EncodedFrameBytes(frame) <= builder.remaining_bytes();
      const WireError error = builder.Add(frame);
      ASSERT_EQ(error, fits ? WireError::kOk : WireError::kTooLarge);
      ASSERT_LE(builder.size(), max_bytes);
      if (error == WireError::kOk) {
        added.push_back(std::move(frame));
      } else {
        ++refusals;
      }
    }
    ASSERT_EQ(builder.frame_count(), added.size());
    const std::vector<uint8_t> bytes = builder.Finish();
    ASSERT_LE(bytes.size(), max_bytes);
    if (added.empty()) {
      EXPECT_EQ(DecodeDatagram(bytes, &out), WireError::kNoFrames);
      continue;
    }
    ASSERT_EQ(DecodeDatagram(bytes, &out), WireError::kOk)
        << "seed " << kSeed << " iteration " << i;
    EXPECT_EQ(out.sender, NodeId(i));
    EXPECT_TRUE(out.frames == added) << "seed " << kSeed << " iteration " << i;
    most_frames = std::max(most_frames, added.size());
  }
  EXPECT_GE(most_frames, 10u);  // The test really built multi-frame datagrams.
}

// --- Builder budget --------------------------------------------------------

TEST(DatagramBuilderTest, RefusesOversizeFramesAndStaysUnchanged) {
  FrameGenerator gen(4242, /*max_list=*/64, /*max_payload_bytes=*/3000);
  size_t refused = 0;
  for (int i = 0; i < 500; ++i) {
    const size_t max_bytes =
        gen.rng().UniformBetween(kDatagramHeaderBytes + 2, 3000);
    DatagramBuilder builder(NodeId(7), max_bytes);
    DatagramBuilder shadow(NodeId(7), max_bytes);  // gets only accepted frames
    for (int j = 0; j < 20; ++j) {
      const Frame frame = gen.Any();
      const size_t size_before = builder.size();
      const size_t count_before = builder.frame_count();
      const size_t remaining_before = builder.remaining_bytes();
      const WireError error = builder.Add(frame);
      if (EncodedFrameBytes(frame) > remaining_before) {
        ASSERT_EQ(error, WireError::kTooLarge);
        EXPECT_EQ(builder.size(), size_before);
        EXPECT_EQ(builder.frame_count(), count_before);
        EXPECT_EQ(builder.remaining_bytes(), remaining_before);
        ++refused;
      } else {
        ASSERT_EQ(error, WireError::kOk);
        ASSERT_EQ(shadow.Add(frame), WireError::kOk);
        EXPECT_EQ(builder.size(), size_before + EncodedFrameBytes(frame));
      }
      ASSERT_LE(builder.size(), max_bytes);
      EXPECT_EQ(builder.size() + builder.remaining_bytes(), max_bytes);
    }
    EXPECT_EQ(builder.Finish(), shadow.Finish());
  }
  EXPECT_GT(refused, 1000u);
}

TEST(DatagramBuilderTest, GossipFillsDatagramExactly) {
  for (size_t max_bytes :
       {kMinMaxDatagramBytes, kDefaultMaxDatagramBytes, kMaxMaxDatagramBytes}) {
    const GossipFrame probe{MessageId{NodeId(1), 1}, 1, {}};
    // type + length varint + id (8 + 1) + hops (1) + payload.
    const size_t length_bytes = VarintBytes(max_bytes);
    const size_t payload_max =
        max_bytes - kDatagramHeaderBytes - 1 - length_bytes - 10;
    const std::span<const uint8_t> pool(PayloadPool());
    DatagramBuilder builder(NodeId(3), max_bytes);
    GossipFrame too_big = probe;
    too_big.payload = pool.subspan(0, payload_max + 1);
    EXPECT_EQ(builder.Add(too_big), WireError::kTooLarge) << max_bytes;
    GossipFrame exact = probe;
    exact.payload = pool.subspan(0, payload_max);
    EXPECT_EQ(builder.Add(exact), WireError::kOk) << max_bytes;
    EXPECT_EQ(builder.size(), max_bytes);
    EXPECT_EQ(builder.remaining_bytes(), 0u);
    EXPECT_EQ(builder.Add(JoinFrame{}), WireError::kTooLarge);
    EXPECT_EQ(builder.Finish().size(), max_bytes);
  }
}

TEST(DatagramBuilderTest, SmallestBudgetHoldsOneEmptyFrame) {
  DatagramBuilder builder(NodeId(3), kDatagramHeaderBytes + 2);
  EXPECT_EQ(builder.Add(PingFrame{1}), WireError::kTooLarge);
  EXPECT_EQ(builder.Add(PruneFrame{}), WireError::kOk);
  EXPECT_EQ(builder.Add(PruneFrame{}), WireError::kTooLarge);
  EXPECT_EQ(builder.size(), kDatagramHeaderBytes + 2);
}

TEST(DatagramBuilderTest, RefusesInvalidFramesUnchanged) {
  DatagramBuilder builder(NodeId(3), kMaxMaxDatagramBytes);
  ASSERT_EQ(builder.Add(PingFrame{1}), WireError::kOk);
  const size_t size = builder.size();
  const MessageId good{NodeId(1), 1};
  const MessageId zero{NodeId(1), 0};
  const PeerEntry peer{NodeId(4), Address::Sim(4)};
  const PeerEntry nowhere{NodeId(4), Address()};
  std::vector<MessageId> too_many_ids(kMaxListEntries + 1, good);
  std::vector<PeerEntry> too_many_peers(kMaxListEntries + 1, peer);
  const std::vector<std::pair<Frame, WireError>> cases = {
      {GraftFrame{too_many_ids}, WireError::kTooManyEntries},
      {IWantFrame{too_many_ids}, WireError::kTooManyEntries},
      {IHaveFrame{IHaveList(kMaxListEntries + 1, {good, 1})},
       WireError::kTooManyEntries},
      {ShuffleReplyFrame{too_many_peers}, WireError::kTooManyEntries},
      {ShuffleFrame{peer, 1, too_many_peers}, WireError::kTooManyEntries},
      {GossipFrame{zero, 1, {}}, WireError::kBadField},
      {GraftFrame{{good, zero}}, WireError::kBadField},
      {IWantFrame{{zero}}, WireError::kBadField},
      {IHaveFrame{{{good, 1}, {zero, 1}}}, WireError::kBadField},
      {DigestFrame{IHaveList(kMaxListEntries + 1, {good, 1})},
       WireError::kTooManyEntries},
      {DigestFrame{{{zero, 1}, {good, 1}}}, WireError::kBadField},
      {DisconnectFrame{static_cast<DisconnectReason>(3)}, WireError::kBadField},
      {DisconnectFrame{DisconnectReason::kSwapped, nowhere},
       WireError::kBadAddress},
      {SwapFrame{nowhere}, WireError::kBadAddress},
      {SwapReplyFrame{false, peer}, WireError::kBadField},
      {SwapReplyFrame{true, nowhere}, WireError::kBadAddress},
      {ForwardJoinFrame{nowhere, 1}, WireError::kBadAddress},
      {ShuffleFrame{nowhere, 1, {}}, WireError::kBadAddress},
      {ShuffleFrame{peer, 1, {peer, nowhere}}, WireError::kBadAddress},
      {ShuffleReplyFrame{{nowhere}}, WireError::kBadAddress},
  };
  for (const auto& [frame, error] : cases) {
    EXPECT_EQ(builder.Add(frame), error) << FrameTypeName(TypeOf(frame));
    EXPECT_EQ(builder.size(), size);
    EXPECT_EQ(builder.frame_count(), 1u);
    size_t body_bytes = 7;
    EXPECT_EQ(MeasureFrame(frame, &body_bytes), error)
        << FrameTypeName(TypeOf(frame));
    EXPECT_EQ(body_bytes, 7u);  // untouched when refused
    std::vector<uint8_t> room(kMaxMaxDatagramBytes, 0xee);
    const FrameWritten written =
        WriteFrameWithin(frame, room.size(), room.data());
    EXPECT_EQ(written.end, nullptr) << FrameTypeName(TypeOf(frame));
    EXPECT_EQ(written.error, error) << FrameTypeName(TypeOf(frame));
    EXPECT_TRUE(std::all_of(room.begin(), room.end(),
                            [](uint8_t b) { return b == 0xee; }));
  }
  // Exactly kMaxListEntries is fine.
  too_many_ids.pop_back();
  EXPECT_EQ(builder.Add(GraftFrame{too_many_ids}), WireError::kOk);
  size_t body_bytes = 0;
  EXPECT_EQ(MeasureFrame(GraftFrame{too_many_ids}, &body_bytes),
            WireError::kOk);
}

TEST(DatagramBuilderTest, FinishIntoSwapsBuffersAndResets) {
  DatagramBuilder builder(NodeId(9), kDefaultMaxDatagramBytes);
  std::vector<uint8_t> datagram;
  for (uint64_t nonce = 1; nonce <= 3; ++nonce) {
    ASSERT_EQ(builder.Add(PingFrame{nonce}), WireError::kOk);
    builder.FinishInto(&datagram);
    EXPECT_EQ(builder.size(), kDatagramHeaderBytes);
    EXPECT_EQ(builder.frame_count(), 0u);
    DecodedDatagram out;
    ASSERT_EQ(DecodeDatagram(datagram, &out), WireError::kOk);
    EXPECT_EQ(out.sender, NodeId(9));
    ASSERT_EQ(out.frames.size(), 1u);
    EXPECT_TRUE(out.frames[0] == Frame(PingFrame{nonce}));
  }
  ASSERT_EQ(builder.Add(PongFrame{5}), WireError::kOk);
  std::vector<uint8_t> copy = builder.Finish();
  EXPECT_EQ(Decode(copy), WireError::kOk);
  EXPECT_EQ(Decode(builder.Finish()), WireError::kNoFrames);
}

// --- Hostile input ---------------------------------------------------------

// Small valid datagrams of every frame type (plus multi-frame ones) for the
// exhaustive mutation tests.
std::vector<std::vector<uint8_t>> SmallCorpus() {
  std::vector<std::vector<uint8_t>> corpus;
  FrameGenerator gen(31337, /*max_list=*/3, /*max_payload_bytes=*/24);
  for (size_t index = 0; index < kFrameKinds; ++index) {
    for (int i = 0; i < 3; ++i) {
      corpus.push_back(Encode(gen.Id(), {gen.Make(index)}));
    }
  }
  for (int i = 0; i < 4; ++i) {
    corpus.push_back(Encode(gen.Id(), {gen.Any(), gen.Any(), gen.Any()}));
  }
  return corpus;
}

TEST(HostileInputTest, EveryPrefixOfSingleFrameDatagramIsAnError) {
  FrameGenerator gen(5150, /*max_list=*/20, /*max_payload_bytes=*/300);
  for (size_t index = 0; index < kFrameKinds; ++index) {
    for (int i = 0; i < 5; ++i) {
      const std::vector<uint8_t> bytes = Encode(gen.Id(), {gen.Make(index)});
      for (size_t n = 0; n < bytes.size(); ++n) {
        const std::span<const uint8_t> prefix(bytes.data(), n);
        DecodedDatagram out;
        const WireError error = DecodeDatagram(prefix, &out);
        EXPECT_EQ(error, n == kDatagramHeaderBytes ? WireError::kNoFrames
                                                   : WireError::kTruncated)
            << "type " << index << " prefix " << n;
        EXPECT_TRUE(out.frames.empty());
      }
    }
  }
}

TEST(HostileInputTest, PrefixesOfMultiFrameDatagramDecodeWholeFramesOnly) {
  FrameGenerator gen(6160, /*max_list=*/10, /*max_payload_bytes=*/100);
  for (int i = 0; i < 50; ++i) {
    std::vector<Frame> frames;
    std::vector<size_t> boundaries;  // datagram size after each frame
    size_t size = kDatagramHeaderBytes;
    for (int j = 0; j < 5; ++j) {
      frames.push_back(gen.Any());
      size += EncodedFrameBytes(frames.back());
      boundaries.push_back(size);
    }
    const std::vector<uint8_t> bytes = Encode(NodeId(i), frames);
    ASSERT_EQ(bytes.size(), size);
    DecodedDatagram out;
    for (size_t n = kDatagramHeaderBytes + 1; n <= bytes.size(); ++n) {
      const auto it = std::find(boundaries.begin(), boundaries.end(), n);
      const WireError error =
          DecodeDatagram(std::span<const uint8_t>(bytes.data(), n), &out);
      if (it == boundaries.end()) {
        EXPECT_EQ(error, WireError::kTruncated) << n;
        EXPECT_TRUE(out.frames.empty());
      } else {
        ASSERT_EQ(error, WireError::kOk) << n;
        const size_t count = static_cast<size_t>(it - boundaries.begin()) + 1;
        ASSERT_EQ(out.frames.size(), count);
        for (size_t k = 0; k < count; ++k) {
          EXPECT_TRUE(out.frames[k] == frames[k]);
        }
      }
    }
  }
}

TEST(HostileInputTest, EverySingleByteMutationDecodesOrFails) {
  size_t decoded = 0;
  size_t failed = 0;
  for (const std::vector<uint8_t>& original : SmallCorpus()) {
    std::vector<uint8_t> bytes = original;
    for (size_t pos = 0; pos < bytes.size(); ++pos) {
      for (int value = 0; value < 256; ++value) {
        bytes[pos] = static_cast<uint8_t>(value);
        // A fresh vector of exactly this size, so ASan sees any overread.
        const std::vector<uint8_t> input = bytes;
        ExpectDecodesCanonicallyOrFails(input);
        (Decode(input) == WireError::kOk ? decoded : failed) += 1;
      }
      bytes[pos] = original[pos];
    }
  }
  // Both outcomes happen a lot: mutations in payloads and ids still decode,
  // mutations in types, lengths and tags do not.
  EXPECT_GT(decoded, 10000u);
  EXPECT_GT(failed, 10000u);
}

// DecodeIntoCleared decodes into a cleared DecodedDatagram what
// DecodeDatagram decodes: every prefix of every single-byte mutation of
// the small corpus, each in a vector of exactly its size.
TEST(HostileInputTest, DecodeIntoClearedMatchesDecodeDatagram) {
  DecodedDatagram want;
  DecodedDatagram got;
  size_t decoded = 0;
  for (const std::vector<uint8_t>& original : SmallCorpus()) {
    std::vector<uint8_t> bytes = original;
    for (size_t pos = 0; pos < bytes.size(); ++pos) {
      for (const uint8_t value : {uint8_t{0}, uint8_t{1}, uint8_t{0x80},
                                  uint8_t{0xff}, uint8_t(original[pos] + 1)}) {
        bytes[pos] = value;
        for (size_t n = 0; n <= bytes.size(); ++n) {
          const std::vector<uint8_t> input(bytes.begin(), bytes.begin() + n);
          const WireError error = DecodeDatagram(input, &want);
          got.Clear();
          ASSERT_EQ(DecodeIntoCleared(input, &got), error) << pos << " " << n;
          ASSERT_EQ(got.frames.size(), want.frames.size());
          if (error != WireError::kOk) continue;
          ++decoded;
          EXPECT_EQ(got.sender, want.sender);
          for (size_t k = 0; k < want.frames.size(); ++k) {
            ASSERT_TRUE(got.frames[k] == want.frames[k]) << pos << " " << n;
          }
        }
      }
      bytes[pos] = original[pos];
    }
  }
  EXPECT_GT(decoded, 1000u);
}

TEST(HostileInputTest, SampledMutationsOfLargeDatagramsDecodeOrFail) {
  constexpr uint64_t kSeed = 8086;
  FrameGenerator gen(kSeed, /*max_list=*/kMaxListEntries,
                     /*max_payload_bytes=*/2000);
  Random& rng = gen.rng();
  for (size_t index = 0; index < kFrameKinds; ++index) {
    const std::vector<uint8_t> original = Encode(gen.Id(), {gen.Make(index)});
    for (int i = 0; i < 2000; ++i) {
      std::vector<uint8_t> bytes = original;
      const size_t mutations = 1 + rng.UniformBelow(3);
      for (size_t m = 0; m < mutations; ++m) {
        bytes[rng.UniformBelow(bytes.size())] =
            static_cast<uint8_t>(rng.Next64());
      }
      if (rng.OneIn(4)) bytes.resize(rng.UniformBelow(bytes.size() + 1));
      ExpectDecodesCanonicallyOrFails(bytes);
    }
  }
}

TEST(HostileInputTest, RandomGarbageDecodesOrFails) {
  constexpr uint64_t kSeed = 1984;
  Random rng(kSeed);
  size_t decoded = 0;
  for (int i = 0; i < 40000; ++i) {
    std::vector<uint8_t> bytes(rng.UniformBelow(300));
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng.Next64());
    if (!bytes.empty() && rng.OneIn(2)) bytes[0] = kWireVersion;
    ExpectDecodesCanonicallyOrFails(bytes);
    if (Decode(bytes) == WireError::kOk) ++decoded;
  }
  // Structured garbage: valid header, then frames of known types with random
  // lengths and bodies, so decoding reaches deep into the bodies.
  constexpr uint8_t kTypes[] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 16, 17,
                                18, 19, 20, 32, 33, 34, 35, 36, 37, 38, 39};
  for (int i = 0; i < 40000; ++i) {
    std::vector<uint8_t> bytes = Header();
    const size_t frames = 1 + rng.UniformBelow(3);
    for (size_t f = 0; f < frames; ++f) {
      bytes.push_back(kTypes[rng.UniformBelow(std::size(kTypes))]);
      const size_t length = rng.UniformBelow(40);
      AppendVarint(length, &bytes);
      const size_t body = rng.OneIn(8) ? rng.UniformBelow(40) : length;
      for (size_t b = 0; b < body; ++b) {
        // Small values are likelier to be valid tags, bools and counts.
        bytes.push_back(static_cast<uint8_t>(rng.OneIn(2) ? rng.UniformBelow(4)
                                                          : rng.Next64()));
      }
    }
    ExpectDecodesCanonicallyOrFails(bytes);
    if (Decode(bytes) == WireError::kOk) ++decoded;
  }
  EXPECT_GT(decoded, 100u);
}

// --- Specific errors -------------------------------------------------------

TEST(DecodeErrorTest, Header) {
  EXPECT_EQ(Decode({}), WireError::kTruncated);
  EXPECT_EQ(Decode({kWireVersion}), WireError::kTruncated);
  EXPECT_EQ(Decode({kWireVersion, 1, 2, 3, 4, 5, 6, 7}), WireError::kTruncated);
  EXPECT_EQ(Decode(Header()), WireError::kNoFrames);
  EXPECT_EQ(Decode({0}), WireError::kBadVersion);
  EXPECT_EQ(Decode(Concat({Header(2), {1, 0}})), WireError::kBadVersion);
  EXPECT_EQ(Decode(Concat({Header(0), {1, 0}})), WireError::kBadVersion);
  EXPECT_EQ(Decode(Concat({Header(), {1, 0}})), WireError::kOk);
}

TEST(DecodeErrorTest, SenderIsLittleEndian) {
  DecodedDatagram out;
  ASSERT_EQ(DecodeDatagram(Concat({Header(), {1, 0}}), &out), WireError::kOk);
  EXPECT_EQ(out.sender, NodeId(0x1716151413121110));
}

TEST(DecodeErrorTest, TruncatedFrameHeader) {
  // Type with no length.
  EXPECT_EQ(Decode(Concat({Header(), {16}})), WireError::kTruncated);
  // Length varint cut in the middle.
  EXPECT_EQ(Decode(Concat({Header(), {16, 0x80}})), WireError::kTruncated);
  // Length past the end of the datagram.
  EXPECT_EQ(Decode(Concat({Header(), {8, 8, 1, 2, 3, 4, 5, 6, 7}})),
            WireError::kTruncated);
  EXPECT_EQ(Decode(Concat({Header(), {1, 1}})), WireError::kTruncated);
}

TEST(DecodeErrorTest, BadVarints) {
  // 11-byte frame length.
  std::vector<uint8_t> eleven(10, 0x80);
  eleven.push_back(0x00);
  EXPECT_EQ(Decode(Concat({Header(), {1}, eleven})), WireError::kBadVarint);
  // 10th byte above 1 overflows 64 bits.
  std::vector<uint8_t> overflow(9, 0xff);
  overflow.push_back(0x02);
  EXPECT_EQ(Decode(Concat({Header(), {1}, overflow})), WireError::kBadVarint);
  // Non-minimal: 0 encoded in two bytes.
  EXPECT_EQ(Decode(Concat({Header(), {1, 0x80, 0x00}})), WireError::kBadVarint);
  // Inside a body: sequence UINT64_MAX is fine, one more bit is not.
  std::vector<uint8_t> max_seq(9, 0xff);
  max_seq.push_back(0x01);
  EXPECT_EQ(Decode(RawFrame(18, Concat({{1}, Le64(7), max_seq}))),
            WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(18, Concat({{1}, Le64(7), overflow}))),
            WireError::kBadVarint);
  EXPECT_EQ(Decode(RawFrame(18, Concat({{1}, Le64(7), {0x81, 0x00}}))),
            WireError::kBadVarint);
  // Varint cut by the end of the body (not the datagram).
  EXPECT_EQ(Decode(RawFrame(18, Concat({{1}, Le64(7), {0x81}}))),
            WireError::kBadLength);
}

// Every two-byte start of a varint, through the decoder's inline two-byte
// path and its general one: a GRAFT id's sequence of [b0, b1] (then, when
// b1 continues it, a third byte 1).
TEST(DecodeErrorTest, TwoByteVarintsDecodeExactly) {
  DecodedDatagram out;
  for (int b0 = 0x80; b0 <= 0xff; ++b0) {
    for (int b1 = 0; b1 <= 0xff; ++b1) {
      std::vector<uint8_t> sequence = {static_cast<uint8_t>(b0),
                                       static_cast<uint8_t>(b1)};
      uint64_t expected = (b0 & 0x7f) | (static_cast<uint64_t>(b1) & 0x7f) << 7;
      if (b1 >= 0x80) {
        // Cut by the end of the body, or continued by a third byte.
        EXPECT_EQ(Decode(RawFrame(18, Concat({{1}, Le64(7), sequence}))),
                  WireError::kBadLength);
        sequence.push_back(1);
        expected |= uint64_t{1} << 14;
      }
      const std::vector<uint8_t> bytes =
          RawFrame(18, Concat({{1}, Le64(7), sequence}));
      const WireError error = DecodeDatagram(bytes, &out);
      if (b1 == 0) {  // not minimal
        EXPECT_EQ(error, WireError::kBadVarint) << b0;
        continue;
      }
      ASSERT_EQ(error, WireError::kOk) << b0 << " " << b1;
      ASSERT_EQ(out.frames.size(), 1u);
      const auto& graft = std::get<GraftFrame>(out.frames[0]);
      ASSERT_EQ(graft.ids.size(), 1u);
      EXPECT_EQ(graft.ids[0].sequence, expected) << b0 << " " << b1;
    }
  }
}

// A message id and hop count (a gossip frame's start, each IHAVE entry)
// decode as the field-by-field rules say whatever their two bytes after
// the origin: the one-byte fast path and the general path must agree.
// The reference below reads the body with those rules, independently.
struct RefBody {
  const std::vector<uint8_t>& bytes;
  size_t pos = 0;
  WireError Varint(uint64_t* v) {
    uint64_t x = 0;
    for (int i = 0; i < 10; ++i) {
      if (pos == bytes.size()) return WireError::kBadLength;
      const uint8_t b = bytes[pos++];
      if (i == 9 && b > 1) return WireError::kBadVarint;
      x |= static_cast<uint64_t>(b & 0x7f) << (7 * i);
      if ((b & 0x80) == 0) {
        if (b == 0 && i > 0) return WireError::kBadVarint;
        *v = x;
        return WireError::kOk;
      }
    }
    return WireError::kBadVarint;
  }
  WireError Id(NodeId* id) {
    if (bytes.size() - pos < 8) return WireError::kBadLength;
    uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= uint64_t{bytes[pos + i]} << (8 * i);
    pos += 8;
    *id = NodeId(v);
    return WireError::kOk;
  }
  WireError IdAndHops(IHaveEntry* entry) {
    if (WireError e = Id(&entry->id.origin); e != WireError::kOk) return e;
    if (WireError e = Varint(&entry->id.sequence); e != WireError::kOk) {
      return e;
    }
    if (entry->id.sequence == 0) return WireError::kBadField;
    uint64_t hops = 0;
    if (WireError e = Varint(&hops); e != WireError::kOk) return e;
    if (hops > kU32Max) return WireError::kBadField;
    entry->hops = static_cast<uint32_t>(hops);
    return WireError::kOk;
  }
  // A peer with a simulator address (kind 1; other kinds are not read).
  WireError SimPeer(PeerEntry* peer) {
    if (WireError e = Id(&peer->id); e != WireError::kOk) return e;
    if (pos == bytes.size()) return WireError::kBadLength;
    if (bytes[pos++] != 1) return WireError::kBadAddress;
    uint64_t index = 0;
    if (WireError e = Varint(&index); e != WireError::kOk) return e;
    if (index > kU32Max) return WireError::kBadAddress;
    peer->address = Address::Sim(static_cast<uint32_t>(index));
    return WireError::kOk;
  }
};

TEST(DecodeErrorTest, MessageIdAndHopsDecodeByTheFieldRules) {
  DecodedDatagram out;
  const uint64_t origin = 0x0123456789abcdefull;
  for (int b0 = 0; b0 <= 0xff; ++b0) {
    for (int b1 = 0; b1 <= 0xff; ++b1) {
      const std::vector<uint8_t> two = {static_cast<uint8_t>(b0),
                                        static_cast<uint8_t>(b1)};
      // A gossip: the id and hops, then the payload (two bytes that also
      // continue a varint begun by b0 and b1).
      const std::vector<uint8_t> gossip = Concat({Le64(origin), two, {3, 4}});
      RefBody ref{gossip};
      IHaveEntry want;
      WireError want_error = ref.IdAndHops(&want);
      WireError error = DecodeDatagram(RawFrame(16, gossip), &out);
      ASSERT_EQ(error, want_error) << b0 << " " << b1;
      if (error == WireError::kOk) {
        const auto& f = std::get<GossipFrame>(out.frames[0]);
        EXPECT_EQ(f.id, want.id);
        EXPECT_EQ(f.hops, want.hops);
        EXPECT_EQ(f.payload.size(), gossip.size() - ref.pos);
      }
      // An IHAVE of two entries, the first with these bytes: the second
      // is read from wherever the first one ended.
      const std::vector<uint8_t> ihave =
          Concat({{2}, Le64(origin), two, Le64(origin + 1), {5, 6}});
      RefBody ref2{ihave, 1};
      IHaveEntry want2[2];
      want_error = ref2.IdAndHops(&want2[0]);
      if (want_error == WireError::kOk) want_error = ref2.IdAndHops(&want2[1]);
      if (want_error == WireError::kOk && ref2.pos != ihave.size()) {
        want_error = WireError::kBadLength;
      }
      error = DecodeDatagram(RawFrame(17, ihave), &out);
      ASSERT_EQ(error, want_error) << b0 << " " << b1;
      if (error == WireError::kOk) {
        const auto& f = std::get<IHaveFrame>(out.frames[0]);
        ASSERT_EQ(f.entries.size(), 2u);
        EXPECT_EQ(f.entries[0], want2[0]);
        EXPECT_EQ(f.entries[1], want2[1]);
      }
    }
  }
}

// A datagram of one GOSSIP, PING, PONG or IHAVE frame (DecodeDatagram's
// lone-frame fast path takes the usual ones) decodes as that frame does
// when a PRUNE follows it (the general frame loop): the same error, or the
// same frame. Bodies near the fast path's limits: entry counts 0-3,
// sequences and hops of one and two bytes, bodies a byte short or long,
// frame lengths of one, two and three bytes.
TEST(DecodeErrorTest, LoneFramesDecodeAsInALongerDatagram) {
  Random rng(/*seed=*/11);
  const uint8_t kFieldBytes[] = {0, 1, 2, 0x7e, 0x7f, 0x80, 0x81, 0xff};
  auto field = [&] { return kFieldBytes[rng.UniformBelow(8)]; };
  const FrameType kTypes[] = {FrameType::kGossip, FrameType::kIHave,
                              FrameType::kPing, FrameType::kPong};
  const size_t kPayloadBytes[] = {0, 1, 100, 116, 117, 118, 200, 16400};
  DecodedDatagram lone;
  DecodedDatagram longer;
  size_t decoded[4] = {};
  for (int round = 0; round < 20000; ++round) {
    const size_t kind = static_cast<size_t>(rng.UniformBelow(4));
    const FrameType type = kTypes[kind];
    std::vector<uint8_t> body;
    auto entry = [&] {
      const std::vector<uint8_t> origin = Le64(rng.Next64());
      body.insert(body.end(), origin.begin(), origin.end());
      body.push_back(rng.OneIn(4) ? field() : 1 + rng.UniformBelow(0x7f));
      body.push_back(rng.OneIn(4) ? field() : rng.UniformBelow(0x80));
    };
    if (type == FrameType::kGossip) {
      entry();
      body.resize(body.size() + kPayloadBytes[rng.UniformBelow(8)],
                  static_cast<uint8_t>(round));
    } else if (type == FrameType::kIHave) {
      const uint64_t count = rng.UniformBelow(4);
      body.push_back(static_cast<uint8_t>(count));
      for (uint64_t i = 0; i < count; ++i) entry();
    } else {
      const std::vector<uint8_t> nonce = Le64(rng.Next64());
      body.insert(body.end(), nonce.begin(), nonce.end());
    }
    if (rng.OneIn(8) && !body.empty()) body.pop_back();
    if (rng.OneIn(8)) body.push_back(field());
    const std::vector<uint8_t> one = RawFrame(static_cast<uint8_t>(type), body);
    const std::vector<uint8_t> two =
        Concat({one, {static_cast<uint8_t>(FrameType::kPrune), 0}});
    // The lone datagram in a block of exactly its size, so that a read
    // past its end is a heap overflow under AddressSanitizer (a vector's
    // spare capacity would hide it).
    const std::unique_ptr<uint8_t[]> exact(new uint8_t[one.size()]);
    std::copy(one.begin(), one.end(), exact.get());
    const WireError error = DecodeDatagram(
        std::span<const uint8_t>(exact.get(), one.size()), &lone);
    const WireError want_error = DecodeDatagram(two, &longer);
    ASSERT_EQ(error, want_error) << round;
    if (error != WireError::kOk) continue;
    ASSERT_EQ(lone.frames.size(), 1u) << round;
    ASSERT_EQ(longer.frames.size(), 2u) << round;
    ASSERT_EQ(lone.sender, longer.sender) << round;
    ASSERT_EQ(lone.frames[0], longer.frames[0]) << round;
    ++decoded[kind];
  }
  // Each kind decoded fine many times (the rounds reached the fast path).
  for (size_t ok : decoded) EXPECT_GT(ok, 500u);
}

// A lone frame whose length says it has no body ends the datagram at its
// length byte: the decoder must not read the body's first byte (an IHAVE's
// count) beyond the end. The datagram sits in a block of exactly its size,
// so AddressSanitizer sees any read past it.
TEST(DecodeErrorTest, EmptyLoneFramesAreReadWithinTheDatagram) {
  for (uint8_t type = 0; type < 64; ++type) {
    const std::vector<uint8_t> datagram = RawFrame(type, {});
    const std::unique_ptr<uint8_t[]> exact(new uint8_t[datagram.size()]);
    std::copy(datagram.begin(), datagram.end(), exact.get());
    DecodedDatagram decoded;
    const WireError error = DecodeDatagram(
        std::span<const uint8_t>(exact.get(), datagram.size()), &decoded);
    const FrameType kind = static_cast<FrameType>(type);
    if (kind == FrameType::kIHave || kind == FrameType::kGossip ||
        kind == FrameType::kPing || kind == FrameType::kPong) {
      EXPECT_NE(error, WireError::kOk) << int{type};
    }
  }
}

// Decodes a SHUFFLE_REPLY whose first peer's simulator address is the
// kind byte then `index_bytes` (a second, valid peer follows) and checks
// the decoder agrees with the reference reader: same error, same peers.
void ExpectSimPeerDecodesByTheFieldRules(std::vector<uint8_t> index_bytes) {
  const uint64_t id = 0x0123456789abcdefull;
  const std::vector<uint8_t> reply =
      Concat({{2}, Le64(id), {1}, index_bytes, Le64(id + 1), {1, 5}});
  RefBody ref{reply, 1};
  PeerEntry want[2];
  WireError want_error = ref.SimPeer(&want[0]);
  if (want_error == WireError::kOk) want_error = ref.SimPeer(&want[1]);
  if (want_error == WireError::kOk && ref.pos != reply.size()) {
    want_error = WireError::kBadLength;
  }
  DecodedDatagram out;
  const WireError error = DecodeDatagram(RawFrame(7, reply), &out);
  ASSERT_EQ(error, want_error);
  if (error == WireError::kOk) {
    const auto& f = std::get<ShuffleReplyFrame>(out.frames[0]);
    ASSERT_EQ(f.peers.size(), 2u);
    ASSERT_EQ(f.peers[0], want[0]);
    ASSERT_EQ(f.peers[1], want[1]);
  }
}

// The same for a peer's simulator address (its kind byte, then the
// index's varint), as the first of two peers of a SHUFFLE_REPLY: every
// first and second byte of the index.
TEST(DecodeErrorTest, SimPeersDecodeByTheFieldRules) {
  for (int b0 = 0; b0 <= 0xff; ++b0) {
    for (int b1 = 0; b1 <= 0xff; ++b1) {
      ExpectSimPeerDecodesByTheFieldRules(
          {static_cast<uint8_t>(b0), static_cast<uint8_t>(b1)});
      if (HasFatalFailure()) FAIL() << "index bytes " << b0 << " " << b1;
    }
  }
}

// Indices of three bytes and more: a first byte with its continuation bit
// set, every second and third byte.
TEST(DecodeErrorTest, LongSimPeersDecodeByTheFieldRules) {
  for (int b0 : {0x80, 0xc3, 0xff}) {
    for (int b1 = 0; b1 <= 0xff; ++b1) {
      for (int b2 = 0; b2 <= 0xff; ++b2) {
        ExpectSimPeerDecodesByTheFieldRules({static_cast<uint8_t>(b0),
                                             static_cast<uint8_t>(b1),
                                             static_cast<uint8_t>(b2)});
        if (HasFatalFailure()) {
          FAIL() << "index bytes " << b0 << " " << b1 << " " << b2;
        }
      }
    }
  }
}

TEST(DecodeErrorTest, UnknownFrameTypes) {
  for (int type : {0, 13, 14, 15, 22, 31, 40, 47, 48, 64, 255}) {
    EXPECT_EQ(Decode(RawFrame(static_cast<uint8_t>(type), {})),
              WireError::kUnknownFrameType)
        << type;
  }
  // An unknown frame after a valid one still drops the datagram.
  EXPECT_EQ(Decode(Concat({Header(), {1, 0}, {41, 0}})),
            WireError::kUnknownFrameType);
}

TEST(DecodeErrorTest, ListCounts) {
  std::vector<uint8_t> max_list = {0x80, 0x02};  // 256
  for (int i = 0; i < 256; ++i) {
    max_list.push_back(1);  // origin 1
    for (int b = 0; b < 7; ++b) max_list.push_back(0);
    max_list.push_back(1);  // sequence 1
  }
  EXPECT_EQ(Decode(RawFrame(18, max_list)), WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(18, {0x81, 0x02})), WireError::kTooManyEntries);
  EXPECT_EQ(Decode(RawFrame(20, {0x81, 0x02})), WireError::kTooManyEntries);
  EXPECT_EQ(Decode(RawFrame(17, {0xff, 0x7f})), WireError::kTooManyEntries);
  EXPECT_EQ(Decode(RawFrame(7, {0x81, 0x02})), WireError::kTooManyEntries);
  // Count says 2 entries, body has 1.
  EXPECT_EQ(Decode(RawFrame(18, Concat({{2}, Le64(1), {1}}))),
            WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(18, {0})), WireError::kOk);  // empty list
}

TEST(DecodeErrorTest, LengthMismatch) {
  // Ping body one byte short and one byte long.
  EXPECT_EQ(Decode(RawFrame(8, {1, 2, 3, 4, 5, 6, 7})), WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(8, {1, 2, 3, 4, 5, 6, 7, 8, 9})),
            WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(8, {1, 2, 3, 4, 5, 6, 7, 8})), WireError::kOk);
  // Empty frames with a body.
  EXPECT_EQ(Decode(RawFrame(1, {0})), WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(10, {0})), WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(19, {0})), WireError::kBadLength);
  // Bool frames.
  EXPECT_EQ(Decode(RawFrame(3, {})), WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(3, {1, 0})), WireError::kBadLength);
  // Gossip shorter than its id and hops.
  EXPECT_EQ(Decode(RawFrame(16, Concat({Le64(1), {1}}))),
            WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(16, Concat({Le64(1), {1, 1}}))), WireError::kOk);
}

TEST(DecodeErrorTest, BadFields) {
  // Zero sequence in Gossip, Graft, IWant, IHave.
  EXPECT_EQ(Decode(RawFrame(16, Concat({Le64(1), {0, 1}}))),
            WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(18, Concat({{1}, Le64(1), {0}}))),
            WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(20, Concat({{1}, Le64(1), {0}}))),
            WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(17, Concat({{1}, Le64(1), {0, 5}}))),
            WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(21, Concat({{1}, Le64(1), {0, 5}}))),
            WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(21, Concat({{1}, Le64(1), {1, 5}}))),
            WireError::kOk);
  // Hops beyond 32 bits.
  EXPECT_EQ(Decode(RawFrame(
                16, Concat({Le64(1), {1}, {0x80, 0x80, 0x80, 0x80, 0x10}}))),
            WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(
                16, Concat({Le64(1), {1}, {0xff, 0xff, 0xff, 0xff, 0x0f}}))),
            WireError::kOk);
  // Bools other than 0 and 1.
  EXPECT_EQ(Decode(RawFrame(3, {2})), WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(4, {255})), WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(4, {1})), WireError::kOk);
  // Unknown disconnect reason; a swap's replacement must follow reason 2.
  EXPECT_EQ(Decode(RawFrame(5, {3})), WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(5, {1})), WireError::kOk);
  const std::vector<uint8_t> peer = Concat({Le64(4), {1, 4}});  // sim node 4
  EXPECT_EQ(Decode(RawFrame(5, {2})), WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(5, Concat({{2}, peer}))), WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(5, Concat({{1}, peer}))), WireError::kBadLength);
  // SwapReply flags: bit 0 accepted, bit 1 a partner follows (only with
  // bit 0); nothing else.
  EXPECT_EQ(Decode(RawFrame(12, {0})), WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(12, {1})), WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(12, Concat({{3}, peer}))), WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(12, Concat({{2}, peer}))), WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(12, {4})), WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(12, {3})), WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(11, peer)), WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(11, {})), WireError::kBadLength);
}

TEST(DecodeErrorTest, BadAddresses) {
  const auto forward_join = [](std::vector<uint8_t> address) {
    return RawFrame(2, Concat({Le64(9), address, {3}}));
  };
  EXPECT_EQ(Decode(forward_join({1, 5})), WireError::kOk);
  EXPECT_EQ(Decode(forward_join({0})), WireError::kBadAddress);  // kNone
  EXPECT_EQ(Decode(forward_join({0, 5})), WireError::kBadAddress);
  EXPECT_EQ(Decode(forward_join({4, 5})), WireError::kBadAddress);  // unknown
  EXPECT_EQ(Decode(forward_join({255, 5})), WireError::kBadAddress);
  // Sim index beyond 32 bits.
  EXPECT_EQ(Decode(forward_join({1, 0x80, 0x80, 0x80, 0x80, 0x10})),
            WireError::kBadAddress);
  EXPECT_EQ(Decode(forward_join({1, 0xff, 0xff, 0xff, 0xff, 0x0f})),
            WireError::kOk);
  // IP addresses cut short inside the body.
  EXPECT_EQ(Decode(RawFrame(2, Concat({Le64(9), {2, 1, 2, 3}}))),
            WireError::kBadLength);
  EXPECT_EQ(Decode(RawFrame(2, Concat({Le64(9),
                                       {3, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
                                        12, 13, 14, 15, 16, 0}}))),
            WireError::kBadLength);
  // A bad address inside a Shuffle list.
  EXPECT_EQ(Decode(RawFrame(7, Concat({{1}, Le64(9), {9}}))),
            WireError::kBadAddress);
}

TEST(DecodeErrorTest, DecodedAddressesHaveTheirKind) {
  const std::vector<uint8_t> ipv6 = {3, 0x20, 0x01, 0x0d, 0xb8, 0, 0,
                                     0, 0,    0,    0,    0,    0, 0,
                                     0, 0,    1,    0x50, 0x00};
  DecodedDatagram out;
  ASSERT_EQ(DecodeDatagram(RawFrame(2, Concat({Le64(9), ipv6, {3}})), &out),
            WireError::kOk);
  const auto& frame = std::get<ForwardJoinFrame>(out.frames.at(0));
  EXPECT_EQ(frame.joiner.id, NodeId(9));
  EXPECT_EQ(frame.joiner.address.ToString(), "[2001:db8::1]:80");
  EXPECT_EQ(frame.time_to_live, 3);
}

TEST(DecodeErrorTest, ErrorInLaterFrameClearsEarlierFrames) {
  DecodedDatagram out;
  ASSERT_EQ(DecodeDatagram(Concat({Header(), {1, 0}, {19, 0}}), &out),
            WireError::kOk);
  EXPECT_EQ(out.frames.size(), 2u);
  EXPECT_EQ(
      DecodeDatagram(Concat({Header(), {1, 0}, {19, 0}, {3, 1, 7}}), &out),
      WireError::kBadField);
  EXPECT_TRUE(out.frames.empty());
}

// --- State frames ------------------------------------------------------------

std::vector<uint8_t> Le32(uint32_t v) {
  std::vector<uint8_t> bytes;
  for (int i = 0; i < 4; ++i) {
    bytes.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  return bytes;
}

// key 7, origin 9, wall 300, logical 1, then flags and the rest.
std::vector<uint8_t> RecordBytes(std::vector<uint8_t> flags_and_rest) {
  return Concat({Le64(7), Le64(9), {0xac, 0x02}, {0x01}, flags_and_rest});
}

TEST(StateWireTest, UpdateDatagramBytesArePinned) {
  const std::vector<uint8_t> value = {0xaa, 0xbb};
  DatagramBuilder builder(NodeId(0x0102030405060708), kDefaultMaxDatagramBytes);
  const StateRecord record{StateId(7), StateVersion{300, 1, NodeId(9)}, false,
                           value};
  ASSERT_EQ(builder.Add(StateUpdateFrame{true, 2, record}), WireError::kOk);
  ASSERT_EQ(builder.Add(StateDigestFrame{0x11223344, 3, 0x55}), WireError::kOk);
  const std::vector<uint8_t> expected = Concat({
      {0x01, 0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01},
      // StateUpdate: type 32, length 25, relay, hops 2, record.
      {32, 25, 0x01, 0x02},
      RecordBytes({0x00, 0x02, 0xaa, 0xbb}),
      // StateDigest: type 33, length 13, round LE, count 3, hash LE.
      {33, 13, 0x44, 0x33, 0x22, 0x11, 0x03},
      Le64(0x55),
  });
  EXPECT_EQ(builder.Finish(), expected);
}

TEST(StateWireTest, TombstoneCarriesNoValue) {
  const StateRecord tombstone{
      StateId(7), StateVersion{300, 1, NodeId(9)}, true, {}};
  DecodedDatagram out;
  const std::vector<uint8_t> bytes =
      RawFrame(32, Concat({{0x00, 0x01}, RecordBytes({0x01})}));
  ASSERT_EQ(DecodeDatagram(bytes, &out), WireError::kOk);
  const auto& update = std::get<StateUpdateFrame>(out.frames.at(0));
  EXPECT_FALSE(update.relay);
  EXPECT_EQ(update.hops, 1u);
  EXPECT_TRUE(update.record == tombstone);
  EXPECT_EQ(Encode(out.sender, out.frames), bytes);
  // A length after a tombstone's flags is a body longer than its fields.
  EXPECT_EQ(
      Decode(RawFrame(32, Concat({{0x00, 0x01}, RecordBytes({0x01, 0x00})}))),
      WireError::kBadLength);
}

TEST(StateWireTest, RecordFieldsAreRangeChecked) {
  const auto update = [](std::vector<uint8_t> record) {
    return Decode(RawFrame(32, Concat({{0x01, 0x01}, record})));
  };
  EXPECT_EQ(update(RecordBytes({0x00, 0x00})), WireError::kOk);
  // Unknown record flag bits.
  EXPECT_EQ(update(RecordBytes({0x02, 0x00})), WireError::kBadField);
  EXPECT_EQ(update(RecordBytes({0x80})), WireError::kBadField);
  // Wall time 2^62 - 1 is the largest allowed; 2^62 is not.
  std::vector<uint8_t> wall_max;
  AppendVarint(kMaxHlcWallMicros, &wall_max);
  std::vector<uint8_t> wall_over;
  AppendVarint(kMaxHlcWallMicros + 1, &wall_over);
  EXPECT_EQ(update(Concat({Le64(7), Le64(9), wall_max, {0x00}, {0x01}})),
            WireError::kOk);
  EXPECT_EQ(update(Concat({Le64(7), Le64(9), wall_over, {0x00}, {0x01}})),
            WireError::kBadField);
  // Logical counter beyond 32 bits.
  EXPECT_EQ(
      update(Concat(
          {Le64(7), Le64(9), {0x01}, {0x80, 0x80, 0x80, 0x80, 0x10}, {0x01}})),
      WireError::kBadField);
  EXPECT_EQ(
      update(Concat(
          {Le64(7), Le64(9), {0x01}, {0xff, 0xff, 0xff, 0xff, 0x0f}, {0x01}})),
      WireError::kOk);
  // A value length past the end of the body.
  EXPECT_EQ(update(RecordBytes({0x00, 0x03, 0xaa, 0xbb})),
            WireError::kBadLength);
  // Unknown update flag bits.
  EXPECT_EQ(Decode(RawFrame(32, Concat({{0x02, 0x01}, RecordBytes({0x01})}))),
            WireError::kBadField);
}

TEST(StateWireTest, SketchBoundsAreChecked) {
  const auto request = [](uint64_t start, uint64_t cells,
                          uint64_t reference = 5) {
    std::vector<uint8_t> body = Concat({Le32(1), Le64(~0ull)});
    AppendVarint(reference, &body);
    AppendVarint(start, &body);
    AppendVarint(cells, &body);
    return Decode(RawFrame(35, body));
  };
  EXPECT_EQ(request(0, 1), WireError::kOk);
  EXPECT_EQ(request(0, 0), WireError::kBadField);
  EXPECT_EQ(request(kMaxSketchIndex - 1, 1), WireError::kOk);
  EXPECT_EQ(request(kMaxSketchIndex - 1, 2), WireError::kBadField);
  EXPECT_EQ(request(kMaxSketchIndex, 1), WireError::kBadField);
  EXPECT_EQ(request(0, kU64Max), WireError::kBadField);
  EXPECT_EQ(request(0, 1, kMaxHlcWallMicros), WireError::kOk);
  EXPECT_EQ(request(0, 1, kMaxHlcWallMicros + 1), WireError::kBadField);
  const auto sketch = [](uint64_t start) {
    std::vector<uint8_t> body = Concat({Le32(1), Le64(3), Le64(4)});
    AppendVarint(start, &body);
    body.push_back(1);  // one cell
    return Decode(RawFrame(36, Concat({body, {0xff}, Le64(5), Le32(6)})));
  };
  EXPECT_EQ(sketch(0), WireError::kOk);
  EXPECT_EQ(sketch(kMaxSketchIndex - 1), WireError::kOk);
  EXPECT_EQ(sketch(kMaxSketchIndex), WireError::kBadField);
  // A cell cut short.
  EXPECT_EQ(Decode(RawFrame(36, Concat({Le32(1),
                                        Le64(3),
                                        Le64(4),
                                        {0x00, 0x01, 0x02},
                                        Le64(5),
                                        {1, 2, 3}}))),
            WireError::kBadLength);
  // 257 cells.
  EXPECT_EQ(Decode(RawFrame(
                36, Concat({Le32(1), Le64(3), Le64(4), {0x00}, {0x81, 0x02}}))),
            WireError::kTooManyEntries);
}

TEST(StateWireTest, OtherStateFramesAreRangeChecked) {
  // Digest count beyond 32 bits.
  EXPECT_EQ(
      Decode(RawFrame(
          33, Concat({Le32(1), {0x80, 0x80, 0x80, 0x80, 0x10}, Le64(1)}))),
      WireError::kBadField);
  // Ranges: a slice count beyond 32 bits, a cut hash.
  EXPECT_EQ(Decode(RawFrame(34, Concat({Le32(1), {0x01, 0x05, 0x01, 0x02}}))),
            WireError::kOk);
  EXPECT_EQ(
      Decode(RawFrame(
          34,
          Concat({Le32(1), {0x01, 0x80, 0x80, 0x80, 0x80, 0x10, 0x01, 0x02}}))),
      WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(34, Concat({Le32(1), {0x01, 0x05, 0x01}}))),
            WireError::kBadLength);
  // Delta: unknown flags, resume present only with its flag.
  EXPECT_EQ(Decode(RawFrame(37, Concat({Le32(1), {0x00, 0x00}}))),
            WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(37, Concat({Le32(1), {0x02, 0x00}}))),
            WireError::kBadField);
  EXPECT_EQ(Decode(RawFrame(37, Concat({Le32(1), {0x01}, Le64(9), {0x00}}))),
            WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(37, Concat({Le32(1), {0x01, 0x00}}))),
            WireError::kBadLength);
  // Request: max_reply_bytes beyond 32 bits, a cut tag.
  EXPECT_EQ(
      Decode(RawFrame(38, Concat({Le32(1), {0x10, 0x01}, Le64(2), Le32(3)}))),
      WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(
                38, Concat({Le32(1), {0x80, 0x80, 0x80, 0x80, 0x10, 0x00}}))),
            WireError::kBadField);
  EXPECT_EQ(
      Decode(RawFrame(38, Concat({Le32(1), {0x10, 0x01}, Le64(2), {3, 0}}))),
      WireError::kBadLength);
  // Stream request: from <= to.
  EXPECT_EQ(Decode(RawFrame(39, Concat({Le32(1), Le64(5), Le64(5), {0x10}}))),
            WireError::kOk);
  EXPECT_EQ(Decode(RawFrame(39, Concat({Le32(1), Le64(6), Le64(5), {0x10}}))),
            WireError::kBadField);
}

TEST(StateWireTest, BuilderRefusesInvalidStateFramesUnchanged) {
  DatagramBuilder builder(NodeId(3), kMaxMaxDatagramBytes);
  ASSERT_EQ(builder.Add(PingFrame{1}), WireError::kOk);
  const size_t size = builder.size();
  const std::vector<uint8_t> value = {1, 2, 3};
  const StateRecord good{StateId(1), StateVersion{5, 0, NodeId(2)}, false,
                         value};
  StateRecord late = good;
  late.version.wall_us = kMaxHlcWallMicros + 1;
  StateRecord tombstone_with_value = good;
  tombstone_with_value.deleted = true;
  const std::vector<std::pair<Frame, WireError>> cases = {
      {StateUpdateFrame{true, 1, late}, WireError::kBadField},
      {StateUpdateFrame{true, 1, tombstone_with_value}, WireError::kBadField},
      {StateDigestFrame{1, uint64_t{1} << 32, 0}, WireError::kBadField},
      {StateRangesFrame{1, {{uint64_t{1} << 32, 0}}}, WireError::kBadField},
      {StateRangesFrame{1, std::vector<StateSliceDigest>(kMaxListEntries + 1)},
       WireError::kTooManyEntries},
      {StateSketchRequestFrame{1, 0, 0, 0, 0}, WireError::kBadField},
      {StateSketchRequestFrame{1, 0, 0, kMaxSketchIndex, 1},
       WireError::kBadField},
      {StateSketchRequestFrame{1, 0, kMaxHlcWallMicros + 1, 0, 1},
       WireError::kBadField},
      {StateSketchFrame{1, 0, 0, kMaxSketchIndex, {SketchCell{}}},
       WireError::kBadField},
      {StateSketchFrame{1, 0, 0, 0,
                        std::vector<SketchCell>(kMaxListEntries + 1)},
       WireError::kTooManyEntries},
      {StateDeltaFrame{1, false, 5, {}}, WireError::kBadField},
      {StateDeltaFrame{1, false, 0, {good, late}}, WireError::kBadField},
      {StateDeltaFrame{1, false, 0,
                       std::vector<StateRecord>(kMaxListEntries + 1, good)},
       WireError::kTooManyEntries},
      {StateRequestFrame{1, uint64_t{1} << 32, {}}, WireError::kBadField},
      {StateRequestFrame{1, 0, std::vector<StateKeyTag>(kMaxListEntries + 1)},
       WireError::kTooManyEntries},
      {StateStreamRequestFrame{1, 6, 5, 0}, WireError::kBadField},
      {StateStreamRequestFrame{1, 0, 5, uint64_t{1} << 32},
       WireError::kBadField},
  };
  for (const auto& [frame, error] : cases) {
    EXPECT_EQ(builder.Add(frame), error) << FrameTypeName(TypeOf(frame));
    size_t body_bytes = 0;
    EXPECT_EQ(MeasureFrame(frame, &body_bytes), error)
        << FrameTypeName(TypeOf(frame));
    EXPECT_EQ(builder.size(), size);
    EXPECT_EQ(builder.frame_count(), 1u);
  }
  EXPECT_EQ(builder.Add(StateDeltaFrame{1, true, 5, {good}}), WireError::kOk);
}

TEST(StateWireTest, VersionsOrderLexicographically) {
  const StateVersion base{100, 5, NodeId(7)};
  EXPECT_LT(base, (StateVersion{101, 0, NodeId(1)}));
  EXPECT_LT(base, (StateVersion{100, 6, NodeId(1)}));
  EXPECT_LT(base, (StateVersion{100, 5, NodeId(8)}));
  EXPECT_GT(base, (StateVersion{100, 5, NodeId(6)}));
  EXPECT_EQ(base, (StateVersion{100, 5, NodeId(7)}));
}

}  // namespace
}  // namespace elara
