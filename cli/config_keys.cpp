#include "cli/config_keys.h"

#include <algorithm>
#include <array>
#include <charconv>

#include "dsl/duration.h"

namespace cli {

namespace {

constexpr std::array<std::string_view, 2> kSynchronous = {"full", "normal"};
constexpr std::array<std::string_view, 2> kConsume = {"assign", "group"};
constexpr std::array<std::string_view, 6> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
constexpr std::array<std::string_view, 2> kFormats = {"text", "json"};
constexpr std::array<std::string_view, 2> kBool = {"false", "true"};

constexpr int kMaxPartitions = 1024;
constexpr int kMaxPort = 65535;
constexpr int kMaxFetchWaitMs = 60'000;
constexpr int kMaxAdminConnections = 1'000'000;

// clang-format off
const std::array kKeys = {
  ConfigKey{.path = "sagas", .env = "SAGACTL_SAGAS", .flag = "--sagas",
            .help = "Saga files and directories",
            .target = +[](Config& c) -> auto& { return c.sagas; }, .separator = ':', .is_path = true},
  ConfigKey{.path = "state", .env = "SAGACTL_STATE", .flag = "--state",
            .help = "The state: a SQLite file, or a postgresql:// URL",
            .target = +[](Config& c) -> auto& { return c.state; }, .is_path = true},
  ConfigKey{.path = "synchronous", .env = "SAGACTL_SYNCHRONOUS", .flag = "--synchronous",
            .help = "SQLite's fsync policy: full survives a power loss, normal a crash of the process",
            .target = +[](Config& c) -> auto& { return c.synchronous; }, .choices = kSynchronous},
  ConfigKey{.path = "standby", .env = "SAGACTL_STANDBY", .flag = "--standby",
            .help = "Wait for the state's owner to go, then take over (a hot standby)",
            .target = +[](Config& c) -> auto& { return c.standby; }},
  ConfigKey{.path = "cluster", .env = "SAGACTL_CLUSTER", .flag = "--cluster",
            .help = "Run as one node of a cluster on a PostgreSQL state (docs/cluster.md)",
            .target = +[](Config& c) -> auto& { return c.cluster; }},
  ConfigKey{.path = "node", .env = "SAGACTL_NODE", .flag = "--node",
            .help = "This node's name in the cluster, stable across restarts",
            .target = +[](Config& c) -> auto& { return c.node; }, .may_be_empty = true,
            .shown_default = "the host name"},
  ConfigKey{.path = "kafka.brokers", .env = "SAGACTL_KAFKA_BROKERS", .flag = "--brokers",
            .help = "embedded (an in-process development broker), or HOST:PORT,... of your brokers",
            .target = +[](Config& c) -> auto& { return c.kafka.brokers; }},
  ConfigKey{.path = "kafka.properties", .flag = "--property",
            .help = "librdkafka properties (the flag: NAME=VALUE, repeatable)",
            .target = +[](Config& c) -> auto& { return c.kafka.properties; }},
  ConfigKey{.path = "kafka.events_topic", .env = "SAGACTL_KAFKA_EVENTS_TOPIC", .flag = "--events-topic",
            .help = "The lifecycle events topic; empty: off",
            .target = +[](Config& c) -> auto& { return c.kafka.events_topic; }, .may_be_empty = true},
  ConfigKey{.path = "kafka.start_topic", .env = "SAGACTL_KAFKA_START_TOPIC", .flag = "--start-topic",
            .help = "The start requests topic; empty: off",
            .target = +[](Config& c) -> auto& { return c.kafka.start_topic; }, .may_be_empty = true},
  ConfigKey{.path = "kafka.group", .env = "SAGACTL_KAFKA_GROUP", .flag = "--group",
            .help = "The reply consumer's group",
            .target = +[](Config& c) -> auto& { return c.kafka.group; }},
  ConfigKey{.path = "kafka.consume", .env = "SAGACTL_KAFKA_CONSUME", .flag = "--consume",
            .help = "How the reply topics' partitions are taken, as Membership in docs/kafka.md says",
            .target = +[](Config& c) -> auto& { return c.kafka.consume; }, .choices = kConsume,
            .shown_default = "`assign`"},
  ConfigKey{.path = "kafka.partitions", .env = "SAGACTL_KAFKA_PARTITIONS", .flag = "--partitions",
            .help = "Partitions of the topics the embedded broker creates",
            .target = +[](Config& c) -> auto& { return c.kafka.partitions; }, .min = 1, .max = kMaxPartitions},
  ConfigKey{.path = "kafka.embedded_port", .env = "SAGACTL_KAFKA_EMBEDDED_PORT", .flag = "--embedded-port",
            .help = "The embedded broker's bootstrap port; 0: any free one",
            .target = +[](Config& c) -> auto& { return c.kafka.embedded_port; }, .min = 0, .max = kMaxPort},
  ConfigKey{.path = "kafka.fetch_wait_ms", .env = "SAGACTL_KAFKA_FETCH_WAIT_MS", .flag = "--fetch-wait-ms",
            .help = "librdkafka's fetch.wait.max.ms for the reply consumer",
            .target = +[](Config& c) -> auto& { return c.kafka.fetch_wait_ms; }, .min = 0, .max = kMaxFetchWaitMs,
            .shown_default = "`1` embedded, else `100`"},
  ConfigKey{.path = "kafka.connect_timeout", .env = "SAGACTL_KAFKA_CONNECT_TIMEOUT", .flag = "--connect-timeout",
            .help = "Give up at start when the brokers have not answered by then",
            .target = +[](Config& c) -> auto& { return c.kafka.connect_timeout; }, .zero = "wait as long as it takes"},
  ConfigKey{.path = "admin.address", .env = "SAGACTL_ADMIN", .flag = "--admin",
            .help = "The admin HTTP endpoint HOST:PORT (port 0: any free one); empty: off",
            .target = +[](Config& c) -> auto& { return c.admin; }, .may_be_empty = true, .section_shorthand = true},
  // Before admin.token: a token file given by a later source replaces a token from an earlier
  // one, and a token beside a file in one source wins (admin_token()).
  ConfigKey{.path = "admin.token_file", .env = "SAGACTL_ADMIN_TOKEN_FILE", .flag = "--admin-token-file",
            .help = "A file whose first line is the admin endpoint's bearer token",
            .target = +[](Config& c) -> auto& { return c.admin_token_file; }, .is_path = true,
            .then = [](Config& c) { c.admin_token.clear(); }},
  ConfigKey{.path = "admin.token", .env = "SAGACTL_ADMIN_TOKEN",
            .help = "The admin endpoint's bearer token, required beyond loopback (no flag: it would show in ps)",
            .target = +[](Config& c) -> auto& { return c.admin_token; }},
  ConfigKey{.path = "admin.hosts", .env = "SAGACTL_ADMIN_HOSTS",
            .help = "Host names the admin endpoint answers to besides IP addresses and localhost",
            .target = +[](Config& c) -> auto& { return c.admin_hosts; }, .separator = ','},
  ConfigKey{.path = "admin.idle_timeout", .env = "SAGACTL_ADMIN_IDLE_TIMEOUT",
            .help = "A connection idle or slow this long is closed",
            .target = +[](Config& c) -> auto& { return c.admin_idle_timeout; }},
  ConfigKey{.path = "admin.max_connections", .env = "SAGACTL_ADMIN_MAX_CONNECTIONS",
            .help = "Beyond this many connections at once, a new one is answered 503",
            .target = +[](Config& c) -> auto& { return c.admin_max_connections; }, .min = 1,
            .max = kMaxAdminConnections},
  ConfigKey{.path = "log.level", .env = "SAGACTL_LOG_LEVEL", .flag = "--log-level",
            .help = "The least severe log line written",
            .target = +[](Config& c) -> auto& { return c.log.level; }, .choices = kLevels},
  ConfigKey{.path = "log.format", .env = "SAGACTL_LOG_FORMAT", .flag = "--log-format",
            .help = "Log lines as text or one JSON object each",
            .target = +[](Config& c) -> auto& { return c.log.format; }, .choices = kFormats},
  ConfigKey{.path = "retention", .env = "SAGACTL_RETENTION", .flag = "--retention",
            .help = "Prune finished sagas this long after they finish",
            .target = +[](Config& c) -> auto& { return c.retention; }, .zero = "keep everything"},
  ConfigKey{.path = "shutdown_timeout", .env = "SAGACTL_SHUTDOWN_TIMEOUT", .flag = "--shutdown-timeout",
            .help = "The longest a stop takes; what is not delivered by then is sent at the next start",
            .target = +[](Config& c) -> auto& { return c.shutdown_timeout; }},
};
// clang-format on

std::string join(std::span<const std::string_view> words, std::string_view last) {
  std::string out;
  for (std::size_t i = 0; i < words.size(); ++i) {
    if (i > 0) out += i + 1 == words.size() ? last : std::string_view(", ");
    out += words[i];
  }
  return out;
}

std::optional<std::string> set_string(const ConfigKey& key, std::string_view text, std::string_view what,
                                      std::string& out) {
  if (!key.choices.empty() && std::find(key.choices.begin(), key.choices.end(), text) == key.choices.end()) {
    return std::string(what) + " must be " + join(key.choices, " or ") + ", got \"" + std::string(text) + "\"";
  }
  if (text.empty() && !key.may_be_empty) return std::string(what) + " is empty: " + std::string(key.help);
  out = text;
  return std::nullopt;
}

std::optional<std::string> set_bool(std::string_view text, std::string_view what, bool& out) {
  if (text != "true" && text != "false") {
    return std::string(what) + " must be " + join(kBool, " or ") + ", got \"" + std::string(text) + "\"";
  }
  out = text == "true";
  return std::nullopt;
}

std::optional<std::string> set_int(const ConfigKey& key, std::string_view text, std::string_view what, int& out) {
  long x = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), x);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || x < key.min || x > key.max) {
    return std::string(what) + " must be a whole number from " + std::to_string(key.min) + " to " +
           std::to_string(key.max) + ", got \"" + std::string(text) + "\"";
  }
  out = static_cast<int>(x);
  return std::nullopt;
}

std::optional<std::string> set_duration(const ConfigKey& key, std::string_view text, std::string_view what,
                                        std::chrono::milliseconds& out) {
  std::optional<std::chrono::milliseconds> d = key.zero.empty() ? dsl::parse_duration(text)
                                                                : parse_retention(std::string(text));
  if (d && (d->count() > 0 || !key.zero.empty())) {
    out = *d;
    return std::nullopt;
  }
  std::string head = std::string(what) + " \"" + std::string(text) + "\" is not a ";
  if (key.zero.empty()) return head + "positive duration: " + std::string(dsl::kDurationHint);
  return head + "duration: " + std::string(dsl::kDurationHint) + " (or 0 to " + std::string(key.zero) + ")";
}

void set_list(const ConfigKey& key, std::string_view text, std::vector<std::string>& out) {
  out.clear();
  while (!text.empty()) {
    auto cut = key.separator == 0 ? std::string_view::npos : text.find(key.separator);
    if (std::string_view item = text.substr(0, cut); !item.empty()) out.emplace_back(item);
    text = cut == std::string_view::npos ? std::string_view() : text.substr(cut + 1);
  }
}

std::optional<std::string> set_property(std::string_view text, std::string_view what,
                                        std::map<std::string, std::string>& out) {
  auto eq = text.find('=');
  if (eq == std::string_view::npos || eq == 0) {
    return std::string(what) + " " + std::string(text) + ": write it as NAME=VALUE";
  }
  out[std::string(text.substr(0, eq))] = text.substr(eq + 1);
  return std::nullopt;
}

std::string cell(std::string_view text) { return text.empty() ? std::string() : "`" + std::string(text) + "`"; }

// The default of Config, as the file would write it.
std::string default_text(const ConfigKey& key) {
  Config defaults;
  return std::visit(
      [&](auto target) -> std::string {
        const auto& value = target(defaults);
        using T = std::decay_t<decltype(value)>;
        if constexpr (std::is_same_v<T, std::string>) return value.empty() ? "\"\"" : value;
        else if constexpr (std::is_same_v<T, bool>) return value ? "true" : "false";
        else if constexpr (std::is_same_v<T, int>) return std::to_string(value);
        else if constexpr (std::is_same_v<T, std::chrono::milliseconds>)
          return value.count() == 0 ? "0" : dsl::format_duration(value);
        else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::vector<std::string_view> items(value.begin(), value.end());
          return value.empty() ? "[]" : join(items, ", ");
        } else {
          return "{}";
        }
      },
      key.target);
}

}  // namespace

std::span<const ConfigKey> config_keys() { return kKeys; }

const ConfigKey* find_config_key(std::string_view path) {
  auto it = std::find_if(kKeys.begin(), kKeys.end(), [&](const ConfigKey& k) { return k.path == path; });
  return it == kKeys.end() ? nullptr : &*it;
}

std::optional<std::string> set_config_key(const ConfigKey& key, std::string_view text, std::string_view what,
                                          Config& config) {
  std::optional<std::string> problem = std::visit(
      [&](auto target) -> std::optional<std::string> {
        auto& out = target(config);
        using T = std::decay_t<decltype(out)>;
        if constexpr (std::is_same_v<T, std::string>) return set_string(key, text, what, out);
        else if constexpr (std::is_same_v<T, bool>) return set_bool(text, what, out);
        else if constexpr (std::is_same_v<T, int>) return set_int(key, text, what, out);
        else if constexpr (std::is_same_v<T, std::chrono::milliseconds>) return set_duration(key, text, what, out);
        else if constexpr (std::is_same_v<T, std::vector<std::string>>) set_list(key, text, out);
        else return set_property(text, what, out);
        return std::nullopt;
      },
      key.target);
  if (!problem && key.then) key.then(config);
  return problem;
}

std::string config_help_text(const ConfigKey& key) {
  std::string help(key.help);
  if (!key.choices.empty()) help += " (" + join(key.choices, ", ") + ")";
  if (!key.zero.empty()) help += "; 0: " + std::string(key.zero);
  return help;
}

std::string config_reference_table() {
  std::string out = "| key | default | variable | flag of `run` | meaning |\n|---|---|---|---|---|\n";
  for (const ConfigKey& k : kKeys) {
    std::string env = cell(k.env);
    if (k.separator != 0) env += " (`" + std::string(1, k.separator) + "`-separated)";
    std::string shown = k.shown_default.empty() ? cell(default_text(k)) : std::string(k.shown_default);
    out += "| " + cell(k.path) + " | " + shown + " | " + env + " | " + cell(k.flag) + " | " +
           config_help_text(k) + " |\n";
  }
  return out;
}

}  // namespace cli
