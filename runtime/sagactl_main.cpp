// sagactl: the command-line shell over the engine. Only argument wiring lives here; each
// subcommand is a function in commands.cpp.
#include <CLI/CLI.hpp>

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

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version exit 0; every usage error exits 1 (SPEC §5), not CLI11's own codes.
    int code = app.exit(e);
    return code == 0 ? 0 : runtime::kExitError;
  }

  if (v->parsed()) return runtime::validate_command(validate, std::cout, std::cerr);
  if (g->parsed()) return runtime::graph_command(graph, std::cout, std::cerr);
  return runtime::kExitError;
}
