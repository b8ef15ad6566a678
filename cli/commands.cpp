#include "cli/commands.h"

#include <filesystem>
#include <ostream>

#include "dsl/graph.h"
#include "dsl/loader.h"

namespace cli {

namespace {

std::string plural(std::size_t n, const std::string& word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

std::string summary(const sagas::Definition& def) {
  std::string out = plural(def.steps.size(), "step");
  if (!def.groups.empty()) out += ", " + plural(def.groups.size(), "parallel group");
  if (def.pivot) out += ", pivot " + def.step(*def.pivot).name;
  out += ", " + std::string(def.compensation_strategy == sagas::CompensationStrategy::parallel
                                ? "parallel"
                                : "sequential") +
         " compensation";
  return out;
}

// Prints diagnostics; returns (errors, warnings) counted among those printed.
std::pair<std::size_t, std::size_t> report(const std::vector<dsl::Diagnostic>& diags, bool strict,
                                           std::ostream& err) {
  std::size_t errors = 0, warnings = 0;
  for (const auto& d : diags) {
    if (d.severity == dsl::Severity::warning) {
      if (!strict) continue;
      ++warnings;
    } else {
      ++errors;
    }
    err << dsl::format(d) << "\n";
  }
  return {errors, warnings};
}

}  // namespace

int validate_command(const ValidateOptions& options, std::ostream& out, std::ostream& err) {
  std::vector<std::filesystem::path> paths(options.paths.begin(), options.paths.end());
  dsl::LoadResult loaded = dsl::load(paths);
  auto [errors, warnings] = report(loaded.diagnostics, options.strict, err);
  for (const auto& def : loaded.definitions) {
    out << "ok  " << def->name << " v" << def->version << "  " << def->source << "  ("
        << summary(*def) << ")\n";
  }
  if (errors == 0 && warnings == 0) return kExitOk;
  err << "validate: " << plural(errors, "error");
  if (options.strict) err << ", " << plural(warnings, "warning") << " (--strict fails on warnings)";
  err << " in " << plural(loaded.files, "file") << "\n";
  return kExitError;
}

int graph_command(const GraphOptions& options, std::ostream& out, std::ostream& err) {
  dsl::GraphFormat format;
  if (options.format == "dot") {
    format = dsl::GraphFormat::dot;
  } else if (options.format == "mermaid") {
    format = dsl::GraphFormat::mermaid;
  } else {
    err << "graph: unknown format \"" << options.format << "\": use dot or mermaid\n";
    return kExitError;
  }
  if (std::filesystem::is_directory(options.file)) {
    err << "graph: " << options.file << " is a folder; graph draws one saga: name one of its files, e.g. `sagactl "
        << "graph " << (std::filesystem::path(options.file) / "NAME.yaml").string()
        << "` (sagactl validate checks a whole folder)\n";
    return kExitError;
  }
  dsl::CompileResult r = dsl::compile_file(options.file);
  report(r.diagnostics, false, err);
  if (!r.ok()) {
    err << "graph: " << options.file << " has errors; fix them (see `sagactl validate`) first\n";
    return kExitError;
  }
  out << dsl::render_graph(*r.definition, format);
  return kExitOk;
}

}  // namespace cli
