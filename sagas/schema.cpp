#include "sagas/schema.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace sagas {

namespace {

constexpr std::pair<SchemaType, const char*> kTypeNames[] = {
    {SchemaType::null, "null"},     {SchemaType::boolean, "boolean"}, {SchemaType::integer, "integer"},
    {SchemaType::number, "number"}, {SchemaType::string, "string"},   {SchemaType::array, "array"},
    {SchemaType::object, "object"},
};

bool has(std::uint8_t types, SchemaType t) { return (types & static_cast<std::uint8_t>(t)) != 0; }

bool type_matches(std::uint8_t types, const Json& v) {
  if (types == 0) return true;
  switch (v.kind()) {
    case Json::Kind::null: return has(types, SchemaType::null);
    case Json::Kind::boolean: return has(types, SchemaType::boolean);
    case Json::Kind::integer: return has(types, SchemaType::integer) || has(types, SchemaType::number);
    case Json::Kind::number: {
      if (has(types, SchemaType::number)) return true;
      // JSON Schema: 2.0 is an integer.
      double d = v.as_double();
      return has(types, SchemaType::integer) && std::floor(d) == d;
    }
    case Json::Kind::string: return has(types, SchemaType::string);
    case Json::Kind::array: return has(types, SchemaType::array);
    case Json::Kind::object: return has(types, SchemaType::object);
  }
  return false;
}

std::size_t utf8_length(const std::string& s) {
  std::size_t n = 0;
  for (char c : s) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;
  }
  return n;
}

std::string number_text(double d) {
  std::ostringstream os;
  os << d;
  return os.str();
}

bool is_identifier(const std::string& key) {
  if (key.empty()) return false;
  for (char c : key) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
    if (!ok) return false;
  }
  return true;
}

std::string child_path(const std::string& parent, const std::string& key) {
  if (is_identifier(key)) return parent + "." + key;
  std::string quoted;
  append_json_string(quoted, key);
  return parent + "[" + quoted + "]";
}

void check_additional(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out);

void check(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out);

void check_enum(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out) {
  for (const auto& e : *s.enum_values) {
    if (e == v) return;
  }
  std::string allowed;
  for (const auto& e : *s.enum_values) {
    if (!allowed.empty()) allowed += ", ";
    allowed += e.dump();
  }
  out.push_back({path, "must be one of " + allowed + ", got " + v.dump()});
}

void check_number(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out) {
  double d = v.as_double();
  if (s.minimum && d < *s.minimum) out.push_back({path, "must be >= " + number_text(*s.minimum) + ", got " + v.dump()});
  if (s.maximum && d > *s.maximum) out.push_back({path, "must be <= " + number_text(*s.maximum) + ", got " + v.dump()});
}

void check_string(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out) {
  const std::string& str = v.as_string();
  std::size_t len = utf8_length(str);
  if (s.min_length && len < *s.min_length) {
    out.push_back({path, "must be at least " + std::to_string(*s.min_length) + " characters long, got " +
                             std::to_string(len)});
  }
  if (s.max_length && len > *s.max_length) {
    out.push_back({path, "must be at most " + std::to_string(*s.max_length) + " characters long, got " +
                             std::to_string(len)});
  }
  if (!s.pattern_re) return;
  if (str.size() > kMaxPatternSubjectLength) {
    out.push_back({path, "is too long (" + std::to_string(str.size()) + " bytes) to check against pattern " + s.pattern +
                             "; the limit is " + std::to_string(kMaxPatternSubjectLength)});
  } else if (!std::regex_search(str, *s.pattern_re)) {
    out.push_back({path, "must match pattern " + s.pattern + ", got " + v.dump()});
  }
}

void check_object(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out) {
  for (const auto& key : s.required) {
    if (v.find(key) == nullptr) out.push_back({path, "missing required property \"" + key + "\""});
  }
  for (const auto& [key, sub] : s.properties) {
    if (const Json* child = v.find(key)) check(*sub, *child, child_path(path, key), out);
  }
  if (s.closed || s.additional) check_additional(s, v, path, out);
}

void check(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out) {
  if (!type_matches(s.types, v)) {
    out.push_back({path, "must be " + describe_types(s.types) + ", got " + std::string(Json::kind_name(v.kind()))});
    return;  // the other keywords would only repeat the type error
  }
  if (s.enum_values) check_enum(s, v, path, out);
  if (v.is_number()) check_number(s, v, path, out);
  if (v.is_string()) check_string(s, v, path, out);
  if (v.is_object()) check_object(s, v, path, out);
  if (v.is_array() && s.items) {
    const auto& items = v.as_array();
    for (std::size_t i = 0; i < items.size(); ++i) check(*s.items, items[i], path + "[" + std::to_string(i) + "]", out);
  }
}

std::string declared_names(const Schema& s) {
  std::string names;
  for (const auto& [key, sub] : s.properties) names += (names.empty() ? "" : ", ") + key;
  return names.empty() ? "none" : names;
}

// The properties `properties` does not name: refused when the object is closed, checked
// against `additionalProperties` when that is a schema.
void check_additional(const Schema& s, const Json& v, const std::string& path, std::vector<SchemaViolation>& out) {
  for (const auto& member : v.as_object()) {
    const std::string& key = member.first;
    const Json& value = member.second;
    bool declared = std::any_of(s.properties.begin(), s.properties.end(), [&](const auto& p) { return p.first == key; });
    if (declared) continue;
    if (s.closed) {
      out.push_back({child_path(path, key), "is not allowed (additionalProperties: false); the declared properties are " +
                                               declared_names(s)});
    } else {
      check(*s.additional, value, child_path(path, key), out);
    }
  }
}

}  // namespace

std::string describe_types(std::uint8_t types) {
  std::string out;
  for (const auto& [t, name] : kTypeNames) {
    if (!has(types, t)) continue;
    if (!out.empty()) out += " or ";
    out += name;
  }
  return out.empty() ? "any type" : out;
}

std::vector<SchemaViolation> validate(const Schema& schema, const Json& value) {
  std::vector<SchemaViolation> out;
  check(schema, value, "$", out);
  return out;
}

}  // namespace sagas
