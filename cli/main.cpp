// sagactl: the command-line shell over the engine. Only argument wiring lives here; each
// subcommand is a function in commands.h. Configuration: defaults < sagactl.yaml <
// SAGACTL_* variables < flags.
#include <CLI/CLI.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>

#include "dsl/diagnostic.h"
#include "dsl/duration.h"
#include "cli/commands.h"
#include "cli/config.h"
#include "cli/printable.h"

namespace {

const char* const kBashCompletion = R"(# bash completion for sagactl: source <(sagactl completion bash)
_sagactl() {
  local cur prev cmd
  cur="${COMP_WORDS[COMP_CWORD]}"
  prev="${COMP_WORDS[COMP_CWORD-1]}"
  cmd="${COMP_WORDS[1]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "validate graph run start status list history compensate dev-broker completion --help --version" -- "$cur"))
    return
  fi
  case "$prev" in
    --config|--state|--input) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --sagas) COMPREPLY=($(compgen -f -- "$cur")); return ;;
    --format) COMPREPLY=($(compgen -W "dot mermaid" -- "$cur")); return ;;
    --status) COMPREPLY=($(compgen -W "running completed compensating compensated failed" -- "$cur")); return ;;
    --log-level) COMPREPLY=($(compgen -W "trace debug info warn error off" -- "$cur")); return ;;
    --log-format) COMPREPLY=($(compgen -W "text json" -- "$cur")); return ;;
    --consume) COMPREPLY=($(compgen -W "group assign" -- "$cur")); return ;;
  esac
  local opts=""
  case "$cmd" in
    validate) opts="--strict" ;;
    graph) opts="--format" ;;
    run) opts="--config --sagas --state --standby --cluster --node --brokers --property --group --consume --partitions --events-topic --start-topic --fetch-wait-ms --admin --admin-token-file --retention --log-level --log-format" ;;
    start) opts="--config --admin --admin-token-file --input --id --wait --timeout" ;;
    status|history) opts="--config --state --sagas --json" ;;
    list) opts="--config --state --sagas --json --status --saga --limit --offset" ;;
    compensate) opts="--config --admin --admin-token-file --reason" ;;
    dev-broker) opts="--brokers --partitions --sagas" ;;
    completion) opts="bash" ;;
  esac
  if [[ "$cur" == -* ]] || [ "$cmd" = completion ]; then
    COMPREPLY=($(compgen -W "$opts" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _sagactl sagactl
)";

// JSON log lines need the message escaped: a custom flag (%*) for spdlog's pattern.
class JsonMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
            static constexpr char kHex[] = "0123456789abcdef";
            const char escape[] = {'\\', 'u', '0', '0', kHex[(c >> 4) & 0xf], kHex[c & 0xf]};
            dest.append(std::string_view(escape, sizeof escape));
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<JsonMessage>(); }
};

// Text log lines show a message's control characters as escapes (cli/printable.h): a
// participant's error text can neither forge a line nor drive the terminal.
class TextMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
    std::string safe = cli::printable(std::string_view(msg.payload.data(), msg.payload.size()), true);
    dest.append(std::string_view(safe));
  }
  std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<TextMessage>(); }
};

void setup_logging(const cli::Config& c) {
  // Logs go to stderr: stdout carries what scripts read (ids, the bootstrap line).
  auto logger = spdlog::stderr_color_mt("sagactl");
  if (c.log.format == "json") {
    auto f = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    f->add_flag<JsonMessage>('*').set_pattern(R"({"time":"%Y-%m-%dT%H:%M:%S.%eZ","level":"%l","msg":"%*"})");
    logger->set_formatter(std::move(f));
  } else {
    auto f = std::make_unique<spdlog::pattern_formatter>();
    f->add_flag<TextMessage>('*').set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%n] [%^%l%$] %*");
    logger->set_formatter(std::move(f));
  }
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(c.log.level));
}

// The configuration for a command: defaults, file, environment; problems are printed.
std::optional<cli::Config> resolve(const std::string& command, const std::string& path, bool given) {
  cli::ConfigResult r = cli::load_config(path, given);
  cli::apply_environment(r);
  for (const auto& d : r.diagnostics) std::cerr << dsl::format(d) << "\n";
  if (!r.ok()) {
    std::cerr << command << ": fix the configuration above and try again\n";
    return std::nullopt;
  }
  return r.config;
}

// A usage error worth a hint: an unknown command or option that is a likely typo of a known
// one. Empty when CLI11's own message says it best.
std::string usage_hint(const CLI::App& app, int argc, char** argv) {
  std::vector<std::string> commands;
  for (const CLI::App* sub : app.get_subcommands([](const CLI::App*) { return true; })) {
    commands.push_back(sub->get_name());
  }
  auto near = [](const std::string& word, const std::vector<std::string>& names) {
    std::vector<std::string_view> views(names.begin(), names.end());
    std::string n = dsl::closest(word, views);
    return n.empty() ? std::string() : "; did you mean \"" + n + "\"?";
  };
  if (argc > 1 && argv[1][0] != '-' && std::find(commands.begin(), commands.end(), argv[1]) == commands.end()) {
    return std::string("sagactl: \"") + argv[1] + "\" is not a command" + near(argv[1], commands) +
           " (sagactl --help lists them)";
  }
  for (const CLI::App* sub : app.get_subcommands()) {  // the parsed one
    std::vector<std::string> options;
    for (const CLI::Option* o : sub->get_options()) {
      for (const auto& name : o->get_lnames()) options.push_back("--" + name);
    }
    for (const auto& extra : sub->remaining()) {
      if (!extra.starts_with("--")) continue;
      std::string flag = extra.substr(0, extra.find('='));
      return "sagactl " + sub->get_name() + ": unknown option \"" + flag + "\"" + near(flag, options) + " (sagactl " +
             sub->get_name() + " --help lists them)";
    }
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sagactl: declarative saga orchestration over Kafka, checkpointed in SQLite or PostgreSQL"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sagactl 0.1.0");
  app.footer("Configuration: ./sagactl.yaml (or --config), overridden by SAGACTL_* variables, then by flags.\n"
             "Manual: docs/sagactl.md. Bash completion: source <(sagactl completion bash)");

  cli::ValidateOptions validate;
  auto* v = app.add_subcommand("validate", "Compile saga files; print problems as FILE:LINE:COL; exit 1 on any");
  v->add_option("paths", validate.paths, "Saga files, or directories searched for *.yaml and *.yml")->required();
  v->add_flag("--strict", validate.strict, "Also report warnings (e.g. a step with no compensation) and fail on them");

  cli::GraphOptions graph;
  auto* g = app.add_subcommand("graph", "Print the compiled state machine as Graphviz DOT or Mermaid");
  g->add_option("file", graph.file, "Saga file")->required();
  g->add_option("--format", graph.format, "dot (render with `dot -Tsvg`) or mermaid")
      ->check(CLI::IsMember({"dot", "mermaid"}))
      ->capture_default_str();

  cli::DevBrokerOptions broker;
  auto* b = app.add_subcommand("dev-broker", "Run a local Kafka-protocol broker for development until SIGINT/SIGTERM");
  b->add_option("--brokers", broker.brokers, "Number of brokers in the cluster")->check(CLI::Range(1, 16))->capture_default_str();
  b->add_option("--port", broker.port, "Bootstrap port on 127.0.0.1 (0: any free port)")
      ->check(CLI::Range(0, 65535))
      ->capture_default_str();
  b->add_option("--partitions", broker.partitions, "Partitions of the topics created for --sagas")
      ->check(CLI::Range(1, 1024))
      ->capture_default_str();
  b->add_option("--sagas", broker.sagas, "Create the topics these saga files and directories use");

  // --config on every command that reads it.
  std::string config_path = "sagactl.yaml";
  auto add_config = [&](CLI::App* c) {
    return c->add_option("--config", config_path, "Configuration file (default ./sagactl.yaml, optional)");
  };

  // run: every config key as a flag.
  cli::Config flags;
  std::vector<std::string> properties;
  std::string retention;
  auto* r = app.add_subcommand("run", "Run the orchestrator in the foreground until SIGINT/SIGTERM");
  auto* r_config = add_config(r);
  auto* r_sagas = r->add_option("--sagas", flags.sagas, "Saga files and directories [config: sagas]");
  auto* r_state = r->add_option("--state", flags.state, "State: a SQLite file, or a postgresql:// URL [config: state]");
  auto* r_brokers = r->add_option("--brokers", flags.kafka.brokers,
                                  "\"embedded\" (an in-process development broker) or host:port,... [kafka.brokers]");
  auto* r_props = r->add_option("--property", properties, "A librdkafka property NAME=VALUE, repeatable [kafka.properties]");
  auto* r_group = r->add_option("--group", flags.kafka.group, "Consumer group of the reply consumer [kafka.group]");
  auto* r_consume = r->add_option("--consume", flags.kafka.consume,
                                  "group (join the consumer group) or assign (take every partition) [kafka.consume]")
                        ->check(CLI::IsMember({"group", "assign"}));
  auto* r_parts = r->add_option("--partitions", flags.kafka.partitions,
                                "Partitions of topics the embedded broker creates [kafka.partitions]")
                      ->check(CLI::Range(1, 1024));
  auto* r_port = r->add_option("--embedded-port", flags.kafka.embedded_port,
                               "Bootstrap port of the embedded broker, 0: any free one (default 19092) [kafka.embedded_port]")
                     ->check(CLI::Range(0, 65535));
  std::string synchronous;
  bool standby = false;
  auto* r_standby = r->add_flag("--standby", standby, "Wait for the state's owner to go, then take over (a hot standby) [standby]");
  bool cluster = false;
  auto* r_cluster = r->add_flag("--cluster", cluster, "Run as one node of a cluster on a PostgreSQL state (docs/cluster.md) [cluster]");
  std::string node;
  auto* r_node = r->add_option("--node", node, "This node's name in the cluster, stable across restarts (default: the host name) [node]");
  auto* r_sync = r->add_option("--synchronous", synchronous, "full (default) or normal: SQLite's fsync policy [synchronous]")
                     ->check(CLI::IsMember({"full", "normal"}));
  auto* r_events = r->add_option("--events-topic", flags.kafka.events_topic, "Lifecycle events topic, empty: off [kafka.events_topic]");
  auto* r_start = r->add_option("--start-topic", flags.kafka.start_topic, "Start requests topic, empty: off [kafka.start_topic]");
  auto* r_fetch = r->add_option("--fetch-wait-ms", flags.kafka.fetch_wait_ms,
                                "fetch.wait.max.ms (default 1 embedded, 100 otherwise) [kafka.fetch_wait_ms]")
                      ->check(CLI::Range(0, 60000));
  auto* r_admin = r->add_option("--admin", flags.admin, "Admin HTTP endpoint host:port, empty: off [admin]");
  auto* r_token = r->add_option("--admin-token-file", flags.admin_token_file,
                                "File holding the admin endpoint's bearer token [admin.token_file]");
  auto* r_retention = r->add_option("--retention", retention, "Prune finished sagas after this (7d, 12h, 0: never) [retention]");
  auto* r_level = r->add_option("--log-level", flags.log.level, "trace, debug, info, warn, error, off [log.level]")
                      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  auto* r_format = r->add_option("--log-format", flags.log.format, "text or json [log.format]")
                       ->check(CLI::IsMember({"text", "json"}));

  cli::StartCommandOptions start;
  std::string start_timeout = "30s";
  std::string admin_flag;
  auto* s = app.add_subcommand("start", "Start a saga on the running orchestrator; print its id");
  auto* s_config = add_config(s);
  s->add_option("saga", start.saga, "Saga name")->required();
  s->add_option("--input", start.input, "The input as JSON, or @FILE")->capture_default_str();
  s->add_option("--id", start.id, "Saga id: starting twice with one id starts one saga");
  s->add_flag("--wait", start.wait, "Wait for the end: exit 0 completed, 2 compensated, 3 failed, 4 timed out");
  s->add_option("--timeout", start_timeout, "How long --wait waits")->capture_default_str();
  auto* s_admin = s->add_option("--admin", admin_flag, "The orchestrator's admin endpoint host:port [admin]");
  std::string token_file_flag;
  auto* s_token = s->add_option("--admin-token-file", token_file_flag, "File holding the admin token [admin.token_file]");

  cli::CompensateCommandOptions compensate;
  auto* c = app.add_subcommand("compensate", "Abort a running saga (or retry a failed one's compensations)");
  auto* c_config = add_config(c);
  c->add_option("id", compensate.id, "Saga id")->required();
  c->add_option("--reason", compensate.reason, "Why, kept in the saga's history");
  auto* c_admin = c->add_option("--admin", admin_flag, "The orchestrator's admin endpoint host:port [admin]");
  auto* c_token = c->add_option("--admin-token-file", token_file_flag, "File holding the admin token [admin.token_file]");

  cli::InspectOptions inspect;
  std::vector<std::string> inspect_sagas;
  std::string inspect_state;
  struct Inspector {
    CLI::App* app;
    CLI::Option* config;
    CLI::Option* state;
    CLI::Option* sagas;
  };
  auto add_inspector = [&](const char* name, const char* about) {
    auto* cmd = app.add_subcommand(name, about);
    Inspector i{cmd, add_config(cmd), cmd->add_option("--state", inspect_state, "The orchestrator's state: a SQLite file, or a postgresql:// URL [state]"),
                cmd->add_option("--sagas", inspect_sagas, "Saga files and directories, to name the steps [sagas]")};
    cmd->add_flag("--json", inspect.json, "Print JSON (the shapes of docs/sagactl.md) instead of a table");
    return i;
  };
  Inspector st = add_inspector("status", "A saga's state, each step's state, attempts, times and last error");
  st.app->add_option("id", inspect.id, "Saga id, or a unique prefix of it")->required();
  std::string show;
  st.app->add_option("--show", show, "payloads: also print the input and each step's request and reply")
      ->check(CLI::IsMember({"payloads"}));
  Inspector ls = add_inspector("list", "Sagas, newest first");
  ls.app->add_option("--status", inspect.status_filter, "Only sagas in this state");
  ls.app->add_option("--saga", inspect.saga_filter, "Only sagas of this name");
  ls.app->add_option("--limit", inspect.limit, "At most this many")->check(CLI::Range(1, 100000))->capture_default_str();
  ls.app->add_option("--offset", inspect.offset, "Skip this many (paging)")->capture_default_str();
  Inspector hs = add_inspector("history", "A saga's transitions, oldest first");
  hs.app->add_option("id", inspect.id, "Saga id, or a unique prefix of it")->required();

  std::string shell;
  auto* comp = app.add_subcommand("completion", "Print the shell completion script");
  comp->add_option("shell", shell, "bash")->required()->check(CLI::IsMember({"bash"}));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; every usage error exits 1 (docs/sagactl.md), not CLI11's own codes.
    if (e.get_exit_code() != 0) {
      if (std::string hint = usage_hint(app, argc, argv); !hint.empty()) {
        std::cerr << hint << "\n";
        return cli::kExitError;
      }
    }
    int code = app.exit(e);
    return code == 0 ? 0 : cli::kExitError;
  }

  if (v->parsed()) return cli::validate_command(validate, std::cout, std::cerr);
  if (g->parsed()) return cli::graph_command(graph, std::cout, std::cerr);
  if (comp->parsed()) {
    std::cout << kBashCompletion;
    return cli::kExitOk;
  }
  if (b->parsed()) {
    spdlog::set_default_logger(spdlog::stderr_color_mt("sagactl"));
    return cli::dev_broker_command(broker, std::cout, std::cerr);
  }

  if (r->parsed()) {
    auto config = resolve("run", config_path, r_config->count() > 0);
    if (!config) return cli::kExitError;
    if (r_sagas->count()) config->sagas = flags.sagas;
    if (r_state->count()) config->state = flags.state;
    if (r_brokers->count()) config->kafka.brokers = flags.kafka.brokers;
    if (r_group->count()) config->kafka.group = flags.kafka.group;
    if (r_consume->count()) config->kafka.consume = flags.kafka.consume;
    if (r_parts->count()) config->kafka.partitions = flags.kafka.partitions;
    if (r_port->count()) config->kafka.embedded_port = flags.kafka.embedded_port;
    if (r_sync->count()) config->synchronous_full = synchronous == "full";
    if (r_standby->count()) config->standby = standby;
    if (r_cluster->count()) config->cluster = cluster;
    if (r_node->count()) config->node = node;
    if (r_events->count()) config->kafka.events_topic = flags.kafka.events_topic;
    if (r_start->count()) config->kafka.start_topic = flags.kafka.start_topic;
    if (r_fetch->count()) config->kafka.fetch_wait_ms = flags.kafka.fetch_wait_ms;
    if (r_admin->count()) config->admin = flags.admin;
    if (r_token->count()) {
      config->admin_token.clear();
      config->admin_token_file = flags.admin_token_file;
    }
    if (r_level->count()) config->log.level = flags.log.level;
    if (r_format->count()) config->log.format = flags.log.format;
    if (r_retention->count()) {
      if (auto d = cli::parse_retention(retention)) {
        config->retention = *d;
      } else {
        std::cerr << "run: --retention " << retention << " is not a duration: " << dsl::kDurationHint << "\n";
        return cli::kExitError;
      }
    }
    if (r_props->count()) {
      for (const auto& p : properties) {
        auto eq = p.find('=');
        if (eq == std::string::npos || eq == 0) {
          std::cerr << "run: --property " << p << ": write it as NAME=VALUE\n";
          return cli::kExitError;
        }
        config->kafka.properties[p.substr(0, eq)] = p.substr(eq + 1);
      }
    }
    setup_logging(*config);
    return cli::run_command(*config, std::cout, std::cerr);
  }

  bool tty = ::isatty(1) == 1 && std::getenv("NO_COLOR") == nullptr;
  if (s->parsed() || c->parsed()) {
    auto config = resolve(s->parsed() ? "start" : "compensate", config_path,
                          (s->parsed() ? s_config : c_config)->count() > 0);
    if (!config) return cli::kExitError;
    std::string admin = (s->parsed() ? s_admin : c_admin)->count() ? admin_flag : config->admin;
    if ((s->parsed() ? s_token : c_token)->count()) {
      config->admin_token.clear();
      config->admin_token_file = token_file_flag;
    }
    auto token = cli::admin_token(*config);
    if (!token) {
      std::cerr << (s->parsed() ? "start" : "compensate") << ": " << token.error() << "\n";
      return cli::kExitError;
    }
    if (admin.empty()) {
      std::cerr << (s->parsed() ? "start" : "compensate")
                << ": the admin endpoint is off in the configuration; set admin (or --admin) to reach the orchestrator\n";
      return cli::kExitError;
    }
    if (s->parsed()) {
      auto timeout = dsl::parse_duration(start_timeout);
      if (!timeout) {
        std::cerr << "start: --timeout " << start_timeout << " is not a duration: " << dsl::kDurationHint << "\n";
        return cli::kExitError;
      }
      start.admin = admin;
      start.token = token->value;
      start.timeout = *timeout;
      start.tty = tty;
      return cli::start_command(start, std::cout, std::cerr);
    }
    compensate.admin = admin;
    compensate.token = token->value;
    compensate.state = config->state;
    return cli::compensate_command(compensate, std::cout, std::cerr);
  }

  for (const Inspector& i : {st, ls, hs}) {
    if (!i.app->parsed()) continue;
    auto config = resolve(i.app->get_name(), config_path, i.config->count() > 0);
    if (!config) return cli::kExitError;
    inspect.state = i.state->count() ? inspect_state : config->state;
    inspect.sagas = i.sagas->count() ? inspect_sagas : config->sagas;
    inspect.color = tty;
    inspect.show_payloads = show == "payloads";
    if (i.app == st.app) return cli::status_command(inspect, std::cout, std::cerr);
    if (i.app == ls.app) return cli::list_command(inspect, std::cout, std::cerr);
    return cli::history_command(inspect, std::cout, std::cerr);
  }
  return cli::kExitError;
}
