#include "dsl/diagnostic.h"

#include <algorithm>
#include <tuple>

namespace dsl {

std::string format(const Diagnostic& d) {
  std::string out = d.file;
  if (d.line > 0) {
    out += ":" + std::to_string(d.line) + ":" + std::to_string(d.column);
  }
  out += d.severity == Severity::error ? ": error: " : ": warning: ";
  out += d.message;
  return out;
}

void sort_by_position(std::vector<Diagnostic>& diags) {
  std::stable_sort(diags.begin(), diags.end(), [](const Diagnostic& a, const Diagnostic& b) {
    return std::tie(a.file, a.line, a.column) < std::tie(b.file, b.line, b.column);
  });
}

bool has_errors(std::span<const Diagnostic> diags) {
  return std::any_of(diags.begin(), diags.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::error; });
}

namespace {

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, the commonest
// typo ("kafak" is one edit from "kafka", not two).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> before(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      std::size_t subst = prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], before[j - 2] + 1);
    }
    std::swap(before, prev);
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

}  // namespace

std::string closest(std::string_view word, std::span<const std::string_view> candidates) {
  // Words of hostile length would make the quadratic distance costly and never match.
  if (word.size() > 64) return {};
  std::string_view best;
  std::size_t best_distance = 0;
  for (auto c : candidates) {
    std::size_t d = edit_distance(word, c);
    if (best.empty() || d < best_distance) {
      best = c;
      best_distance = d;
    }
  }
  std::size_t limit = std::max<std::size_t>(1, std::min<std::size_t>(3, word.size() / 3));
  if (!best.empty() && best_distance <= limit) return std::string(best);
  // An abbreviation ("obj" for "object") is a likely slip too.
  if (word.size() >= 3) {
    for (auto c : candidates) {
      if (c.starts_with(word)) return std::string(c);
    }
  }
  return {};
}

std::string suggestion(std::string_view word, std::span<const std::string_view> candidates,
                       std::string_view allowed_label) {
  std::string near = closest(word, candidates);
  if (!near.empty()) return " (did you mean \"" + near + "\"?)";
  if (candidates.empty()) return {};
  std::string out = "; ";
  out += allowed_label;
  out += ": ";
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    if (i > 0) out += ", ";
    out += candidates[i];
  }
  return out;
}

}  // namespace dsl
