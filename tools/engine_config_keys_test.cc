// The shared [engine] key table: values are checked and stored, and both
// command lines (elara-sim, elara-node) accept every key of it.
#include "tools/engine_config_keys.h"

#include <set>
#include <string>
#include <string_view>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "sim/scenario.h"
#include "tools/node_cli_options.h"
#include "tools/sim_cli_options.h"

namespace elara::tools {
namespace {

// Applies `key = <value>` (value in TOML syntax) to *config.
absl::Status Apply(std::string_view key, std::string_view value,
                   DiffusionConfig* config) {
  const EngineKey* k = FindEngineKey(key);
  if (k == nullptr) return absl::NotFoundError(std::string(key));
  toml::parse_result parsed = toml::parse("v = " + std::string(value));
  if (!parsed) return absl::InternalError("bad TOML in the test");
  return ApplyEngineToml(*k, *parsed.table().get("v"), config);
}

TEST(EngineConfigKeysTest, GoodValuesSetTheField) {
  DiffusionConfig c;
  ASSERT_TRUE(Apply("active_view_size", "7", &c).ok());
  EXPECT_EQ(c.membership.active_view_size, 7u);
  ASSERT_TRUE(Apply("passive_random_walk_length", "255", &c).ok());
  EXPECT_EQ(c.membership.passive_random_walk_length, 255);
  ASSERT_TRUE(Apply("shuffle_period_ms", "2.5", &c).ok());
  EXPECT_EQ(c.membership.shuffle_period, Duration::Micros(2500));
  ASSERT_TRUE(Apply("adaptive_threshold", "0.25", &c).ok());
  EXPECT_EQ(c.broadcast.adaptive_threshold, 0.25);
  ASSERT_TRUE(Apply("redundancy_factor", "2", &c).ok());
  EXPECT_EQ(c.broadcast.redundancy_factor, 2.0);
  ASSERT_TRUE(Apply("max_tombstones", "99", &c).ok());
  EXPECT_EQ(c.state.max_tombstones, 99u);
  ASSERT_TRUE(Apply("max_clock_drift_ms", "1500", &c).ok());
  EXPECT_EQ(c.state.max_clock_drift, Duration::Millis(1500));
  ASSERT_TRUE(Apply("max_pending_transmits", "12", &c).ok());
  EXPECT_EQ(c.max_pending_transmits, 12u);
}

TEST(EngineConfigKeysTest, BadValuesNameTheAllowedRangeAndLeaveTheField) {
  DiffusionConfig c;
  absl::Status s = Apply("active_random_walk_length", "256", &c);
  EXPECT_EQ(s.message(), "expected an integer in 0..255") << s;
  EXPECT_EQ(c.membership.active_random_walk_length,
            DiffusionConfig().membership.active_random_walk_length);
  s = Apply("active_view_size", "-1", &c);
  EXPECT_EQ(s.message(), "expected an integer in 0..4294967295") << s;
  s = Apply("active_view_size", "1.5", &c);
  EXPECT_EQ(s.message(), "expected an integer in 0..4294967295") << s;
  s = Apply("shuffle_period_ms", "2592000001", &c);
  EXPECT_EQ(s.message(), "expected milliseconds, 0..2592000000") << s;
  s = Apply("shuffle_period_ms", "\"10s\"", &c);
  EXPECT_EQ(s.message(), "expected milliseconds, 0..2592000000") << s;
  EXPECT_EQ(c.membership.shuffle_period,
            DiffusionConfig().membership.shuffle_period);
  s = Apply("adaptive_threshold", "inf", &c);
  EXPECT_EQ(s.message(), "expected a number") << s;
  EXPECT_EQ(FindEngineKey("fanuot"), nullptr);
  EXPECT_EQ(FindEngineKey("mode"), nullptr);  // each CLI spells it its way
}

TEST(EngineConfigKeysTest, KeysAreUniqueAndReadBackWhatTheySet) {
  std::set<std::string> names;
  for (const EngineKey& k : EngineKeys()) {
    EXPECT_TRUE(names.insert(k.key).second) << k.key;
    EXPECT_EQ(FindEngineKey(k.key), &k);
    EXPECT_EQ(k.kind == EngineKeyKind::kMillis, absl::EndsWith(k.key, "_ms"))
        << k.key;
  }
  EXPECT_EQ(names.size(), 34u);  // every DiffusionConfig field but the mode
}

// A value of `key`'s kind that differs from the default, as TOML text:
// an integer, milliseconds, a number (in EngineKeyKind's order).
std::string OtherValue(const EngineKey& key) {
  constexpr const char* kByKind[] = {"7", "7.5", "0.375"};
  return kByKind[static_cast<int>(key.kind)];
}

TEST(EngineConfigKeysTest, BothCommandLinesAcceptEveryKey) {
  for (const EngineKey& k : EngineKeys()) {
    const std::string text =
        absl::StrCat("[engine]\n", k.key, " = ", OtherValue(k), "\n");
    DiffusionConfig expected;
    ASSERT_TRUE(Apply(k.key, OtherValue(k), &expected).ok()) << k.key;
    ASSERT_NE(k.get(expected), k.get(DiffusionConfig())) << k.key;

    NodeCliOptions node;
    absl::Status s = ApplyNodeConfigText(text, "n.toml", &node);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(k.get(node.node.diffusion), k.get(expected)) << k.key;

    sim::Scenario scenario;
    ConfigExtras extras;
    s = ApplyConfigText(text, "s.toml", false, &scenario, &extras);
    ASSERT_TRUE(s.ok()) << s;
    EXPECT_EQ(k.get(scenario.engine), k.get(expected)) << k.key;
  }
}

TEST(EngineConfigKeysTest, BothCommandLinesNameTheKeyAndRange) {
  const std::string bad = "[engine]\nactive_random_walk_length = 256\n";
  NodeCliOptions node;
  EXPECT_EQ(ApplyNodeConfigText(bad, "n.toml", &node).message(),
            "n.toml:2:29: engine.active_random_walk_length: expected an "
            "integer in 0..255");
  sim::Scenario scenario;
  ConfigExtras extras;
  EXPECT_EQ(ApplyConfigText(bad, "s.toml", false, &scenario, &extras).message(),
            "s.toml:2:29: engine.active_random_walk_length: expected an "
            "integer in 0..255, got '256'");

  const std::string unknown = "[engine]\nfanuot = 1\n";
  const std::string node_error =
      std::string(ApplyNodeConfigText(unknown, "n.toml", &node).message());
  EXPECT_TRUE(absl::StartsWith(
      node_error,
      "n.toml:2:1: unknown key 'engine.fanuot' (allowed: mode, "
      "active_view_size, "))
      << node_error;
  const std::string sim_error = std::string(
      ApplyConfigText(unknown, "s.toml", false, &scenario, &extras).message());
  EXPECT_TRUE(absl::StartsWith(
      sim_error,
      "s.toml:2:1: unknown key 'engine.fanuot' (allowed: active_view_size, "))
      << sim_error;
  for (const EngineKey& k : EngineKeys()) {
    EXPECT_TRUE(absl::StrContains(node_error, k.key)) << k.key;
    EXPECT_TRUE(absl::StrContains(sim_error, k.key)) << k.key;
  }
}

}  // namespace
}  // namespace elara::tools
