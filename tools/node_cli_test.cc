// elara-node's pure parts: base64, control lines, event JSON, line
// splitting, the config file and the command line.
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"
#include "tools/node_cli_control.h"
#include "tools/node_cli_options.h"

namespace elara::tools {
namespace {

std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

TEST(Base64Test, RoundTripsAndRejectsGarbage) {
  EXPECT_EQ(Base64Encode(Bytes("")), "");
  EXPECT_EQ(Base64Encode(Bytes("hello")), "aGVsbG8=");
  EXPECT_EQ(*Base64Decode("aGVsbG8="), Bytes("hello"));
  std::vector<uint8_t> all(256);
  for (int i = 0; i < 256; ++i) all[i] = static_cast<uint8_t>(i);
  EXPECT_EQ(*Base64Decode(Base64Encode(all)), all);
  EXPECT_FALSE(Base64Decode("!!!").has_value());
  EXPECT_FALSE(Base64Decode("aGVsbG8").has_value());  // unpadded
}

TEST(ControlLineTest, ParsesEveryOp) {
  absl::StatusOr<ControlCommand> c =
      ParseControlLine(R"({"op":"broadcast","data":"aGk="})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->op, ControlCommand::Op::kBroadcast);
  EXPECT_EQ(c->data, Bytes("hi"));
  EXPECT_EQ(ParseControlLine(R"({"op":"leave"})")->op,
            ControlCommand::Op::kLeave);
  EXPECT_EQ(ParseControlLine(R"({"op":"stats"})")->op,
            ControlCommand::Op::kStats);
  EXPECT_EQ(ParseControlLine(R"({"op":"peers"})")->op,
            ControlCommand::Op::kPeers);
  c = ParseControlLine(R"({"op":"join","addr":"127.0.0.1:9"})");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->addr, *Address::Parse("127.0.0.1:9"));
}

TEST(ControlLineTest, MalformedLinesAreErrorsNotCrashes) {
  const char* bad[] = {
      "",
      "garbage",
      "[]",
      "{}",
      "42",
      R"({"op":1})",
      R"({"op":"fly"})",
      R"({"op":"broadcast"})",
      R"({"op":"broadcast","data":7})",
      R"({"op":"broadcast","data":"%%%"})",
      R"({"op":"join"})",
      R"({"op":"join","addr":"sim:3"})",
      "{\"op\":\"leave\"",
      "\xff\xfe",
  };
  for (const char* line : bad) {
    absl::StatusOr<ControlCommand> c = ParseControlLine(line);
    EXPECT_FALSE(c.ok()) << line;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(absl::StrContains(
      ParseControlLine(R"({"op":"fly"})").status().message(), "fly"));
  EXPECT_FALSE(ParseControlLine(std::string(100000, '[')).ok());
}

TEST(ControlLineTest, ParsesStateOps) {
  absl::StatusOr<ControlCommand> c =
      ParseControlLine(R"({"op":"set","key":42,"value":"aGk="})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->op, ControlCommand::Op::kSet);
  EXPECT_EQ(c->key, StateId(42));
  EXPECT_EQ(c->data, Bytes("hi"));
  c = ParseControlLine(R"({"op":"set","key":0,"value":""})");  // empty value
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_TRUE(c->data.empty());
  c = ParseControlLine(R"({"op":"get","key":18446744073709551615})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->op, ControlCommand::Op::kGet);
  EXPECT_EQ(c->key, StateId(~uint64_t{0}));
  c = ParseControlLine(R"({"key":9,"op":"delete","extra":[1]})");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->op, ControlCommand::Op::kDelete);
  EXPECT_EQ(c->key, StateId(9));
}

TEST(ControlLineTest, MalformedStateOpsNameTheField) {
  const std::pair<const char*, const char*> bad[] = {
      {R"({"op":"set","value":"aGk="})", "set: missing \"key\""},
      {R"({"op":"set","key":-1,"value":"aGk="})", "set: \"key\" must be"},
      {R"({"op":"set","key":1.5,"value":"aGk="})", "set: \"key\" must be"},
      {R"({"op":"set","key":1e3,"value":"aGk="})", "set: \"key\" must be"},
      {R"({"op":"set","key":18446744073709551616,"value":"aGk="})",
       "set: \"key\" must be"},
      {R"({"op":"set","key":"7","value":"aGk="})", "set: \"key\" must be"},
      {R"({"op":"set","key":true,"value":"aGk="})", "set: \"key\" must be"},
      {R"({"op":"set","key":null,"value":"aGk="})", "set: \"key\" must be"},
      {R"({"op":"set","key":7})", "set: missing \"value\""},
      {R"({"op":"set","key":7,"value":5})", "set: missing \"value\""},
      {R"({"op":"set","key":7,"value":"aGk"})", "not valid base64"},
      {R"({"op":"get"})", "get: missing \"key\""},
      {R"({"op":"get","key":[7]})", "get: \"key\" must be"},
      {R"({"op":"delete","key":{}})", "delete: \"key\" must be"},
  };
  for (const auto& [line, message] : bad) {
    absl::StatusOr<ControlCommand> c = ParseControlLine(line);
    ASSERT_FALSE(c.ok()) << line;
    EXPECT_EQ(c.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(c.status().message(), message))
        << line << " -> " << c.status().message();
  }
  EXPECT_TRUE(absl::StrContains(
      ParseControlLine(R"({"op":"fly"})").status().message(), "set, get"));
}

TEST(EventJsonTest, StateRepliesCarryTheSchema) {
  StateValue held;
  held.value = std::make_shared<const std::vector<uint8_t>>(Bytes("hello"));
  held.version = StateVersion{1700000000000000, 3, NodeId(0xab)};
  const std::string version =
      R"("version":{"wall_us":1700000000000000,"logical":3,)"
      R"("origin":"00000000000000ab"})";
  EXPECT_EQ(SetJson(StateId(7), 5, held),
            R"({"event":"set","key":7,"bytes":5,)" + version + "}");
  EXPECT_EQ(GetJson(StateId(7), held),
            R"({"event":"get","key":7,"found":true,"bytes":5,)"
            R"("value":"aGVsbG8=",)" +
                version + "}");
  EXPECT_EQ(GetJson(StateId(8), std::nullopt),
            R"({"event":"get","key":8,"found":false})");
  EXPECT_EQ(DeleteJson(StateId(~uint64_t{0})),
            R"({"event":"delete","key":18446744073709551615})");
}

TEST(EventJsonTest, StateChangedCarriesTheSchema) {
  StateChangedEvent changed;
  changed.key = StateId(7);
  changed.value = std::make_shared<const std::vector<uint8_t>>(Bytes("hi"));
  changed.version = StateVersion{5, 0, NodeId(1)};
  changed.hops = 2;
  changed.at = Timestamp::FromMicros(99);
  EXPECT_EQ(EngineEventJson(changed, true),
            R"({"event":"state_changed","key":7,"deleted":false,"bytes":2,)"
            R"("version":{"wall_us":5,"logical":0,)"
            R"("origin":"0000000000000001"},"hops":2,"repaired":false,)"
            R"("at_us":99,"value":"aGk="})");
  EXPECT_FALSE(absl::StrContains(EngineEventJson(changed, false), "value"));
  StateChangedEvent deleted = changed;
  deleted.value = nullptr;
  deleted.deleted = true;
  deleted.hops = 0;
  deleted.repaired = true;
  EXPECT_EQ(EngineEventJson(deleted, true),
            R"({"event":"state_changed","key":7,"deleted":true,"bytes":0,)"
            R"("version":{"wall_us":5,"logical":0,)"
            R"("origin":"0000000000000001"},"hops":0,"repaired":true,)"
            R"("at_us":99})");
}

TEST(EventJsonTest, DeliverCarriesTheSchema) {
  DeliveredEvent d;
  d.id = MessageId{NodeId(0xab), 3};
  d.hops = 2;
  d.at = Timestamp::FromMicros(12345);
  d.payload = std::make_shared<const std::vector<uint8_t>>(Bytes("hello"));
  EXPECT_EQ(EngineEventJson(d, true),
            R"({"event":"deliver","origin":"00000000000000ab",)"
            R"("id":"00000000000000ab/3","hops":2,"recv_us":12345,)"
            R"("bytes":5,"data":"aGVsbG8="})");
  EXPECT_FALSE(absl::StrContains(EngineEventJson(d, false), "data"));
}

TEST(EventJsonTest, PeerEventsAndErrors) {
  PeerDownEvent down;
  down.peer = PeerEntry{NodeId(1), *Address::Parse("127.0.0.1:5")};
  down.cause = PeerDownCause::kLeft;
  down.at = Timestamp::FromMicros(9);
  EXPECT_EQ(EngineEventJson(down, true),
            R"({"event":"peer_down","peer":"0000000000000001",)"
            R"("addr":"127.0.0.1:5","cause":"left","at_us":9})");
  // Invalid UTF-8 in the echoed line does not throw.
  const std::string error = ErrorJson("bad", "\xff\xfe");
  EXPECT_TRUE(absl::StartsWith(error, R"({"event":"error","error":"bad")"));
  EXPECT_EQ(ReadyJson(NodeId(2), *Address::Parse("127.0.0.1:7"), std::nullopt),
            R"({"event":"ready","id":"0000000000000002",)"
            R"("addr":"127.0.0.1:7"})");
}

TEST(LineSplitterTest, SplitsJoinsAndBoundsLines) {
  LineSplitter splitter;
  std::vector<LineSplitter::Line> lines;
  splitter.Feed("ab", &lines);
  EXPECT_TRUE(lines.empty());
  splitter.Feed("c\r\nd\n\ne", &lines);
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].text, "abc");
  EXPECT_EQ(lines[1].text, "d");
  EXPECT_EQ(lines[2].text, "");
  EXPECT_EQ(splitter.Finish()->text, "e");
  EXPECT_FALSE(splitter.Finish().has_value());

  lines.clear();
  const std::string chunk(100000, 'x');
  for (int i = 0; i < 4; ++i) splitter.Feed(chunk, &lines);
  splitter.Feed("\nok\n", &lines);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(lines[0].too_long);
  EXPECT_FALSE(lines[1].too_long);
  EXPECT_EQ(lines[1].text, "ok");
}

TEST(NodeConfigFileTest, AppliesKeysAndRefusesUnknownOnes) {
  NodeCliOptions o;
  absl::Status s = ApplyNodeConfigText(
      "bind = \"127.0.0.1:7000\"\njoin = [\"127.0.0.1:7001\", "
      "\"127.0.0.1:7002\"]\nmax_peers = 100\nevent_buffer_size = 10\n"
      "exit_on_eof = true\nlog_level = \"debug\"\nseed = 5\n"
      "[engine]\nmode = \"push\"\nactive_view_size = 6\n"
      "keep_alive_interval_ms = 250\nredundancy_factor = 0.5\n",
      "n.toml", &o);
  ASSERT_TRUE(s.ok()) << s;
  EXPECT_EQ(o.node.bind_addr, *Address::Parse("127.0.0.1:7000"));
  EXPECT_EQ(o.join.size(), 2u);
  EXPECT_EQ(o.node.max_peers, 100u);
  EXPECT_EQ(o.node.event_buffer_size, 10u);
  EXPECT_TRUE(o.exit_on_eof);
  EXPECT_EQ(o.log_level, runtime::LogLevel::kDebug);
  EXPECT_EQ(*o.seed, 5u);
  EXPECT_EQ(o.node.diffusion.broadcast.mode, BroadcastMode::kPush);
  EXPECT_EQ(o.node.diffusion.membership.active_view_size, 6u);
  EXPECT_EQ(o.node.diffusion.membership.keep_alive_interval,
            Duration::Millis(250));
  EXPECT_EQ(o.node.diffusion.broadcast.redundancy_factor, 0.5);

  s = ApplyNodeConfigText("max_peers = 1\ncolour = 3\n", "n.toml", &o);
  EXPECT_TRUE(absl::StrContains(s.message(), "n.toml:2:1")) << s;
  EXPECT_TRUE(absl::StrContains(s.message(), "unknown key 'colour'"));
  s = ApplyNodeConfigText("[engine]\nfoo = 1\n", "n.toml", &o);
  EXPECT_TRUE(absl::StrContains(s.message(), "engine.foo")) << s;
  s = ApplyNodeConfigText("max_peers = -1\n", "n.toml", &o);
  EXPECT_TRUE(absl::StrContains(s.message(), "max_peers")) << s;
  s = ApplyNodeConfigText("max_peers = \n", "n.toml", &o);
  EXPECT_TRUE(absl::StrContains(s.message(), "TOML syntax error")) << s;
  // Inputs that break toml++ 3.3.0's own asserts (third_party/BUILD.bazel)
  // are syntax errors too, in every build mode.
  for (const char* text : {"[[[1]]]\n", "[&\n", "[[=\n", "max_peers =[}\n"}) {
    s = ApplyNodeConfigText(text, "n.toml", &o);
    EXPECT_TRUE(absl::StrContains(s.message(), "TOML syntax error"))
        << text << ": " << s;
  }
  s = ApplyNodeConfigText("bind = \"nowhere\"\n", "n.toml", &o);
  EXPECT_FALSE(s.ok());
}

TEST(HostPortTest, ParsesLiteralsAndNames) {
  EXPECT_EQ(*ParseHostPort("10.1.2.3:7"), *Address::Parse("10.1.2.3:7"));
  EXPECT_EQ(*ParseHostPort("[::1]:8"), *Address::Parse("[::1]:8"));
  absl::StatusOr<Address> local = ParseHostPort("localhost:9");
  ASSERT_TRUE(local.ok()) << local.status();
  EXPECT_EQ(local->port(), 9);
  EXPECT_FALSE(ParseHostPort("10.1.2.3").ok());
  EXPECT_FALSE(ParseHostPort("10.1.2.3:65536").ok());
  EXPECT_FALSE(ParseHostPort("10.1.2.3:-1").ok());
  EXPECT_FALSE(ParseHostPort("sim:3").ok());
}

std::optional<int> Parse(std::vector<const char*> args, NodeCliOptions* o,
                         std::string* err_text) {
  args.insert(args.begin(), "elara-node");
  std::ostringstream out, err;
  std::optional<int> code = ParseNodeCommandLine(static_cast<int>(args.size()),
                                                 args.data(), out, err, o);
  *err_text = err.str();
  return code;
}

TEST(CommandLineTest, FlagsApplyAndBadOnesExit2NamingTheFlag) {
  NodeCliOptions o;
  std::string err;
  EXPECT_EQ(Parse({"--bind", "127.0.0.1:7100", "--join", "127.0.0.1:1",
                   "--join", "127.0.0.1:2", "--event-buffer-size", "9",
                   "--no-data", "--mode", "pull"},
                  &o, &err),
            std::nullopt)
      << err;
  EXPECT_EQ(o.node.bind_addr.port(), 7100);
  EXPECT_EQ(o.join.size(), 2u);
  EXPECT_EQ(o.node.event_buffer_size, 9u);
  EXPECT_TRUE(o.no_data);
  EXPECT_EQ(o.node.diffusion.broadcast.mode, BroadcastMode::kPull);

  NodeCliOptions fresh;
  EXPECT_EQ(Parse({"--event-buffer-size", "0"}, &fresh, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "--event-buffer-size")) << err;
  EXPECT_EQ(Parse({"--join", "x"}, &fresh, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "--join x")) << err;
  EXPECT_EQ(Parse({"--max-peers", "3"}, &fresh, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "max_peers")) << err;
  EXPECT_EQ(Parse({"--config", "/nonexistent.toml"}, &fresh, &err), 2);
  EXPECT_TRUE(absl::StrContains(err, "/nonexistent.toml")) << err;
  EXPECT_EQ(Parse({"--help"}, &fresh, &err), 0);
}

TEST(CommandLineTest, SeedIsADecimalIntegerIn64Bits) {
  NodeCliOptions o;
  std::string err;
  EXPECT_EQ(Parse({"--seed", "18446744073709551615"}, &o, &err), std::nullopt)
      << err;
  EXPECT_EQ(*o.seed, 18446744073709551615u);
  for (const char* bad :
       {"-1", "18446744073709551616", "0x10", "1.5", "", "+3", "7 "}) {
    NodeCliOptions fresh;
    EXPECT_EQ(Parse({"--seed", bad}, &fresh, &err), 2) << bad;
    EXPECT_TRUE(absl::StrContains(err, "--seed")) << bad << ": " << err;
    EXPECT_FALSE(fresh.seed.has_value()) << bad;
  }
}

}  // namespace
}  // namespace elara::tools
