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
#include <deque>
#include <optional>
#include <iostream>

#include "dsl/diagnostic.h"
#include "dsl/duration.h"
#include "cli/commands.h"
#include "cli/completion.h"
#include "cli/config.h"
#include "cli/config_flags.h"
#include "cli/printable.h"

namespace {

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

// The commands that read no configuration: validate, graph, dev-broker, completion.
struct Tools {
  cli::ValidateOptions validate;
  cli::GraphOptions graph;
  cli::DevBrokerOptions broker;
  std::string shell;
  CLI::App* v;
  CLI::App* g;
  CLI::App* b;
  CLI::App* completion;

  explicit Tools(CLI::App& app) {
    v = app.add_subcommand("validate", "Compile saga files; print problems as FILE:LINE:COL; exit 1 on any");
    v->add_option("paths", validate.paths, "Saga files, or directories searched for *.yaml and *.yml")->required();
    v->add_flag("--strict", validate.strict, "Also report warnings (e.g. a step with no compensation) and fail on them");
    g = app.add_subcommand("graph", "Print the compiled state machine as Graphviz DOT or Mermaid");
    g->add_option("file", graph.file, "Saga file")->required();
    g->add_option("--format", graph.format, "dot (render with `dot -Tsvg`) or mermaid")
        ->check(CLI::IsMember({"dot", "mermaid"}))
        ->capture_default_str();
    b = app.add_subcommand("dev-broker", "Run a local Kafka-protocol broker for development until SIGINT/SIGTERM");
    b->add_option("--brokers", broker.brokers, "Number of brokers in the cluster")->check(CLI::Range(1, 16))->capture_default_str();
    b->add_option("--port", broker.port, "Bootstrap port on 127.0.0.1 (0: any free port)")
        ->check(CLI::Range(0, 65535))
        ->capture_default_str();
    b->add_option("--partitions", broker.partitions, "Partitions of the topics created for --sagas")
        ->check(CLI::Range(1, 1024))
        ->capture_default_str();
    b->add_option("--sagas", broker.sagas, "Create the topics these saga files and directories use");
    completion = app.add_subcommand("completion", "Print the shell completion script");
    completion->add_option("shell", shell, "bash")->required()->check(CLI::IsMember({"bash"}));
  }

  std::optional<int> dispatch(const CLI::App& app) {
    if (v->parsed()) return cli::validate_command(validate, std::cout, std::cerr);
    if (g->parsed()) return cli::graph_command(graph, std::cout, std::cerr);
    if (completion->parsed()) {
      std::cout << cli::bash_completion(app, {.values = {{"--format", {"dot", "mermaid"}},
                                                         {"--status", {"running", "completed", "compensating",
                                                                       "compensated", "failed"}},
                                                         {"--show", {"payloads"}}},
                                              .paths = {"--config", "--state", "--input", "--sagas"},
                                              .arguments = {{"shell", {"bash"}}}});
      return cli::kExitOk;
    }
    if (b->parsed()) {
      spdlog::set_default_logger(spdlog::stderr_color_mt("sagactl"));
      return cli::dev_broker_command(broker, std::cout, std::cerr);
    }
    return std::nullopt;
  }
};

// start and compensate: clients of a running orchestrator's admin endpoint.
struct Clients {
  cli::StartCommandOptions start;
  std::string start_timeout = "30s";
  cli::CompensateCommandOptions compensate;
  CLI::App* s;
  CLI::App* c;
  std::optional<cli::ConfigFlags> s_flags;
  std::optional<cli::ConfigFlags> c_flags;

  explicit Clients(CLI::App& app) {
    s = app.add_subcommand("start", "Start a saga on the running orchestrator; print its id");
    s_flags.emplace(*s, std::initializer_list<std::string_view>{"admin.address", "admin.token_file"});
    s->add_option("saga", start.saga, "Saga name")->required();
    s->add_option("--input", start.input, "The input as JSON, or @FILE")->capture_default_str();
    s->add_option("--id", start.id, "Saga id: starting twice with one id starts one saga");
    s->add_flag("--wait", start.wait, "Wait for the end: exit 0 completed, 2 compensated, 3 failed, 4 timed out");
    s->add_option("--timeout", start_timeout, "How long --wait waits")->capture_default_str();
    c = app.add_subcommand("compensate", "Abort a running saga (or retry a failed one's compensations)");
    c_flags.emplace(*c, std::initializer_list<std::string_view>{"admin.address", "admin.token_file"});
    c->add_option("id", compensate.id, "Saga id")->required();
    c->add_option("--reason", compensate.reason, "Why, kept in the saga's history");
  }

  std::optional<int> dispatch(bool tty) {
    if (!s->parsed() && !c->parsed()) return std::nullopt;
    const std::string name = s->parsed() ? "start" : "compensate";
    auto config = (s->parsed() ? s_flags : c_flags)->resolve(std::cerr);
    if (!config) return cli::kExitError;
    auto token = cli::admin_token(*config);
    if (!token) {
      std::cerr << name << ": " << token.error() << "\n";
      return cli::kExitError;
    }
    if (config->admin.empty()) {
      std::cerr << name << ": the admin endpoint is off in the configuration; set admin (or --admin) to reach the orchestrator\n";
      return cli::kExitError;
    }
    if (c->parsed()) {
      compensate.admin = config->admin;
      compensate.token = token->value;
      return cli::compensate_command(compensate, std::cout, std::cerr);
    }
    auto timeout = dsl::parse_duration(start_timeout);
    if (!timeout) {
      std::cerr << "start: --timeout " << start_timeout << " is not a duration: " << dsl::kDurationHint << "\n";
      return cli::kExitError;
    }
    start.admin = config->admin;
    start.token = token->value;
    start.timeout = *timeout;
    start.tty = tty;
    return cli::start_command(start, std::cout, std::cerr);
  }
};

// status, list and history: readers of the state.
struct Inspectors {
  cli::InspectOptions inspect;
  std::string show;
  struct Inspector {
    Inspector(CLI::App* command) : app(command), flags(*command, {"state", "sagas"}) {}
    CLI::App* app;
    cli::ConfigFlags flags;
  };
  std::deque<Inspector> all;

  explicit Inspectors(CLI::App& app) {
    auto add = [&](const char* name, const char* about) -> CLI::App* {
      auto* cmd = app.add_subcommand(name, about);
      all.emplace_back(cmd);
      cmd->add_flag("--json", inspect.json, "Print JSON (the shapes of docs/sagactl.md) instead of a table");
      return cmd;
    };
    auto* st = add("status", "A saga's state, each step's state, attempts, times and last error");
    st->add_option("id", inspect.id, "Saga id, or a unique prefix of it")->required();
    st->add_option("--show", show, "payloads: also print the input and each step's request and reply")
        ->check(CLI::IsMember({"payloads"}));
    auto* ls = add("list", "Sagas, newest first");
    ls->add_option("--status", inspect.status_filter, "Only sagas in this state");
    ls->add_option("--saga", inspect.saga_filter, "Only sagas of this name");
    ls->add_option("--limit", inspect.limit, "At most this many")->check(CLI::Range(1, 100000))->capture_default_str();
    ls->add_option("--offset", inspect.offset, "Skip this many (paging)")->capture_default_str();
    auto* hs = add("history", "A saga's transitions, oldest first");
    hs->add_option("id", inspect.id, "Saga id, or a unique prefix of it")->required();
  }

  std::optional<int> dispatch(bool tty) {
    for (const Inspector& i : all) {
      if (!i.app->parsed()) continue;
      auto config = i.flags.resolve(std::cerr);
      if (!config) return cli::kExitError;
      inspect.state = config->state;
      inspect.sagas = config->sagas;
      inspect.color = tty;
      inspect.show_payloads = show == "payloads";
      if (i.app->get_name() == "status") return cli::status_command(inspect, std::cout, std::cerr);
      if (i.app->get_name() == "list") return cli::list_command(inspect, std::cout, std::cerr);
      return cli::history_command(inspect, std::cout, std::cerr);
    }
    return std::nullopt;
  }
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sagactl: declarative saga orchestration over Kafka, checkpointed in SQLite or PostgreSQL"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "sagactl 0.1.0");
  app.footer("Configuration: ./sagactl.yaml (or --config), overridden by SAGACTL_* variables, then by flags.\n"
             "Manual: docs/sagactl.md. Bash completion: source <(sagactl completion bash)");

  Tools tools(app);
  auto* r = app.add_subcommand("run", "Run the orchestrator in the foreground until SIGINT/SIGTERM");
  cli::ConfigFlags run_flags(*r);  // every key that has a flag
  Clients clients(app);
  Inspectors inspectors(app);

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

  if (auto code = tools.dispatch(app)) return *code;
  if (r->parsed()) {
    auto config = run_flags.resolve(std::cerr);
    if (!config) return cli::kExitError;
    setup_logging(*config);
    return cli::run_command(*config, std::cout, std::cerr);
  }
  bool tty = ::isatty(1) == 1 && std::getenv("NO_COLOR") == nullptr;
  if (auto code = clients.dispatch(tty)) return *code;
  if (auto code = inspectors.dispatch(tty)) return *code;
  return cli::kExitError;
}
