// JSON through nlohmann::json without exceptions reaching the caller:
// parsing uses allow_exceptions=false and every access checks the type
// first; dumping replaces invalid UTF-8 instead of throwing.
#include "tools/node_cli_control.h"

#include <openssl/base64.h>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace elara::tools {
namespace {

using Json = nlohmann::ordered_json;

std::string Dump(const Json& json) {
  return json.dump(-1, ' ', false, Json::error_handler_t::replace);
}

absl::Status Invalid(std::string_view message) {
  return absl::InvalidArgumentError(std::string(message));
}

// "key": a JSON integer 0..2^64-1 (nlohmann reads a larger one, a negative
// one or one with a fraction or exponent as another number type).
absl::StatusOr<StateId> ParseKey(const Json& json, const std::string& op) {
  const auto key = json.find("key");
  if (key == json.end()) {
    return Invalid(absl::StrCat(
        op, ": missing \"key\" (an integer 0..18446744073709551615)"));
  }
  if (!key->is_number_unsigned()) {
    return Invalid(absl::StrCat(
        op, ": \"key\" must be an integer 0..18446744073709551615"));
  }
  return StateId(key->get<uint64_t>());
}

absl::Status ParseSet(const Json& json, ControlCommand* command) {
  absl::StatusOr<StateId> key = ParseKey(json, "set");
  if (!key.ok()) return key.status();
  command->key = *key;
  const auto value = json.find("value");
  if (value == json.end() || !value->is_string()) {
    return Invalid("set: missing \"value\" (a base64 string)");
  }
  std::optional<std::vector<uint8_t>> bytes =
      Base64Decode(value->get_ref<const std::string&>());
  if (!bytes) return Invalid("set: \"value\" is not valid base64");
  command->data = std::move(*bytes);
  return absl::OkStatus();
}

Json VersionJson(const StateVersion& version) {
  return Json{{"wall_us", version.wall_us},
              {"logical", version.logical},
              {"origin", ToString(version.origin)}};
}

Json StateChangedJson(const StateChangedEvent& s, bool include_data) {
  Json json = {{"event", "state_changed"},
               {"key", s.key.value()},
               {"deleted", s.deleted},
               {"bytes", s.value ? s.value->size() : 0},
               {"version", VersionJson(s.version)},
               {"hops", s.hops},
               {"repaired", s.repaired},
               {"at_us", s.at.ToMicros()}};
  if (include_data && s.value) json["value"] = Base64Encode(*s.value);
  return json;
}

}  // namespace

std::string Base64Encode(std::span<const uint8_t> bytes) {
  size_t length = 0;
  if (!EVP_EncodedLength(&length, bytes.size())) return "";
  std::string out(length, '\0');
  const size_t written = EVP_EncodeBlock(reinterpret_cast<uint8_t*>(out.data()),
                                         bytes.data(), bytes.size());
  out.resize(written);  // EVP_EncodedLength counts the trailing NUL
  return out;
}

std::optional<std::vector<uint8_t>> Base64Decode(std::string_view text) {
  size_t max_length = 0;
  if (!EVP_DecodedLength(&max_length, text.size())) return std::nullopt;
  std::vector<uint8_t> out(max_length);
  size_t length = 0;
  if (!EVP_DecodeBase64(out.data(), &length, out.size(),
                        reinterpret_cast<const uint8_t*>(text.data()),
                        text.size())) {
    return std::nullopt;
  }
  out.resize(length);
  return out;
}

absl::StatusOr<ControlCommand> ParseControlLine(std::string_view line) {
  const Json json = Json::parse(line.begin(), line.end(), nullptr,
                                /*allow_exceptions=*/false);
  if (json.is_discarded()) return Invalid("not valid JSON");
  if (!json.is_object()) return Invalid("expected a JSON object");
  const auto op = json.find("op");
  if (op == json.end() || !op->is_string()) {
    return Invalid("missing \"op\" (a string)");
  }
  const std::string& name = op->get_ref<const std::string&>();
  ControlCommand command;
  if (name == "broadcast") {
    command.op = ControlCommand::Op::kBroadcast;
    const auto data = json.find("data");
    if (data == json.end() || !data->is_string()) {
      return Invalid("broadcast: missing \"data\" (a base64 string)");
    }
    std::optional<std::vector<uint8_t>> bytes =
        Base64Decode(data->get_ref<const std::string&>());
    if (!bytes) return Invalid("broadcast: \"data\" is not valid base64");
    command.data = std::move(*bytes);
  } else if (name == "leave") {
    command.op = ControlCommand::Op::kLeave;
  } else if (name == "join") {
    command.op = ControlCommand::Op::kJoin;
    const auto addr = json.find("addr");
    std::optional<Address> parsed;
    if (addr != json.end() && addr->is_string()) {
      parsed = Address::Parse(addr->get_ref<const std::string&>());
    }
    if (!parsed || (parsed->kind() != Address::Kind::kIpv4 &&
                    parsed->kind() != Address::Kind::kIpv6)) {
      return Invalid("join: \"addr\" must be \"IP:PORT\"");
    }
    command.addr = *parsed;
  } else if (name == "stats") {
    command.op = ControlCommand::Op::kStats;
  } else if (name == "peers") {
    command.op = ControlCommand::Op::kPeers;
  } else if (name == "set") {
    command.op = ControlCommand::Op::kSet;
    absl::Status status = ParseSet(json, &command);
    if (!status.ok()) return status;
  } else if (name == "get" || name == "delete") {
    command.op =
        name == "get" ? ControlCommand::Op::kGet : ControlCommand::Op::kDelete;
    absl::StatusOr<StateId> key = ParseKey(json, name);
    if (!key.ok()) return key.status();
    command.key = *key;
  } else {
    return Invalid(absl::StrCat("unknown op '", name,
                                "' (allowed: broadcast, leave, join, stats, "
                                "peers, set, get, delete)"));
  }
  return command;
}

std::string ReadyJson(NodeId id, const Address& addr,
                      const std::optional<Address>& metrics) {
  Json json = {
      {"event", "ready"}, {"id", ToString(id)}, {"addr", addr.ToString()}};
  if (metrics) json["metrics"] = metrics->ToString();
  return Dump(json);
}

std::string EngineEventJson(const EngineEvent& event, bool include_data) {
  Json json;
  if (const auto* d = std::get_if<DeliveredEvent>(&event)) {
    json = {{"event", "deliver"},
            {"origin", ToString(d->id.origin)},
            {"id", ToString(d->id)},
            {"hops", d->hops},
            {"recv_us", d->at.ToMicros()},
            {"bytes", d->payload ? d->payload->size() : 0}};
    if (include_data) {
      json["data"] = d->payload ? Base64Encode(*d->payload) : "";
    }
  } else if (const auto* up = std::get_if<PeerUpEvent>(&event)) {
    json = {{"event", "peer_up"},
            {"peer", ToString(up->peer.id)},
            {"addr", up->peer.address.ToString()},
            {"at_us", up->at.ToMicros()}};
  } else if (const auto* down = std::get_if<PeerDownEvent>(&event)) {
    json = {{"event", "peer_down"},
            {"peer", ToString(down->peer.id)},
            {"addr", down->peer.address.ToString()},
            {"cause", PeerDownCauseName(down->cause)},
            {"at_us", down->at.ToMicros()}};
  } else if (const auto* state = std::get_if<StateChangedEvent>(&event)) {
    json = StateChangedJson(*state, include_data);
  }
  return Dump(json);
}

std::string BroadcastJson(const MessageId& id, size_t bytes, Timestamp sent) {
  return Dump(Json{{"event", "broadcast"},
                   {"id", ToString(id)},
                   {"bytes", bytes},
                   {"sent_us", sent.ToMicros()}});
}

std::string SetJson(StateId key, size_t bytes,
                    const std::optional<StateValue>& written) {
  Json json = {{"event", "set"}, {"key", key.value()}, {"bytes", bytes}};
  if (written) json["version"] = VersionJson(written->version);
  return Dump(json);
}

std::string GetJson(StateId key, const std::optional<StateValue>& value) {
  Json json = {{"event", "get"}, {"key", key.value()}, {"found", false}};
  if (!value) return Dump(json);
  json["found"] = true;
  const size_t bytes = value->value ? value->value->size() : 0;
  json["bytes"] = bytes;
  json["value"] = value->value ? Base64Encode(*value->value) : "";
  json["version"] = VersionJson(value->version);
  return Dump(json);
}

std::string DeleteJson(StateId key) {
  return Dump(Json{{"event", "delete"}, {"key", key.value()}});
}

std::string ErrorJson(std::string_view message, std::string_view line) {
  constexpr size_t kEchoBytes = 200;
  Json json = {{"event", "error"}, {"error", std::string(message)}};
  if (!line.empty()) {
    json["line"] = std::string(line.substr(0, kEchoBytes));
  }
  return Dump(json);
}

std::string OverflowJson(uint64_t dropped, uint64_t dropped_total) {
  return Dump(Json{{"event", "overflow"},
                   {"dropped", dropped},
                   {"dropped_total", dropped_total}});
}

std::string PeersJson(const std::vector<PeerEntry>& active,
                      const std::vector<PeerEntry>& passive) {
  const auto list = [](const std::vector<PeerEntry>& peers) {
    Json array = Json::array();
    for (const PeerEntry& p : peers) {
      array.push_back(
          Json{{"peer", ToString(p.id)}, {"addr", p.address.ToString()}});
    }
    return array;
  };
  return Dump(Json{{"event", "peers"},
                   {"active", list(active)},
                   {"passive", list(passive)}});
}

std::string StatsJson(
    const std::vector<std::pair<std::string, uint64_t>>& stats,
    std::string_view reason) {
  Json values = Json::object();
  for (const auto& [name, value] : stats) values[name] = value;
  return Dump(Json{
      {"event", "stats"}, {"reason", std::string(reason)}, {"stats", values}});
}

std::string ExitJson(std::string_view reason) {
  return Dump(Json{{"event", "exit"}, {"reason", std::string(reason)}});
}

void LineSplitter::Feed(std::string_view bytes, std::vector<Line>* lines) {
  while (!bytes.empty()) {
    const size_t newline = bytes.find('\n');
    const std::string_view piece = bytes.substr(0, newline);
    if (!skipping_) {
      if (partial_.size() + piece.size() > kMaxControlLineBytes) {
        lines->push_back(Line{partial_.substr(0, 200), true});
        partial_.clear();
        skipping_ = true;
      } else {
        partial_.append(piece);
      }
    }
    if (newline == std::string_view::npos) return;
    if (!skipping_) {
      if (!partial_.empty() && partial_.back() == '\r') partial_.pop_back();
      lines->push_back(Line{std::move(partial_), false});
    }
    partial_.clear();
    skipping_ = false;
    bytes.remove_prefix(newline + 1);
  }
}

std::optional<LineSplitter::Line> LineSplitter::Finish() {
  if (skipping_ || partial_.empty()) return std::nullopt;
  Line line{std::move(partial_), false};
  partial_.clear();
  return line;
}

}  // namespace elara::tools
