// The Compiler's diagnostics and its readers of single values (strings, booleans, numbers,
// durations, topics), shared by every part of the compilation.
#include "dsl/compiler_impl.h"

namespace dsl::detail {

void Compiler::error(Pos p, std::string message) {
  diags_.push_back({Severity::error, file_, p.line, p.column, std::move(message)});
}

void Compiler::warning(Pos p, std::string message) {
  diags_.push_back({Severity::warning, file_, p.line, p.column, std::move(message)});
}

bool Compiler::spend_node(const YAML::Node& n) {
  if (++nodes_ <= kMaxNodes) return true;
  if (!budget_reported_) {
    budget_reported_ = true;
    error(n, "the document expands to more than " + std::to_string(kMaxNodes) +
                 " nodes (through aliases?); a saga definition should be far smaller");
  }
  return false;
}

const Entry* Compiler::get(const std::vector<Entry>& entries, std::string_view key) {
  for (const auto& e : entries) {
    if (e.key == key) return &e;
  }
  return nullptr;
}

const Entry* Compiler::require(const std::vector<Entry>& entries, const YAML::Node& map,
                               std::string_view key, const std::string& what) {
  const Entry* e = get(entries, key);
  if (e == nullptr) error(map, what + " is missing required key " + quote(key));
  return e;
}

std::optional<std::string> Compiler::string_of(const Entry& e, const std::string& what) {
  if (!e.value.IsScalar() || (is_plain(e.value) && e.value.Scalar().empty())) {
    error(e.value, quote(e.key) + " of " + what + " must be a string");
    return std::nullopt;
  }
  return e.value.Scalar();
}

std::optional<bool> Compiler::bool_of(const Entry& e, const std::string& what) {
  if (e.value.IsScalar() && is_plain(e.value)) {
    Json v = resolve_plain_scalar(e.value.Scalar());
    if (v.is_bool()) return v.as_bool();
  }
  error(e.value, quote(e.key) + " of " + what + " must be true or false");
  return std::nullopt;
}

std::optional<std::int64_t> Compiler::int_of(const Entry& e, const std::string& what,
                                             std::int64_t min, std::int64_t max) {
  if (e.value.IsScalar() && is_plain(e.value)) {
    Json v = resolve_plain_scalar(e.value.Scalar());
    if (v.is_integer() && v.as_integer() >= min && v.as_integer() <= max) return v.as_integer();
  }
  error(e.value, quote(e.key) + " of " + what + " must be an integer from " + std::to_string(min) +
                     " to " + std::to_string(max) + ", got " + quote(describe(e.value)));
  return std::nullopt;
}

std::optional<double> Compiler::number_of(const Entry& e, const std::string& what) {
  if (e.value.IsScalar() && is_plain(e.value)) {
    Json v = resolve_plain_scalar(e.value.Scalar());
    if (v.is_number()) return v.as_double();
  }
  error(e.value, quote(e.key) + " of " + what + " must be a number");
  return std::nullopt;
}

std::optional<Millis> Compiler::duration_of(const Entry& e, const std::string& what) {
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

std::optional<std::string> Compiler::topic_of(const Entry& e, const std::string& what) {
  auto topic = string_of(e, what);
  if (topic && !is_topic_name(*topic)) {
    error(e.value, "topic " + quote(*topic) +
                       " is not a valid Kafka topic name: use letters, digits, '.', '_' and '-' "
                       "(at most 249)");
    return std::nullopt;
  }
  return topic;
}

std::string Compiler::describe(const YAML::Node& n) {
  if (n.IsScalar()) return n.Scalar();
  if (n.IsSequence()) return "a list";
  if (n.IsMap()) return "a mapping";
  return "nothing";
}

}  // namespace dsl::detail
