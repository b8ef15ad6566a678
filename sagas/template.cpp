#include "sagas/template.h"

namespace sagas {

Template Template::literal(Json value) {
  Template t;
  t.node_ = std::move(value);
  return t;
}

Template Template::reference(Ref ref) {
  Template t;
  t.node_ = std::move(ref);
  return t;
}

Template Template::interpolation(Interpolation parts) {
  Template t;
  t.node_ = std::move(parts);
  return t;
}

Template Template::array(Array items) {
  bool all_literal = true;
  for (const auto& item : items) all_literal = all_literal && item.is_literal();
  if (all_literal) {
    Json::Array values;
    values.reserve(items.size());
    for (auto& item : items) values.push_back(std::move(std::get<Json>(item.node_)));
    return literal(Json(std::move(values)));
  }
  Template t;
  t.node_ = std::move(items);
  return t;
}

Template Template::object(Object members) {
  bool all_literal = true;
  for (const auto& m : members) all_literal = all_literal && m.second.is_literal();
  if (all_literal) {
    Json::Object values;
    values.reserve(members.size());
    for (auto& [k, v] : members) values.emplace_back(std::move(k), std::move(std::get<Json>(v.node_)));
    return literal(Json(std::move(values)));
  }
  Template t;
  t.node_ = std::move(members);
  return t;
}

const Json* resolve(const Ref& ref, const RenderContext& ctx, Json& scratch) {
  const Json* base = nullptr;
  switch (ref.root) {
    case RefRoot::input: base = ctx.input; break;
    case RefRoot::saga_id: scratch = Json(ctx.saga_id); return &scratch;
    case RefRoot::saga_name: scratch = Json(ctx.saga_name); return &scratch;
    case RefRoot::saga_version: scratch = Json(ctx.saga_version); return &scratch;
    case RefRoot::step_reply:
    case RefRoot::step_request:
      base = ctx.step_value ? ctx.step_value(ref.step, ref.root) : nullptr;
      break;
  }
  for (const auto& seg : ref.path) {
    if (base == nullptr) return nullptr;
    if (const auto* key = std::get_if<std::string>(&seg)) {
      base = base->find(*key);
    } else {
      std::size_t index = std::get<std::size_t>(seg);
      base = base->is_array() && index < base->as_array().size() ? &base->as_array()[index] : nullptr;
    }
  }
  return base;
}

void append_as_text(std::string& out, const Json& value) {
  if (value.is_string()) {
    out += value.as_string();
  } else {
    value.dump_to(out);
  }
}

namespace {

Error missing_error(const Ref& ref) {
  return Error{"${" + ref.text + "} has no value"};
}

// Renders each kind of template node against one context.
struct Renderer {
  const RenderContext& ctx;
  Missing missing;

  Result<Json> operator()(const Json& literal) const { return literal; }

  Result<Json> operator()(const Ref& ref) const {
    Json scratch;
    const Json* value = resolve(ref, ctx, scratch);
    if (value == nullptr) {
      if (missing == Missing::as_null) return Json();
      return missing_error(ref);
    }
    return *value;
  }

  Result<Json> operator()(const Template::Interpolation& interp) const {
    std::string out;
    for (const auto& part : interp.parts) {
      if (const auto* text = std::get_if<std::string>(&part)) {
        out += *text;
        continue;
      }
      const Ref& ref = std::get<Ref>(part);
      Json scratch;
      const Json* value = resolve(ref, ctx, scratch);
      if (value == nullptr) {
        if (missing == Missing::fail) return missing_error(ref);
        out += "null";
        continue;
      }
      append_as_text(out, *value);
    }
    return Json(std::move(out));
  }

  Result<Json> operator()(const Template::Array& items) const {
    Json::Array out;
    out.reserve(items.size());
    for (const auto& item : items) {
      auto r = item.render(ctx, missing);
      if (!r) return r.error();
      out.push_back(std::move(r).value());
    }
    return Json(std::move(out));
  }

  Result<Json> operator()(const Template::Object& members) const {
    Json::Object out;
    out.reserve(members.size());
    for (const auto& [key, item] : members) {
      auto r = item.render(ctx, missing);
      if (!r) return r.error();
      out.emplace_back(key, std::move(r).value());
    }
    return Json(std::move(out));
  }
};

}  // namespace

Result<Json> Template::render(const RenderContext& ctx, Missing missing) const {
  return std::visit(Renderer{ctx, missing}, node_);
}

void Template::for_each_ref(const std::function<void(const Ref&)>& fn) const {
  if (const auto* ref = std::get_if<Ref>(&node_)) {
    fn(*ref);
  } else if (const auto* interp = std::get_if<Interpolation>(&node_)) {
    for (const auto& part : interp->parts) {
      if (const auto* r = std::get_if<Ref>(&part)) fn(*r);
    }
  } else if (const auto* items = std::get_if<Array>(&node_)) {
    for (const auto& item : *items) item.for_each_ref(fn);
  } else if (const auto* members = std::get_if<Object>(&node_)) {
    for (const auto& m : *members) m.second.for_each_ref(fn);
  }
}

}  // namespace sagas
