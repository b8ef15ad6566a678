// The input schema and JSON values of a saga file (compiler_impl.h).
#include "dsl/compiler_impl.h"

#include <unordered_set>

namespace dsl::detail {

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
      std::unordered_set<std::string> seen;  // linear in the mapping, however large
      for (auto it = n.begin(); it != n.end(); ++it) {
        if (!it->first.IsScalar()) {
          error(it->first, "object keys must be strings");
          return std::nullopt;
        }
        if (!seen.insert(it->first.Scalar()).second) {
          error(it->first, "duplicate key " + quote(it->first.Scalar()));
          return std::nullopt;
        }
        auto v = json_of(it->second, depth + 1);
        if (!v) return std::nullopt;
        out.as_object().emplace_back(it->first.Scalar(), std::move(*v));  // unique: checked above
      }
      return out;
    }
  }
  return std::nullopt;
}

namespace {

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

}  // namespace

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

// The `type` keyword: one type name or a list of them.
bool Compiler::schema_types(const Entry& t, const std::string& what, sagas::Schema& s) {
  std::vector<YAML::Node> names;
  if (t.value.IsSequence()) {
    for (const auto& item : t.value) names.push_back(item);
  } else {
    names.push_back(t.value);
  }
  bool ok = true;
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
  return ok;
}

// `required`, `properties` and `items`: the schema's children. nullopt when the node budget
// ran out (reported once, by spend_node), which ends the whole schema.
std::optional<bool> Compiler::schema_children(const std::vector<Entry>& entries, const std::string& where,
                                              const std::string& what, int depth, sagas::Schema& s) {
  bool ok = true;
  if (const Entry* r = get(entries, "required")) {
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
  if (const Entry* p = get(entries, "properties")) {
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
  if (const Entry* it = get(entries, "items")) {
    auto sub = schema_of(it->value, (where.empty() ? std::string("$") : where) + "[]", depth + 1);
    if (sub) s.items = std::make_shared<const sagas::Schema>(std::move(*sub)); else ok = false;
  }
  if (const Entry* a = get(entries, "additionalProperties")) {
    if (a->value.IsScalar()) {
      if (auto open = bool_of(*a, what)) s.closed = !*open; else ok = false;
    } else {
      auto sub = schema_of(a->value, (where.empty() ? std::string("$") : where) + ".*", depth + 1);
      if (sub) s.additional = std::make_shared<const sagas::Schema>(std::move(*sub)); else ok = false;
    }
  }
  return ok;
}

// `enum`, `minimum`, `maximum`, `minLength` and `maxLength`: what values are allowed.
bool Compiler::schema_bounds(const std::vector<Entry>& entries, const std::string& what, int depth,
                             sagas::Schema& s) {
  bool ok = true;
  if (const Entry* e = get(entries, "enum")) {
    if (!e->value.IsSequence() || e->value.size() == 0) {
      error(e->value, "\"enum\" of " + what + " must be a non-empty list of allowed values");
      ok = false;
    } else if (auto values = json_of(e->value, depth + 1)) {
      s.enum_values = std::move(values->as_array());
    } else {
      ok = false;
    }
  }
  if (const Entry* m = get(entries, "minimum")) {
    if (auto v = number_of(*m, what)) s.minimum = *v; else ok = false;
  }
  if (const Entry* m = get(entries, "maximum")) {
    if (auto v = number_of(*m, what)) s.maximum = *v; else ok = false;
  }
  if (s.minimum && s.maximum && *s.minimum > *s.maximum) {
    error(get(entries, "minimum")->value, "minimum is greater than maximum in " + what);
    ok = false;
  }
  if (const Entry* m = get(entries, "minLength")) {
    if (auto v = int_of(*m, what, 0, kMaxStringLength)) s.min_length = static_cast<std::size_t>(*v); else ok = false;
  }
  if (const Entry* m = get(entries, "maxLength")) {
    if (auto v = int_of(*m, what, 0, kMaxStringLength)) s.max_length = static_cast<std::size_t>(*v); else ok = false;
  }
  return ok;
}

// `pattern`: an ECMAScript regular expression, refused when it would compile to a monster.
bool Compiler::schema_pattern(const Entry& pat, const std::string& what, sagas::Schema& s) {
  auto text = string_of(pat, what);
  if (!text || !check_pattern(pat.value, *text)) return false;
  try {
    // __polynomial: libstdc++'s breadth-first matcher, linear in the subject, so a hostile
    // input cannot make a pattern check take exponential time.
    s.pattern_re =
        std::make_shared<const std::regex>(*text, std::regex::ECMAScript | std::regex_constants::__polynomial);
    s.pattern = *text;
    return true;
  } catch (const std::regex_error& ex) {
    error(pat.value, "invalid pattern " + quote(*text) + ": " + ex.what() + " (ECMAScript syntax, no backreferences)");
    return false;
  }
}

std::optional<sagas::Schema> Compiler::schema_of(const YAML::Node& n, const std::string& where, int depth) {
  if (depth > kMaxNesting) {
    error(n, "input schema nested deeper than " + std::to_string(kMaxNesting) + " levels");
    return std::nullopt;
  }
  const std::string what = "the input schema" + (where.empty() ? std::string() : " at " + where);
  auto entries = fields(n, what, kSchemaKeys);
  if (!entries) return std::nullopt;
  sagas::Schema s;
  bool ok = true;
  if (const Entry* t = get(*entries, "type")) ok = schema_types(*t, what, s) && ok;
  auto children = schema_children(*entries, where, what, depth, s);
  if (!children) return std::nullopt;
  ok = *children && ok;
  ok = schema_bounds(*entries, what, depth, s) && ok;
  if (const Entry* pat = get(*entries, "pattern")) ok = schema_pattern(*pat, what, s) && ok;
  for (const char* annotation : {"title", "description"}) {
    if (const Entry* a = get(*entries, annotation)) {
      if (!string_of(*a, what)) ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return s;
}

}  // namespace dsl::detail
