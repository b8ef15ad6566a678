// The sagactl subcommands as functions of (options, out, err) -> exit code, so the program's
// main() is only argument wiring and tests can drive a command without a process.
#pragma once

#include "state/store.h"

#include <chrono>
#include <iosfwd>
#include <map>
#include <string>
#include <vector>

#include "cli/config.h"

namespace cli {

// Exit codes shared by every subcommand (docs/sagactl.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;
inline constexpr int kExitCompensated = 2;  // start --wait
inline constexpr int kExitFailed = 3;
inline constexpr int kExitWaitTimeout = 4;

struct ValidateOptions {
  std::vector<std::string> paths;
  bool strict = false;  // report warnings and fail on them
};
int validate_command(const ValidateOptions& options, std::ostream& out, std::ostream& err);

struct GraphOptions {
  std::string file;
  std::string format = "dot";  // dot | mermaid
};
int graph_command(const GraphOptions& options, std::ostream& out, std::ostream& err);

struct DevBrokerOptions {
  int brokers = 1;
  int port = 19092;                 // bootstrap port; 0: any free one
  int partitions = 1;               // for the topics of `sagas`
  std::vector<std::string> sagas;   // create these sagas' topics at start
  std::chrono::milliseconds shutdown_timeout{10'000};  // a stop takes at most this (plus a grace)
};
// Serves until SIGINT/SIGTERM; the first stdout line is "bootstrap: 127.0.0.1:PORT", printed before the topics are created.
int dev_broker_command(const DevBrokerOptions& options, std::ostream& out, std::ostream& err);

// The orchestrator in the foreground until SIGINT/SIGTERM, then a clean drain.
int run_command(const Config& config, std::ostream& out, std::ostream& err);

struct StartCommandOptions {
  std::string admin;              // the orchestrator's admin address
  std::string token;              // its bearer token, when it has one
  std::string saga;
  std::string input = "{}";       // JSON, or @FILE
  std::string id;                 // empty: the orchestrator makes one
  bool wait = false;
  std::chrono::milliseconds timeout{30'000};
  bool tty = false;               // show each step's progress while waiting
};
// Prints the saga id alone on the first line. With --wait, exits 0 completed, 2 compensated,
// 3 failed, 4 timed out waiting.
int start_command(const StartCommandOptions& options, std::ostream& out, std::ostream& err);

struct CompensateCommandOptions {
  std::string admin;
  std::string token;
  std::string id;      // or a unique prefix, resolved by the orchestrator's saga list
  std::string reason;
};
int compensate_command(const CompensateCommandOptions& options, std::ostream& out, std::ostream& err);

// `status`, `list` and `history` read the state file directly (read-only, no lock), so they
// work whether or not `sagactl run` is running; `sagas` names the steps.

struct InspectOptions {
  std::string state = "./sagactl.db";
  std::vector<std::string> sagas = {"./sagas"};
  bool json = false;
  bool color = false;  // colours in the human table (set when stdout is a terminal)
  std::string id;                   // status, history (a unique prefix is enough)
  bool show_payloads = false;       // status: the input and each step's request and reply
  std::string status_filter;        // list --status
  std::string saga_filter;          // list --saga
  std::size_t limit = state::kDefaultListLimit;  // list
  std::size_t offset = 0;           // list
};
int status_command(const InspectOptions& options, std::ostream& out, std::ostream& err);
// The saga id `id` names: itself, or the one saga whose id starts with it. nullopt when none
// does; an error when several do (naming some) or the file cannot be read.
state::Result<std::optional<std::string>> resolve_id(state::Store& store, const std::string& id);
int list_command(const InspectOptions& options, std::ostream& out, std::ostream& err);
int history_command(const InspectOptions& options, std::ostream& out, std::ostream& err);

}  // namespace cli
