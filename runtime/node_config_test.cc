// NodeConfig::Validate: each invalid field is refused with its name first.
#include "runtime/node_config.h"

#include <string>

#include "gtest/gtest.h"

namespace elara::runtime {
namespace {

NodeConfig ValidConfig() {
  NodeConfig config;
  config.node_id = NodeId(42);
  return config;
}

std::string Message(const NodeConfig& config) {
  return std::string(config.Validate().message());
}

TEST(NodeConfigTest, DefaultsWithAnIdAreValid) {
  EXPECT_TRUE(ValidConfig().Validate().ok());
}

TEST(NodeConfigTest, ZeroNodeIdIsRefused) {
  NodeConfig config = ValidConfig();
  config.node_id = NodeId(0);
  EXPECT_EQ(config.Validate().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Message(config).rfind("node_id:", 0), 0u) << Message(config);
}

TEST(NodeConfigTest, BindAddressMustBeIp) {
  NodeConfig config = ValidConfig();
  config.bind_addr = Address::Sim(3);
  EXPECT_EQ(Message(config).rfind("bind_addr:", 0), 0u) << Message(config);
  config.bind_addr = Address();
  EXPECT_FALSE(config.Validate().ok());
  config.bind_addr = *Address::Parse("[::1]:0");
  EXPECT_TRUE(config.Validate().ok());
}

TEST(NodeConfigTest, AdvertisedAddressNeedsAPort) {
  NodeConfig config = ValidConfig();
  config.advertise_addr = *Address::Parse("10.0.0.1:0");
  EXPECT_EQ(Message(config).rfind("advertise_addr:", 0), 0u);
  config.advertise_addr = *Address::Parse("10.0.0.1:7000");
  EXPECT_TRUE(config.Validate().ok());
}

TEST(NodeConfigTest, MaxPeersMustHoldBothViews) {
  NodeConfig config = ValidConfig();
  config.diffusion.membership.active_view_size = 5;
  config.diffusion.membership.passive_view_size = 30;
  config.max_peers = 34;
  EXPECT_EQ(Message(config).rfind("max_peers:", 0), 0u) << Message(config);
  EXPECT_NE(Message(config).find("35.."), std::string::npos);
  config.max_peers = 35;
  EXPECT_TRUE(config.Validate().ok());
  config.max_peers = kMaxPeersLimit + 1;
  EXPECT_FALSE(config.Validate().ok());
}

TEST(NodeConfigTest, EventBufferSizeRange) {
  NodeConfig config = ValidConfig();
  config.event_buffer_size = 0;
  EXPECT_EQ(Message(config).rfind("event_buffer_size:", 0), 0u);
  config.event_buffer_size = kMaxEventBufferSize + 1;
  EXPECT_FALSE(config.Validate().ok());
  config.event_buffer_size = 1;
  EXPECT_TRUE(config.Validate().ok());
}

TEST(NodeConfigTest, BatchAndQueueRanges) {
  NodeConfig config = ValidConfig();
  config.batch_datagrams = 0;
  EXPECT_EQ(Message(config).rfind("batch_datagrams:", 0), 0u);
  config = ValidConfig();
  config.send_queue_datagrams = (size_t{1} << 20) + 1;
  EXPECT_EQ(Message(config).rfind("send_queue_datagrams:", 0), 0u);
}

TEST(NodeConfigTest, EngineErrorsArePrefixed) {
  NodeConfig config = ValidConfig();
  config.diffusion.max_datagram_bytes = 10;
  EXPECT_EQ(Message(config).rfind("diffusion: ", 0), 0u) << Message(config);
  EXPECT_NE(Message(config).find("max_datagram_bytes"), std::string::npos);
}

}  // namespace
}  // namespace elara::runtime
