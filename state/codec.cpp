#include "state/codec.h"

namespace state {

using sagas::Json;

namespace {

struct Reader {
  const Json& j;
  std::string error;
  Json* owned = nullptr;  // set when the caller gives the JSON away: values are moved out of it

  const Json* field(const char* name) {
    const Json* v = j.find(name);
    if (v == nullptr && error.empty()) error = std::string("missing field \"") + name + "\"";
    return v;
  }
  std::int64_t integer(const char* name) {
    const Json* v = field(name);
    if (v != nullptr && v->is_integer()) return v->as_integer();
    if (error.empty()) error = std::string("field \"") + name + "\" is not an integer";
    return 0;
  }
  std::optional<std::int64_t> opt_integer(const char* name) {
    const Json* v = j.find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return integer(name);
  }
  bool boolean(const char* name) {
    const Json* v = field(name);
    if (v != nullptr && v->is_bool()) return v->as_bool();
    if (error.empty()) error = std::string("field \"") + name + "\" is not a boolean";
    return false;
  }
  std::string string(const char* name) {
    const Json* v = field(name);
    if (v != nullptr && v->is_string()) return v->as_string();
    if (error.empty()) error = std::string("field \"") + name + "\" is not a string";
    return {};
  }
  // Optional fields: absent or null is the default; present with another type is an error.
  bool opt_boolean(const char* name) {
    const Json* v = j.find(name);
    if (v == nullptr || v->is_null()) return false;
    return boolean(name);
  }
  std::string opt_string(const char* name) {
    const Json* v = j.find(name);
    if (v == nullptr || v->is_null()) return {};
    return string(name);
  }
  std::optional<Json> opt_json(const char* name) {
    const Json* v = j.find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    if (owned != nullptr) return std::move(*owned->find(name));
    return *v;
  }
};

}  // namespace

Json to_json(const sagas::StepRecord& r) {
  // Fields at their default value are left out: most of a step's fields are zero most of
  // its life, and each byte here is written again with every journal entry that changes it.
  Json j = Json::object();
  j.set("state", std::string(sagas::to_string(r.state)));
  auto count = [&](const char* name, std::uint32_t v) {
    if (v != 0) j.set(name, static_cast<std::int64_t>(v));
  };
  count("attempts", r.attempts);
  count("compensation_attempts", r.compensation_attempts);
  count("compensation_budget_from", r.compensation_budget_from);
  if (r.outcome_unknown) j.set("outcome_unknown", true);
  if (r.compensation_gave_up) j.set("compensation_gave_up", true);
  if (r.request) j.set("request", *r.request);
  if (r.reply) j.set("reply", *r.reply);
  if (!r.error.empty()) j.set("error", r.error);
  if (r.started_at != 0) j.set("started_at", r.started_at);
  if (r.finished_at != 0) j.set("finished_at", r.finished_at);
  if (r.timer_at) j.set("timer_at", *r.timer_at);
  if (r.timer_kind != sagas::TimerKind::attempt_timeout) j.set("timer_kind", std::string(sagas::to_string(r.timer_kind)));
  if (r.timer_for != sagas::CommandKind::execute) j.set("timer_for", std::string(sagas::to_string(r.timer_for)));
  return j;
}

namespace {

sagas::Result<sagas::StepRecord> read_step(const Json& j, Json* owned) {
  if (!j.is_object()) return sagas::Error{"a step record must be an object"};
  Reader rd{j, {}, owned};
  sagas::StepRecord r;
  auto state = sagas::step_state_from(rd.string("state"));
  r.attempts = static_cast<std::uint32_t>(rd.opt_integer("attempts").value_or(0));
  r.compensation_attempts = static_cast<std::uint32_t>(rd.opt_integer("compensation_attempts").value_or(0));
  r.compensation_budget_from = static_cast<std::uint32_t>(rd.opt_integer("compensation_budget_from").value_or(0));
  r.outcome_unknown = rd.opt_boolean("outcome_unknown");
  r.compensation_gave_up = rd.opt_boolean("compensation_gave_up");
  r.request = rd.opt_json("request");
  r.reply = rd.opt_json("reply");
  r.error = rd.opt_string("error");
  r.started_at = rd.opt_integer("started_at").value_or(0);
  r.finished_at = rd.opt_integer("finished_at").value_or(0);
  r.timer_at = rd.opt_integer("timer_at");
  std::string kind = rd.opt_string("timer_kind");
  if (kind == "retry_backoff") {
    r.timer_kind = sagas::TimerKind::retry_backoff;
  } else if (!kind.empty() && kind != "attempt_timeout") {
    return sagas::Error{"unknown timer kind \"" + kind + "\""};
  }
  std::string timer_for = rd.opt_string("timer_for");
  auto for_kind = timer_for.empty() ? std::optional(sagas::CommandKind::execute) : sagas::command_kind_from(timer_for);
  if (!rd.error.empty()) return sagas::Error{rd.error};
  if (!state) return sagas::Error{"unknown step state"};
  if (!for_kind) return sagas::Error{"unknown timer target \"" + timer_for + "\""};
  r.state = *state;
  r.timer_for = *for_kind;
  return r;
}

}  // namespace

Json to_json(const sagas::Instance& inst) {
  Json j = Json::object();
  j.set("id", inst.id);
  j.set("saga", inst.saga);
  j.set("version", inst.version);
  j.set("state", std::string(sagas::to_string(inst.state)));
  j.set("input", inst.input.value_or_null());
  Json steps = Json::array();
  for (const auto& s : inst.steps) steps.as_array().push_back(to_json(s));
  j.set("steps", std::move(steps));
  if (inst.stage != 0) j.set("stage", static_cast<std::int64_t>(inst.stage));
  if (!inst.error.empty()) j.set("error", inst.error);
  j.set("created_at", inst.created_at);
  j.set("updated_at", inst.updated_at);
  if (inst.deadline_at) j.set("deadline_at", *inst.deadline_at);
  return j;
}

namespace {

sagas::Result<sagas::Instance> read_instance(const Json& j, Json* owned) {
  if (!j.is_object()) return sagas::Error{"an instance must be an object"};
  Reader rd{j, {}, owned};
  sagas::Instance inst;
  inst.id = rd.string("id");
  inst.saga = rd.string("saga");
  inst.version = static_cast<int>(rd.integer("version"));
  auto state = sagas::saga_state_from(rd.string("state"));
  if (const Json* in = rd.field("input")) inst.input = owned != nullptr ? std::move(*owned->find("input")) : *in;
  if (!inst.input) inst.input = Json();
  inst.stage = static_cast<std::size_t>(rd.opt_integer("stage").value_or(0));
  inst.error = rd.opt_string("error");
  inst.created_at = rd.integer("created_at");
  inst.updated_at = rd.integer("updated_at");
  inst.deadline_at = rd.opt_integer("deadline_at");
  const Json* steps = rd.field("steps");
  if (!rd.error.empty()) return sagas::Error{rd.error};
  if (!state) return sagas::Error{"unknown saga state"};
  inst.state = *state;
  if (!steps->is_array()) return sagas::Error{"field \"steps\" is not an array"};
  inst.steps.reserve(steps->as_array().size());
  for (std::size_t i = 0; i < steps->as_array().size(); ++i) {
    Json* step = owned != nullptr ? &owned->find("steps")->as_array()[i] : nullptr;
    auto r = read_step(steps->as_array()[i], step);
    if (!r) return r.error();
    inst.steps.push_back(std::move(r).value());
  }
  return inst;
}

}  // namespace

sagas::Result<sagas::StepRecord> step_from_json(const Json& j) { return read_step(j, nullptr); }
sagas::Result<sagas::StepRecord> step_from_json(Json&& j) { return read_step(j, &j); }
sagas::Result<sagas::Instance> instance_from_json(const Json& j) { return read_instance(j, nullptr); }
sagas::Result<sagas::Instance> instance_from_json(Json&& j) { return read_instance(j, &j); }

}  // namespace state
