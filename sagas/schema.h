// Schema: the JSON-Schema subset that validates a saga's input when it starts.
//
// Supported keywords (docs/dsl.md): type, required, properties, additionalProperties, items,
// enum, minimum, maximum, minLength, maxLength, pattern. As in JSON Schema, `properties` do not
// close an object: properties it does not declare are allowed unless `additionalProperties`
// is false (or are checked against it when it is a schema). The DSL compiler builds and checks a Schema at load time;
// validate() reports every violation, each with the JSON path of the offending value, so a
// caller can fix their input in one go. Immutable once built; safe to share across threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <utility>
#include <vector>

#include "sagas/json.h"

namespace sagas {

// JSON Schema's type names as bits, so `type: [string, null]` is one mask.
enum class SchemaType : std::uint8_t {
  null = 1 << 0,
  boolean = 1 << 1,
  integer = 1 << 2,
  number = 1 << 3,
  string = 1 << 4,
  array = 1 << 5,
  object = 1 << 6,
};

struct Schema {
  std::uint8_t types = 0;  // bit set of SchemaType; 0 accepts any type
  std::vector<std::string> required;
  std::vector<std::pair<std::string, std::shared_ptr<const Schema>>> properties;
  bool closed = false;                         // additionalProperties: false
  std::shared_ptr<const Schema> additional;    // additionalProperties: {schema}; null: any value
  std::shared_ptr<const Schema> items;
  std::optional<std::vector<Json>> enum_values;
  std::optional<double> minimum;
  std::optional<double> maximum;
  std::optional<std::size_t> min_length;
  std::optional<std::size_t> max_length;
  std::string pattern;                           // ECMAScript syntax, as written
  std::shared_ptr<const std::regex> pattern_re;  // compiled once at load time
};

struct SchemaViolation {
  std::string path;     // "$", "$.items[2].sku"
  std::string message;  // "must be >= 0, got -5"
};

// std::regex matching recurses per character; past this length a pattern check is refused
// (reported as a violation) rather than risking the stack on hostile input.
inline constexpr std::size_t kMaxPatternSubjectLength = 4096;

std::vector<SchemaViolation> validate(const Schema& schema, const Json& value);

// "string", "string or null", ... for messages.
std::string describe_types(std::uint8_t types);

}  // namespace sagas
