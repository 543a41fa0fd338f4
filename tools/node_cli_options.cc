// Flags and config keys of elara-node. Each config key is one entry of a
// small table (key, table, apply), so the unknown-key check and the error
// positions come for free; flags are parsed by CLI11 into text and applied
// after the config file, so they win.
#include "tools/node_cli_options.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "toml++/toml.h"
#include "tools/engine_config_keys.h"

namespace elara::tools {
namespace {

using runtime::NodeConfig;

absl::string_view ToAbsl(std::string_view s) {
  return absl::string_view(s.data(), s.size());
}

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

// --- Config file keys
// ---------------------------------------------------------

using Apply =
    std::function<absl::Status(const toml::node& value, NodeCliOptions* o)>;

struct ConfigKey {
  const char* key;
  bool engine_table;
  Apply apply;
};

absl::Status WrongType(const char* expected) {
  return Invalid(absl::StrCat("expected ", expected));
}

// Integer keys in 0..max.
template <typename Field>
ConfigKey IntegerKey(const char* key, bool engine, uint64_t max, Field field) {
  return ConfigKey{
      key, engine, [field, max](const toml::node& v, NodeCliOptions* o) {
        absl::StatusOr<uint64_t> n = TomlInteger(v, max);
        if (!n.ok()) return n.status();
        auto& target = field(*o);
        target = static_cast<std::remove_reference_t<decltype(target)>>(*n);
        return absl::OkStatus();
      }};
}

// Durations in milliseconds (integer or float), 0..30 days.
template <typename Field>
ConfigKey MillisKey(const char* key, bool engine, Field field) {
  return ConfigKey{key, engine,
                   [field](const toml::node& v, NodeCliOptions* o) {
                     absl::StatusOr<Duration> d = TomlMillis(v);
                     if (!d.ok()) return d.status();
                     field(*o) = *d;
                     return absl::OkStatus();
                   }};
}

template <typename Field>
ConfigKey BoolKey(const char* key, Field field) {
  return ConfigKey{key, false, [field](const toml::node& v, NodeCliOptions* o) {
                     if (!v.is_boolean()) return WrongType("true or false");
                     field(*o) = v.as_boolean()->get();
                     return absl::OkStatus();
                   }};
}

// String keys parsed by `parse`.
ConfigKey TextKey(
    const char* key, bool engine,
    std::function<absl::Status(const std::string&, NodeCliOptions*)> parse) {
  return ConfigKey{key, engine,
                   [parse](const toml::node& v, NodeCliOptions* o) {
                     if (!v.is_string()) return WrongType("a string");
                     return parse(v.as_string()->get(), o);
                   }};
}

absl::Status ParseAddressInto(const std::string& text, Address* out) {
  absl::StatusOr<Address> address = ParseHostPort(text);
  if (!address.ok()) return address.status();
  *out = *address;
  return absl::OkStatus();
}

absl::Status ParseModeInto(const std::string& text, NodeCliOptions* o) {
  if (!ParseBroadcastMode(text, &o->node.diffusion.broadcast.mode)) {
    return Invalid(
        absl::StrCat("expected push, pull or hybrid, got '", text, "'"));
  }
  return absl::OkStatus();
}

absl::Status ParseLogLevelInto(const std::string& text, NodeCliOptions* o) {
  if (!runtime::ParseLogLevel(text, &o->log_level)) {
    return Invalid(
        absl::StrCat("expected error, warn, info or debug, got '", text, "'"));
  }
  return absl::OkStatus();
}

constexpr uint64_t kU32 = std::numeric_limits<uint32_t>::max();
constexpr uint64_t kU64 = std::numeric_limits<uint64_t>::max();

std::vector<ConfigKey> NodeKeys() {
  std::vector<ConfigKey> t;
  t.push_back(TextKey("bind", false, [](const std::string& s, auto* o) {
    return ParseAddressInto(s, &o->node.bind_addr);
  }));
  t.push_back(TextKey("advertise", false, [](const std::string& s, auto* o) {
    return ParseAddressInto(s, &o->node.advertise_addr);
  }));
  t.push_back(ConfigKey{
      "join", false, [](const toml::node& v, NodeCliOptions* o) {
        const toml::array* items = v.as_array();
        if (items == nullptr) return WrongType("an array of \"HOST:PORT\"");
        o->join.clear();
        for (const toml::node& item : *items) {
          if (!item.is_string()) return WrongType("an array of \"HOST:PORT\"");
          absl::StatusOr<Address> a = ParseHostPort(item.as_string()->get());
          if (!a.ok()) return a.status();
          o->join.push_back(*a);
        }
        return absl::OkStatus();
      }});
  t.push_back(TextKey("identity", false, [](const std::string& s, auto* o) {
    o->identity_path = s;
    return absl::OkStatus();
  }));
  t.push_back(TextKey("metrics", false, [](const std::string& s, auto* o) {
    Address address;
    absl::Status status = ParseAddressInto(s, &address);
    if (status.ok()) o->metrics = address;
    return status;
  }));
  t.push_back(TextKey("log_level", false, &ParseLogLevelInto));
  t.push_back(
      ConfigKey{"seed", false, [](const toml::node& v, NodeCliOptions* o) {
                  // TOML integers are signed 64-bit: 0..2^63-1 here.
                  const std::optional<int64_t> n = v.value<int64_t>();
                  if (!v.is_integer() || !n || *n < 0) {
                    return WrongType("an integer >= 0");
                  }
                  o->seed = static_cast<uint64_t>(*n);
                  return absl::OkStatus();
                }});
  t.push_back(IntegerKey(
      "max_peers", false, kU32,
      [](auto& o) -> auto& { return o.node.max_peers; }));
  t.push_back(IntegerKey(
      "event_buffer_size", false, kU32,
      [](auto& o) -> auto& { return o.node.event_buffer_size; }));
  t.push_back(IntegerKey(
      "batch_datagrams", false, kU32,
      [](auto& o) -> auto& { return o.node.batch_datagrams; }));
  t.push_back(IntegerKey(
      "send_queue_datagrams", false, kU32,
      [](auto& o) -> auto& { return o.node.send_queue_datagrams; }));
  t.push_back(BoolKey(
      "detect_unreachable",
      [](auto& o) -> auto& { return o.node.detect_unreachable; }));
  t.push_back(BoolKey(
      "exit_on_eof", [](auto& o) -> auto& { return o.exit_on_eof; }));
  t.push_back(BoolKey(
      "no_data", [](auto& o) -> auto& { return o.no_data; }));
  t.push_back(MillisKey(
      "leave_timeout_ms", false,
      [](auto& o) -> auto& { return o.leave_timeout; }));
  return t;
}

// [engine]: mode, then the DiffusionConfig keys shared with elara-sim.
void AddEngineKeys(std::vector<ConfigKey>* t) {
  t->push_back(TextKey("mode", true, &ParseModeInto));
  for (const EngineKey& key : EngineKeys()) {
    const EngineKey* k = &key;  // EngineKeys() lives for the process
    t->push_back(
        ConfigKey{k->key, true, [k](const toml::node& v, NodeCliOptions* o) {
                    return ApplyEngineToml(*k, v, &o->node.diffusion);
                  }});
  }
}

const std::vector<ConfigKey>& ConfigKeys() {
  static const std::vector<ConfigKey>* const keys = [] {
    auto* t = new std::vector<ConfigKey>(NodeKeys());
    AddEngineKeys(t);
    return t;
  }();
  return *keys;
}

const ConfigKey* FindKey(std::string_view key, bool engine_table) {
  for (const ConfigKey& k : ConfigKeys()) {
    if (k.engine_table == engine_table && key == k.key) return &k;
  }
  return nullptr;
}

std::string Position(const toml::source_region& region,
                     std::string_view source) {
  return absl::StrCat(ToAbsl(source), ":", region.begin.line, ":",
                      region.begin.column);
}

std::string AllowedKeys(bool engine_table) {
  std::vector<std::string> keys;
  for (const ConfigKey& k : ConfigKeys()) {
    if (k.engine_table == engine_table) keys.push_back(k.key);
  }
  if (!engine_table) keys.push_back("[engine]");
  return absl::StrJoin(keys, ", ");
}

absl::Status ApplyTable(const toml::table& table, std::string_view source,
                        bool engine_table, NodeCliOptions* options) {
  for (auto&& [key, value] : table) {
    const std::string name(key.str());
    if (!engine_table && name == "engine") {
      if (!value.is_table()) {
        return Invalid(absl::StrCat(Position(key.source(), source),
                                    ": engine: expected a table ([engine])"));
      }
      continue;  // applied after the top level
    }
    const ConfigKey* config_key = FindKey(name, engine_table);
    if (config_key == nullptr) {
      return Invalid(
          absl::StrCat(Position(key.source(), source), ": unknown key '",
                       engine_table ? "engine." : "", name,
                       "' (allowed: ", AllowedKeys(engine_table), ")"));
    }
    absl::Status status = config_key->apply(value, options);
    if (!status.ok()) {
      return Invalid(absl::StrCat(Position(value.source(), source), ": ",
                                  engine_table ? "engine." : "", name, ": ",
                                  status.message()));
    }
  }
  if (!engine_table) {
    if (const toml::table* engine = table["engine"].as_table()) {
      return ApplyTable(*engine, source, true, options);
    }
  }
  return absl::OkStatus();
}

// --- Flags
// --------------------------------------------------------------------

// Maps a NodeConfig::Validate message to the flag / key that sets the field.
std::string WhereToFix(std::string_view message) {
  static const std::pair<const char*, const char*> kFields[] = {
      {"max_peers", "--max-peers / max_peers"},
      {"event_buffer_size", "--event-buffer-size / event_buffer_size"},
      {"bind_addr", "--bind / bind"},
      {"advertise_addr", "--advertise / advertise"},
      {"batch_datagrams", "config key batch_datagrams"},
      {"send_queue_datagrams", "config key send_queue_datagrams"},
      {"diffusion", "config table [engine] (or --mode)"},
  };
  for (const auto& [field, where] : kFields) {
    if (message.rfind(field, 0) == 0)
      return absl::StrCat(" (set by ", where, ")");
  }
  return "";
}

struct FlagTexts {
  std::string bind, advertise, identity, config, metrics, log_level, mode;
  std::string seed;  // parsed here: CLI11 2.1 wraps "-1" into 2^64-1
  std::vector<std::string> join;
  uint64_t max_peers = 0, event_buffer_size = 0;
  uint64_t leave_timeout_ms = 0;
  bool exit_on_eof = false, no_data = false;
};

constexpr char kDescription[] =
    "elara-node: one ELARA node (HyParView membership + Plumtree broadcast) "
    "on a real UDP socket.\n\n"
    "Control on stdin, one JSON object per line:\n"
    "  {\"op\":\"broadcast\",\"data\":\"<base64>\"}  {\"op\":\"leave\"}\n"
    "  {\"op\":\"join\",\"addr\":\"HOST:PORT\"}  {\"op\":\"stats\"}  "
    "{\"op\":\"peers\"}\n"
    "Events on stdout, one JSON object per line: ready, deliver, peer_up,\n"
    "peer_down, broadcast, stats, overflow, error, exit. EOF on stdin does "
    "not stop\nthe node unless --exit-on-eof. SIGINT/SIGTERM: leave the "
    "swarm, flush, exit 0.\nExit codes: 0 clean exit, 1 runtime error "
    "(bind, identity file), 2 usage.\nSee README.md, section "
    "\"Run a real node: `elara-node`\".";

absl::Status ApplyFlags(const CLI::App& app, const FlagTexts& f,
                        NodeCliOptions* o) {
  const auto given = [&app](const char* name) {
    return app.get_option(name)->count() > 0;
  };
  const auto address = [](const char* flag, const std::string& text,
                          Address* out) {
    absl::StatusOr<Address> a = ParseHostPort(text);
    if (!a.ok()) {
      return Invalid(absl::StrCat(flag, " ", text, ": ", a.status().message()));
    }
    *out = *a;
    return absl::OkStatus();
  };
  absl::Status s;
  if (given("--bind")) s.Update(address("--bind", f.bind, &o->node.bind_addr));
  if (given("--advertise")) {
    s.Update(address("--advertise", f.advertise, &o->node.advertise_addr));
  }
  if (given("--join")) {
    o->join.clear();
    for (const std::string& text : f.join) {
      Address a;
      s.Update(address("--join", text, &a));
      o->join.push_back(a);
    }
  }
  if (given("--metrics")) {
    Address a;
    s.Update(address("--metrics", f.metrics, &a));
    o->metrics = a;
  }
  if (given("--identity")) o->identity_path = f.identity;
  if (given("--log-level")) s.Update(ParseLogLevelInto(f.log_level, o));
  if (given("--mode")) s.Update(ParseModeInto(f.mode, o));
  if (given("--seed")) {
    uint64_t seed = 0;
    if (f.seed.empty() ||
        f.seed.find_first_not_of("0123456789") != std::string::npos ||
        !absl::SimpleAtoi(ToAbsl(f.seed), &seed)) {
      s.Update(Invalid(absl::StrCat("--seed ", f.seed,
                                    ": expected an integer in 0..2^64-1")));
    } else {
      o->seed = seed;
    }
  }
  if (given("--max-peers")) o->node.max_peers = f.max_peers;
  if (given("--event-buffer-size")) {
    o->node.event_buffer_size = f.event_buffer_size;
  }
  if (given("--leave-timeout-ms")) {
    o->leave_timeout =
        Duration::Millis(static_cast<int64_t>(f.leave_timeout_ms));
  }
  if (f.exit_on_eof) o->exit_on_eof = true;
  if (f.no_data) o->no_data = true;
  return s;
}

}  // namespace

absl::StatusOr<Address> ParseHostPort(std::string_view text) {
  if (std::optional<Address> a = Address::Parse(text)) {
    if (a->kind() == Address::Kind::kIpv4 ||
        a->kind() == Address::Kind::kIpv6) {
      return *a;
    }
  }
  const size_t colon = text.rfind(':');
  uint32_t port = 0;
  if (colon == std::string_view::npos || colon == 0 ||
      !absl::SimpleAtoi(ToAbsl(text.substr(colon + 1)), &port) ||
      port > 65535 ||
      text.substr(colon + 1).find_first_not_of("0123456789") !=
          std::string_view::npos) {
    return Invalid(
        "expected HOST:PORT (IPv4 a.b.c.d:P, IPv6 [x::y]:P or a host name) "
        "with PORT in 0..65535");
  }
  std::string host(text.substr(0, colon));
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints = {};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* results = nullptr;
  const int error = getaddrinfo(host.c_str(), nullptr, &hints, &results);
  if (error != 0 || results == nullptr) {
    return Invalid(absl::StrCat("cannot resolve host '", host,
                                "': ", gai_strerror(error)));
  }
  Address address;
  for (addrinfo* r = results; r != nullptr; r = r->ai_next) {
    if (r->ai_family == AF_INET) {
      const auto* sin = reinterpret_cast<const sockaddr_in*>(r->ai_addr);
      std::array<uint8_t, 4> ip;
      std::memcpy(ip.data(), &sin->sin_addr, 4);
      address = Address::Ipv4(ip, static_cast<uint16_t>(port));
      break;
    }
    if (r->ai_family == AF_INET6 && !address.valid()) {
      const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(r->ai_addr);
      std::array<uint8_t, 16> ip;
      std::memcpy(ip.data(), &sin6->sin6_addr, 16);
      address = Address::Ipv6(ip, static_cast<uint16_t>(port));
    }
  }
  freeaddrinfo(results);
  if (!address.valid()) {
    return Invalid(absl::StrCat("host '", host, "' has no IP address"));
  }
  return address;
}

absl::Status ApplyNodeConfigText(std::string_view text, std::string_view source,
                                 NodeCliOptions* options) {
  toml::parse_result result = toml::parse(text, source);
  if (!result) {
    const toml::parse_error& error = result.error();
    return Invalid(
        absl::StrCat(Position(error.source(), source),
                     ": TOML syntax error: ", ToAbsl(error.description())));
  }
  return ApplyTable(result.table(), source, false, options);
}

absl::Status ApplyNodeConfigFile(const std::string& path,
                                 NodeCliOptions* options) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Invalid(absl::StrCat("--config ", path, ": cannot read"));
  std::stringstream buffer;
  buffer << in.rdbuf();
  return ApplyNodeConfigText(buffer.str(), path, options);
}

std::optional<int> ParseNodeCommandLine(int argc, const char* const* argv,
                                        std::ostream& out, std::ostream& err,
                                        NodeCliOptions* options) {
  CLI::App app(kDescription, "elara-node");
  FlagTexts f;
  app.add_option("--bind", f.bind,
                 "UDP address to listen on; port 0 picks a free port "
                 "(reported by the ready event). Default 127.0.0.1:0")
      ->type_name("HOST:PORT");
  app.add_option("--advertise", f.advertise,
                 "Address peers should use to reach this node (default: the "
                 "bound address; needed when binding 0.0.0.0)")
      ->type_name("HOST:PORT");
  app.add_option("--join", f.join,
                 "Contact node to join through; repeatable (extra contacts "
                 "are used to rejoin after isolation)")
      ->type_name("HOST:PORT");
  app.add_option("--identity", f.identity,
                 "Ed25519 key file; created (mode 0600) when missing; refused "
                 "when group/others can read or write it. Default: a fresh "
                 "identity in memory only")
      ->type_name("FILE");
  app.add_option("--config", f.config,
                 "TOML config file (node keys at top level, engine keys in "
                 "[engine]); flags override it")
      ->type_name("FILE");
  app.add_option("--metrics", f.metrics,
                 "Serve Prometheus metrics over HTTP/1.0 on this TCP address "
                 "(GET /metrics)")
      ->type_name("HOST:PORT");
  app.add_option("--log-level", f.log_level,
                 "Log threshold on stderr: error, warn, info or debug "
                 "(default info)")
      ->type_name("LEVEL")
      ->check(CLI::IsMember({"error", "warn", "info", "debug"}));
  app.add_option("--mode", f.mode,
                 "Broadcast mode: push, pull or hybrid (default hybrid)")
      ->type_name("MODE")
      ->check(CLI::IsMember({"push", "pull", "hybrid"}));
  app.add_option("--seed", f.seed,
                 "Engine PRNG seed, 0..2^64-1 (default: derived from the "
                 "identity's private key)")
      ->type_name("N");
  app.add_option("--max-peers", f.max_peers,
                 "Bound of the peers this node knows, in "
                 "(active_view_size + passive_view_size)..65536 (default 64)")
      ->type_name("N")
      ->check(CLI::Range(uint64_t{1}, uint64_t{runtime::kMaxPeersLimit}));
  app.add_option("--event-buffer-size", f.event_buffer_size,
                 "Events buffered for stdout, 1..16777216 (default 4096); "
                 "overflow is counted and reported")
      ->type_name("N")
      ->check(CLI::Range(uint64_t{1}, uint64_t{runtime::kMaxEventBufferSize}));
  app.add_option("--leave-timeout-ms", f.leave_timeout_ms,
                 "On shutdown, wait at most this long for queued datagrams, "
                 "0..60000 (default 500)")
      ->type_name("MS")
      ->check(CLI::Range(uint64_t{0}, uint64_t{60000}));
  app.add_flag("--exit-on-eof", f.exit_on_eof,
               "Leave and exit when stdin reaches end of file (default: keep "
               "running)");
  app.add_flag("--no-data", f.no_data,
               "Omit payloads (\"data\") from deliver events");
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, out, err);
  } catch (const CLI::ParseError& e) {
    err << "elara-node: error: " << e.what()
        << "\nRun with --help for more information.\n";
    return kExitUsage;
  }
  absl::Status status;
  if (!f.config.empty()) status = ApplyNodeConfigFile(f.config, options);
  if (status.ok()) status = ApplyFlags(app, f, options);
  if (status.ok()) {
    NodeConfig check = options->node;
    check.node_id = NodeId(1);  // the real one comes from the identity
    status = check.Validate();
    if (!status.ok()) {
      status = Invalid(absl::StrCat("invalid configuration: ", status.message(),
                                    WhereToFix(std::string(status.message()))));
    }
  }
  if (!status.ok()) {
    err << "elara-node: error: " << status.message()
        << "\nRun with --help for more information.\n";
    return kExitUsage;
  }
  return std::nullopt;
}

}  // namespace elara::tools
