#include "dsl/template_parser.h"

namespace dsl {

bool ParsedString::has_refs() const {
  for (const auto& p : parts) {
    if (std::holds_alternative<RawRef>(p)) return true;
  }
  return false;
}

bool ParsedString::is_single_ref() const {
  return parts.size() == 1 && std::holds_alternative<RawRef>(parts[0]);
}

namespace {

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}

// Parses the path between "${" and "}".
bool parse_path(std::string_view path, std::size_t base, RawRef& ref, TemplateSyntaxError& error) {
  auto fail = [&](std::size_t at, std::string msg) {
    error = {base + at, std::move(msg)};
    return false;
  };
  std::size_t begin = 0, end = path.size();
  while (begin < end && path[begin] == ' ') ++begin;
  while (end > begin && path[end - 1] == ' ') --end;
  std::string_view p = path.substr(begin, end - begin);
  if (p.empty()) return fail(0, "empty template ${}: write a path such as ${input.orderId}");
  ref.text = std::string(p);
  std::string quoted = "${" + ref.text + "}";
  std::size_t i = 0;
  bool expect_name = true;
  while (i < p.size()) {
    if (expect_name) {
      std::size_t start = i;
      while (i < p.size() && is_name_char(p[i])) ++i;
      if (i == start) {
        return fail(begin + i, "expected a name at \"" + std::string(p.substr(i)) + "\" in " + quoted);
      }
      ref.segments.emplace_back(std::string(p.substr(start, i - start)));
      expect_name = false;
      continue;
    }
    if (p[i] == '.') {
      ++i;
      expect_name = true;
      if (i == p.size()) return fail(begin + i, "path ends with '.' in " + quoted);
      continue;
    }
    if (p[i] == '[') {
      std::size_t start = ++i;
      std::size_t index = 0;
      while (i < p.size() && p[i] >= '0' && p[i] <= '9') {
        index = index * 10 + static_cast<std::size_t>(p[i] - '0');
        if (index > 1'000'000'000) return fail(begin + start, "array index too large in " + quoted);
        ++i;
      }
      if (i == start || i >= p.size() || p[i] != ']') {
        return fail(begin + start - 1, "expected [n] with a number n in " + quoted);
      }
      ++i;
      ref.segments.emplace_back(index);
      continue;
    }
    return fail(begin + i, "unexpected '" + std::string(1, p[i]) + "' in " + quoted +
                               ": paths are names joined by '.' with [n] for array items");
  }
  return true;
}

}  // namespace

bool parse_template_string(std::string_view text, ParsedString& out, TemplateSyntaxError& error) {
  std::string literal;
  std::size_t i = 0;
  while (i < text.size()) {
    if (text.compare(i, 3, "$${") == 0) {
      literal += "${";
      i += 3;
      continue;
    }
    if (text.compare(i, 2, "${") != 0) {
      literal.push_back(text[i++]);
      continue;
    }
    std::size_t close = text.find('}', i + 2);
    if (close == std::string_view::npos) {
      error = {i, "unterminated template \"" + std::string(text.substr(i, 40)) +
                      "\": add the closing '}' (write $${ for a literal ${)"};
      return false;
    }
    RawRef ref;
    ref.offset = i;
    if (!parse_path(text.substr(i + 2, close - i - 2), i + 2, ref, error)) return false;
    if (!literal.empty()) {
      out.parts.emplace_back(std::move(literal));
      literal.clear();
    }
    out.parts.emplace_back(std::move(ref));
    i = close + 1;
  }
  if (!literal.empty() || out.parts.empty()) out.parts.emplace_back(std::move(literal));
  return true;
}

}  // namespace dsl
