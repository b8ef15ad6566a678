// The syntax of `${...}` templates inside DSL strings, before names are resolved.
//
//   "${input.orderId}"          one template: the value keeps its JSON type
//   "order ${input.orderId}"    interpolated into text
//   "$${not a template}"        "$${" is a literal "${"
//
// A path is dotted names ([A-Za-z0-9_-]+) with [n] array indices: steps.charge.reply.items[0].
// The compiler (compiler.cpp) resolves the first segments (input, saga, steps.<name>) and
// checks that a referenced step has run before the referencing one.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "sagas/template.h"

namespace dsl {

struct RawRef {
  std::string text;                         // path as written, spaces trimmed
  std::vector<sagas::PathSegment> segments;  // the whole path, root included
  std::size_t offset = 0;                   // of "${" in the string
};

struct ParsedString {
  std::vector<std::variant<std::string, RawRef>> parts;  // text and references, in order
  bool has_refs() const;
  bool is_single_ref() const;  // exactly one template and no text around it
};

struct TemplateSyntaxError {
  std::size_t offset = 0;
  std::string message;
};

// Parses `text`; on error fills `error` and returns false.
bool parse_template_string(std::string_view text, ParsedString& out, TemplateSyntaxError& error);

}  // namespace dsl
