// Config: what `sagactl run` (and the client commands) are configured with (docs/sagactl.md).
//
// Sources, later ones winning: the defaults below, the YAML file (`--config`, default
// ./sagactl.yaml; a missing default file is fine, a missing named one is an error),
// SAGACTL_* environment variables, then flags. Every problem in the file is reported at
// once as FILE:LINE:COL, like saga files: unknown keys (with a suggestion), wrong types, bad
// durations and choices. Which keys there are, and each one's variable, flag and checks,
// is the table of config_keys.h.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dsl/diagnostic.h"
#include "sagas/result.h"

namespace cli {

struct Config {
  std::vector<std::string> sagas = {"./sagas"};
  std::string state = "./sagactl.db";
  std::string synchronous = "full";  // SQLite's: full | normal
  // standby: wait, however long, for the state's owner to go and then take over (instead of
  // refusing to start when another orchestrator holds it).
  bool standby = false;
  // cluster: this orchestrator is one node of a cluster sharing a PostgreSQL `state` and the
  // reply topic's partitions (docs/cluster.md); `node` names it (stable across restarts: it
  // is the consumer group's static member id), the host name when empty.
  bool cluster = false;
  std::string node;
  struct Kafka {
    std::string brokers = "embedded";
    std::map<std::string, std::string> properties;
    std::string events_topic = "sagas.events";  // empty: not published
    std::string start_topic = "sagas.start";    // empty: not consumed
    std::string group = "sagactl";
    std::string consume;        // assign (default when empty) | group: see docs/kafka.md, Membership
    int partitions = 1;         // of the topics the embedded broker creates
    int embedded_port = 19092;  // the embedded broker's bootstrap port (0: any free port)
    int fetch_wait_ms = -1;     // -1: 1 when embedded, 100 otherwise
    // How long `run` waits for the brokers to answer at start before it gives up (0: it
    // waits as long as it takes, its admin endpoint answering 503 meanwhile).
    std::chrono::milliseconds connect_timeout{0};
  } kafka;
  std::string admin = "127.0.0.1:7468";  // host:port of the admin HTTP endpoint; empty: off
  // The admin endpoint's bearer token (admin.token), or the file holding it
  // (admin.token_file; one line). Required to listen beyond loopback.
  std::string admin_token;
  std::string admin_token_file;
  // Host names the admin endpoint answers to besides IP literals and localhost (admin.hosts;
  // SAGACTL_ADMIN_HOSTS, comma-separated): a Host header naming anything else is refused.
  std::vector<std::string> admin_hosts;
  std::chrono::milliseconds admin_idle_timeout{30'000};  // admin.idle_timeout
  int admin_max_connections = 512;                       // admin.max_connections
  struct Log {
    std::string level = "info";  // trace | debug | info | warn | error | off
    std::string format = "text";  // text | json
  } log;
  std::chrono::milliseconds retention{7LL * 24 * 3600 * 1000};  // 0: keep everything
  // How long a stop (SIGTERM/SIGINT) may take, whatever the brokers' and the store's state
  // (shutdown_timeout; SAGACTL_SHUTDOWN_TIMEOUT): what is not delivered by then stays in the
  // outbox and is sent at the next start.
  std::chrono::milliseconds shutdown_timeout{10'000};
};

struct ConfigResult {
  Config config;
  std::vector<dsl::Diagnostic> diagnostics;  // errors: do not start
  bool ok() const { return !dsl::has_errors(diagnostics); }
};

// Reads `path` over the defaults; `explicit_path` says the user named it (so it must exist).
// Relative paths in the file (sagas, state, admin.token_file), and the defaults of those it
// leaves out, are resolved against the file's folder; those of variables and flags against
// the working directory.
ConfigResult load_config(const std::string& path, bool explicit_path);

// The admin token: admin.token, else the first line of admin.token_file. Empty when neither is set; an error when the file cannot be read.
struct AdminToken {
  std::string value;
};
sagas::Result<AdminToken, std::string> admin_token(const Config& config);

// Applies the SAGACTL_* variables of the key table (config_keys.h) over `result`'s config.
// Bad values are diagnostics naming the variable ("$SAGACTL_LOG_LEVEL").
void apply_environment(ConfigResult& result);

// A retention as written in the file, a variable or a flag: a duration, or 0 / forever to
// keep everything (0 ms). nullopt when it is neither.
std::optional<std::chrono::milliseconds> parse_retention(const std::string& text);

// Checks a broker list: "embedded", or HOST:PORT[,HOST:PORT...]. A word close to "embedded"
// gets a suggestion. Empty when fine.
std::optional<std::string> check_brokers(const std::string& brokers);

}  // namespace cli
