// sagactl: the command-line shell over the engine. Only argument wiring lives here; each
// subcommand is a function in commands.cpp.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <cstdlib>
#include <iostream>

#include "runtime/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"sagactl: declarative saga orchestration over Kafka, checkpointed in SQLite"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sagactl 0.1.0");

  runtime::ValidateOptions validate;
  auto* v = app.add_subcommand("validate", "Compile saga files; print problems as FILE:LINE:COL; exit 1 on any");
  v->add_option("paths", validate.paths, "Saga files, or directories searched for *.yaml and *.yml")
      ->required();
  v->add_flag("--strict", validate.strict, "Also report warnings (e.g. a step with no compensation) and fail on them");

  runtime::GraphOptions graph;
  auto* g = app.add_subcommand("graph", "Print the compiled state machine as Graphviz DOT or Mermaid");
  g->add_option("file", graph.file, "Saga file")->required();
  g->add_option("--format", graph.format, "dot (render with `dot -Tsvg`) or mermaid")
      ->check(CLI::IsMember({"dot", "mermaid"}))
      ->capture_default_str();

  runtime::DevBrokerOptions broker;
  auto* b = app.add_subcommand("dev-broker", "Run a local Kafka-protocol broker for development until SIGINT/SIGTERM");
  b->add_option("--brokers", broker.brokers, "Number of brokers in the cluster")->check(CLI::Range(1, 16))->capture_default_str();
  b->add_option("--partitions", broker.partitions, "Partitions of the topics created for --sagas")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  b->add_option("--sagas", broker.sagas, "Create the topics these saga files and directories use");

  runtime::RunOptions run;
  std::vector<std::string> properties;
  std::string log_level = "info";
  auto* r = app.add_subcommand("run", "Run the orchestrator in the foreground until SIGINT/SIGTERM");
  r->add_option("--sagas", run.sagas, "Saga files and directories")->capture_default_str();
  r->add_option("--state", run.state, "SQLite state file")->capture_default_str();
  r->add_option("--brokers", run.brokers, "\"embedded\" (an in-process development broker) or host:port,...")
      ->capture_default_str();
  r->add_option("--property", properties, "A librdkafka property, NAME=VALUE (repeatable)");
  r->add_option("--group", run.group_id, "Consumer group of the reply consumer")->capture_default_str();
  r->add_option("--consume", run.consume, "group (join the consumer group) or assign (take every partition)")
      ->check(CLI::IsMember({"group", "assign"}));
  r->add_option("--partitions", run.partitions, "Partitions of topics the embedded broker creates")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  r->add_option("--events-topic", run.events_topic, "Lifecycle events topic (empty: off)")->capture_default_str();
  r->add_option("--start-topic", run.start_topic, "Start requests topic (empty: off)")->capture_default_str();
  r->add_option("--fetch-wait-ms", run.fetch_wait_max_ms, "fetch.wait.max.ms (default 1 embedded, 100 otherwise)");
  r->add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  runtime::InspectOptions inspect;
  auto add_state_options = [&](CLI::App* c) {
    c->add_option("--state", inspect.state, "The orchestrator's SQLite state file")->capture_default_str();
    c->add_option("--sagas", inspect.sagas, "Saga files and directories (to name the steps)")->capture_default_str();
    c->add_flag("--json", inspect.json, "Print JSON (SPEC shapes) instead of a table");
  };
  auto* st = app.add_subcommand("status", "A saga's state, each step's state, attempts, times and last error");
  st->add_option("id", inspect.id, "Saga id")->required();
  add_state_options(st);
  auto* ls = app.add_subcommand("list", "Sagas, newest first");
  ls->add_option("--status", inspect.status_filter, "Only sagas in this state");
  ls->add_option("--saga", inspect.saga_filter, "Only sagas of this name");
  ls->add_option("--limit", inspect.limit, "At most this many")->check(CLI::Range(1, 100000))->capture_default_str();
  ls->add_option("--offset", inspect.offset, "Skip this many (paging)")->capture_default_str();
  add_state_options(ls);
  auto* hs = app.add_subcommand("history", "A saga's transitions, oldest first");
  hs->add_option("id", inspect.id, "Saga id")->required();
  add_state_options(hs);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; every usage error exits 1 (SPEC §5), not CLI11's own codes.
    int code = app.exit(e);
    return code == 0 ? 0 : runtime::kExitError;
  }

  if (v->parsed()) return runtime::validate_command(validate, std::cout, std::cerr);
  if (g->parsed()) return runtime::graph_command(graph, std::cout, std::cerr);
  inspect.color = ::isatty(1) == 1 && std::getenv("NO_COLOR") == nullptr;
  if (st->parsed()) return runtime::status_command(inspect, std::cout, std::cerr);
  if (ls->parsed()) return runtime::list_command(inspect, std::cout, std::cerr);
  if (hs->parsed()) return runtime::history_command(inspect, std::cout, std::cerr);
  // Logs go to stderr: stdout carries what scripts read (the bootstrap line).
  spdlog::set_default_logger(spdlog::stderr_color_mt("sagactl"));
  if (b->parsed()) return runtime::dev_broker_command(broker, std::cout, std::cerr);
  if (r->parsed()) {
    spdlog::set_level(spdlog::level::from_str(log_level));
    for (const auto& p : properties) {
      auto eq = p.find('=');
      if (eq == std::string::npos || eq == 0) {
        std::cerr << "run: --property " << p << ": write it as NAME=VALUE\n";
        return runtime::kExitError;
      }
      run.properties[p.substr(0, eq)] = p.substr(eq + 1);
    }
    return runtime::run_command(run, std::cout, std::cerr);
  }
  return runtime::kExitError;
}
