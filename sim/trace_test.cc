// File: sim/trace_test.cc
#include "sim/trace.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "gtest/gtest.h"

namespace elara::sim {
namespace {

TEST(TraceHashTest, FixedValueForFixedInput) {
  // Pins the hash function: a change here changes every recorded trace hash.
  TraceHash h;
  h.AddSend(1'000'000, 1, 2, 100);
  h.AddDelivery(1'010'000, 2, 0xabcdef, 1, 1);
  TraceHash same;
  same.AddSend(1'000'000, 1, 2, 100);
  same.AddDelivery(1'010'000, 2, 0xabcdef, 1, 1);
  EXPECT_EQ(h.value(), same.value());
  EXPECT_EQ(h.value(), 0xd4cf3294d1173241ULL) << std::hex << h.value();
}

TEST(TraceHashTest, SensitiveToEveryFieldAndOrder) {
  auto hash = [](int64_t t, uint32_t from, uint32_t to, uint64_t bytes) {
    TraceHash h;
    h.AddSend(t, from, to, bytes);
    return h.value();
  };
  const uint64_t base = hash(5, 1, 2, 3);
  EXPECT_NE(base, hash(6, 1, 2, 3));
  EXPECT_NE(base, hash(5, 2, 2, 3));
  EXPECT_NE(base, hash(5, 1, 3, 3));
  EXPECT_NE(base, hash(5, 1, 2, 4));
  EXPECT_NE(base, hash(5, 2, 1, 3));  // from/to swapped
  // High bits matter too.
  EXPECT_NE(base, hash(5 + (int64_t{1} << 62), 1, 2, 3));
  TraceHash ab, ba;
  ab.AddSend(1, 1, 2, 3);
  ab.AddDelivery(2, 2, 9, 1, 1);
  ba.AddDelivery(2, 2, 9, 1, 1);
  ba.AddSend(1, 1, 2, 3);
  EXPECT_NE(ab.value(), ba.value());
}

TEST(TraceWriterTest, WritesJsonLines) {
  const std::string path =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/trace_test.jsonl";
  absl::StatusOr<std::unique_ptr<TraceWriter>> w = TraceWriter::Open(path);
  ASSERT_TRUE(w.ok()) << w.status();
  (*w)->Send(10, 1, 2, 33, "ok");
  (*w)->Drop(11, 1, 2, "dead");
  (*w)->Deliver(12, 2, 0xab, 7, 3);
  ASSERT_TRUE((*w)->Close().ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(),
            "{\"t_us\":10,\"ev\":\"send\",\"from\":1,\"to\":2,\"bytes\":33,"
            "\"fate\":\"ok\"}\n"
            "{\"t_us\":11,\"ev\":\"drop\",\"from\":1,\"to\":2,\"reason\":"
            "\"dead\"}\n"
            "{\"t_us\":12,\"ev\":\"deliver\",\"node\":2,\"origin\":"
            "\"00000000000000ab\",\"seq\":7,\"hops\":3}\n");
}

TEST(TraceWriterTest, BadPathIsAnError) {
  absl::StatusOr<std::unique_ptr<TraceWriter>> w =
      TraceWriter::Open("/nonexistent-dir/x/trace.jsonl");
  EXPECT_FALSE(w.ok());
}

}  // namespace
}  // namespace elara::sim
