// The saga compiler's internals (dsl/ only): positions, field readers over yaml-cpp nodes, and
// the Compiler, one object per file compiled, that gathers every diagnostic. Its member
// functions live beside the part of the language they compile:
//   compile_structure.cpp  top-level keys, steps, parallel groups, the pivot, retry policies
//   compile_schema.cpp     the input schema and JSON values
//   compile_templates.cpp  payload templates and their references
//   compiler.cpp           the text checks, run(), and the public compile functions
// yaml-cpp types never leave dsl/.
#pragma once

#include "dsl/compiler.h"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <cmath>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>

#include "dsl/duration.h"
#include "dsl/template_parser.h"

namespace dsl::detail {

using sagas::Json;
using sagas::Millis;
using sagas::RetryPolicy;
using sagas::StepIndex;

struct Pos {
  int line = 0;
  int column = 0;
};

inline Pos pos_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

inline std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string out = "\"";
  out += s.size() > kMax ? std::string(s.substr(0, kMax)) + "..." : std::string(s);
  out += "\"";
  return out;
}

inline std::string at(Pos p) { return std::to_string(p.line) + ":" + std::to_string(p.column); }

// Key sets of each mapping, in the order messages list them.
inline constexpr std::array<std::string_view, 9> kTopKeys = {
    "apiVersion", "saga", "version", "description", "input", "defaults", "compensation",
    "deadline",   "steps"};
inline constexpr std::array<std::string_view, 3> kDefaultsKeys = {"timeout", "retry", "reply_topic"};
inline constexpr std::array<std::string_view, 2> kSagaCompensationKeys = {"strategy", "retry"};
inline constexpr std::array<std::string_view, 9> kStepKeys = {
    "name", "topic", "command", "payload", "timeout", "retry", "compensation", "pivot", "when"};
inline constexpr std::array<std::string_view, 5> kCompensationKeys = {"command", "topic", "payload",
                                                               "timeout", "retry"};
inline constexpr std::array<std::string_view, 2> kGroupKeys = {"name", "steps"};
inline constexpr std::array<std::string_view, 5> kRetryKeys = {"max_attempts", "backoff", "initial", "max",
                                                        "jitter"};
// The longest minLength or maxLength a schema may state.
inline constexpr std::int64_t kMaxStringLength = 1'000'000'000;
inline constexpr std::array<std::string_view, 13> kSchemaKeys = {
    "type",      "required",  "properties", "additionalProperties", "items", "enum",       "minimum",
    "maximum",   "minLength", "maxLength",  "pattern",              "title", "description"};
inline constexpr std::array<std::string_view, 7> kSchemaTypes = {"null",   "boolean", "integer", "number",
                                                          "string", "array",   "object"};
inline constexpr std::array<std::string_view, 3> kSagaFields = {"id", "name", "version"};

inline bool matches_name(std::string_view s, bool allow_dot, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  auto lower_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_digit(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) {
    return lower_digit(c) || c == '-' || c == '_' || (allow_dot && c == '.');
  });
}

inline bool is_saga_name(std::string_view s) { return matches_name(s, true, 128); }

// Step names are dot-free so `steps.<name>.reply` templates stay unambiguous.
inline bool is_step_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// Kafka's own rule for topic names.
inline bool is_topic_name(std::string_view s) {
  if (s.empty() || s.size() > 249 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

inline bool is_plain(const YAML::Node& n) { return n.Tag() == "?"; }

// YAML 1.2 core schema resolution of a plain scalar.
inline Json resolve_plain_scalar(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return Json();
  if (s == "true" || s == "True" || s == "TRUE") return Json(true);
  if (s == "false" || s == "False" || s == "FALSE") return Json(false);
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  if (s.size() <= 40 && std::regex_match(s, kInt)) {
    std::int64_t v = 0;
    const char* first = s.data() + (s[0] == '+' ? 1 : 0);
    auto r = std::from_chars(first, s.data() + s.size(), v);
    if (r.ec == std::errc() && r.ptr == s.data() + s.size()) return Json(v);
  }
  if (s.size() <= 40 && std::regex_match(s, kFloat)) {
    double d = std::strtod(s.c_str(), nullptr);
    if (std::isfinite(d)) return Json(d);
  }
  return Json(s);
}

struct Entry {
  std::string key;
  YAML::Node key_node;
  YAML::Node value;
};

// Where a template sits, to decide which steps it may reference.
struct RefScope {
  const sagas::Step* self = nullptr;  // null for saga-level templates
  bool in_compensation = false;
};

struct StepDraft {
  sagas::Step step;
  YAML::Node node;
  Pos name_pos;
  std::optional<YAML::Node> payload;
  std::optional<YAML::Node> when;
  std::optional<YAML::Node> compensation_payload;
  std::optional<Pos> compensation_key_pos;
  std::optional<Pos> pivot_pos;
  bool retry_forever_explicit = false;
};

class Compiler {
 public:
  explicit Compiler(std::string file) : file_(std::move(file)) {}

  CompileResult run(std::string_view text);

 private:
  std::optional<Pos> count_events(std::string_view text);
  // --- diagnostics ---
  void error(Pos p, std::string message);
  void error(const YAML::Node& n, std::string message) { error(pos_of(n), std::move(message)); }
  void warning(Pos p, std::string message);

  bool spend_node(const YAML::Node& n);

  // --- mappings ---
  // The entries of a mapping, with unknown and duplicate keys reported. nullopt (and an
  // error) when `n` is not a mapping.
  template <std::size_t N>
  std::optional<std::vector<Entry>> fields(const YAML::Node& n, const std::string& what,
                                           const std::array<std::string_view, N>& allowed) {
    if (!n.IsMap()) {
      error(n, what + " must be a mapping of keys to values");
      return std::nullopt;
    }
    std::vector<Entry> out;
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (!spend_node(it->first)) return std::nullopt;
      if (!it->first.IsScalar()) {
        error(it->first, "keys of " + what + " must be plain names");
        continue;
      }
      std::string key = it->first.Scalar();
      if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
        error(it->first, "unknown key " + quote(key) + " in " + what +
                             suggestion(key, std::span<const std::string_view>(allowed),
                                        "allowed keys"));
        continue;
      }
      auto dup = std::find_if(out.begin(), out.end(), [&](const Entry& e) { return e.key == key; });
      if (dup != out.end()) {
        error(it->first, "duplicate key " + quote(key) + " in " + what + " (first at " +
                             at(pos_of(dup->key_node)) + ")");
        continue;
      }
      out.push_back({key, it->first, it->second});
    }
    return out;
  }

  static const Entry* get(const std::vector<Entry>& entries, std::string_view key);

  const Entry* require(const std::vector<Entry>& entries, const YAML::Node& map,
                       std::string_view key, const std::string& what);

  // --- scalars ---
  std::optional<std::string> string_of(const Entry& e, const std::string& what);

  std::optional<bool> bool_of(const Entry& e, const std::string& what);

  std::optional<std::int64_t> int_of(const Entry& e, const std::string& what, std::int64_t min,
                                     std::int64_t max);

  std::optional<double> number_of(const Entry& e, const std::string& what);

  std::optional<Millis> duration_of(const Entry& e, const std::string& what);

  // A topic name, checked against Kafka's rule.
  std::optional<std::string> topic_of(const Entry& e, const std::string& what);

  // The index of the value among `choices`, e.g. backoff: fixed | exponential.
  template <std::size_t N>
  std::optional<std::size_t> choice_of(const Entry& e, const std::array<std::string_view, N>& choices) {
    std::string v = e.value.IsScalar() ? e.value.Scalar() : describe(e.value);
    for (std::size_t i = 0; i < N; ++i) {
      if (choices[i] == v) return i;
    }
    std::string allowed;
    for (std::size_t i = 0; i < N; ++i) {
      allowed += (i == 0 ? "" : (i + 1 == N ? " or " : ", ")) + std::string(choices[i]);
    }
    error(e.value, e.key + " must be " + allowed + ", got " + quote(v));
    return std::nullopt;
  }

  static std::string describe(const YAML::Node& n);

  // --- composite values ---
  std::optional<RetryPolicy> retry_of(const Entry& e, const std::string& owner, RetryPolicy base,
                                      bool* forever_explicit = nullptr);
  std::optional<sagas::Schema> schema_of(const YAML::Node& n, const std::string& where, int depth);
  bool schema_types(const Entry& t, const std::string& what, sagas::Schema& s);
  std::optional<bool> schema_children(const std::vector<Entry>& entries, const std::string& where,
                                      const std::string& what, int depth, sagas::Schema& s);
  bool schema_bounds(const std::vector<Entry>& entries, const std::string& what, int depth, sagas::Schema& s);
  bool schema_pattern(const Entry& pat, const std::string& what, sagas::Schema& s);
  std::optional<Json> json_of(const YAML::Node& n, int depth);
  bool check_pattern(const YAML::Node& n, const std::string& pattern);

  // --- templates ---
  sagas::Template template_of(const YAML::Node& n, const RefScope& scope, int depth);
  // A scalar: a literal, one reference (its value keeps its type) or an interpolated string.
  sagas::Template scalar_template(const YAML::Node& n, const RefScope& scope);
  sagas::Template object_template(const YAML::Node& n, const RefScope& scope, int depth);
  std::optional<sagas::Ref> resolve_ref(const RawRef& raw, const YAML::Node& at_node,
                                        const RefScope& scope);

  // Refuses text yaml-cpp mishandles: control characters, and a second document.
  bool check_text(std::string_view text);

  // --- saga structure ---
  void compile_top(const YAML::Node& root);
  void compile_defaults(const Entry& e);           // defaults: timeout, retry, reply_topic
  void compile_saga_compensation(const Entry& e);  // compensation: strategy, retry
  void compile_steps(const Entry& steps_entry);
  bool misspelt_group(const YAML::Node& item);
  bool input_path_declared(const sagas::Ref& ref, const std::string& shown, const YAML::Node& at_node);
  bool step_name(const Entry& e, const std::string& what, StepDraft& d);
  bool compensation_of(const Entry& e, const std::string& what, StepDraft& d);
  std::optional<StepDraft> step_of(const YAML::Node& n, std::size_t stage,
                                   std::optional<sagas::GroupIndex> group);
  void compile_group(const YAML::Node& item, std::size_t stage);
  void apply_pivot();
  void compile_templates();
  void add_warnings();

  std::string file_;
  std::vector<Diagnostic> diags_;
  std::size_t nodes_ = 0;
  bool budget_reported_ = false;

  sagas::Definition def_;
  Pos name_pos_;
  Millis default_timeout_{30000};
  RetryPolicy default_retry_{3, sagas::Backoff::exponential, Millis(1000), Millis(30000), true};
  RetryPolicy compensation_retry_{10, sagas::Backoff::exponential, Millis(1000), Millis(60000),
                                  true};
  std::optional<std::string> default_reply_topic_;
  std::vector<StepDraft> drafts_;
  std::map<std::string, Pos, std::less<>> names_;  // steps and groups share one namespace
};

}  // namespace dsl::detail
