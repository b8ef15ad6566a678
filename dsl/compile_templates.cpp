// Payload templates and the references they make, checked against the saga (compiler_impl.h).
#include "dsl/compiler_impl.h"

#include <unordered_set>

namespace dsl::detail {

bool Compiler::input_path_declared(const sagas::Ref& ref, const std::string& shown, const YAML::Node& at_node) {
  // As in JSON Schema, `properties` do not close an object, so a template may name a property
  // the schema leaves out. It is an error only where that cannot be meant: the object is
  // closed (additionalProperties: false), or the name is a near miss of a declared one
  // (${input.gust} beside `guest`, a typo that would render null at run time). Otherwise a
  // warning, which `validate --strict` turns into a failure.
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
    auto it = std::find_if(schema->properties.begin(), schema->properties.end(),
                           [&](const auto& p) { return p.first == *name; });
    if (it != schema->properties.end()) {
      schema = it->second.get();
      where += "." + *name;
      continue;
    }
    if (schema->properties.empty() && !schema->closed && !schema->additional) return true;  // an object left open on purpose
    std::vector<std::string_view> names;
    for (const auto& p : schema->properties) names.push_back(p.first);
    const auto declared = std::span<const std::string_view>(names);
    if (schema->closed) {
      error(at_node, shown + ": the input schema declares no property " + quote(*name) + " in " + where +
                         " and allows no other (additionalProperties: false)" +
                         suggestion(*name, declared, "its properties are"));
      return false;
    }
    if (std::string near = closest(*name, declared); !near.empty()) {
      error(at_node, shown + ": the input schema declares no property " + quote(*name) + " in " + where +
                         " (did you mean \"" + near + "\"?)");
      return false;
    }
    if (schema->additional) {
      schema = schema->additional.get();
      where += "." + *name;
      continue;
    }
    warning(pos_of(at_node), shown + ": the input schema does not declare " + quote(*name) + " in " + where +
                                 ", so a start without it fails here at run time; declare it, or close the object with "
                                 "additionalProperties: false to make this an error");
    return true;
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

sagas::Template Compiler::scalar_template(const YAML::Node& n, const RefScope& scope) {
  using sagas::Template;
  const std::string& s = n.Scalar();
  if (s.find("${") == std::string::npos) return Template::literal(is_plain(n) ? resolve_plain_scalar(s) : Json(s));
  ParsedString parsed;
  TemplateSyntaxError syntax;
  if (!parse_template_string(s, parsed, syntax)) {
    error(n, syntax.message);
    return Template();
  }
  if (!parsed.has_refs()) return Template::literal(Json(std::get<std::string>(parsed.parts[0])));
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

sagas::Template Compiler::object_template(const YAML::Node& n, const RefScope& scope, int depth) {
  sagas::Template::Object members;
  std::unordered_set<std::string> seen;  // linear in the mapping, however large
  for (auto it = n.begin(); it != n.end(); ++it) {
    if (!it->first.IsScalar()) {
      error(it->first, "payload keys must be strings");
      continue;
    }
    const std::string& key = it->first.Scalar();
    if (!seen.insert(key).second) {
      error(it->first, "duplicate key " + quote(key) + " in payload");
      continue;
    }
    members.emplace_back(key, template_of(it->second, scope, depth + 1));
  }
  return sagas::Template::object(std::move(members));
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
    case YAML::NodeType::Scalar: return scalar_template(n, scope);
    case YAML::NodeType::Sequence: {
      Template::Array items;
      for (const auto& item : n) items.push_back(template_of(item, scope, depth + 1));
      return Template::array(std::move(items));
    }
    case YAML::NodeType::Map: return object_template(n, scope, depth);
  }
  return Template();
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

}  // namespace dsl::detail
