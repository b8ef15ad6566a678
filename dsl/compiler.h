// The saga DSL compiler: YAML text in, an immutable sagas::Definition out.
//
// Every rule of docs/dsl.md is checked and *all* problems are reported in one run, each as a
// Diagnostic pinned to the YAML node at fault (a missing key: the mapping that lacks it),
// sorted by position. Warnings (checks `validate --strict` reports) ride along with a
// definition that is otherwise valid. Never throws, never crashes, on any input: sizes,
// nesting and alias expansion are bounded. yaml-cpp stays inside dsl/.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "dsl/diagnostic.h"
#include "sagas/definition.h"

namespace dsl {

struct CompileResult {
  sagas::DefinitionPtr definition;      // null when there are errors
  std::vector<Diagnostic> diagnostics;  // errors and warnings, sorted by position
  int name_line = 0;                    // where `saga:` names it, for cross-file messages
  int name_column = 0;

  bool ok() const { return definition != nullptr; }
};

inline constexpr std::size_t kMaxFileBytes = 4 * 1024 * 1024;
inline constexpr std::size_t kMaxNodes = 100'000;  // after alias expansion
inline constexpr int kMaxNesting = 64;

CompileResult compile(std::string_view yaml_text, const std::string& file_name);
CompileResult compile_file(const std::filesystem::path& path);

}  // namespace dsl
