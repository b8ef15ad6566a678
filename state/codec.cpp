#include "state/codec.h"

namespace state {

using sagas::Json;

namespace {

Json opt(const std::optional<Json>& v) { return v ? *v : Json(); }
Json opt_time(const std::optional<sagas::TimeMs>& v) { return v ? Json(*v) : Json(); }

struct Reader {
  const Json& j;
  std::string error;

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
  std::optional<Json> opt_json(const char* name) {
    const Json* v = j.find(name);
    if (v == nullptr || v->is_null()) return std::nullopt;
    return *v;
  }
};

}  // namespace

Json to_json(const sagas::StepRecord& r) {
  Json j = Json::object();
  j.set("state", std::string(sagas::to_string(r.state)));
  j.set("attempts", static_cast<std::int64_t>(r.attempts));
  j.set("compensation_attempts", static_cast<std::int64_t>(r.compensation_attempts));
  j.set("compensation_budget_from", static_cast<std::int64_t>(r.compensation_budget_from));
  j.set("outcome_unknown", r.outcome_unknown);
  j.set("compensation_gave_up", r.compensation_gave_up);
  j.set("request", opt(r.request));
  j.set("reply", opt(r.reply));
  j.set("error", r.error);
  j.set("started_at", r.started_at);
  j.set("finished_at", r.finished_at);
  j.set("timer_at", opt_time(r.timer_at));
  j.set("timer_kind", std::string(sagas::to_string(r.timer_kind)));
  j.set("timer_for", std::string(sagas::to_string(r.timer_for)));
  return j;
}

sagas::Result<sagas::StepRecord> step_from_json(const Json& j) {
  if (!j.is_object()) return sagas::Error{"a step record must be an object"};
  Reader rd{j, {}};
  sagas::StepRecord r;
  auto state = sagas::step_state_from(rd.string("state"));
  r.attempts = static_cast<std::uint32_t>(rd.integer("attempts"));
  r.compensation_attempts = static_cast<std::uint32_t>(rd.integer("compensation_attempts"));
  r.compensation_budget_from = static_cast<std::uint32_t>(rd.integer("compensation_budget_from"));
  r.outcome_unknown = rd.boolean("outcome_unknown");
  r.compensation_gave_up = rd.boolean("compensation_gave_up");
  r.request = rd.opt_json("request");
  r.reply = rd.opt_json("reply");
  r.error = rd.string("error");
  r.started_at = rd.integer("started_at");
  r.finished_at = rd.integer("finished_at");
  r.timer_at = rd.opt_integer("timer_at");
  std::string kind = rd.string("timer_kind");
  r.timer_kind = kind == "retry_backoff" ? sagas::TimerKind::retry_backoff : sagas::TimerKind::attempt_timeout;
  auto timer_for = sagas::command_kind_from(rd.string("timer_for"));
  if (!rd.error.empty()) return sagas::Error{rd.error};
  if (!state || !timer_for) return sagas::Error{"unknown step state or timer kind"};
  r.state = *state;
  r.timer_for = *timer_for;
  return r;
}

Json to_json(const sagas::Instance& inst) {
  Json j = Json::object();
  j.set("id", inst.id);
  j.set("saga", inst.saga);
  j.set("version", inst.version);
  j.set("state", std::string(sagas::to_string(inst.state)));
  j.set("input", inst.input);
  Json steps = Json::array();
  for (const auto& s : inst.steps) steps.as_array().push_back(to_json(s));
  j.set("steps", std::move(steps));
  j.set("stage", static_cast<std::int64_t>(inst.stage));
  j.set("error", inst.error);
  j.set("created_at", inst.created_at);
  j.set("updated_at", inst.updated_at);
  j.set("deadline_at", opt_time(inst.deadline_at));
  return j;
}

sagas::Result<sagas::Instance> instance_from_json(const Json& j) {
  if (!j.is_object()) return sagas::Error{"an instance must be an object"};
  Reader rd{j, {}};
  sagas::Instance inst;
  inst.id = rd.string("id");
  inst.saga = rd.string("saga");
  inst.version = static_cast<int>(rd.integer("version"));
  auto state = sagas::saga_state_from(rd.string("state"));
  if (const Json* in = rd.field("input")) inst.input = *in;
  inst.stage = static_cast<std::size_t>(rd.integer("stage"));
  inst.error = rd.string("error");
  inst.created_at = rd.integer("created_at");
  inst.updated_at = rd.integer("updated_at");
  inst.deadline_at = rd.opt_integer("deadline_at");
  const Json* steps = rd.field("steps");
  if (!rd.error.empty()) return sagas::Error{rd.error};
  if (!state) return sagas::Error{"unknown saga state"};
  inst.state = *state;
  if (!steps->is_array()) return sagas::Error{"field \"steps\" is not an array"};
  for (const auto& s : steps->as_array()) {
    auto r = step_from_json(s);
    if (!r) return r.error();
    inst.steps.push_back(std::move(r).value());
  }
  return inst;
}

}  // namespace state
