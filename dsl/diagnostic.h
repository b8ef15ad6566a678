// Diagnostics: what the DSL compiler says about a saga file, each pinned to a position.
// Formatted the way compilers do, `FILE:LINE:COL: error: MESSAGE`, so editors and CI
// annotate the right line. Lines and columns are 1-based; 0 means "the whole file".
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dsl {

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string file;
  int line = 0;
  int column = 0;
  std::string message;
};

std::string format(const Diagnostic& d);

// Orders diagnostics by file, then position, keeping the order of equal positions.
void sort_by_position(std::vector<Diagnostic>& diags);

bool has_errors(std::span<const Diagnostic> diags);

// The candidate closest to `word` by edit distance, if it is close enough to be a likely
// typo; empty otherwise.
std::string closest(std::string_view word, std::span<const std::string_view> candidates);

// `" (did you mean "x"?)"` or `"; allowed: a, b, c"`, for unknown-name messages.
std::string suggestion(std::string_view word, std::span<const std::string_view> candidates,
                       std::string_view allowed_label = "allowed");

}  // namespace dsl
