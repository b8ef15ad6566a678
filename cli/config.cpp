#include "cli/config.h"

#include <yaml-cpp/yaml.h>

#include <array>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>
#include <sstream>
#include <string_view>

#include "dsl/duration.h"
#include "postgres/store.h"

namespace cli {

namespace {

const std::vector<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
const std::vector<std::string> kFormats = {"text", "json"};
const std::vector<std::string> kConsume = {"group", "assign"};
const std::vector<std::string> kSynchronous = {"full", "normal"};
const std::vector<std::string> kBool = {"false", "true"};

std::string join(const std::vector<std::string>& xs) {
  std::string out;
  for (std::size_t i = 0; i < xs.size(); ++i) out += (i == 0 ? "" : i + 1 == xs.size() ? " or " : ", ") + xs[i];
  return out;
}

class Reader {
 public:
  Reader(std::string file, ConfigResult& r) : file_(std::move(file)), r_(r) {}

  void error(const YAML::Node& n, const std::string& message) {
    r_.diagnostics.push_back({dsl::Severity::error, file_, n.Mark().line + 1, n.Mark().column + 1, message});
  }

  // Reports keys of `map` not in `allowed`, with a suggestion.
  void keys(const YAML::Node& map, const std::string& where, std::vector<std::string_view> allowed) {
    for (const auto& kv : map) {
      std::string key = kv.first.IsScalar() ? kv.first.Scalar() : "?";
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(kv.first, "unknown key \"" + key + "\"" + (where.empty() ? "" : " in " + where) +
                            dsl::suggestion(key, allowed));
      }
    }
  }

  bool scalar(const YAML::Node& n, const std::string& key, std::string& out) {
    if (!n.IsScalar()) {
      error(n, key + " must be a string");
      return false;
    }
    out = n.Scalar();
    return true;
  }

  void choice(const YAML::Node& n, const std::string& key, const std::vector<std::string>& allowed, std::string& out) {
    std::string v;
    if (!scalar(n, key, v)) return;
    if (auto bad = check_choice(key, v, allowed)) {
      error(n, *bad);
      return;
    }
    out = v;
  }

  void integer(const YAML::Node& n, const std::string& key, int lo, int hi, int& out) {
    std::string v;
    if (!scalar(n, key, v)) return;
    try {
      std::size_t used = 0;
      long x = std::stol(v, &used);
      if (used == v.size() && x >= lo && x <= hi) {
        out = static_cast<int>(x);
        return;
      }
    } catch (const std::exception&) {
    }
    error(n, key + " must be a whole number from " + std::to_string(lo) + " to " + std::to_string(hi) + ", got \"" +
                 v + "\"");
  }

 private:
  std::string file_;
  ConfigResult& r_;
};

void read(const YAML::Node& root, Reader& rd, Config& c) {
  if (root.IsNull()) return;  // an empty file: all defaults
  if (!root.IsMap()) {
    rd.error(root, "the config must be a mapping of keys (sagas, state, standby, cluster, node, kafka, admin, log, retention, shutdown_timeout)");
    return;
  }
  rd.keys(root, "", {"sagas", "state", "synchronous", "standby", "cluster", "node", "kafka", "admin", "log", "retention",
                    "shutdown_timeout"});
  if (auto n = root["sagas"]) {
    if (n.IsSequence()) {
      c.sagas.clear();
      for (const auto& item : n) {
        std::string s;
        if (rd.scalar(item, "each entry of sagas", s)) c.sagas.push_back(s);
      }
    } else {
      std::string s;
      if (rd.scalar(n, "sagas", s)) c.sagas = {s};
    }
  }
  if (auto n = root["state"]) rd.scalar(n, "state", c.state);
  if (auto n = root["standby"]) {
    std::string v = "false";
    rd.choice(n, "standby", kBool, v);
    c.standby = v == "true";
  }
  if (auto n = root["cluster"]) {
    std::string v = "false";
    rd.choice(n, "cluster", kBool, v);
    c.cluster = v == "true";
  }
  if (auto n = root["node"]) rd.scalar(n, "node", c.node);
  if (auto n = root["synchronous"]) {
    std::string v = "full";
    rd.choice(n, "synchronous", kSynchronous, v);
    c.synchronous_full = v == "full";
  }
  if (auto n = root["admin"]) {
    if (n.IsMap()) {
      rd.keys(n, "admin", {"address", "token", "token_file", "hosts", "idle_timeout", "max_connections"});
      if (auto a = n["address"]) rd.scalar(a, "admin.address", c.admin);
      if (auto t = n["token"]) rd.scalar(t, "admin.token", c.admin_token);
      if (auto f = n["token_file"]) rd.scalar(f, "admin.token_file", c.admin_token_file);
      if (auto h = n["hosts"]) {
        if (!h.IsSequence()) rd.error(h, "admin.hosts must be a list of host names, e.g. [sagactl.internal]");
        for (const auto& item : h) {
          std::string name;
          if (rd.scalar(item, "each entry of admin.hosts", name)) c.admin_hosts.push_back(name);
        }
      }
      if (auto t = n["idle_timeout"]) {
        std::string v;
        if (rd.scalar(t, "admin.idle_timeout", v)) {
          auto d = dsl::parse_duration(v);
          if (d && d->count() > 0) {
            c.admin_idle_timeout = *d;
          } else {
            rd.error(t, "admin.idle_timeout \"" + v + "\" is not a positive duration: " + std::string(dsl::kDurationHint));
          }
        }
      }
      if (auto m = n["max_connections"]) rd.integer(m, "admin.max_connections", 1, 1'000'000, c.admin_max_connections);
    } else {
      rd.scalar(n, "admin", c.admin);  // the address alone
    }
  }
  if (auto n = root["retention"]) {
    std::string v;
    if (rd.scalar(n, "retention", v)) {
      if (auto d = parse_retention(v)) {
        c.retention = *d;
      } else {
        rd.error(n, "retention \"" + v + "\" is not a duration: " + std::string(dsl::kDurationHint) +
                        " (or 0 to keep everything)");
      }
    }
  }
  if (auto n = root["shutdown_timeout"]) {
    std::string v;
    if (rd.scalar(n, "shutdown_timeout", v)) {
      auto d = dsl::parse_duration(v);
      if (d && d->count() > 0) {
        c.shutdown_timeout = *d;
      } else {
        rd.error(n, "shutdown_timeout \"" + v + "\" is not a positive duration: " + std::string(dsl::kDurationHint));
      }
    }
  }
  if (auto k = root["kafka"]) {
    if (!k.IsMap()) {
      rd.error(k, "kafka must be a mapping (brokers, properties, events_topic, start_topic, ...)");
    } else {
      rd.keys(k, "kafka", {"brokers", "properties", "events_topic", "start_topic", "group", "consume", "partitions",
                           "embedded_port", "fetch_wait_ms", "connect_timeout"});
      if (auto n = k["brokers"]) rd.scalar(n, "kafka.brokers", c.kafka.brokers);
      if (auto n = k["events_topic"]) {
        if (n.IsNull()) c.kafka.events_topic.clear();
        else rd.scalar(n, "kafka.events_topic", c.kafka.events_topic);
      }
      if (auto n = k["start_topic"]) {
        if (n.IsNull()) c.kafka.start_topic.clear();
        else rd.scalar(n, "kafka.start_topic", c.kafka.start_topic);
      }
      if (auto n = k["group"]) rd.scalar(n, "kafka.group", c.kafka.group);
      if (auto n = k["consume"]) rd.choice(n, "kafka.consume", kConsume, c.kafka.consume);
      if (auto n = k["partitions"]) rd.integer(n, "kafka.partitions", 1, 1024, c.kafka.partitions);
      if (auto n = k["embedded_port"]) rd.integer(n, "kafka.embedded_port", 0, 65535, c.kafka.embedded_port);
      if (auto n = k["fetch_wait_ms"]) rd.integer(n, "kafka.fetch_wait_ms", 0, 60000, c.kafka.fetch_wait_ms);
      if (auto n = k["connect_timeout"]) {
        std::string v;
        if (rd.scalar(n, "kafka.connect_timeout", v)) {
          if (auto d = parse_retention(v)) {  // a duration, or 0: no limit
            c.kafka.connect_timeout = *d;
          } else {
            rd.error(n, "kafka.connect_timeout \"" + v + "\" is not a duration: " + std::string(dsl::kDurationHint) +
                            " (or 0 to wait as long as it takes)");
          }
        }
      }
      if (auto n = k["properties"]) {
        if (!n.IsMap()) {
          rd.error(n, "kafka.properties must be a mapping of librdkafka property names to values");
        } else {
          for (const auto& kv : n) {
            std::string name, value;
            if (rd.scalar(kv.first, "a kafka property name", name) &&
                rd.scalar(kv.second, "kafka.properties." + name, value)) {
              c.kafka.properties[name] = value;
            }
          }
        }
      }
    }
  }
  if (auto l = root["log"]) {
    if (!l.IsMap()) {
      rd.error(l, "log must be a mapping, e.g. {level: info, format: text}");
    } else {
      rd.keys(l, "log", {"level", "format"});
      if (auto n = l["level"]) rd.choice(n, "log.level", kLevels, c.log.level);
      if (auto n = l["format"]) rd.choice(n, "log.format", kFormats, c.log.format);
    }
  }
}

}  // namespace

std::optional<std::chrono::milliseconds> parse_retention(const std::string& text) {
  if (text == "0" || text == "forever") return std::chrono::milliseconds(0);
  return dsl::parse_duration(text);
}

std::optional<std::string> check_brokers(const std::string& brokers) {
  static constexpr std::array<std::string_view, 1> kEmbedded{"embedded"};
  if (brokers == kEmbedded[0]) return std::nullopt;
  if (brokers.empty()) return std::string("kafka.brokers is empty: give HOST:PORT[,...], or embedded");
  std::string_view rest = brokers;
  while (!rest.empty()) {
    auto comma = rest.find(',');
    std::string_view one = rest.substr(0, comma);
    auto colon = one.rfind(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == one.size() ||
        one.substr(colon + 1).find_first_not_of("0123456789") != std::string_view::npos) {
      std::string hint = dsl::closest(one, std::span<const std::string_view>(kEmbedded)).empty()
                             ? std::string()
                             : " (did you mean \"embedded\"?)";
      return "kafka.brokers \"" + std::string(one) + "\" is not HOST:PORT" + hint +
             "; give HOST:PORT[,...] of your brokers, or embedded for the development broker";
    }
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
  }
  return std::nullopt;
}

std::optional<std::string> check_choice(const std::string& what, const std::string& value,
                                        const std::vector<std::string>& allowed) {
  if (std::find(allowed.begin(), allowed.end(), value) != allowed.end()) return std::nullopt;
  return what + " must be " + join(allowed) + ", got \"" + value + "\"";
}

namespace {

// Paths in a config file (and the defaults it leaves in place) are relative to the file's
// folder, so `--config /srv/saga/sagactl.yaml` finds /srv/saga/sagactl.db from anywhere.
void resolve_beside(const std::filesystem::path& folder, Config& c) {
  if (folder.empty()) return;  // the file is in the working directory: nothing changes
  auto beside = [&](std::string& p) {
    if (!p.empty() && std::filesystem::path(p).is_relative()) p = (folder / p).lexically_normal().string();
  };
  for (auto& s : c.sagas) beside(s);
  if (!postgres::is_postgres_url(c.state)) beside(c.state);
  beside(c.admin_token_file);
}

}  // namespace

ConfigResult load_config(const std::string& path, bool explicit_path) {
  ConfigResult r;
  if (!std::filesystem::exists(path)) {
    if (explicit_path) {
      r.diagnostics.push_back({dsl::Severity::error, path, 0, 0,
                               "no such config file; write one (see docs/sagactl.md) or leave --config out"});
    }
    return r;
  }
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  Reader rd(path, r);
  try {
    read(YAML::Load(ss.str()), rd, r.config);
  } catch (const YAML::Exception& e) {
    r.diagnostics.push_back({dsl::Severity::error, path, e.mark.line + 1, e.mark.column + 1, e.msg});
  }
  dsl::sort_by_position(r.diagnostics);
  resolve_beside(std::filesystem::path(path).parent_path(), r.config);
  return r;
}

void apply_environment(ConfigResult& r) {
  auto env = [](const char* name) -> std::optional<std::string> {
    const char* v = std::getenv(name);
    return v ? std::optional<std::string>(v) : std::nullopt;
  };
  auto bad = [&](const char* name, const std::string& message) {
    r.diagnostics.push_back({dsl::Severity::error, std::string("$") + name, 0, 0, message});
  };
  Config& c = r.config;
  if (auto v = env("SAGACTL_SAGAS")) {
    c.sagas.clear();
    std::stringstream ss(*v);
    for (std::string part; std::getline(ss, part, ':');) {
      if (!part.empty()) c.sagas.push_back(part);
    }
  }
  if (auto v = env("SAGACTL_STATE")) c.state = *v;
  if (auto v = env("SAGACTL_STANDBY")) {
    if (auto e = check_choice("SAGACTL_STANDBY", *v, kBool)) bad("SAGACTL_STANDBY", *e);
    else c.standby = *v == "true";
  }
  if (auto v = env("SAGACTL_CLUSTER")) {
    if (auto e = check_choice("SAGACTL_CLUSTER", *v, kBool)) bad("SAGACTL_CLUSTER", *e);
    else c.cluster = *v == "true";
  }
  if (auto v = env("SAGACTL_NODE")) c.node = *v;
  if (auto v = env("SAGACTL_SYNCHRONOUS")) {
    if (auto e = check_choice("SAGACTL_SYNCHRONOUS", *v, kSynchronous)) bad("SAGACTL_SYNCHRONOUS", *e);
    else c.synchronous_full = *v == "full";
  }
  if (auto v = env("SAGACTL_KAFKA_BROKERS")) c.kafka.brokers = *v;
  if (auto v = env("SAGACTL_KAFKA_EVENTS_TOPIC")) c.kafka.events_topic = *v;
  if (auto v = env("SAGACTL_KAFKA_START_TOPIC")) c.kafka.start_topic = *v;
  if (auto v = env("SAGACTL_KAFKA_GROUP")) c.kafka.group = *v;
  if (auto v = env("SAGACTL_KAFKA_CONSUME")) {
    if (auto e = check_choice("SAGACTL_KAFKA_CONSUME", *v, kConsume)) bad("SAGACTL_KAFKA_CONSUME", *e);
    else c.kafka.consume = *v;
  }
  for (auto [name, out, lo, hi] : std::array{std::tuple{"SAGACTL_KAFKA_PARTITIONS", &c.kafka.partitions, 1, 1024},
                                             std::tuple{"SAGACTL_KAFKA_EMBEDDED_PORT", &c.kafka.embedded_port, 0, 65535},
                                             std::tuple{"SAGACTL_KAFKA_FETCH_WAIT_MS", &c.kafka.fetch_wait_ms, 0, 60000}}) {
    if (auto v = env(name)) {
      char* end = nullptr;
      long x = std::strtol(v->c_str(), &end, 10);
      if (v->empty() || *end != '\0' || x < lo || x > hi) {
        bad(name, std::string(name) + " must be a whole number from " + std::to_string(lo) + " to " +
                      std::to_string(hi) + ", got \"" + *v + "\"");
      } else {
        *out = static_cast<int>(x);
      }
    }
  }
  if (auto v = env("SAGACTL_ADMIN")) c.admin = *v;
  if (auto v = env("SAGACTL_ADMIN_TOKEN")) c.admin_token = *v;
  if (auto v = env("SAGACTL_ADMIN_TOKEN_FILE")) c.admin_token_file = *v;
  if (auto v = env("SAGACTL_ADMIN_HOSTS")) {
    c.admin_hosts.clear();
    std::stringstream names(*v);
    for (std::string name; std::getline(names, name, ',');) {
      if (!name.empty()) c.admin_hosts.push_back(name);
    }
  }
  if (auto v = env("SAGACTL_LOG_LEVEL")) {
    if (auto e = check_choice("SAGACTL_LOG_LEVEL", *v, kLevels)) bad("SAGACTL_LOG_LEVEL", *e);
    else c.log.level = *v;
  }
  if (auto v = env("SAGACTL_LOG_FORMAT")) {
    if (auto e = check_choice("SAGACTL_LOG_FORMAT", *v, kFormats)) bad("SAGACTL_LOG_FORMAT", *e);
    else c.log.format = *v;
  }
  if (auto v = env("SAGACTL_SHUTDOWN_TIMEOUT")) {
    auto d = dsl::parse_duration(*v);
    if (d && d->count() > 0) {
      c.shutdown_timeout = *d;
    } else {
      bad("SAGACTL_SHUTDOWN_TIMEOUT",
          "SAGACTL_SHUTDOWN_TIMEOUT \"" + *v + "\" is not a positive duration: " + std::string(dsl::kDurationHint));
    }
  }
  if (auto v = env("SAGACTL_RETENTION")) {
    if (auto d = parse_retention(*v)) {
      c.retention = *d;
    } else {
      bad("SAGACTL_RETENTION", "SAGACTL_RETENTION \"" + *v + "\" is not a duration: " + std::string(dsl::kDurationHint));
    }
  }
}

sagas::Result<AdminToken, std::string> admin_token(const Config& c) {
  if (!c.admin_token.empty() && c.admin_token.find_first_not_of(" \t\r\n") == std::string::npos) {
    return std::string("the admin token is blank: set admin.token (or SAGACTL_ADMIN_TOKEN) to a secret of visible "
                       "characters, e.g. the output of `openssl rand -hex 32`, or leave it unset");
  }
  if (!c.admin_token.empty() || c.admin_token_file.empty()) return AdminToken{c.admin_token};
  std::ifstream in(c.admin_token_file);
  std::string line;
  if (!in || !std::getline(in, line)) {
    return std::string("cannot read the admin token file " + c.admin_token_file +
                       ": check admin.token_file (or SAGACTL_ADMIN_TOKEN_FILE) and the file's permissions");
  }
  while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
  if (line.find_first_not_of(" \t") == std::string::npos) {
    return std::string("the admin token file " + c.admin_token_file + " is empty or blank: its first line is the token");
  }
  return AdminToken{line};
}

}  // namespace cli
