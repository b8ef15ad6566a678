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

namespace dsl {

namespace {

using sagas::Json;
using sagas::Millis;
using sagas::RetryPolicy;
using sagas::StepIndex;

struct Pos {
  int line = 0;
  int column = 0;
};

Pos pos_of(const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return {};
  return {m.line + 1, m.column + 1};
}

std::string quote(std::string_view s) {
  constexpr std::size_t kMax = 60;
  std::string out = "\"";
  out += s.size() > kMax ? std::string(s.substr(0, kMax)) + "..." : std::string(s);
  out += "\"";
  return out;
}

std::string at(Pos p) { return std::to_string(p.line) + ":" + std::to_string(p.column); }

// Key sets of each mapping, in the order messages list them.
constexpr std::array<std::string_view, 9> kTopKeys = {
    "apiVersion", "saga", "version", "description", "input", "defaults", "compensation",
    "deadline",   "steps"};
constexpr std::array<std::string_view, 3> kDefaultsKeys = {"timeout", "retry", "reply_topic"};
constexpr std::array<std::string_view, 2> kSagaCompensationKeys = {"strategy", "retry"};
constexpr std::array<std::string_view, 9> kStepKeys = {
    "name", "topic", "command", "payload", "timeout", "retry", "compensation", "pivot", "when"};
constexpr std::array<std::string_view, 5> kCompensationKeys = {"command", "topic", "payload",
                                                               "timeout", "retry"};
constexpr std::array<std::string_view, 2> kGroupKeys = {"name", "steps"};
constexpr std::array<std::string_view, 5> kRetryKeys = {"max_attempts", "backoff", "initial", "max",
                                                        "jitter"};
constexpr std::array<std::string_view, 12> kSchemaKeys = {
    "type",      "required",  "properties", "items",   "enum",  "minimum",
    "maximum",   "minLength", "maxLength",  "pattern", "title", "description"};
constexpr std::array<std::string_view, 7> kSchemaTypes = {"null",   "boolean", "integer", "number",
                                                          "string", "array",   "object"};
constexpr std::array<std::string_view, 3> kSagaFields = {"id", "name", "version"};

bool matches_name(std::string_view s, bool allow_dot, std::size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  auto lower_digit = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!lower_digit(s[0])) return false;
  return std::all_of(s.begin() + 1, s.end(), [&](char c) {
    return lower_digit(c) || c == '-' || c == '_' || (allow_dot && c == '.');
  });
}

bool is_saga_name(std::string_view s) { return matches_name(s, true, 128); }

// Step names are dot-free so `steps.<name>.reply` templates stay unambiguous.
bool is_step_name(std::string_view s) {
  if (s.empty() || s.size() > 128) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

// Kafka's own rule for topic names.
bool is_topic_name(std::string_view s) {
  if (s.empty() || s.size() > 249 || s == "." || s == "..") return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
}

bool is_plain(const YAML::Node& n) { return n.Tag() == "?"; }

// YAML 1.2 core schema resolution of a plain scalar.
Json resolve_plain_scalar(const std::string& s) {
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
  // --- diagnostics ---
  void error(Pos p, std::string message) {
    diags_.push_back({Severity::error, file_, p.line, p.column, std::move(message)});
  }
  void error(const YAML::Node& n, std::string message) { error(pos_of(n), std::move(message)); }
  void warning(Pos p, std::string message) {
    diags_.push_back({Severity::warning, file_, p.line, p.column, std::move(message)});
  }

  bool spend_node(const YAML::Node& n) {
    if (++nodes_ <= kMaxNodes) return true;
    if (!budget_reported_) {
      budget_reported_ = true;
      error(n, "the document expands to more than " + std::to_string(kMaxNodes) +
                   " nodes (through aliases?); a saga definition should be far smaller");
    }
    return false;
  }

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

  static const Entry* get(const std::vector<Entry>& entries, std::string_view key) {
    for (const auto& e : entries) {
      if (e.key == key) return &e;
    }
    return nullptr;
  }

  const Entry* require(const std::vector<Entry>& entries, const YAML::Node& map,
                       std::string_view key, const std::string& what) {
    const Entry* e = get(entries, key);
    if (e == nullptr) error(map, what + " is missing required key " + quote(key));
    return e;
  }

  // --- scalars ---
  std::optional<std::string> string_of(const Entry& e, const std::string& what) {
    if (!e.value.IsScalar() || (is_plain(e.value) && e.value.Scalar().empty())) {
      error(e.value, quote(e.key) + " of " + what + " must be a string");
      return std::nullopt;
    }
    return e.value.Scalar();
  }

  std::optional<bool> bool_of(const Entry& e, const std::string& what) {
    if (e.value.IsScalar() && is_plain(e.value)) {
      Json v = resolve_plain_scalar(e.value.Scalar());
      if (v.is_bool()) return v.as_bool();
    }
    error(e.value, quote(e.key) + " of " + what + " must be true or false");
    return std::nullopt;
  }

  std::optional<std::int64_t> int_of(const Entry& e, const std::string& what, std::int64_t min,
                                     std::int64_t max) {
    if (e.value.IsScalar() && is_plain(e.value)) {
      Json v = resolve_plain_scalar(e.value.Scalar());
      if (v.is_integer() && v.as_integer() >= min && v.as_integer() <= max) return v.as_integer();
    }
    error(e.value, quote(e.key) + " of " + what + " must be an integer from " + std::to_string(min) +
                       " to " + std::to_string(max) + ", got " + quote(describe(e.value)));
    return std::nullopt;
  }

  std::optional<double> number_of(const Entry& e, const std::string& what) {
    if (e.value.IsScalar() && is_plain(e.value)) {
      Json v = resolve_plain_scalar(e.value.Scalar());
      if (v.is_number()) return v.as_double();
    }
    error(e.value, quote(e.key) + " of " + what + " must be a number");
    return std::nullopt;
  }

  std::optional<Millis> duration_of(const Entry& e, const std::string& what) {
    if (e.value.IsScalar()) {
      if (auto d = parse_duration(e.value.Scalar())) {
        if (d->count() > 0) return *d;
        error(e.value, quote(e.key) + " of " + what + " must be longer than 0");
        return std::nullopt;
      }
    }
    error(e.value, "bad duration " + quote(describe(e.value)) + " for " + quote(e.key) + " of " +
                       what + ": " + std::string(kDurationHint));
    return std::nullopt;
  }

  // A topic name, checked against Kafka's rule.
  std::optional<std::string> topic_of(const Entry& e, const std::string& what) {
    auto topic = string_of(e, what);
    if (topic && !is_topic_name(*topic)) {
      error(e.value, "topic " + quote(*topic) +
                         " is not a valid Kafka topic name: use letters, digits, '.', '_' and '-' "
                         "(at most 249)");
      return std::nullopt;
    }
    return topic;
  }

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

  static std::string describe(const YAML::Node& n) {
    if (n.IsScalar()) return n.Scalar();
    if (n.IsSequence()) return "a list";
    if (n.IsMap()) return "a mapping";
    return "nothing";
  }

  // --- composite values ---
  std::optional<RetryPolicy> retry_of(const Entry& e, const std::string& owner, RetryPolicy base,
                                      bool* forever_explicit = nullptr);
  std::optional<sagas::Schema> schema_of(const YAML::Node& n, const std::string& where, int depth);
  std::optional<Json> json_of(const YAML::Node& n, int depth);
  bool check_pattern(const YAML::Node& n, const std::string& pattern);

  // --- templates ---
  sagas::Template template_of(const YAML::Node& n, const RefScope& scope, int depth);
  std::optional<sagas::Ref> resolve_ref(const RawRef& raw, const YAML::Node& at_node,
                                        const RefScope& scope);

  // Refuses text yaml-cpp mishandles: control characters, and a second document.
  bool check_text(std::string_view text);

  // --- saga structure ---
  void compile_top(const YAML::Node& root);
  void compile_steps(const Entry& steps_entry);
  bool misspelt_group(const YAML::Node& item);
  bool input_path_declared(const sagas::Ref& ref, const std::string& shown, const YAML::Node& at_node);
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

std::optional<RetryPolicy> Compiler::retry_of(const Entry& e, const std::string& owner,
                                              RetryPolicy base, bool* forever_explicit) {
  const std::string what = "the retry policy of " + owner;
  auto entries = fields(e.value, what, kRetryKeys);
  if (!entries) return std::nullopt;
  RetryPolicy p = base;
  bool ok = true;
  if (const Entry* m = get(*entries, "max_attempts")) {
    if (m->value.IsScalar() && m->value.Scalar() == "forever") {
      p.max_attempts.reset();
      if (forever_explicit != nullptr) *forever_explicit = true;
    } else if (auto n = int_of(*m, what + " (or \"forever\")", 1, 1'000'000)) {
      p.max_attempts = static_cast<std::uint32_t>(*n);
    } else {
      ok = false;
    }
  }
  if (const Entry* b = get(*entries, "backoff")) {
    // Order matches sagas::Backoff.
    if (auto i = choice_of(*b, std::array<std::string_view, 2>{"fixed", "exponential"})) {
      p.backoff = static_cast<sagas::Backoff>(*i);
    } else {
      ok = false;
    }
  }
  if (const Entry* i = get(*entries, "initial")) {
    if (auto d = duration_of(*i, what)) p.initial = *d; else ok = false;
  }
  if (const Entry* m = get(*entries, "max")) {
    if (auto d = duration_of(*m, what)) p.max = *d; else ok = false;
  }
  if (const Entry* j = get(*entries, "jitter")) {
    if (auto b = bool_of(*j, what)) p.jitter = *b; else ok = false;
  }
  if (ok && p.initial > p.max) {
    error(e.value, "in " + what + ", initial delay " + format_duration(p.initial) +
                       " is longer than max " + format_duration(p.max) + "; raise max or lower initial");
    ok = false;
  }
  if (!ok) return std::nullopt;
  return p;
}

std::optional<Json> Compiler::json_of(const YAML::Node& n, int depth) {
  if (!spend_node(n)) return std::nullopt;
  if (depth > kMaxNesting) {
    error(n, "nesting deeper than " + std::to_string(kMaxNesting) + " levels");
    return std::nullopt;
  }
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return Json();
    case YAML::NodeType::Scalar:
      if (is_plain(n)) return resolve_plain_scalar(n.Scalar());
      return Json(n.Scalar());
    case YAML::NodeType::Sequence: {
      Json::Array items;
      for (const auto& item : n) {
        auto v = json_of(item, depth + 1);
        if (!v) return std::nullopt;
        items.push_back(std::move(*v));
      }
      return Json(std::move(items));
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar()) {
          error(it->first, "object keys must be strings");
          return std::nullopt;
        }
        if (out.find(it->first.Scalar()) != nullptr) {
          error(it->first, "duplicate key " + quote(it->first.Scalar()));
          return std::nullopt;
        }
        auto v = json_of(it->second, depth + 1);
        if (!v) return std::nullopt;
        out.set(it->first.Scalar(), std::move(*v));
      }
      return out;
    }
  }
  return std::nullopt;
}

// std::regex expands counted repetitions into copies of their operand, so `(a{100}){100}`
// compiles to 10,000 states. Estimate that size before compiling and refuse silly patterns.
std::size_t pattern_cost(std::string_view p, std::size_t& i, int depth) {
  constexpr std::size_t kTooBig = 1'000'000;
  if (depth > 16) return kTooBig;
  std::size_t total = 0;
  std::size_t last = 0;  // cost of the preceding atom, for a following quantifier
  while (i < p.size()) {
    char c = p[i];
    if (c == ')') {
      ++i;
      break;
    }
    if (c == '(') {
      ++i;
      last = pattern_cost(p, i, depth + 1);
    } else if (c == '[') {
      ++i;
      if (i < p.size() && p[i] == '^') ++i;
      if (i < p.size() && p[i] == ']') ++i;
      while (i < p.size() && p[i] != ']') i += (p[i] == '\\') ? 2 : 1;
      ++i;
      last = 1;
    } else if (c == '\\') {
      i += 2;
      last = 1;
    } else if (c == '{') {
      std::size_t n = 0, m = 0;
      ++i;
      while (i < p.size() && p[i] >= '0' && p[i] <= '9' && n < kTooBig) n = n * 10 + (p[i++] - '0');
      m = n;
      if (i < p.size() && p[i] == ',') {
        ++i;
        m = 0;
        while (i < p.size() && p[i] >= '0' && p[i] <= '9' && m < kTooBig) m = m * 10 + (p[i++] - '0');
        if (m == 0) m = n;
      }
      while (i < p.size() && p[i] != '}') ++i;
      ++i;
      total += last * (std::max(n, m) + 1);
      last = 0;
      if (total >= kTooBig) return kTooBig;
      continue;
    } else {
      ++i;
      last = 1;
    }
    total += last;
    if (total >= kTooBig) return kTooBig;
  }
  return total;
}

bool Compiler::check_pattern(const YAML::Node& n, const std::string& pattern) {
  constexpr std::size_t kMaxCost = 10'000;
  std::size_t i = 0;
  if (pattern.size() > 1000 || pattern_cost(pattern, i, 0) > kMaxCost) {
    error(n, "pattern " + quote(pattern) + " is too complex; keep patterns short and counted "
                                            "repetitions small");
    return false;
  }
  return true;
}

std::optional<sagas::Schema> Compiler::schema_of(const YAML::Node& n, const std::string& where,
                                                 int depth) {
  if (depth > kMaxNesting) {
    error(n, "input schema nested deeper than " + std::to_string(kMaxNesting) + " levels");
    return std::nullopt;
  }
  const std::string what = "the input schema" + (where.empty() ? std::string() : " at " + where);
  auto entries = fields(n, what, kSchemaKeys);
  if (!entries) return std::nullopt;
  sagas::Schema s;
  bool ok = true;
  if (const Entry* t = get(*entries, "type")) {
    std::vector<YAML::Node> names;
    if (t->value.IsSequence()) {
      for (const auto& item : t->value) names.push_back(item);
    } else {
      names.push_back(t->value);
    }
    for (const auto& name : names) {
      std::string v = name.IsScalar() ? name.Scalar() : describe(name);
      auto found = std::find(kSchemaTypes.begin(), kSchemaTypes.end(), v);
      if (found == kSchemaTypes.end()) {
        error(name, "unknown type " + quote(v) + " in " + what +
                        suggestion(v, std::span<const std::string_view>(kSchemaTypes), "types are"));
        ok = false;
        continue;
      }
      s.types |= static_cast<std::uint8_t>(1u << (found - kSchemaTypes.begin()));
    }
  }
  if (const Entry* r = get(*entries, "required")) {
    if (!r->value.IsSequence()) {
      error(r->value, "\"required\" of " + what + " must be a list of property names");
      ok = false;
    } else {
      for (const auto& item : r->value) {
        if (!item.IsScalar()) {
          error(item, "\"required\" of " + what + " must list property names");
          ok = false;
          continue;
        }
        s.required.push_back(item.Scalar());
      }
    }
  }
  if (const Entry* p = get(*entries, "properties")) {
    if (!p->value.IsMap()) {
      error(p->value, "\"properties\" of " + what + " must map property names to schemas");
      ok = false;
    } else {
      for (auto it = p->value.begin(); it != p->value.end(); ++it) {
        if (!spend_node(it->first)) return std::nullopt;
        std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
        std::string child = (where.empty() ? std::string("$") : where) + "." + key;
        auto sub = schema_of(it->second, child, depth + 1);
        if (!sub) {
          ok = false;
          continue;
        }
        s.properties.emplace_back(key, std::make_shared<const sagas::Schema>(std::move(*sub)));
      }
    }
  }
  if (const Entry* it = get(*entries, "items")) {
    auto sub = schema_of(it->value, (where.empty() ? std::string("$") : where) + "[]", depth + 1);
    if (sub) s.items = std::make_shared<const sagas::Schema>(std::move(*sub)); else ok = false;
  }
  if (const Entry* e = get(*entries, "enum")) {
    if (!e->value.IsSequence() || e->value.size() == 0) {
      error(e->value, "\"enum\" of " + what + " must be a non-empty list of allowed values");
      ok = false;
    } else if (auto values = json_of(e->value, depth + 1)) {
      s.enum_values = std::move(values->as_array());
    } else {
      ok = false;
    }
  }
  if (const Entry* m = get(*entries, "minimum")) {
    if (auto v = number_of(*m, what)) s.minimum = *v; else ok = false;
  }
  if (const Entry* m = get(*entries, "maximum")) {
    if (auto v = number_of(*m, what)) s.maximum = *v; else ok = false;
  }
  if (s.minimum && s.maximum && *s.minimum > *s.maximum) {
    error(get(*entries, "minimum")->value, "minimum is greater than maximum in " + what);
    ok = false;
  }
  if (const Entry* m = get(*entries, "minLength")) {
    if (auto v = int_of(*m, what, 0, 1'000'000'000)) s.min_length = static_cast<std::size_t>(*v); else ok = false;
  }
  if (const Entry* m = get(*entries, "maxLength")) {
    if (auto v = int_of(*m, what, 0, 1'000'000'000)) s.max_length = static_cast<std::size_t>(*v); else ok = false;
  }
  if (const Entry* pat = get(*entries, "pattern")) {
    if (auto text = string_of(*pat, what)) {
      if (check_pattern(pat->value, *text)) {
        try {
          // __polynomial: libstdc++'s breadth-first matcher, linear in the subject, so a
          // hostile input cannot make a pattern check take exponential time.
          s.pattern_re = std::make_shared<const std::regex>(
              *text, std::regex::ECMAScript | std::regex_constants::__polynomial);
          s.pattern = *text;
        } catch (const std::regex_error& ex) {
          error(pat->value, "invalid pattern " + quote(*text) + ": " + ex.what() +
                                " (ECMAScript syntax, no backreferences)");
          ok = false;
        }
      } else {
        ok = false;
      }
    } else {
      ok = false;
    }
  }
  for (const char* annotation : {"title", "description"}) {
    if (const Entry* a = get(*entries, annotation)) {
      if (!string_of(*a, what)) ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return s;
}

bool Compiler::input_path_declared(const sagas::Ref& ref, const std::string& shown, const YAML::Node& at_node) {
  // Where the input schema lists an object's properties, a template may only name one of
  // them: ${input.gust} beside a declared `guest` is a typo that would render null at run time.
  const sagas::Schema* schema = def_.input ? &*def_.input : nullptr;
  std::string where = "input";
  for (const auto& segment : ref.path) {
    if (schema == nullptr) return true;
    const auto* name = std::get_if<std::string>(&segment);
    if (name == nullptr) {  // an index: the array's items
      schema = schema->items.get();
      where += "[]";
      continue;
    }
    if (schema->properties.empty()) return true;
    auto it = std::find_if(schema->properties.begin(), schema->properties.end(),
                           [&](const auto& p) { return p.first == *name; });
    if (it == schema->properties.end()) {
      std::vector<std::string_view> names;
      for (const auto& p : schema->properties) names.push_back(p.first);
      error(at_node, shown + ": the input schema declares no property " + quote(*name) + " in " + where +
                         suggestion(*name, std::span<const std::string_view>(names), "its properties are"));
      return false;
    }
    schema = it->second.get();
    where += "." + *name;
  }
  return true;
}

std::optional<sagas::Ref> Compiler::resolve_ref(const RawRef& raw, const YAML::Node& at_node,
                                                const RefScope& scope) {
  const std::string shown = "${" + raw.text + "}";
  const auto& seg = raw.segments;
  const auto* root = std::get_if<std::string>(&seg[0]);
  sagas::Ref ref;
  ref.text = raw.text;
  if (root != nullptr && *root == "input") {
    ref.root = sagas::RefRoot::input;
    ref.path.assign(seg.begin() + 1, seg.end());
    if (!input_path_declared(ref, shown, at_node)) return std::nullopt;
    return ref;
  }
  if (root != nullptr && *root == "saga") {
    const auto* field = seg.size() == 2 ? std::get_if<std::string>(&seg[1]) : nullptr;
    if (field != nullptr && *field == "id") ref.root = sagas::RefRoot::saga_id;
    else if (field != nullptr && *field == "name") ref.root = sagas::RefRoot::saga_name;
    else if (field != nullptr && *field == "version") ref.root = sagas::RefRoot::saga_version;
    else {
      std::string got = field != nullptr ? *field : std::string();
      error(at_node, "unknown saga field in " + shown +
                         suggestion(got, std::span<const std::string_view>(kSagaFields),
                                    "use saga.id, saga.name or saga.version; fields are"));
      return std::nullopt;
    }
    return ref;
  }
  if (root != nullptr && *root == "steps") {
    const auto* name = seg.size() >= 3 ? std::get_if<std::string>(&seg[1]) : nullptr;
    const auto* part = seg.size() >= 3 ? std::get_if<std::string>(&seg[2]) : nullptr;
    if (name == nullptr || part == nullptr || (*part != "reply" && *part != "request")) {
      error(at_node, "bad step reference " + shown +
                         ": write steps.<name>.reply.<path> or steps.<name>.request.<path>");
      return std::nullopt;
    }
    ref.root = *part == "reply" ? sagas::RefRoot::step_reply : sagas::RefRoot::step_request;
    ref.path.assign(seg.begin() + 3, seg.end());
    auto target = std::find_if(drafts_.begin(), drafts_.end(),
                               [&](const StepDraft& d) { return d.step.name == *name; });
    if (target == drafts_.end()) {
      std::vector<std::string_view> names;
      for (const auto& d : drafts_) names.push_back(d.step.name);
      std::string hint = closest(*name, names);
      error(at_node, shown + " references unknown step " + quote(*name) +
                         (hint.empty() ? std::string() : " (did you mean \"" + hint + "\"?)"));
      return std::nullopt;
    }
    const sagas::Step& t = target->step;
    ref.step = t.index;
    if (scope.self == nullptr) {
      error(at_node, shown + ": step values cannot be used here, only in steps");
      return std::nullopt;
    }
    const sagas::Step& self = *scope.self;
    if (t.index == self.index) {
      if (scope.in_compensation) return ref;
      error(at_node, shown + ": step " + quote(self.name) +
                         " cannot use its own " + *part + " before it is sent; only its compensation can");
      return std::nullopt;
    }
    if (t.stage == self.stage) {
      error(at_node, shown + ": step " + quote(t.name) + " is in the same parallel group " +
                         quote(def_.groups[self.group->value()].name) + " as " + quote(self.name) +
                         "; members of a group run at the same time, so use a step before the group");
      return std::nullopt;
    }
    if (t.stage > self.stage) {
      error(at_node, shown + ": step " + quote(t.name) + " runs after " + quote(self.name) +
                         "; a template can only use steps that ran before it");
      return std::nullopt;
    }
    return ref;
  }
  std::string got = root != nullptr ? *root : std::string();
  error(at_node, "unknown template root " + quote(got) + " in " + shown +
                     ": use input.*, saga.id, saga.name, saga.version or steps.<name>.reply|request.*");
  return std::nullopt;
}

sagas::Template Compiler::template_of(const YAML::Node& n, const RefScope& scope, int depth) {
  using sagas::Template;
  if (!spend_node(n)) return Template();
  if (depth > kMaxNesting) {
    error(n, "payload nested deeper than " + std::to_string(kMaxNesting) + " levels");
    return Template();
  }
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return Template();
    case YAML::NodeType::Scalar: {
      const std::string& s = n.Scalar();
      if (s.find("${") == std::string::npos) {
        return Template::literal(is_plain(n) ? resolve_plain_scalar(s) : Json(s));
      }
      ParsedString parsed;
      TemplateSyntaxError syntax;
      if (!parse_template_string(s, parsed, syntax)) {
        error(n, syntax.message);
        return Template();
      }
      if (!parsed.has_refs()) {
        return Template::literal(Json(std::get<std::string>(parsed.parts[0])));
      }
      Template::Interpolation interp;
      bool ok = true;
      for (auto& part : parsed.parts) {
        if (auto* text = std::get_if<std::string>(&part)) {
          interp.parts.emplace_back(std::move(*text));
        } else if (auto ref = resolve_ref(std::get<RawRef>(part), n, scope)) {
          interp.parts.emplace_back(std::move(*ref));
        } else {
          ok = false;
        }
      }
      if (!ok) return Template();
      if (parsed.is_single_ref()) return Template::reference(std::get<sagas::Ref>(interp.parts[0]));
      return Template::interpolation(std::move(interp));
    }
    case YAML::NodeType::Sequence: {
      Template::Array items;
      for (const auto& item : n) items.push_back(template_of(item, scope, depth + 1));
      return Template::array(std::move(items));
    }
    case YAML::NodeType::Map: {
      Template::Object members;
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar()) {
          error(it->first, "payload keys must be strings");
          continue;
        }
        const std::string& key = it->first.Scalar();
        if (std::any_of(members.begin(), members.end(), [&](const auto& m) { return m.first == key; })) {
          error(it->first, "duplicate key " + quote(key) + " in payload");
          continue;
        }
        members.emplace_back(key, template_of(it->second, scope, depth + 1));
      }
      return Template::object(std::move(members));
    }
  }
  return Template();
}

std::optional<StepDraft> Compiler::step_of(const YAML::Node& n, std::size_t stage,
                                           std::optional<sagas::GroupIndex> group) {
  std::string what = "step #" + std::to_string(drafts_.size() + 1);
  // Read the name first so the remaining messages can say which step they are about.
  if (n.IsMap()) {
    for (auto it = n.begin(); it != n.end(); ++it) {
      if (it->first.IsScalar() && it->first.Scalar() == "name" && it->second.IsScalar()) {
        what = "step " + quote(it->second.Scalar());
      }
    }
  }
  auto entries = fields(n, what, kStepKeys);
  if (!entries) return std::nullopt;
  StepDraft d;
  d.node = n;
  d.step.index = StepIndex(drafts_.size());
  d.step.group = group;
  d.step.stage = stage;
  bool ok = true;

  if (const Entry* e = require(*entries, n, "name", what)) {
    if (auto name = string_of(*e, what)) {
      d.name_pos = pos_of(e->value);
      if (!is_step_name(*name)) {
        error(e->value, "step name " + quote(*name) +
                            " may only use letters, digits, '-' and '_' (at most 128)");
        ok = false;
      } else if (auto prev = names_.find(*name); prev != names_.end()) {
        error(e->value, "duplicate step name " + quote(*name) + " (first defined at " +
                            at(prev->second) + ")");
        ok = false;
      } else {
        names_.emplace(*name, d.name_pos);
      }
      d.step.name = *name;
    } else {
      ok = false;
    }
  } else {
    ok = false;
  }
  if (const Entry* e = require(*entries, n, "topic", what)) {
    if (auto topic = topic_of(*e, what)) d.step.execute.topic = *topic; else ok = false;
  } else {
    ok = false;
  }
  if (const Entry* e = require(*entries, n, "command", what)) {
    if (auto cmd = string_of(*e, what)) d.step.execute.command = *cmd; else ok = false;
  } else {
    ok = false;
  }
  if (const Entry* e = get(*entries, "payload")) d.payload = e->value;
  d.step.execute.timeout = default_timeout_;
  if (const Entry* e = get(*entries, "timeout")) {
    if (auto t = duration_of(*e, what)) d.step.execute.timeout = *t; else ok = false;
  }
  d.step.execute.retry = default_retry_;
  if (const Entry* e = get(*entries, "retry")) {
    if (auto r = retry_of(*e, what, default_retry_, &d.retry_forever_explicit)) {
      d.step.execute.retry = *r;
    } else {
      ok = false;
    }
  }
  if (const Entry* e = get(*entries, "pivot")) {
    if (auto b = bool_of(*e, what)) {
      d.step.pivot = *b;
      if (*b) d.pivot_pos = pos_of(e->key_node);
    } else {
      ok = false;
    }
  }
  if (const Entry* e = get(*entries, "when")) d.when = e->value;
  if (const Entry* e = get(*entries, "compensation")) {
    d.compensation_key_pos = pos_of(e->key_node);
    const std::string cwhat = "the compensation of " + what;
    if (auto centries = fields(e->value, cwhat, kCompensationKeys)) {
      sagas::CommandSpec c;
      c.topic = d.step.execute.topic;
      c.timeout = d.step.execute.timeout;
      c.retry = compensation_retry_;
      if (const Entry* ce = require(*centries, e->value, "command", cwhat)) {
        if (auto cmd = string_of(*ce, cwhat)) c.command = *cmd; else ok = false;
      } else {
        ok = false;
      }
      if (const Entry* ce = get(*centries, "topic")) {
        if (auto topic = topic_of(*ce, cwhat)) c.topic = *topic; else ok = false;
      }
      if (const Entry* ce = get(*centries, "timeout")) {
        if (auto t = duration_of(*ce, cwhat)) c.timeout = *t; else ok = false;
      }
      if (const Entry* ce = get(*centries, "retry")) {
        if (auto r = retry_of(*ce, cwhat, compensation_retry_)) c.retry = *r; else ok = false;
      }
      if (const Entry* ce = get(*centries, "payload")) d.compensation_payload = ce->value;
      d.step.compensation = std::move(c);
    } else {
      ok = false;
    }
  }
  (void)ok;  // a step with errors is still recorded, so later references to it resolve
  return d;
}

void Compiler::compile_group(const YAML::Node& item, std::size_t stage) {
  // A group item is `- parallel: {name, steps}` and nothing else.
  YAML::Node body;
  for (auto it = item.begin(); it != item.end(); ++it) {
    std::string key = it->first.IsScalar() ? it->first.Scalar() : std::string();
    if (key == "parallel") {
      body = it->second;
    } else {
      error(it->first, "unexpected key " + quote(key) +
                           " beside \"parallel\"; put the group's name and steps under parallel:");
    }
  }
  const std::string what = "parallel group #" + std::to_string(def_.groups.size() + 1);
  auto entries = fields(body, what, kGroupKeys);
  if (!entries) return;
  sagas::GroupIndex gi(def_.groups.size());
  def_.groups.push_back({});
  std::string gwhat = what;
  if (const Entry* e = require(*entries, body, "name", what)) {
    if (auto name = string_of(*e, what)) {
      gwhat = "parallel group " + quote(*name);
      if (!is_step_name(*name)) {
        error(e->value, "group name " + quote(*name) +
                            " may only use letters, digits, '-' and '_' (at most 128)");
      } else if (auto prev = names_.find(*name); prev != names_.end()) {
        error(e->value, "duplicate name " + quote(*name) + " (first defined at " + at(prev->second) +
                            "); steps and groups share one namespace");
      } else {
        names_.emplace(*name, pos_of(e->value));
      }
      def_.groups[gi.value()].name = *name;
    }
  }
  const Entry* steps = require(*entries, body, "steps", what);
  if (steps == nullptr) return;
  if (!steps->value.IsSequence() || steps->value.size() == 0) {
    error(steps->value, "\"steps\" of " + gwhat + " must list at least one step");
    return;
  }
  sagas::Stage st;
  st.group = gi;
  for (const auto& member : steps->value) {
    if (member.IsMap() && std::any_of(member.begin(), member.end(), [](const auto& kv) {
          return kv.first.IsScalar() && kv.first.Scalar() == "parallel";
        })) {
      error(member, "parallel groups cannot be nested; list the steps of " + gwhat + " directly");
      continue;
    }
    if (auto d = step_of(member, stage, gi)) {
      if (d->pivot_pos) {
        error(*d->pivot_pos, "the pivot cannot be inside a parallel group (" + gwhat +
                                 "); make it a step of its own");
      }
      st.steps.push_back(d->step.index);
      def_.groups[gi.value()].members.push_back(d->step.index);
      drafts_.push_back(std::move(*d));
    }
  }
  def_.stages.push_back(std::move(st));
}

bool Compiler::misspelt_group(const YAML::Node& item) {
  // `- parralel: {...}`: one key near "parallel" holding a mapping is a group, misspelt; saying
  // so beats four errors about a step missing its name, topic and command.
  if (!item.IsMap() || item.size() != 1) return false;
  auto only = item.begin();
  const YAML::Node key = only->first;
  if (!key.IsScalar() || !only->second.IsMap()) return false;
  static constexpr std::array<std::string_view, 1> kGroup{"parallel"};
  if (closest(key.Scalar(), std::span<const std::string_view>(kGroup)).empty()) return false;
  error(key, "unknown key " + quote(key.Scalar()) + " (did you mean \"parallel\"?)");
  return true;
}

void Compiler::compile_steps(const Entry& steps_entry) {
  if (!steps_entry.value.IsSequence() || steps_entry.value.size() == 0) {
    error(steps_entry.value, "\"steps\" must list at least one step");
    return;
  }
  for (const auto& item : steps_entry.value) {
    if (!spend_node(item)) return;
    std::size_t stage = def_.stages.size();
    bool is_group = item.IsMap() && std::any_of(item.begin(), item.end(), [](const auto& kv) {
                      return kv.first.IsScalar() && kv.first.Scalar() == "parallel";
                    });
    if (is_group) {
      compile_group(item, stage);
      continue;
    }
    if (misspelt_group(item)) continue;
    if (auto d = step_of(item, stage, std::nullopt)) {
      def_.stages.push_back({{d->step.index}, std::nullopt});
      drafts_.push_back(std::move(*d));
    }
  }
}

void Compiler::apply_pivot() {
  const StepDraft* pivot = nullptr;
  for (const auto& d : drafts_) {
    if (!d.step.pivot) continue;
    if (pivot != nullptr) {
      error(*d.pivot_pos, "only one step may be the pivot; " + quote(pivot->step.name) +
                              " already is (at " + at(*pivot->pivot_pos) + ")");
      continue;
    }
    pivot = &d;
    if (d.compensation_key_pos) {
      error(*d.compensation_key_pos,
            "the pivot step " + quote(d.step.name) +
                " cannot have a compensation: once it succeeds there is no going back");
    }
  }
  if (pivot == nullptr) return;
  def_.pivot = pivot->step.index;
  const std::size_t pivot_stage = pivot->step.stage;
  const std::string pivot_name = pivot->step.name;
  for (auto& d : drafts_) {
    if (d.step.stage <= pivot_stage) continue;
    d.step.retriable = true;
    if (d.compensation_key_pos) {
      error(*d.compensation_key_pos,
            "step " + quote(d.step.name) + " comes after the pivot " + quote(pivot_name) +
                " and cannot have a compensation: steps after the pivot are retried until they "
                "succeed");
    }
  }
}

void Compiler::compile_templates() {
  for (auto& d : drafts_) {
    RefScope scope{&d.step, false};
    if (d.payload) {
      d.step.execute.payload = template_of(*d.payload, scope, 0);
    } else {
      d.step.execute.payload = sagas::Template::literal(Json::object());
    }
    if (d.when) {
      const YAML::Node& w = *d.when;
      ParsedString parsed;
      TemplateSyntaxError syntax;
      if (w.IsScalar() && is_plain(w) && resolve_plain_scalar(w.Scalar()).is_bool()) {
        d.step.when = sagas::Template::literal(resolve_plain_scalar(w.Scalar()));
      } else if (!w.IsScalar() || !parse_template_string(w.Scalar(), parsed, syntax) ||
                 !parsed.is_single_ref()) {
        error(w, syntax.message.empty()
                     ? "\"when\" of step " + quote(d.step.name) +
                           " must be one template such as ${input.express}, or true/false"
                     : syntax.message);
      } else if (auto ref = resolve_ref(std::get<RawRef>(parsed.parts[0]), w, scope)) {
        d.step.when = sagas::Template::reference(std::move(*ref));
      }
    }
    if (d.step.compensation) {
      RefScope cscope{&d.step, true};
      d.step.compensation->payload = d.compensation_payload
                                         ? template_of(*d.compensation_payload, cscope, 0)
                                         : sagas::Template::literal(Json::object());
    }
  }
}

void Compiler::add_warnings() {
  for (const auto& d : drafts_) {
    if (d.step.retriable || d.step.pivot) continue;
    if (!d.step.compensation) {
      warning(d.name_pos, "step " + quote(d.step.name) +
                              " has no compensation: if a later step fails, nothing undoes it "
                              "(fine if it changes nothing)");
    }
    if (d.retry_forever_explicit && !def_.deadline) {
      warning(d.name_pos, "step " + quote(d.step.name) +
                              " retries forever before the pivot and the saga has no deadline: "
                              "it can only fail through `sagactl compensate`");
    }
  }
}

void Compiler::compile_top(const YAML::Node& root) {
  auto entries = fields(root, "the saga file", kTopKeys);
  if (!entries) return;
  const std::string what = "the saga";
  if (const Entry* e = require(*entries, root, "apiVersion", what)) {
    auto v = string_of(*e, what);
    if (v && *v != "saga/v1") {
      error(e->value, "unsupported apiVersion " + quote(*v) + ": this sagactl understands saga/v1");
    }
  }
  if (const Entry* e = require(*entries, root, "saga", what)) {
    if (auto name = string_of(*e, what)) {
      name_pos_ = pos_of(e->value);
      if (!is_saga_name(*name)) {
        error(e->value, "saga name " + quote(*name) +
                            " must match [a-z0-9][a-z0-9._-]{0,127}: lower-case letters, digits, "
                            "'.', '_' and '-'");
      }
      def_.name = *name;
    }
  }
  if (const Entry* e = get(*entries, "version")) {
    if (auto v = int_of(*e, what, 1, 1'000'000'000)) def_.version = static_cast<int>(*v);
  }
  if (const Entry* e = get(*entries, "description")) {
    if (auto v = string_of(*e, what)) def_.description = *v;
  }
  if (const Entry* e = get(*entries, "input")) {
    def_.input = schema_of(e->value, "", 0);
  }
  if (const Entry* e = get(*entries, "deadline")) {
    def_.deadline = duration_of(*e, what);
  }
  if (const Entry* e = get(*entries, "defaults")) {
    const std::string dwhat = "defaults";
    if (auto d = fields(e->value, dwhat, kDefaultsKeys)) {
      if (const Entry* t = get(*d, "timeout")) {
        if (auto v = duration_of(*t, dwhat)) default_timeout_ = *v;
      }
      if (const Entry* r = get(*d, "retry")) {
        if (auto v = retry_of(*r, dwhat, default_retry_)) default_retry_ = *v;
      }
      if (const Entry* t = get(*d, "reply_topic")) {
        if (auto v = topic_of(*t, dwhat)) default_reply_topic_ = *v;
      }
    }
  }
  if (const Entry* e = get(*entries, "compensation")) {
    const std::string cwhat = "the saga's compensation settings";
    if (auto c = fields(e->value, cwhat, kSagaCompensationKeys)) {
      if (const Entry* s = get(*c, "strategy")) {
        // Order matches sagas::CompensationStrategy.
        if (auto i = choice_of(*s, std::array<std::string_view, 2>{"sequential", "parallel"})) {
          def_.compensation_strategy = static_cast<sagas::CompensationStrategy>(*i);
        }
      }
      if (const Entry* r = get(*c, "retry")) {
        if (auto v = retry_of(*r, cwhat, compensation_retry_)) compensation_retry_ = *v;
      }
    }
  }
  def_.reply_topic = default_reply_topic_.value_or(def_.name + ".replies");
  if (const Entry* e = require(*entries, root, "steps", what)) {
    compile_steps(*e);
  }
  apply_pivot();
  compile_templates();
  add_warnings();
}

bool Compiler::check_text(std::string_view text) {
  int line = 1, column = 1;
  bool content = false;  // seen anything but comments, directives and blank lines
  std::size_t line_start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F) {
      char hex[8];
      std::snprintf(hex, sizeof hex, "0x%02X", c);
      error(Pos{line, column}, std::string("control character ") + hex +
                                   " in the file: YAML text may not contain control characters");
      return false;
    }
    if (c != '\n') {
      ++column;
      continue;
    }
    std::string_view l = text.substr(line_start, i - line_start);
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    // yaml-cpp reads only the first document; a second one would be silently ignored.
    bool marker = l.starts_with("---") && (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
    if (marker && content) {
      error(Pos{line, 1}, "one saga per file: a second YAML document starts here; move it to its "
                          "own file");
      return false;
    }
    std::size_t first = l.find_first_not_of(" \t");
    if (!marker && first != std::string_view::npos && l[first] != '#' && l[first] != '%') content = true;
    ++line;
    column = 1;
    line_start = i + 1;
  }
  std::string_view last = text.substr(line_start);
  if (content && last.starts_with("---") && (last.size() == 3 || last[3] == ' ' || last[3] == '\t')) {
    error(Pos{line, 1}, "one saga per file: a second YAML document starts here; move it to its own file");
    return false;
  }
  return true;
}

CompileResult Compiler::run(std::string_view text) {
  CompileResult result;
  def_.source = file_;
  if (text.size() > kMaxFileBytes) {
    error(Pos{1, 1}, "file is larger than " + std::to_string(kMaxFileBytes / (1024 * 1024)) +
                         " MiB; a saga definition should be far smaller");
  } else {
    std::optional<YAML::Node> doc;
    if (check_text(text)) {
      try {
        doc = YAML::Load(std::string(text));
      } catch (const YAML::Exception& ex) {
        Pos p = ex.mark.is_null() ? Pos{1, 1} : Pos{ex.mark.line + 1, ex.mark.column + 1};
        error(p, "YAML syntax: " + ex.msg);
      }
    }
    if (doc && doc->IsNull()) {
      error(Pos{1, 1}, "empty file: expected a saga definition with apiVersion, saga and steps");
    } else if (doc) {
      compile_top(*doc);
    }
  }
  sort_by_position(diags_);
  result.diagnostics = std::move(diags_);
  result.name_line = name_pos_.line;
  result.name_column = name_pos_.column;
  if (!has_errors(result.diagnostics)) {
    for (auto& d : drafts_) def_.steps.push_back(std::move(d.step));
    result.definition = std::make_shared<const sagas::Definition>(std::move(def_));
  }
  return result;
}

}  // namespace

CompileResult compile(std::string_view yaml_text, const std::string& file_name) {
  try {
    return Compiler(file_name).run(yaml_text);
  } catch (const std::exception& ex) {
    // The compiler reports problems as diagnostics; reaching here is a bug in it, but the
    // user still gets a message rather than a crash.
    CompileResult r;
    r.diagnostics.push_back({Severity::error, file_name, 0, 0,
                             std::string("internal compiler error: ") + ex.what() +
                                 " (please report this with the file)"});
    return r;
  }
}

CompileResult compile_file(const std::filesystem::path& path) {
  auto fail = [&](std::string message) {
    CompileResult r;
    r.diagnostics.push_back({Severity::error, path.string(), 0, 0, std::move(message)});
    return r;
  };
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxFileBytes) {
    return fail("file is larger than " + std::to_string(kMaxFileBytes / (1024 * 1024)) +
                " MiB; a saga definition should be far smaller");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in || std::filesystem::is_directory(path, ec)) {
    return fail("cannot read the file: check that it exists and is readable");
  }
  std::ostringstream ss;
  ss << in.rdbuf();
  return compile(ss.str(), path.string());
}

}  // namespace dsl
