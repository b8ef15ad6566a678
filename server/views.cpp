#include "server/views.h"

#include "wire/protocol.h"

namespace server {

using sagas::Json;

Json time_json(sagas::TimeMs t) { return t == 0 ? Json() : Json(wire::format_time(t)); }

Json summary_json(const engine::SagaStatus& s) {
  Json j = Json::object();
  j.set("id", Json(s.id.value()));
  j.set("saga", Json(s.saga));
  j.set("version", Json(static_cast<std::int64_t>(s.version)));
  j.set("state", Json(std::string(sagas::to_string(s.state))));
  j.set("created_at", time_json(s.created_at));
  j.set("updated_at", time_json(s.updated_at));
  j.set("error", s.error.empty() ? Json() : Json(s.error));
  return j;
}

Json status_json(const engine::SagaStatus& s) {
  Json j = summary_json(s);
  j.set("input", s.input);
  Json output;
  if (s.state == sagas::SagaState::completed) {
    output = Json::object();
    for (const auto& st : s.steps) {
      if (st.reply) output.set(st.name, *st.reply);
    }
  }
  j.set("output", std::move(output));
  Json steps = Json::array();
  for (const auto& st : s.steps) {
    Json x = Json::object();
    x.set("name", Json(st.name));
    if (st.group) x.set("group", Json(*st.group));
    x.set("state", Json(std::string(sagas::to_string(st.state))));
    x.set("attempts", Json(static_cast<std::int64_t>(st.attempts)));
    x.set("compensation_attempts", Json(static_cast<std::int64_t>(st.compensation_attempts)));
    x.set("started_at", time_json(st.started_at));
    x.set("finished_at", time_json(st.finished_at));
    x.set("error", st.error.empty() ? Json() : Json(st.error));
    x.set("request", st.request ? *st.request : Json());
    x.set("reply", st.reply ? *st.reply : Json());
    steps.as_array().push_back(std::move(x));
  }
  j.set("steps", std::move(steps));
  return j;
}

Json unreadable_json(const state::BrokenRow& b) {
  Json j = Json::object();
  j.set("id", Json(b.saga_id));
  j.set("state", Json("unreadable"));
  j.set("error", Json(b.problem));
  return j;
}

Json list_json(const engine::SagaList& list) {
  Json arr = Json::array();
  for (const auto& s : list.sagas) arr.as_array().push_back(summary_json(s));
  for (const auto& b : list.unreadable) arr.as_array().push_back(unreadable_json(b));
  return arr;
}

Json history_json(const state::HistoryRow& h) {
  Json j = Json::object();
  j.set("at", time_json(h.at));
  j.set("event", Json(std::string(sagas::to_string(h.event))));
  j.set("step", h.step.empty() ? Json() : Json(h.step));
  j.set("detail", Json(h.detail));
  return j;
}

}  // namespace server
