// Json: a JSON value for payloads, replies and saga input.
//
// The pure core must not depend on any I/O or third-party library (CONTRIBUTING.md, Conventions), so it carries
// its own small value type. Objects keep insertion order so a payload goes out on the wire
// in the order its author wrote it; keys are unique (set() replaces). Numbers keep the
// integer/floating distinction of the text they came from. Values are plain data: copyable,
// comparable, no shared state, not thread-safe beyond that of std containers.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "sagas/result.h"

namespace sagas {

class Json {
 public:
  using Array = std::vector<Json>;
  using Member = std::pair<std::string, Json>;
  using Object = std::vector<Member>;

  enum class Kind { null, boolean, integer, number, string, array, object };

  Json() = default;
  Json(std::nullptr_t) {}                                       // NOLINT: implicit by design
  Json(bool b) : v_(b) {}                                       // NOLINT
  Json(int i) : v_(std::int64_t{i}) {}                          // NOLINT
  Json(std::int64_t i) : v_(i) {}                               // NOLINT
  Json(double d) : v_(d) {}                                     // NOLINT
  Json(std::string s) : v_(std::move(s)) {}                     // NOLINT
  Json(std::string_view s) : v_(std::string(s)) {}              // NOLINT
  Json(const char* s) : v_(std::string(s)) {}                   // NOLINT
  Json(Array a) : v_(std::move(a)) {}                           // NOLINT
  Json(Object o) : v_(std::move(o)) {}                          // NOLINT

  static Json array() { return Json(Array{}); }
  static Json object() { return Json(Object{}); }

  Kind kind() const { return static_cast<Kind>(v_.index()); }
  bool is_null() const { return kind() == Kind::null; }
  bool is_bool() const { return kind() == Kind::boolean; }
  bool is_integer() const { return kind() == Kind::integer; }
  bool is_number() const { return kind() == Kind::integer || kind() == Kind::number; }
  bool is_string() const { return kind() == Kind::string; }
  bool is_array() const { return kind() == Kind::array; }
  bool is_object() const { return kind() == Kind::object; }

  bool as_bool() const { return std::get<bool>(v_); }
  std::int64_t as_integer() const { return std::get<std::int64_t>(v_); }
  // Any number as a double (integers convert).
  double as_double() const;
  const std::string& as_string() const { return std::get<std::string>(v_); }
  const Array& as_array() const { return std::get<Array>(v_); }
  Array& as_array() { return std::get<Array>(v_); }
  const Object& as_object() const { return std::get<Object>(v_); }
  Object& as_object() { return std::get<Object>(v_); }

  // Object member by key, or nullptr (also when this is not an object).
  const Json* find(std::string_view key) const;
  Json* find(std::string_view key);
  // Sets an object member, replacing an existing one. Requires an object.
  void set(std::string key, Json value);

  // Compact JSON text (RFC 8259), UTF-8, no whitespace.
  std::string dump() const;
  void dump_to(std::string& out) const;

  // Parses exactly one JSON document. Errors say where: "line 3, column 7: expected ':'".
  // Nesting deeper than kMaxDepth is refused rather than risking the stack.
  static constexpr int kMaxDepth = 256;
  static Result<Json> parse(std::string_view text);

  // Numbers compare by value across integer and floating kinds (1 == 1.0), as JSON Schema
  // expects for enum; objects compare as sets of members.
  friend bool operator==(const Json& a, const Json& b);

  // The JSON kind's name as JSON Schema spells it: "null", "boolean", "integer", ...
  static std::string_view kind_name(Kind kind);

 private:
  std::variant<std::nullptr_t, bool, std::int64_t, double, std::string, Array, Object> v_;
};

// Appends `s` to `out` as a quoted JSON string.
void append_json_string(std::string& out, std::string_view s);

}  // namespace sagas
