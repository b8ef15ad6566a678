// Loading saga definitions from files and directories, as `sagactl validate` and the engine
// do: directories are searched (recursively, in name order) for *.yaml and *.yml, every file
// is compiled, and a saga name+version defined twice across files is an error.
#pragma once

#include <filesystem>
#include <vector>

#include "dsl/compiler.h"

namespace dsl {

struct LoadResult {
  std::vector<sagas::DefinitionPtr> definitions;  // of the files that compiled
  std::vector<Diagnostic> diagnostics;            // of every file, in file then position order
  std::size_t files = 0;

  bool ok() const { return !has_errors(diagnostics); }
};

LoadResult load(const std::vector<std::filesystem::path>& paths);

}  // namespace dsl
